//! Watch: inotify events as JSON lines `{"event_type": T, "paths": [..]}`.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{self, Write};
use std::mem::{size_of, ManuallyDrop};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::FsError;
use crate::ops;

const BASE_MASK: u32 = libc::IN_ATTRIB
    | libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;
/// Reads and opens are only watched when the filter asks for Access explicitly.
const ACCESS_MASK: u32 = libc::IN_ACCESS | libc::IN_OPEN | libc::IN_CLOSE_NOWRITE;

struct Watcher {
    fd: OwnedFd,
    root: PathBuf,
    root_wd: i32,
    recursive: bool,
    mask: u32,
    filter: Option<Vec<String>>,
    wds: HashMap<i32, PathBuf>,
    out: ManuallyDrop<File>,
    done: bool,
}

pub fn watch(
    path: &str,
    recursive: bool,
    filter: Option<Vec<String>>,
    timeout_secs: Option<f64>,
) -> Result<(), FsError> {
    let given = Path::new(path);
    // Symlinks are followed: events name paths under the resolved target.
    let root = fs::canonicalize(given).map_err(|e| FsError::io("resolve", given, &e))?;
    let md = fs::metadata(&root).map_err(|e| FsError::io("stat", &root, &e))?;
    let deadline = timeout_secs.and_then(|s| {
        Duration::try_from_secs_f64(s)
            .ok()
            .and_then(|d| Instant::now().checked_add(d))
    });

    // SAFETY: plain syscall; the result is checked.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        return Err(FsError::io("inotify_init1", &root, &e));
    }
    // SAFETY: raw is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut mask = BASE_MASK;
    if filter
        .as_ref()
        .is_some_and(|f| f.iter().any(|t| t == "Access"))
    {
        mask |= ACCESS_MASK;
    }
    let mut w = Watcher {
        fd,
        root: root.clone(),
        root_wd: -1,
        recursive: recursive && md.is_dir(),
        mask,
        filter,
        wds: HashMap::new(),
        out: ops::stdout(),
        done: false,
    };
    w.root_wd = w
        .add_watch(&root, 0)
        .map_err(|e| FsError::io("inotify_add_watch", &root, &e))?;
    if w.recursive {
        w.add_subtree(&root, false);
    }
    w.run(deadline)
}

/// Whether fd 0 is a pipe or socket, whose EOF means "stop watching". A terminal,
/// /dev/null or a closed stdin is ignored, so `watch < /dev/null` runs to its timeout.
fn stdin_is_stream() -> bool {
    // SAFETY: fstat into a zeroed struct; the result is checked.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 {
            return false;
        }
        let t = st.st_mode & libc::S_IFMT;
        t == libc::S_IFIFO || t == libc::S_IFSOCK
    }
}

impl Watcher {
    fn add_watch(&mut self, path: &Path, extra: u32) -> io::Result<i32> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: valid descriptor and NUL-terminated path.
        let wd =
            unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), self.mask | extra) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        self.wds.insert(wd, path.to_path_buf());
        Ok(wd)
    }

    /// Watches every directory under `top` (not `top` itself unless `include_top`),
    /// without following symlinks. With `announce`, reports a Create for every entry
    /// found: they appeared before their directory was watched.
    fn add_subtree(&mut self, top: &Path, announce: bool) {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.done {
                return;
            }
            let Ok(rd) = fs::read_dir(&dir) else {
                continue;
            };
            for ent in rd.flatten() {
                let path = ent.path();
                if announce {
                    self.emit("Create", &[&path]);
                }
                if ent.file_type().is_ok_and(|t| t.is_dir()) {
                    // A directory we may not read or that vanished is skipped.
                    if self
                        .add_watch(&path, libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW)
                        .is_ok()
                    {
                        stack.push(path);
                    }
                }
            }
        }
    }

    fn wants(&self, event_type: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.iter().any(|t| t == event_type))
    }

    /// One JSON line, written at once (unbuffered). A closed stdout ends the watch.
    fn emit(&mut self, event_type: &str, paths: &[&Path]) {
        if self.done || !self.wants(event_type) {
            return;
        }
        let paths: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let mut line = json!({ "event_type": event_type, "paths": paths })
            .to_string()
            .into_bytes();
        line.push(b'\n');
        if self.out.write_all(&line).is_err() {
            self.done = true;
        }
    }

    fn run(&mut self, deadline: Option<Instant>) -> Result<(), FsError> {
        let mut stdin_fd = if stdin_is_stream() { 0 } else { -1 };
        let mut buf = vec![0u8; 64 * 1024];
        let mut scratch = [0u8; 4096];
        while !self.done {
            let timeout_ms = match deadline {
                None => -1,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    let ms = (d - now).as_nanos().div_ceil(1_000_000);
                    i32::try_from(ms).unwrap_or(i32::MAX)
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: self.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: stdin_fd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: fds is a valid array of two pollfd; a negative fd is ignored.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(FsError::io("poll", &self.root, &e));
            }
            if fds[0].revents != 0 {
                self.drain(&mut buf)?;
            }
            if fds[1].revents != 0 {
                if fds[1].revents & libc::POLLNVAL != 0 {
                    stdin_fd = -1;
                    continue;
                }
                // SAFETY: reading into a local buffer of the given length.
                let n = unsafe { libc::read(0, scratch.as_mut_ptr().cast(), scratch.len()) };
                if n == 0 {
                    break; // the client closed stdin: stop, successfully
                }
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads every queued event.
    fn drain(&mut self, buf: &mut [u8]) -> Result<(), FsError> {
        while !self.done {
            // SAFETY: reading into a buffer we own, of the given length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(FsError::io("read inotify", &self.root, &e)),
                };
            }
            if n == 0 {
                return Ok(());
            }
            let len = usize::try_from(n).unwrap_or(0).min(buf.len());
            self.handle_batch(&buf[..len]);
        }
        Ok(())
    }

    fn handle_batch(&mut self, buf: &[u8]) {
        let header = size_of::<libc::inotify_event>();
        // MOVED_FROM halves waiting for their MOVED_TO: (cookie, old path, is dir).
        let mut pending: Vec<(u32, PathBuf, bool)> = Vec::new();
        let mut off = 0;
        while off + header <= buf.len() {
            let head = &buf[off..off + header];
            // SAFETY: head holds exactly size_of::<inotify_event>() bytes written by the
            // kernel; read_unaligned copes with any alignment.
            let ev: libc::inotify_event = unsafe { std::ptr::read_unaligned(head.as_ptr().cast()) };
            let start = off + header;
            let end = start.saturating_add(ev.len as usize);
            if end > buf.len() {
                break;
            }
            let raw = &buf[start..end];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            off = end;
            self.handle_event(&ev, name, &mut pending);
            if self.done {
                return;
            }
        }
        // Directories moved out of the tree: stop watching what is no longer ours.
        for (_, old, is_dir) in pending {
            if is_dir && self.recursive {
                self.forget_subtree(&old);
            }
        }
    }

    fn handle_event(
        &mut self,
        ev: &libc::inotify_event,
        name: &[u8],
        pending: &mut Vec<(u32, PathBuf, bool)>,
    ) {
        let m = ev.mask;
        if m & libc::IN_Q_OVERFLOW != 0 {
            let root = self.root.clone();
            self.emit("Unknown", &[&root]);
            return;
        }
        let Some(base) = self.wds.get(&ev.wd).cloned() else {
            return;
        };
        let path = if name.is_empty() {
            base
        } else {
            base.join(OsStr::from_bytes(name))
        };
        let is_dir = m & libc::IN_ISDIR != 0;
        let is_root = ev.wd == self.root_wd;

        if m & libc::IN_CREATE != 0 {
            self.emit("Create", &[&path]);
            if is_dir && self.recursive {
                self.watch_new_dir(&path);
            }
        }
        if m & (libc::IN_MODIFY | libc::IN_ATTRIB) != 0 {
            self.emit("Modify", &[&path]);
        }
        if m & (libc::IN_ACCESS | libc::IN_OPEN | libc::IN_CLOSE_WRITE | libc::IN_CLOSE_NOWRITE)
            != 0
        {
            self.emit("Access", &[&path]);
        }
        if m & libc::IN_DELETE != 0 || (m & libc::IN_DELETE_SELF != 0 && is_root) {
            self.emit("Remove", &[&path]);
        }
        if m & libc::IN_MOVED_FROM != 0 {
            self.emit("RenameFrom", &[&path]);
            pending.push((ev.cookie, path.clone(), is_dir));
        }
        if m & libc::IN_MOVED_TO != 0 {
            self.emit("RenameTo", &[&path]);
            if let Some(i) = pending.iter().position(|p| p.0 == ev.cookie) {
                let (_, old, was_dir) = pending.remove(i);
                self.emit("Rename", &[&old, &path]);
                if was_dir && self.recursive {
                    self.rename_subtree(&old, &path);
                }
            } else if is_dir && self.recursive {
                self.watch_new_dir(&path);
            }
        }
        if m & libc::IN_MOVE_SELF != 0 && is_root {
            self.emit("RenameFrom", &[&path]);
        }
        if m & libc::IN_UNMOUNT != 0 {
            self.emit("Unknown", &[&path]);
        }
        if m & libc::IN_IGNORED != 0 {
            self.wds.remove(&ev.wd);
            if is_root {
                // The watched path is gone (deleted or unmounted): nothing more can come.
                self.done = true;
            }
        }
    }

    /// A directory appeared inside a recursive watch: watch it and what is already in it.
    fn watch_new_dir(&mut self, path: &Path) {
        if self
            .add_watch(path, libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW)
            .is_ok()
        {
            self.add_subtree(path, true);
        }
    }

    fn rename_subtree(&mut self, old: &Path, new: &Path) {
        for p in self.wds.values_mut() {
            if let Ok(rest) = p.strip_prefix(old) {
                *p = if rest.as_os_str().is_empty() {
                    new.to_path_buf()
                } else {
                    new.join(rest)
                };
            }
        }
    }

    fn forget_subtree(&mut self, old: &Path) {
        let gone: Vec<i32> = self
            .wds
            .iter()
            .filter(|(_, p)| p.starts_with(old))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in gone {
            self.wds.remove(&wd);
            // SAFETY: removing a watch from our own inotify descriptor.
            unsafe {
                libc::inotify_rm_watch(self.fd.as_raw_fd(), wd);
            }
        }
    }
}
