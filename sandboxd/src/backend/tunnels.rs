//! Tunnels: a host port on 127.0.0.1 forwarded to a port inside a sandbox, for the ports
//! a sandbox opened at create. Each accepted connection gets its own connection into the
//! sandbox's network namespace. The forwarders stop when the tunnel is dropped.

use super::netns::NetNs;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The sources a sandbox's tunnels and connect proxies accept connections from
/// (`inbound_cidr_allowlist`); any when there is no list. They listen on 127.0.0.1, so a
/// source is a process of this machine: its address is what is checked.
#[derive(Clone, Debug, Default)]
pub struct Inbound(Option<Arc<Vec<(IpAddr, u8)>>>);

impl Inbound {
    pub fn new(blocks: Option<Vec<(IpAddr, u8)>>) -> Self {
        Self(blocks.map(Arc::new))
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        let Some(blocks) = &self.0 else {
            return true;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        blocks.iter().any(|(net, prefix)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - *prefix as u32).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - *prefix as u32).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }
}

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
    pub async fn open(ns: NetNs, container_port: u16, inbound: Inbound) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let host_port = listener.local_addr()?.port();
        let task = tokio::spawn(async move {
            while let Ok((mut client, peer)) = listener.accept().await {
                if !inbound.admits(peer.ip()) {
                    continue; // dropped: closed at once
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_blocks_admit_their_addresses_only() {
        let any = Inbound::default();
        assert!(any.admits("203.0.113.9".parse().unwrap()));
        let some = Inbound::new(Some(vec![
            ("127.0.0.0".parse().unwrap(), 8),
            ("2001:db8::".parse().unwrap(), 32),
        ]));
        assert!(some.admits("127.0.0.1".parse().unwrap()));
        assert!(some.admits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(some.admits("2001:db8::1".parse().unwrap()));
        assert!(!some.admits("10.0.0.1".parse().unwrap()));
        assert!(!some.admits("::1".parse().unwrap()));
        let none = Inbound::new(Some(vec![("0.0.0.0".parse().unwrap(), 0)]));
        assert!(none.admits("8.8.8.8".parse().unwrap()), "/0 is everything");
    }
}
