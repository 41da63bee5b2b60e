//! Mounting into a running sandbox without trusting its filesystem. Paths inside the
//! sandbox are resolved with openat2(RESOLVE_IN_ROOT) against its root, so a symlink the
//! sandbox planted resolves inside the sandbox, never on the host; the new mount is built
//! detached (open_tree), given its flags (mount_setattr: nosuid, nodev, read-only where
//! asked) and attached (move_mount) under the sandbox's shared root, from where it
//! propagates into the sandbox's mount namespace, flags included, and locked there.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;
const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn last_err(what: &str) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}", std::io::Error::last_os_error())
}

fn cstr(s: &[u8]) -> Result<CString> {
    CString::new(s).context("path contains a NUL byte")
}

/// Open `rel` (a relative path) beneath `dir`, resolving as if `root` were `/`.
fn open_in_root(dir: RawFd, rel: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let c = CString::new(rel.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            c.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn components(path: &str) -> Result<Vec<&std::ffi::OsStr>> {
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("path must be absolute: {path:?}");
    }
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => bail!("path must not contain `.` or `..`: {path:?}"),
        }
    }
    Ok(out)
}

/// An O_PATH handle on directory `path` inside the sandbox whose root is `root`, created
/// (owned by `uid`) if `create` and missing.
pub fn dir_in_sandbox(root: &Path, path: &str, create: Option<u32>) -> Result<OwnedFd> {
    let root_fd = File::open(root).context("opening the sandbox root")?;
    let root_fd = root_fd.as_raw_fd();
    // every step resolves from the sandbox's root, so a symlink (absolute or with `..`)
    // anywhere on the way resolves inside the sandbox
    let mut prefix = std::path::PathBuf::from(".");
    let mut cur = open_in_root(root_fd, &prefix, libc::O_PATH | libc::O_DIRECTORY)?;
    for name in components(path)? {
        let parent = prefix.clone();
        prefix.push(name);
        cur = match open_in_root(root_fd, &prefix, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create.is_some() => {
                let c = cstr(name.as_bytes())?;
                // mkdirat needs a real directory fd, not O_PATH
                let real = open_in_root(root_fd, &parent, libc::O_RDONLY | libc::O_DIRECTORY)?;
                if unsafe { libc::mkdirat(real.as_raw_fd(), c.as_ptr(), 0o755) } != 0 {
                    return Err(last_err(&format!("creating {path}")));
                }
                if let Some(uid) = create {
                    unsafe {
                        libc::fchownat(
                            real.as_raw_fd(),
                            c.as_ptr(),
                            uid,
                            uid,
                            libc::AT_SYMLINK_NOFOLLOW,
                        )
                    };
                }
                open_in_root(root_fd, &prefix, libc::O_PATH | libc::O_DIRECTORY)?
            }
            Err(e) => return Err(anyhow::anyhow!("{path}: {e}")),
        };
    }
    Ok(cur)
}

/// `/proc/<our pid>/fd/<fd>`: a path to what `fd` refers to, usable by child processes.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/{}/fd/{}", std::process::id(), fd.as_raw_fd())
}

/// Attach a copy of the mount tree at host path `src` onto `target`.
pub fn attach(src: &Path, target: &OwnedFd, read_only: bool) -> Result<()> {
    let attr_set =
        if read_only { MOUNT_ATTR_RDONLY } else { 0 } | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    let tree = detached_copy(src, true, attr_set, 0)?;
    move_to(&tree, target.as_raw_fd(), None)
}

/// A detached copy of the mount at `src` (with its submounts if `recursive`), with
/// `attr_set` applied (and the id mapping of `userns_fd` when MOUNT_ATTR_IDMAP is set).
fn detached_copy(src: &Path, recursive: bool, attr_set: u64, userns_fd: RawFd) -> Result<OwnedFd> {
    let c = cstr(src.as_os_str().as_bytes())?;
    let rec = if recursive { AT_RECURSIVE } else { 0 };
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | rec | libc::O_CLOEXEC as u32,
        )
    };
    if tree < 0 {
        return Err(last_err("open_tree"));
    }
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns_fd as u64,
    };
    let empty = cstr(b"")?;
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH as u32 | rec,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(last_err("mount_setattr"));
    }
    Ok(tree)
}

/// Attach a detached mount at the directory `dir_fd` (with `path` below it, if given).
fn move_to(tree: &OwnedFd, dir_fd: RawFd, path: Option<&Path>) -> Result<()> {
    let empty = cstr(b"")?;
    let (to, flags) = match path {
        Some(p) => (cstr(p.as_os_str().as_bytes())?, MOVE_MOUNT_F_EMPTY_PATH),
        None => (
            empty.clone(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        ),
    };
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            dir_fd,
            to.as_ptr(),
            flags,
        )
    };
    if rc != 0 {
        return Err(last_err("move_mount"));
    }
    Ok(())
}

/// Detach whatever is mounted on `target` (lazily; processes using it keep their view).
pub fn detach(target: &OwnedFd) -> Result<()> {
    let p = cstr(fd_path(target).as_bytes())?;
    if unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(last_err("unmount"));
    }
    Ok(())
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A user namespace that maps uid/gid 0 to `uid`, for idmapped mounts; made once.
fn userns_mapping_root_to(uid: u32) -> Result<&'static OwnedFd> {
    static NS: std::sync::OnceLock<std::result::Result<OwnedFd, String>> =
        std::sync::OnceLock::new();
    NS.get_or_init(|| {
        // a child that sits in a fresh user namespace while we write its maps and keep a handle
        let mut child = std::process::Command::new("unshare")
            .args(["--user", "sh", "-c", "read _"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let pid = child.id();
        let ns_path = format!("/proc/{pid}/ns/user");
        // wait until the child has entered its namespace
        let mine = std::fs::read_link("/proc/self/ns/user").map_err(|e| e.to_string())?;
        for _ in 0..200 {
            if std::fs::read_link(&ns_path)
                .map(|l| l != mine)
                .unwrap_or(false)
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let result = (|| {
            std::fs::write(format!("/proc/{pid}/uid_map"), format!("0 {uid} 1\n"))?;
            std::fs::write(format!("/proc/{pid}/gid_map"), format!("0 {uid} 1\n"))?;
            Ok::<_, std::io::Error>(OwnedFd::from(File::open(&ns_path)?))
        })()
        .map_err(|e| format!("making the id mapping: {e}"));
        let _ = child.kill();
        let _ = child.wait();
        result
    })
    .as_ref()
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Mount at `target` a read-only view of host directory `src` in which files the host's
/// root owns belong to `uid`: as an overlay's lower layer, it lets root in the sandbox
/// change its own copy of them (copy-up), while the host's files stay untouched.
pub fn idmapped_view(src: &Path, target: &Path, uid: u32) -> Result<()> {
    let userns = userns_mapping_root_to(uid)?;
    std::fs::create_dir_all(target)?;
    let tree = detached_copy(
        src,
        false,
        MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
        userns.as_raw_fd(),
    )?;
    move_to(&tree, libc::AT_FDCWD, Some(target))
}
