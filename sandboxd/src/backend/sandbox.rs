//! One sandbox's life: start, run commands in it, stream their stdio, end it (exit,
//! terminate, timeout, idle timeout), clean up.

use super::cgroup::{self, Cgroup, Limits};
use super::connect_proxy::ConnectProxy;
use super::netns::NetNs;
use super::rootfs::{ImageLayers, Rootfs, VolumeBind};
use super::spawn::{self, EntrypointSpec, ExecSpec};
use super::stdin::StdinSink;
use super::terminal::{ResizeError, TerminalControl, TerminalSize, TerminalSpec};
use super::tunnels::Tunnel;
use super::BackendConfig;
use crate::output::OutputBuffer;
use anyhow::{Context, Result};
use bytes::Bytes;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Child;
use tokio::sync::watch;

/// How a sandbox ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Exited(i32),
    Terminated,
    Timeout,
    IdleTimeout,
    /// sandboxd itself stopped (SIGTERM, SIGINT) while the sandbox ran.
    ServerStopped,
    Failed(String),
}

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    fn of(s: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (s.code(), s.signal()) {
            (Some(c), _) => ExitStatus::Code(c),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            _ => ExitStatus::Code(-1),
        }
    }
}

pub struct SandboxSpec {
    pub id: String,
    pub entrypoint: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: String,
    pub image: ImageLayers,
    pub volumes: Vec<VolumeBind>,
    pub limits: Limits,
    pub block_network: bool,
    pub timeout: Duration,
    pub idle_timeout: Option<Duration>,
    /// Ports forwarded from the host (tunnels).
    pub ports: Vec<u16>,
    pub readiness: Option<Readiness>,
    /// Size cap of the writable layer in MiB; 0 for none.
    pub disk_mib: u64,
}

/// A readiness probe: the sandbox is ready once this succeeds.
#[derive(Clone, Debug)]
pub enum Readiness {
    Tcp {
        port: u16,
        interval: Duration,
    },
    Exec {
        argv: Vec<String>,
        interval: Duration,
    },
}

/// A command running (or finished) inside a sandbox.
pub struct Exec {
    pub stdout: OutputBuffer,
    pub stderr: OutputBuffer,
    pub stdin: StdinSink,
    status: watch::Sender<Option<ExitStatus>>,
    /// The resize pipe of a command on a terminal.
    terminal: Option<TerminalControl>,
}

impl Exec {
    /// Resize the command's terminal; a command that has ended ignores it.
    pub fn resize(&self, size: TerminalSize) -> Result<(), ResizeError> {
        match &self.terminal {
            Some(t) => t.resize(size),
            None => Err(ResizeError::NoTerminal),
        }
    }

    pub fn poll(&self) -> Option<ExitStatus> {
        *self.status.borrow()
    }

    pub async fn wait(&self) -> ExitStatus {
        let mut rx = self.status.subscribe();
        loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                return self.poll().unwrap_or(ExitStatus::Signal(libc::SIGKILL));
            }
        }
    }
}

pub struct ExecRequest {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: Option<String>,
    pub timeout: Option<Duration>,
    pub stdout: bool,
    pub stderr: StderrMode,
}

/// Why a command did not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the sandbox has already finished")]
    Finished,
    #[error("{running} commands are already running in this sandbox (at most {max} at once); wait for one to end")]
    TooMany { running: usize, max: usize },
    #[error("could not start the command: {0:#}")]
    Start(#[from] anyhow::Error),
}

/// Why a connect token was not made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "connect tokens are open on {0} ports of this sandbox already (the most there may be)"
    )]
    TooManyPorts(usize),
    #[error("{0} connect tokens were made for this port already (the most there may be)")]
    TooManyTokens(usize),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Commands that may run at once in one sandbox.
pub const MAX_RUNNING_EXECS: usize = 128;
/// Ended commands whose output and exit status stay readable, per sandbox (the oldest
/// go first).
pub const KEEP_ENDED_EXECS: usize = 256;

/// The commands of one sandbox, in start order.
#[derive(Default)]
struct Execs {
    by_id: HashMap<String, Arc<Exec>>,
    order: std::collections::VecDeque<String>,
    /// Names the next exec's cgroup (never reused, unlike a count of live execs).
    started: u64,
}

impl Execs {
    fn running(&self) -> usize {
        self.by_id.values().filter(|e| e.poll().is_none()).count()
    }

    /// Forget the oldest ended commands beyond `KEEP_ENDED_EXECS`.
    fn prune(&mut self) {
        let ended = self.by_id.len() - self.running();
        let mut excess = ended.saturating_sub(KEEP_ENDED_EXECS);
        let mut i = 0;
        while excess > 0 && i < self.order.len() {
            let ended = self
                .by_id
                .get(&self.order[i])
                .is_none_or(|e| e.poll().is_some());
            if ended {
                if let Some(id) = self.order.remove(i) {
                    self.by_id.remove(&id);
                }
                excess -= 1;
            } else {
                i += 1;
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum StderrMode {
    Pipe,
    DevNull,
    Stdout,
}

pub struct Sandbox {
    pub id: String,
    spec_env: Vec<(String, String)>,
    workdir: String,
    inner_pid: i32,
    cgroup: Option<Cgroup>,
    rootfs: Mutex<Option<Rootfs>>,
    pub stdout: OutputBuffer,
    pub stderr: OutputBuffer,
    pub stdin: StdinSink,
    execs: Mutex<Execs>,
    outcome: watch::Sender<Option<Outcome>>,
    kill: watch::Sender<Option<Outcome>>,
    last_activity: Mutex<Instant>,
    /// A handle on the sandbox's network namespace while it runs (dropped at the end,
    /// so an ended sandbox kept for its output holds no namespace and no descriptor).
    netns: Mutex<Option<NetNs>>,
    tunnels: Mutex<Vec<Tunnel>>,
    connect: tokio::sync::Mutex<Vec<ConnectProxy>>,
    ready_at: watch::Sender<Option<f64>>,
    /// Paths where images were mounted at run time (TaskMountDirectory), the only ones
    /// TaskUnmountDirectory may unmount.
    image_mounts: Mutex<Vec<String>>,
}

async fn pump(mut from: impl AsyncRead + Unpin, to: &OutputBuffer) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => to.push(Bytes::copy_from_slice(&buf[..n])).await,
        }
    }
    to.close();
}

impl Sandbox {
    /// Mount the root, start the entrypoint, and watch it until it ends.
    pub async fn start(config: &BackendConfig, spec: SandboxSpec) -> Result<Arc<Self>> {
        let (rootfs, cgroup) = prepare(config, &spec)?;
        let mut proc = spawn::start_entrypoint(EntrypointSpec {
            root: &rootfs.root,
            argv: &spec.entrypoint,
            env: &spec.env,
            workdir: &spec.workdir,
            hostname: "modal",
            uid: config.uid,
            cgroup: cgroup.as_ref(),
        })
        .await?;
        let net = Network::start(config, &spec, proc.inner_pid, cgroup.as_ref()).await?;
        let (outcome, _) = watch::channel(None);
        let (kill, kill_rx) = watch::channel(None);
        let (ready_at, _) = watch::channel(spec.readiness.is_none().then(crate::auth::now_f64));
        let sb = Arc::new(Sandbox {
            id: spec.id.clone(),
            spec_env: spec.env.clone(),
            workdir: spec.workdir.clone(),
            inner_pid: proc.inner_pid,
            cgroup,
            rootfs: Mutex::new(Some(rootfs)),
            stdout: OutputBuffer::default(),
            stderr: OutputBuffer::default(),
            stdin: StdinSink::new(proc.child.stdin.take()),
            execs: Mutex::new(Execs::default()),
            outcome,
            kill,
            last_activity: Mutex::new(Instant::now()),
            netns: Mutex::new(net.netns),
            tunnels: Mutex::new(net.tunnels),
            connect: tokio::sync::Mutex::new(Vec::new()),
            ready_at,
            image_mounts: Mutex::new(Vec::new()),
        });
        if let Ok(mut live) = config.live.lock() {
            live.retain(|_, w| w.strong_count() > 0);
            live.insert(sb.id.clone(), Arc::downgrade(&sb));
        }
        if let Some(probe) = spec.readiness.clone() {
            tokio::spawn(sb.clone().probe_readiness(probe));
        }
        pump_outputs(
            proc.child.stdout.take().map(|o| Box::new(o) as _),
            proc.child.stderr.take().map(|e| Box::new(e) as _),
            sb.clone(),
            |sb| (&sb.stdout, &sb.stderr),
        );
        let lifetime = Lifetime {
            timeout: spec.timeout,
            idle: spec.idle_timeout,
            kill: kill_rx,
        };
        tokio::spawn(sb.clone().watch(proc.child, net.slirp, lifetime));
        Ok(sb)
    }

    /// Wait for the end of the sandbox (its entrypoint exits, a timeout, a terminate),
    /// then clean up.
    async fn watch(
        self: Arc<Self>,
        mut child: Child,
        slirp: Option<std::process::Child>,
        mut life: Lifetime,
    ) {
        let started = Instant::now();
        let idle_check = async {
            let Some(idle) = life.idle else {
                return std::future::pending::<()>().await;
            };
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if self.idle_for() >= idle {
                    return;
                }
            }
        };
        let outcome = tokio::select! {
            status = child.wait() => match status {
                Ok(s) => match ExitStatus::of(s) {
                    ExitStatus::Code(c) => Outcome::Exited(c),
                    ExitStatus::Signal(sig) => Outcome::Exited(128 + sig),
                },
                Err(e) => Outcome::Failed(format!("waiting for the sandbox: {e}")),
            },
            _ = tokio::time::sleep_until((started + life.timeout).into()) => Outcome::Timeout,
            _ = idle_check => Outcome::IdleTimeout,
            k = life.kill.wait_for(|k| k.is_some()) => k.ok().and_then(|k| k.clone()).unwrap_or(Outcome::Terminated),
        };
        self.finish(outcome, child, slirp).await;
    }

    async fn probe_readiness(self: Arc<Self>, probe: Readiness) {
        let interval = match &probe {
            Readiness::Tcp { interval, .. } | Readiness::Exec { interval, .. } => *interval,
        };
        let mut attempt = 0u64;
        while self.outcome().is_none() {
            let ok = match &probe {
                Readiness::Tcp { port, .. } => match self.netns() {
                    Some(ns) => ns.connect(*port).await.is_ok(),
                    None => false,
                },
                Readiness::Exec { argv, .. } => {
                    attempt += 1;
                    let req = ExecRequest {
                        argv: argv.clone(),
                        env: vec![],
                        workdir: None,
                        timeout: Some(Duration::from_secs(30)),
                        stdout: false,
                        stderr: StderrMode::DevNull,
                    };
                    match self.exec(&format!("readiness-probe-{attempt}"), req) {
                        Ok(e) => e.wait().await == ExitStatus::Code(0),
                        Err(_) => false,
                    }
                }
            };
            if ok {
                self.ready_at.send_replace(Some(crate::auth::now_f64()));
                return;
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// When the sandbox became ready, waiting up to `timeout`; `None` if not (yet).
    pub async fn wait_ready(&self, timeout: Duration) -> Option<f64> {
        let mut rx = self.ready_at.subscribe();
        let mut done = self.outcome.subscribe();
        tokio::select! {
            _ = tokio::time::timeout(timeout, rx.wait_for(|r| r.is_some())) => {},
            _ = done.wait_for(|o| o.is_some()) => {},
        }
        *self.ready_at.borrow()
    }

    fn idle_for(&self) -> Duration {
        let running_execs = self.execs.lock().map(|m| m.running() > 0).unwrap_or(false);
        if running_execs {
            return Duration::ZERO;
        }
        self.last_activity
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    pub fn touch(&self) {
        if let Ok(mut t) = self.last_activity.lock() {
            *t = Instant::now();
        }
    }

    /// The directory of the sandbox's writable layers (`upper`, `work`, ...) on the host,
    /// while the sandbox runs.
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        self.rootfs
            .lock()
            .ok()?
            .as_ref()
            .map(|r| r.data_dir.clone())
    }

    /// Remember that an image was mounted at `path` at run time.
    pub fn note_image_mount(&self, path: &str) {
        if let Ok(mut m) = self.image_mounts.lock() {
            m.push(path.to_string());
        }
    }

    /// Forget one image mount at `path`; false if there was none.
    pub fn forget_image_mount(&self, path: &str) -> bool {
        let Ok(mut m) = self.image_mounts.lock() else {
            return false;
        };
        match m.iter().rposition(|p| p == path) {
            Some(i) => {
                m.remove(i);
                true
            }
            None => false,
        }
    }

    /// The merged root on the host, while the sandbox runs.
    pub fn root_path(&self) -> Option<std::path::PathBuf> {
        self.rootfs.lock().ok()?.as_ref().map(|r| r.root.clone())
    }

    /// `(container port, host port)` of each tunnel.
    pub fn tunnel_ports(&self) -> Vec<(u16, u16)> {
        self.tunnels
            .lock()
            .map(|t| t.iter().map(|t| (t.container_port, t.host_port)).collect())
            .unwrap_or_default()
    }

    /// Admit `token` to `port` through this sandbox's connect proxy; returns the proxy's
    /// host port. At most `max_ports` proxies per sandbox (each holds a host port), at
    /// most `max_tokens` tokens per proxy.
    pub async fn connect_token(
        &self,
        port: u16,
        token: String,
        max_ports: usize,
        max_tokens: usize,
    ) -> Result<u16, ConnectError> {
        let ns = self
            .netns()
            .context("the sandbox has no network namespace")?;
        let mut proxies = self.connect.lock().await;
        if !proxies.iter().any(|p| p.port == port) {
            if proxies.len() >= max_ports {
                return Err(ConnectError::TooManyPorts(max_ports));
            }
            proxies.push(
                ConnectProxy::open(ns, port)
                    .await
                    .context("opening the connect proxy")?,
            );
        }
        let p = proxies
            .iter()
            .find(|p| p.port == port)
            .context("connect proxy")?;
        if p.token_count() >= max_tokens {
            return Err(ConnectError::TooManyTokens(max_tokens));
        }
        p.admit(token);
        Ok(p.host_port)
    }

    fn netns(&self) -> Option<NetNs> {
        self.netns.lock().ok()?.clone()
    }

    async fn finish(&self, outcome: Outcome, mut child: Child, slirp: Option<std::process::Child>) {
        if let Ok(mut ns) = self.netns.lock() {
            ns.take();
        }
        self.connect.lock().await.clear();
        if let Ok(mut t) = self.tunnels.lock() {
            t.clear();
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
        self.stdin.release().await;
        if let Some(mut s) = slirp {
            let _ = s.kill();
            let _ = s.wait();
        }
        // execs end when their processes die; give their waiters a moment to record it
        for _ in 0..100 {
            let running = self.execs.lock().map(|m| m.running() > 0).unwrap_or(false);
            if !running {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let outcome = match (&outcome, &self.cgroup) {
            (Outcome::Exited(137), Some(cg)) if cg.oom_killed() => {
                Outcome::Failed("the sandbox ran out of memory and was killed (exit 137)".into())
            }
            _ => outcome,
        };
        if let Ok(mut r) = self.rootfs.lock() {
            if let Some(mut fs) = r.take() {
                fs.unmount();
                let _ = std::fs::remove_dir_all(&fs.data_dir);
            }
        }
        if let Some(cg) = &self.cgroup {
            cg.remove();
        }
        self.outcome.send_replace(Some(outcome));
    }

    /// The outcome, once the sandbox has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.borrow().clone()
    }

    /// Wait up to `timeout` for the end.
    pub async fn wait(&self, timeout: Duration) -> Option<Outcome> {
        let mut rx = self.outcome.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|o| o.is_some())).await;
        self.outcome()
    }

    /// End the sandbox (kills everything in it); returns once it has ended.
    pub async fn terminate(&self, why: Outcome) -> Outcome {
        self.kill.send_if_modified(|k| {
            if k.is_none() {
                *k = Some(why);
                true
            } else {
                false
            }
        });
        let mut rx = self.outcome.subscribe();
        let _ = rx.wait_for(|o| o.is_some()).await;
        self.outcome().unwrap_or(Outcome::Terminated)
    }

    pub fn exec_handle(&self, exec_id: &str) -> Option<Arc<Exec>> {
        self.execs.lock().ok()?.by_id.get(exec_id).cloned()
    }

    /// Start a command; idempotent by `exec_id` (a second start returns the first).
    pub fn exec(&self, exec_id: &str, req: ExecRequest) -> Result<Arc<Exec>, ExecError> {
        self.start_command(exec_id, req, None)
    }

    /// Start a command on a pseudo-terminal (`TerminalSpec`); idempotent like `exec`.
    pub fn exec_on_terminal(
        &self,
        exec_id: &str,
        req: ExecRequest,
        terminal: TerminalSpec,
    ) -> Result<Arc<Exec>, ExecError> {
        self.start_command(exec_id, req, Some(terminal))
    }

    fn start_command(
        &self,
        exec_id: &str,
        req: ExecRequest,
        terminal: Option<TerminalSpec>,
    ) -> Result<Arc<Exec>, ExecError> {
        if self.outcome().is_some() {
            return Err(ExecError::Finished);
        }
        let mut execs = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = execs.by_id.get(exec_id) {
            return Ok(e.clone());
        }
        let cgroup = self.admit(&mut execs)?;
        let mut env = self.spec_env.clone();
        let terminal_env = terminal.as_ref().map(TerminalSpec::env).unwrap_or_default();
        for (k, v) in req.env.into_iter().chain(terminal_env) {
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        }
        let pipes = OutputPipes::new(req.stdout, req.stderr)?;
        let (control_fd, control) = match &terminal {
            Some(t) => {
                let (fd, control) = TerminalControl::pipe()?;
                (Some((t.size, fd)), Some(control))
            }
            None => (None, None),
        };
        let workdir = req.workdir.unwrap_or_else(|| self.workdir.clone());
        let mut child = spawn::start_exec(ExecSpec {
            inner_pid: self.inner_pid,
            argv: &req.argv,
            env: &env,
            workdir: &workdir,
            cgroup: cgroup.as_ref(),
            stdout: pipes.stdout,
            stderr: pipes.stderr,
            terminal: control_fd,
        })?;
        let (status, _) = watch::channel(None);
        let exec = Arc::new(Exec {
            stdout: OutputBuffer::default(),
            stderr: OutputBuffer::default(),
            stdin: StdinSink::new(child.stdin.take()),
            status,
            terminal: control,
        });
        execs.by_id.insert(exec_id.to_string(), exec.clone());
        execs.order.push_back(exec_id.to_string());
        execs.prune();
        drop(execs);
        let out: Option<Box<dyn AsyncRead + Unpin + Send>> = match pipes.merged {
            Some(r) => Some(Box::new(
                tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())
                    .context("reading the command's output")?,
            )),
            None => child.stdout.take().map(|s| Box::new(s) as _),
        };
        let err = child.stderr.take().map(|e| Box::new(e) as _);
        pump_outputs(out, err, exec.clone(), |e| (&e.stdout, &e.stderr));
        tokio::spawn(watch_command(exec.clone(), child, cgroup, req.timeout));
        Ok(exec)
    }

    /// Room for one more command: under the running limit, its own cgroup.
    fn admit(&self, execs: &mut Execs) -> Result<Option<Cgroup>, ExecError> {
        let running = execs.running();
        if running >= MAX_RUNNING_EXECS {
            return Err(ExecError::TooMany {
                running,
                max: MAX_RUNNING_EXECS,
            });
        }
        self.touch();
        execs.started += 1;
        Ok(match &self.cgroup {
            Some(cg) => Some(
                cg.child(&format!("ex-{}", execs.started))
                    .context("creating the command's cgroup")?,
            ),
            None => None,
        })
    }
}

/// When a sandbox ends by itself: its timeouts, and the terminate signal.
struct Lifetime {
    timeout: Duration,
    idle: Option<Duration>,
    kill: watch::Receiver<Option<Outcome>>,
}

/// The root and the cgroups of a sandbox about to start.
fn prepare(config: &BackendConfig, spec: &SandboxSpec) -> Result<(Rootfs, Option<Cgroup>)> {
    let rootfs = Rootfs::mount(
        config.run_root.join(&spec.id),
        config.data_root.join(&spec.id),
        &spec.image,
        &spec.volumes,
        &config.helpers,
        Some(&spec.workdir),
        config.uid,
        Some((&config.disk, spec.disk_mib)),
    )?;
    let cgroup = if cgroup::available() {
        Some(
            Cgroup::create(&config.cgroup_parent(), &spec.id, &spec.limits)
                .context("creating the sandbox's cgroups")?,
        )
    } else {
        None
    };
    Ok((rootfs, cgroup))
}

/// A started sandbox's network: outbound through slirp4netns (unless blocked), a handle
/// on its namespace, the tunnels to its open ports.
struct Network {
    slirp: Option<std::process::Child>,
    netns: Option<NetNs>,
    tunnels: Vec<Tunnel>,
}

impl Network {
    async fn start(
        config: &BackendConfig,
        spec: &SandboxSpec,
        pid: i32,
        cgroup: Option<&Cgroup>,
    ) -> Result<Network> {
        let slirp = if !spec.block_network && config.slirp {
            start_slirp(pid, cgroup).ok()
        } else {
            None
        };
        let netns = NetNs::of_pid(pid).ok();
        let mut tunnels = Vec::new();
        if let Some(ns) = &netns {
            for port in &spec.ports {
                tunnels.push(
                    Tunnel::open(ns.clone(), *port)
                        .await
                        .context("opening a tunnel")?,
                );
            }
        }
        Ok(Network {
            slirp,
            netns,
            tunnels,
        })
    }
}

/// Where a command's stdout and stderr go: pipes, /dev/null, or one pipe for both.
struct OutputPipes {
    stdout: Stdio,
    stderr: Stdio,
    /// The read end of the one pipe for both, in order (stderr to stdout).
    merged: Option<std::io::PipeReader>,
}

impl OutputPipes {
    fn new(stdout: bool, stderr: StderrMode) -> Result<OutputPipes> {
        if stderr == StderrMode::Stdout {
            let (r, w) = std::io::pipe().context("pipe")?;
            let w2 = w.try_clone().context("pipe")?;
            return Ok(OutputPipes {
                stdout: Stdio::from(w),
                stderr: Stdio::from(w2),
                merged: Some(r),
            });
        }
        let piped_or_null = |p: bool| if p { Stdio::piped() } else { Stdio::null() };
        Ok(OutputPipes {
            stdout: piped_or_null(stdout),
            stderr: piped_or_null(stderr == StderrMode::Pipe),
            merged: None,
        })
    }
}

type Output = Option<Box<dyn AsyncRead + Unpin + Send>>;

/// Copy a process's stdout and stderr into the output buffers of `owner` (a sandbox or
/// a command); a missing one is closed at once.
fn pump_outputs<T: Send + Sync + 'static>(
    out: Output,
    err: Output,
    owner: Arc<T>,
    buffers: fn(&T) -> (&OutputBuffer, &OutputBuffer),
) {
    tokio::spawn(async move {
        let (stdout, stderr) = buffers(&owner);
        tokio::join!(
            async {
                match out {
                    Some(o) => pump(o, stdout).await,
                    None => stdout.close(),
                }
            },
            async {
                match err {
                    Some(e) => pump(e, stderr).await,
                    None => stderr.close(),
                }
            }
        );
    });
}

/// The command's own status is its exit status; children it left running (a server
/// started with `&`) keep going, and keep its output open, until the sandbox ends.
async fn watch_command(
    exec: Arc<Exec>,
    mut child: Child,
    cgroup: Option<Cgroup>,
    timeout: Option<Duration>,
) {
    let status = match timeout {
        Some(t) => match tokio::time::timeout(t, child.wait()).await {
            Ok(s) => s,
            Err(_) => {
                if let Some(cg) = &cgroup {
                    cg.kill_all();
                }
                let _ = child.start_kill();
                child.wait().await
            }
        },
        None => child.wait().await,
    };
    exec.status.send_replace(Some(
        status.map(ExitStatus::of).unwrap_or(ExitStatus::Code(-1)),
    ));
    // no file descriptor outlives the command (ended commands are kept for reading)
    exec.stdin.release().await;
    if let Some(t) = &exec.terminal {
        t.release();
    }
    // its group goes with it, unless children it left behind still run there
    if let Some(cg) = &cgroup {
        cg.remove_if_empty();
    }
}

/// The sandbox's user-mode network. It joins the sandbox's cgroups (so it is ended, and
/// found after a crash, with the sandbox's processes) and dies with sandboxd.
fn start_slirp(pid: i32, cgroup: Option<&Cgroup>) -> Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("slirp4netns");
    cmd.args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg(pid.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let procs = spawn::procs_paths(cgroup);
    unsafe {
        cmd.pre_exec(move || {
            spawn::join_cgroups(&procs)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().context("starting slirp4netns")
}
