//! The guardian: a small process every `sandboxd serve` starts beside itself, so that
//! nothing of an instance outlives it, a `kill -9` or a crash included. It waits; when
//! sandboxd is gone (the kernel tells it: PR_SET_PDEATHSIG), it sweeps the instance
//! (processes in its cgroups, mounts, cgroups, writable layers, run root) and exits. Test
//! harnesses and service managers that SIGKILL sandboxd then leave nothing on the machine.
//!
//! The state dir's lock file keeps a sweep and the next start apart: sandboxd holds an
//! exclusive flock on `<state dir>/sandboxd.lock` and hands the same open file to the
//! guardian, so the lock is held until the guardian has finished. A start on that state
//! dir waits for it (up to 30 s), then sweeps whatever is still left (the guardian may
//! have been killed too) before it makes anything.
//!
//! The guardian acts only once its parent is gone: a stray SIGTERM sent to it alone
//! (`pkill`) is ignored while sandboxd runs, and it has a session of its own, so a
//! terminal's Ctrl-C reaches sandboxd (which stops cleanly) and not it.

use super::InstancePaths;
use anyhow::{bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The exclusive lock on `state_dir`, waiting up to 30 s for a sweep in progress.
pub fn lock_state_dir(state_dir: &Path) -> Result<File> {
    let path = state_dir.join("sandboxd.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            bail!("locking {}: {e}", path.display());
        }
        if Instant::now() > deadline {
            bail!(
                "{} is held: another sandboxd serves this state dir (or the one that stopped is still cleaning up)",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start the guardian of the instance on `state_dir`; `lock` (from `lock_state_dir`)
/// goes with it as its descriptor 3.
pub fn spawn(state_dir: &Path, lock: &File) -> Result<Child> {
    let exe = std::env::current_exe().context("finding sandboxd's own executable")?;
    let lock_fd = lock.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg("guard")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--parent")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    unsafe {
        cmd.pre_exec(move || {
            // the same open file, so the same lock; dup2 clears close-on-exec
            if lock_fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(lock_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn().context("starting sandboxd's guardian")
}

/// The guardian's life (`sandboxd guard`): wait for `parent` to be gone, sweep, exit.
pub async fn run(state_dir: PathBuf, parent: u32) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let paths = InstancePaths::of(&state_dir);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    // the signal is the news; the parent check is the truth (and covers a parent that
    // died before the death signal was armed)
    while unsafe { libc::getppid() } as u32 == parent {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let swept = tokio::task::spawn_blocking(move || paths.sweep()).await?;
    if !swept.is_empty() {
        tracing::info!(
            "guardian: sandboxd {parent} is gone; swept {} processes, {} mounts, {} cgroups",
            swept.processes,
            swept.mounts,
            swept.cgroups
        );
    }
    Ok(())
}
