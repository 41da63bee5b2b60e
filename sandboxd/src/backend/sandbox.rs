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
use crate::logs::{self, LogJournal, Utf8Carry};
use crate::output::OutputBuffer;
use crate::sync::lock;
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
    /// Outbound traffic only to these IPv4 blocks (`None`: open), routed so inside the
    /// sandbox's network namespace, where nothing in the sandbox may change a route.
    pub outbound_allowlist: Option<Vec<(std::net::Ipv4Addr, u8)>>,
    /// Who may connect to the sandbox's tunnels and connect proxies.
    pub inbound: super::tunnels::Inbound,
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

    /// Wait for the command (killing what it started at `timeout`), record its status,
    /// and let go of what it held. The status is the command's own; children it left
    /// running (a server started with `&`) keep going, and keep its output open, until
    /// the sandbox ends.
    async fn supervise(
        self: Arc<Self>,
        mut child: Child,
        timeout: Option<Duration>,
        cgroup: Option<Cgroup>,
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
        self.status.send_replace(Some(
            status.map(ExitStatus::of).unwrap_or(ExitStatus::Code(-1)),
        ));
        // no file descriptor outlives the command (ended commands are kept for reading)
        self.stdin.release().await;
        if let Some(t) = &self.terminal {
            t.release();
        }
        // its group goes with it, unless children it left behind still run there
        if let Some(cg) = &cgroup {
            cg.remove_if_empty();
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
    /// The entrypoint's output as log entries (`AppFetchLogs`).
    pub logs: LogJournal,
    pub stdin: StdinSink,
    execs: Mutex<Execs>,
    outcome: watch::Sender<Option<Outcome>>,
    kill: watch::Sender<Option<Outcome>>,
    last_activity: Mutex<Instant>,
    /// A handle on the sandbox's network namespace while it runs (dropped at the end,
    /// so an ended sandbox kept for its output holds no namespace and no descriptor).
    netns: Mutex<Option<NetNs>>,
    tunnels: Mutex<Vec<Tunnel>>,
    /// Async (see `crate::sync`): opening a port's proxy awaits, and happens once per port.
    connect: tokio::sync::Mutex<Vec<ConnectProxy>>,
    ready_at: watch::Sender<Option<f64>>,
    /// Paths where images were mounted at run time (TaskMountDirectory), the only ones
    /// TaskUnmountDirectory may unmount.
    image_mounts: Mutex<Vec<String>>,
    /// Who may connect to its tunnels and connect proxies.
    inbound: super::tunnels::Inbound,
}

/// Where an entrypoint's stream is also kept as log entries, and as which source.
type LogTo<'a> = Option<(&'a LogJournal, i32)>;

async fn pump(mut from: impl AsyncRead + Unpin, to: &OutputBuffer, log: LogTo<'_>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = Utf8Carry::default();
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some((journal, fd)) = log {
                    journal.append(fd, now_ns(), &carry.push(&buf[..n]));
                }
                to.push(Bytes::copy_from_slice(&buf[..n])).await
            }
        }
    }
    if let Some((journal, fd)) = log {
        journal.append(fd, now_ns(), &carry.finish());
        journal.close(fd);
    }
    to.close();
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Copy a process's stdout and stderr into `stdout` and `stderr` until both end; a
/// stream the process does not have is closed at once. An entrypoint's (`logs`) are
/// also kept as log entries.
async fn pump_stdio(
    out: Option<impl AsyncRead + Unpin>,
    err: Option<impl AsyncRead + Unpin>,
    stdout: &OutputBuffer,
    stderr: &OutputBuffer,
    logs: Option<&LogJournal>,
) {
    async fn pump_or_close(
        from: Option<impl AsyncRead + Unpin>,
        to: &OutputBuffer,
        log: LogTo<'_>,
    ) {
        match from {
            Some(from) => pump(from, to, log).await,
            None => to.close(),
        }
    }
    tokio::join!(
        pump_or_close(out, stdout, logs.map(|j| (j, logs::STDOUT))),
        pump_or_close(err, stderr, logs.map(|j| (j, logs::STDERR)))
    );
}

/// Set each of `vars` in `env`, replacing an earlier value of the same name.
pub fn set_env(env: &mut Vec<(String, String)>, vars: impl IntoIterator<Item = (String, String)>) {
    for (k, v) in vars {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    }
}

/// The sandbox's root and its cgroups, made before anything runs in it.
fn prepare_root(config: &BackendConfig, spec: &SandboxSpec) -> Result<(Rootfs, Option<Cgroup>)> {
    let rootfs = Rootfs::mount(
        config.run_root.join(&spec.id),
        config.data_root.join(&spec.id),
        &spec.image,
        &spec.volumes,
        &config.volumes,
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

/// A running sandbox's network: its user-mode network (unless blocked), a handle on its
/// namespace, and the tunnels into it.
struct Network {
    slirp: Option<std::process::Child>,
    netns: Option<NetNs>,
    tunnels: Vec<Tunnel>,
}

impl Network {
    async fn open(
        config: &BackendConfig,
        spec: &SandboxSpec,
        inner_pid: i32,
        cgroup: Option<&Cgroup>,
    ) -> Result<Self> {
        let slirp = if !spec.block_network && config.slirp {
            match &spec.outbound_allowlist {
                None => start_slirp(inner_pid, cgroup, true).await.ok(),
                // an allowlist is never left open: the sandbox does not start without it
                Some(allowed) => {
                    let child = start_slirp(inner_pid, cgroup, false)
                        .await
                        .context("starting the sandbox's network")?;
                    super::netns::configure_allowlisted(inner_pid, allowed)
                        .await
                        .context("routing the sandbox's outbound allowlist")?;
                    Some(child)
                }
            }
        } else {
            None
        };
        let netns = NetNs::of_pid(inner_pid).ok();
        let mut tunnels = Vec::new();
        if let Some(ns) = &netns {
            for port in &spec.ports {
                tunnels.push(
                    Tunnel::open(ns.clone(), *port, spec.inbound.clone())
                        .await
                        .context("opening a tunnel")?,
                );
            }
        }
        Ok(Self {
            slirp,
            netns,
            tunnels,
        })
    }
}

impl Sandbox {
    /// Mount the root, start the entrypoint, and watch it until it ends.
    pub async fn start(config: &BackendConfig, spec: SandboxSpec) -> Result<Arc<Self>> {
        // mounts, a disk image and cgroup directories: blocking work, off the executor
        let cfg = config.clone();
        let (spec, (rootfs, cgroup)) = tokio::task::spawn_blocking(move || {
            let made = prepare_root(&cfg, &spec)?;
            anyhow::Ok((spec, made))
        })
        .await
        .context("preparing the sandbox's root")??;
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
        let net = Network::open(config, &spec, proc.inner_pid, cgroup.as_ref()).await?;
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
            logs: LogJournal::default(),
            stdin: StdinSink::new(proc.child.stdin.take()),
            execs: Mutex::new(Execs::default()),
            outcome: watch::channel(None).0,
            kill: watch::channel(None).0,
            last_activity: Mutex::new(Instant::now()),
            netns: Mutex::new(net.netns),
            tunnels: Mutex::new(net.tunnels),
            connect: tokio::sync::Mutex::new(Vec::new()),
            ready_at,
            image_mounts: Mutex::new(Vec::new()),
            inbound: spec.inbound.clone(),
        });
        {
            let mut live = lock(&config.live);
            live.retain(|_, w| w.strong_count() > 0);
            live.insert(sb.id.clone(), Arc::downgrade(&sb));
        }
        if let Some(probe) = spec.readiness.clone() {
            tokio::spawn(sb.clone().probe_readiness(probe));
        }
        let (out, err) = (proc.child.stdout.take(), proc.child.stderr.take());
        let sb2 = sb.clone();
        tokio::spawn(async move {
            pump_stdio(out, err, &sb2.stdout, &sb2.stderr, Some(&sb2.logs)).await
        });
        tokio::spawn(
            sb.clone()
                .supervise(proc.child, net.slirp, spec.timeout, spec.idle_timeout),
        );
        Ok(sb)
    }

    /// Wait for the end: the entrypoint exits, the sandbox times out or idles out, or it
    /// is ended; then clean up.
    async fn supervise(
        self: Arc<Self>,
        mut child: Child,
        slirp: Option<std::process::Child>,
        timeout: Duration,
        idle: Option<Duration>,
    ) {
        let started = Instant::now();
        let mut kill_rx = self.kill.subscribe();
        let idle_check = async {
            let Some(idle) = idle else {
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
            _ = tokio::time::sleep_until((started + timeout).into()) => Outcome::Timeout,
            _ = idle_check => Outcome::IdleTimeout,
            k = kill_rx.wait_for(|k| k.is_some()) => k.ok().and_then(|k| k.clone()).unwrap_or(Outcome::Terminated),
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
        if self.execs_running() {
            return Duration::ZERO;
        }
        lock(&self.last_activity).elapsed()
    }

    fn execs_running(&self) -> bool {
        lock(&self.execs).running() > 0
    }

    pub fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    /// The directory of the sandbox's writable layers (`upper`, `work`, ...) on the host,
    /// while the sandbox runs.
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        lock(&self.rootfs).as_ref().map(|r| r.data_dir.clone())
    }

    /// Commit the sandbox's writes to its volumes and mount their newest versions.
    pub async fn reload_volumes(self: &Arc<Self>) -> Result<()> {
        let sb = self.clone();
        tokio::task::spawn_blocking(move || match lock(&sb.rootfs).as_mut() {
            Some(fs) => fs.reload_volumes(),
            None => anyhow::bail!("the sandbox has ended"),
        })
        .await?
    }

    /// Remember that an image was mounted at `path` at run time.
    pub fn note_image_mount(&self, path: &str) {
        lock(&self.image_mounts).push(path.to_string());
    }

    /// Forget one image mount at `path`; false if there was none.
    pub fn forget_image_mount(&self, path: &str) -> bool {
        let mut m = lock(&self.image_mounts);
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
        lock(&self.rootfs).as_ref().map(|r| r.root.clone())
    }

    /// `(container port, host port)` of each tunnel.
    pub fn tunnel_ports(&self) -> Vec<(u16, u16)> {
        lock(&self.tunnels)
            .iter()
            .map(|t| (t.container_port, t.host_port))
            .collect()
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
                ConnectProxy::open(ns, port, self.inbound.clone())
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
        lock(&self.netns).clone()
    }

    async fn finish(&self, outcome: Outcome, mut child: Child, slirp: Option<std::process::Child>) {
        lock(&self.netns).take();
        self.connect.lock().await.clear();
        lock(&self.tunnels).clear();
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
        self.stdin.release().await;
        if let Some(mut s) = slirp {
            let _ = s.kill();
            // reaped off the executor: wait() blocks until the process is gone
            let _ = tokio::task::spawn_blocking(move || s.wait()).await;
        }
        // execs end when their processes die; give their waiters a moment to record it
        for _ in 0..100 {
            if !self.execs_running() {
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
        let rootfs = lock(&self.rootfs).take();
        if let Some(mut fs) = rootfs {
            // unmounting and removing a whole writable layer block: off the executor
            let removed = tokio::task::spawn_blocking(move || {
                fs.unmount();
                let _ = std::fs::remove_dir_all(&fs.data_dir);
            })
            .await;
            if let Err(e) = removed {
                tracing::error!(sandbox = %self.id, "removing the sandbox's root: {e}");
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
        lock(&self.execs).by_id.get(exec_id).cloned()
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
        let mut execs = lock(&self.execs);
        if let Some(e) = execs.by_id.get(exec_id) {
            return Ok(e.clone());
        }
        let running = execs.running();
        if running >= MAX_RUNNING_EXECS {
            return Err(ExecError::TooMany {
                running,
                max: MAX_RUNNING_EXECS,
            });
        }
        self.touch();
        execs.started += 1;
        let cgroup = self
            .cgroup
            .as_ref()
            .map(|cg| cg.child(&format!("ex-{}", execs.started)))
            .transpose()
            .context("creating the command's cgroup")?;
        let mut env = self.spec_env.clone();
        let terminal_env = terminal.as_ref().map(TerminalSpec::env).unwrap_or_default();
        set_env(&mut env, req.env.into_iter().chain(terminal_env));
        let (stdout, stderr, merged) = exec_stdio(req.stdout, req.stderr)?;
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
            stdout,
            stderr,
            terminal: control_fd,
        })?;
        let exec = Arc::new(Exec {
            stdout: OutputBuffer::default(),
            stderr: OutputBuffer::default(),
            stdin: StdinSink::new(child.stdin.take()),
            status: watch::channel(None).0,
            terminal: control,
        });
        execs.by_id.insert(exec_id.to_string(), exec.clone());
        execs.order.push_back(exec_id.to_string());
        execs.prune();
        drop(execs);
        let out: Option<Box<dyn AsyncRead + Unpin + Send>> = match merged {
            Some(r) => Some(Box::new(
                tokio::net::unix::pipe::Receiver::from_owned_fd(r.into())
                    .context("reading the command's output")?,
            )),
            None => child.stdout.take().map(|s| Box::new(s) as _),
        };
        let err = child.stderr.take();
        let e2 = exec.clone();
        tokio::spawn(async move { pump_stdio(out, err, &e2.stdout, &e2.stderr, None).await });
        tokio::spawn(exec.clone().supervise(child, req.timeout, cgroup));
        Ok(exec)
    }
}

/// A command's stdout and stderr; with stderr merged into stdout, both are one pipe (so
/// their bytes keep their order), whose read end comes third.
fn exec_stdio(
    stdout: bool,
    stderr: StderrMode,
) -> Result<(Stdio, Stdio, Option<std::io::PipeReader>)> {
    if stderr == StderrMode::Stdout {
        let (r, w) = std::io::pipe().context("pipe")?;
        let w2 = w.try_clone().context("pipe")?;
        return Ok((Stdio::from(w), Stdio::from(w2), Some(r)));
    }
    let piped_if = |piped: bool| if piped { Stdio::piped() } else { Stdio::null() };
    Ok((piped_if(stdout), piped_if(stderr == StderrMode::Pipe), None))
}

/// The sandbox's user-mode network. It joins the sandbox's cgroups (so it is ended, and
/// found after a crash, with the sandbox's processes) and dies with sandboxd. Returns once
/// slirp4netns reports tap0 configured (its --ready-fd), so the network is there when the
/// create call answers; a slirp4netns slower than SLIRP_READY_TIMEOUT is logged and kept.
/// slirp4netns on the sandbox's `tap0`; `configure` lets it bring the device up with a
/// default route (else the caller configures it, before any traffic can flow).
async fn start_slirp(
    pid: i32,
    cgroup: Option<&Cgroup>,
    configure: bool,
) -> Result<std::process::Child> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    const READY_FD: i32 = 3;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds that we own from here on.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("a pipe for slirp4netns");
    }
    let (ready_r, ready_w) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut cmd = std::process::Command::new("slirp4netns");
    if configure {
        cmd.arg("--configure");
    }
    cmd.args(["--mtu=65520", "--disable-host-loopback"])
        .arg(format!("--ready-fd={READY_FD}"))
        .arg(pid.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let procs = spawn::procs_paths(cgroup);
    let ready_w_raw = ready_w.as_raw_fd();
    unsafe {
        cmd.pre_exec(move || {
            spawn::join_cgroups(&procs)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // the copy dup2 makes has no O_CLOEXEC, so slirp4netns inherits it (and when
            // the pipe is fd 3 already, dup2 does nothing: clear the flag by hand)
            let inherited = if ready_w_raw == READY_FD {
                libc::fcntl(READY_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(ready_w_raw, READY_FD)
            };
            if inherited < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting slirp4netns")?;
    drop(ready_w); // EOF on ready_r if slirp4netns exits without reporting
    let ready = tokio::task::spawn_blocking(move || {
        let mut pfd = libc::pollfd {
            fd: ready_r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let waited = unsafe { libc::poll(&mut pfd, 1, SLIRP_READY_TIMEOUT.as_millis() as i32) };
        let mut byte = [0u8; 1];
        waited == 1 && unsafe { libc::read(ready_r.as_raw_fd(), byte.as_mut_ptr().cast(), 1) } == 1
    })
    .await
    .unwrap_or(false);
    if !ready {
        tracing::warn!(pid, "slirp4netns did not report the network ready in time");
    }
    Ok(child)
}

const SLIRP_READY_TIMEOUT: Duration = Duration::from_secs(5);
