//! A sandbox's root filesystem: overlayfs of the image's read-only layers plus a private
//! writable layer, with the host-base image's `/usr` and `/opt` as overlays of their own,
//! volumes and the helper binaries bind-mounted in. Every mount is made here, by root in
//! sandboxd's mount namespace, before bubblewrap starts: mounts made outside the sandbox's
//! user namespace are locked inside it, so a read-only mount stays read-only even for
//! root in the sandbox.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::volumes::Volumes;

/// Where the helper binaries appear inside every sandbox.
pub const HELPERS_DIR: &str = "/__modal/.bin";

/// An image as the backend sees it.
#[derive(Clone, Debug)]
pub struct ImageLayers {
    /// Read-only layer directories, lowest first.
    pub layers: Vec<PathBuf>,
    /// Overlay these host directories (read-only below, private writes above).
    pub host_dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct VolumeBind {
    pub volume_id: String,
    pub target: String,
    pub read_only: bool,
    /// Mount only this directory of the volume (relative, plain names), made if missing.
    pub sub_path: Option<String>,
}

/// The mounted root of one sandbox; unmounted by `unmount`.
pub struct Rootfs {
    /// `<runtime>/<id>`: root-owned, traversable, holds the merged mount points.
    pub run_dir: PathBuf,
    /// The merged root bubblewrap binds at `/`.
    pub root: PathBuf,
    /// Writable layers (`upper` for `/`, `upper-usr` for `/usr`, ...), in the state dir,
    /// on the sandbox's own size-capped disk when it has one.
    pub data_dir: PathBuf,
    mounts: Vec<PathBuf>,
    disk: Option<super::disk::Disk>,
    views: Vec<VolumeView>,
    /// The sandbox's volume mounts, in order.
    binds: Vec<VolumeBind>,
    store: Arc<Volumes>,
    /// `<data root>/<id>.volumes`: the upper layers of the sandbox's volume mounts,
    /// outside its size-capped disk (a volume's size is not the sandbox's).
    volume_layers: PathBuf,
    /// Host uid of root in the sandbox.
    uid: u32,
}

/// A volume as this sandbox sees it: one overlay of a committed version under an upper
/// layer of the sandbox's own, mounted outside its root; each of the sandbox's mounts of
/// the volume binds a directory of it, so they all see the sandbox's writes at once.
struct VolumeView {
    volume_id: String,
    version: u64,
    /// The directory of its `upper` and `work`.
    layer: PathBuf,
    /// Where the overlay is mounted (in the run dir).
    merged: PathBuf,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).context("path contains a NUL byte")
}

fn mount(src: &str, target: &Path, fstype: &str, flags: libc::c_ulong, data: &str) -> Result<()> {
    let (s, t, f) = (CString::new(src)?, cstr(target)?, CString::new(fstype)?);
    let d = CString::new(data)?;
    let rc = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            f.as_ptr(),
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                d.as_ptr().cast()
            },
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!("mount {fstype} {src} on {}: {err}", target.display());
    }
    Ok(())
}

fn bind(src: &Path, target: &Path, read_only: bool) -> Result<()> {
    let s = src.to_string_lossy().to_string();
    mount(&s, target, "", libc::MS_BIND | libc::MS_REC, "")?;
    if read_only {
        mount(
            "",
            target,
            "",
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            "",
        )?;
    }
    Ok(())
}

/// `sub` beneath the volume `dir`, each missing directory made (owned by `uid`), opened
/// one name at a time without following a symlink: a sandbox that writes the volume may
/// have planted one to reach the host. The returned fd pins the directory that is bound,
/// whatever is renamed in the volume meanwhile.
fn open_beneath(dir: &Path, sub: &str, uid: u32) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut fd: OwnedFd = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(dir)
        .with_context(|| format!("opening {}", dir.display()))?
        .into();
    for c in Path::new(sub.trim_start_matches('/')).components() {
        let Component::Normal(name) = c else {
            bail!("sub_path {sub:?}: only plain names are allowed");
        };
        let name = CString::new(name.as_bytes())?;
        let made = unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755) } == 0;
        if made {
            let rc = unsafe {
                libc::fchownat(
                    fd.as_raw_fd(),
                    name.as_ptr(),
                    uid,
                    uid,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if rc != 0 {
                bail!("sub_path {sub:?}: {}", std::io::Error::last_os_error());
            }
        }
        let next = unsafe { libc::openat(fd.as_raw_fd(), name.as_ptr(), flags) };
        if next < 0 {
            bail!(
                "sub_path {sub:?}: {:?} is not a directory of the volume ({})",
                name,
                std::io::Error::last_os_error()
            );
        }
        fd = unsafe { OwnedFd::from_raw_fd(next) };
    }
    Ok(fd)
}

fn overlay(lower: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    for d in [upper, work, target] {
        fs::create_dir_all(d)?;
    }
    // overlayfs lists the top layer first
    let lower: Vec<String> = lower
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    mount("overlay", target, "overlay", 0, &data)
}

/// `layers` (lowest first) under a writable `upper` (owned by `uid`, root in the sandbox)
/// at `target`: an image mounted as Modal mounts one, writes kept apart from the image.
pub fn overlay_writable(
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    uid: u32,
) -> Result<()> {
    fs::create_dir_all(upper)?;
    chown(upper, Some(uid), Some(uid))?;
    overlay(layers, upper, work, target)
}

/// Make the filesystem mounted at `target` read-only everywhere it is mounted (its
/// superblock, not one mount of it): EBUSY while a file on it is open for writing.
fn freeze(target: &Path) -> std::io::Result<()> {
    let t = cstr(target).map_err(std::io::Error::other)?;
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_REMOUNT | libc::MS_RDONLY,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A volume that cannot be committed now: a file of it is open for writing.
#[derive(Debug)]
pub struct Busy(pub String);

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "volume {} has files open for writing in the sandbox; close them and reload again",
            self.0
        )
    }
}

impl std::error::Error for Busy {}

/// Unmount and remove a staging mount point.
pub fn unmount_path(target: &Path) {
    if let Ok(c) = cstr(target) {
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = fs::remove_dir(target);
}

/// Resolve `path` (absolute, inside the sandbox) under `root` lexically, refusing `..`.
pub fn inside(root: &Path, path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("path must be absolute: {path}");
    }
    let mut out = root.to_path_buf();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => bail!("path must not contain `..` or `.`: {path}"),
        }
    }
    Ok(out)
}

/// Create `dir` under the merged root without following symlinks the sandbox could have
/// planted (the root is fresh here, but images may carry links).
fn mkdir_in_root(root: &Path, path: &str, uid: u32) -> Result<PathBuf> {
    let target = inside(root, path)?;
    let mut cur = root.to_path_buf();
    for c in target.strip_prefix(root)?.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!("{path}: a symlink in the image is in the way")
            }
            Ok(_) => {}
            Err(_) => {
                fs::create_dir(&cur)?;
                chown(&cur, Some(uid), Some(uid))?;
            }
        }
    }
    Ok(target)
}

impl Rootfs {
    /// Mount the root of sandbox `id`. `uid` is the host uid of root inside the sandbox;
    /// `disk` the size cap of its writable layer (none if `None` or 0 MiB). Without a cap
    /// the writable layer is in `data_dir`; with one, on a disk mounted elsewhere in the
    /// state dir (see `Rootfs::data_dir`).
    #[allow(clippy::too_many_arguments)]
    pub fn mount(
        run_dir: PathBuf,
        data_dir: PathBuf,
        image: &ImageLayers,
        volumes: &[VolumeBind],
        store: &Arc<Volumes>,
        helpers: &Path,
        workdir: Option<&str>,
        uid: u32,
        disk: Option<(&super::disk::Disks, u64)>,
    ) -> Result<Self> {
        fs::create_dir_all(&run_dir)?;
        fs::set_permissions(&run_dir, fs::Permissions::from_mode(0o711))?;
        let root = run_dir.join("root");
        // the writable layer: on a disk of its own when capped, else in `data_dir`
        let disk = match disk.filter(|(_, mib)| *mib > 0) {
            Some((disks, mib)) => Some(disks.create(mib)?),
            None => None,
        };
        let volume_layers = PathBuf::from(format!("{}.volumes", data_dir.display()));
        let data_dir = disk.as_ref().map_or(data_dir, |d| d.mount_point.clone());
        let mut me = Self {
            run_dir,
            root: root.clone(),
            data_dir: data_dir.clone(),
            mounts: Vec::new(),
            disk,
            views: Vec::new(),
            binds: Vec::new(),
            store: store.clone(),
            volume_layers,
            uid,
        };
        let upper = data_dir.join("upper");
        let fresh = !upper.exists();
        fs::create_dir_all(&upper)?;
        if fresh {
            prepare_upper(&upper, uid)?;
        }
        overlay(&image.layers, &upper, &data_dir.join("work"), &root)
            .context("mounting the sandbox's root overlay")?;
        me.mounts.push(root.clone());
        // shared, so image mounts made here later propagate into the running sandbox
        mount("", &root, "", libc::MS_SHARED, "")?;
        for host in &image.host_dirs {
            let name = host
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let target = root.join(&name);
            fs::create_dir_all(&target).ok();
            // the host directory (seen with the sandbox's root as owner, where the kernel
            // allows it), then what snapshots of this image added under it
            let view = me.run_dir.join(format!("host-{name}"));
            let lower = match super::mounts::idmapped_view(host, &view, uid) {
                Ok(()) => {
                    me.mounts.push(view.clone());
                    view
                }
                Err(e) => {
                    tracing::warn!(
                        "no idmapped view of {} ({e:#}); it stays read-only for the sandbox",
                        host.display()
                    );
                    host.clone()
                }
            };
            let mut lowers = vec![lower];
            // root inside owns the directory itself too
            let host_upper = data_dir.join(format!("upper-{name}"));
            fs::create_dir_all(&host_upper)?;
            chown(&host_upper, Some(uid), Some(uid))?;
            lowers.extend(
                image
                    .layers
                    .iter()
                    .map(|l| l.join(&name))
                    .filter(|d| d.is_dir()),
            );
            overlay(
                &lowers,
                &data_dir.join(format!("upper-{name}")),
                &data_dir.join(format!("work-{name}")),
                &target,
            )
            .with_context(|| format!("mounting /{name}"))?;
            me.mounts.push(target);
        }
        let helper_target = mkdir_in_root(&root, HELPERS_DIR, 0)?;
        bind(helpers, &helper_target, true).context("mounting the helper binaries")?;
        me.mounts.push(helper_target);
        for v in volumes {
            let target = mkdir_in_root(&root, &v.target, uid)
                .with_context(|| format!("volume mount point {}", v.target))?;
            let merged = me
                .volume_view(&v.volume_id)
                .with_context(|| format!("mounting volume {}", v.volume_id))?;
            me.bind_volume(v, &merged, &target)
                .with_context(|| format!("mounting a volume at {}", v.target))?;
            me.mounts.push(target);
            me.binds.push(v.clone());
        }
        if let Some(w) = workdir {
            mkdir_in_root(&root, w, uid).with_context(|| format!("workdir {w}"))?;
        }
        Ok(me)
    }

    /// Unmount everything, innermost first, the writable layer's disk last. Lazy, so a
    /// process still holding a file cannot keep sandboxd from cleaning up.
    pub fn unmount(&mut self) {
        // nothing may change a volume's upper layer while it is committed, below
        for v in &self.views {
            if let Err(e) = freeze(&v.merged) {
                tracing::debug!(volume = %v.volume_id, "read-only before the last commit: {e}");
            }
        }
        for m in self.mounts.drain(..).rev() {
            if let Ok(c) = cstr(&m) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        super::reap::remove_tree(&self.run_dir);
        if let Some(mut d) = self.disk.take() {
            d.release();
        }
        // the sandbox's last writes to its volumes are committed as it ends
        for v in self.views.drain(..) {
            let id = &v.volume_id;
            // no layer: its mount failed before it had one
            let upper = (!v.layer.as_os_str().is_empty()).then(|| v.layer.join("upper"));
            match self.store.commit(id, v.version, upper.as_deref()) {
                Ok((n, _)) => self.store.release(id, n),
                Err(e) => {
                    tracing::error!(volume = %id, "committing a sandbox's writes: {e:#}");
                    self.store.release(id, v.version);
                }
            }
        }
        let _ = fs::remove_dir_all(&self.volume_layers);
    }

    /// The host path of the sandbox's view of volume `id`, mounted the first time.
    fn volume_view(&mut self, id: &str) -> Result<PathBuf> {
        if let Some(v) = self.views.iter().find(|v| v.volume_id == id) {
            return Ok(v.merged.clone());
        }
        let (version, dir) = self.store.pin(id)?;
        let merged = self.run_dir.join(format!("volume-{}", self.views.len()));
        let mut view = VolumeView {
            volume_id: id.to_string(),
            version,
            layer: PathBuf::new(),
            merged: merged.clone(),
        };
        let mounted = self.mount_view(&mut view, &dir);
        // pinned either way: `unmount` releases it
        self.views.push(view);
        mounted?;
        // before the binds of it, so unmounted after them
        self.mounts.push(merged.clone());
        Ok(merged)
    }

    /// Mount version `dir` under a new upper layer at `view.merged`.
    fn mount_view(&self, view: &mut VolumeView, dir: &Path) -> Result<()> {
        let layer = self.volume_layers.join(crate::ids::new_id("layer"));
        let (upper, work) = (layer.join("upper"), layer.join("work"));
        fs::create_dir_all(&work)?;
        fs::create_dir_all(&upper)?;
        fs::create_dir_all(&view.merged)?;
        // the mount's root shows the upper layer's owner and mode: make them the version's
        let m = fs::metadata(dir)?;
        use std::os::unix::fs::MetadataExt;
        chown(&upper, Some(m.uid()), Some(m.gid()))?;
        fs::set_permissions(&upper, fs::Permissions::from_mode(m.mode() & 0o7777))?;
        view.layer = layer;
        // no redirects or metadata-only copies: the upper layer must hold whole files and
        // plain directories to be applied to a version (`volumes::apply`)
        let data = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off",
            dir.display(),
            upper.display(),
            work.display()
        );
        mount(
            "overlay",
            &view.merged,
            "overlay",
            libc::MS_NOSUID | libc::MS_NODEV,
            &data,
        )
    }

    /// Bind `v`'s directory of the view at `merged` (its sub_path, made if missing, or
    /// all of it) at host path `target`, before the sandbox runs.
    fn bind_volume(&self, v: &VolumeBind, merged: &Path, target: &Path) -> Result<()> {
        match &v.sub_path {
            Some(sub) => {
                let fd = open_beneath(merged, sub, self.uid)?;
                bind(
                    Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
                    target,
                    v.read_only,
                )
            }
            None => bind(merged, target, v.read_only),
        }
    }

    /// Commit the sandbox's writes to its volumes, then mount their newest versions:
    /// Modal's `reloadVolumes`, which commits what the sandbox wrote first. Refused
    /// (`Busy`) while a file of a volume is open for writing; one open for reading keeps
    /// the view it had.
    pub fn reload_volumes(&mut self) -> Result<()> {
        let mut views = std::mem::take(&mut self.views);
        let result = views.iter_mut().try_for_each(|v| self.reload_view(v));
        self.views = views;
        result
    }

    fn reload_view(&self, view: &mut VolumeView) -> Result<()> {
        let binds: Vec<&VolumeBind> = self
            .binds
            .iter()
            .filter(|b| b.volume_id == view.volume_id)
            .collect();
        // the sandbox's writes stop here, through every path and open file, so the upper
        // layer is whole (and still) when applied; as on Modal, not while a file of the
        // volume is open for writing
        if let Err(e) = freeze(&view.merged) {
            if e.raw_os_error() == Some(libc::EBUSY) {
                bail!(Busy(view.volume_id.clone()));
            }
            return Err(e).context("making the volume read-only to commit it");
        }
        for b in &binds {
            let current = super::mounts::dir_in_sandbox(&self.root, &b.target, None)
                .with_context(|| format!("volume mount point {}", b.target))?;
            super::mounts::detach(&current).with_context(|| format!("unmounting {}", b.target))?;
        }
        unmount_path(&view.merged);
        let (n, dir) = self.store.commit(
            &view.volume_id,
            view.version,
            Some(&view.layer.join("upper")),
        )?;
        view.version = n;
        let _ = fs::remove_dir_all(&view.layer);
        self.mount_view(view, &dir)?;
        for b in binds {
            let target = super::mounts::dir_in_sandbox(&self.root, &b.target, Some(self.uid))?;
            let attached = match &b.sub_path {
                Some(sub) => {
                    let fd = open_beneath(&view.merged, sub, self.uid)?;
                    super::mounts::attach(
                        Path::new(&format!("/proc/self/fd/{}", fd.as_raw_fd())),
                        &target,
                        b.read_only,
                    )
                }
                None => super::mounts::attach(&view.merged, &target, b.read_only),
            };
            attached.with_context(|| format!("mounting volume {} at {}", b.volume_id, b.target))?;
        }
        Ok(())
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// The writable layer starts with the directories root's programs expect to own.
fn prepare_upper(upper: &Path, uid: u32) -> Result<()> {
    // the upper's root is the sandbox's `/`: root inside owns it
    chown(upper, Some(uid), Some(uid))?;
    for (dir, mode) in [("root", 0o700), ("tmp", 0o1777)] {
        let p = upper.join(dir);
        fs::create_dir_all(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
        chown(&p, Some(uid), Some(uid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_refuses_escapes() {
        let r = Path::new("/r");
        assert_eq!(inside(r, "/a/b").unwrap(), Path::new("/r/a/b"));
        assert!(inside(r, "/a/../../etc").is_err());
        assert!(inside(r, "relative").is_err());
    }
}
