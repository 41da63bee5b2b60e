//! Volumes as Modal has them: a sandbox sees the volume as it was committed when the
//! sandbox started (or last reloaded its volumes), plus its own writes; its writes reach
//! other sandboxes only once committed, and they see them only after their own reload.
//!
//! A volume is a directory of committed versions, `<volume>/@<n>`, each a whole tree
//! that never changes once made: a sandbox mounts the newest as the lower layer of an
//! overlay with an upper layer of its own. A commit builds version n+1 from the newest
//! (hard links, so unchanged files cost no space) with the sandbox's upper layer applied
//! over it (whiteouts delete, opaque directories replace), last writer winning per file
//! as on Modal. Files are never written in place in a version (an overlay copies a file
//! up before writing it), so versions sharing inodes stay apart. A version no mount
//! uses and that is not the newest is removed.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Written once a volume's directory holds versions (before it, files were kept at its
/// top, as sandboxd did first: they become version 0).
const LAYOUT_MARKER: &str = ".sandboxd-versions";

#[derive(Debug)]
pub struct Volumes {
    /// `<state dir>/volumes`: one directory per volume.
    root: PathBuf,
    /// Host uid of root in sandboxes: owns what a volume starts with.
    uid: u32,
    /// How many mounts use each (volume, version); also serialises commits.
    pins: Mutex<HashMap<(String, u64), usize>>,
}

fn version_of(name: &std::ffi::OsStr) -> Option<u64> {
    let s = name.to_str()?.strip_prefix('@')?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Volumes {
    pub fn new(state_dir: &Path, uid: u32) -> Self {
        Self {
            root: state_dir.join("volumes"),
            uid,
            pins: Mutex::new(HashMap::new()),
        }
    }

    /// The volume's directory (its versions and nothing else).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn version_dir(&self, id: &str, n: u64) -> PathBuf {
        self.dir(id).join(format!("@{n}"))
    }

    /// A new, empty volume: version 0.
    pub fn create(&self, id: &str) -> Result<()> {
        let v0 = self.version_dir(id, 0);
        fs::create_dir_all(&v0)?;
        chown(&v0, Some(self.uid), Some(self.uid))?;
        fs::write(self.dir(id).join(LAYOUT_MARKER), b"")?;
        Ok(())
    }

    /// A volume made before versions: its files move into version 0.
    fn upgrade_layout(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        if dir.join(LAYOUT_MARKER).exists() {
            return Ok(());
        }
        if !dir.exists() {
            return self.create(id);
        }
        let staging = self.root.join(format!("{id}.upgrading"));
        let _ = fs::remove_dir_all(&staging);
        fs::rename(&dir, &staging).context("moving the volume's files aside")?;
        fs::create_dir_all(&dir)?;
        fs::rename(&staging, self.version_dir(id, 0))?;
        fs::write(dir.join(LAYOUT_MARKER), b"")?;
        Ok(())
    }

    /// The newest committed version.
    fn newest(&self, id: &str) -> Result<u64> {
        self.upgrade_layout(id)?;
        fs::read_dir(self.dir(id))
            .with_context(|| format!("reading volume {id}"))?
            .filter_map(|e| version_of(&e.ok()?.file_name()))
            .max()
            .with_context(|| format!("volume {id} has no committed version"))
    }

    /// Use the newest version of volume `id` (until `release`); returns it and its path.
    pub fn pin(&self, id: &str) -> Result<(u64, PathBuf)> {
        let mut pins = crate::sync::lock(&self.pins);
        let n = self.newest(id)?;
        *pins.entry((id.to_string(), n)).or_default() += 1;
        self.collect(&pins, id);
        Ok((n, self.version_dir(id, n)))
    }

    /// Stop using version `n` of volume `id`; versions nothing uses go.
    pub fn release(&self, id: &str, n: u64) {
        let mut pins = crate::sync::lock(&self.pins);
        self.unpin(&mut pins, id, n);
    }

    fn unpin(&self, pins: &mut HashMap<(String, u64), usize>, id: &str, n: u64) {
        let key = (id.to_string(), n);
        if let Some(c) = pins.get_mut(&key) {
            *c -= 1;
            if *c == 0 {
                pins.remove(&key);
            }
        }
        self.collect(pins, id);
    }

    /// Remove the versions of `id` that are neither the newest nor in use, and what a
    /// commit cut short left.
    fn collect(&self, pins: &HashMap<(String, u64), usize>, id: &str) {
        let Ok(newest) = self.newest(id) else {
            return;
        };
        let Ok(rd) = fs::read_dir(self.dir(id)) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let stale = match version_of(&name) {
                Some(n) => n < newest && !pins.contains_key(&(id.to_string(), n)),
                None => name.as_bytes().starts_with(b".commit-"),
            };
            if stale {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Commit a sandbox's writes (`upper`, the upper layer of its overlay over the
    /// volume) on top of the newest version,
    /// then move its pin from version `had` to the newest: returns it and its path.
    /// Nothing written: no new version.
    pub fn commit(&self, id: &str, had: u64, upper: Option<&Path>) -> Result<(u64, PathBuf)> {
        let mut pins = crate::sync::lock(&self.pins);
        let mut newest = self.newest(id)?;
        let written = match upper {
            Some(u) => fs::read_dir(u)?.next().is_some(),
            None => false,
        };
        if let (true, Some(upper)) = (written, upper) {
            let next = newest + 1;
            let building = self.dir(id).join(format!(".commit-{next}"));
            let _ = fs::remove_dir_all(&building);
            link_tree(&self.version_dir(id, newest), &building)
                .context("copying the volume's newest version")?;
            let at = building.clone();
            apply(upper, &at).context("applying the sandbox's writes")?;
            copy_meta(upper, &at)?;
            fs::rename(&building, self.version_dir(id, next))?;
            newest = next;
        }
        *pins.entry((id.to_string(), newest)).or_default() += 1;
        self.unpin(&mut pins, id, had);
        Ok((newest, self.version_dir(id, newest)))
    }
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// `dst` as a copy of `src` whose directories are new and whose other entries are hard
/// links to `src`'s.
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    fs::create_dir(dst)?;
    copy_meta(src, dst)?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        if e.file_type()?.is_dir() {
            link_tree(&s, &d)?;
        } else {
            fs::hard_link(&s, &d)?;
        }
    }
    Ok(())
}

/// Mode, owner and modification time of directory or file `src` onto `dst`.
fn copy_meta(src: &Path, dst: &Path) -> Result<()> {
    let m = fs::symlink_metadata(src)?;
    lchown(dst, Some(m.uid()), Some(m.gid()))?;
    if !m.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    // opened to set the time: never a FIFO (the open would wait for a writer)
    if m.is_file() || m.is_dir() {
        if let Ok(t) = m.modified() {
            let _ = fs::File::open(dst).and_then(|f| f.set_modified(t));
        }
    }
    Ok(())
}

/// An overlay whiteout: a character device 0:0 (a deletion).
fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// A directory the overlay marked opaque: it replaced whatever the lower layer had there.
fn is_opaque(p: &Path) -> bool {
    let (Ok(path), Ok(name)) = (
        CString::new(p.as_os_str().as_bytes()),
        CString::new("trusted.overlay.opaque"),
    ) else {
        return false;
    };
    let mut v = [0u8; 1];
    let n = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), v.as_mut_ptr().cast(), 1) };
    n == 1 && v[0] == b'y'
}

/// Apply overlay upper layer `upper` to `dst`, a tree of the lower layer's contents.
fn apply(upper: &Path, dst: &Path) -> Result<()> {
    for e in fs::read_dir(upper)? {
        let e = e?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let m = fs::symlink_metadata(&s)?;
        let ft = m.file_type();
        if is_whiteout(&m) {
            remove_any(&d)?;
        } else if ft.is_dir() {
            let keep = !is_opaque(&s) && fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir());
            if !keep {
                remove_any(&d)?;
                fs::create_dir(&d)?;
            }
            apply(&s, &d)?;
            copy_meta(&s, &d)?;
        } else if ft.is_file() {
            remove_any(&d)?;
            fs::copy(&s, &d).with_context(|| format!("copying {}", s.display()))?;
            copy_meta(&s, &d)?;
        } else if ft.is_symlink() {
            remove_any(&d)?;
            std::os::unix::fs::symlink(fs::read_link(&s)?, &d)?;
            copy_meta(&s, &d)?;
        } else if ft.is_fifo() {
            remove_any(&d)?;
            let c = CString::new(d.as_os_str().as_bytes())?;
            if unsafe { libc::mkfifo(c.as_ptr(), (m.mode() & 0o777) as libc::mode_t) } != 0 {
                bail!(
                    "mkfifo {}: {}",
                    d.display(),
                    std::io::Error::last_os_error()
                );
            }
            copy_meta(&s, &d)?;
        }
        // sockets and devices are not kept: neither outlives the sandbox that made it
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.extend(tree(&e.path()).into_iter().map(|c| format!("{name}/{c}")));
                out.push(format!("{name}/"));
            } else {
                out.push(format!("{name}={}", fs::read_to_string(e.path()).unwrap()));
            }
        }
        out.sort();
        out
    }

    /// A volume made before versions keeps its files (as version 0); a commit applies an
    /// upper layer's files, whiteouts and opaque directories to a new version and leaves
    /// the old one as it was while it is pinned, then removes it.
    #[test]
    fn versions_are_made_by_applying_an_upper_layer() {
        if unsafe { libc::geteuid() } != 0 {
            return; // whiteouts and trusted.* attributes need root, as sandboxd has
        }
        let state = tempfile::tempdir().unwrap();
        let legacy = state.path().join("volumes/vo-1");
        fs::create_dir_all(legacy.join("keep")).unwrap();
        fs::write(legacy.join("gone"), "g").unwrap();
        fs::write(legacy.join("keep/old"), "o").unwrap();
        fs::write(legacy.join("f"), "1").unwrap();
        let vols = Volumes::new(state.path(), 0);
        let (n, v0) = vols.pin("vo-1").unwrap();
        assert_eq!(n, 0);
        assert_eq!(tree(&v0), ["f=1", "gone=g", "keep/", "keep/old=o"]);

        let upper = state.path().join("upper");
        fs::create_dir_all(upper.join("keep")).unwrap();
        fs::write(upper.join("f"), "2").unwrap();
        fs::write(upper.join("keep/new"), "n").unwrap();
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap();
        let wh = c(&upper.join("gone"));
        assert_eq!(unsafe { libc::mknod(wh.as_ptr(), libc::S_IFCHR, 0) }, 0);
        let (k, name) = (
            c(&upper.join("keep")),
            CString::new("trusted.overlay.opaque").unwrap(),
        );
        let rc = unsafe { libc::setxattr(k.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(rc, 0);
        let (n, v1) = vols.commit("vo-1", 0, Some(&upper)).unwrap();
        assert_eq!(n, 1);
        assert_eq!(tree(&v1), ["f=2", "keep/", "keep/new=n"]);
        assert!(!v0.exists(), "version 0 is neither pinned nor the newest");
        vols.release("vo-1", 1);
        assert!(v1.exists(), "the newest stays");
    }
}
