//! What a sandboxd instance leaves behind when it dies without cleaning up (kill -9, a
//! crash, a power cut), and the sweep that removes it: run at every start before
//! anything else, and at the end of a clean stop. Only this instance's things are
//! touched, found by what only it owns: mount points under its run root
//! (`/run/sandboxd/<instance>`) and its state dir's `sandboxes/`, and cgroups under
//! `sandboxd/<instance>`. Processes are found through those cgroups (sandbox process
//! trees and their slirp4netns all join them). Another instance has another state dir,
//! so another run root and cgroup parent: its sandboxes are never touched.

use super::cgroup;
use super::InstancePaths;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a sweep found (and removed).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reaped {
    pub processes: usize,
    pub mounts: usize,
    pub cgroups: usize,
}

impl Reaped {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Mount points (from /proc/self/mountinfo) at or below `root`, deepest first.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(root))
        .collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = |d: u8| (b'0'..=b'7').contains(&d);
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1] <= b'3'
            && b[i + 1..i + 4].iter().all(|d| octal(*d))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unmount(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) == 0 }
}

/// Remove `dir` and what is in it, unless something is still mounted below it (then a
/// recursive delete would reach into that mount: a volume, the host's /usr).
pub fn remove_tree(dir: &Path) {
    if mounts_under(dir).is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        tracing::warn!(
            "not removing {}: something is still mounted below it",
            dir.display()
        );
    }
}

/// Kill this instance's leftover processes, unmount its leftover mounts, remove its
/// leftover cgroups and writable layers. Blocking (it waits for killed processes to go).
pub fn reap(config: &InstancePaths) -> Reaped {
    let mut done = Reaped::default();
    let parent = config.cgroup_parent();
    let groups = cgroup::groups_under(&parent);
    for g in &groups {
        done.processes += g.pid_count();
        g.kill_all();
    }
    // a killed process leaves its cgroup once it is reaped (by init, for orphans)
    let deadline = Instant::now() + Duration::from_secs(5);
    while groups.iter().any(|g| !g.is_empty()) && Instant::now() < deadline {
        for g in &groups {
            g.kill_all();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for root in [&config.run_root, &config.data_root] {
        for m in mounts_under(root) {
            if unmount(&m) {
                done.mounts += 1;
            }
        }
    }
    done.cgroups = cgroup::count_dirs_under(&parent);
    for g in &groups {
        g.remove();
    }
    // writable layers and their disk images: nothing in `sandboxes/` outlives its sandbox
    if let Ok(rd) = std::fs::read_dir(&config.data_root) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    // mount points of sandboxes and staging mounts in the run root (the helpers stay)
    if let Ok(rd) = std::fs::read_dir(&config.run_root) {
        for e in rd.flatten() {
            if e.file_name() != "helpers" && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }
}
