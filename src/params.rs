//! The option objects of the JS API (typed through tsify) and the requests built from them.
//! Validation happens here, natively testable; the facade only converts JS values.

use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
use serde::de::IgnoredAny;
use serde::Deserialize;
use tsify::Tsify;

use crate::error::{Error, Result};
use crate::js::convert::{Fields, FromJs, Record};

/// Options of `new ModalClient(...)`.
#[derive(Tsify, Deserialize, Default, Debug, Clone)]
#[serde(rename_all = "camelCase", default)]
pub struct ModalClientParams {
    /// Server URL, e.g. `"http://127.0.0.1:8080"` (a sandboxd, or a gateway to Modal).
    pub endpoint: String,
    /// Workspace token id (`ak-...`), sent as `x-modal-token-id`. Only for a local
    /// sandboxd or a trusted server: never ship a workspace secret to a browser.
    #[tsify(optional)]
    pub token_id: String,
    /// Workspace token secret (`as-...`), sent as `x-modal-token-secret`.
    #[tsify(optional)]
    pub token_secret: String,
    /// A scoped, expiring token minted by your backend (see `mintToken`), sent as
    /// `authorization: Bearer`; for a gateway or a sandboxd with a signing key.
    #[tsify(optional)]
    pub token: Option<String>,
    /// Called for a fresh scoped token before the current one expires, and once after
    /// the server answers UNAUTHENTICATED (like CodeSandbox's `getSession`).
    #[tsify(optional, type = "() => string | Promise<string>")]
    pub get_token: Option<IgnoredAny>,
    /// Default environment name for lookups.
    #[tsify(optional)]
    pub environment: Option<String>,
}

/// Options accepted by every async call.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct CallOptions {
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.apps.fromName()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct AppFromNameParams {
    /// Environment to look the app up in.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Create the app if it does not exist.
    #[tsify(optional)]
    pub create_if_missing: Option<bool>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.secrets.fromName()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SecretFromNameParams {
    /// Environment to look the secret up in.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Keys the secret must contain.
    #[tsify(optional)]
    pub required_keys: Option<Vec<String>>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.secrets.fromObject()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SecretFromObjectParams {
    /// Environment to create the secret in.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.volumes.fromName()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct VolumeFromNameParams {
    /// Environment to look the volume up in.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Create the volume if it does not exist.
    #[tsify(optional)]
    pub create_if_missing: Option<bool>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// A `Secret` handle, read through its `secretId` getter.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's id.
    #[serde(rename = "secretId")]
    pub secret_id: String,
}

/// A `Volume` handle, read through its getters.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// The volume's id.
    #[serde(rename = "volumeId")]
    pub volume_id: String,
    /// Mount read-only.
    #[serde(rename = "readOnly", default)]
    pub read_only: Option<bool>,
}

/// A `Probe` handle, read through its getters.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ProbeRef {
    /// TCP port probed for readiness.
    pub tcp_port: Option<u32>,
    /// Command whose success means ready.
    pub exec_argv: Option<Vec<String>>,
    /// Interval between probes.
    pub interval_ms: Option<u32>,
}

/// Options of `client.sandboxes.create()`, as in Modal's JS client.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxCreateParams {
    /// Program and arguments of the main process; by default it sleeps until timeout.
    #[tsify(optional)]
    pub command: Option<Vec<String>>,
    /// CPU cores reserved (fractional allowed).
    #[tsify(optional)]
    pub cpu: Option<f64>,
    /// Hard CPU limit in cores.
    #[tsify(optional)]
    pub cpu_limit: Option<f64>,
    /// Memory reserved, in MiB.
    #[serde(rename = "memoryMiB")]
    #[tsify(optional)]
    pub memory_mib: Option<u32>,
    /// Memory hard limit, in MiB.
    #[serde(rename = "memoryLimitMiB")]
    #[tsify(optional)]
    pub memory_limit_mib: Option<u32>,
    /// Maximum lifetime in milliseconds (a multiple of 1000). Defaults to 5 minutes.
    #[tsify(optional)]
    pub timeout_ms: Option<f64>,
    /// Idle time in milliseconds after which the sandbox is terminated.
    #[tsify(optional)]
    pub idle_timeout_ms: Option<f64>,
    /// Working directory (absolute).
    #[tsify(optional)]
    pub workdir: Option<String>,
    /// Environment variables.
    #[tsify(optional, type = "Record<string, string>")]
    pub env: Option<Record<String>>,
    /// Secrets injected as environment variables.
    #[tsify(optional, type = "Secret[]")]
    pub secrets: Option<Vec<SecretRef>>,
    /// Volumes by mount path.
    #[tsify(optional, type = "Record<string, Volume>")]
    pub volumes: Option<Record<VolumeRef>>,
    /// Ports tunneled with TLS.
    #[tsify(optional)]
    pub encrypted_ports: Option<Vec<u32>>,
    /// Ports tunneled with TLS over HTTP/2.
    #[tsify(optional)]
    pub h2_ports: Option<Vec<u32>>,
    /// Ports tunneled without encryption.
    #[tsify(optional)]
    pub unencrypted_ports: Option<Vec<u32>>,
    /// Block all network access.
    #[tsify(optional)]
    pub block_network: Option<bool>,
    /// Name, unique within the app.
    #[tsify(optional)]
    pub name: Option<String>,
    /// Tags, filterable by `client.sandboxes.list({ tags })`.
    #[tsify(optional, type = "Record<string, string>")]
    pub tags: Option<Record<String>>,
    /// Readiness probe, see `Probe.withTcp` / `Probe.withExec`.
    #[tsify(optional, type = "Probe")]
    pub readiness_probe: Option<ProbeRef>,
    /// Verbose logging.
    #[tsify(optional)]
    pub verbose: Option<bool>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Text or binary streams.
#[derive(Tsify, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StreamMode {
    /// Chunks are strings (UTF-8 decoded).
    #[default]
    Text,
    /// Chunks are `Uint8Array`s.
    Binary,
}

/// Pipe an output stream, or drop it.
#[derive(Tsify, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StdioBehavior {
    /// Readable through the process's stream.
    #[default]
    Pipe,
    /// Discarded; the stream is empty.
    Ignore,
}

/// Options of `sandbox.exec()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxExecParams {
    /// `"text"` (default) or `"binary"` chunks on stdout/stderr/stdin.
    #[tsify(optional)]
    pub mode: Option<StreamMode>,
    /// Pipe or ignore stdout.
    #[tsify(optional)]
    pub stdout: Option<StdioBehavior>,
    /// Pipe or ignore stderr.
    #[tsify(optional)]
    pub stderr: Option<StdioBehavior>,
    /// Working directory (absolute).
    #[tsify(optional)]
    pub workdir: Option<String>,
    /// Timeout in milliseconds (a multiple of 1000).
    #[tsify(optional)]
    pub timeout_ms: Option<f64>,
    /// Environment variables.
    #[tsify(optional, type = "Record<string, string>")]
    pub env: Option<Record<String>>,
    /// Secrets injected as environment variables.
    #[tsify(optional, type = "Secret[]")]
    pub secrets: Option<Vec<SecretRef>>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.sandboxes.list()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxListParams {
    /// Only sandboxes of this app.
    #[tsify(optional)]
    pub app_id: Option<String>,
    /// Only sandboxes with all these tags.
    #[tsify(optional, type = "Record<string, string>")]
    pub tags: Option<Record<String>>,
    /// Environment name.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Aborting rejects the pending `next()` with the signal's reason.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `client.sandboxes.fromName()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxFromNameParams {
    /// Environment name.
    #[tsify(optional)]
    pub environment: Option<String>,
    /// Fall back to the most recent terminated sandbox of that name.
    #[tsify(optional)]
    pub include_terminated: Option<bool>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `sandbox.terminate()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxTerminateParams {
    /// Wait for the sandbox to finish and resolve to its exit code.
    #[tsify(optional)]
    pub wait: Option<bool>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

/// Options of `sandbox.createConnectToken()`.
#[derive(Tsify, Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxCreateConnectTokenParams {
    /// Metadata the proxy adds to forwarded requests.
    #[tsify(optional)]
    pub user_metadata: Option<String>,
    /// Container port requests are routed to (default 8080).
    #[tsify(optional)]
    pub port: Option<u32>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<IgnoredAny>,
}

fn whole_seconds(ms: Option<f64>, what: &str) -> Result<Option<u32>> {
    match ms {
        None => Ok(None),
        Some(ms) if !ms.is_finite() || ms <= 0.0 => {
            Err(Error::invalid(format!("{what} must be positive")))
        }
        Some(ms) if ms % 1000.0 != 0.0 => Err(Error::invalid(format!(
            "{what} must be a multiple of 1000ms"
        ))),
        Some(ms) if ms / 1000.0 > u32::MAX as f64 => {
            Err(Error::invalid(format!("{what} is too large")))
        }
        Some(ms) => Ok(Some((ms / 1000.0) as u32)),
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
pub fn tags_to_proto(tags: &Record<String>) -> Vec<pb::SandboxTag> {
    tags.iter()
        .map(|(k, v)| pb::SandboxTag {
            tag_name: k.clone(),
            tag_value: v.clone(),
        })
        .collect()
}

/// Secret sources: each secret by id, then inline env (as Modal's JS client does).
pub fn secret_sources(
    secrets: &Option<Vec<SecretRef>>,
    env: &Option<Record<String>>,
) -> Result<Vec<pb::SecretSource>> {
    let mut out = Vec::new();
    for (i, s) in secrets.iter().flatten().enumerate() {
        if s.secret_id.is_empty() {
            return Err(Error::invalid(format!(
                "secret at index {i} has not been hydrated"
            )));
        }
        out.push(pb::SecretSource {
            source: Some(pb::secret_source::Source::SecretId(s.secret_id.clone())),
        });
    }
    if let Some(env) = env.as_ref().filter(|e| !e.is_empty()) {
        out.push(pb::SecretSource {
            source: Some(pb::secret_source::Source::Env(pb::StringMap {
                contents: env.clone().into_iter().collect(),
            })),
        });
    }
    Ok(out)
}

/// Checks a sandbox or object name: 1..=64 of `[a-zA-Z0-9-_.]`.
pub fn check_name(name: &str, what: &str) -> Result<()> {
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

/// The `SandboxCreateV2` request for `params`.
pub fn sandbox_create_request(
    app_id: &str,
    image_id: &str,
    p: &SandboxCreateParams,
) -> Result<pb::SandboxCreateV2Request> {
    let timeout_secs = whole_seconds(p.timeout_ms, "timeoutMs")?.unwrap_or(300);
    let idle_timeout_secs = whole_seconds(p.idle_timeout_ms, "idleTimeoutMs")?;
    check_workdir(&p.workdir)?;
    if let Some(name) = &p.name {
        check_name(name, "Sandbox")?;
    }
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
    let mut ports = Vec::new();
    for &port in p.encrypted_ports.iter().flatten() {
        ports.push(pb::PortSpec {
            port,
            unencrypted: false,
            tunnel_type: None,
        });
    }
    for &port in p.h2_ports.iter().flatten() {
        ports.push(pb::PortSpec {
            port,
            unencrypted: false,
            tunnel_type: Some(pb::TunnelType::H2 as i32),
        });
    }
    for &port in p.unencrypted_ports.iter().flatten() {
        ports.push(pb::PortSpec {
            port,
            unencrypted: true,
            tunnel_type: None,
        });
    }
    let block = p.block_network.unwrap_or(false);
    let network_access = pb::NetworkAccess {
        network_access_type: if block {
            pb::network_access::NetworkAccessType::Blocked
        } else {
            pb::network_access::NetworkAccessType::Open
        } as i32,
        ..Default::default()
    };
    let readiness_probe = match &p.readiness_probe {
        None => None,
        Some(probe) => Some(probe_to_proto(probe)?),
    };
    let volume_mounts = p
        .volumes
        .iter()
        .flatten()
        .map(|(path, v)| {
            if !path.starts_with('/') {
                return Err(Error::invalid(format!(
                    "volume mount path must be absolute, got: {path}"
                )));
            }
            Ok(pb::VolumeMount {
                volume_id: v.volume_id.clone(),
                mount_path: path.clone(),
                allow_background_commits: true,
                read_only: v.read_only.unwrap_or(false),
                sub_path: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let definition = pb::Sandbox {
        entrypoint_args: p.command.clone().unwrap_or_default(),
        image_id: image_id.to_string(),
        timeout_secs,
        idle_timeout_secs,
        workdir: p.workdir.clone(),
        block_network: block,
        network_access: Some(network_access),
        resources: Some(resources),
        volume_mounts,
        open_ports_oneof: Some(pb::sandbox::OpenPortsOneof::OpenPorts(pb::PortSpecs {
            ports,
        })),
        verbose: p.verbose.unwrap_or(false),
        readiness_probe,
        name: p.name.clone(),
        ..Default::default()
    };
    Ok(pb::SandboxCreateV2Request {
        app_id: app_id.to_string(),
        definition: Some(definition),
        tags: p.tags.as_ref().map(tags_to_proto).unwrap_or_default(),
        secret_sources: secret_sources(&p.secrets, &p.env)?,
        ..Default::default()
    })
}

/// The protocol's readiness probe for a `Probe` handle.
pub fn probe_to_proto(p: &ProbeRef) -> Result<pb::Probe> {
    let probe_oneof = match (&p.tcp_port, &p.exec_argv) {
        (Some(port), None) => pb::probe::ProbeOneof::TcpPort(*port),
        (None, Some(argv)) if !argv.is_empty() => {
            pb::probe::ProbeOneof::ExecCommand(pb::probe::ExecCommand { argv: argv.clone() })
        }
        _ => {
            return Err(Error::invalid(
                "readinessProbe must be made by Probe.withTcp() or Probe.withExec()",
            ))
        }
    };
    Ok(pb::Probe {
        interval_ms: p.interval_ms,
        probe_oneof: Some(probe_oneof),
    })
}

/// The `TaskExecStart` request for `command` and `params`.
pub fn exec_start_request(
    task_id: &str,
    exec_id: &str,
    command: Vec<String>,
    p: &SandboxExecParams,
) -> Result<tcr::TaskExecStartRequest> {
    if command.is_empty() {
        return Err(Error::invalid("command must not be empty"));
    }
    check_workdir(&p.workdir)?;
    let timeout_secs = whole_seconds(p.timeout_ms, "timeoutMs")?;
    let stdout_config = match p.stdout.unwrap_or_default() {
        StdioBehavior::Pipe => tcr::TaskExecStdoutConfig::Pipe,
        StdioBehavior::Ignore => tcr::TaskExecStdoutConfig::Devnull,
    };
    let stderr_config = match p.stderr.unwrap_or_default() {
        StdioBehavior::Pipe => tcr::TaskExecStderrConfig::Pipe,
        StdioBehavior::Ignore => tcr::TaskExecStderrConfig::Devnull,
    };
    Ok(tcr::TaskExecStartRequest {
        task_id: task_id.to_string(),
        exec_id: exec_id.to_string(),
        command_args: command,
        stdout_config: stdout_config as i32,
        stderr_config: stderr_config as i32,
        timeout_secs,
        workdir: p.workdir.clone(),
        secret_sources: secret_sources(&p.secrets, &p.env)?,
        ..Default::default()
    })
}

// ---- reading the options objects from JS (no serde at run time; see js::convert) ----------
// Field names as the TypeScript interfaces above (camelCase); `signal` is read separately.

impl FromJs for ModalClientParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(ModalClientParams {
            endpoint: f.string("endpoint")?.unwrap_or_default(),
            token_id: f.string("tokenId")?.unwrap_or_default(),
            token_secret: f.string("tokenSecret")?.unwrap_or_default(),
            token: f.string("token")?,
            get_token: None,
            environment: f.string("environment")?,
        })
    }
}

impl FromJs for CallOptions {
    fn from_js(_: &Fields) -> Result<Self> {
        Ok(CallOptions::default())
    }
}

impl FromJs for AppFromNameParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(AppFromNameParams {
            environment: f.string("environment")?,
            create_if_missing: f.bool("createIfMissing")?,
            signal: None,
        })
    }
}

impl FromJs for SecretFromNameParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SecretFromNameParams {
            environment: f.string("environment")?,
            required_keys: f.strings("requiredKeys")?,
            signal: None,
        })
    }
}

impl FromJs for SecretFromObjectParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SecretFromObjectParams {
            environment: f.string("environment")?,
            signal: None,
        })
    }
}

impl FromJs for VolumeFromNameParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(VolumeFromNameParams {
            environment: f.string("environment")?,
            create_if_missing: f.bool("createIfMissing")?,
            signal: None,
        })
    }
}

impl FromJs for SecretRef {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SecretRef {
            secret_id: f
                .string("secretId")?
                .ok_or_else(|| Error::invalid("secrets must be Secret objects"))?,
        })
    }
}

impl FromJs for VolumeRef {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(VolumeRef {
            volume_id: f
                .string("volumeId")?
                .ok_or_else(|| Error::invalid("volumes must map paths to Volume objects"))?,
            read_only: f.bool("readOnly")?,
        })
    }
}

impl FromJs for ProbeRef {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(ProbeRef {
            tcp_port: f.u32("tcpPort")?,
            exec_argv: f.strings("execArgv")?,
            interval_ms: f.u32("intervalMs")?,
        })
    }
}

impl FromJs for crate::api::ProbeParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(crate::api::ProbeParams {
            interval_ms: f.u32("intervalMs")?,
        })
    }
}

impl FromJs for SandboxCreateParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SandboxCreateParams {
            command: f.strings("command")?,
            cpu: f.f64("cpu")?,
            cpu_limit: f.f64("cpuLimit")?,
            memory_mib: f.u32("memoryMiB")?,
            memory_limit_mib: f.u32("memoryLimitMiB")?,
            timeout_ms: f.f64("timeoutMs")?,
            idle_timeout_ms: f.f64("idleTimeoutMs")?,
            workdir: f.string("workdir")?,
            env: f.record("env")?,
            secrets: f.objects("secrets")?,
            volumes: f.object_record("volumes")?,
            encrypted_ports: f.u32s("encryptedPorts")?,
            h2_ports: f.u32s("h2Ports")?,
            unencrypted_ports: f.u32s("unencryptedPorts")?,
            block_network: f.bool("blockNetwork")?,
            name: f.string("name")?,
            tags: f.record("tags")?,
            readiness_probe: f.object("readinessProbe")?,
            verbose: f.bool("verbose")?,
            signal: None,
        })
    }
}

impl FromJs for SandboxExecParams {
    fn from_js(f: &Fields) -> Result<Self> {
        const STDIO: [StdioBehavior; 2] = [StdioBehavior::Pipe, StdioBehavior::Ignore];
        let stdio = |k| -> Result<Option<StdioBehavior>> {
            Ok(f.one_of(k, &["pipe", "ignore"], "\"pipe\" or \"ignore\"")?
                .map(|i| STDIO[i]))
        };
        Ok(SandboxExecParams {
            mode: f
                .one_of("mode", &["text", "binary"], "\"text\" or \"binary\"")?
                .map(|i| [StreamMode::Text, StreamMode::Binary][i]),
            stdout: stdio("stdout")?,
            stderr: stdio("stderr")?,
            workdir: f.string("workdir")?,
            timeout_ms: f.f64("timeoutMs")?,
            env: f.record("env")?,
            secrets: f.objects("secrets")?,
            signal: None,
        })
    }
}

impl FromJs for SandboxListParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SandboxListParams {
            app_id: f.string("appId")?,
            tags: f.record("tags")?,
            environment: f.string("environment")?,
            signal: None,
        })
    }
}

impl FromJs for SandboxFromNameParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SandboxFromNameParams {
            environment: f.string("environment")?,
            include_terminated: f.bool("includeTerminated")?,
            signal: None,
        })
    }
}

impl FromJs for SandboxTerminateParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SandboxTerminateParams {
            wait: f.bool("wait")?,
            signal: None,
        })
    }
}

impl FromJs for SandboxCreateConnectTokenParams {
    fn from_js(f: &Fields) -> Result<Self> {
        Ok(SandboxCreateConnectTokenParams {
            user_metadata: f.string("userMetadata")?,
            port: f.u32("port")?,
            signal: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            command: Some(vec!["sleep".into(), "10".into()]),
            cpu: Some(0.5),
            memory_mib: Some(256),
            timeout_ms: Some(60_000.0),
            idle_timeout_ms: Some(5_000.0),
            workdir: Some("/tmp".into()),
            env: Some([("A".to_string(), "1".to_string())].into()),
            secrets: Some(vec![SecretRef {
                secret_id: "st-1".into(),
            }]),
            encrypted_ports: Some(vec![8080]),
            block_network: Some(true),
            name: Some("my-sb".into()),
            tags: Some(vec![("k".to_string(), "v".to_string())]),
            readiness_probe: Some(ProbeRef {
                tcp_port: Some(80),
                ..Default::default()
            }),
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
        assert!(d.readiness_probe.is_some());
    }

    #[test]
    fn create_request_rejects_bad_input() {
        for p in [
            SandboxCreateParams {
                timeout_ms: Some(1500.0),
                ..Default::default()
            },
            SandboxCreateParams {
                timeout_ms: Some(-1000.0),
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
                readiness_probe: Some(ProbeRef::default()),
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
            stderr: Some(StdioBehavior::Ignore),
            timeout_ms: Some(2000.0),
            ..Default::default()
        };
        let r = exec_start_request("ta", "ex", vec!["echo".into()], &p).unwrap();
        assert_eq!(r.stdout_config, tcr::TaskExecStdoutConfig::Pipe as i32);
        assert_eq!(r.stderr_config, tcr::TaskExecStderrConfig::Devnull as i32);
        assert_eq!(r.timeout_secs, Some(2));
        assert!(exec_start_request("t", "e", vec![], &p).is_err());
    }
}
