//! Request messages trimmed to the fields the SDK sets. prost encodes every field a message
//! declares (a length and a branch each, in `encoded_len` and `encode_raw`), and Modal's
//! `Sandbox` definition declares thirty the SDK never sets: the full generated types stay
//! for sandboxd, the SDK sends these. Same tags and types as `modal_proto` (a test decodes
//! each as the full message), so the bytes on the wire are those the full type would send.

use modal_proto::client as pb;
use modal_proto::rpc::Unary;
use modal_proto::rpcs::modal_client as cp;

/// `SandboxCreateV2` with the trimmed request.
pub(crate) const SANDBOX_CREATE_V2: Unary<SandboxCreateV2Request, pb::SandboxCreateV2Response> =
    Unary::new(cp::SANDBOX_CREATE_V2.path);

/// `modal.client.SandboxCreateV2Request` without `ephemeral_secrets` (3) and
/// `cloud_bucket_mount_credentials` (5).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxCreateV2Request {
    #[prost(string, tag = "1")]
    pub app_id: String,
    #[prost(message, optional, tag = "2")]
    pub definition: Option<Sandbox>,
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<pb::SandboxTag>,
    #[prost(message, repeated, tag = "6")]
    pub secret_sources: Vec<pb::SecretSource>,
}

/// `modal.client.Sandbox`, the fields `sandboxes.create()` sets (`open_ports` is the
/// one member of the `open_ports_oneof` oneof, so it encodes as the oneof does).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sandbox {
    #[prost(string, repeated, tag = "1")]
    pub entrypoint_args: Vec<String>,
    #[prost(string, tag = "3")]
    pub image_id: String,
    #[prost(message, optional, tag = "5")]
    pub resources: Option<pb::Resources>,
    #[prost(uint32, tag = "7")]
    pub timeout_secs: u32,
    #[prost(string, optional, tag = "8")]
    pub workdir: Option<String>,
    #[prost(bool, tag = "11")]
    pub block_network: bool,
    #[prost(message, repeated, tag = "13")]
    pub volume_mounts: Vec<pb::VolumeMount>,
    #[prost(message, optional, tag = "20")]
    pub open_ports: Option<pb::PortSpecs>,
    #[prost(message, optional, tag = "22")]
    pub network_access: Option<pb::NetworkAccess>,
    #[prost(bool, tag = "29")]
    pub verbose: bool,
    #[prost(string, optional, tag = "30")]
    pub name: Option<String>,
    #[prost(uint32, optional, tag = "33")]
    pub idle_timeout_secs: Option<u32>,
    #[prost(message, optional, tag = "38")]
    pub readiness_probe: Option<pb::Probe>,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// Every field set, encoded, and read back as the full generated message: each value
    /// arrives in the field of the same name (a wrong tag or type would lose or garble it).
    #[test]
    fn decodes_as_the_full_messages() {
        let def = Sandbox {
            entrypoint_args: vec!["sleep".into(), "1".into()],
            image_id: "im-1".into(),
            resources: Some(pb::Resources {
                milli_cpu: 250,
                memory_mb: 512,
                ..Default::default()
            }),
            timeout_secs: 60,
            workdir: Some("/w".into()),
            block_network: true,
            volume_mounts: vec![pb::VolumeMount {
                volume_id: "vo-1".into(),
                mount_path: "/v".into(),
                ..Default::default()
            }],
            open_ports: Some(pb::PortSpecs {
                ports: vec![pb::PortSpec {
                    port: 8080,
                    ..Default::default()
                }],
            }),
            network_access: Some(pb::NetworkAccess {
                network_access_type: 2,
                ..Default::default()
            }),
            verbose: true,
            name: Some("n".into()),
            idle_timeout_secs: Some(5),
            readiness_probe: Some(pb::Probe {
                interval_ms: Some(100),
                ..Default::default()
            }),
        };
        let req = SandboxCreateV2Request {
            app_id: "ap-1".into(),
            definition: Some(def.clone()),
            tags: vec![pb::SandboxTag {
                tag_name: "k".into(),
                tag_value: "v".into(),
            }],
            secret_sources: vec![pb::SecretSource::default()],
        };
        let full = pb::SandboxCreateV2Request::decode(req.encode_to_vec().as_slice()).unwrap();
        assert_eq!(full.app_id, req.app_id);
        assert_eq!(full.tags, req.tags);
        assert_eq!(full.secret_sources, req.secret_sources);
        let d = full.definition.unwrap();
        assert_eq!(d.entrypoint_args, def.entrypoint_args);
        assert_eq!(d.image_id, def.image_id);
        assert_eq!(d.resources, def.resources);
        assert_eq!(d.timeout_secs, def.timeout_secs);
        assert_eq!(d.workdir, def.workdir);
        assert_eq!(d.block_network, def.block_network);
        assert_eq!(d.volume_mounts, def.volume_mounts);
        assert_eq!(
            d.open_ports_oneof,
            def.open_ports.map(pb::sandbox::OpenPortsOneof::OpenPorts)
        );
        assert_eq!(d.network_access, def.network_access);
        assert_eq!(d.verbose, def.verbose);
        assert_eq!(d.name, def.name);
        assert_eq!(d.idle_timeout_secs, def.idle_timeout_secs);
        assert_eq!(d.readiness_probe, def.readiness_probe);
        // and nothing else: the full message re-encodes to the same length
        assert_eq!(
            pb::SandboxCreateV2Request {
                definition: Some(d),
                ..full
            }
            .encoded_len(),
            req.encoded_len()
        );
    }
}
