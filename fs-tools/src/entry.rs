//! The JSON entry of ListFiles and Stat.

use std::collections::HashMap;
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// `{name, path, type, size, mode, permissions, owner, group, modified_time,
/// symlink_target}` for `md`, the lstat of `fs_path` (used to read a symlink's target).
pub fn build(name: &str, path: &str, fs_path: &Path, md: &Metadata) -> Value {
    let ft = md.file_type();
    let (kind, target) = if ft.is_symlink() {
        let target = fs::read_link(fs_path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned());
        ("symlink", target)
    } else if ft.is_dir() {
        ("directory", None)
    } else {
        ("file", None)
    };
    let modified = md.mtime() as f64 + md.mtime_nsec() as f64 / 1e9;
    json!({
        "name": name,
        "path": path,
        "type": kind,
        "size": md.size(),
        "mode": md.mode(),
        "permissions": format!("{:04o}", md.mode() & 0o7777),
        "owner": owner_name(md.uid()),
        "group": group_name(md.gid()),
        "modified_time": modified,
        "symlink_target": target,
    })
}

/// The user name for `uid` from the sandbox's own /etc/passwd, else the number.
/// (Read directly rather than through NSS: the binary is static and must work in any
/// rootfs, with or without a libc of its own.)
pub fn owner_name(uid: u32) -> String {
    static USERS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    USERS
        .get_or_init(|| id_names("/etc/passwd"))
        .get(&uid)
        .cloned()
        .unwrap_or_else(|| uid.to_string())
}

/// The group name for `gid` from /etc/group, else the number.
pub fn group_name(gid: u32) -> String {
    static GROUPS: OnceLock<HashMap<u32, String>> = OnceLock::new();
    GROUPS
        .get_or_init(|| id_names("/etc/group"))
        .get(&gid)
        .cloned()
        .unwrap_or_else(|| gid.to_string())
}

/// `name:password:id:...` lines; the first name for an id wins, as with getpwuid.
fn id_names(file: &str) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    let Ok(bytes) = fs::read(file) else {
        return map;
    };
    for line in String::from_utf8_lossy(&bytes).lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') || name.starts_with(['+', '-']) {
            continue;
        }
        if let Ok(id) = id.trim().parse::<u32>() {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

/// `path` made absolute against the working directory and normalised lexically
/// (`.` and `..` folded, repeated slashes dropped), like Python's os.path.abspath.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(cwd) => cwd.join(path),
            Err(_) => path.to_path_buf(),
        }
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::Prefix(_) | Component::CurDir => {}
            Component::RootDir => out.push("/"),
            Component::ParentDir => {
                if out.parent().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_normalises() {
        assert_eq!(absolute(Path::new("/a/./b/../c//d/")), Path::new("/a/c/d"));
        assert_eq!(absolute(Path::new("/../..")), Path::new("/"));
        assert_eq!(absolute(Path::new("/")), Path::new("/"));
    }
}
