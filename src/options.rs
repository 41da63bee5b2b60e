//! The options of the API's calls, as plain Rust values (the JS facade reads its option
//! objects into these: `src/js/options.rs`), and the requests built from them.
//! Validation happens here, natively testable.

use std::time::Duration;

use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;

use crate::duration;
use crate::error::{Error, Result};
use crate::objects::{Probe, ProbeCheck, Secret, Volume};
use crate::wire;

/// Options of [`Apps::from_name`](crate::Apps::from_name).
#[derive(Debug, Clone, Default)]
pub struct AppFromNameParams {
    /// Environment to look the app up in (default: the client's).
    pub environment: Option<String>,
    /// Create the app if it does not exist.
    pub create_if_missing: bool,
}

/// Options of [`Secrets::from_name`](crate::Secrets::from_name).
#[derive(Debug, Clone, Default)]
pub struct SecretFromNameParams {
    /// Environment to look the secret up in.
    pub environment: Option<String>,
    /// Keys the secret must contain.
    pub required_keys: Vec<String>,
}

/// Options of [`Secrets::from_entries`](crate::Secrets::from_entries).
#[derive(Debug, Clone, Default)]
pub struct SecretFromObjectParams {
    /// Environment to create the secret in.
    pub environment: Option<String>,
}

/// Options of [`Secrets::delete`](crate::Secrets::delete) and
/// [`Volumes::delete`](crate::Volumes::delete).
#[derive(Debug, Clone, Default)]
pub struct DeleteParams {
    /// Environment to look the object up in.
    pub environment: Option<String>,
    /// Succeed when there is no such object (else `NotFound`).
    pub allow_missing: bool,
}

/// Options of [`Volumes::ephemeral`](crate::Volumes::ephemeral) (an environment, as for
/// ephemeral secrets).
pub type VolumeEphemeralParams = SecretFromObjectParams;

/// Options of [`Volumes::from_name`](crate::Volumes::from_name).
#[derive(Debug, Clone, Default)]
pub struct VolumeFromNameParams {
    /// Environment to look the volume up in.
    pub environment: Option<String>,
    /// Create the volume if it does not exist.
    pub create_if_missing: bool,
    /// VolumeFS version, 1 or 2 (default: either).
    pub version: Option<u32>,
}

/// Options of [`Sandboxes::create`](crate::Sandboxes::create), as in Modal's clients.
#[derive(Debug, Clone, Default)]
pub struct SandboxCreateParams {
    /// Program and arguments of the main process; by default it sleeps until timeout.
    pub command: Vec<String>,
    /// CPU cores reserved (fractional allowed).
    pub cpu: Option<f64>,
    /// Hard CPU limit in cores (needs `cpu`).
    pub cpu_limit: Option<f64>,
    /// Memory reserved, in MiB.
    pub memory_mib: Option<u32>,
    /// Memory hard limit, in MiB (needs `memory_mib`).
    pub memory_limit_mib: Option<u32>,
    /// Maximum lifetime, whole seconds (default 5 minutes).
    pub timeout: Option<Duration>,
    /// Idle time after which the sandbox is terminated, whole seconds.
    pub idle_timeout: Option<Duration>,
    /// Working directory (absolute).
    pub workdir: Option<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Secrets injected as environment variables.
    pub secrets: Vec<Secret>,
    /// Volumes by mount path (absolute).
    pub volumes: Vec<(String, Volume)>,
    /// Ports tunneled with TLS.
    pub encrypted_ports: Vec<u32>,
    /// Ports tunneled with TLS over HTTP/2.
    pub h2_ports: Vec<u32>,
    /// Ports tunneled without encryption.
    pub unencrypted_ports: Vec<u32>,
    /// Block all network access.
    pub block_network: bool,
    /// Name, unique within the app.
    pub name: Option<String>,
    /// Tags, filterable by [`Sandboxes::list`](crate::Sandboxes::list).
    pub tags: Vec<(String, String)>,
    /// Readiness probe.
    pub readiness_probe: Option<Probe>,
    /// Verbose logging.
    pub verbose: bool,
    /// Run the main process on a pseudo-terminal (stdin, stdout and stderr all the
    /// terminal's, output on stdout).
    pub pty: Option<PtyParams>,
    /// GPU reservation: a type and an optional count, e.g. `"A100"`, `"T4:2"`.
    pub gpu: Option<String>,
    /// Runtime, `"gvisor"` or `"vm"` (default: the server's choice).
    pub runtime: Option<String>,
    /// CIDRs the sandbox may reach (default: all); not with `block_network`.
    pub outbound_cidr_allowlist: Option<Vec<String>>,
    /// Domains the sandbox may reach (`*.example.com` allowed; default: all); not with
    /// `block_network`.
    pub outbound_domain_allowlist: Option<Vec<String>>,
    /// CIDRs allowed to connect in (tunnels, connect tokens; default: all).
    pub inbound_cidr_allowlist: Option<Vec<String>>,
    /// Private IPv6 networking between the workspace's sandboxes.
    pub i6pn: bool,
    /// Cloud provider to run on.
    pub cloud: Option<String>,
    /// Regions to run in.
    pub regions: Vec<String>,
    /// Experimental options, each a boolean or a string (sent as a string).
    pub experimental_options: Vec<(String, String)>,
    /// Parent domain of the sandbox's connection subdomains (Modal Enterprise).
    pub custom_domain: Option<String>,
    /// Give the sandbox a `MODAL_IDENTITY_TOKEN` (OIDC).
    pub include_oidc_identity_token: bool,
    /// Allow memory snapshots of the sandbox.
    pub experimental_enable_snapshot: bool,
}

/// A pseudo-terminal for a command or a sandbox's main process (Modal's `PTYInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtyParams {
    /// Rows of the window, 1 to 10000 (default: the server's, 24).
    pub rows: Option<u32>,
    /// Columns of the window, 1 to 10000 (default: the server's, 80).
    pub cols: Option<u32>,
    /// `TERM` (default `xterm-256color`, what xterm.js emulates).
    pub term: Option<String>,
}

/// Rows and columns a terminal may have, each (sandboxd's limit too).
pub(crate) const MAX_TERMINAL_SIDE: u32 = 10_000;

/// A window side: 1 to [`MAX_TERMINAL_SIDE`].
pub(crate) fn terminal_side(what: &str, n: u32) -> Result<u32> {
    if (1..=MAX_TERMINAL_SIDE).contains(&n) {
        Ok(n)
    } else {
        Err(Error::invalid(format!(
            "{what} must be 1 to {MAX_TERMINAL_SIDE}, got {n}"
        )))
    }
}

/// Modal's `PTYInfo` for `p`, as Modal's clients fill it for a shell (`COLORTERM` says
/// 24-bit colour, which xterm.js renders). A sandbox's terminal is not ended by idle
/// stdin, as in Modal's Python client.
fn pty_info(p: &PtyParams, sandbox: bool) -> Result<wire::PtyInfo> {
    let side = |what, n: Option<u32>| n.map_or(Ok(0), |n| terminal_side(what, n));
    Ok(wire::PtyInfo {
        enabled: true,
        winsz_rows: side("pty.rows", p.rows)?,
        winsz_cols: side("pty.cols", p.cols)?,
        env_term: p.term.clone().unwrap_or_else(|| "xterm-256color".into()),
        env_colorterm: "truecolor".into(),
        pty_type: pb::pty_info::PtyType::Shell as i32,
        no_terminate_on_idle_stdin: sandbox,
    })
}

/// Pipe an output stream, or drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StdioBehavior {
    /// Readable through the process's stream.
    #[default]
    Pipe,
    /// Discarded; the stream is empty.
    Ignore,
}

/// Options of [`Sandbox::exec`](crate::Sandbox::exec).
#[derive(Debug, Clone, Default)]
pub struct SandboxExecParams {
    /// Pipe or ignore stdout.
    pub stdout: StdioBehavior,
    /// Pipe or ignore stderr.
    pub stderr: StdioBehavior,
    /// Working directory (absolute).
    pub workdir: Option<String>,
    /// Timeout, whole seconds.
    pub timeout: Option<Duration>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
    /// Secrets injected as environment variables.
    pub secrets: Vec<Secret>,
    /// Run the command on a pseudo-terminal: its output (stdout and stderr) arrives on
    /// stdout, stdin is the terminal's input (`"\x03"` is Ctrl-C), and
    /// [`ContainerProcess::resize`](crate::ContainerProcess::resize) changes its size.
    pub pty: Option<PtyParams>,
}

/// Options of [`Sandboxes::list`](crate::Sandboxes::list).
#[derive(Debug, Clone, Default)]
pub struct SandboxListParams {
    /// Only sandboxes of this app.
    pub app_id: Option<String>,
    /// Only sandboxes with all these tags.
    pub tags: Vec<(String, String)>,
    /// Environment name.
    pub environment: Option<String>,
}

/// Options of [`Sandboxes::from_name`](crate::Sandboxes::from_name).
#[derive(Debug, Clone, Default)]
pub struct SandboxFromNameParams {
    /// Environment name.
    pub environment: Option<String>,
    /// Fall back to the most recent terminated sandbox of that name.
    pub include_terminated: bool,
}

/// Options of [`Sandbox::create_connect_token`](crate::Sandbox::create_connect_token).
#[derive(Debug, Clone, Default)]
pub struct SandboxCreateConnectTokenParams {
    /// Metadata the proxy adds to forwarded requests.
    pub user_metadata: Option<String>,
    /// Container port requests are routed to (default 8080).
    pub port: Option<u32>,
}

/// How long a snapshot's image lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageTtl {
    /// 30 days, as Modal's clients.
    #[default]
    Default,
    /// No expiry.
    Never,
    /// This long (whole seconds).
    After(Duration),
}

/// Options of [`Image::dockerfile_commands`](crate::Image::dockerfile_commands), Modal's
/// `ImageDockerfileCommandsParams`: they apply to that layer's build only.
#[derive(Debug, Clone, Default)]
pub struct ImageDockerfileCommandsParams {
    /// Environment variables of the build's `RUN` steps (sent as an ephemeral secret).
    pub env: Vec<(String, String)>,
    /// Secrets whose variables the build's `RUN` steps see.
    pub secrets: Vec<Secret>,
    /// GPU reservation of the build, e.g. `"A100"`, `"T4:2"`.
    pub gpu: Option<String>,
    /// Rebuild the layer even if a cached build exists.
    pub force_build: bool,
}

/// Options of [`Sandbox::snapshot_filesystem`](crate::Sandbox::snapshot_filesystem) and
/// [`Sandbox::snapshot_directory`](crate::Sandbox::snapshot_directory).
#[derive(Debug, Clone, Default)]
pub struct SnapshotParams {
    /// Overall budget of the call (default 55 s); then a `Timeout` error.
    pub timeout: Option<Duration>,
    /// Lifetime of the image.
    pub ttl: ImageTtl,
}

/// The default overall budget of snapshot and volume-reload calls.
pub(crate) const DEFAULT_BUDGET: Duration = Duration::from_secs(55);

/// An optional call budget: `None` or zero mean the default.
pub(crate) fn budget(timeout: Option<Duration>) -> Duration {
    timeout.filter(|d| !d.is_zero()).unwrap_or(DEFAULT_BUDGET)
}

/// Image time-to-live of a snapshot request, in seconds (`-1`: no expiry).
pub(crate) fn ttl_seconds(ttl: ImageTtl) -> Result<i64> {
    match ttl {
        ImageTtl::Default => Ok(30 * 24 * 3600),
        ImageTtl::Never => Ok(-1),
        ImageTtl::After(d) => duration::whole_seconds(d, "ttlMs").map(i64::from),
    }
}

fn check_workdir(workdir: &Option<String>) -> Result<()> {
    match workdir {
        Some(w) if !w.starts_with('/') => Err(Error::invalid(format!(
            "workdir must be an absolute path, got: {w}"
        ))),
        _ => Ok(()),
    }
}

/// Tags as the protocol's list.
pub(crate) fn tags_to_proto(tags: &[(String, String)]) -> Vec<pb::SandboxTag> {
    let mut out = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        out.push(pb::SandboxTag {
            tag_name: k.clone(),
            tag_value: v.clone(),
        });
    }
    out
}

/// Secret sources: each secret by id, then inline env (as Modal's JS client does).
fn secret_sources(secrets: &[Secret], env: &[(String, String)]) -> Result<Vec<wire::SecretSource>> {
    let mut out = Vec::new();
    for (i, s) in secrets.iter().enumerate() {
        if s.secret_id.is_empty() {
            return Err(Error::invalid(format!(
                "secret at index {i} has not been hydrated"
            )));
        }
        out.push(wire::SecretSource {
            source: Some(wire::SecretSourceKind::SecretId(s.secret_id.clone())),
        });
    }
    if !env.is_empty() {
        let mut contents = Vec::with_capacity(env.len());
        for (key, value) in env {
            contents.push(wire::MapEntry {
                key: key.clone(),
                value: value.clone(),
            });
        }
        out.push(wire::SecretSource {
            source: Some(wire::SecretSourceKind::Env(wire::StringMap { contents })),
        });
    }
    Ok(out)
}

/// Checks a sandbox or object name: 1..=64 of `[a-zA-Z0-9-_.]`.
fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid {what} name '{name}': use up to 64 of a-z A-Z 0-9 - _ ."
        )))
    }
}

fn resources(p: &SandboxCreateParams) -> Result<pb::Resources> {
    let mut resources = pb::Resources::default();
    match (p.cpu, p.cpu_limit) {
        (None, Some(_)) => {
            return Err(Error::invalid(
                "must also specify cpu when cpuLimit is specified",
            ))
        }
        (Some(c), _) if !(c > 0.0 && c.is_finite()) => {
            return Err(Error::invalid("cpu must be a positive number"))
        }
        (Some(c), Some(l)) if l < c => {
            return Err(Error::invalid("cpu cannot be higher than cpuLimit"))
        }
        (Some(c), l) => {
            resources.milli_cpu = (c * 1000.0) as u32;
            resources.milli_cpu_max = l.map(|l| (l * 1000.0) as u32).unwrap_or(0);
        }
        (None, None) => {}
    }
    match (p.memory_mib, p.memory_limit_mib) {
        (None, Some(_)) => {
            return Err(Error::invalid(
                "must also specify memoryMiB when memoryLimitMiB is specified",
            ))
        }
        (Some(0), _) => return Err(Error::invalid("memoryMiB must be a positive number")),
        (Some(m), Some(l)) if l < m => {
            return Err(Error::invalid(format!(
                "memoryMiB ({m}) cannot be higher than memoryLimitMiB ({l})"
            )))
        }
        (Some(m), l) => {
            resources.memory_mb = m;
            resources.memory_mb_max = l.unwrap_or(0);
        }
        (None, None) => {}
    }
    resources.gpu_config = match p.gpu.as_deref() {
        None | Some("") => None,
        Some(gpu) => Some(gpu_config(gpu)?),
    };
    Ok(resources)
}

/// Modal's `GPUConfig` for `"TYPE"` or `"TYPE:COUNT"` (the type upper-cased, as Modal's
/// clients send it).
pub(crate) fn gpu_config(gpu: &str) -> Result<pb::GpuConfig> {
    let (gpu_type, count) = match crate::utf8::split_once_byte(gpu, b':') {
        None => (gpu, 1),
        Some((t, c)) => match c.parse::<u32>() {
            Ok(n) if n >= 1 => (t, n),
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid GPU count: {c}. Value must be a positive integer."
                )))
            }
        },
    };
    Ok(pb::GpuConfig {
        count,
        gpu_type: gpu_type.to_ascii_uppercase(),
        ..Default::default()
    })
}

/// The outbound network policy, as Modal's JS client builds it.
fn network_access(p: &SandboxCreateParams) -> Result<pb::NetworkAccess> {
    use pb::network_access::NetworkAccessType as T;
    let (cidrs, domains) = (&p.outbound_cidr_allowlist, &p.outbound_domain_allowlist);
    if p.block_network {
        for (set, key) in [
            (cidrs.is_some(), "outboundCidrAllowlist"),
            (domains.is_some(), "outboundDomainAllowlist"),
            (p.inbound_cidr_allowlist.is_some(), "inboundCidrAllowlist"),
            (p.i6pn, "i6pn"),
        ] {
            if set {
                return Err(Error::invalid(format!(
                    "{key} cannot be used when blockNetwork is enabled"
                )));
            }
        }
    }
    let kind = match (p.block_network, cidrs.is_some() || domains.is_some()) {
        (true, _) => T::Blocked,
        (false, true) => T::Allowlist,
        (false, false) => T::Open,
    };
    Ok(pb::NetworkAccess {
        network_access_type: kind as i32,
        allowed_cidrs: cidrs.clone().unwrap_or_default(),
        allowed_domains: domains.clone().unwrap_or_default(),
    })
}

fn ports(p: &SandboxCreateParams) -> Vec<pb::PortSpec> {
    let mut out = Vec::new();
    let h2 = Some(pb::TunnelType::H2 as i32);
    for (ports, unencrypted, tunnel_type) in [
        (&p.encrypted_ports, false, None),
        (&p.h2_ports, false, h2),
        (&p.unencrypted_ports, true, None),
    ] {
        for &port in ports {
            out.push(pb::PortSpec {
                port,
                unencrypted,
                tunnel_type,
            });
        }
    }
    out
}

/// The `SandboxCreateV2` request for `params` (the image id is set once the image is built).
pub(crate) fn sandbox_create_request(
    app_id: &str,
    image_id: &str,
    p: &SandboxCreateParams,
) -> Result<wire::SandboxCreateV2Request> {
    let timeout_secs = match p.timeout {
        Some(d) => duration::whole_seconds(d, "timeoutMs")?,
        None => 300,
    };
    let idle_timeout_secs = p
        .idle_timeout
        .map(|d| duration::whole_seconds(d, "idleTimeoutMs"))
        .transpose()?;
    check_workdir(&p.workdir)?;
    if let Some(name) = &p.name {
        check_name(name, "Sandbox")?;
    }
    if let Some(r) = p
        .runtime
        .as_deref()
        .filter(|r| !matches!(*r, "gvisor" | "vm"))
    {
        return Err(Error::invalid(format!(
            "runtime must be \"gvisor\" or \"vm\", got \"{r}\""
        )));
    }
    let readiness_probe = p.readiness_probe.as_ref().map(probe_to_proto).transpose()?;
    // a loop, not `collect::<Result<Vec<_>>>()`: each such collect is its own iterator
    // adapter code in the wasm (~0.5 KB)
    let mut volume_mounts = Vec::with_capacity(p.volumes.len());
    for (path, v) in &p.volumes {
        if !path.starts_with('/') {
            return Err(Error::invalid(format!(
                "volume mount path must be absolute, got: {path}"
            )));
        }
        volume_mounts.push(pb::VolumeMount {
            volume_id: v.volume_id.clone(),
            mount_path: path.clone(),
            allow_background_commits: true,
            read_only: v.read_only,
            sub_path: v.sub_path.clone(),
        });
    }
    let definition = wire::Sandbox {
        entrypoint_args: p.command.clone(),
        image_id: image_id.to_string(),
        timeout_secs,
        idle_timeout_secs,
        workdir: p.workdir.clone(),
        block_network: p.block_network,
        network_access: Some(network_access(p)?),
        resources: Some(resources(p)?),
        volume_mounts,
        open_ports: Some(pb::PortSpecs { ports: ports(p) }),
        verbose: p.verbose,
        readiness_probe,
        name: p.name.clone(),
        pty_info: p.pty.as_ref().map(|t| pty_info(t, true)).transpose()?,
        scheduler_placement: (!p.regions.is_empty()).then(|| pb::SchedulerPlacement {
            regions: p.regions.clone(),
            ..Default::default()
        }),
        i6pn_enabled: p.i6pn,
        enable_snapshot: p.experimental_enable_snapshot,
        cloud_provider_str: p.cloud.clone().unwrap_or_default(),
        runtime: p.runtime.clone(),
        custom_domain: p.custom_domain.clone().unwrap_or_default(),
        include_oidc_identity_token: p.include_oidc_identity_token,
        inbound_cidr_allowlist: p.inbound_cidr_allowlist.clone().unwrap_or_default(),
        experimental_options_v2: p
            .experimental_options
            .iter()
            .map(|(key, value)| wire::MapEntry {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    };
    Ok(wire::SandboxCreateV2Request {
        app_id: app_id.to_string(),
        definition: Some(definition),
        tags: tags_to_proto(&p.tags),
        secret_sources: secret_sources(&p.secrets, &p.env)?,
    })
}

/// The protocol's readiness probe.
fn probe_to_proto(p: &Probe) -> Result<pb::Probe> {
    let probe_oneof = match &p.check {
        ProbeCheck::Tcp(port) => pb::probe::ProbeOneof::TcpPort(u32::from(*port)),
        ProbeCheck::Exec(argv) => {
            pb::probe::ProbeOneof::ExecCommand(pb::probe::ExecCommand { argv: argv.clone() })
        }
    };
    Ok(pb::Probe {
        interval_ms: p
            .interval
            .map(|d| duration::millis(d, "intervalMs"))
            .transpose()?,
        probe_oneof: Some(probe_oneof),
    })
}

/// The `TaskExecStart` request for `command` and `params`.
pub(crate) fn exec_start_request(
    task_id: &str,
    exec_id: &str,
    command: Vec<String>,
    p: &SandboxExecParams,
) -> Result<wire::TaskExecStartRequest> {
    if command.is_empty() {
        return Err(Error::invalid("command must not be empty"));
    }
    check_workdir(&p.workdir)?;
    let timeout_secs = p
        .timeout
        .map(|d| duration::whole_seconds(d, "timeoutMs"))
        .transpose()?;
    let stdout_config = match p.stdout {
        StdioBehavior::Pipe => tcr::TaskExecStdoutConfig::Pipe,
        StdioBehavior::Ignore => tcr::TaskExecStdoutConfig::Devnull,
    };
    let stderr_config = match p.stderr {
        StdioBehavior::Pipe => tcr::TaskExecStderrConfig::Pipe,
        StdioBehavior::Ignore => tcr::TaskExecStderrConfig::Devnull,
    };
    Ok(wire::TaskExecStartRequest {
        task_id: task_id.to_string(),
        exec_id: exec_id.to_string(),
        command_args: command,
        stdout_config: stdout_config as i32,
        stderr_config: stderr_config as i32,
        timeout_secs,
        workdir: p.workdir.clone(),
        secret_sources: secret_sources(&p.secrets, &p.env)?,
        pty_info: p.pty.as_ref().map(|t| pty_info(t, false)).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(id: &str) -> Secret {
        Secret {
            secret_id: id.into(),
            name: None,
        }
    }

    #[test]
    fn create_request_defaults() {
        let r = sandbox_create_request("ap-1", "im-1", &SandboxCreateParams::default()).unwrap();
        let d = r.definition.unwrap();
        assert_eq!(d.timeout_secs, 300);
        assert_eq!(d.image_id, "im-1");
        assert!(d.entrypoint_args.is_empty());
        assert_eq!(r.app_id, "ap-1");
    }

    #[test]
    fn create_request_fields() {
        let p = SandboxCreateParams {
            command: vec!["sleep".into(), "10".into()],
            cpu: Some(0.5),
            memory_mib: Some(256),
            timeout: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(5)),
            workdir: Some("/tmp".into()),
            env: vec![("A".into(), "1".into())],
            secrets: vec![secret("st-1")],
            encrypted_ports: vec![8080],
            h2_ports: vec![8443],
            block_network: true,
            name: Some("my-sb".into()),
            tags: vec![("k".into(), "v".into())],
            readiness_probe: Some(
                Probe::tcp(80)
                    .unwrap()
                    .with_interval(Duration::from_millis(250)),
            ),
            ..Default::default()
        };
        let r = sandbox_create_request("ap", "im", &p).unwrap();
        let d = r.definition.unwrap();
        assert_eq!(d.entrypoint_args, vec!["sleep", "10"]);
        assert_eq!(d.resources.unwrap().milli_cpu, 500);
        assert_eq!(d.timeout_secs, 60);
        assert_eq!(d.idle_timeout_secs, Some(5));
        assert!(d.block_network);
        assert_eq!(d.name.as_deref(), Some("my-sb"));
        assert_eq!(r.tags.len(), 1);
        assert_eq!(r.secret_sources.len(), 2);
        assert_eq!(d.readiness_probe.unwrap().interval_ms, Some(250));
        let Some(ports) = d.open_ports else {
            panic!("no ports");
        };
        assert_eq!(ports.ports.len(), 2);
        assert_eq!(ports.ports[1].tunnel_type, Some(pb::TunnelType::H2 as i32));
    }

    /// The options Modal's JS client sends beyond the basics, in the fields it sends them in.
    #[test]
    fn create_request_modal_js_fields() {
        let p = SandboxCreateParams {
            gpu: Some("a100-80gb:4".into()),
            runtime: Some("gvisor".into()),
            outbound_cidr_allowlist: Some(vec!["10.0.0.0/8".into()]),
            inbound_cidr_allowlist: Some(vec!["1.2.3.4/32".into()]),
            i6pn: true,
            cloud: Some("aws".into()),
            regions: vec!["us-east-1".into()],
            experimental_options: vec![("x".into(), "true".into())],
            custom_domain: Some("sb.example.com".into()),
            include_oidc_identity_token: true,
            experimental_enable_snapshot: true,
            ..Default::default()
        };
        let d = sandbox_create_request("a", "i", &p)
            .unwrap()
            .definition
            .unwrap();
        let gpu = d.resources.unwrap().gpu_config.unwrap();
        assert_eq!((gpu.gpu_type.as_str(), gpu.count), ("A100-80GB", 4));
        assert_eq!(d.runtime.as_deref(), Some("gvisor"));
        let net = d.network_access.unwrap();
        assert_eq!(
            net.network_access_type,
            pb::network_access::NetworkAccessType::Allowlist as i32
        );
        assert_eq!(net.allowed_cidrs, vec!["10.0.0.0/8"]);
        assert!(net.allowed_domains.is_empty());
        assert_eq!(d.inbound_cidr_allowlist, vec!["1.2.3.4/32"]);
        assert!(d.i6pn_enabled && d.include_oidc_identity_token && d.enable_snapshot);
        assert_eq!(d.cloud_provider_str, "aws");
        assert_eq!(d.scheduler_placement.unwrap().regions, vec!["us-east-1"]);
        assert_eq!(
            (
                d.experimental_options_v2[0].key.as_str(),
                d.experimental_options_v2[0].value.as_str()
            ),
            ("x", "true")
        );
        assert_eq!(d.custom_domain, "sb.example.com");
        // an empty allowlist still says ALLOWLIST (nothing allowed), as in Modal's JS client
        let p = SandboxCreateParams {
            outbound_domain_allowlist: Some(vec![]),
            ..Default::default()
        };
        let d = sandbox_create_request("a", "i", &p)
            .unwrap()
            .definition
            .unwrap();
        let net = d.network_access.unwrap();
        assert_eq!(
            net.network_access_type,
            pb::network_access::NetworkAccessType::Allowlist as i32
        );
        // defaults: no GPU, no placement, open network
        let d = sandbox_create_request("a", "i", &Default::default())
            .unwrap()
            .definition
            .unwrap();
        assert!(d.resources.unwrap().gpu_config.is_none() && d.scheduler_placement.is_none());
        assert_eq!(
            d.network_access.unwrap().network_access_type,
            pb::network_access::NetworkAccessType::Open as i32
        );
        assert_eq!(gpu_config("T4").unwrap().count, 1);
    }

    #[test]
    fn create_request_refuses_what_modal_js_refuses() {
        let blocked = |f: fn(&mut SandboxCreateParams)| {
            let mut p = SandboxCreateParams {
                block_network: true,
                ..Default::default()
            };
            f(&mut p);
            sandbox_create_request("a", "i", &p)
                .unwrap_err()
                .message
                .clone()
        };
        assert!(blocked(|p| p.outbound_cidr_allowlist = Some(vec![]))
            .starts_with("outboundCidrAllowlist cannot be used"));
        assert!(blocked(|p| p.outbound_domain_allowlist = Some(vec![]))
            .starts_with("outboundDomainAllowlist"));
        assert!(blocked(|p| p.inbound_cidr_allowlist = Some(vec![]))
            .starts_with("inboundCidrAllowlist"));
        assert!(blocked(|p| p.i6pn = true).starts_with("i6pn"));
        for (gpu, ok) in [
            ("T4:0", false),
            ("T4:x", false),
            ("T4:", false),
            ("H100:8", true),
        ] {
            let p = SandboxCreateParams {
                gpu: Some(gpu.into()),
                ..Default::default()
            };
            assert_eq!(sandbox_create_request("a", "i", &p).is_ok(), ok, "{gpu}");
        }
        let p = SandboxCreateParams {
            runtime: Some("docker".into()),
            ..Default::default()
        };
        let e = sandbox_create_request("a", "i", &p).unwrap_err();
        assert!(e.message.starts_with("runtime must be"), "{}", e.message);
    }

    #[test]
    fn create_request_rejects_bad_input() {
        for p in [
            SandboxCreateParams {
                timeout: Some(Duration::from_millis(1500)),
                ..Default::default()
            },
            SandboxCreateParams {
                timeout: Some(Duration::ZERO),
                ..Default::default()
            },
            SandboxCreateParams {
                workdir: Some("rel".into()),
                ..Default::default()
            },
            SandboxCreateParams {
                name: Some("bad name!".into()),
                ..Default::default()
            },
            SandboxCreateParams {
                cpu_limit: Some(1.0),
                ..Default::default()
            },
            SandboxCreateParams {
                secrets: vec![secret("")],
                ..Default::default()
            },
            SandboxCreateParams {
                volumes: vec![(
                    "rel".into(),
                    Volume {
                        volume_id: "vo-1".into(),
                        name: None,
                        read_only: false,
                        sub_path: None,
                        heartbeat_stop: None,
                    },
                )],
                ..Default::default()
            },
        ] {
            let e = sandbox_create_request("a", "i", &p).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::Invalid, "{p:?}");
        }
    }

    #[test]
    fn exec_request() {
        let p = SandboxExecParams {
            stderr: StdioBehavior::Ignore,
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        };
        let r = exec_start_request("ta", "ex", vec!["echo".into()], &p).unwrap();
        assert_eq!(r.stdout_config, tcr::TaskExecStdoutConfig::Pipe as i32);
        assert_eq!(r.stderr_config, tcr::TaskExecStderrConfig::Devnull as i32);
        assert_eq!(r.timeout_secs, Some(2));
        assert!(exec_start_request("t", "e", vec![], &p).is_err());
    }

    #[test]
    fn pty_requests() {
        let pty = PtyParams {
            rows: Some(30),
            cols: Some(100),
            term: None,
        };
        let p = SandboxExecParams {
            pty: Some(pty.clone()),
            ..Default::default()
        };
        let info = exec_start_request("t", "e", vec!["sh".into()], &p)
            .unwrap()
            .pty_info
            .unwrap();
        assert_eq!((info.winsz_rows, info.winsz_cols), (30, 100));
        assert_eq!(info.env_term, "xterm-256color");
        assert!(info.enabled && !info.no_terminate_on_idle_stdin);
        let none = exec_start_request("t", "e", vec!["sh".into()], &Default::default()).unwrap();
        assert!(none.pty_info.is_none());
        // unset sides are 0: the server's default size
        let p = SandboxCreateParams {
            pty: Some(PtyParams::default()),
            ..Default::default()
        };
        let d = sandbox_create_request("a", "i", &p)
            .unwrap()
            .definition
            .unwrap();
        let info = d.pty_info.unwrap();
        assert_eq!((info.winsz_rows, info.winsz_cols), (0, 0));
        assert!(info.no_terminate_on_idle_stdin);
        for bad in [Some(0), Some(10_001)] {
            let p = SandboxExecParams {
                pty: Some(PtyParams {
                    cols: bad,
                    ..pty.clone()
                }),
                ..Default::default()
            };
            let e = exec_start_request("t", "e", vec!["sh".into()], &p).unwrap_err();
            assert!(e.message.contains("pty.cols"), "{}", e.message);
        }
    }

    #[test]
    fn snapshot_ttl_and_budget_as_modal_js() {
        assert_eq!(ttl_seconds(ImageTtl::Default).unwrap(), 2_592_000);
        assert_eq!(ttl_seconds(ImageTtl::Never).unwrap(), -1);
        assert_eq!(
            ttl_seconds(ImageTtl::After(Duration::from_secs(60))).unwrap(),
            60
        );
        assert!(ttl_seconds(ImageTtl::After(Duration::from_millis(999))).is_err());
        assert!(ttl_seconds(ImageTtl::After(Duration::from_millis(1500))).is_err());
        assert_eq!(budget(None), DEFAULT_BUDGET);
        assert_eq!(budget(Some(Duration::ZERO)), DEFAULT_BUDGET);
        assert_eq!(budget(Some(Duration::from_secs(3))), Duration::from_secs(3));
    }
}
