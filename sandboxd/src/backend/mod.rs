//! The local sandbox backend: each sandbox is a bubblewrap process tree in its own user,
//! mount, pid, ipc, uts and network namespaces, on an overlayfs root, inside its own
//! cgroups; commands run inside it through nsenter. See `rootfs`, `cgroup`, `spawn`.

pub mod cgroup;
pub mod connect_proxy;
pub mod disk;
pub mod mounts;
pub mod netns;
pub mod reap;
pub mod rootfs;
pub mod sandbox;
pub mod spawn;
pub mod stdin;
pub mod tunnels;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

/// Where the backend keeps things and who sandboxes run as.
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// This sandboxd instance's name (a digest of its state dir): its run root is
    /// `/run/sandboxd/<instance>`, its cgroups live under `sandboxd/<instance>`.
    pub instance: String,
    /// Root-owned, traversable directory for mount points (under /run).
    pub run_root: PathBuf,
    /// Per-sandbox writable layers (in the state dir).
    pub data_root: PathBuf,
    /// Directory with the static helper binaries mounted at `/__modal/.bin`.
    pub helpers: PathBuf,
    /// Host uid (and gid) that root inside a sandbox maps to.
    pub uid: u32,
    /// Whether sandboxes may have outbound network through slirp4netns.
    pub slirp: bool,
    /// The size cap of each sandbox's writable layer, unless the sandbox asks for another.
    pub disk: disk::Disks,
    /// Every sandbox this instance started and that has not been dropped yet (build
    /// sandboxes included), so that a stop can end them all.
    pub live: LiveSandboxes,
}

pub type LiveSandboxes = Arc<Mutex<HashMap<String, Weak<sandbox::Sandbox>>>>;

impl BackendConfig {
    /// `sandboxd/<instance>`, the parent of this instance's cgroups.
    pub fn cgroup_parent(&self) -> PathBuf {
        cgroup::instance_parent(&self.instance)
    }

    /// The sandboxes still alive in this instance.
    pub fn live_sandboxes(&self) -> Vec<Arc<sandbox::Sandbox>> {
        self.live
            .lock()
            .map(|m| m.values().filter_map(Weak::upgrade).collect())
            .unwrap_or_default()
    }

    /// End every sandbox of this instance, then sweep whatever is left of it (mounts,
    /// cgroups, processes, writable layers) and remove its run root: a clean stop.
    pub async fn shutdown(&self) -> reap::Reaped {
        let all = self.live_sandboxes();
        futures::future::join_all(
            all.iter()
                .map(|sb| sb.terminate(sandbox::Outcome::ServerStopped)),
        )
        .await;
        let config = self.clone();
        tokio::task::spawn_blocking(move || {
            config.disk.close();
            let swept = reap::reap(&config);
            let _ = std::fs::remove_dir_all(&config.run_root);
            cgroup::remove_parent(&config.cgroup_parent());
            swept
        })
        .await
        .unwrap_or_default()
    }
}
