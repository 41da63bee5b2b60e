//! The local sandbox backend: each sandbox is a bubblewrap process tree in its own user,
//! mount, pid, ipc, uts and network namespaces, on an overlayfs root, inside its own
//! cgroups; commands run inside it through nsenter. See `rootfs`, `cgroup`, `spawn`.

pub mod cgroup;
pub mod connect_proxy;
pub mod disk;
pub mod guard;
pub mod mounts;
pub mod netns;
pub mod reap;
pub mod rootfs;
pub mod sandbox;
pub mod spawn;
pub mod stdin;
pub mod terminal;
pub mod tunnels;
pub mod volumes;

use crate::sync::lock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// Create `dir` (and its parents), owned by `uid`, off the executor.
pub async fn create_owned_dir(dir: PathBuf, uid: u32) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid))
    })
    .await
    .map_err(std::io::Error::other)?
}

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
    /// The volumes' committed versions (`volumes`).
    pub volumes: Arc<volumes::Volumes>,
}

pub type LiveSandboxes = Arc<Mutex<HashMap<String, Weak<sandbox::Sandbox>>>>;

/// Where one instance keeps what it makes on the machine, known from its state dir
/// alone (so that its guardian, or the next start, finds it).
#[derive(Clone, Debug)]
pub struct InstancePaths {
    /// The first 12 hex digits of the state dir's SHA-256.
    pub instance: String,
    /// `/run/sandboxd/<instance>`: mount points.
    pub run_root: PathBuf,
    /// `<state dir>/sandboxes`: writable layers and their disks.
    pub data_root: PathBuf,
}

impl InstancePaths {
    pub fn of(state_dir: &Path) -> Self {
        let instance =
            crate::images::hex_digest(state_dir.to_string_lossy().as_bytes())[..12].to_string();
        Self {
            run_root: PathBuf::from("/run/sandboxd").join(&instance),
            data_root: state_dir.join("sandboxes"),
            instance,
        }
    }

    /// `sandboxd/<instance>`, the parent of this instance's cgroups.
    pub fn cgroup_parent(&self) -> PathBuf {
        cgroup::instance_parent(&self.instance)
    }

    /// Remove everything of this instance from the machine (its processes, mounts,
    /// cgroups, writable layers, run root): the end of a clean stop, or what the guardian
    /// does when sandboxd died.
    pub fn sweep(&self) -> reap::Reaped {
        let swept = reap::reap(self);
        reap::remove_tree(&self.run_root);
        cgroup::remove_parent(&self.cgroup_parent());
        swept
    }
}

impl BackendConfig {
    pub fn paths(&self) -> InstancePaths {
        InstancePaths {
            instance: self.instance.clone(),
            run_root: self.run_root.clone(),
            data_root: self.data_root.clone(),
        }
    }

    /// `sandboxd/<instance>`, the parent of this instance's cgroups.
    pub fn cgroup_parent(&self) -> PathBuf {
        cgroup::instance_parent(&self.instance)
    }

    /// The sandboxes still alive in this instance.
    pub fn live_sandboxes(&self) -> Vec<Arc<sandbox::Sandbox>> {
        lock(&self.live)
            .values()
            .filter_map(Weak::upgrade)
            .collect()
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
            config.paths().sweep()
        })
        .await
        .unwrap_or_default()
    }
}
