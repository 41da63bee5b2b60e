//! Shared helpers for the sandboxd integration tests: start a real `sandboxd` process on
//! its own port and state dir, and talk to it with Modal's generated tonic clients over
//! native gRPC (h2c) or gRPC-web (HTTP/1.1).
#![allow(dead_code)]

pub mod terminal;
pub mod wire;

use futures::future::BoxFuture;
use modal_proto::client::modal_client_client::ModalClientClient;
use modal_proto::client::{self as pb, generic_result::GenericStatus};
use modal_proto::task_command_router::task_command_router_client::TaskCommandRouterClient;
use modal_proto::task_command_router::{self as tcr};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tonic::body::Body;
use tonic::service::interceptor::InterceptedService;
use tonic::service::Interceptor;
use tonic::{Code, Request, Status};
use tower::util::BoxCloneService;
use tower::ServiceExt;

pub const TOKEN_ID: &str = "ak-test";
pub const TOKEN_SECRET: &str = "as-test";

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// One transport type for both native gRPC and gRPC-web, so every helper works over both.
pub type Svc = BoxCloneService<http::Request<Body>, http::Response<Body>, BoxError>;
pub type Cp = ModalClientClient<InterceptedService<Svc, Md>>;
pub type Tcr = TaskCommandRouterClient<InterceptedService<Svc, Md>>;

/// How a client reaches sandboxd.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transport {
    /// Native gRPC over HTTP/2 without TLS, as Modal's clients speak it.
    Grpc,
    /// gRPC-web over an HTTP/1.1-only client, as browsers speak it.
    GrpcWeb,
}

/// Metadata added to every request of a client.
#[derive(Clone, Default)]
pub struct Md(pub Vec<(&'static str, String)>);

impl Md {
    /// The workspace credentials a control-plane call needs (client type 1: Python).
    pub fn workspace() -> Self {
        Self::creds(TOKEN_ID, TOKEN_SECRET)
    }

    pub fn creds(id: &str, secret: &str) -> Self {
        let mut v = vec![("x-modal-client-type", "1".to_string())];
        if !id.is_empty() {
            v.push(("x-modal-token-id", id.to_string()));
        }
        if !secret.is_empty() {
            v.push(("x-modal-token-secret", secret.to_string()));
        }
        Self(v)
    }

    pub fn bearer(jwt: &str) -> Self {
        Self(vec![("authorization", format!("Bearer {jwt}"))])
    }
}

impl Interceptor for Md {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        for (k, v) in &self.0 {
            req.metadata_mut().insert(
                *k,
                v.parse()
                    .map_err(|_| Status::internal("bad metadata value"))?,
            );
        }
        Ok(req)
    }
}

/// Where the static helper binaries are, or a failure naming the command that builds them.
pub fn helpers_dir() -> PathBuf {
    let dir = std::env::var_os("SANDBOXD_HELPERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/x86_64-unknown-linux-gnu/release")
        });
    assert!(
        dir.join("modal-sandbox-init").is_file(),
        "modal-sandbox-init is missing from {}; build it with: \
         RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p modal-sandbox-init \
         --target x86_64-unknown-linux-gnu",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// Fail the test if `fut` takes longer than `secs`, naming `what`.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {secs}s: {what}"),
    }
}

/// A real sandboxd process with its own state dir; killed (and its mounts cleaned up) on
/// drop.
pub struct Sandboxd {
    child: Option<Child>,
    pub port: u16,
    /// Serving https (started with `--tls-cert`).
    pub tls: bool,
    dir: Option<TempDir>,
    pub state_dir: PathBuf,
    log: PathBuf,
    /// Leave what a stopped process left behind to whoever starts on its state dir next.
    keep_leftovers: bool,
}

impl Sandboxd {
    pub async fn start() -> Self {
        Self::start_in(TempDir::new().expect("tempdir")).await
    }

    /// Start with extra `serve` arguments (e.g. `--tls-cert`).
    pub async fn start_with(extra: &[String]) -> Self {
        Self::start_in_with(TempDir::new().expect("tempdir"), extra).await
    }

    /// Start on `dir` (reusing `dir/state` if a previous sandboxd left one there).
    pub async fn start_in(dir: TempDir) -> Self {
        Self::start_in_with(dir, &[]).await
    }

    pub async fn start_in_with(dir: TempDir, extra: &[String]) -> Self {
        let state_dir = dir.path().join("state");
        let log = dir.path().join("sandboxd.log");
        let helpers = helpers_dir();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandboxd"))
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state_dir)
            .args(["--token-id", TOKEN_ID, "--token-secret", TOKEN_SECRET])
            .arg("--helpers")
            .arg(&helpers)
            .args(extra)
            .env("RUST_LOG", "sandboxd=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting sandboxd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let rest = line
                    .strip_prefix("sandboxd: listening on http://127.0.0.1:")
                    .or_else(|| line.strip_prefix("sandboxd: listening on https://127.0.0.1:"));
                if let Some(rest) = rest {
                    let port: Option<u16> =
                        rest.split_whitespace().next().and_then(|p| p.parse().ok());
                    if let (Some(tx), Some(port)) = (tx.take(), port) {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let mut me = Self {
            child: Some(child),
            port: 0,
            tls: extra.iter().any(|a| a == "--tls-cert"),
            dir: Some(dir),
            state_dir,
            log,
            keep_leftovers: false,
        };
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(port)) => me.port = port,
            _ => panic!(
                "sandboxd did not print its listening line within 30s; its log:\n{}",
                me.log_tail(60)
            ),
        }
        me
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self, n: usize) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// This instance's name: the first 12 hex digits of the digest of its state dir.
    pub fn instance(&self) -> String {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(self.state_dir.to_string_lossy().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hex[..12].to_string()
    }

    /// `/run/sandboxd/<instance>`: where sandboxd mounts sandbox roots.
    pub fn run_root(&self) -> PathBuf {
        Path::new("/run/sandboxd").join(self.instance())
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The guardian `serve` starts beside itself (`sandboxd guard`), if it runs.
    pub fn guardian_pid(&self) -> Option<i32> {
        let me = self.pid()?.to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat
                .rsplit_once(") ")?
                .1
                .split_whitespace()
                .nth(1)?
                .to_string();
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            (ppid == me && cmd.split(|b| *b == 0).nth(1) == Some(b"guard")).then_some(pid)
        })
    }

    /// Send `signal` and wait up to `secs` for the process to exit; its exit status.
    pub fn stop_with(&mut self, signal: i32, secs: u64) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        unsafe { libc::kill(c.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("sandboxd did not exit within {secs}s of signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL the process (no chance to clean up), and wait for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill sandboxd and hand back its directory, for a restart on the same state.
    pub fn crash(mut self) -> Stopped {
        self.kill9();
        self.stopped()
    }

    /// Stop sandboxd with `signal` (it must exit within 30 s) and hand back its directory
    /// and exit status. Nothing is cleaned up for it: what it left stays to be counted.
    pub fn stop_keeping_dir(mut self, signal: i32) -> (Stopped, std::process::ExitStatus) {
        let status = self.stop_with(signal, 30).expect("sandboxd was running");
        (self.stopped(), status)
    }

    fn stopped(&mut self) -> Stopped {
        self.keep_leftovers = true;
        Stopped {
            dir: self.dir.take(),
            run_root: self.run_root(),
            state_dir: self.state_dir.clone(),
            instance: self.instance(),
        }
    }

    /// What this instance has on the machine now (see `Leftovers`).
    pub fn leftovers(&self) -> Leftovers {
        Leftovers::of(&self.run_root(), &self.state_dir, &self.instance())
    }

    fn cleanup_leftovers(&self) {
        cleanup(&self.run_root(), &self.state_dir, &self.instance());
    }

    /// A transport to this sandboxd.
    pub async fn svc(&self, t: Transport) -> Svc {
        svc_to(&self.url(), t).await
    }

    pub async fn cp_with(&self, t: Transport, md: Md) -> Cp {
        let svc = self.svc(t).await;
        ModalClientClient::with_origin(
            InterceptedService::new(svc, md),
            self.url().parse().unwrap(),
        )
        .max_decoding_message_size(64 << 20)
    }

    /// A control-plane client with the right credentials, over native gRPC.
    pub async fn cp(&self) -> Cp {
        self.cp_with(Transport::Grpc, Md::workspace()).await
    }
}

impl Drop for Sandboxd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- sandboxd log ({}), last lines:\n{}",
                self.log.display(),
                self.log_tail(40)
            );
        }
        // a clean stop, as a service manager does it; SIGKILL if it does not stop in time
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if !self.keep_leftovers {
            self.cleanup_leftovers();
        }
    }
}

/// A stopped (or killed) sandboxd's directory, to start another on. If no one does (a
/// test failed before), dropping it removes what the process left on the machine.
pub struct Stopped {
    dir: Option<TempDir>,
    run_root: PathBuf,
    state_dir: PathBuf,
    instance: String,
}

impl Stopped {
    pub fn into_dir(mut self) -> TempDir {
        self.dir.take().expect("the directory")
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.dir.is_some() {
            cleanup(&self.run_root, &self.state_dir, &self.instance);
        }
    }
}

/// A plaintext transport to the server at `url` (a sandboxd, or a gateway).
pub async fn svc_to(url: &str, t: Transport) -> Svc {
    match t {
        Transport::Grpc => {
            let ch = tonic::transport::Channel::from_shared(url.to_string())
                .unwrap()
                .connect()
                .await
                .expect("connecting to sandboxd (h2c)");
            BoxCloneService::new(ch.map_err(|e| -> BoxError { Box::new(e) }))
        }
        Transport::GrpcWeb => {
            let http1 =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .build_http::<tonic_web::GrpcWebCall<Body>>();
            let svc = tower::ServiceBuilder::new()
                .layer(tonic_web::GrpcWebClientLayer::new())
                .service(http1)
                .map_response(|r: http::Response<_>| {
                    assert_eq!(
                        r.version(),
                        http::Version::HTTP_11,
                        "gRPC-web went over HTTP/1.1"
                    );
                    let ct = r
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    assert!(
                        ct.starts_with("application/grpc-web"),
                        "content-type {ct:?}"
                    );
                    r.map(Body::new)
                })
                .map_err(|e| -> BoxError { Box::new(e) });
            BoxCloneService::new(svc)
        }
    }
}

/// A safety net for the machine if a test failed half-way: what a killed sandboxd
/// leaves behind (mounts under its run root and state dir, processes in its cgroups,
/// its cgroups), removed.
fn cleanup(run_root: &Path, state_dir: &Path, instance: &str) {
    let left = Leftovers::of(run_root, state_dir, instance);
    for pid in &left.processes {
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for m in &left.mounts {
        let _ = Command::new("umount").args(["-l"]).arg(m).status();
    }
    for c in CGROUP_CONTROLLERS {
        let parent = Path::new("/sys/fs/cgroup")
            .join(c)
            .join("sandboxd")
            .join(instance);
        remove_cgroup_tree(&parent);
    }
    let _ = std::fs::remove_dir_all(run_root);
}

const CGROUP_CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "freezer"];

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// What one sandboxd instance has on the machine, found the way an operator would look,
/// not through sandboxd's own bookkeeping: mounts (from /proc/self/mountinfo) under its
/// run root or state dir, cgroup directories under `sandboxd/<instance>` in any
/// controller, and processes that are in those cgroups or that are slirp4netns serving
/// one of its sandboxes (named by the sandbox's pid, which sits in those cgroups).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Leftovers {
    pub mounts: Vec<PathBuf>,
    pub cgroups: Vec<PathBuf>,
    pub processes: Vec<i32>,
}

impl Leftovers {
    pub fn of(run_root: &Path, state_dir: &Path, instance: &str) -> Self {
        let mut mounts: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(m.replace("\\040", " ")))
            .filter(|m| m.starts_with(run_root) || m.starts_with(state_dir))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
        let mut cgroups = Vec::new();
        for c in CGROUP_CONTROLLERS {
            let parent = Path::new("/sys/fs/cgroup")
                .join(c)
                .join("sandboxd")
                .join(instance);
            collect_dirs(&parent, &mut cgroups);
        }
        let marker = format!("/sandboxd/{instance}/");
        let mut processes = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if cg.contains(&marker) {
                processes.push(pid);
            }
        }
        Self {
            mounts,
            cgroups,
            processes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.mounts.is_empty() && self.cgroups.is_empty() && self.processes.is_empty()
    }

    /// (mounts, cgroups, processes)
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.mounts.len(), self.cgroups.len(), self.processes.len())
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(e.path());
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// slirp4netns processes on the machine: (pid, the sandbox pid it serves).
pub fn slirp_processes() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("slirp4netns")) {
            let target = args
                .iter()
                .filter_map(|a| a.parse::<i32>().ok())
                .next()
                .unwrap_or(0);
            out.push((pid, target));
        }
    }
    out
}

/// A TCR client for `access` (url + jwt), over `t`.
pub async fn tcr_with(sd: &Sandboxd, t: Transport, url: &str, md: Md) -> Tcr {
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
        "a Python-type client gets an http:// command router url on localhost, got {url:?}"
    );
    let svc = sd.svc(t).await;
    TaskCommandRouterClient::with_origin(InterceptedService::new(svc, md), url.parse().unwrap())
        .max_decoding_message_size(64 << 20)
}

/// What every test starts from: a sandboxd, a CP client, an app and the host base image.
pub struct Env {
    pub sd: Sandboxd,
    pub cp: Cp,
    pub transport: Transport,
    pub app_id: String,
    pub image_id: String,
}

impl Env {
    pub async fn new() -> Self {
        Self::with(Transport::Grpc).await
    }

    pub async fn with(t: Transport) -> Self {
        let sd = Sandboxd::start().await;
        Self::on(sd, t).await
    }

    pub async fn on(sd: Sandboxd, t: Transport) -> Self {
        let mut cp = sd.cp_with(t, Md::workspace()).await;
        let app_id = app(&mut cp, "itest").await;
        let image_id = image(&mut cp, &app_id).await;
        Self {
            sd,
            cp,
            transport: t,
            app_id,
            image_id,
        }
    }

    /// A sandbox definition on the base image with this entrypoint.
    pub fn def(&self, entrypoint: &[&str]) -> pb::Sandbox {
        pb::Sandbox {
            entrypoint_args: entrypoint.iter().map(|s| s.to_string()).collect(),
            image_id: self.image_id.clone(),
            timeout_secs: 120,
            ..Default::default()
        }
    }

    pub async fn create(&self, def: pb::Sandbox) -> Result<Sb, Status> {
        self.create_tagged(def, &[]).await
    }

    pub async fn create_tagged(
        &self,
        def: pb::Sandbox,
        tags: &[(&str, &str)],
    ) -> Result<Sb, Status> {
        let tags = tags
            .iter()
            .map(|(k, v)| pb::SandboxTag {
                tag_name: k.to_string(),
                tag_value: v.to_string(),
            })
            .collect();
        self.create_tagged_pb(def, tags).await
    }

    pub async fn create_tagged_pb(
        &self,
        def: pb::Sandbox,
        tags: Vec<pb::SandboxTag>,
    ) -> Result<Sb, Status> {
        let r = within(
            60,
            "SandboxCreateV2",
            self.cp
                .clone()
                .sandbox_create_v2(pb::SandboxCreateV2Request {
                    app_id: self.app_id.clone(),
                    definition: Some(def),
                    tags,
                    ..Default::default()
                }),
        )
        .await?
        .into_inner();
        let access = r.command_router_access.expect("command_router_access");
        assert!(!r.task_id.is_empty(), "task_id");
        let tcr = tcr_with(
            &self.sd,
            self.transport,
            &access.url,
            Md::bearer(&access.jwt),
        )
        .await;
        Ok(Sb {
            id: r.sandbox_id,
            task_id: r.task_id,
            jwt: access.jwt,
            url: access.url,
            tcr,
        })
    }

    /// A sandbox that just idles (the default entrypoint).
    pub async fn idle_sandbox(&self) -> Sb {
        let def = self.def(&[]);
        self.create(def).await.expect("create")
    }

    /// SandboxWaitV2 looped until there is a result, up to `secs`.
    pub async fn wait_result(&mut self, sandbox_id: &str, secs: u64) -> pb::GenericResult {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "sandbox {sandbox_id} gave no result within {secs}s"
            );
            let r = within(
                secs + 5,
                "SandboxWaitV2",
                self.cp.sandbox_wait_v2(pb::SandboxWaitRequest {
                    sandbox_id: sandbox_id.to_string(),
                    timeout: left.as_secs_f32().min(5.0),
                }),
            )
            .await
            .expect("SandboxWaitV2")
            .into_inner();
            if let Some(res) = r.result.filter(|r| r.status != 0) {
                return res;
            }
        }
    }

    /// SandboxWaitV2 with timeout 0 (poll).
    pub async fn poll(&mut self, sandbox_id: &str) -> Result<Option<pb::GenericResult>, Status> {
        let r = self
            .cp
            .sandbox_wait_v2(pb::SandboxWaitRequest {
                sandbox_id: sandbox_id.to_string(),
                timeout: 0.0,
            })
            .await?
            .into_inner();
        Ok(r.result.filter(|r| r.status != 0))
    }

    pub async fn terminate(&self, sandbox_id: &str) -> pb::SandboxTerminateResponse {
        within(
            30,
            "SandboxTerminateV2",
            self.cp
                .clone()
                .sandbox_terminate_v2(pb::SandboxTerminateRequest {
                    sandbox_id: sandbox_id.to_string(),
                }),
        )
        .await
        .expect("SandboxTerminateV2")
        .into_inner()
    }
}

pub async fn app(cp: &mut Cp, name: &str) -> String {
    within(
        20,
        "AppGetOrCreate",
        cp.app_get_or_create(pb::AppGetOrCreateRequest {
            app_name: name.into(),
            object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
            ..Default::default()
        }),
    )
    .await
    .expect("AppGetOrCreate")
    .into_inner()
    .app_id
}

/// ImageGetOrCreate + ImageJoinStreaming until eof; asserts SUCCESS.
pub async fn image(cp: &mut Cp, app_id: &str) -> String {
    image_of(cp, app_id, &["FROM debian:bookworm-slim"]).await
}

/// ImageGetOrCreate of `commands` + ImageJoinStreaming until eof; asserts SUCCESS.
pub async fn image_of(cp: &mut Cp, app_id: &str, commands: &[&str]) -> String {
    let id = within(
        60,
        "ImageGetOrCreate",
        cp.image_get_or_create(pb::ImageGetOrCreateRequest {
            app_id: app_id.into(),
            image: Some(pb::Image {
                dockerfile_commands: commands.iter().map(|c| c.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    )
    .await
    .expect("ImageGetOrCreate")
    .into_inner()
    .image_id;
    let mut last = String::new();
    within(60, "ImageJoinStreaming", async {
        loop {
            let mut s = cp
                .image_join_streaming(pb::ImageJoinStreamingRequest {
                    image_id: id.clone(),
                    timeout: 55.0,
                    last_entry_id: last.clone(),
                    ..Default::default()
                })
                .await
                .expect("ImageJoinStreaming")
                .into_inner();
            while let Some(m) = s.message().await.expect("ImageJoinStreaming message") {
                if !m.entry_id.is_empty() {
                    last = m.entry_id.clone();
                }
                if let Some(r) = &m.result {
                    if r.status != 0 {
                        assert_eq!(
                            r.status,
                            GenericStatus::Success as i32,
                            "image build failed: {}",
                            r.exception
                        );
                    }
                }
                if m.eof {
                    assert!(m.result.is_some(), "eof carries the result");
                    return;
                }
            }
        }
    })
    .await;
    id
}

/// A created sandbox and a TCR client for its task.
pub struct Sb {
    pub id: String,
    pub task_id: String,
    pub jwt: String,
    pub url: String,
    pub tcr: Tcr,
}

/// Exec options.
#[derive(Clone, Default)]
pub struct ExecOpts {
    pub timeout_secs: Option<u32>,
    /// stderr into the stdout stream
    pub merge_stderr: bool,
    pub stdout_devnull: bool,
}

/// The exit of a command: a code, or a signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The returncode a client reports: code, or 128+signal.
    pub fn returncode(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => 128 + s,
        }
    }
}

impl Sb {
    pub async fn exec_opts(&mut self, argv: &[&str], o: ExecOpts) -> Result<String, Status> {
        let exec_id = uuid::Uuid::new_v4().to_string();
        within(
            30,
            "TaskExecStart",
            self.tcr.task_exec_start(tcr::TaskExecStartRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.clone(),
                command_args: argv.iter().map(|s| s.to_string()).collect(),
                stdout_config: if o.stdout_devnull {
                    tcr::TaskExecStdoutConfig::Devnull
                } else {
                    tcr::TaskExecStdoutConfig::Pipe
                } as i32,
                stderr_config: if o.merge_stderr {
                    tcr::TaskExecStderrConfig::Stdout
                } else {
                    tcr::TaskExecStderrConfig::Pipe
                } as i32,
                timeout_secs: o.timeout_secs,
                ..Default::default()
            }),
        )
        .await?;
        Ok(exec_id)
    }

    pub async fn exec(&mut self, argv: &[&str]) -> String {
        self.exec_opts(argv, ExecOpts::default())
            .await
            .expect("TaskExecStart")
    }

    /// Open TaskExecStdioRead at `offset`.
    pub async fn stdio(
        &mut self,
        exec_id: &str,
        offset: u64,
        stderr: bool,
    ) -> Result<tonic::Streaming<tcr::TaskExecStdioReadResponse>, Status> {
        Ok(self
            .tcr
            .task_exec_stdio_read(tcr::TaskExecStdioReadRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.to_string(),
                offset,
                file_descriptor: if stderr {
                    tcr::TaskExecStdioFileDescriptor::Stderr
                } else {
                    tcr::TaskExecStdioFileDescriptor::Stdout
                } as i32,
            })
            .await?
            .into_inner())
    }

    /// Everything on one stream of an exec, until the stream ends OK.
    pub async fn read_all(&mut self, exec_id: &str, stderr: bool) -> Vec<u8> {
        let mut s = self
            .stdio(exec_id, 0, stderr)
            .await
            .expect("TaskExecStdioRead");
        within(60, "reading exec output to the end", async {
            let mut out = Vec::new();
            while let Some(m) = s.message().await.expect("TaskExecStdioRead message") {
                assert!(
                    !m.data.is_empty(),
                    "the server must never send an empty chunk"
                );
                out.extend_from_slice(&m.data);
            }
            out
        })
        .await
    }

    pub async fn wait(&mut self, exec_id: &str) -> Exit {
        let r = within(
            60,
            "TaskExecWait",
            self.tcr.task_exec_wait(tcr::TaskExecWaitRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.to_string(),
            }),
        )
        .await
        .expect("TaskExecWait")
        .into_inner();
        match r.exit_status.expect("exit_status is set") {
            tcr::task_exec_wait_response::ExitStatus::Code(c) => Exit::Code(c),
            tcr::task_exec_wait_response::ExitStatus::Signal(s) => Exit::Signal(s),
        }
    }

    /// Run a command to the end: (stdout, stderr, exit).
    pub async fn run(&mut self, argv: &[&str]) -> (String, String, Exit) {
        let id = self.exec(argv).await;
        let mut other = self.clone_client();
        let (out, err) = tokio::join!(self.read_all(&id, false), other.read_all(&id, true));
        let exit = self.wait(&id).await;
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
            exit,
        )
    }

    /// `sh -c script`, asserting exit 0; returns stdout.
    pub async fn sh(&mut self, script: &str) -> String {
        let (out, err, exit) = self.run(&["sh", "-c", script]).await;
        assert_eq!(
            exit,
            Exit::Code(0),
            "`{script}` failed: stdout {out:?} stderr {err:?}"
        );
        out
    }

    /// Another handle on the same sandbox (clients are cheap clones).
    pub fn clone_client(&self) -> Sb {
        Sb {
            id: self.id.clone(),
            task_id: self.task_id.clone(),
            jwt: self.jwt.clone(),
            url: self.url.clone(),
            tcr: self.tcr.clone(),
        }
    }
}

/// PROTOCOL.md's returncode rule: 124 on TIMEOUT, 137 on TERMINATED, else exitcode.
pub fn returncode(r: &pb::GenericResult) -> i32 {
    if r.status == GenericStatus::Timeout as i32 {
        124
    } else if r.status == GenericStatus::Terminated as i32 {
        137
    } else {
        r.exitcode
    }
}

pub fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, what: &str) -> Status {
    match r {
        Ok(v) => panic!("{what}: expected {code:?}, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "{what}: {s:?}");
            assert!(!s.message().is_empty(), "{what}: the status has a message");
            s
        }
    }
}

/// Poll `f` every 100 ms until it returns Some, up to `secs`.
pub async fn eventually<T>(
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> BoxFuture<'static, Option<T>>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {secs}s: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
