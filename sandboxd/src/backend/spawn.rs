//! Starting processes: the sandbox's entrypoint under bubblewrap, and commands inside a
//! running sandbox through nsenter and the in-sandbox launcher. The `pre_exec` hooks run
//! between fork and exec as root: join the cgroups, die with sandboxd, then (for bwrap)
//! become the sandbox's unprivileged host uid.

use super::cgroup::Cgroup;
use super::rootfs::HELPERS_DIR;
use super::terminal::TerminalSize;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const INIT: &str = "modal-sandbox-init";

/// Paths opened before fork, so the hook only calls async-signal-safe functions.
pub(super) fn procs_paths(cg: Option<&Cgroup>) -> Vec<CString> {
    cg.map(|c| c.procs_files())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok())
        .collect()
}

/// In the child: write our pid into each cgroup.procs (as a decimal, no allocation).
pub(super) fn join_cgroups(paths: &[CString]) -> std::io::Result<()> {
    let pid = unsafe { libc::getpid() };
    let mut buf = [0u8; 12];
    let mut n = pid as u32;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for p in paths {
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let w = unsafe { libc::write(fd, buf[i..].as_ptr().cast(), buf.len() - i) };
        unsafe { libc::close(fd) };
        if w < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub struct SandboxProcess {
    pub child: Child,
    /// Host pid of the entrypoint (inside bwrap's pid namespace); execs enter its namespaces.
    pub inner_pid: i32,
}

pub struct EntrypointSpec<'a> {
    pub root: &'a Path,
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: &'a str,
    pub hostname: &'a str,
    pub uid: u32,
    pub cgroup: Option<&'a Cgroup>,
}

/// Start bwrap with the sandbox's entrypoint, stdio piped.
pub async fn start_entrypoint(spec: EntrypointSpec<'_>) -> Result<SandboxProcess> {
    let (info_r, info_w) = cloexec_pipe()?;
    let (args_r, args_w) = cloexec_pipe()?;
    let mut cmd = bwrap_command(&spec, &info_w, &args_r);
    let child = cmd
        .spawn()
        .context("starting bwrap (is bubblewrap installed?)")?;
    drop(info_w);
    drop(args_r);
    write_args(args_w, bwrap_args(&spec));
    let child_pid = read_child_pid(info_r).await?;
    let inner_pid = find_child(child_pid).await?;
    Ok(SandboxProcess { child, inner_pid })
}

/// A pipe whose ends are closed on exec: `(read, write)`.
fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        bail!("pipe: {}", std::io::Error::last_os_error());
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// bwrap's options, read from fd 4 (`--args`), so the sandbox's pid 1 command line shows
/// no host paths (bwrap takes the command itself from its own argv).
fn bwrap_args(spec: &EntrypointSpec<'_>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--uid",
        "0",
        "--gid",
        "0",
        "--hostname",
        spec.hostname,
        "--bind",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(spec.root.into());
    for a in [
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--chdir",
        spec.workdir,
        "--info-fd",
        "3",
        "--clearenv",
    ] {
        args.push(a.into());
    }
    for (k, v) in spec.env {
        args.extend(["--setenv".into(), k.into(), v.into()]);
    }
    args
}

/// bwrap running the entrypoint, its info fd on 3 and its options fd on 4, joining the
/// sandbox's cgroups and becoming the sandbox's host uid before it execs.
fn bwrap_command(spec: &EntrypointSpec<'_>, info_w: &OwnedFd, args_r: &OwnedFd) -> Command {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--args", "4", "--"]).args(spec.argv);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let procs = procs_paths(spec.cgroup);
    let uid = spec.uid;
    let (info_fd, args_fd) = (info_w.as_raw_fd(), args_r.as_raw_fd());
    unsafe {
        cmd.pre_exec(move || {
            join_cgroups(&procs)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // park the args fd above 4 first, so placing the info fd on 3 cannot clobber it
            let args_high = libc::fcntl(args_fd, libc::F_DUPFD_CLOEXEC, 10);
            if args_high < 0
                || libc::dup2(info_fd, 3) < 0
                || libc::dup2(args_high, 4) < 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Write bwrap's options, NUL-terminated, from a thread of their own: they may not fit
/// in the pipe's buffer.
fn write_args(args_w: OwnedFd, args: Vec<std::ffi::OsString>) {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut w = std::fs::File::from(args_w);
        for a in args {
            if w.write_all(a.as_bytes())
                .and_then(|_| w.write_all(b"\0"))
                .is_err()
            {
                break;
            }
        }
    });
}

/// The pid of bwrap's child, from the JSON bwrap writes on its info fd.
async fn read_child_pid(info_r: OwnedFd) -> Result<i32> {
    let info = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::from(info_r);
        let mut s = String::new();
        std::io::Read::read_to_string(&mut f, &mut s).map(|_| s)
    })
    .await??;
    Ok(serde_json::from_str::<serde_json::Value>(&info)
        .ok()
        .and_then(|v| v["child-pid"].as_i64())
        .with_context(|| format!("bwrap did not report its child pid: {info:?}"))? as i32)
}

/// The sandbox's first process (bwrap's pid 1's child): the one whose root and mounts are
/// the sandbox's, so the one commands enter. bwrap reports its pid 1 before it has set up
/// the mounts and pivoted into the root; entering that one finds the host's root, not
/// the sandbox's (every exec then fails with 127). So wait for the child as long as it
/// takes under load; only a bwrap already gone (the entrypoint came and went) falls back.
async fn find_child(pid: i32) -> Result<i32> {
    const PATIENCE: Duration = Duration::from_secs(60);
    let path = PathBuf::from(format!("/proc/{pid}/task/{pid}/children"));
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let Ok(s) = tokio::fs::read_to_string(&path).await else {
            return Ok(pid);
        };
        if let Some(c) = s.split_whitespace().next().and_then(|c| c.parse().ok()) {
            return Ok(c);
        }
        if started.elapsed() > PATIENCE {
            bail!("the sandbox's first process did not start within {PATIENCE:?}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

pub struct ExecSpec<'a> {
    pub inner_pid: i32,
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: &'a str,
    pub cgroup: Option<&'a Cgroup>,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// Run on a pseudo-terminal of this size, resized through this pipe's read end.
    pub terminal: Option<(TerminalSize, OwnedFd)>,
}

/// Where the launcher finds the resize pipe of a command on a terminal.
const CONTROL_FD: i32 = 3;

/// The launcher's command line for a command in a running sandbox.
fn launcher_args(spec: &ExecSpec<'_>) -> Vec<String> {
    let mut args = vec![
        format!("{HELPERS_DIR}/{INIT}"),
        "exec".into(),
        "--cwd".into(),
        spec.workdir.into(),
    ];
    if let Some((size, _)) = &spec.terminal {
        args.extend([
            "--pty".into(),
            size.rows.to_string(),
            size.cols.to_string(),
            "--control-fd".into(),
            CONTROL_FD.to_string(),
        ]);
    }
    args.push("--".into());
    args.extend(spec.argv.iter().cloned());
    args
}

/// A sandbox's entrypoint run on a pseudo-terminal: the launcher's `terminal` mode in
/// front of `argv`.
pub fn on_terminal(size: TerminalSize, argv: Vec<String>) -> Vec<String> {
    let mut v = vec![
        format!("{HELPERS_DIR}/{INIT}"),
        "terminal".into(),
        size.rows.to_string(),
        size.cols.to_string(),
        "--".into(),
    ];
    v.extend(argv);
    v
}

/// Start a command inside a running sandbox.
pub fn start_exec(spec: ExecSpec<'_>) -> Result<Child> {
    let mut cmd = Command::new("nsenter");
    cmd.arg("-t")
        .arg(spec.inner_pid.to_string())
        .args(["-U", "-m", "-p", "-n", "-i", "-u", "-r", "-w", "--"])
        .args(launcher_args(&spec))
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .kill_on_drop(true);
    let procs = procs_paths(spec.cgroup);
    // nsenter and the launcher inherit the control pipe on CONTROL_FD
    let control = spec.terminal.as_ref().map(|(_, fd)| fd.as_raw_fd());
    unsafe {
        cmd.pre_exec(move || {
            join_cgroups(&procs)?;
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::setsid();
            let placed = match control {
                // already in place: only close-on-exec to clear
                Some(CONTROL_FD) => libc::fcntl(CONTROL_FD, libc::F_SETFD, 0),
                Some(fd) => libc::dup2(fd, CONTROL_FD),
                None => 0,
            };
            if placed < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("starting nsenter")
}
