//! Messages trimmed to the fields the SDK sets or reads. prost emits code for every field a
//! message declares (a length and a branch each to encode; a decoder, a default and a drop
//! to decode), and Modal's messages declare many the SDK never touches (the `Sandbox`
//! definition 45 fields, of which create() sets 14; replies carry metadata the SDK drops).
//! The full generated types stay for sandboxd; the SDK sends and reads these. Same tags and
//! types as `modal_proto`, checked by tests against the full messages: a request decodes
//! as the full message with every value in place, a full reply decodes into the trimmed
//! one with every kept value in place (the other fields are skipped, as unknown fields are).

use modal_proto::client as pb;
use modal_proto::rpc::{ServerStreaming, Unary};
use modal_proto::rpcs::modal_client as cp;
use modal_proto::rpcs::task_command_router as tcr_rpc;
use modal_proto::task_command_router as tcr;

/// `SandboxCreateV2`, both trimmed.
pub(crate) const SANDBOX_CREATE_V2: Unary<SandboxCreateV2Request, SandboxCreateV2Response> =
    Unary::new(cp::SANDBOX_CREATE_V2.path);
/// `SandboxGetTaskId` with the trimmed reply.
pub(crate) const SANDBOX_GET_TASK_ID: Unary<pb::SandboxGetTaskIdRequest, SandboxGetTaskIdResponse> =
    Unary::new(cp::SANDBOX_GET_TASK_ID.path);
/// `SandboxGetFromNameV2` with the trimmed reply.
pub(crate) const SANDBOX_GET_FROM_NAME_V2: Unary<
    pb::SandboxGetFromNameRequest,
    SandboxGetFromNameResponse,
> = Unary::new(cp::SANDBOX_GET_FROM_NAME_V2.path);
/// `SandboxGetFromName` (V1) with the trimmed reply.
pub(crate) const SANDBOX_GET_FROM_NAME: Unary<
    pb::SandboxGetFromNameRequest,
    SandboxGetFromNameResponse,
> = Unary::new(cp::SANDBOX_GET_FROM_NAME.path);
/// `AppGetOrCreate` with the trimmed reply.
pub(crate) const APP_GET_OR_CREATE: Unary<pb::AppGetOrCreateRequest, AppGetOrCreateResponse> =
    Unary::new(cp::APP_GET_OR_CREATE.path);
/// `SecretGetOrCreate` with the trimmed reply.
pub(crate) const SECRET_GET_OR_CREATE: Unary<SecretGetOrCreateRequest, SecretGetOrCreateResponse> =
    Unary::new(cp::SECRET_GET_OR_CREATE.path);
/// `VolumeGetOrCreate` with the trimmed reply.
pub(crate) const VOLUME_GET_OR_CREATE: Unary<
    pb::VolumeGetOrCreateRequest,
    VolumeGetOrCreateResponse,
> = Unary::new(cp::VOLUME_GET_OR_CREATE.path);
/// `EnvironmentGetOrCreate` with the trimmed reply.
pub(crate) const ENVIRONMENT_GET_OR_CREATE: Unary<
    pb::EnvironmentGetOrCreateRequest,
    EnvironmentGetOrCreateResponse,
> = Unary::new(cp::ENVIRONMENT_GET_OR_CREATE.path);
/// `ImageFromId` with the trimmed reply.
pub(crate) const IMAGE_FROM_ID: Unary<pb::ImageFromIdRequest, ImageFromIdResponse> =
    Unary::new(cp::IMAGE_FROM_ID.path);
/// `ImageGetOrCreate`, both trimmed.
pub(crate) const IMAGE_GET_OR_CREATE: Unary<ImageGetOrCreateRequest, ImageGetOrCreateResponse> =
    Unary::new(cp::IMAGE_GET_OR_CREATE.path);
/// `SandboxWaitV2` with the trimmed reply.
pub(crate) const SANDBOX_WAIT_V2: Unary<pb::SandboxWaitRequest, SandboxWaitResponse> =
    Unary::new(cp::SANDBOX_WAIT_V2.path);
/// `SandboxTerminateV2` with the trimmed reply.
pub(crate) const SANDBOX_TERMINATE_V2: Unary<
    pb::SandboxTerminateRequest,
    SandboxTerminateResponse,
> = Unary::new(cp::SANDBOX_TERMINATE_V2.path);
/// `SandboxGetTunnelsV2` with the trimmed reply.
pub(crate) const SANDBOX_GET_TUNNELS_V2: Unary<
    pb::SandboxGetTunnelsRequest,
    SandboxGetTunnelsResponse,
> = Unary::new(cp::SANDBOX_GET_TUNNELS_V2.path);
/// `SandboxListV2` with the trimmed reply.
pub(crate) const SANDBOX_LIST_V2: Unary<pb::SandboxListRequest, SandboxListResponse> =
    Unary::new(cp::SANDBOX_LIST_V2.path);
/// `ImageJoinStreaming` with the trimmed replies.
pub(crate) const IMAGE_JOIN_STREAMING: ServerStreaming<
    pb::ImageJoinStreamingRequest,
    ImageJoinStreamingResponse,
> = ServerStreaming::new(cp::IMAGE_JOIN_STREAMING.path);

/// `TaskExecStdioRead` with its reply's bytes as `Bytes`: a slice of the received frame,
/// where prost's `Vec<u8>` copied every output byte once more inside the wasm.
pub(crate) const TASK_EXEC_STDIO_READ: ServerStreaming<
    tcr::TaskExecStdioReadRequest,
    TaskExecStdioReadResponse,
> = ServerStreaming::new(tcr_rpc::TASK_EXEC_STDIO_READ.path);
/// `SandboxStdioReadV2` with its reply's bytes as `Bytes` (as above).
pub(crate) const SANDBOX_STDIO_READ_V2: ServerStreaming<
    tcr::SandboxStdioReadV2Request,
    SandboxStdioReadV2Response,
> = ServerStreaming::new(tcr_rpc::SANDBOX_STDIO_READ_V2.path);

/// `modal.task_command_router.TaskExecStdioReadResponse`, `data` as `Bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TaskExecStdioReadResponse {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: bytes::Bytes,
}

/// `modal.task_command_router.SandboxStdioReadV2Response`, `data` as `Bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxStdioReadV2Response {
    #[prost(bytes = "bytes", tag = "1")]
    pub data: bytes::Bytes,
    #[prost(uint64, tag = "2")]
    pub starting_offset: u64,
}

/// `TaskExecStart` with the trimmed request.
pub(crate) const TASK_EXEC_START: Unary<TaskExecStartRequest, tcr::TaskExecStartResponse> =
    Unary::new(tcr_rpc::TASK_EXEC_START.path);

/// `modal.task_command_router.TaskExecStartRequest` without `secret_ids` (8),
/// `runtime_debug` (10), `container_id` (11) and `env` (12): the SDK sends environment
/// variables and secrets as `secret_sources`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TaskExecStartRequest {
    #[prost(string, tag = "1")]
    pub task_id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
    #[prost(string, repeated, tag = "3")]
    pub command_args: Vec<String>,
    #[prost(enumeration = "tcr::TaskExecStdoutConfig", tag = "4")]
    pub stdout_config: i32,
    #[prost(enumeration = "tcr::TaskExecStderrConfig", tag = "5")]
    pub stderr_config: i32,
    #[prost(uint32, optional, tag = "6")]
    pub timeout_secs: Option<u32>,
    #[prost(string, optional, tag = "7")]
    pub workdir: Option<String>,
    #[prost(message, optional, tag = "9")]
    pub pty_info: Option<PtyInfo>,
    #[prost(message, repeated, tag = "13")]
    pub secret_sources: Vec<SecretSource>,
}

/// `modal.client.PTYInfo` without `env_term_program` (6).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PtyInfo {
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    #[prost(uint32, tag = "2")]
    pub winsz_rows: u32,
    #[prost(uint32, tag = "3")]
    pub winsz_cols: u32,
    #[prost(string, tag = "4")]
    pub env_term: String,
    #[prost(string, tag = "5")]
    pub env_colorterm: String,
    #[prost(enumeration = "pb::pty_info::PtyType", tag = "7")]
    pub pty_type: i32,
    #[prost(bool, tag = "8")]
    pub no_terminate_on_idle_stdin: bool,
}

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
    pub secret_sources: Vec<SecretSource>,
}

/// `modal.client.SecretSource`: a secret by id, or environment variables given inline.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SecretSource {
    #[prost(oneof = "SecretSourceKind", tags = "1, 2")]
    pub source: Option<SecretSourceKind>,
}

/// `modal.client.SecretSource.source`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum SecretSourceKind {
    #[prost(string, tag = "1")]
    SecretId(String),
    #[prost(message, tag = "2")]
    Env(StringMap),
}

/// `modal.client.StringMap`, its map sent as entries (no HashMap code).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringMap {
    #[prost(message, repeated, tag = "1")]
    pub contents: Vec<MapEntry>,
}

/// `modal.client.SecretGetOrCreateRequest` without `app_id` (6), `env_dict` as entries.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SecretGetOrCreateRequest {
    #[prost(string, tag = "1")]
    pub deployment_name: String,
    #[prost(string, tag = "3")]
    pub environment_name: String,
    #[prost(enumeration = "pb::ObjectCreationType", tag = "4")]
    pub object_creation_type: i32,
    #[prost(message, repeated, tag = "5")]
    pub env_dict: Vec<MapEntry>,
    #[prost(string, repeated, tag = "7")]
    pub required_keys: Vec<String>,
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
    #[prost(message, optional, tag = "15")]
    pub pty_info: Option<PtyInfo>,
    #[prost(message, optional, tag = "17")]
    pub scheduler_placement: Option<pb::SchedulerPlacement>,
    #[prost(message, optional, tag = "20")]
    pub open_ports: Option<pb::PortSpecs>,
    #[prost(bool, tag = "21")]
    pub i6pn_enabled: bool,
    #[prost(message, optional, tag = "22")]
    pub network_access: Option<pb::NetworkAccess>,
    #[prost(bool, tag = "24")]
    pub enable_snapshot: bool,
    #[prost(string, tag = "26")]
    pub cloud_provider_str: String,
    #[prost(string, optional, tag = "28")]
    pub runtime: Option<String>,
    #[prost(bool, tag = "29")]
    pub verbose: bool,
    #[prost(string, optional, tag = "30")]
    pub name: Option<String>,
    #[prost(uint32, optional, tag = "33")]
    pub idle_timeout_secs: Option<u32>,
    #[prost(string, tag = "36")]
    pub custom_domain: String,
    #[prost(bool, tag = "37")]
    pub include_oidc_identity_token: bool,
    #[prost(message, optional, tag = "38")]
    pub readiness_probe: Option<pb::Probe>,
    #[prost(string, repeated, tag = "39")]
    pub inbound_cidr_allowlist: Vec<String>,
    /// A `map<string, string>`, sent as the map's entries are encoded (no HashMap code).
    #[prost(message, repeated, tag = "41")]
    pub experimental_options_v2: Vec<MapEntry>,
}

/// An entry of a protobuf `map<string, string>`: on the wire, a map is these, repeated.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct MapEntry {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `modal.client.SandboxCreateV2Response`: the ids and the command router's access.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxCreateV2Response {
    #[prost(string, tag = "1")]
    pub sandbox_id: String,
    #[prost(string, tag = "3")]
    pub task_id: String,
    #[prost(message, optional, tag = "5")]
    pub command_router_access: Option<pb::CommandRouterAccess>,
}

/// `modal.client.SandboxGetTaskIdResponse` (its result trimmed).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxGetTaskIdResponse {
    #[prost(string, optional, tag = "1")]
    pub task_id: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub task_result: Option<GenericResult>,
}

/// `modal.client.SandboxGetFromNameResponse` without `metadata` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxGetFromNameResponse {
    #[prost(string, tag = "1")]
    pub sandbox_id: String,
}

/// `modal.client.AppGetOrCreateResponse` without `handle_metadata` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AppGetOrCreateResponse {
    #[prost(string, tag = "1")]
    pub app_id: String,
}

/// `modal.client.SecretGetOrCreateResponse` without `metadata` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SecretGetOrCreateResponse {
    #[prost(string, tag = "1")]
    pub secret_id: String,
}

/// `modal.client.VolumeGetOrCreateResponse` without `version` (2) and `metadata` (3).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct VolumeGetOrCreateResponse {
    #[prost(string, tag = "1")]
    pub volume_id: String,
}

/// The lookup by name of `secrets.delete` and `volumes.delete`: the fields Modal JS sets
/// in their `SecretGetOrCreateRequest` / `VolumeGetOrCreateRequest` (same tags in both), so
/// that one implementation serves the two.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NamedObjectLookup {
    #[prost(string, tag = "1")]
    pub deployment_name: String,
    #[prost(string, tag = "3")]
    pub environment_name: String,
}

/// An object id in field 1: the reply of `SecretGetOrCreate` / `VolumeGetOrCreate` (their
/// `secret_id` / `volume_id`), and the request of `SecretDelete` / `VolumeDelete`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ObjectId {
    #[prost(string, tag = "1")]
    pub id: String,
}

/// `secrets.delete`'s calls, on the trimmed messages above.
pub(crate) const SECRET_LOOKUP: Unary<NamedObjectLookup, ObjectId> =
    Unary::new(cp::SECRET_GET_OR_CREATE.path);
pub(crate) const SECRET_DELETE: Unary<ObjectId, ()> = Unary::new(cp::SECRET_DELETE.path);
/// `volumes.delete`'s calls, on the trimmed messages above.
pub(crate) const VOLUME_LOOKUP: Unary<NamedObjectLookup, ObjectId> =
    Unary::new(cp::VOLUME_GET_OR_CREATE.path);
pub(crate) const VOLUME_DELETE: Unary<ObjectId, ()> = Unary::new(cp::VOLUME_DELETE.path);

/// `ImagePublishRequest` (`image_id`, `tag`, `environment_name`; `allow_public`, always
/// false, left out) and `ImageGetByTagRequest` (`tag`, `environment_name`; the third
/// empty): strings in fields 1 to 3, so one message type encodes both.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NamedImage {
    #[prost(string, tag = "1")]
    pub field1: String,
    #[prost(string, tag = "2")]
    pub field2: String,
    #[prost(string, tag = "3")]
    pub field3: String,
}

/// `Image.publish` and `images.fromName`; both replies have the image id in field 1.
pub(crate) const IMAGE_PUBLISH: Unary<NamedImage, ObjectId> = Unary::new(cp::IMAGE_PUBLISH.path);
pub(crate) const IMAGE_GET_BY_TAG: Unary<NamedImage, ObjectId> =
    Unary::new(cp::IMAGE_GET_BY_TAG.path);

/// `modal.client.EnvironmentGetOrCreateResponse`: only `metadata.settings`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EnvironmentGetOrCreateResponse {
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<EnvironmentMetadata>,
}

/// `modal.client.EnvironmentMetadata`: only `settings`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EnvironmentMetadata {
    #[prost(message, optional, tag = "2")]
    pub settings: Option<EnvironmentSettings>,
}

/// `modal.client.EnvironmentSettings`: only `image_builder_version`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EnvironmentSettings {
    #[prost(string, tag = "1")]
    pub image_builder_version: String,
}

/// `modal.client.ImageFromIdResponse` without `metadata` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ImageFromIdResponse {
    #[prost(string, tag = "1")]
    pub image_id: String,
}

/// `modal.client.ImageGetOrCreateRequest`: the image, app, `force_build` and builder
/// version.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ImageGetOrCreateRequest {
    #[prost(message, optional, tag = "2")]
    pub image: Option<Image>,
    #[prost(string, tag = "4")]
    pub app_id: String,
    #[prost(bool, tag = "7")]
    pub force_build: bool,
    #[prost(string, tag = "9")]
    pub builder_version: String,
}

/// `modal.client.Image`: what Modal's JS client sends (base images, Dockerfile commands,
/// secrets, GPU, registry config).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Image {
    #[prost(message, repeated, tag = "5")]
    pub base_images: Vec<pb::BaseImage>,
    #[prost(string, repeated, tag = "6")]
    pub dockerfile_commands: Vec<String>,
    #[prost(string, repeated, tag = "12")]
    pub secret_ids: Vec<String>,
    #[prost(message, optional, tag = "16")]
    pub gpu_config: Option<pb::GpuConfig>,
    #[prost(message, optional, tag = "17")]
    pub image_registry_config: Option<pb::ImageRegistryConfig>,
}

/// `modal.client.ImageGetOrCreateResponse` without `metadata` (3).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ImageGetOrCreateResponse {
    #[prost(string, tag = "1")]
    pub image_id: String,
    #[prost(message, optional, tag = "2")]
    pub result: Option<GenericResult>,
}

/// `modal.client.ImageJoinStreamingResponse` without `task_logs` (2) and `metadata` (5).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ImageJoinStreamingResponse {
    #[prost(message, optional, tag = "1")]
    pub result: Option<GenericResult>,
    #[prost(string, tag = "3")]
    pub entry_id: String,
    #[prost(bool, tag = "4")]
    pub eof: bool,
}

/// `modal.client.GenericResult`: `status`, `exception` and `exitcode`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GenericResult {
    #[prost(int32, tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub exception: String,
    #[prost(int32, tag = "3")]
    pub exitcode: i32,
}

/// `modal.client.SandboxWaitResponse` without `metadata` (2).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxWaitResponse {
    #[prost(message, optional, tag = "1")]
    pub result: Option<GenericResult>,
}

/// `modal.client.SandboxTerminateResponse` (its result trimmed).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxTerminateResponse {
    #[prost(message, optional, tag = "1")]
    pub existing_result: Option<GenericResult>,
}

/// `modal.client.SandboxGetTunnelsResponse` (its result trimmed).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxGetTunnelsResponse {
    #[prost(message, optional, tag = "1")]
    pub result: Option<GenericResult>,
    #[prost(message, repeated, tag = "2")]
    pub tunnels: Vec<pb::TunnelData>,
}

/// `modal.client.SandboxListResponse` (its sandboxes trimmed).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxListResponse {
    #[prost(message, repeated, tag = "1")]
    pub sandboxes: Vec<SandboxInfo>,
}

/// `modal.client.SandboxInfo`: the id, the creation time (the next page's cursor) and the
/// task id.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SandboxInfo {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(double, tag = "3")]
    pub created_at: f64,
    #[prost(message, optional, tag = "4")]
    pub task_info: Option<TaskInfo>,
}

/// `modal.client.TaskInfo`: only the id.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TaskInfo {
    #[prost(string, tag = "1")]
    pub id: String,
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
                gpu_config: Some(pb::GpuConfig {
                    count: 2,
                    gpu_type: "A100".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            scheduler_placement: Some(pb::SchedulerPlacement {
                regions: vec!["us-east-1".into()],
                ..Default::default()
            }),
            i6pn_enabled: true,
            enable_snapshot: true,
            cloud_provider_str: "aws".into(),
            runtime: Some("gvisor".into()),
            custom_domain: "example.com".into(),
            include_oidc_identity_token: true,
            inbound_cidr_allowlist: vec!["10.0.0.0/8".into()],
            experimental_options_v2: vec![MapEntry {
                key: "k".into(),
                value: "true".into(),
            }],
            timeout_secs: 60,
            workdir: Some("/w".into()),
            block_network: true,
            volume_mounts: vec![pb::VolumeMount {
                volume_id: "vo-1".into(),
                mount_path: "/v".into(),
                ..Default::default()
            }],
            pty_info: Some(PtyInfo {
                enabled: true,
                winsz_rows: 24,
                ..Default::default()
            }),
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
            secret_sources: secret_sources(),
        };
        let full = pb::SandboxCreateV2Request::decode(req.encode_to_vec().as_slice()).unwrap();
        assert_eq!(full.app_id, req.app_id);
        assert_eq!(full.tags, req.tags);
        assert_eq!(full.secret_sources, full_secret_sources());
        let d = full.definition.unwrap();
        assert_eq!(d.entrypoint_args, def.entrypoint_args);
        assert_eq!(d.image_id, def.image_id);
        assert_eq!(d.resources, def.resources);
        assert_eq!(d.timeout_secs, def.timeout_secs);
        assert_eq!(d.workdir, def.workdir);
        let pty = d.pty_info.clone().unwrap();
        assert_eq!((pty.enabled, pty.winsz_rows), (true, 24));
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
        assert_eq!(d.scheduler_placement, def.scheduler_placement);
        assert_eq!(d.i6pn_enabled, def.i6pn_enabled);
        assert_eq!(d.enable_snapshot, def.enable_snapshot);
        assert_eq!(d.cloud_provider_str, def.cloud_provider_str);
        assert_eq!(d.runtime, def.runtime);
        assert_eq!(d.custom_domain, def.custom_domain);
        assert_eq!(
            d.include_oidc_identity_token,
            def.include_oidc_identity_token
        );
        assert_eq!(d.inbound_cidr_allowlist, def.inbound_cidr_allowlist);
        assert_eq!(d.experimental_options_v2["k"], "true");
        assert_eq!(d.experimental_options_v2.len(), 1);
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
    /// The exec request, every field set, read back as the full generated message.
    #[test]
    fn exec_start_decodes_as_the_full_message() {
        let req = TaskExecStartRequest {
            task_id: "ta-1".into(),
            exec_id: "ex-1".into(),
            command_args: vec!["sh".into(), "-c".into()],
            stdout_config: tcr::TaskExecStdoutConfig::Devnull as i32,
            stderr_config: tcr::TaskExecStderrConfig::Devnull as i32,
            timeout_secs: Some(9),
            workdir: Some("/w".into()),
            pty_info: Some(PtyInfo {
                enabled: true,
                winsz_rows: 24,
                winsz_cols: 80,
                env_term: "xterm".into(),
                env_colorterm: "truecolor".into(),
                pty_type: pb::pty_info::PtyType::Shell as i32,
                no_terminate_on_idle_stdin: true,
            }),
            secret_sources: secret_sources(),
        };
        let full = tcr::TaskExecStartRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        assert_eq!(full.task_id, req.task_id);
        assert_eq!(full.exec_id, req.exec_id);
        assert_eq!(full.command_args, req.command_args);
        assert_eq!(full.stdout_config, req.stdout_config);
        assert_eq!(full.stderr_config, req.stderr_config);
        assert_eq!(full.timeout_secs, req.timeout_secs);
        assert_eq!(full.workdir, req.workdir);
        assert_eq!(full.secret_sources, full_secret_sources());
        let pty = full.pty_info.clone().unwrap();
        assert!(pty.enabled);
        assert_eq!((pty.winsz_rows, pty.winsz_cols), (24, 80));
        assert_eq!(pty.env_term, "xterm");
        assert_eq!(pty.env_colorterm, "truecolor");
        assert_eq!(pty.pty_type, pb::pty_info::PtyType::Shell as i32);
        assert!(pty.no_terminate_on_idle_stdin);
        assert_eq!(pty.env_term_program, "");
        // and nothing else: the full message re-encodes to the same length
        assert_eq!(full.encoded_len(), req.encoded_len());
    }

    /// A full reply, every field set, decodes into the trimmed one with the kept values.
    #[test]
    fn full_replies_decode_into_the_trimmed_ones() {
        fn via<T: Message + Default>(m: &impl Message) -> T {
            T::decode(m.encode_to_vec().as_slice()).unwrap()
        }
        let result = pb::GenericResult {
            status: 2,
            exception: "boom".into(),
            exitcode: 1,
            traceback: "tb".into(),
            data_oneof: Some(pb::generic_result::DataOneof::Data(vec![1, 2])),
            ..Default::default()
        };
        let image_meta = pb::ImageMetadata {
            python_version_info: Some("3.12".into()),
            ..Default::default()
        };
        let r: TaskExecStdioReadResponse = via(&tcr::TaskExecStdioReadResponse {
            data: b"out".to_vec(),
        });
        assert_eq!(&r.data[..], b"out");
        let r: SandboxStdioReadV2Response = via(&tcr::SandboxStdioReadV2Response {
            data: b"out".to_vec(),
            starting_offset: 7,
        });
        assert_eq!((&r.data[..], r.starting_offset), (&b"out"[..], 7));
        let r: AppGetOrCreateResponse = via(&pb::AppGetOrCreateResponse {
            app_id: "ap-1".into(),
            handle_metadata: Some(pb::AppHandleMetadata {
                app_id: "ap-1".into(),
                ..Default::default()
            }),
        });
        assert_eq!(r.app_id, "ap-1");
        let r: SecretGetOrCreateResponse = via(&pb::SecretGetOrCreateResponse {
            secret_id: "st-1".into(),
            metadata: Some(pb::SecretMetadata {
                name: "s".into(),
                ..Default::default()
            }),
        });
        assert_eq!(r.secret_id, "st-1");
        let r: VolumeGetOrCreateResponse = via(&pb::VolumeGetOrCreateResponse {
            volume_id: "vo-1".into(),
            version: 2,
            metadata: Some(pb::VolumeMetadata {
                name: "v".into(),
                ..Default::default()
            }),
        });
        assert_eq!(r.volume_id, "vo-1");
        let r: EnvironmentGetOrCreateResponse = via(&pb::EnvironmentGetOrCreateResponse {
            environment_id: "en-1".into(),
            metadata: Some(pb::EnvironmentMetadata {
                name: "main".into(),
                settings: Some(pb::EnvironmentSettings {
                    image_builder_version: "2025.06".into(),
                    webhook_suffix: "w".into(),
                    max_concurrent_gpus: Some(1),
                    ..Default::default()
                }),
                environment_type: 1,
            }),
        });
        assert_eq!(
            r.metadata
                .and_then(|m| m.settings)
                .unwrap()
                .image_builder_version,
            "2025.06"
        );
        let r: ImageFromIdResponse = via(&pb::ImageFromIdResponse {
            image_id: "im-1".into(),
            metadata: Some(image_meta.clone()),
        });
        assert_eq!(r.image_id, "im-1");
        let r: ImageGetOrCreateResponse = via(&pb::ImageGetOrCreateResponse {
            image_id: "im-2".into(),
            result: Some(result.clone()),
            metadata: Some(image_meta.clone()),
        });
        assert_eq!(r.image_id, "im-2");
        let want = GenericResult {
            status: 2,
            exception: "boom".into(),
            exitcode: 1,
        };
        assert_eq!(r.result, Some(want.clone()));
        let r: SandboxWaitResponse = via(&pb::SandboxWaitResponse {
            result: Some(result.clone()),
            metadata: Some(pb::SandboxHandleMetadata::default()),
        });
        assert_eq!(r.result, Some(want.clone()));
        let access = pb::CommandRouterAccess {
            jwt: "j".into(),
            url: "https://r".into(),
        };
        let r: SandboxCreateV2Response = via(&pb::SandboxCreateV2Response {
            sandbox_id: "sb-1".into(),
            tunnels: vec![pb::TunnelData::default()],
            task_id: "ta-1".into(),
            metadata: Some(pb::SandboxHandleMetadata::default()),
            command_router_access: Some(access.clone()),
            sandbox_token: "t".into(),
        });
        assert_eq!(
            (r.sandbox_id.as_str(), r.task_id.as_str()),
            ("sb-1", "ta-1")
        );
        assert_eq!(r.command_router_access, Some(access));
        let r: SandboxGetTaskIdResponse = via(&pb::SandboxGetTaskIdResponse {
            task_id: Some("ta-1".into()),
            task_result: Some(result.clone()),
        });
        assert_eq!(
            (r.task_id.as_deref(), r.task_result),
            (Some("ta-1"), Some(want.clone()))
        );
        let r: SandboxGetFromNameResponse = via(&pb::SandboxGetFromNameResponse {
            sandbox_id: "sb-2".into(),
            metadata: Some(pb::SandboxHandleMetadata::default()),
        });
        assert_eq!(r.sandbox_id, "sb-2");
        let r: SandboxTerminateResponse = via(&pb::SandboxTerminateResponse {
            existing_result: Some(result.clone()),
        });
        assert_eq!(r.existing_result, Some(want.clone()));
        let tunnel = pb::TunnelData {
            host: "h".into(),
            port: 443,
            unencrypted_host: Some("u".into()),
            unencrypted_port: Some(80),
            container_port: 8080,
        };
        let r: SandboxGetTunnelsResponse = via(&pb::SandboxGetTunnelsResponse {
            result: Some(result.clone()),
            tunnels: vec![tunnel.clone()],
        });
        assert_eq!((r.result, r.tunnels), (Some(want), vec![tunnel.clone()]));
        let r: SandboxListResponse = via(&pb::SandboxListResponse {
            sandboxes: vec![pb::SandboxInfo {
                id: "sb-1".into(),
                created_at: 1.5,
                task_info: Some(pb::TaskInfo {
                    id: "ta-1".into(),
                    result: Some(result.clone()),
                    started_at: 1.0,
                    ..Default::default()
                }),
                app_id: "ap-1".into(),
                tags: vec![pb::SandboxTag {
                    tag_name: "k".into(),
                    tag_value: "v".into(),
                }],
                name: "n".into(),
                readiness_probe: Some(pb::Probe {
                    interval_ms: Some(1),
                    ..Default::default()
                }),
                tunnels: vec![tunnel],
                ..Default::default()
            }],
        });
        let s = &r.sandboxes[0];
        assert_eq!((s.id.as_str(), s.created_at), ("sb-1", 1.5));
        assert_eq!(s.task_info.as_ref().unwrap().id, "ta-1");
        let r: ImageJoinStreamingResponse = via(&pb::ImageJoinStreamingResponse {
            result: Some(result),
            task_logs: vec![pb::TaskLogs {
                data: "log".into(),
                ..Default::default()
            }],
            entry_id: "e-1".into(),
            eof: true,
            metadata: Some(image_meta),
        });
        assert_eq!(r.result.unwrap().exception, "boom");
        assert_eq!((r.entry_id.as_str(), r.eof), ("e-1", true));
    }

    /// A secret by id and two inline variables, as the SDK sends them ...
    fn secret_sources() -> Vec<SecretSource> {
        let entry = |k: &str, v: &str| MapEntry {
            key: k.into(),
            value: v.into(),
        };
        vec![
            SecretSource {
                source: Some(SecretSourceKind::SecretId("st-1".into())),
            },
            SecretSource {
                source: Some(SecretSourceKind::Env(StringMap {
                    contents: vec![entry("A", "1"), entry("B", "")],
                })),
            },
        ]
    }

    /// ... and as the full messages have them.
    fn full_secret_sources() -> Vec<pb::SecretSource> {
        use pb::secret_source::Source;
        let env = [("A", "1"), ("B", "")].map(|(k, v)| (k.to_string(), v.to_string()));
        vec![
            pb::SecretSource {
                source: Some(Source::SecretId("st-1".into())),
            },
            pb::SecretSource {
                source: Some(Source::Env(pb::StringMap {
                    contents: env.into_iter().collect(),
                })),
            },
        ]
    }

    /// Every field set, read back as the full `SecretGetOrCreateRequest`.
    #[test]
    fn secret_request_decodes_as_the_full_message() {
        let req = SecretGetOrCreateRequest {
            deployment_name: "s".into(),
            environment_name: "e".into(),
            object_creation_type: pb::ObjectCreationType::Ephemeral as i32,
            env_dict: vec![MapEntry {
                key: "K".into(),
                value: "v".into(),
            }],
            required_keys: vec!["K".into()],
        };
        let full = pb::SecretGetOrCreateRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            (
                full.deployment_name.as_str(),
                full.environment_name.as_str()
            ),
            ("s", "e")
        );
        assert_eq!(full.object_creation_type, req.object_creation_type);
        assert_eq!(full.env_dict.len(), 1);
        assert_eq!(full.env_dict["K"], "v");
        assert_eq!(full.required_keys, req.required_keys);
        assert_eq!(full.encoded_len(), req.encoded_len());
    }

    /// The shared messages of `secrets.delete` and `volumes.delete` are each RPC's own.
    #[test]
    fn named_object_delete_messages_are_the_full_ones() {
        let lookup = NamedObjectLookup {
            deployment_name: "n".into(),
            environment_name: "e".into(),
        }
        .encode_to_vec();
        let s = pb::SecretGetOrCreateRequest::decode(lookup.as_slice()).unwrap();
        assert_eq!(
            (s.deployment_name.as_str(), s.environment_name.as_str()),
            ("n", "e")
        );
        assert_eq!(s.object_creation_type, 0);
        let v = pb::VolumeGetOrCreateRequest::decode(lookup.as_slice()).unwrap();
        assert_eq!(
            (v.deployment_name.as_str(), v.environment_name.as_str()),
            ("n", "e")
        );
        assert_eq!((v.object_creation_type, v.version), (0, 0));
        let reply = pb::SecretGetOrCreateResponse {
            secret_id: "st-1".into(),
            ..Default::default()
        };
        assert_eq!(
            ObjectId::decode(reply.encode_to_vec().as_slice())
                .unwrap()
                .id,
            "st-1"
        );
        let reply = pb::VolumeGetOrCreateResponse {
            volume_id: "vo-1".into(),
            version: 2,
            ..Default::default()
        };
        assert_eq!(
            ObjectId::decode(reply.encode_to_vec().as_slice())
                .unwrap()
                .id,
            "vo-1"
        );
        let id = ObjectId { id: "x-1".into() }.encode_to_vec();
        assert_eq!(
            pb::SecretDeleteRequest::decode(id.as_slice())
                .unwrap()
                .secret_id,
            "x-1"
        );
        let v = pb::VolumeDeleteRequest::decode(id.as_slice()).unwrap();
        assert_eq!(
            (v.volume_id.as_str(), v.environment_name.as_str()),
            ("x-1", "")
        );
    }

    #[test]
    fn image_request_decodes_as_the_full_message() {
        let req = ImageGetOrCreateRequest {
            image: Some(Image {
                base_images: vec![pb::BaseImage {
                    image_id: "im-0".into(),
                    docker_tag: "base".into(),
                }],
                dockerfile_commands: vec!["FROM base".into()],
                secret_ids: vec!["st-1".into()],
                gpu_config: Some(pb::GpuConfig {
                    count: 2,
                    gpu_type: "T4".into(),
                    ..Default::default()
                }),
                image_registry_config: Some(pb::ImageRegistryConfig {
                    registry_auth_type: pb::RegistryAuthType::Aws as i32,
                    secret_id: "st-2".into(),
                }),
            }),
            app_id: "ap-1".into(),
            force_build: true,
            builder_version: "2025.06".into(),
        };
        let full = pb::ImageGetOrCreateRequest::decode(req.encode_to_vec().as_slice()).unwrap();
        let image = full.image.unwrap();
        assert_eq!(image.dockerfile_commands, ["FROM base"]);
        assert_eq!(image.base_images[0].image_id, "im-0");
        assert_eq!(image.secret_ids, ["st-1"]);
        assert_eq!(image.gpu_config.unwrap().gpu_type, "T4");
        let registry = image.image_registry_config.unwrap();
        assert_eq!(
            (registry.registry_auth_type, registry.secret_id.as_str()),
            (pb::RegistryAuthType::Aws as i32, "st-2")
        );
        assert!(full.force_build);
        assert_eq!(
            (full.app_id.as_str(), full.builder_version.as_str()),
            ("ap-1", "2025.06")
        );
    }

    /// vendor/prost-derive drops the `Message.field:` path from decode errors only in wasm:
    /// native builds (sandboxd, the Rust API's tests) still say where decoding failed.
    #[test]
    fn native_decode_errors_keep_their_field_path() {
        // field 1 (task_id, a string) with the varint wire type
        let err = SandboxGetTaskIdResponse::decode(&[0x08, 0x01][..]).unwrap_err();
        assert!(
            err.to_string().contains("SandboxGetTaskIdResponse.task_id"),
            "{err}"
        );
    }
}
