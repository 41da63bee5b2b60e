//! ListFiles, Stat, ReadFile, WriteFile, MakeDirectory, Remove.

use std::ffi::CString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::entry;
use crate::error::{kind, FsError};

const CHUNK: usize = 256 * 1024;

/// ReadFile refuses files larger than this (5 GiB, as Modal's helper); the environment
/// variable `MODAL_FS_TOOLS_MAX_READ_BYTES` overrides it.
const DEFAULT_MAX_READ_BYTES: u64 = 5 * 1024 * 1024 * 1024;

fn max_read_bytes() -> u64 {
    std::env::var("MODAL_FS_TOOLS_MAX_READ_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_READ_BYTES)
}

/// fd 1 as a File that is never closed; writes go straight to the pipe, unbuffered.
pub fn stdout() -> ManuallyDrop<File> {
    // SAFETY: fd 1 stays open for the life of the process and is never closed here
    // (ManuallyDrop).
    ManuallyDrop::new(unsafe { File::from_raw_fd(1) })
}

fn stdin() -> ManuallyDrop<File> {
    // SAFETY: as for stdout.
    ManuallyDrop::new(unsafe { File::from_raw_fd(0) })
}

fn write_out(bytes: &[u8]) -> Result<(), FsError> {
    stdout()
        .write_all(bytes)
        .map_err(|e| FsError::io("write", Path::new("<stdout>"), &e))
}

fn print_json(v: &serde_json::Value) -> Result<(), FsError> {
    let mut out = v.to_string().into_bytes();
    out.push(b'\n');
    write_out(&out)
}

pub fn list_files(path: &str) -> Result<(), FsError> {
    let p = Path::new(path);
    let md = fs::metadata(p).map_err(|e| FsError::io("stat", p, &e))?;
    if !md.is_dir() {
        return Err(FsError::new(
            kind::IS_FILE,
            "expected a directory path, found a file",
            format!("{path} is not a directory"),
        ));
    }
    let base = entry::absolute(p);
    let mut items = Vec::new();
    let rd = fs::read_dir(p).map_err(|e| FsError::io("opendir", p, &e))?;
    for ent in rd {
        let ent = ent.map_err(|e| FsError::io("readdir", p, &e))?;
        let name = ent.file_name();
        let fs_path = p.join(&name);
        // Entries removed while listing are skipped, not reported as failures.
        let Ok(md) = fs::symlink_metadata(&fs_path) else {
            continue;
        };
        let shown = base.join(&name);
        let value = entry::build(
            &name.to_string_lossy(),
            &shown.to_string_lossy(),
            &fs_path,
            &md,
        );
        items.push((name.as_bytes().to_vec(), value));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let list: Vec<serde_json::Value> = items.into_iter().map(|(_, v)| v).collect();
    print_json(&serde_json::Value::Array(list))
}

pub fn stat(path: &str) -> Result<(), FsError> {
    let p = Path::new(path);
    let md = fs::symlink_metadata(p).map_err(|e| FsError::io("lstat", p, &e))?;
    let trimmed = path.trim_end_matches('/');
    let name = match trimmed.rsplit('/').next() {
        Some(n) if !n.is_empty() => n,
        _ if path.starts_with('/') => "/",
        _ => path,
    };
    print_json(&entry::build(name, path, p, &md))
}

pub fn read_file(path: &str) -> Result<(), FsError> {
    let p = Path::new(path);
    // Non-blocking open so a FIFO with no writer cannot hang us before the type check.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .map_err(|e| FsError::io("open", p, &e))?;
    let md = file.metadata().map_err(|e| FsError::io("fstat", p, &e))?;
    if md.is_dir() {
        return Err(FsError::new(
            kind::IS_DIRECTORY,
            "expected a file path, found a directory",
            format!("{path} is a directory"),
        ));
    }
    let limit = max_read_bytes();
    let too_large = |size: u64| {
        FsError::new(
            kind::FILE_TOO_LARGE,
            format!("file is {size} bytes, which exceeds the {limit} byte limit"),
            format!("read {path}"),
        )
    };
    if md.is_file() && md.len() > limit {
        return Err(too_large(md.len()));
    }
    let fd = file.as_raw_fd();
    // SAFETY: plain fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    let mut out = stdout();
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(FsError::io("read", p, &e)),
        };
        total += n as u64;
        if total > limit {
            return Err(too_large(total));
        }
        out.write_all(&buf[..n])
            .map_err(|e| FsError::io("write", Path::new("<stdout>"), &e))?;
    }
}

// ---- WriteFile ----------------------------------------------------------------------

/// The temp file of a WriteFile in progress, unlinked if the process is told to stop
/// (SIGTERM/SIGINT/SIGHUP) before the rename.
static TEMP_PATH: AtomicPtr<libc::c_char> = AtomicPtr::new(ptr::null_mut());

extern "C" fn on_stop_signal(sig: libc::c_int) {
    let p = TEMP_PATH.swap(ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: unlink, signal and raise are async-signal-safe; p is a leaked CString.
    unsafe {
        if !p.is_null() {
            libc::unlink(p);
        }
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Removes the temp file unless the write was committed.
struct TempFile {
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    fn register(path: PathBuf) -> Self {
        if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
            let old = TEMP_PATH.swap(c.into_raw(), Ordering::SeqCst);
            free_cstring(old);
            let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // SAFETY: installing a handler that only calls async-signal-safe functions.
            unsafe {
                libc::signal(libc::SIGTERM, handler);
                libc::signal(libc::SIGINT, handler);
                libc::signal(libc::SIGHUP, handler);
            }
        }
        TempFile {
            path,
            committed: false,
        }
    }
}

fn free_cstring(p: *mut libc::c_char) {
    if !p.is_null() {
        // SAFETY: every non-null TEMP_PATH value came from CString::into_raw and is
        // taken out exactly once (swap).
        drop(unsafe { CString::from_raw(p) });
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        free_cstring(TEMP_PATH.swap(ptr::null_mut(), Ordering::SeqCst));
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Follows a chain of symlinks at `path` itself (not its parents), so writing to a
/// symlink replaces the file it points to rather than the link.
fn resolve_final_symlinks(path: &Path) -> Result<PathBuf, FsError> {
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => {
                let target = fs::read_link(&cur).map_err(|e| FsError::io("readlink", &cur, &e))?;
                cur = if target.is_absolute() {
                    target
                } else {
                    cur.parent().unwrap_or(Path::new("")).join(target)
                };
            }
            _ => return Ok(cur),
        }
    }
    let err = io::Error::from_raw_os_error(libc::ELOOP);
    Err(FsError::io("resolve", path, &err))
}

fn copy_stdin_to(file: &mut File, path: &Path) -> Result<u64, FsError> {
    let mut input = stdin();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(FsError::io("read", Path::new("<stdin>"), &e)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| FsError::io("write", path, &e))?;
        total += n as u64;
    }
}

pub fn write_file(path: &str) -> Result<(), FsError> {
    let given = Path::new(path);
    let is_dir_err = || {
        FsError::new(
            kind::IS_DIRECTORY,
            "expected a file path, found a directory",
            format!("{path} is a directory"),
        )
    };
    if path.ends_with('/') || given.file_name().is_none() {
        return Err(is_dir_err());
    }
    let target = resolve_final_symlinks(given)?;
    let existing = match fs::metadata(&target) {
        Ok(md) if md.is_dir() => return Err(is_dir_err()),
        Ok(md) => Some(md),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(FsError::io("stat", &target, &e)),
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    mkdir_p(&parent, kind::NOT_DIRECTORY)?;

    // A FIFO, device or socket is written in place: there is nothing to replace.
    if existing.as_ref().is_some_and(|md| !md.is_file()) {
        let mut f = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&target)
            .map_err(|e| FsError::io("open", &target, &e))?;
        copy_stdin_to(&mut f, &target)?;
        return Ok(());
    }

    let (mut file, temp) = create_temp(&parent)?;
    let mut guard = TempFile::register(temp);
    copy_stdin_to(&mut file, &guard.path)?;
    if let Some(md) = &existing {
        // Keep the replaced file's owner and permission bits (best effort: without
        // CAP_CHOWN only our own uid is possible).
        // SAFETY: fchown on a descriptor we own.
        unsafe {
            libc::fchown(file.as_raw_fd(), md.uid(), md.gid());
        }
        let _ = file.set_permissions(fs::Permissions::from_mode(md.mode() & 0o7777));
    }
    file.sync_data()
        .map_err(|e| FsError::io("fsync", &guard.path, &e))?;
    drop(file);
    fs::rename(&guard.path, &target).map_err(|e| FsError::io("rename", &target, &e))?;
    guard.committed = true;
    Ok(())
}

/// A new, exclusive temp file in `dir` (so the final rename is atomic).
fn create_temp(dir: &Path) -> Result<(File, PathBuf), FsError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    let mut last = io::Error::from_raw_os_error(libc::EEXIST);
    for attempt in 0..32u32 {
        let name = format!(".modal-fs-tools.{pid}.{nanos:x}.{attempt}.tmp");
        let path = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(FsError::io("create", dir, &e)),
        }
    }
    Err(FsError::io("create", dir, &last))
}

// ---- MakeDirectory ------------------------------------------------------------------

pub fn make_directory(path: &str, parents: bool) -> Result<(), FsError> {
    let p = Path::new(path);
    if parents && !path.is_empty() {
        return mkdir_p(p, kind::PATH_ALREADY_EXISTS);
    }
    match DirBuilder::new().mode(0o777).create(p) {
        Ok(()) => Ok(()),
        Err(e) => Err(match e.raw_os_error() {
            Some(libc::EEXIST) => FsError::io_as(kind::PATH_ALREADY_EXISTS, "mkdir", p, &e),
            Some(libc::ENOENT) => FsError::new(
                kind::NOT_FOUND,
                "parent directory does not exist",
                format!("mkdir {path}: {e}"),
            ),
            _ => FsError::io("mkdir", p, &e),
        }),
    }
}

/// `mkdir -p`. An existing non-directory at `p` itself is reported as `exists_kind`;
/// one higher up as NotDirectory.
fn mkdir_p(p: &Path, exists_kind: &'static str) -> Result<(), FsError> {
    if p.as_os_str().is_empty() {
        return Ok(());
    }
    let exists = |e: &io::Error| -> Result<(), FsError> {
        match fs::metadata(p) {
            Ok(md) if md.is_dir() => Ok(()),
            _ => Err(FsError::io_as(exists_kind, "mkdir", p, e)),
        }
    };
    let builder = {
        let mut b = DirBuilder::new();
        b.mode(0o777);
        b
    };
    match builder.create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => exists(&e),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            match p.parent() {
                Some(parent) if parent != p => mkdir_p(parent, kind::NOT_DIRECTORY)?,
                _ => return Err(FsError::io("mkdir", p, &e)),
            }
            match builder.create(p) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => exists(&e),
                Err(e) => Err(FsError::io("mkdir", p, &e)),
            }
        }
        Err(e) => Err(FsError::io("mkdir", p, &e)),
    }
}

// ---- Remove -------------------------------------------------------------------------

pub fn remove(path: &str, recursive: bool) -> Result<(), FsError> {
    // Operate on the name itself: "link/" removes the symlink, never what it points to.
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && path.starts_with('/') {
        return Err(FsError::new(
            kind::PERMISSION_DENIED,
            "refusing to remove the root directory",
            format!("remove {path}"),
        ));
    }
    let p = Path::new(if trimmed.is_empty() { path } else { trimmed });
    let md = fs::symlink_metadata(p).map_err(|e| FsError::io("lstat", p, &e))?;
    let ft = md.file_type();
    if !ft.is_dir() {
        if trimmed.len() != path.len() && !ft.is_symlink() {
            // "file/" names a directory that is not there.
            let e = io::Error::from_raw_os_error(libc::ENOTDIR);
            return Err(FsError::io("remove", Path::new(path), &e));
        }
        return fs::remove_file(p).map_err(|e| FsError::io("unlink", p, &e));
    }
    if recursive {
        // std's remove_dir_all never follows symlinks (openat/unlinkat, race-free).
        return fs::remove_dir_all(p).map_err(|e| FsError::io("remove", p, &e));
    }
    fs::remove_dir(p).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => {
            FsError::io_as(kind::DIRECTORY_NOT_EMPTY, "rmdir", p, &e)
        }
        _ => FsError::io("rmdir", p, &e),
    })
}
