//! One sandbox's life: start, run commands in it, stream their stdio, end it (exit,
//! terminate, timeout, idle timeout), clean up.

use super::cgroup::{self, Cgroup, Limits};
use super::connect_proxy::ConnectProxy;
use super::netns::NetNs;
use super::rootfs::{ImageLayers, Rootfs, VolumeBind};
use super::spawn::{self, EntrypointSpec, ExecSpec};
use super::stdin::StdinSink;
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
}

impl Exec {
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
    execs: Mutex<HashMap<String, Arc<Exec>>>,
    outcome: watch::Sender<Option<Outcome>>,
    kill: watch::Sender<Option<Outcome>>,
    last_activity: Mutex<Instant>,
    pub netns: Option<NetNs>,
    tunnels: Mutex<Vec<Tunnel>>,
    connect: tokio::sync::Mutex<Vec<ConnectProxy>>,
    ready_at: watch::Sender<Option<f64>>,
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
        let run_dir = config.run_root.join(&spec.id);
        let data_dir = config.data_root.join(&spec.id);
        let rootfs = Rootfs::mount(
            run_dir,
            data_dir,
            &spec.image,
            &spec.volumes,
            &config.helpers,
            Some(&spec.workdir),
            config.uid,
        )?;
        let cgroup = if cgroup::available() {
            Some(Cgroup::create(&spec.id, &spec.limits).context("creating the sandbox's cgroups")?)
        } else {
            None
        };
        let hostname = "modal";
        let mut proc = spawn::start_entrypoint(EntrypointSpec {
            root: &rootfs.root,
            argv: &spec.entrypoint,
            env: &spec.env,
            workdir: &spec.workdir,
            hostname,
            uid: config.uid,
            cgroup: cgroup.as_ref(),
        })
        .await?;
        let slirp = if !spec.block_network && config.slirp {
            start_slirp(proc.inner_pid).ok()
        } else {
            None
        };
        let netns = NetNs::of_pid(proc.inner_pid).ok();
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
        let (outcome, _) = watch::channel(None);
        let (kill, mut kill_rx) = watch::channel(None);
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
            execs: Mutex::new(HashMap::new()),
            outcome,
            kill,
            last_activity: Mutex::new(Instant::now()),
            netns,
            tunnels: Mutex::new(tunnels),
            connect: tokio::sync::Mutex::new(Vec::new()),
            ready_at,
        });
        if let Some(probe) = spec.readiness.clone() {
            tokio::spawn(sb.clone().probe_readiness(probe));
        }
        let out = proc.child.stdout.take();
        let err = proc.child.stderr.take();
        {
            let sb2 = sb.clone();
            tokio::spawn(async move {
                tokio::join!(
                    async {
                        if let Some(o) = out {
                            pump(o, &sb2.stdout).await
                        } else {
                            sb2.stdout.close()
                        }
                    },
                    async {
                        if let Some(e) = err {
                            pump(e, &sb2.stderr).await
                        } else {
                            sb2.stderr.close()
                        }
                    }
                );
            });
        }
        let sb2 = sb.clone();
        let timeout = spec.timeout;
        let idle = spec.idle_timeout;
        tokio::spawn(async move {
            let started = Instant::now();
            let idle_check = async {
                let Some(idle) = idle else {
                    return std::future::pending::<()>().await;
                };
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    if sb2.idle_for() >= idle {
                        return;
                    }
                }
            };
            let outcome = tokio::select! {
                status = proc.child.wait() => match status {
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
            sb2.finish(outcome, proc.child, slirp).await;
        });
        Ok(sb)
    }

    async fn probe_readiness(self: Arc<Self>, probe: Readiness) {
        let interval = match &probe {
            Readiness::Tcp { interval, .. } | Readiness::Exec { interval, .. } => *interval,
        };
        let mut attempt = 0u64;
        while self.outcome().is_none() {
            let ok = match &probe {
                Readiness::Tcp { port, .. } => match &self.netns {
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
        let running_execs = self
            .execs
            .lock()
            .map(|m| m.values().any(|e| e.poll().is_none()))
            .unwrap_or(false);
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
    /// host port.
    pub async fn connect_token(&self, port: u16, token: String) -> Result<u16> {
        let ns = self
            .netns
            .clone()
            .context("the sandbox has no network namespace")?;
        let mut proxies = self.connect.lock().await;
        if !proxies.iter().any(|p| p.port == port) {
            proxies.push(ConnectProxy::open(ns, port).await?);
        }
        let p = proxies
            .iter()
            .find(|p| p.port == port)
            .context("connect proxy")?;
        p.admit(token);
        Ok(p.host_port)
    }

    async fn finish(&self, outcome: Outcome, mut child: Child, slirp: Option<std::process::Child>) {
        self.connect.lock().await.clear();
        if let Ok(mut t) = self.tunnels.lock() {
            t.clear();
        }
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
        if let Some(mut s) = slirp {
            let _ = s.kill();
            let _ = s.wait();
        }
        // execs end when their processes die; give their waiters a moment to record it
        for _ in 0..100 {
            let running = self
                .execs
                .lock()
                .map(|m| m.values().any(|e| e.poll().is_none()))
                .unwrap_or(false);
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
        self.execs.lock().ok()?.get(exec_id).cloned()
    }

    /// Start a command; idempotent by `exec_id` (a second start returns the first).
    pub fn exec(&self, exec_id: &str, req: ExecRequest) -> Result<Arc<Exec>> {
        anyhow::ensure!(self.outcome().is_none(), "the sandbox has already finished");
        let mut execs = self
            .execs
            .lock()
            .map_err(|_| anyhow::anyhow!("exec table poisoned"))?;
        if let Some(e) = execs.get(exec_id) {
            return Ok(e.clone());
        }
        self.touch();
        let cgroup = match &self.cgroup {
            Some(cg) => Some(cg.child(&format!("ex-{}", execs.len()))?),
            None => None,
        };
        let mut env = self.spec_env.clone();
        for (k, v) in req.env {
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        }
        let (stdout, stderr) = match (req.stdout, req.stderr) {
            (_, StderrMode::Stdout) => {
                // one pipe for both, in order
                let (r, w) = std::io::pipe()?;
                let w2 = w.try_clone()?;
                (Stdio::from(w), (Stdio::from(w2), Some(r)))
            }
            (true, m) => (
                Stdio::piped(),
                (
                    if m == StderrMode::Pipe {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    },
                    None,
                ),
            ),
            (false, m) => (
                Stdio::null(),
                (
                    if m == StderrMode::Pipe {
                        Stdio::piped()
                    } else {
                        Stdio::null()
                    },
                    None,
                ),
            ),
        };
        let (stderr, merged) = stderr;
        let workdir = req.workdir.unwrap_or_else(|| self.workdir.clone());
        let mut child = spawn::start_exec(ExecSpec {
            inner_pid: self.inner_pid,
            argv: &req.argv,
            env: &env,
            workdir: &workdir,
            cgroup: cgroup.as_ref(),
            stdout,
            stderr,
        })?;
        let (status, _) = watch::channel(None);
        let exec = Arc::new(Exec {
            stdout: OutputBuffer::default(),
            stderr: OutputBuffer::default(),
            stdin: StdinSink::new(child.stdin.take()),
            status,
        });
        execs.insert(exec_id.to_string(), exec.clone());
        drop(execs);
        let out: Option<Box<dyn AsyncRead + Unpin + Send>> = match merged {
            Some(r) => Some(Box::new(tokio::net::unix::pipe::Receiver::from_owned_fd(
                r.into(),
            )?)),
            None => child.stdout.take().map(|s| Box::new(s) as _),
        };
        let err = child.stderr.take();
        let e2 = exec.clone();
        tokio::spawn(async move {
            tokio::join!(
                async {
                    match out {
                        Some(o) => pump(o, &e2.stdout).await,
                        None => e2.stdout.close(),
                    }
                },
                async {
                    match err {
                        Some(e) => pump(e, &e2.stderr).await,
                        None => e2.stderr.close(),
                    }
                }
            )
        });
        // The status is the command's own; children it left running (a server started
        // with `&`) keep going, and keep its output open, until the sandbox ends.
        let e2 = exec.clone();
        let timeout = req.timeout;
        tokio::spawn(async move {
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
            e2.status.send_replace(Some(
                status.map(ExitStatus::of).unwrap_or(ExitStatus::Code(-1)),
            ));
        });
        Ok(exec)
    }
}

fn start_slirp(pid: i32) -> Result<std::process::Child> {
    std::process::Command::new("slirp4netns")
        .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .arg(pid.to_string())
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting slirp4netns")
}
