//! What sandboxd knows: records in the store, running sandboxes in memory, and the
//! operations both protocol services share (create, find, end, result mapping).

use crate::auth::{now_f64, Auth};
use crate::backend::cgroup::Limits;
use crate::backend::rootfs::VolumeBind;
use crate::backend::sandbox::{set_env, Outcome, Readiness, Sandbox, SandboxSpec};
use crate::backend::BackendConfig;
use crate::images::{ImageRecord, Images};
use crate::store::{Record, Store, Table};
use crate::sync::lock;
use modal_proto::client::{generic_result::GenericStatus, GenericResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Status;

pub const DEFAULT_TIMEOUT_SECS: u32 = 300;
/// A hard memory limit for sandboxes that ask for none, so one cannot take the host down.
pub const DEFAULT_MEMORY_MAX_MIB: u64 = 4096;
/// Ended sandboxes whose output stays readable.
const KEEP_ENDED: usize = 32;
/// Sandboxes that may run at once, unless `serve --max-sandboxes` says otherwise.
pub const DEFAULT_MAX_SANDBOXES: usize = 500;
/// Bounds a fork bomb.
pub const MAX_PIDS: u64 = 1024;
/// Why a sandbox that ran when sandboxd stopped (cleanly or not) has ended.
const STOPPED: &str = "sandboxd stopped while this sandbox was running";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResultRecord {
    pub status: i32,
    pub exitcode: i32,
    pub exception: String,
}

impl ResultRecord {
    pub fn to_proto(&self) -> GenericResult {
        GenericResult {
            status: self.status,
            exitcode: self.exitcode,
            exception: self.exception.clone(),
            ..Default::default()
        }
    }

    /// Modal's result for how a sandbox ended; clients derive returncode from it
    /// (124 on TIMEOUT, 137 on TERMINATED, else exitcode).
    pub fn of(outcome: &Outcome, timeout_secs: u32) -> Self {
        let (status, exitcode, exception) = match outcome {
            Outcome::Exited(0) => (GenericStatus::Success, 0, String::new()),
            Outcome::Exited(c) => (GenericStatus::Failure, *c, String::new()),
            Outcome::Terminated => (GenericStatus::Terminated, 137, String::new()),
            Outcome::Timeout => (
                GenericStatus::Timeout,
                124,
                format!("Sandbox timed out after {timeout_secs}s"),
            ),
            Outcome::IdleTimeout => (GenericStatus::IdleTimeout, 0, "Sandbox idle timeout".into()),
            Outcome::ServerStopped => (GenericStatus::Terminated, 137, STOPPED.into()),
            Outcome::Failed(why) => (GenericStatus::Failure, 137, why.clone()),
        };
        Self {
            status: status as i32,
            exitcode,
            exception,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub task_id: String,
    pub app_id: String,
    pub name: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: f64,
    pub image_id: String,
    pub timeout_secs: u32,
    pub idle_timeout_secs: Option<u32>,
    pub v1: bool,
    pub result: Option<ResultRecord>,
    #[serde(default)]
    pub finished_at: Option<f64>,
}

impl Record for SandboxRecord {
    const TABLE: Table = Table::SANDBOXES;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppRecord {
    pub id: String,
    pub name: String,
    pub environment: String,
    pub created_at: f64,
}

impl Record for AppRecord {
    const TABLE: Table = Table::APPS;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SecretRecord {
    pub id: String,
    pub name: Option<String>,
    pub env: BTreeMap<String, String>,
}

impl Record for SecretRecord {
    const TABLE: Table = Table::SECRETS;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: String,
    pub name: Option<String>,
    /// Made with EPHEMERAL: deleted once heartbeats stop (`ephemeral.rs`).
    #[serde(default)]
    pub ephemeral: bool,
}

impl Record for VolumeRecord {
    const TABLE: Table = Table::VOLUMES;
}

/// What a create request asks for, already validated.
pub struct CreateSandbox {
    pub app_id: String,
    pub image_id: String,
    pub entrypoint: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub volumes: Vec<modal_proto::client::VolumeMount>,
    pub limits: Limits,
    pub block_network: bool,
    /// IPv4 blocks the sandbox may reach (`None`: any); see `definition::outbound_allowlist`.
    pub outbound_allowlist: Option<Vec<(std::net::Ipv4Addr, u8)>>,
    /// Sources the sandbox's tunnels accept (`None`: any); see `definition::inbound_allowlist`.
    pub inbound_allowlist: Option<Vec<(std::net::IpAddr, u8)>>,
    pub timeout_secs: u32,
    pub idle_timeout_secs: Option<u32>,
    pub name: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub v1: bool,
    pub ports: Vec<u16>,
    pub readiness: Option<Readiness>,
    /// Size cap of the writable layer in MiB (0: none).
    pub disk_mib: u64,
    /// The issuer of the OIDC identity token the sandbox asked for (`oidc`), if it did.
    pub identity_issuer: Option<String>,
    /// Domains whose addresses join `outbound_allowlist` (resolved as the sandbox starts).
    pub allowed_domains: Vec<String>,
}

pub struct State {
    pub store: Store,
    pub auth: Auth,
    pub images: Images,
    pub backend: BackendConfig,
    pub state_dir: PathBuf,
    running: Mutex<HashMap<String, Arc<Sandbox>>>,
    /// Recently ended sandboxes, newest last, so their output and exec results can still
    /// be read after the end (bounded: each holds at most its capped output buffers).
    ended: Mutex<std::collections::VecDeque<Arc<Sandbox>>>,
    /// Serialises creates so that a name is taken once.
    create_lock: Mutex<()>,
    /// V1 stdin: the last 1-based write index applied, per sandbox.
    pub v1_stdin_index: Mutex<HashMap<String, u32>>,
    pub builds: crate::build_log::Builds,
    pub stdio_streams: crate::stdio_streams::StdioStreams,
    /// Sandboxes that may run at once (`serve --max-sandboxes`); creates past it are
    /// refused with RESOURCE_EXHAUSTED.
    pub max_sandboxes: usize,
    /// Sandboxes running or being started.
    active: AtomicUsize,
    /// The volumes each running sandbox mounts (an ephemeral one in use never expires).
    pub mounted_volumes: Mutex<HashMap<String, Vec<String>>>,
    /// The last heartbeat of each ephemeral volume.
    pub volume_beats: Mutex<HashMap<String, std::time::Instant>>,
    /// How long an ephemeral volume lives without a heartbeat.
    pub ephemeral_ttl: Duration,
    /// The key of OIDC identity tokens, loaded (or made) when first needed.
    oidc: std::sync::OnceLock<crate::oidc::Oidc>,
}

/// The IPv4 addresses `domain` resolves to on this machine (sandboxes have no IPv6
/// network), for an outbound domain allowlist.
async fn resolve_v4(domain: &str) -> Result<Vec<std::net::Ipv4Addr>, Status> {
    let field = "network_access.allowed_domains";
    let found = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::lookup_host((domain, 0)),
    )
    .await
    .map_err(|_| Status::failed_precondition(format!("{field}: resolving '{domain}' timed out")))?
    .map_err(|e| {
        Status::failed_precondition(format!(
            "{field}: '{domain}' does not resolve on this machine ({e})"
        ))
    })?;
    let v4: Vec<std::net::Ipv4Addr> = found
        .filter_map(|a| match a.ip() {
            std::net::IpAddr::V4(ip) => Some(ip),
            std::net::IpAddr::V6(_) => None,
        })
        .collect();
    if v4.is_empty() {
        return Err(Status::failed_precondition(format!(
            "{field}: '{domain}' has no IPv4 address, and sandboxes have no IPv6 network"
        )));
    }
    Ok(v4)
}

pub fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("sandboxd: {e}"))
}

/// The environment every command starts with, before the sandbox's and the exec's own.
pub fn base_env() -> Vec<(String, String)> {
    [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/root"),
        ("LANG", "C.UTF-8"),
        ("TERM", "xterm-256color"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The entrypoint of a sandbox that runs nothing of its own: the init helper, idling
/// until the sandbox is ended.
pub fn idle_entrypoint() -> Vec<String> {
    vec![
        format!(
            "{}/{}",
            crate::backend::rootfs::HELPERS_DIR,
            crate::backend::spawn::INIT
        ),
        "idle".into(),
    ]
}

impl State {
    pub fn new(
        store: Store,
        auth: Auth,
        images: Images,
        backend: BackendConfig,
        state_dir: PathBuf,
    ) -> Self {
        Self {
            store,
            auth,
            images,
            backend,
            state_dir,
            running: Mutex::new(HashMap::new()),
            ended: Mutex::new(std::collections::VecDeque::new()),
            create_lock: Mutex::new(()),
            v1_stdin_index: Mutex::new(HashMap::new()),
            builds: Mutex::new(HashMap::new()),
            stdio_streams: Default::default(),
            max_sandboxes: DEFAULT_MAX_SANDBOXES,
            active: Default::default(),
            mounted_volumes: Mutex::new(HashMap::new()),
            volume_beats: Mutex::new(HashMap::new()),
            ephemeral_ttl: crate::ephemeral::DEFAULT_TTL,
            oidc: std::sync::OnceLock::new(),
        }
    }

    /// A clean stop: every running sandbox ends and is recorded as finished, then the
    /// backend ends the rest (build sandboxes) and sweeps what is left of this instance.
    pub async fn shutdown(&self) -> crate::backend::reap::Reaped {
        let running: Vec<Arc<Sandbox>> = lock(&self.running).values().cloned().collect();
        futures::future::join_all(running.iter().map(|sb| async {
            let o = sb.terminate(Outcome::ServerStopped).await;
            self.record_end(&sb.id, &o);
        }))
        .await;
        self.backend.shutdown().await
    }

    /// Sandboxes that were running when sandboxd stopped come back finished, never missing.
    pub fn recover(&self) -> anyhow::Result<usize> {
        let mut n = 0;
        for mut rec in self.store.list::<SandboxRecord>()? {
            if rec.result.is_none() {
                rec.result = Some(ResultRecord {
                    status: GenericStatus::Terminated as i32,
                    exitcode: 137,
                    exception: STOPPED.into(),
                });
                rec.finished_at = Some(now_f64());
                self.store.put(&rec.id, &rec)?;
                let _ = std::fs::remove_dir_all(self.backend.data_root.join(&rec.id));
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn sandbox_record(&self, id: &str) -> Result<SandboxRecord, Status> {
        if id.is_empty() {
            return Err(Status::invalid_argument("sandbox_id is required"));
        }
        self.store
            .get::<SandboxRecord>(id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("Sandbox {id} not found")))
    }

    pub fn running(&self, id: &str) -> Option<Arc<Sandbox>> {
        lock(&self.running).get(id).cloned()
    }

    /// A sandbox running or recently ended: for reading output and results.
    pub fn handle(&self, id: &str) -> Option<Arc<Sandbox>> {
        self.running(id)
            .or_else(|| lock(&self.ended).iter().find(|s| s.id == id).cloned())
    }

    /// The record and handle behind a task id, whether or not the sandbox still runs.
    pub fn handle_by_task(&self, task_id: &str) -> Result<(SandboxRecord, Arc<Sandbox>), Status> {
        let rec = self.record_by_task(task_id)?;
        let sb = self.handle(&rec.id).ok_or_else(|| {
            Status::failed_precondition(format!(
                "Sandbox {} ended too long ago: its output is no longer kept",
                rec.id
            ))
        })?;
        Ok((rec, sb))
    }

    pub fn record_by_task(&self, task_id: &str) -> Result<SandboxRecord, Status> {
        if task_id.is_empty() {
            return Err(Status::invalid_argument("task_id is required"));
        }
        self.store
            .list::<SandboxRecord>()
            .map_err(internal)?
            .into_iter()
            .find(|r| r.task_id == task_id)
            .ok_or_else(|| Status::not_found(format!("Task {task_id} not found")))
    }

    /// The running sandbox behind a task id, or why there is none.
    pub fn by_task(&self, task_id: &str) -> Result<(SandboxRecord, Arc<Sandbox>), Status> {
        let rec = self.record_by_task(task_id)?;
        match self.running(&rec.id) {
            Some(sb) if sb.outcome().is_none() => Ok((rec, sb)),
            _ => Err(Status::failed_precondition(format!(
                "Sandbox {} has already finished",
                rec.id
            ))),
        }
    }

    pub fn image(&self, id: &str) -> Result<ImageRecord, Status> {
        let rec = self
            .store
            .get::<ImageRecord>(id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("Image {id} not found")))?;
        if rec.expires_at.is_some_and(|t| t <= now_f64()) {
            return Err(Status::not_found(format!(
                "Image {id} has expired (its TTL has passed)"
            )));
        }
        Ok(rec)
    }

    pub fn secret(&self, secret_id: &str) -> Result<SecretRecord, Status> {
        self.store
            .get::<SecretRecord>(secret_id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("Secret {secret_id} not found")))
    }

    pub fn secret_env(&self, secret_id: &str) -> Result<BTreeMap<String, String>, Status> {
        Ok(self.secret(secret_id)?.env)
    }

    /// The OIDC identity token key (`<state dir>/oidc-signing.pk8`).
    pub fn oidc(&self) -> Result<&crate::oidc::Oidc, Status> {
        if let Some(o) = self.oidc.get() {
            return Ok(o);
        }
        let o = crate::oidc::Oidc::load_or_create(&self.state_dir.join("oidc-signing.pk8"))
            .map_err(|e| internal(format!("{e:#}")))?;
        Ok(self.oidc.get_or_init(|| o))
    }

    /// The identity token of sandbox `rec`, valid for its lifetime, from `issuer`.
    fn identity_token(&self, rec: &SandboxRecord, issuer: &str) -> Result<String, Status> {
        let app = self.store.get::<AppRecord>(&rec.app_id).map_err(internal)?;
        let (app_name, environment_name) = app.map(|a| (a.name, a.environment)).unwrap_or_default();
        let environment_name = if environment_name.is_empty() {
            "main".to_string()
        } else {
            environment_name
        };
        let iat = crate::auth::now_secs();
        let claims = crate::oidc::Identity {
            iss: issuer.to_string(),
            aud: issuer.to_string(),
            sub: format!(
                "modal:environment_name:{environment_name}:app_name:{app_name}:sandbox_id:{}",
                rec.id
            ),
            iat,
            nbf: iat,
            exp: iat + rec.timeout_secs as u64 + 60,
            app_id: rec.app_id.clone(),
            app_name,
            environment_name,
            sandbox_id: rec.id.clone(),
            container_id: rec.task_id.clone(),
        };
        Ok(self.oidc()?.token(&claims))
    }

    pub fn volume(&self, volume_id: &str) -> Result<VolumeRecord, Status> {
        self.store
            .get::<VolumeRecord>(volume_id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("Volume {volume_id} not found")))
    }

    pub fn volume_dir(&self, volume_id: &str) -> Result<PathBuf, Status> {
        self.volume(volume_id)?;
        Ok(self.backend.volumes.dir(volume_id))
    }

    /// Create and start a sandbox; returns its record.
    pub async fn create_sandbox(
        self: &Arc<Self>,
        req: CreateSandbox,
    ) -> Result<SandboxRecord, Status> {
        let image = self.image(&req.image_id)?;
        if let Some(err) = &image.error {
            return Err(Status::failed_precondition(format!(
                "Image {} failed to build: {err}",
                image.id
            )));
        }
        let volumes = req
            .volumes
            .iter()
            .map(|v| {
                self.volume(&v.volume_id)?;
                Ok(VolumeBind {
                    volume_id: v.volume_id.clone(),
                    target: v.mount_path.clone(),
                    read_only: v.read_only,
                    sub_path: v.sub_path.clone(),
                })
            })
            .collect::<Result<Vec<_>, Status>>()?;
        let volume_ids: Vec<String> = req.volumes.iter().map(|v| v.volume_id.clone()).collect();
        let mut req = req;
        if let Some(allowed) = req.outbound_allowlist.as_mut() {
            for domain in &req.allowed_domains {
                allowed.extend(resolve_v4(domain).await?.into_iter().map(|a| (a, 32)));
            }
        }
        let rec = self.reserve(&req, &image)?;
        if let Some(issuer) = req.identity_issuer.take() {
            match self.identity_token(&rec, &issuer) {
                Ok(t) => set_env(&mut req.env, [("MODAL_IDENTITY_TOKEN".to_string(), t)]),
                Err(e) => {
                    self.active.fetch_sub(1, Ordering::SeqCst);
                    self.record_start_failure(&rec, &anyhow::anyhow!("{}", e.message()));
                    return Err(e);
                }
            }
        }
        let spec = self.sandbox_spec(&rec.id, req, &image, volumes);
        let sb = match Sandbox::start(&self.backend, spec).await {
            Ok(sb) => sb,
            Err(e) => {
                self.active.fetch_sub(1, Ordering::SeqCst);
                self.record_start_failure(&rec, &e);
                return Err(Status::internal(format!(
                    "could not start the sandbox: {e:#}"
                )));
            }
        };
        lock(&self.running).insert(rec.id.clone(), sb.clone());
        lock(&self.mounted_volumes).insert(rec.id.clone(), volume_ids);
        // record the outcome when it comes
        let me = self.clone();
        tokio::spawn(async move {
            let outcome = loop {
                if let Some(o) = sb.wait(Duration::from_secs(3600)).await {
                    break o;
                }
            };
            me.record_end(&sb.id, &outcome);
        });
        Ok(rec)
    }

    /// Take a place for a new sandbox: within `max_sandboxes`, under a name no running
    /// sandbox of the app has. Its record, written here, holds the name; it is counted
    /// in `active` until `record_end` takes it out of `running`, or its start fails.
    fn reserve(&self, req: &CreateSandbox, image: &ImageRecord) -> Result<SandboxRecord, Status> {
        let _serialised = lock(&self.create_lock);
        let active = self.active.load(Ordering::SeqCst);
        if active >= self.max_sandboxes {
            return Err(Status::resource_exhausted(format!(
                "{active} sandboxes are running already, the most this sandboxd runs at once (serve --max-sandboxes)"
            )));
        }
        if let Some(name) = &req.name {
            let taken = self
                .store
                .list::<SandboxRecord>()
                .map_err(internal)?
                .into_iter()
                .any(|r| {
                    r.result.is_none() && r.app_id == req.app_id && r.name.as_deref() == Some(name)
                });
            if taken {
                return Err(Status::already_exists(format!(
                    "Sandbox '{name}' already exists: one of that name is running in this app"
                )));
            }
        }
        let id = if req.v1 {
            crate::ids::new_sandbox_v1_id()
        } else {
            crate::ids::new_sandbox_v2_id()
        };
        let rec = SandboxRecord {
            id: id.clone(),
            task_id: crate::ids::new_id("ta"),
            app_id: req.app_id.clone(),
            name: req.name.clone(),
            tags: req.tags.clone(),
            created_at: now_f64(),
            image_id: image.id.clone(),
            timeout_secs: req.timeout_secs,
            idle_timeout_secs: req.idle_timeout_secs,
            v1: req.v1,
            result: None,
            finished_at: None,
        };
        self.store.put(&id, &rec).map_err(internal)?;
        self.active.fetch_add(1, Ordering::SeqCst);
        // the record now holds the name: creates may proceed in parallel from here
        Ok(rec)
    }

    /// What the backend starts for a create request: the image's ENV under the
    /// sandbox's own variables, the image's WORKDIR as the default.
    fn sandbox_spec(
        &self,
        id: &str,
        req: CreateSandbox,
        image: &ImageRecord,
        volumes: Vec<VolumeBind>,
    ) -> SandboxSpec {
        let mut env = base_env();
        set_env(&mut env, image.env.iter().cloned().chain(req.env));
        let workdir = req.workdir.or_else(|| image.workdir.clone());
        let entrypoint = if req.entrypoint.is_empty() {
            idle_entrypoint()
        } else {
            req.entrypoint
        };
        SandboxSpec {
            id: id.to_string(),
            entrypoint,
            env,
            workdir: workdir.unwrap_or_else(|| "/".into()),
            image: self.images.layers(image),
            volumes,
            limits: req.limits,
            block_network: req.block_network,
            outbound_allowlist: req.outbound_allowlist.clone(),
            inbound: crate::backend::tunnels::Inbound::new(req.inbound_allowlist),
            timeout: Duration::from_secs(req.timeout_secs as u64),
            idle_timeout: req.idle_timeout_secs.map(|s| Duration::from_secs(s as u64)),
            ports: req.ports,
            readiness: req.readiness,
            disk_mib: req.disk_mib,
        }
    }

    /// A sandbox that could not start ends at once, as an init failure.
    fn record_start_failure(&self, rec: &SandboxRecord, e: &anyhow::Error) {
        let mut failed = rec.clone();
        failed.result = Some(ResultRecord {
            status: GenericStatus::InitFailure as i32,
            exitcode: 1,
            exception: format!("{e:#}"),
        });
        failed.finished_at = Some(now_f64());
        tracing::warn!(sandbox = %rec.id, "start failed: {e:#}");
        if let Err(e) = self.store.put(&rec.id, &failed) {
            tracing::error!(sandbox = %rec.id, "recording the failed start: {e:#}");
        }
    }

    fn record_end(&self, id: &str, outcome: &Outcome) {
        if let Err(e) = self.record_result(id, outcome) {
            tracing::error!(sandbox = %id, "recording the sandbox's end: {e:#}");
        }
        let ended = lock(&self.running).remove(id);
        lock(&self.mounted_volumes).remove(id);
        if ended.is_some() {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(sb) = ended {
            let mut e = lock(&self.ended);
            e.push_back(sb);
            while e.len() > KEEP_ENDED {
                e.pop_front();
            }
            // once: the waiter, a terminate and the watcher may each see the same end
            tracing::info!(sandbox = %id, ?outcome, "sandbox ended");
        }
        lock(&self.v1_stdin_index).remove(id);
    }

    /// Write a sandbox's result into its record, unless it has one already.
    fn record_result(&self, id: &str, outcome: &Outcome) -> anyhow::Result<()> {
        let Some(mut rec) = self.store.get::<SandboxRecord>(id)? else {
            anyhow::bail!("it has no record");
        };
        if rec.result.is_none() {
            rec.result = Some(ResultRecord::of(outcome, rec.timeout_secs));
            rec.finished_at = Some(now_f64());
            self.store.put(id, &rec)?;
        }
        Ok(())
    }

    /// Wait up to `timeout` for a sandbox's result.
    pub async fn wait_result(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<Option<ResultRecord>, Status> {
        let rec = self.sandbox_record(id)?;
        if rec.result.is_some() {
            return Ok(rec.result);
        }
        if let Some(sb) = self.running(id) {
            if let Some(o) = sb.wait(timeout).await {
                self.record_end(id, &o);
            }
        }
        Ok(self.sandbox_record(id)?.result)
    }

    pub async fn terminate(&self, id: &str) -> Result<Option<ResultRecord>, Status> {
        let rec = self.sandbox_record(id)?;
        if rec.result.is_some() {
            return Ok(rec.result);
        }
        if let Some(sb) = self.running(id) {
            let o = sb.terminate(Outcome::Terminated).await;
            self.record_end(id, &o);
        }
        Ok(self.sandbox_record(id)?.result)
    }

    /// Wait for a sandbox's readiness probe; DEADLINE_EXCEEDED if it is not ready in time.
    pub async fn wait_ready(&self, rec: &SandboxRecord, timeout: Duration) -> Result<f64, Status> {
        let sb = self.running(&rec.id).ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", rec.id))
        })?;
        match sb.wait_ready(timeout).await {
            Some(at) => Ok(at),
            None if sb.outcome().is_some() => Err(Status::failed_precondition(format!(
                "Sandbox {} finished before it became ready",
                rec.id
            ))),
            None => Err(Status::deadline_exceeded(format!(
                "Sandbox {} did not become ready within {:.1}s",
                rec.id,
                timeout.as_secs_f64()
            ))),
        }
    }

    pub fn set_tags(&self, id: &str, tags: BTreeMap<String, String>) -> Result<(), Status> {
        let mut rec = self.sandbox_record(id)?;
        rec.tags = tags;
        self.store.put(id, &rec).map_err(internal)
    }
}
