//! What sandbox and image definitions ask that sandboxd checks before anything runs: the
//! values Modal validates (CIDRs, domains, cloud and region names: INVALID_ARGUMENT naming
//! the field), and the fields sandboxd cannot honour on this machine (FAILED_PRECONDITION
//! naming them). Every field of Modal's `Sandbox` and `Image` that `cp` does not honour is
//! refused here when set, so nothing a client asks for is silently dropped.

use modal_proto::client::{
    network_access::NetworkAccessType, Arch, CloudProvider, GpuConfig, Image,
    ImageGetOrCreateRequest, RegistryAuthType, Sandbox,
};
use std::net::IpAddr;
use tonic::Status;

/// Modal's clouds (`cloud=` in its clients, `cloud_provider_str` on the wire).
const CLOUDS: [&str; 4] = ["aws", "gcp", "oci", "auto"];

fn invalid(field: &str, why: String) -> Status {
    Status::invalid_argument(format!("{field}: {why}"))
}

/// The IPv4 blocks an ALLOWLIST network may reach, host bits cleared; `None` for any other
/// network. IPv6 blocks add nothing: sandboxes have no IPv6 network at all.
pub fn outbound_allowlist(d: &Sandbox) -> Option<Vec<(std::net::Ipv4Addr, u8)>> {
    let n = d.network_access.as_ref()?;
    if n.network_access_type != NetworkAccessType::Allowlist as i32 {
        return None;
    }
    let blocks = n
        .allowed_cidrs
        .iter()
        .filter_map(|c| {
            let (addr, prefix) = c.split_once('/')?;
            let addr: std::net::Ipv4Addr = addr.parse().ok()?;
            let prefix: u8 = prefix.parse().ok()?;
            let mask = u32::MAX.checked_shl(32 - prefix as u32).unwrap_or(0);
            Some((std::net::Ipv4Addr::from(u32::from(addr) & mask), prefix))
        })
        .collect();
    Some(blocks)
}

/// The domains an ALLOWLIST network may reach (`outbound_domain_allowlist`), resolved
/// when the sandbox starts; empty for any other network.
pub fn allowed_domains(d: &Sandbox) -> Vec<String> {
    match &d.network_access {
        Some(n) if n.network_access_type == NetworkAccessType::Allowlist as i32 => {
            n.allowed_domains.clone()
        }
        _ => vec![],
    }
}

/// The blocks (IPv4 or IPv6) that may connect to the sandbox's tunnels
/// (`inbound_cidr_allowlist`), host bits cleared; `None` when there is no list (any).
pub fn inbound_allowlist(d: &Sandbox) -> Option<Vec<(IpAddr, u8)>> {
    if d.inbound_cidr_allowlist.is_empty() {
        return None;
    }
    let blocks = d
        .inbound_cidr_allowlist
        .iter()
        .filter_map(|c| {
            let (addr, prefix) = c.split_once('/')?;
            Some((addr.parse().ok()?, prefix.parse().ok()?))
        })
        .collect();
    Some(blocks)
}

/// `a.b.c.d/n` or `x:y::/n`, the prefix within the address's width.
pub fn cidr(field: &str, s: &str) -> Result<(), Status> {
    let bad = || invalid(field, format!("'{s}' is not a valid CIDR block"));
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    // digits only: `u8::from_str` would take a leading `+`
    if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > width {
        return Err(bad());
    }
    Ok(())
}

/// A DNS name (`example.com`, `*.example.com`): labels of letters, digits and inner
/// hyphens, 63 bytes at most, 253 in all, and at least two of them.
pub fn domain(field: &str, s: &str) -> Result<(), Status> {
    let name = s.strip_prefix("*.").unwrap_or(s);
    let labels: Vec<&str> = name.split('.').collect();
    let ok = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !ok {
        return Err(invalid(field, format!("'{s}' is not a valid domain name")));
    }
    Ok(())
}

/// A region as Modal names them: `us-east`, `eu`, `us-east-1`, `europe-west4`.
fn region(s: &str) -> Result<(), Status> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.ends_with('-')
        && !s.contains("--");
    if !ok {
        return Err(invalid(
            "scheduler_placement.regions",
            format!("'{s}' is not a valid region name"),
        ));
    }
    Ok(())
}

fn no_gpu(gpu: &str) -> String {
    if has_gpu_devices() {
        format!("{gpu} asked for; sandboxd does not give GPUs to sandboxes")
    } else {
        format!("{gpu} asked for; this machine has no GPUs")
    }
}

fn has_gpu_devices() -> bool {
    std::path::Path::new("/dev/nvidiactl").exists() || std::path::Path::new("/dev/kfd").exists()
}

/// The GPU a definition asks for, as Modal's clients write it (`A10G`, `H100:2`).
fn gpu_request(d: &Sandbox) -> Option<String> {
    gpu_name(d.resources.as_ref()?.gpu_config.as_ref()?)
}

fn gpu_name(g: &GpuConfig) -> Option<String> {
    if g.count == 0 && g.gpu_type.is_empty() && g.r#type == 0 {
        // Modal's JS client always sends an empty GPUConfig
        return None;
    }
    let name = if g.gpu_type.is_empty() {
        modal_proto::client::GpuType::try_from(g.r#type)
            .map(|t| t.as_str_name().trim_start_matches("GPU_TYPE_").to_string())
            .unwrap_or_else(|_| format!("type {}", g.r#type))
    } else {
        g.gpu_type.clone()
    };
    Some(if g.count > 1 {
        format!("{name}:{}", g.count)
    } else {
        name
    })
}

/// Values checked as Modal checks them: INVALID_ARGUMENT naming the field.
fn validate(d: &Sandbox) -> Result<(), Status> {
    if let Some(n) = &d.network_access {
        for c in &n.allowed_cidrs {
            cidr("network_access.allowed_cidrs", c)?;
        }
        for s in &n.allowed_domains {
            domain("network_access.allowed_domains", s)?;
        }
        let allowlisted = !n.allowed_cidrs.is_empty() || !n.allowed_domains.is_empty();
        if allowlisted && n.network_access_type != NetworkAccessType::Allowlist as i32 {
            return Err(invalid(
                "network_access",
                "allowed_cidrs and allowed_domains need network_access_type ALLOWLIST".into(),
            ));
        }
    }
    for c in &d.inbound_cidr_allowlist {
        cidr("inbound_cidr_allowlist", c)?;
    }
    if !d.cloud_provider_str.is_empty()
        && !CLOUDS.contains(&d.cloud_provider_str.to_ascii_lowercase().as_str())
    {
        return Err(invalid(
            "cloud_provider_str",
            format!(
                "'{}' is not a cloud; Modal's are {}",
                d.cloud_provider_str,
                CLOUDS.join(", ")
            ),
        ));
    }
    if let Some(p) = &d.scheduler_placement {
        for r in &p.regions {
            region(r)?;
        }
    }
    if let Some(g) = d.resources.as_ref().and_then(|r| r.gpu_config.as_ref()) {
        if g.count == 0 && (!g.gpu_type.is_empty() || g.r#type != 0) {
            return Err(invalid(
                "resources.gpu_config.count",
                "must be at least 1".into(),
            ));
        }
    }
    Ok(())
}

/// The fields of a definition that sandboxd cannot honour here, each with why; empty when
/// the definition asks only for what sandboxd does.
fn unsupported(d: &Sandbox) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if let Some(gpu) = gpu_request(d) {
        out.push(("gpu", no_gpu(&gpu)));
    }
    let mut refuse = |set: bool, field: &'static str, why: &str| {
        if set {
            out.push((field, why.to_string()));
        }
    };
    let (placed, cloud) = (
        "sandboxd runs every sandbox on this one machine",
        d.cloud_provider_str.to_ascii_lowercase(),
    );
    refuse(!cloud.is_empty() && cloud != "auto", "cloud", placed);
    refuse(
        !matches!(
            CloudProvider::try_from(d.cloud_provider),
            Ok(CloudProvider::Unspecified | CloudProvider::Auto)
        ),
        "cloud_provider",
        placed,
    );
    if let Some(p) = &d.scheduler_placement {
        refuse(!p.regions.is_empty(), "regions", placed);
        refuse(
            p.zone.is_some() || p.lifecycle.is_some() || !p.instance_types.is_empty(),
            "scheduler_placement",
            placed,
        );
        refuse(p.nonpreemptible, "nonpreemptible", placed);
    }
    refuse(!d.worker_id.is_empty(), "worker_id", placed);
    refuse(
        !d.restore_instance_type.is_empty(),
        "_restore_instance_type",
        placed,
    );
    if let Some(r) = &d.resources {
        refuse(r.rdma, "rdma", "sandboxd has no RDMA network");
    }
    let local = "sandboxd mounts only its own volumes";
    refuse(!d.mount_ids.is_empty(), "mounts", local);
    refuse(!d.nfs_mounts.is_empty(), "network_file_systems", local);
    refuse(!d.s3_mounts.is_empty(), "s3_mounts", local);
    refuse(
        !d.cloud_bucket_mounts.is_empty(),
        "cloud_bucket_mounts",
        local,
    );
    refuse(
        d.network_access
            .as_ref()
            .is_some_and(|n| n.allowed_domains.iter().any(|s| s.starts_with("*."))),
        "outbound_domain_allowlist",
        "sandboxd allows a domain by the addresses it resolves to when the sandbox starts, and a wildcard ('*.example.com') resolves to none",
    );
    refuse(
        d.experimental_outbound_policy.is_some() || d.outbound_policy.is_some(),
        "outbound_policy",
        "sandboxd has no outbound proxy",
    );
    refuse(
        d.proxy_id.is_some(),
        "proxy",
        "sandboxd has no Modal proxies",
    );
    refuse(
        d.i6pn_enabled,
        "i6pn",
        "sandboxd has no private network between sandboxes",
    );
    refuse(
        !d.custom_domain.is_empty(),
        "custom_domain",
        "sandboxd's tunnels are on this machine's address",
    );
    refuse(
        d.include_x509_svid,
        "include_x509_svid",
        "sandboxd issues no workload identities",
    );
    let runtime = "sandboxd runs every sandbox with bubblewrap";
    refuse(d.runtime.is_some(), "runtime", runtime);
    refuse(
        d.runsc_runtime_version.is_some(),
        "runsc_runtime_version",
        runtime,
    );
    refuse(d.runtime_debug, "runtime_debug", runtime);
    refuse(
        d.enable_snapshot || d.snapshot_version.is_some(),
        "enable_snapshot",
        "sandboxd snapshots filesystems, not memory",
    );
    refuse(
        !d.preload_path_prefixes.is_empty(),
        "preload_path_prefixes",
        "sandboxd's images are local already",
    );
    refuse(
        d.verbose,
        "verbose",
        "sandboxd keeps no app logs to write the sandbox's operations to",
    );
    refuse(
        d.direct_sandbox_commands_enabled,
        "direct_sandbox_commands_enabled",
        "sandboxd's commands go through its command router",
    );
    let experimental: Vec<&str> = d
        .experimental_options
        .keys()
        .chain(d.experimental_options_v2.keys())
        .map(String::as_str)
        .collect();
    if !experimental.is_empty() {
        out.push((
            "experimental_options",
            format!("sandboxd knows none of them ({})", experimental.join(", ")),
        ));
    }
    out
}

/// The whole check: Modal's validation first, then what sandboxd cannot do.
pub fn check(d: &Sandbox) -> Result<(), Status> {
    validate(d)?;
    refuse_all(unsupported(d))
}

/// The fields of an image build that sandboxd cannot honour: its builds run Dockerfile
/// steps from local images, in bubblewrap, on this machine.
pub fn check_image(req: &ImageGetOrCreateRequest, image: &Image) -> Result<(), Status> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    if let Some(gpu) = image.gpu_config.as_ref().and_then(gpu_name) {
        out.push(("gpu", no_gpu(&gpu)));
    }
    if let Some(kind) = image
        .image_registry_config
        .as_ref()
        .and_then(private_registry)
    {
        out.push((
            "image_registry_config",
            format!(
                "{kind}: sandboxd cannot reach private registries (no registry is reachable from \
                 this machine); it builds from its local images"
            ),
        ));
    }
    let mut refuse = |set: bool, field: &'static str, why: &str| {
        if set {
            out.push((field, why.to_string()));
        }
    };
    let functions = "sandboxd runs no Modal functions";
    refuse(
        !image.build_function_def.is_empty() || !image.build_function_globals.is_empty(),
        "build_function",
        functions,
    );
    refuse(
        !req.build_function_id.is_empty(),
        "build_function_id",
        functions,
    );
    refuse(
        !image.context_mount_id.is_empty(),
        "context_mount_id",
        "sandboxd takes a build's files inline (context_files)",
    );
    refuse(
        !image.build_args.is_empty(),
        "build_args",
        "sandboxd's builds do not expand ARG",
    );
    refuse(
        !image.volume_mounts.is_empty(),
        "volume_mounts",
        "sandboxd mounts no volumes in builds",
    );
    let runtime = "sandboxd builds every image with bubblewrap";
    refuse(!image.runtime.is_empty(), "runtime", runtime);
    refuse(image.runtime_debug, "runtime_debug", runtime);
    refuse(
        !matches!(
            Arch::try_from(image.arch),
            Ok(Arch::Unspecified | Arch::X8664)
        ),
        "arch",
        "sandboxd builds for this machine, x86_64",
    );
    refuse_all(out)
}

/// The private registry an image's registry config names (`None`: a public one).
fn private_registry(c: &modal_proto::client::ImageRegistryConfig) -> Option<&'static str> {
    match RegistryAuthType::try_from(c.registry_auth_type) {
        Ok(RegistryAuthType::Aws) => Some("AWS ECR (REGISTRY_AUTH_TYPE_AWS)"),
        Ok(RegistryAuthType::Gcp) => Some("GCP Artifact Registry (REGISTRY_AUTH_TYPE_GCP)"),
        Ok(RegistryAuthType::StaticCreds) => {
            Some("a private registry with static credentials (REGISTRY_AUTH_TYPE_STATIC_CREDS)")
        }
        Ok(RegistryAuthType::Unspecified | RegistryAuthType::Public) if c.secret_id.is_empty() => {
            None
        }
        _ => Some("a registry with credentials"),
    }
}

fn refuse_all(refused: Vec<(&'static str, String)>) -> Result<(), Status> {
    if refused.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = refused
        .iter()
        .map(|(field, why)| format!("{field}: {why}"))
        .collect();
    Err(Status::failed_precondition(all.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        for ok in [
            "10.0.0.0/8",
            "1.2.3.4/32",
            "0.0.0.0/0",
            "fd00::/8",
            "::1/128",
        ] {
            cidr("f", ok).unwrap();
        }
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/1",
            "1.2.3.4/+1",
            "1.2.3.4/",
            "",
        ] {
            let e = cidr("f", bad).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{bad}");
            assert!(e.message().starts_with("f: "), "{}", e.message());
        }
    }

    #[test]
    fn allowlists_keep_ipv4_blocks_with_host_bits_cleared() {
        let d = Sandbox {
            network_access: Some(modal_proto::client::NetworkAccess {
                network_access_type: NetworkAccessType::Allowlist as i32,
                allowed_cidrs: vec![
                    "10.1.2.3/8".into(),
                    "0.0.0.0/0".into(),
                    "fd00::/8".into(),
                    "1.2.3.4/32".into(),
                ],
                allowed_domains: vec![],
            }),
            ..Default::default()
        };
        let got = outbound_allowlist(&d).unwrap();
        let want: Vec<(std::net::Ipv4Addr, u8)> = vec![
            ([10, 0, 0, 0].into(), 8),
            ([0, 0, 0, 0].into(), 0),
            ([1, 2, 3, 4].into(), 32),
        ];
        assert_eq!(got, want);
        assert_eq!(outbound_allowlist(&Sandbox::default()), None);
    }

    #[test]
    fn domains() {
        for ok in ["example.com", "*.example.com", "a-b.c0.io"] {
            domain("f", ok).unwrap();
        }
        for bad in [
            "localhost",
            "-a.com",
            "a..com",
            "a b.com",
            "*.",
            "a.com/x",
            "",
        ] {
            assert!(domain("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions() {
        for ok in ["us-east", "eu", "us-east-1", "europe-west4"] {
            region(ok).unwrap();
        }
        for bad in ["US-EAST", "us_east", "-us", "us-", "", "us--east"] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_gpu_config_is_no_gpu() {
        let mut d = Sandbox {
            resources: Some(modal_proto::client::Resources {
                gpu_config: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(gpu_request(&d), None);
        d.resources.as_mut().unwrap().gpu_config = Some(modal_proto::client::GpuConfig {
            gpu_type: "H100".into(),
            count: 2,
            ..Default::default()
        });
        assert_eq!(gpu_request(&d).as_deref(), Some("H100:2"));
    }

    #[test]
    fn every_refusal_is_named() {
        let d = Sandbox {
            i6pn_enabled: true,
            verbose: true,
            scheduler_placement: Some(modal_proto::client::SchedulerPlacement {
                zone: Some("us-east-1a".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = check(&d).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        for field in ["i6pn: ", "verbose: ", "scheduler_placement: "] {
            assert!(e.message().contains(field), "{field}: {}", e.message());
        }
        check(&Sandbox::default()).unwrap();
    }
}
