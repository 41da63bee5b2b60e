//! The image store. No registry is reachable, so `FROM <tag>` resolves from images
//! imported with `sandboxd image import TAG PATH`; a tag the store lacks falls back (by
//! `--missing-image host`) to the host base image: the host's /usr (and what links into
//! it) and /opt, read-only, under a generated minimal /etc. Never the host's own /etc,
//! /root, /home, /tmp, /var, the state dir or a checkout.
//!
//! Also the layer utilities that builds and snapshots share: naming a new layer, and
//! copying a tree or a sandbox's writable layers into one.

use crate::auth::now_f64;
use crate::backend::rootfs::ImageLayers;
use crate::store::{Record, Store, Table};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::{lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const HOST_BASE_ID: &str = "im-hostbase0000000000000";
/// The host base image with `python` on the PATH, the stand-in for `python:*` tags.
pub const HOST_PYTHON_ID: &str = "im-hostpython00000000000";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    /// Layer directory names under `<state>/layers`, lowest first.
    pub layers: Vec<String>,
    /// Host directories overlaid read-only (the host base image).
    pub host_dirs: Vec<String>,
    pub created_at: f64,
    /// Build log lines, replayed by ImageJoinStreaming.
    pub logs: Vec<String>,
    /// Set when the build failed: the reason, shown to the client.
    pub error: Option<String>,
    #[serde(default)]
    pub expires_at: Option<f64>,
    /// Environment set by ENV steps, under the sandbox's own.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Default working directory set by WORKDIR steps.
    #[serde(default)]
    pub workdir: Option<String>,
}

impl Record for ImageRecord {
    const TABLE: Table = Table::IMAGES;
}

/// The image a registry tag (`debian:latest`) names in the local store, keyed by the tag.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct TaggedImage(String);

impl Record for TaggedImage {
    const TABLE: Table = Table::META;
    const KEY_PREFIX: &'static str = "tag:";
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MissingImage {
    Host,
    Error,
}

pub struct Images {
    pub layers_dir: PathBuf,
    uid: u32,
    missing: MissingImage,
}

/// A registry tag as written in `FROM` (a default `latest` tag added).
/// True for Docker Hub's official Python images (`python:3.12-slim`,
/// `docker.io/library/python:3`), which all have `python` on the PATH.
fn is_python_tag(tag: &str) -> bool {
    let repo = tag.split([':', '@']).next().unwrap_or(tag);
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    repo == "python"
}

pub fn normalize_tag(tag: &str) -> String {
    let last = tag.rsplit('/').next().unwrap_or(tag);
    if last.contains(':') || last.contains('@') {
        tag.to_string()
    } else {
        format!("{tag}:latest")
    }
}

impl Images {
    pub fn new(state_dir: &Path, uid: u32, missing: MissingImage) -> Self {
        Self {
            layers_dir: state_dir.join("layers"),
            uid,
            missing,
        }
    }

    /// A new layer's name and directory: `<image id>-<suffix>`.
    pub fn new_layer(&self, image_id: &str, suffix: &str) -> (String, PathBuf) {
        let name = format!("{image_id}-{suffix}");
        let dir = self.layers_dir.join(&name);
        (name, dir)
    }

    /// Whether every named layer is still on disk.
    pub fn has_layers(&self, layers: &[String]) -> bool {
        layers.iter().all(|l| self.layers_dir.join(l).is_dir())
    }

    pub fn layers(&self, rec: &ImageRecord) -> ImageLayers {
        ImageLayers {
            layers: rec.layers.iter().map(|l| self.layers_dir.join(l)).collect(),
            host_dirs: rec.host_dirs.iter().map(PathBuf::from).collect(),
        }
    }

    /// Create (once) the host base image and its generated /etc layer.
    pub fn ensure_host_base(&self, store: &Store) -> Result<ImageRecord> {
        if let Some(rec) = store.get::<ImageRecord>(HOST_BASE_ID)? {
            if self.layers_dir.join("hostbase").is_dir() {
                return Ok(rec);
            }
        }
        let dir = self.layers_dir.join("hostbase");
        let tmp = self.layers_dir.join("hostbase.tmp");
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(tmp.join("etc/ssl/certs"))?;
        let mut host_dirs = vec!["/usr".to_string()];
        for d in [
            "usr", "proc", "dev", "sys", "tmp", "root", "home", "var/tmp", "run", "mnt", "srv",
            "opt",
        ] {
            fs::create_dir_all(tmp.join(d))?;
        }
        if Path::new("/opt").is_dir() {
            host_dirs.push("/opt".into());
        }
        for link in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let host = Path::new("/").join(link);
            if let Ok(target) = fs::read_link(&host) {
                if target.starts_with("usr") || target.starts_with("/usr") {
                    symlink(&target, tmp.join(link))?;
                }
            }
        }
        let etc = tmp.join("etc");
        fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")?;
        fs::write(etc.join("group"), "root:x:0:\nnogroup:x:65534:\n")?;
        fs::write(
            etc.join("hosts"),
            "127.0.0.1 localhost modal\n::1 localhost ip6-localhost ip6-loopback\n",
        )?;
        fs::write(etc.join("hostname"), "modal\n")?;
        fs::write(etc.join("resolv.conf"), "nameserver 10.0.2.3\n")?;
        fs::write(
            etc.join("nsswitch.conf"),
            "passwd: files\ngroup: files\nhosts: files dns\n",
        )?;
        let certs = Path::new("/etc/ssl/certs/ca-certificates.crt");
        if certs.exists() {
            fs::copy(certs, etc.join("ssl/certs/ca-certificates.crt"))?;
        }
        chown_tree(&tmp, self.uid)?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir)?;
        let rec = ImageRecord {
            id: HOST_BASE_ID.into(),
            layers: vec!["hostbase".into()],
            host_dirs,
            created_at: now_f64(),
            logs: vec![],
            error: None,
            expires_at: None,
            env: vec![],
            workdir: None,
        };
        store.put(&rec.id, &rec)?;
        Ok(rec)
    }

    /// `sandboxd image import TAG PATH`: a rootfs directory or tarball becomes an image.
    pub fn import(&self, store: &Store, tag: &str, path: &Path) -> Result<ImageRecord> {
        let tag = normalize_tag(tag);
        let id = format!(
            "im-{}",
            &hex_digest(format!("import:{tag}:{}", now_f64()).as_bytes())[..22]
        );
        let layer = format!("{id}-0");
        let dir = self.layers_dir.join(&layer);
        fs::create_dir_all(&dir)?;
        let status = if path.is_dir() {
            Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", path.display()))
                .arg(&dir)
                .status()
        } else {
            Command::new("tar")
                .args(["-xf"])
                .arg(path)
                .arg("-C")
                .arg(&dir)
                .arg("--no-same-owner")
                .status()
        }
        .context("copying the image's files")?;
        if !status.success() {
            let _ = fs::remove_dir_all(&dir);
            bail!(
                "could not read {} as a rootfs directory or tarball",
                path.display()
            );
        }
        chown_tree(&dir, self.uid)?;
        let rec = ImageRecord {
            id: id.clone(),
            layers: vec![layer],
            host_dirs: vec![],
            created_at: now_f64(),
            logs: vec![format!(
                "Using {tag} from sandboxd's local image store ({id})."
            )],
            error: None,
            expires_at: None,
            env: vec![],
            workdir: None,
        };
        store.put(&id, &rec)?;
        store.put(&tag, &TaggedImage(id.clone()))?;
        Ok(rec)
    }

    /// Resolve a `FROM` reference: an image id, or a registry tag from the local store.
    pub fn resolve_from(&self, store: &Store, from: &str) -> Result<ImageRecord> {
        if from.starts_with("im-") {
            if let Some(rec) = store.get::<ImageRecord>(from)? {
                return Ok(rec);
            }
        }
        let tag = normalize_tag(from);
        if let Some(TaggedImage(id)) = store.get::<TaggedImage>(&tag)? {
            if let Some(rec) = store.get::<ImageRecord>(&id)? {
                return Ok(rec);
            }
        }
        match self.missing {
            MissingImage::Error => bail!(
                "image {tag} is not in sandboxd's local image store; import it with `sandboxd image import {tag} PATH`"
            ),
            MissingImage::Host => {
                let python = is_python_tag(&tag);
                let mut rec = match python {
                    true => self.ensure_host_python(store)?,
                    false => self.ensure_host_base(store)?,
                };
                rec.logs = vec![format!(
                    "Image {tag} is not in sandboxd's local image store (no registry is reachable); \
                     using the host base image: the host's /usr and /opt, read-only, with a generated /etc{}.",
                    if python { ", and the host's python3 as `python`" } else { "" }
                )];
                Ok(rec)
            }
        }
    }
}

impl Images {
    /// The host base image plus one layer: `/usr/local/bin/python` (and `pip`, where the
    /// host has pip) linked to the host's python3, as every `python:*` image has them.
    /// Without a host python3 it is the host base image.
    pub fn ensure_host_python(&self, store: &Store) -> Result<ImageRecord> {
        let base = self.ensure_host_base(store)?;
        if !Path::new("/usr/bin/python3").exists() {
            return Ok(base);
        }
        if let Some(rec) = store.get::<ImageRecord>(HOST_PYTHON_ID)? {
            if self.layers_dir.join("hostpython").is_dir() {
                return Ok(rec);
            }
        }
        let dir = self.layers_dir.join("hostpython");
        let tmp = self.layers_dir.join("hostpython.tmp");
        let _ = fs::remove_dir_all(&tmp);
        let bin = tmp.join("usr/local/bin");
        fs::create_dir_all(&bin)?;
        symlink("/usr/bin/python3", bin.join("python"))?;
        if Path::new("/usr/bin/pip3").exists() {
            symlink("/usr/bin/pip3", bin.join("pip"))?;
        }
        chown_tree(&tmp, self.uid)?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir)?;
        let mut layers = base.layers.clone();
        layers.push("hostpython".into());
        let rec = ImageRecord {
            id: HOST_PYTHON_ID.into(),
            layers,
            created_at: now_f64(),
            ..base
        };
        store.put(&rec.id, &rec)?;
        Ok(rec)
    }
}

/// `cp -a` keeps owners, modes, links, devices (overlay whiteouts) and xattrs (opaque dirs).
pub async fn copy_tree(src: &str, dst: &Path) -> Result<()> {
    tokio::fs::create_dir_all(dst).await?;
    let out = tokio::process::Command::new("cp")
        .args(["-a", "--preserve=all", "--no-target-directory"])
        .arg(src)
        .arg(dst)
        .output()
        .await
        .context("running cp")?;
    if !out.status.success() {
        bail!(
            "copying {src}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Copy a sandbox's writable layers (`upper` for `/`, `upper-<dir>` for each overlaid
/// host dir) into `dst`, the new top layer of an image.
pub async fn freeze_writable_layers(data: &Path, host_dirs: &[String], dst: &Path) -> Result<()> {
    copy_tree(&format!("{}/upper", data.display()), dst).await?;
    for host in host_dirs {
        let name = Path::new(host)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let upper = data.join(format!("upper-{name}"));
        if upper.is_dir() {
            copy_tree(&upper.display().to_string(), &dst.join(&name)).await?;
        }
    }
    // the helpers' mount point is sandboxd's, not the sandbox's
    let _ = tokio::fs::remove_dir_all(dst.join("__modal")).await;
    Ok(())
}

pub fn hex_digest(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn chown_tree(dir: &Path, uid: u32) -> Result<()> {
    lchown(dir, Some(uid), Some(uid))?;
    if fs::symlink_metadata(dir)?.is_dir() {
        for e in fs::read_dir(dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                chown_tree(&e.path(), uid)?;
            } else {
                lchown(e.path(), Some(uid), Some(uid))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_tags_are_dockers_official_python() {
        for t in [
            "python:3.12-slim",
            "python:latest",
            "docker.io/library/python:3",
            "library/python@sha256:ab",
        ] {
            assert!(is_python_tag(t), "{t}");
        }
        for t in [
            "pythonx:3",
            "me/python:3",
            "debian:bookworm",
            "ghcr.io/python:3",
        ] {
            assert!(!is_python_tag(t), "{t}");
        }
    }

    #[test]
    fn tags_get_a_default_latest() {
        assert_eq!(normalize_tag("debian"), "debian:latest");
        assert_eq!(
            normalize_tag("debian:bookworm-slim"),
            "debian:bookworm-slim"
        );
        assert_eq!(normalize_tag("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize_tag("x@sha256:ab"), "x@sha256:ab");
    }
}
