//! TCP connections into a sandbox's network namespace, made from sandboxd. A socket
//! belongs to the namespace it was created in, so a short-lived thread enters the
//! sandbox's namespace, connects, and hands the socket back. This reaches servers that
//! listen on 127.0.0.1 inside the sandbox and works whether or not it has outbound
//! network; it backs tunnels, connect tokens and TCP readiness probes.

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
