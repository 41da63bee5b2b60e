//! The control plane: `modal.client.ModalClient`, the RPCs of the Sandbox flow.

use crate::auth::now_f64;
use crate::backend::cgroup::Limits;
use crate::backend::sandbox::Readiness;
use crate::backend::spawn;
use crate::images::ImageRecord;
use crate::limits;
use crate::named_images;
use crate::state::{
    internal, AppRecord, CreateSandbox, SandboxRecord, SecretRecord, State, VolumeRecord,
    DEFAULT_MEMORY_MAX_MIB, DEFAULT_TIMEOUT_SECS, MAX_PIDS,
};
use crate::sync::lock;
use crate::tcr_url;
use futures::StreamExt;
use modal_proto::client::modal_client_server::ModalClient;
use modal_proto::client::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

const ENVIRONMENT: &str = "main";
const IMAGE_BUILDER_VERSION: &str = "2025.06";
/// How long one SandboxGetLogs call waits for output before the client reopens it.
const LOGS_POLL: Duration = Duration::from_secs(50);

pub struct ControlPlane {
    pub state: Arc<State>,
    /// Served over TLS: command router urls are https.
    pub tls: bool,
}

fn creation(t: i32) -> ObjectCreationType {
    ObjectCreationType::try_from(t).unwrap_or(ObjectCreationType::Unspecified)
}

fn tags_map(tags: &[SandboxTag]) -> Result<BTreeMap<String, String>, Status> {
    limits::tags(
        tags.iter()
            .map(|t| (t.tag_name.as_str(), t.tag_value.as_str())),
    )?;
    Ok(tags
        .iter()
        .map(|t| (t.tag_name.clone(), t.tag_value.clone()))
        .collect())
}

fn tags_proto(tags: &BTreeMap<String, String>) -> Vec<SandboxTag> {
    tags.iter()
        .map(|(k, v)| SandboxTag {
            tag_name: k.clone(),
            tag_value: v.clone(),
        })
        .collect()
}

fn metadata_of(rec: &SandboxRecord) -> SandboxHandleMetadata {
    SandboxHandleMetadata {
        result: rec.result.as_ref().map(|r| r.to_proto()),
        app_id: rec.app_id.clone(),
    }
}

fn info_of(rec: &SandboxRecord) -> SandboxInfo {
    SandboxInfo {
        id: rec.id.clone(),
        created_at: rec.created_at,
        task_info: Some(TaskInfo {
            id: rec.task_id.clone(),
            started_at: rec.created_at,
            finished_at: rec.finished_at.unwrap_or_default(),
            result: rec.result.as_ref().map(|r| r.to_proto()),
            sandbox_id: rec.id.clone(),
            ..Default::default()
        }),
        app_id: rec.app_id.clone(),
        tags: tags_proto(&rec.tags),
        name: rec.name.clone().unwrap_or_default(),
        image_id: rec.image_id.clone(),
        timeout_secs: rec.timeout_secs,
        idle_timeout_secs: rec.idle_timeout_secs,
        metadata: Some(metadata_of(rec)),
        ..Default::default()
    }
}

/// The last ImageJoinStreaming message: the build's result, and eof.
fn image_result(rec: &ImageRecord) -> ImageJoinStreamingResponse {
    let result = match &rec.error {
        None => GenericResult {
            status: generic_result::GenericStatus::Success as i32,
            ..Default::default()
        },
        Some(e) => GenericResult {
            status: generic_result::GenericStatus::Failure as i32,
            exception: format!("Image build failed: {e}"),
            ..Default::default()
        },
    };
    ImageJoinStreamingResponse {
        result: Some(result),
        entry_id: rec.logs.len().to_string(),
        eof: true,
        metadata: Some(ImageMetadata {
            image_builder_version: Some(IMAGE_BUILDER_VERSION.into()),
            workdir: rec.workdir.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tunnels_of(sb: Option<&Arc<crate::backend::sandbox::Sandbox>>) -> Vec<TunnelData> {
    sb.map(|sb| sb.tunnel_ports())
        .unwrap_or_default()
        .into_iter()
        .map(|(container, host)| TunnelData {
            host: "127.0.0.1".into(),
            port: host as u32,
            unencrypted_host: Some("127.0.0.1".into()),
            unencrypted_port: Some(host as u32),
            container_port: container as u32,
        })
        .collect()
}

fn open_ports(def: &Sandbox) -> Result<Vec<u16>, Status> {
    let Some(sandbox::OpenPortsOneof::OpenPorts(specs)) = &def.open_ports_oneof else {
        return Ok(vec![]);
    };
    limits::count("open ports", specs.ports.len(), limits::MAX_OPEN_PORTS)?;
    let mut ports = Vec::new();
    for p in &specs.ports {
        let port = u16::try_from(p.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!("port {} is not a TCP port", p.port))
            })?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

fn readiness_of(def: &Sandbox) -> Result<Option<Readiness>, Status> {
    let Some(probe) = &def.readiness_probe else {
        return Ok(None);
    };
    let interval = Duration::from_millis(probe.interval_ms.unwrap_or(100).clamp(10, 60_000) as u64);
    Ok(match &probe.probe_oneof {
        Some(probe::ProbeOneof::TcpPort(p)) => Some(Readiness::Tcp {
            port: u16::try_from(*p).ok().filter(|p| *p > 0).ok_or_else(|| {
                Status::invalid_argument(format!("readiness tcp_port {p} is not a TCP port"))
            })?,
            interval,
        }),
        Some(probe::ProbeOneof::ExecCommand(e)) if !e.argv.is_empty() => {
            limits::argv("the readiness probe's command", &e.argv, 0)?;
            Some(Readiness::Exec {
                argv: e.argv.clone(),
                interval,
            })
        }
        Some(probe::ProbeOneof::ExecCommand(_)) => {
            return Err(Status::invalid_argument(
                "readiness exec_command needs an argv",
            ))
        }
        None => None,
    })
}

fn secs(timeout: f32, max: f32) -> Duration {
    Duration::from_secs_f32(if timeout.is_finite() {
        timeout.clamp(0.0, max)
    } else {
        0.0
    })
}

impl ControlPlane {
    fn app(&self, id: &str) -> Result<AppRecord, Status> {
        if id.is_empty() {
            return Err(Status::invalid_argument("app_id is required"));
        }
        self.state
            .store
            .get::<AppRecord>(id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("App {id} not found")))
    }

    fn env_of(
        &self,
        secret_ids: &[String],
        sources: &[SecretSource],
        extra: &[&Option<StringMap>],
    ) -> Result<Vec<(String, String)>, Status> {
        // the sandbox's own variables; the defaults and the image's go under them at create
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: String, v: String| {
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        };
        for id in secret_ids {
            for (k, v) in self.state.secret_env(id)? {
                set(k, v);
            }
        }
        for s in sources {
            match &s.source {
                Some(secret_source::Source::SecretId(id)) => {
                    for (k, v) in self.state.secret_env(id)? {
                        set(k, v);
                    }
                }
                Some(secret_source::Source::Env(m)) => {
                    for (k, v) in &m.contents {
                        set(k.clone(), v.clone());
                    }
                }
                None => {}
            }
        }
        for m in extra.iter().copied().flatten() {
            for (k, v) in &m.contents {
                set(k.clone(), v.clone());
            }
        }
        Ok(env)
    }

    #[allow(clippy::too_many_arguments)]
    fn create_request(
        &self,
        app_id: &str,
        def: Option<Sandbox>,
        tags: &[SandboxTag],
        sources: &[SecretSource],
        ephemeral: &Option<StringMap>,
        v1: bool,
        host: &str,
    ) -> Result<CreateSandbox, Status> {
        self.app(app_id)?;
        let def = def.ok_or_else(|| Status::invalid_argument("definition is required"))?;
        crate::definition::check(&def)?;
        if def.image_id.is_empty() {
            return Err(Status::invalid_argument("definition.image_id is required"));
        }
        if let Some(w) = &def.workdir {
            limits::abs_path("workdir", w)?;
        }
        limits::timeout_secs("timeout_secs", def.timeout_secs)?;
        if let Some(t) = def.idle_timeout_secs {
            limits::timeout_secs("idle_timeout_secs", t)?;
        }
        limits::count(
            "secrets",
            def.secret_ids.len() + sources.len(),
            limits::MAX_SECRETS,
        )?;
        limits::count(
            "volume mounts",
            def.volume_mounts.len(),
            limits::MAX_VOLUME_MOUNTS,
        )?;
        let mut env = self.env_of(
            &def.secret_ids,
            sources,
            &[&def.environment_variables, ephemeral],
        )?;
        let env_bytes = limits::env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        limits::argv("the entrypoint", &def.entrypoint_args, env_bytes)?;
        let mut entrypoint = def.entrypoint_args.clone();
        if let Some(info) = &def.pty_info {
            // the entrypoint (or the idle default) on a terminal of its own
            let t = crate::terminal::spec(info)?;
            if entrypoint.is_empty() {
                entrypoint = crate::state::idle_entrypoint();
            }
            entrypoint = spawn::on_terminal(t.size, entrypoint);
            for (k, v) in t.env() {
                env.retain(|(ek, _)| *ek != k);
                env.push((k, v));
            }
        }
        let res = def.resources.clone().unwrap_or_default();
        let memory_max = if res.memory_mb_max > 0 {
            res.memory_mb_max as u64
        } else {
            DEFAULT_MEMORY_MAX_MIB.max(res.memory_mb as u64)
        };
        let host_mib = host_memory_mib();
        if memory_max > host_mib {
            return Err(Status::resource_exhausted(format!(
                "the sandbox asks for {memory_max} MiB of memory; this host has {host_mib} MiB"
            )));
        }
        let disk_mib = match res.ephemeral_disk_mb {
            0 => self.state.backend.disk.default_mib,
            mib if !(limits::MIN_DISK_MIB..=limits::MAX_DISK_MIB).contains(&mib) => {
                return Err(Status::invalid_argument(format!(
                    "ephemeral_disk_mb is {mib}; it must be between {} and {} MiB",
                    limits::MIN_DISK_MIB,
                    limits::MAX_DISK_MIB
                )))
            }
            mib => {
                let mib = mib as u64;
                let free = free_mib(&self.state.state_dir);
                if mib > self.state.backend.disk.default_mib && mib > free {
                    return Err(Status::resource_exhausted(format!(
                        "ephemeral_disk_mb is {mib} MiB but the host has only {free} MiB free"
                    )));
                }
                mib
            }
        };
        let blocked = def.block_network
            || def.network_access.as_ref().is_some_and(|n| {
                n.network_access_type == network_access::NetworkAccessType::Blocked as i32
            });
        let mut volumes = Vec::new();
        for v in &def.volume_mounts {
            limits::abs_path("volume mount path", &v.mount_path)?;
            if let Some(sub) = &v.sub_path {
                limits::sub_path(sub)?;
            }
            volumes.push(v.clone());
        }
        let name = def.name.clone().filter(|n| !n.is_empty());
        if let Some(n) = &name {
            limits::name("sandbox name", n)?;
        }
        Ok(CreateSandbox {
            app_id: app_id.to_string(),
            image_id: def.image_id.clone(),
            entrypoint,
            env,
            workdir: def.workdir.clone(),
            volumes,
            limits: Limits {
                memory_bytes: Some(memory_max << 20),
                pids: Some(MAX_PIDS),
                milli_cpu: (res.milli_cpu > 0).then_some(res.milli_cpu),
                milli_cpu_max: (res.milli_cpu_max > 0).then_some(res.milli_cpu_max),
            },
            block_network: blocked,
            outbound_allowlist: crate::definition::outbound_allowlist(&def).filter(|_| !blocked),
            inbound_allowlist: crate::definition::inbound_allowlist(&def),
            timeout_secs: if def.timeout_secs == 0 {
                DEFAULT_TIMEOUT_SECS
            } else {
                def.timeout_secs
            },
            idle_timeout_secs: def.idle_timeout_secs.filter(|s| *s > 0),
            name,
            tags: tags_map(tags)?,
            v1,
            ports: open_ports(&def)?,
            readiness: readiness_of(&def)?,
            disk_mib,
            allowed_domains: crate::definition::allowed_domains(&def),
            identity_issuer: def
                .include_oidc_identity_token
                .then(|| crate::oidc::issuer(host, self.tls)),
        })
    }

    fn access(&self, task_id: &str, client_type: &str, host: &str) -> (String, String) {
        let jwt = self.state.auth.sign(&format!("task:{task_id}"), 3600);
        (jwt, tcr_url(client_type, host, self.tls))
    }

    fn list(&self, req: SandboxListRequest) -> Result<SandboxListResponse, Status> {
        let want = tags_map(&req.tags)?;
        let mut recs: Vec<SandboxRecord> = self
            .state
            .store
            .list::<SandboxRecord>()
            .map_err(internal)?
            .into_iter()
            .filter(|r| req.app_id.is_empty() || r.app_id == req.app_id)
            .filter(|r| req.include_finished || r.result.is_none())
            .filter(|r| req.before_timestamp <= 0.0 || r.created_at < req.before_timestamp)
            .filter(|r| want.iter().all(|(k, v)| r.tags.get(k) == Some(v)))
            .collect();
        recs.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        recs.truncate(100);
        Ok(SandboxListResponse {
            sandboxes: recs.iter().map(info_of).collect(),
        })
    }

    fn find_by_name(
        &self,
        req: SandboxGetFromNameRequest,
    ) -> Result<SandboxGetFromNameResponse, Status> {
        if req.sandbox_name.is_empty() {
            return Err(Status::invalid_argument("sandbox_name is required"));
        }
        limits::name("sandbox name", &req.sandbox_name)?;
        limits::name("app name", &req.app_name)?;
        let app = self
            .state
            .store
            .list::<AppRecord>()
            .map_err(internal)?
            .into_iter()
            .find(|a| a.name == req.app_name)
            .ok_or_else(|| Status::not_found(format!("App '{}' not found", req.app_name)))?;
        let mut recs: Vec<SandboxRecord> = self
            .state
            .store
            .list::<SandboxRecord>()
            .map_err(internal)?
            .into_iter()
            .filter(|r| r.app_id == app.id && r.name.as_deref() == Some(req.sandbox_name.as_str()))
            .filter(|r| req.include_terminated || r.result.is_none())
            .collect();
        recs.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
        let rec = recs.into_iter().next().ok_or_else(|| {
            Status::not_found(format!(
                "Sandbox '{}' not found in app '{}'",
                req.sandbox_name, req.app_name
            ))
        })?;
        Ok(SandboxGetFromNameResponse {
            sandbox_id: rec.id.clone(),
            metadata: Some(metadata_of(&rec)),
        })
    }

    async fn wait(&self, req: SandboxWaitRequest) -> Result<SandboxWaitResponse, Status> {
        let result = self
            .state
            .wait_result(&req.sandbox_id, secs(req.timeout, 55.0))
            .await?;
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        Ok(SandboxWaitResponse {
            result: result.map(|r| r.to_proto()),
            metadata: Some(metadata_of(&rec)),
        })
    }

    async fn terminate(
        &self,
        req: SandboxTerminateRequest,
    ) -> Result<SandboxTerminateResponse, Status> {
        let r = self.state.terminate(&req.sandbox_id).await?;
        Ok(SandboxTerminateResponse {
            existing_result: r.map(|r| r.to_proto()),
        })
    }

    async fn tunnels(
        &self,
        req: SandboxGetTunnelsRequest,
    ) -> Result<SandboxGetTunnelsResponse, Status> {
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        if let Some(r) = &rec.result {
            return Ok(SandboxGetTunnelsResponse {
                result: Some(r.to_proto()),
                tunnels: vec![],
            });
        }
        // tunnels open with the sandbox, so they are there as soon as it runs
        Ok(SandboxGetTunnelsResponse {
            result: None,
            tunnels: tunnels_of(self.state.running(&rec.id).as_ref()),
        })
    }

    async fn connect_token(
        &self,
        req: SandboxCreateConnectTokenRequest,
    ) -> Result<SandboxCreateConnectTokenResponse, Status> {
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        let sb = self.state.running(&rec.id).ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", rec.id))
        })?;
        let port = u16::try_from(req.port.unwrap_or(8080))
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Status::invalid_argument("port must be a TCP port"))?;
        limits::bytes(
            "user_metadata",
            &req.user_metadata,
            limits::MAX_TAG_VALUE_BYTES,
        )?;
        let token = crate::ids::new_id("ct") + &crate::ids::new_id("");
        use crate::backend::sandbox::ConnectError;
        let host_port = sb
            .connect_token(
                port,
                token.clone(),
                limits::MAX_CONNECT_PORTS,
                limits::MAX_CONNECT_TOKENS,
            )
            .await
            .map_err(|e| match e {
                ConnectError::Other(e) => internal(format!("{e:#}")),
                too_many => Status::resource_exhausted(too_many.to_string()),
            })?;
        Ok(SandboxCreateConnectTokenResponse {
            url: format!("http://127.0.0.1:{host_port}"),
            token,
        })
    }

    /// Stream a running build's log lines, then its result from the store.
    fn tail_build(
        &self,
        id: String,
        build: Arc<crate::build_log::Build>,
        skip: usize,
    ) -> BoxStream<ImageJoinStreamingResponse> {
        let state = self.state.clone();
        let lines = futures::stream::unfold(skip, move |n| {
            let build = build.clone();
            async move {
                let lines = build.lines_from(n).await?;
                let next = n + lines.len();
                let task_logs = lines
                    .into_iter()
                    .map(|l| TaskLogs {
                        data: format!("{l}\n"),
                        file_descriptor: FileDescriptor::Stderr as i32,
                        timestamp: now_f64(),
                        ..Default::default()
                    })
                    .collect();
                let msg = ImageJoinStreamingResponse {
                    task_logs,
                    entry_id: next.to_string(),
                    ..Default::default()
                };
                Some((Ok(msg), next))
            }
        });
        let end = futures::stream::once(async move { Ok(image_result(&state.image(&id)?)) });
        Box::pin(lines.chain(end))
    }

    fn set_tags(&self, req: SandboxTagsSetRequest) -> Result<(), Status> {
        let tags = tags_map(&req.tags)?;
        self.state.set_tags(&req.sandbox_id, tags)
    }
}

/// The host's memory in MiB (MemTotal), the most a sandbox may ask for.
fn host_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb >> 10)
        .unwrap_or(u64::MAX)
}

/// Free space of the filesystem holding `dir`, in MiB.
fn free_mib(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) >> 20
}

pub fn client_type<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("x-modal-client-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn host_of<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| "127.0.0.1".into())
}

#[tonic::async_trait]
impl ModalClient for ControlPlane {
    async fn client_hello(&self, _: Request<()>) -> Result<Response<ClientHelloResponse>, Status> {
        Ok(Response::new(ClientHelloResponse {
            image_builder_version: IMAGE_BUILDER_VERSION.into(),
            ..Default::default()
        }))
    }

    async fn auth_token_get(
        &self,
        _: Request<AuthTokenGetRequest>,
    ) -> Result<Response<AuthTokenGetResponse>, Status> {
        Ok(Response::new(AuthTokenGetResponse {
            token: self.state.auth.sign("client", 3600),
        }))
    }

    async fn app_get_or_create(
        &self,
        req: Request<AppGetOrCreateRequest>,
    ) -> Result<Response<AppGetOrCreateResponse>, Status> {
        let req = req.into_inner();
        if req.app_name.is_empty() {
            return Err(Status::invalid_argument("app_name is required"));
        }
        limits::name("app name", &req.app_name)?;
        if !req.environment_name.is_empty() {
            limits::name("environment name", &req.environment_name)?;
        }
        let environment = if req.environment_name.is_empty() {
            ENVIRONMENT.to_string()
        } else {
            req.environment_name.clone()
        };
        let existing = self
            .state
            .store
            .list::<AppRecord>()
            .map_err(internal)?
            .into_iter()
            .find(|a| a.name == req.app_name && a.environment == environment);
        let mode = creation(req.object_creation_type);
        let app = match (existing, mode) {
            (Some(_), ObjectCreationType::CreateFailIfExists) => {
                return Err(Status::already_exists(format!(
                    "App '{}' already exists",
                    req.app_name
                )))
            }
            (Some(a), _) => a,
            (None, ObjectCreationType::Unspecified) => {
                return Err(Status::not_found(format!(
                    "App '{}' not found in environment '{environment}'",
                    req.app_name
                )))
            }
            (None, _) => {
                let a = AppRecord {
                    id: crate::ids::new_id("ap"),
                    name: req.app_name.clone(),
                    environment: environment.clone(),
                    created_at: now_f64(),
                };
                self.state.store.put(&a.id, &a).map_err(internal)?;
                a
            }
        };
        Ok(Response::new(AppGetOrCreateResponse {
            app_id: app.id.clone(),
            handle_metadata: Some(AppHandleMetadata {
                description: app.name,
                app_id: app.id,
                environment_name: environment,
                ..Default::default()
            }),
        }))
    }

    async fn environment_get_or_create(
        &self,
        _: Request<EnvironmentGetOrCreateRequest>,
    ) -> Result<Response<EnvironmentGetOrCreateResponse>, Status> {
        Ok(Response::new(EnvironmentGetOrCreateResponse {
            environment_id: "en-main".into(),
            metadata: Some(EnvironmentMetadata {
                name: ENVIRONMENT.into(),
                settings: Some(EnvironmentSettings {
                    image_builder_version: IMAGE_BUILDER_VERSION.into(),
                    ..Default::default()
                }),
                environment_type: EnvironmentType::Public as i32,
            }),
        }))
    }

    async fn image_get_or_create(
        &self,
        req: Request<ImageGetOrCreateRequest>,
    ) -> Result<Response<ImageGetOrCreateResponse>, Status> {
        let req = req.into_inner();
        if !req.existing_image_id.is_empty() {
            let rec = self.state.image(&req.existing_image_id)?;
            return Ok(Response::new(ImageGetOrCreateResponse {
                image_id: rec.id,
                ..Default::default()
            }));
        }
        let image = req
            .image
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("image is required"))?;
        crate::definition::check_image(&req, image)?;
        limits::count(
            "image steps",
            image.dockerfile_commands.len() + image.base_images.len(),
            limits::MAX_IMAGE_STEPS,
        )?;
        for c in &image.dockerfile_commands {
            limits::bytes("an image step", c, limits::MAX_IMAGE_STEP_BYTES)?;
            limits::no_nul("image steps", c)?;
        }
        for b in &image.base_images {
            limits::bytes("a base image tag", &b.docker_tag, limits::MAX_PATH_BYTES)?;
        }
        limits::count(
            "image context files",
            image.context_files.len(),
            limits::MAX_CONTEXT_FILES,
        )?;
        for f in &image.context_files {
            limits::bytes("a context file's name", &f.filename, limits::MAX_PATH_BYTES)?;
            limits::no_nul("context file names", &f.filename)?;
        }
        let mut commands = image.dockerfile_commands.clone();
        // a layered image says `FROM <alias>` and names the alias's image id in base_images
        for b in &image.base_images {
            let from = if b.image_id.is_empty() {
                &b.docker_tag
            } else {
                &b.image_id
            };
            let alias = format!("FROM {}", b.docker_tag);
            match commands.iter_mut().find(|c| c.trim() == alias) {
                Some(line) => *line = format!("FROM {from}"),
                None => commands.insert(0, format!("FROM {from}")),
            }
        }
        let context: Vec<(String, Vec<u8>)> = image
            .context_files
            .iter()
            .map(|f| (f.filename.clone(), f.data.clone()))
            .collect();
        // one image id per definition: the same definition is built once
        limits::count("image secrets", image.secret_ids.len(), limits::MAX_SECRETS)?;
        let secrets = crate::builds::BuildSecrets {
            ids: image.secret_ids.clone(),
            env: self.env_of(&image.secret_ids, &[], &[])?,
        };
        limits::env(secrets.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let id = State::definition_id(&commands, &context, &secrets.ids);
        if req.force_build && self.state.running_build(&id).is_none() {
            self.state
                .store
                .delete::<ImageRecord>(&id)
                .map_err(internal)?;
        }
        let building = self
            .state
            .start_build(&id, commands, context, secrets, req.force_build);
        // An image built before is answered with its result, as Modal answers it: the
        // clients then skip ImageJoinStreaming (a round trip before every create). A build
        // under way, or one that failed, is followed through ImageJoinStreaming (its logs).
        let built = match building {
            Some(_) => None,
            None => self.state.image(&id).ok().filter(|rec| rec.error.is_none()),
        };
        let done = built.as_ref().map(image_result);
        Ok(Response::new(ImageGetOrCreateResponse {
            image_id: id,
            result: done.as_ref().and_then(|r| r.result.clone()),
            metadata: done.and_then(|r| r.metadata),
        }))
    }

    async fn image_join_streaming(
        &self,
        req: Request<ImageJoinStreamingRequest>,
    ) -> Result<Response<BoxStream<ImageJoinStreamingResponse>>, Status> {
        let req = req.into_inner();
        let skip: usize = req.last_entry_id.parse().unwrap_or(0);
        if let Some(build) = self.state.running_build(&req.image_id) {
            return Ok(Response::new(self.tail_build(req.image_id, build, skip)));
        }
        let rec = self.state.image(&req.image_id)?;
        let mut items = Vec::new();
        for (i, line) in rec.logs.iter().enumerate().skip(skip) {
            items.push(Ok(ImageJoinStreamingResponse {
                task_logs: vec![TaskLogs {
                    data: format!("{line}\n"),
                    file_descriptor: FileDescriptor::Stderr as i32,
                    timestamp: rec.created_at,
                    ..Default::default()
                }],
                entry_id: (i + 1).to_string(),
                ..Default::default()
            }));
        }
        items.push(Ok(image_result(&rec)));
        Ok(Response::new(Box::pin(futures::stream::iter(items))))
    }

    async fn image_from_id(
        &self,
        req: Request<ImageFromIdRequest>,
    ) -> Result<Response<ImageFromIdResponse>, Status> {
        let rec = self.state.image(&req.into_inner().image_id)?;
        Ok(Response::new(ImageFromIdResponse {
            image_id: rec.id,
            metadata: Some(ImageMetadata::default()),
        }))
    }

    /// Modal JS's `images.delete`: the image's id answers NOT_FOUND from then on; the same
    /// definition asked for again builds anew (from cached steps). Its layers stay: cached
    /// steps and running sandboxes share them.
    async fn image_delete(&self, req: Request<ImageDeleteRequest>) -> Result<Response<()>, Status> {
        let id = req.into_inner().image_id;
        if id == crate::images::HOST_BASE_ID || id == crate::images::HOST_PYTHON_ID {
            return Err(Status::failed_precondition(
                "the host base images are sandboxd's own and cannot be deleted",
            ));
        }
        if self.state.running_build(&id).is_some() {
            return Err(Status::failed_precondition(format!(
                "Image {id} is still building; delete it once the build ends"
            )));
        }
        self.state.image(&id)?;
        self.state
            .store
            .delete::<ImageRecord>(&id)
            .map_err(internal)?;
        Ok(Response::new(()))
    }

    /// Modal's `Image.publish`: a name and tag (in an environment) now point at the image.
    async fn image_publish(
        &self,
        req: Request<ImagePublishRequest>,
    ) -> Result<Response<ImagePublishResponse>, Status> {
        let req = req.into_inner();
        if req.allow_public {
            return Err(Status::failed_precondition(
                "allow_public: sandboxd has no public images",
            ));
        }
        let key = named_images::key(&req.tag, &req.environment_name, ENVIRONMENT)?;
        let revision_id = named_images::publish(&self.state, &key, &req.image_id)?;
        Ok(Response::new(ImagePublishResponse {
            image_id: req.image_id,
            revision_id,
        }))
    }

    /// Modal's `images.fromName`: the image a published name and tag point at.
    async fn image_get_by_tag(
        &self,
        req: Request<ImageGetByTagRequest>,
    ) -> Result<Response<ImageGetByTagResponse>, Status> {
        let req = req.into_inner();
        let key = named_images::key(&req.tag, &req.environment_name, ENVIRONMENT)?;
        let image_id = named_images::get(&self.state, &key)?;
        Ok(Response::new(ImageGetByTagResponse { image_id }))
    }

    /// Modal JS's `secrets.delete`, Python's `Secret.objects.delete`: the record goes;
    /// sandboxes already started keep the environment they were given.
    async fn secret_delete(
        &self,
        req: Request<SecretDeleteRequest>,
    ) -> Result<Response<()>, Status> {
        let id = req.into_inner().secret_id;
        self.state.secret(&id)?;
        self.state
            .store
            .delete::<SecretRecord>(&id)
            .map_err(internal)?;
        Ok(Response::new(()))
    }

    /// Modal JS's `volumes.delete`: the record and its files go. Refused while a running
    /// sandbox mounts it (its files would vanish under the sandbox).
    async fn volume_delete(
        &self,
        req: Request<VolumeDeleteRequest>,
    ) -> Result<Response<()>, Status> {
        let id = req.into_inner().volume_id;
        let dir = self.state.volume_dir(&id)?;
        let in_use = lock(&self.state.mounted_volumes)
            .values()
            .any(|ids| ids.contains(&id));
        if in_use {
            return Err(Status::failed_precondition(format!(
                "Volume {id} is mounted by a running sandbox; terminate it first"
            )));
        }
        self.state
            .store
            .delete::<VolumeRecord>(&id)
            .map_err(internal)?;
        lock(&self.state.volume_beats).remove(&id);
        // best effort, as for an expired ephemeral volume: the record is what clients see
        let _ = tokio::task::spawn_blocking(move || crate::backend::reap::remove_tree(&dir)).await;
        Ok(Response::new(()))
    }

    /// Modal's clients keep ephemeral volumes alive with this (Modal JS's
    /// `volumes.ephemeral()`, Python's `Volume.ephemeral()`); one without heartbeats for
    /// the TTL is deleted (`ephemeral.rs`). NOT_FOUND once it is gone.
    async fn volume_heartbeat(
        &self,
        req: Request<VolumeHeartbeatRequest>,
    ) -> Result<Response<()>, Status> {
        let id = req.into_inner().volume_id;
        if self.state.volume(&id)?.ephemeral {
            self.state.volume_beat(&id);
        }
        Ok(Response::new(()))
    }

    async fn secret_get_or_create(
        &self,
        req: Request<SecretGetOrCreateRequest>,
    ) -> Result<Response<SecretGetOrCreateResponse>, Status> {
        let req = req.into_inner();
        let mode = creation(req.object_creation_type);
        if !req.deployment_name.is_empty() {
            limits::name("secret name", &req.deployment_name)?;
        }
        limits::env(req.env_dict.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        limits::count(
            "required keys",
            req.required_keys.len(),
            limits::MAX_ENV_VARS,
        )?;
        let env: BTreeMap<String, String> = req.env_dict.clone().into_iter().collect();
        let anonymous = matches!(
            mode,
            ObjectCreationType::Ephemeral | ObjectCreationType::AnonymousOwnedByApp
        );
        let rec = if anonymous || req.deployment_name.is_empty() {
            if !anonymous {
                return Err(Status::invalid_argument(
                    "deployment_name is required for a named secret",
                ));
            }
            if mode == ObjectCreationType::AnonymousOwnedByApp {
                // Python's `Secret.from_dict` inside a running app (V1 sandboxes' `env`):
                // the secret lives as long as its app, which sandboxd keeps
                self.app(&req.app_id)?;
            }
            let s = SecretRecord {
                id: crate::ids::new_id("st"),
                name: None,
                env,
            };
            self.state.store.put(&s.id, &s).map_err(internal)?;
            s
        } else {
            let existing = self
                .state
                .store
                .list::<SecretRecord>()
                .map_err(internal)?
                .into_iter()
                .find(|s| s.name.as_deref() == Some(req.deployment_name.as_str()));
            match (existing, mode) {
                (Some(_), ObjectCreationType::CreateFailIfExists) => {
                    return Err(Status::already_exists(format!(
                        "Secret '{}' already exists",
                        req.deployment_name
                    )))
                }
                (Some(mut s), ObjectCreationType::CreateOverwriteIfExists) => {
                    s.env = env;
                    self.state.store.put(&s.id, &s).map_err(internal)?;
                    s
                }
                (Some(s), _) => s,
                (None, ObjectCreationType::Unspecified) => {
                    return Err(Status::not_found(format!(
                        "Secret '{}' not found",
                        req.deployment_name
                    )))
                }
                (None, _) => {
                    let s = SecretRecord {
                        id: crate::ids::new_id("st"),
                        name: Some(req.deployment_name.clone()),
                        env,
                    };
                    self.state.store.put(&s.id, &s).map_err(internal)?;
                    s
                }
            }
        };
        let missing: Vec<&String> = req
            .required_keys
            .iter()
            .filter(|k| !rec.env.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            // Modal's wording
            return Err(Status::not_found(format!(
                "Secret is missing key(s): {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(Response::new(SecretGetOrCreateResponse {
            secret_id: rec.id,
            metadata: Some(SecretMetadata {
                name: rec.name.unwrap_or_default(),
                keys: rec.env.keys().cloned().collect(),
                environment_name: ENVIRONMENT.into(),
                ..Default::default()
            }),
        }))
    }

    async fn volume_get_or_create(
        &self,
        req: Request<VolumeGetOrCreateRequest>,
    ) -> Result<Response<VolumeGetOrCreateResponse>, Status> {
        let req = req.into_inner();
        let mode = creation(req.object_creation_type);
        if !req.deployment_name.is_empty() {
            limits::name("volume name", &req.deployment_name)?;
        }
        let existing = if req.deployment_name.is_empty() {
            None
        } else {
            self.state
                .store
                .list::<VolumeRecord>()
                .map_err(internal)?
                .into_iter()
                .find(|v| v.name.as_deref() == Some(req.deployment_name.as_str()))
        };
        let rec = match (existing, mode) {
            (Some(_), ObjectCreationType::CreateFailIfExists) => {
                return Err(Status::already_exists(format!(
                    "Volume '{}' already exists",
                    req.deployment_name
                )))
            }
            (Some(v), _) => v,
            (None, ObjectCreationType::Unspecified) => {
                return Err(Status::not_found(format!(
                    "Volume '{}' not found",
                    req.deployment_name
                )))
            }
            (None, _) => {
                let v = VolumeRecord {
                    id: crate::ids::new_id("vo"),
                    name: (!req.deployment_name.is_empty()).then(|| req.deployment_name.clone()),
                    ephemeral: mode == ObjectCreationType::Ephemeral,
                };
                if v.ephemeral {
                    self.state.volume_beat(&v.id);
                }
                let (volumes, id) = (self.state.backend.volumes.clone(), v.id.clone());
                tokio::task::spawn_blocking(move || volumes.create(&id))
                    .await
                    .map_err(internal)?
                    .map_err(internal)?;
                self.state.store.put(&v.id, &v).map_err(internal)?;
                v
            }
        };
        Ok(Response::new(VolumeGetOrCreateResponse {
            volume_id: rec.id,
            version: req.version,
            metadata: Some(VolumeMetadata {
                version: req.version,
                name: rec.name.unwrap_or_default(),
            }),
        }))
    }

    async fn sandbox_create_v2(
        &self,
        req: Request<SandboxCreateV2Request>,
    ) -> Result<Response<SandboxCreateV2Response>, Status> {
        let (ct, host) = (client_type(&req), host_of(&req));
        let req = req.into_inner();
        if !req.cloud_bucket_mount_credentials.is_empty() {
            return Err(Status::failed_precondition(
                "cloud_bucket_mount_credentials: sandboxd mounts only its own volumes",
            ));
        }
        let create = self.create_request(
            &req.app_id,
            req.definition,
            &req.tags,
            &req.secret_sources,
            &req.ephemeral_secrets,
            false,
            &host,
        )?;
        let rec = self.state.create_sandbox(create).await?;
        let (jwt, url) = self.access(&rec.task_id, &ct, &host);
        Ok(Response::new(SandboxCreateV2Response {
            sandbox_id: rec.id.clone(),
            task_id: rec.task_id.clone(),
            metadata: Some(metadata_of(&rec)),
            command_router_access: Some(CommandRouterAccess { jwt, url }),
            tunnels: tunnels_of(self.state.running(&rec.id).as_ref()),
            ..Default::default()
        }))
    }

    async fn sandbox_create(
        &self,
        req: Request<SandboxCreateRequest>,
    ) -> Result<Response<SandboxCreateResponse>, Status> {
        let host = host_of(&req);
        let req = req.into_inner();
        let create = self.create_request(
            &req.app_id,
            req.definition,
            &req.tags,
            &[],
            &None,
            true,
            &host,
        )?;
        let rec = self.state.create_sandbox(create).await?;
        Ok(Response::new(SandboxCreateResponse {
            sandbox_id: rec.id.clone(),
            metadata: Some(metadata_of(&rec)),
        }))
    }

    async fn sandbox_get_task_id(
        &self,
        req: Request<SandboxGetTaskIdRequest>,
    ) -> Result<Response<SandboxGetTaskIdResponse>, Status> {
        let rec = self.state.sandbox_record(&req.into_inner().sandbox_id)?;
        Ok(Response::new(SandboxGetTaskIdResponse {
            task_id: Some(rec.task_id.clone()),
            task_result: rec.result.as_ref().map(|r| r.to_proto()),
        }))
    }

    /// Current clients ask this of a V2 sandbox they hold by id only (Python's and JS's
    /// `from_id` followed by `exec`); the answer is the same as V1's.
    async fn sandbox_get_task_id_v2(
        &self,
        req: Request<SandboxGetTaskIdRequest>,
    ) -> Result<Response<SandboxGetTaskIdResponse>, Status> {
        self.sandbox_get_task_id(req).await
    }

    async fn task_get_command_router_access(
        &self,
        req: Request<TaskGetCommandRouterAccessRequest>,
    ) -> Result<Response<TaskGetCommandRouterAccessResponse>, Status> {
        let (ct, host) = (client_type(&req), host_of(&req));
        let task_id = req.into_inner().task_id;
        self.state.by_task(&task_id)?;
        let (jwt, url) = self.access(&task_id, &ct, &host);
        Ok(Response::new(TaskGetCommandRouterAccessResponse {
            jwt,
            url,
        }))
    }

    async fn sandbox_get_command_router_access(
        &self,
        req: Request<SandboxGetCommandRouterAccessRequest>,
    ) -> Result<Response<SandboxGetCommandRouterAccessResponse>, Status> {
        let (ct, host) = (client_type(&req), host_of(&req));
        let task_id = match req.into_inner().target {
            Some(sandbox_get_command_router_access_request::Target::SandboxId(id)) => {
                self.state.sandbox_record(&id)?.task_id
            }
            Some(sandbox_get_command_router_access_request::Target::TaskId(t)) => t,
            None => {
                return Err(Status::invalid_argument(
                    "sandbox_id or task_id is required",
                ))
            }
        };
        self.state.by_task(&task_id)?;
        let (jwt, url) = self.access(&task_id, &ct, &host);
        Ok(Response::new(SandboxGetCommandRouterAccessResponse {
            jwt,
            url,
            worker_ipv4_address: "127.0.0.1".into(),
        }))
    }

    async fn sandbox_wait(
        &self,
        req: Request<SandboxWaitRequest>,
    ) -> Result<Response<SandboxWaitResponse>, Status> {
        self.wait(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_wait_v2(
        &self,
        req: Request<SandboxWaitRequest>,
    ) -> Result<Response<SandboxWaitResponse>, Status> {
        self.wait(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_terminate(
        &self,
        req: Request<SandboxTerminateRequest>,
    ) -> Result<Response<SandboxTerminateResponse>, Status> {
        self.terminate(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_terminate_v2(
        &self,
        req: Request<SandboxTerminateRequest>,
    ) -> Result<Response<SandboxTerminateResponse>, Status> {
        self.terminate(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_tags_get(
        &self,
        req: Request<SandboxTagsGetRequest>,
    ) -> Result<Response<SandboxTagsGetResponse>, Status> {
        let rec = self.state.sandbox_record(&req.into_inner().sandbox_id)?;
        Ok(Response::new(SandboxTagsGetResponse {
            tags: tags_proto(&rec.tags),
        }))
    }

    async fn sandbox_tags_get_v2(
        &self,
        req: Request<SandboxTagsGetRequest>,
    ) -> Result<Response<SandboxTagsGetResponse>, Status> {
        self.sandbox_tags_get(req).await
    }

    async fn sandbox_tags_set(
        &self,
        req: Request<SandboxTagsSetRequest>,
    ) -> Result<Response<()>, Status> {
        self.set_tags(req.into_inner()).map(Response::new)
    }

    async fn sandbox_tags_set_v2(
        &self,
        req: Request<SandboxTagsSetRequest>,
    ) -> Result<Response<()>, Status> {
        self.set_tags(req.into_inner()).map(Response::new)
    }

    async fn sandbox_list(
        &self,
        req: Request<SandboxListRequest>,
    ) -> Result<Response<SandboxListResponse>, Status> {
        self.list(req.into_inner()).map(Response::new)
    }

    async fn sandbox_list_v2(
        &self,
        req: Request<SandboxListRequest>,
    ) -> Result<Response<SandboxListResponse>, Status> {
        self.list(req.into_inner()).map(Response::new)
    }

    async fn sandbox_get_from_name(
        &self,
        req: Request<SandboxGetFromNameRequest>,
    ) -> Result<Response<SandboxGetFromNameResponse>, Status> {
        self.find_by_name(req.into_inner()).map(Response::new)
    }

    async fn sandbox_get_from_name_v2(
        &self,
        req: Request<SandboxGetFromNameRequest>,
    ) -> Result<Response<SandboxGetFromNameResponse>, Status> {
        self.find_by_name(req.into_inner()).map(Response::new)
    }

    async fn sandbox_get_logs(
        &self,
        req: Request<SandboxGetLogsRequest>,
    ) -> Result<Response<BoxStream<TaskLogsBatch>>, Status> {
        let req = req.into_inner();
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        let fd = FileDescriptor::try_from(req.file_descriptor).unwrap_or(FileDescriptor::Stdout);
        let start: u64 = match req.last_entry_id.as_str() {
            "" | "0-0" => 0,
            s => s
                .parse()
                .map_err(|_| Status::invalid_argument(format!("bad last_entry_id {s:?}")))?,
        };
        let Some(sb) = self.state.handle(&rec.id) else {
            // ended long ago (or before a restart): its output is no longer kept
            let eof = TaskLogsBatch {
                eof: true,
                entry_id: start.to_string(),
                task_id: rec.task_id,
                ..Default::default()
            };
            return Ok(Response::new(Box::pin(futures::stream::iter([Ok(eof)]))));
        };
        let poll = if req.timeout > 0.0 {
            secs(req.timeout, 55.0)
        } else {
            LOGS_POLL
        };
        let task_id = rec.task_id.clone();
        let stream = futures::stream::unfold((start, false), move |(offset, done)| {
            let sb = sb.clone();
            let task_id = task_id.clone();
            async move {
                if done {
                    return None;
                }
                let buf = if fd == FileDescriptor::Stderr {
                    &sb.stderr
                } else {
                    &sb.stdout
                };
                match tokio::time::timeout(poll, buf.next(offset, 256 * 1024)).await {
                    Err(_) => None, // long poll over; the client reopens at its entry id
                    Ok(None) => Some((
                        Ok(TaskLogsBatch {
                            task_id,
                            entry_id: offset.to_string(),
                            eof: true,
                            ..Default::default()
                        }),
                        (offset, true),
                    )),
                    Ok(Some((at, data))) => {
                        let end = at + data.len() as u64;
                        let batch = TaskLogsBatch {
                            task_id,
                            entry_id: end.to_string(),
                            items: vec![TaskLogs {
                                data: String::from_utf8_lossy(&data).into_owned(),
                                file_descriptor: fd as i32,
                                timestamp: now_f64(),
                                ..Default::default()
                            }],
                            ..Default::default()
                        };
                        Some((Ok(batch), (end, false)))
                    }
                }
            }
        });
        Ok(Response::new(stream.boxed()))
    }

    async fn app_fetch_logs(
        &self,
        req: Request<AppFetchLogsRequest>,
    ) -> Result<Response<AppFetchLogsResponse>, Status> {
        self.fetch_logs(req.get_ref()).map(Response::new)
    }

    async fn app_count_logs(
        &self,
        req: Request<AppCountLogsRequest>,
    ) -> Result<Response<AppCountLogsResponse>, Status> {
        self.count_logs(req.get_ref()).map(Response::new)
    }

    async fn sandbox_get_tunnels(
        &self,
        req: Request<SandboxGetTunnelsRequest>,
    ) -> Result<Response<SandboxGetTunnelsResponse>, Status> {
        self.tunnels(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_get_tunnels_v2(
        &self,
        req: Request<SandboxGetTunnelsRequest>,
    ) -> Result<Response<SandboxGetTunnelsResponse>, Status> {
        self.tunnels(req.into_inner()).await.map(Response::new)
    }

    async fn sandbox_create_connect_token(
        &self,
        req: Request<SandboxCreateConnectTokenRequest>,
    ) -> Result<Response<SandboxCreateConnectTokenResponse>, Status> {
        self.connect_token(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn sandbox_create_connect_token_v2(
        &self,
        req: Request<SandboxCreateConnectTokenRequest>,
    ) -> Result<Response<SandboxCreateConnectTokenResponse>, Status> {
        self.connect_token(req.into_inner())
            .await
            .map(Response::new)
    }

    async fn sandbox_wait_until_ready(
        &self,
        req: Request<SandboxWaitUntilReadyRequest>,
    ) -> Result<Response<SandboxWaitUntilReadyResponse>, Status> {
        let req = req.into_inner();
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        let ready_at = self
            .state
            .wait_ready(&rec, secs(req.timeout, 300.0))
            .await?;
        Ok(Response::new(SandboxWaitUntilReadyResponse { ready_at }))
    }

    async fn sandbox_stdin_write(
        &self,
        req: Request<SandboxStdinWriteRequest>,
    ) -> Result<Response<SandboxStdinWriteResponse>, Status> {
        let req = req.into_inner();
        let rec = self.state.sandbox_record(&req.sandbox_id)?;
        let sb = self.state.running(&rec.id).ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", rec.id))
        })?;
        // V1 writes carry a 1-based index: a repeated index is a retry, applied once
        let last = lock(&self.state.v1_stdin_index)
            .get(&rec.id)
            .copied()
            .unwrap_or(0);
        if req.index <= last {
            return Ok(Response::new(SandboxStdinWriteResponse {}));
        }
        let next = last.saturating_add(1);
        if req.index != next {
            return Err(Status::failed_precondition(format!(
                "stdin write index {} out of order; the next index is {next}",
                req.index
            )));
        }
        let (offset, _) = sb.stdin.status().await;
        sb.stdin
            .write(offset, &req.input, req.eof)
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        sb.touch();
        lock(&self.state.v1_stdin_index).insert(rec.id, req.index);
        Ok(Response::new(SandboxStdinWriteResponse {}))
    }
}
