//! Tunnels: a host port on 127.0.0.1 forwarded to a port inside a sandbox, for the ports
//! a sandbox opened at create. Each accepted connection gets its own connection into the
//! sandbox's network namespace. The forwarders stop when the tunnel is dropped.

use super::netns::NetNs;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Tunnel {
    pub container_port: u16,
    pub host_port: u16,
    task: JoinHandle<()>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tunnel {
    pub async fn open(ns: NetNs, container_port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let host_port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let ns = ns.clone();
                tokio::spawn(async move {
                    if let Ok(mut upstream) = ns.connect(container_port).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Ok(Self {
            container_port,
            host_port,
            task,
        })
    }
}
