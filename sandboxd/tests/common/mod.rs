//! Shared helpers for the sandboxd integration tests: start a real `sandboxd` process on
//! its own port and state dir, and talk to it with Modal's generated tonic clients over
//! native gRPC (h2c) or gRPC-web (HTTP/1.1).
#![allow(dead_code)]

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

    /// `/run/sandboxd/<digest of the state dir>`: where sandboxd mounts sandbox roots.
    fn run_root(&self) -> PathBuf {
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(self.state_dir.to_string_lossy().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Path::new("/run/sandboxd").join(&hex[..12])
    }

    /// SIGKILL the process (no chance to clean up), and wait for it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kill sandboxd and hand back its directory, for a restart on the same state.
    pub fn crash(mut self) -> TempDir {
        self.kill9();
        self.dir.take().unwrap()
    }

    /// What a killed sandboxd leaves behind: mounts under its run root, cgroups.
    fn cleanup_leftovers(&self) {
        let root = self.run_root();
        let prefix = format!("{}/", root.display());
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in &mounts {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        if let Ok(rd) = std::fs::read_dir(&root) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().to_string();
                if !id.starts_with("sb-") {
                    continue;
                }
                for c in ["memory", "pids", "cpu", "freezer"] {
                    let cg = Path::new("/sys/fs/cgroup")
                        .join(c)
                        .join("sandboxd")
                        .join(&id);
                    if let Ok(kids) = std::fs::read_dir(&cg) {
                        for k in kids.flatten() {
                            if k.path().is_dir() {
                                let _ = std::fs::remove_dir(k.path());
                            }
                        }
                    }
                    let _ = std::fs::remove_dir(&cg);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&root);
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
        self.kill9();
        self.cleanup_leftovers();
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

    pub async fn create(&mut self, def: pb::Sandbox) -> Result<Sb, Status> {
        self.create_tagged(def, &[]).await
    }

    pub async fn create_tagged(
        &mut self,
        def: pb::Sandbox,
        tags: &[(&str, &str)],
    ) -> Result<Sb, Status> {
        let r = within(
            60,
            "SandboxCreateV2",
            self.cp.sandbox_create_v2(pb::SandboxCreateV2Request {
                app_id: self.app_id.clone(),
                definition: Some(def),
                tags: tags
                    .iter()
                    .map(|(k, v)| pb::SandboxTag {
                        tag_name: k.to_string(),
                        tag_value: v.to_string(),
                    })
                    .collect(),
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
    pub async fn idle_sandbox(&mut self) -> Sb {
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

    pub async fn terminate(&mut self, sandbox_id: &str) -> pb::SandboxTerminateResponse {
        within(
            30,
            "SandboxTerminateV2",
            self.cp.sandbox_terminate_v2(pb::SandboxTerminateRequest {
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
    let id = within(
        60,
        "ImageGetOrCreate",
        cp.image_get_or_create(pb::ImageGetOrCreateRequest {
            app_id: app_id.into(),
            image: Some(pb::Image {
                dockerfile_commands: vec!["FROM debian:bookworm-slim".into()],
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
