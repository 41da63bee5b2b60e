//! The JS API's option objects: their TypeScript declarations (tsify derives them from the
//! structs here; the structs are never built, only declared) and the reading of each into
//! the Rust API's options ([`JsOptions`]). The names check at the bottom fails when a
//! reader reads a key its declaration lacks, or misses one it declares.
#![allow(dead_code)] // the structs' fields exist for their TypeScript declarations

use serde::de::IgnoredAny;
use serde::Deserialize;
use tsify::Tsify;
use wasm_bindgen::JsValue;

use super::convert::{prop_string, Fields, JsOptions, Record};
use crate::error::Result;
use crate::objects::{Probe, ProbeCheck, Secret, Volume};
use crate::options as rust;

// ---- the SDK objects options refer to, read through their getters --------------------

/// A `Secret` of this package.
pub(crate) fn secret_of(v: &JsValue) -> Option<Secret> {
    Some(Secret {
        secret_id: prop_string(v, "secretId")?,
        name: None,
    })
}

/// A `Volume` of this package.
pub(crate) fn volume_of(v: &JsValue) -> Option<Volume> {
    let read_only = js_sys::Reflect::get(v, &JsValue::from_str("readOnly"))
        .ok()?
        .as_bool()
        .unwrap_or(false);
    Some(Volume {
        volume_id: prop_string(v, "volumeId")?,
        name: None,
        read_only,
        sub_path: prop_string(v, "subPath"),
        heartbeat_stop: None,
    })
}

/// A `Probe` of this package (`Probe.withTcp()` / `Probe.withExec()`).
fn probe_of(v: &JsValue) -> Option<Probe> {
    let get = |k: &str| js_sys::Reflect::get(v, &JsValue::from_str(k)).ok();
    let port = get("tcpPort")?.as_f64();
    let argv = super::convert::elements(&get("execArgv")?, "readinessProbe.execArgv").ok()?;
    let check = match (port, argv) {
        (Some(p), None) if p.fract() == 0.0 && (1.0..=65535.0).contains(&p) => {
            ProbeCheck::Tcp(p as u16)
        }
        (None, Some(argv)) if !argv.is_empty() => {
            let mut strings = Vec::with_capacity(argv.len());
            for a in &argv {
                strings.push(a.as_string()?);
            }
            ProbeCheck::Exec(strings)
        }
        _ => return None,
    };
    let interval = get("intervalMs")?
        .as_f64()
        .and_then(crate::duration::from_ms);
    Some(Probe { check, interval })
}

// ---- declarations and readers ----------------------------------------------------------

/// Options of `new ModalClient(...)`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ModalClientParams {
    /// Server URL, e.g. `"http://127.0.0.1:8080"` (a sandboxd, or a gateway to Modal).
    endpoint: String,
    /// Workspace token id (`ak-...`), sent as `x-modal-token-id`. Only for a local
    /// sandboxd or a trusted server: never ship a workspace secret to a browser.
    #[tsify(optional)]
    token_id: String,
    /// Workspace token secret (`as-...`), sent as `x-modal-token-secret`.
    #[tsify(optional)]
    token_secret: String,
    /// A scoped, expiring token minted by your backend (see `mintToken`), sent as
    /// `authorization: Bearer`; for a gateway or a sandboxd with a signing key.
    #[tsify(optional)]
    token: String,
    /// Called for a fresh scoped token before the current one expires, and once after
    /// the server answers UNAUTHENTICATED (like CodeSandbox's `getSession`).
    #[tsify(optional, type = "() => string | Promise<string>")]
    get_token: IgnoredAny,
    /// Default environment name for lookups.
    #[tsify(optional)]
    environment: String,
    /// Deadline of each attempt of a unary call, in milliseconds (default: none); an
    /// attempt past it is retried, then the call fails with `TimeoutError`.
    #[tsify(optional)]
    timeout_ms: f64,
    /// Retries of a unary call on transient errors (default 8).
    #[tsify(optional)]
    max_retries: u32,
}

/// The client options as read from JS.
#[derive(Default)]
pub(crate) struct ClientParams {
    pub(crate) endpoint: String,
    pub(crate) token_id: String,
    pub(crate) token_secret: String,
    pub(crate) token: Option<String>,
    pub(crate) get_token: Option<js_sys::Function>,
    pub(crate) environment: Option<String>,
    pub(crate) limits: crate::rpc::CallLimits,
}

impl ClientParams {
    /// What the options leave unset, from `MODAL_SERVER_URL`, `MODAL_TOKEN_ID`,
    /// `MODAL_TOKEN_SECRET`, `MODAL_ENVIRONMENT` (in that order; `env` is `None` where there
    /// is no process environment: browsers, workers), as Modal's JS client reads them. The
    /// tokens only when no credentials are given.
    pub(crate) fn with_env(mut self, env: Option<Vec<String>>) -> ClientParams {
        let Some(mut env) = env.filter(|e| e.len() == 4) else {
            return self;
        };
        let mut take = |i: usize| Some(std::mem::take(&mut env[i])).filter(|v| !v.is_empty());
        if self.endpoint.is_empty() {
            self.endpoint = take(0).unwrap_or_default();
        }
        let no_credentials = self.token_id.is_empty()
            && self.token_secret.is_empty()
            && self.token.is_none()
            && self.get_token.is_none();
        if no_credentials {
            self.token_id = take(1).unwrap_or_default();
            self.token_secret = take(2).unwrap_or_default();
        }
        if self.environment.is_none() {
            self.environment = take(3);
        }
        self
    }
}

impl JsOptions for ModalClientParams {
    type Value = ClientParams;
    fn read(f: &Fields) -> Result<ClientParams> {
        Ok(ClientParams {
            endpoint: f.string("endpoint")?.unwrap_or_default(),
            token_id: f.string("tokenId")?.unwrap_or_default(),
            token_secret: f.string("tokenSecret")?.unwrap_or_default(),
            token: f.string("token")?,
            get_token: f.function("getToken")?,
            environment: f.string("environment")?,
            limits: crate::rpc::CallLimits {
                timeout_ms: f.u32("timeoutMs")?,
                max_retries: f.u32("maxRetries")?,
            },
        })
    }
}

/// Options accepted by every async call.
#[derive(Tsify, Deserialize, Default)]
pub struct CallOptions {
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for CallOptions {
    type Value = ();
    fn read(_: &Fields) -> Result<()> {
        Ok(())
    }
}

/// Options of `client.apps.fromName()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AppFromNameParams {
    /// Environment to look the app up in.
    #[tsify(optional)]
    environment: String,
    /// Create the app if it does not exist.
    #[tsify(optional)]
    create_if_missing: bool,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for AppFromNameParams {
    type Value = rust::AppFromNameParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::AppFromNameParams {
            environment: f.string("environment")?,
            create_if_missing: f.bool("createIfMissing")?.unwrap_or(false),
        })
    }
}

/// Options of `client.secrets.fromName()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretFromNameParams {
    /// Environment to look the secret up in.
    #[tsify(optional)]
    environment: String,
    /// Keys the secret must contain.
    #[tsify(optional)]
    required_keys: Vec<String>,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SecretFromNameParams {
    type Value = rust::SecretFromNameParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::SecretFromNameParams {
            environment: f.string("environment")?,
            required_keys: f.strings("requiredKeys")?.unwrap_or_default(),
        })
    }
}

/// Options of `client.secrets.fromObject()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretFromObjectParams {
    /// Environment to create the secret in.
    #[tsify(optional)]
    environment: String,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SecretFromObjectParams {
    type Value = rust::SecretFromObjectParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::SecretFromObjectParams {
            environment: f.string("environment")?,
        })
    }
}

/// Options of `client.secrets.delete()` and `client.volumes.delete()` (`SecretDeleteParams`
/// and `VolumeDeleteParams` are its names as Modal JS's).
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    /// Environment to look the object up in.
    #[tsify(optional)]
    environment: String,
    /// Succeed when there is no such object (else `NotFoundError`).
    #[tsify(optional)]
    allow_missing: bool,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for DeleteParams {
    type Value = rust::DeleteParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::DeleteParams {
            environment: f.string("environment")?,
            allow_missing: f.bool("allowMissing")?.unwrap_or(false),
        })
    }
}

/// Options of `volume.withMountOptions()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMountOptionsParams {
    /// Mount read-only (unset: as before).
    #[tsify(optional)]
    read_only: bool,
    /// Mount only this directory of the volume; `"/"` is all of it (unset: as before).
    #[tsify(optional)]
    sub_path: String,
}

impl JsOptions for VolumeMountOptionsParams {
    type Value = (Option<bool>, Option<String>);
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok((f.bool("readOnly")?, f.string("subPath")?))
    }
}

/// Options of `client.volumes.fromName()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFromNameParams {
    /// Environment to look the volume up in.
    #[tsify(optional)]
    environment: String,
    /// Create the volume if it does not exist.
    #[tsify(optional)]
    create_if_missing: bool,
    /// VolumeFS version (default: either).
    #[tsify(optional, type = "1 | 2")]
    version: IgnoredAny,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for VolumeFromNameParams {
    type Value = rust::VolumeFromNameParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::VolumeFromNameParams {
            environment: f.string("environment")?,
            create_if_missing: f.bool("createIfMissing")?.unwrap_or(false),
            version: f.u32("version")?,
        })
    }
}

/// Options of `Probe.withTcp()` / `Probe.withExec()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProbeParams {
    /// Interval between probes, in milliseconds.
    #[tsify(optional)]
    interval_ms: u32,
}

impl JsOptions for ProbeParams {
    type Value = Option<std::time::Duration>;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(f.u32("intervalMs")?
            .map(|ms| std::time::Duration::from_millis(ms.into())))
    }
}

/// Options of `client.sandboxes.create()`, as in Modal's JS client.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCreateParams {
    /// Program and arguments of the main process; by default it sleeps until timeout.
    #[tsify(optional)]
    command: Vec<String>,
    /// CPU cores reserved (fractional allowed).
    #[tsify(optional)]
    cpu: f64,
    /// Hard CPU limit in cores.
    #[tsify(optional)]
    cpu_limit: f64,
    /// Memory reserved, in MiB.
    #[serde(rename = "memoryMiB")]
    #[tsify(optional)]
    memory_mib: u32,
    /// Memory hard limit, in MiB.
    #[serde(rename = "memoryLimitMiB")]
    #[tsify(optional)]
    memory_limit_mib: u32,
    /// Maximum lifetime in milliseconds (a multiple of 1000). Defaults to 5 minutes.
    #[tsify(optional)]
    timeout_ms: f64,
    /// Idle time in milliseconds after which the sandbox is terminated.
    #[tsify(optional)]
    idle_timeout_ms: f64,
    /// Working directory (absolute).
    #[tsify(optional)]
    workdir: String,
    /// Environment variables.
    #[tsify(optional, type = "Record<string, string>")]
    env: IgnoredAny,
    /// Secrets injected as environment variables.
    #[tsify(optional, type = "Secret[]")]
    secrets: IgnoredAny,
    /// Volumes by mount path.
    #[tsify(optional, type = "Record<string, Volume>")]
    volumes: IgnoredAny,
    /// Ports tunneled with TLS.
    #[tsify(optional)]
    encrypted_ports: Vec<u32>,
    /// Ports tunneled with TLS over HTTP/2.
    #[tsify(optional)]
    h2_ports: Vec<u32>,
    /// Ports tunneled without encryption.
    #[tsify(optional)]
    unencrypted_ports: Vec<u32>,
    /// Block all network access.
    #[tsify(optional)]
    block_network: bool,
    /// Name, unique within the app.
    #[tsify(optional)]
    name: String,
    /// Tags, filterable by `client.sandboxes.list({ tags })`.
    #[tsify(optional, type = "Record<string, string>")]
    tags: IgnoredAny,
    /// Readiness probe, see `Probe.withTcp` / `Probe.withExec`.
    #[tsify(optional, type = "Probe")]
    readiness_probe: IgnoredAny,
    /// Verbose logging.
    #[tsify(optional)]
    verbose: bool,
    /// Run the main process on a pseudo-terminal (`true`: 24 x 80, `xterm-256color`).
    #[tsify(optional, type = "boolean | PtyOptions")]
    pty: IgnoredAny,
    /// GPU reservation, e.g. `"A100"`, `"T4:2"`, `"A100-80GB:4"`.
    #[tsify(optional)]
    gpu: String,
    /// Runtime under which the sandbox runs (default: the server's choice).
    #[tsify(optional, type = "\"gvisor\" | \"vm\"")]
    runtime: IgnoredAny,
    /// CIDRs the sandbox may reach (default: all). Not with `blockNetwork`.
    #[tsify(optional)]
    outbound_cidr_allowlist: Vec<String>,
    /// Domains the sandbox may reach, `*.example.com` allowed (default: all). Not with
    /// `blockNetwork`.
    #[tsify(optional)]
    outbound_domain_allowlist: Vec<String>,
    /// CIDRs allowed to connect in, through tunnels and connect tokens (default: all).
    #[tsify(optional)]
    inbound_cidr_allowlist: Vec<String>,
    /// Private IPv6 networking between the workspace's sandboxes. Not with `blockNetwork`.
    #[tsify(optional)]
    i6pn: bool,
    /// Cloud provider to run on.
    #[tsify(optional)]
    cloud: String,
    /// Regions to run in.
    #[tsify(optional)]
    regions: Vec<String>,
    /// Experimental options, each a boolean or a string.
    #[tsify(optional, type = "Record<string, boolean | string>")]
    experimental_options: IgnoredAny,
    /// Parent domain of the sandbox's connection subdomains (set up by Modal, Enterprise).
    #[tsify(optional)]
    custom_domain: String,
    /// Give the sandbox a `MODAL_IDENTITY_TOKEN` environment variable (OIDC).
    #[tsify(optional)]
    include_oidc_identity_token: bool,
    /// Allow memory snapshots of the sandbox.
    #[tsify(optional)]
    experimental_enable_snapshot: bool,
    /// Not supported (this package has no `CloudBucketMount`): refused with `InvalidError`.
    #[tsify(optional, type = "never")]
    cloud_bucket_mounts: IgnoredAny,
    /// Not supported (this package has no `Proxy`): refused with `InvalidError`.
    #[tsify(optional, type = "never")]
    proxy: IgnoredAny,
    /// Not supported (this package has no `ExperimentalOutboundPolicy`): refused with
    /// `InvalidError`.
    #[tsify(optional, type = "never")]
    experimental_outbound_policy: IgnoredAny,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

fn secrets(f: &Fields) -> Result<Vec<Secret>> {
    Ok(f.handles("secrets", "an array of Secret", secret_of)?
        .unwrap_or_default())
}

fn record(f: &Fields, key: &str) -> Result<Record<String>> {
    Ok(f.record(key)?.unwrap_or_default())
}

impl JsOptions for SandboxCreateParams {
    type Value = rust::SandboxCreateParams;
    #[allow(clippy::field_reassign_with_default)] // the point: see below
    fn read(f: &Fields) -> Result<Self::Value> {
        refused_create_options(f)?;
        // field by field into one value: a struct literal with a `?` per field made a
        // cleanup path per field for all the fields before it (11.7 -> 8.8 KB of wasm)
        let mut p = rust::SandboxCreateParams::default();
        p.command = f.strings("command")?.unwrap_or_default();
        p.cpu = f.f64("cpu")?;
        p.cpu_limit = f.f64("cpuLimit")?;
        p.memory_mib = f.u32("memoryMiB")?;
        p.memory_limit_mib = f.u32("memoryLimitMiB")?;
        p.timeout = f.duration("timeoutMs")?;
        p.idle_timeout = f.duration("idleTimeoutMs")?;
        p.workdir = f.string("workdir")?;
        p.env = record(f, "env")?;
        p.secrets = secrets(f)?;
        p.volumes = f
            .handle_record("volumes", "an object of Volume values", volume_of)?
            .unwrap_or_default();
        p.encrypted_ports = f.u32s("encryptedPorts")?.unwrap_or_default();
        p.h2_ports = f.u32s("h2Ports")?.unwrap_or_default();
        p.unencrypted_ports = f.u32s("unencryptedPorts")?.unwrap_or_default();
        p.block_network = f.bool("blockNetwork")?.unwrap_or(false);
        p.name = f.string("name")?;
        p.tags = record(f, "tags")?;
        p.readiness_probe = f.handle(
            "readinessProbe",
            "a Probe (from Probe.withTcp() or Probe.withExec())",
            probe_of,
        )?;
        p.verbose = f.bool("verbose")?.unwrap_or(false);
        p.pty = f.nested::<PtyOptions>("pty")?;
        p.gpu = f.string("gpu")?;
        p.runtime = f.string("runtime")?;
        p.outbound_cidr_allowlist = f.strings("outboundCidrAllowlist")?;
        p.outbound_domain_allowlist = f.strings("outboundDomainAllowlist")?;
        p.inbound_cidr_allowlist = f.strings("inboundCidrAllowlist")?;
        p.i6pn = f.bool("i6pn")?.unwrap_or(false);
        p.cloud = f.string("cloud")?;
        p.regions = f.strings("regions")?.unwrap_or_default();
        p.experimental_options = f
            .handle_record(
                "experimentalOptions",
                "an object of boolean or string values",
                |v| {
                    v.as_string()
                        .or_else(|| v.as_bool().map(|b| if b { "true" } else { "false" }.into()))
                },
            )?
            .unwrap_or_default();
        p.custom_domain = f.string("customDomain")?;
        p.include_oidc_identity_token = f.bool("includeOidcIdentityToken")?.unwrap_or(false);
        p.experimental_enable_snapshot = f.bool("experimentalEnableSnapshot")?.unwrap_or(false);
        Ok(p)
    }
}

/// The create options of Modal's JS client whose objects this package does not have.
fn refused_create_options(f: &Fields) -> Result<()> {
    f.refused("cloudBucketMounts", "there are no cloud bucket mounts")?;
    f.refused("proxy", "there are no proxies")?;
    f.refused(
        "experimentalOutboundPolicy",
        "there are no outbound policies (outboundCidrAllowlist and outboundDomainAllowlist are)",
    )
}

/// A pseudo-terminal, the `pty` of `exec()` and `sandboxes.create()`.
#[derive(Tsify, Deserialize, Default)]
pub struct PtyOptions {
    /// Rows of the window, 1 to 10000 (default 24).
    #[tsify(optional)]
    rows: u32,
    /// Columns of the window, 1 to 10000 (default 80).
    #[tsify(optional)]
    cols: u32,
    /// `TERM` in the program's environment (default `"xterm-256color"`).
    #[tsify(optional)]
    term: String,
}

impl JsOptions for PtyOptions {
    type Value = rust::PtyParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::PtyParams {
            rows: f.u32("rows")?,
            cols: f.u32("cols")?,
            term: f.string("term")?,
        })
    }
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
#[derive(Tsify, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StdioBehavior {
    /// Readable through the process's stream.
    Pipe,
    /// Discarded; the stream is empty.
    Ignore,
}

/// Options of `sandbox.exec()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxExecParams {
    /// `"text"` (default) or `"binary"` chunks on stdout/stderr/stdin.
    #[tsify(optional, type = "StreamMode")]
    mode: IgnoredAny,
    /// Pipe or ignore stdout.
    #[tsify(optional, type = "StdioBehavior")]
    stdout: IgnoredAny,
    /// Pipe or ignore stderr.
    #[tsify(optional, type = "StdioBehavior")]
    stderr: IgnoredAny,
    /// Working directory (absolute).
    #[tsify(optional)]
    workdir: String,
    /// Timeout in milliseconds (a multiple of 1000).
    #[tsify(optional)]
    timeout_ms: f64,
    /// Environment variables.
    #[tsify(optional, type = "Record<string, string>")]
    env: IgnoredAny,
    /// Secrets injected as environment variables.
    #[tsify(optional, type = "Secret[]")]
    secrets: IgnoredAny,
    /// Run on a pseudo-terminal: stdout carries all output (`Uint8Array` chunks unless
    /// `mode: "text"`), stdin is the terminal's input (`"\x03"` is Ctrl-C), `resize()`
    /// changes its size. `true`: 24 x 80, `TERM=xterm-256color`.
    #[tsify(optional, type = "boolean | PtyOptions")]
    pty: IgnoredAny,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxExecParams {
    type Value = (rust::SandboxExecParams, StreamMode);
    fn read(f: &Fields) -> Result<Self::Value> {
        use rust::StdioBehavior::{Ignore, Pipe};
        let stdio = |k| -> Result<rust::StdioBehavior> {
            Ok(f.one_of(k, &["pipe", "ignore"], "'pipe' or 'ignore'")?
                .map_or(Pipe, |i| [Pipe, Ignore][i]))
        };
        let mode = f.one_of("mode", &["text", "binary"], "'text' or 'binary'")?;
        let params = rust::SandboxExecParams {
            stdout: stdio("stdout")?,
            stderr: stdio("stderr")?,
            workdir: f.string("workdir")?,
            timeout: f.duration("timeoutMs")?,
            env: record(f, "env")?,
            secrets: secrets(f)?,
            pty: f.nested::<PtyOptions>("pty")?,
        };
        let mode = stream_mode(mode, params.pty.is_some());
        Ok((params, mode))
    }
}

/// The chunks asked for; by default text, but bytes from a terminal (whose programs
/// write bytes, colours and all, and which xterm.js takes as they come).
fn stream_mode(asked: Option<usize>, pty: bool) -> StreamMode {
    let modes = [StreamMode::Text, StreamMode::Binary];
    modes[asked.unwrap_or(pty as usize)]
}

/// Options of `sandbox.attach()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxAttachParams {
    /// The command runs on a terminal (so `resize()` works; chunks default to binary).
    #[tsify(optional)]
    pty: bool,
    /// `"text"` or `"binary"` chunks, as for `exec()`.
    #[tsify(optional, type = "StreamMode")]
    mode: IgnoredAny,
    /// Read stdout from this byte on (default 0: all of it again), e.g. the count of
    /// bytes already shown.
    #[tsify(optional)]
    stdout_offset: f64,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxAttachParams {
    /// (pty, chunks, stdout offset)
    type Value = (bool, StreamMode, u64);
    fn read(f: &Fields) -> Result<Self::Value> {
        let pty = f.bool("pty")?.unwrap_or(false);
        let mode = f.one_of("mode", &["text", "binary"], "'text' or 'binary'")?;
        let from = f.handle("stdoutOffset", "a byte offset", |v| {
            let n = v.as_f64()?;
            (n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n)).then_some(n as u64)
        })?;
        Ok((pty, stream_mode(mode, pty), from.unwrap_or(0)))
    }
}

/// Options of `client.sandboxes.list()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxListParams {
    /// Only sandboxes of this app.
    #[tsify(optional)]
    app_id: String,
    /// Only sandboxes with all these tags.
    #[tsify(optional, type = "Record<string, string>")]
    tags: IgnoredAny,
    /// Environment name.
    #[tsify(optional)]
    environment: String,
    /// Aborting rejects the pending `next()` with the signal's reason.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxListParams {
    type Value = rust::SandboxListParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::SandboxListParams {
            app_id: f.string("appId")?,
            tags: record(f, "tags")?,
            environment: f.string("environment")?,
        })
    }
}

/// Options of `client.sandboxes.fromName()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxFromNameParams {
    /// Environment name.
    #[tsify(optional)]
    environment: String,
    /// Fall back to the most recent terminated sandbox of that name.
    #[tsify(optional)]
    include_terminated: bool,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxFromNameParams {
    type Value = rust::SandboxFromNameParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::SandboxFromNameParams {
            environment: f.string("environment")?,
            include_terminated: f.bool("includeTerminated")?.unwrap_or(false),
        })
    }
}

/// Options of `sandbox.terminate()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxTerminateParams {
    /// Wait for the sandbox to finish and resolve to its exit code.
    #[tsify(optional)]
    wait: bool,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxTerminateParams {
    /// Whether to wait.
    type Value = bool;
    fn read(f: &Fields) -> Result<bool> {
        Ok(f.bool("wait")?.unwrap_or(false))
    }
}

/// Options of `sandbox.createConnectToken()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxCreateConnectTokenParams {
    /// Metadata the proxy adds to forwarded requests.
    #[tsify(optional)]
    user_metadata: String,
    /// Container port requests are routed to (default 8080).
    #[tsify(optional)]
    port: u32,
    /// Aborting rejects the call with the signal's reason and cancels the request.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxCreateConnectTokenParams {
    type Value = rust::SandboxCreateConnectTokenParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::SandboxCreateConnectTokenParams {
            user_metadata: f.string("userMetadata")?,
            port: f.u32("port")?,
        })
    }
}

/// Options of filesystem calls.
#[derive(Tsify, Deserialize, Default)]
pub struct FilesystemCallOptions {
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for FilesystemCallOptions {
    type Value = ();
    fn read(_: &Fields) -> Result<()> {
        Ok(())
    }
}

/// Options of uploads and downloads.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemTransferOptions {
    /// Called as bytes go over the wire (after each chunk of up to 1 MiB).
    #[tsify(optional, type = "(progress: TransferProgress) => void")]
    on_progress: IgnoredAny,
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for FilesystemTransferOptions {
    /// The `onProgress` callback.
    type Value = Option<js_sys::Function>;
    fn read(f: &Fields) -> Result<Self::Value> {
        f.function("onProgress")
    }
}

/// Options of `filesystem.makeDirectory()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemMakeDirectoryOptions {
    /// Create missing parents; succeed if it exists (default `true`).
    #[tsify(optional)]
    create_parents: bool,
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for FilesystemMakeDirectoryOptions {
    /// Whether to create parents.
    type Value = Option<bool>;
    fn read(f: &Fields) -> Result<Self::Value> {
        f.bool("createParents")
    }
}

/// Options of `filesystem.remove()` / `sandbox.rm()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FilesystemRemoveOptions {
    /// Remove a directory and its contents (default `false`: only empty directories).
    #[tsify(optional)]
    recursive: bool,
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for FilesystemRemoveOptions {
    /// Whether to remove recursively.
    type Value = Option<bool>;
    fn read(f: &Fields) -> Result<Self::Value> {
        f.bool("recursive")
    }
}

/// Options of `snapshotFilesystem()` and `snapshotDirectory()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxSnapshotFilesystemParams {
    /// Overall budget in milliseconds (default 55000); then `TimeoutError`.
    #[tsify(optional)]
    timeout_ms: f64,
    /// Lifetime of the image (a multiple of 1000, default 30 days); `null`: no expiry.
    #[tsify(optional, type = "number | null")]
    ttl_ms: IgnoredAny,
    /// Not supported (snapshots are not encrypted with a key of yours): refused with
    /// `InvalidError`.
    #[tsify(optional, type = "never")]
    experimental_encryption_key: IgnoredAny,
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxSnapshotFilesystemParams {
    type Value = rust::SnapshotParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        f.refused(
            "experimentalEncryptionKey",
            "snapshots are not encrypted with a key of yours",
        )?;
        Ok(rust::SnapshotParams {
            timeout: f.duration("timeoutMs")?,
            ttl: match f.nullable_duration("ttlMs")? {
                None => rust::ImageTtl::Default,
                Some(None) => rust::ImageTtl::Never,
                Some(Some(d)) => rust::ImageTtl::After(d),
            },
        })
    }
}

/// Options of `reloadVolumes()`.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SandboxReloadVolumesParams {
    /// Overall budget in milliseconds (default 55000).
    #[tsify(optional)]
    timeout_ms: f64,
    /// Aborting rejects the call with the signal's reason and cancels its requests.
    #[tsify(optional, type = "AbortSignal")]
    signal: IgnoredAny,
}

impl JsOptions for SandboxReloadVolumesParams {
    /// The budget.
    type Value = Option<std::time::Duration>;
    fn read(f: &Fields) -> Result<Self::Value> {
        f.duration("timeoutMs")
    }
}

/// Options of `image.dockerfileCommands()`: they apply to that layer's build only.
#[derive(Tsify, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ImageDockerfileCommandsParams {
    /// Environment variables in the build's `RUN` steps.
    #[tsify(optional, type = "Record<string, string>")]
    env: IgnoredAny,
    /// Secrets whose variables the build's `RUN` steps see.
    #[tsify(optional, type = "Secret[]")]
    secrets: IgnoredAny,
    /// GPU reservation of the build, e.g. `"A100"`, `"T4:2"`.
    #[tsify(optional)]
    gpu: String,
    /// Rebuild this layer even if a cached build exists (`docker build --no-cache`).
    #[tsify(optional)]
    force_build: bool,
}

impl JsOptions for ImageDockerfileCommandsParams {
    type Value = rust::ImageDockerfileCommandsParams;
    fn read(f: &Fields) -> Result<Self::Value> {
        Ok(rust::ImageDockerfileCommandsParams {
            env: record(f, "env")?,
            secrets: secrets(f)?,
            gpu: f.string("gpu")?,
            force_build: f.bool("forceBuild")?.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod client_env {
    use super::ClientParams;

    fn env(v: [&str; 4]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_environment_fills_what_the_options_leave_unset() {
        let p = ClientParams::default().with_env(env(["http://h:1", "ak-1", "as-1", "dev"]));
        assert_eq!(
            (
                p.endpoint.as_str(),
                p.token_id.as_str(),
                p.token_secret.as_str()
            ),
            ("http://h:1", "ak-1", "as-1")
        );
        assert_eq!(p.environment.as_deref(), Some("dev"));
        // options win; tokens only without any credentials given
        let p = ClientParams {
            endpoint: "http://mine".into(),
            token: Some("t".into()),
            environment: Some("prod".into()),
            ..Default::default()
        }
        .with_env(env(["http://h:1", "ak-1", "as-1", "dev"]));
        assert_eq!(p.endpoint, "http://mine");
        assert!(p.token_id.is_empty() && p.token_secret.is_empty());
        assert_eq!(p.environment.as_deref(), Some("prod"));
        // empty variables are unset; no environment at all (a browser) changes nothing
        let p = ClientParams::default().with_env(env(["", "", "", ""]));
        assert!(p.endpoint.is_empty() && p.environment.is_none());
        let p = ClientParams::default().with_env(None);
        assert!(p.endpoint.is_empty() && p.token_id.is_empty());
    }
}

#[cfg(test)]
mod names {
    use super::super::convert::known_keys;

    use super::*;

    /// The property names of a TypeScript interface declaration.
    fn declared(decl: &str) -> Vec<String> {
        let mut out: Vec<String> = decl
            .lines()
            .filter_map(|l| {
                let l = l.trim().trim_start_matches("readonly ");
                let name = l.split([':', '?']).next()?;
                let is_prop = !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && l[name.len()..].starts_with(['?', ':']);
                is_prop.then(|| name.to_string())
            })
            .collect();
        out.sort();
        out
    }

    /// The keys `T`'s reader asks for, plus `signal` (read by every call, from any object).
    fn read<T: JsOptions>() -> Vec<String> {
        let mut keys = known_keys::<T>();
        keys.push("signal".to_string());
        keys.sort();
        keys.dedup();
        keys
    }

    fn check<T: JsOptions>(checked: &mut usize) {
        *checked += 1;
        let mut declared = declared(T::DECL);
        if !declared.contains(&"signal".to_string()) {
            declared.push("signal".into());
            declared.sort();
        }
        assert_eq!(read::<T>(), declared, "keys read vs declared:\n{}", T::DECL);
    }

    #[test]
    fn every_option_object_reads_exactly_its_declared_keys() {
        let mut n = 0;
        check::<ModalClientParams>(&mut n);
        check::<CallOptions>(&mut n);
        check::<AppFromNameParams>(&mut n);
        check::<SecretFromNameParams>(&mut n);
        check::<SecretFromObjectParams>(&mut n);
        check::<VolumeFromNameParams>(&mut n);
        check::<DeleteParams>(&mut n);
        check::<VolumeMountOptionsParams>(&mut n);
        check::<ProbeParams>(&mut n);
        check::<SandboxCreateParams>(&mut n);
        check::<SandboxExecParams>(&mut n);
        check::<PtyOptions>(&mut n);
        check::<SandboxAttachParams>(&mut n);
        check::<SandboxListParams>(&mut n);
        check::<SandboxFromNameParams>(&mut n);
        check::<SandboxTerminateParams>(&mut n);
        check::<SandboxCreateConnectTokenParams>(&mut n);
        check::<FilesystemCallOptions>(&mut n);
        check::<FilesystemTransferOptions>(&mut n);
        check::<FilesystemMakeDirectoryOptions>(&mut n);
        check::<FilesystemRemoveOptions>(&mut n);
        check::<SandboxSnapshotFilesystemParams>(&mut n);
        check::<SandboxReloadVolumesParams>(&mut n);
        check::<ImageDockerfileCommandsParams>(&mut n);
        // Every struct declared here with a reader is checked (the enums have none).
        let src = include_str!("options.rs");
        let readers = src.matches("impl JsOptions for ").count() - 1; // this line
        assert_eq!(n, readers, "a JsOptions impl is missing from this list");
    }

    #[test]
    fn the_parser_sees_declared_names() {
        assert_eq!(
            declared(SandboxCreateParams::DECL).len(),
            36,
            "{}",
            SandboxCreateParams::DECL
        );
    }
}
