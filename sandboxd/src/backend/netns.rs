//! TCP connections into a sandbox's network namespace, made from sandboxd. A socket
//! belongs to the namespace it was created in, so a short-lived thread enters the
//! sandbox's namespace, connects, and hands the socket back. This reaches servers that
//! listen on 127.0.0.1 inside the sandbox and works whether or not it has outbound
//! network; it backs tunnels, connect tokens and TCP readiness probes.
//!
//! Also the routes of a sandbox with an outbound allowlist (`configure_allowlisted`).

use anyhow::{Context, Result};
use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

#[derive(Clone)]
pub struct NetNs {
    ns: Arc<File>,
}

impl NetNs {
    pub fn of_pid(pid: i32) -> Result<Self> {
        let f = File::open(format!("/proc/{pid}/ns/net"))
            .context("opening the sandbox's network namespace")?;
        Ok(Self { ns: Arc::new(f) })
    }

    /// Connect to `127.0.0.1:port` inside the sandbox.
    pub async fn connect(&self, port: u16) -> std::io::Result<tokio::net::TcpStream> {
        let ns = self.ns.clone();
        let std_stream = tokio::task::spawn_blocking(move || {
            // a fresh thread: setns changes only the calling thread, which then ends
            std::thread::spawn(move || -> std::io::Result<std::net::TcpStream> {
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let s = std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    std::time::Duration::from_secs(5),
                )?;
                s.set_nonblocking(true)?;
                Ok(s)
            })
            .join()
            .map_err(|_| std::io::Error::other("connect thread panicked"))?
        })
        .await
        .map_err(std::io::Error::other)??;
        tokio::net::TcpStream::from_std(std_stream)
    }
}

/// slirp4netns's addresses (its defaults): the sandbox, the gateway, the prefix.
const SANDBOX_ADDR: &str = "10.0.2.100/24";
const GATEWAY: &str = "10.0.2.2";
const MTU: &str = "65520";

/// Bring up `tap0` in the namespace of `pid` with slirp4netns's addresses and a route to
/// each allowed block through the gateway, and no default route: anything else is
/// unreachable (slirp's own DNS, on the link, still answers). The sandbox has no
/// capability (its bounding set is empty), so it can change neither routes nor
/// neighbours, nor send raw frames.
pub async fn configure_allowlisted(pid: i32, allowed: &[(std::net::Ipv4Addr, u8)]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let ns = File::open(format!("/proc/{pid}/ns/net"))
        .context("opening the sandbox's network namespace")?;
    let mut batch = format!(
        "link set dev tap0 mtu {MTU}\naddr add {SANDBOX_ADDR} dev tap0\nlink set dev tap0 up\n"
    );
    for (net, prefix) in allowed {
        batch.push_str(&format!(
            "route replace {net}/{prefix} via {GATEWAY} dev tap0\n"
        ));
    }
    let out = tokio::task::spawn_blocking(move || -> Result<std::process::Output> {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let fd = ns.as_raw_fd();
        // SAFETY: setns is async-signal-safe; it moves only the child into the namespace
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("running ip (is iproute2 installed?)")?;
        child
            .stdin
            .take()
            .context("ip's stdin")?
            .write_all(batch.as_bytes())?;
        Ok(child.wait_with_output()?)
    })
    .await??;
    if !out.status.success() {
        anyhow::bail!("ip -batch: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
