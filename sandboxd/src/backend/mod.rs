//! The local sandbox backend: each sandbox is a bubblewrap process tree in its own user,
//! mount, pid, ipc, uts and network namespaces, on an overlayfs root, inside its own
//! cgroups; commands run inside it through nsenter. See `rootfs`, `cgroup`, `spawn`.

pub mod cgroup;
pub mod connect_proxy;
pub mod mounts;
pub mod netns;
pub mod rootfs;
pub mod sandbox;
pub mod spawn;
pub mod stdin;
pub mod tunnels;

use std::path::PathBuf;

/// Where the backend keeps things and who sandboxes run as.
#[derive(Clone, Debug)]
pub struct BackendConfig {
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
}
