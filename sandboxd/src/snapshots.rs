//! Layers made from running sandboxes, and images mounted into them: filesystem and
//! directory snapshots become images in the store (and can start new sandboxes); an
//! image's layers can be mounted read-only at a path inside a running sandbox.

use crate::auth::now_f64;
use crate::backend::mounts;
use crate::backend::sandbox::Sandbox;
use crate::images::{copy_tree, freeze_writable_layers, ImageRecord};
use crate::state::{internal, SandboxRecord, State};
use std::path::PathBuf;
use tonic::Status;

fn expires(ttl_seconds: Option<i64>) -> Option<f64> {
    ttl_seconds.filter(|t| *t > 0).map(|t| now_f64() + t as f64)
}

fn path_of(bytes: &[u8]) -> Result<String, Status> {
    let p = String::from_utf8(bytes.to_vec())
        .map_err(|_| Status::invalid_argument("path must be UTF-8"))?;
    crate::limits::abs_path("path", &p)?;
    // one spelling per directory (`/a//b/` is `/a/b`), so mounts are found by path
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
    Ok(format!("/{}", parts.join("/")))
}

/// A new directory for one image mount, kept with the sandbox's writable layers.
fn mount_dir(sb: &Sandbox) -> Result<std::path::PathBuf, Status> {
    Ok(sb
        .data_dir()
        .ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", sb.id))
        })?
        .join("mounts")
        .join(crate::ids::new_id("m")))
}

impl State {
    fn sandbox_root(sb: &Sandbox) -> Result<PathBuf, Status> {
        sb.root_path().ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", sb.id))
        })
    }

    /// The sandbox's writable layers frozen on top of its image's layers.
    pub async fn snapshot_filesystem(
        &self,
        rec: &SandboxRecord,
        sb: &Sandbox,
        ttl: Option<i64>,
    ) -> Result<String, Status> {
        let base = self.image(&rec.image_id)?;
        Self::sandbox_root(sb)?;
        let data = sb.data_dir().ok_or_else(|| {
            Status::failed_precondition(format!("Sandbox {} has already finished", sb.id))
        })?;
        let id = crate::ids::new_id("im");
        let (layer, dir) = self.images.new_layer(&id, "fs");
        let result = freeze_writable_layers(&data, &base.host_dirs, &dir).await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(internal(format!("{e:#}")));
        }
        let mut layers = base.layers.clone();
        layers.push(layer);
        let img = ImageRecord {
            id: id.clone(),
            layers,
            host_dirs: base.host_dirs.clone(),
            created_at: now_f64(),
            logs: vec![format!("Snapshot of sandbox {}'s filesystem.", rec.id)],
            error: None,
            expires_at: expires(ttl),
            env: base.env.clone(),
            workdir: base.workdir.clone(),
        };
        self.store.put(&id, &img).map_err(internal)?;
        Ok(id)
    }

    /// One directory of the sandbox, as it looks inside it, as an image of its own.
    pub async fn snapshot_directory(
        &self,
        sb: &Sandbox,
        path: &[u8],
        ttl: Option<i64>,
    ) -> Result<String, Status> {
        let path = path_of(path)?;
        let root = Self::sandbox_root(sb)?;
        let dir_fd = mounts::dir_in_sandbox(&root, &path, None).map_err(|e| {
            Status::not_found(format!("{path} is not a directory in the sandbox: {e:#}"))
        })?;
        let id = crate::ids::new_id("im");
        let (layer, dir) = self.images.new_layer(&id, "dir");
        if let Err(e) = copy_tree(&format!("{}/.", mounts::fd_path(&dir_fd)), &dir).await {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(internal(format!("{e:#}")));
        }
        let img = ImageRecord {
            id: id.clone(),
            layers: vec![layer],
            host_dirs: vec![],
            created_at: now_f64(),
            logs: vec![format!("Snapshot of {path} in sandbox {}.", sb.id)],
            error: None,
            expires_at: expires(ttl),
            env: vec![],
            workdir: None,
        };
        self.store.put(&id, &img).map_err(internal)?;
        Ok(id)
    }

    /// Mount an image's files at `path` inside the running sandbox, writable (copy on write).
    pub async fn mount_image(
        &self,
        sb: &Sandbox,
        path: &[u8],
        image_id: &str,
    ) -> Result<(), Status> {
        let path = path_of(path)?;
        if path == "/" {
            return Err(Status::invalid_argument("cannot mount an image over /"));
        }
        let helpers = crate::backend::rootfs::HELPERS_DIR;
        if path == "/__modal" || path.starts_with("/__modal/") {
            return Err(Status::invalid_argument(format!(
                "{path} is reserved: the sandbox's helpers live in {helpers}"
            )));
        }
        let root = Self::sandbox_root(sb)?;
        let target = mounts::dir_in_sandbox(&root, &path, Some(self.backend.uid))
            .map_err(|e| Status::invalid_argument(format!("cannot mount at {path}: {e:#}")))?;
        if image_id.is_empty() {
            // no image: an empty, writable directory of the sandbox's own (to fill and
            // snapshot later), kept with the sandbox's writable layers
            let dir = mount_dir(sb)?;
            crate::backend::create_owned_dir(dir.clone(), self.backend.uid)
                .await
                .map_err(internal)?;
            mounts::attach(&dir, &target, false)
                .map_err(|e| internal(format!("mounting an empty directory at {path}: {e:#}")))?;
            sb.note_image_mount(&path);
            return Ok(());
        }
        let img = self.image(image_id)?;
        let layers = self.images.layers(&img).layers;
        if layers.is_empty() {
            return Err(internal(format!("image {image_id} has no files")));
        }
        // writable as Modal mounts images: the layers under an upper of the sandbox's own
        // (kept with its writable layers), so the image itself never changes. Stacked in a
        // staging overlay first, then a copy of it attached.
        let own = mount_dir(sb)?;
        let stage = self
            .backend
            .run_root
            .join(format!("stage-{}", crate::ids::new_id("m")));
        let result = crate::backend::rootfs::overlay_writable(
            &layers,
            &own.join("upper"),
            &own.join("work"),
            &stage,
            self.backend.uid,
        )
        .and_then(|_| mounts::attach(&stage, &target, false));
        crate::backend::rootfs::unmount_path(&stage);
        result.map_err(|e| internal(format!("mounting {image_id} at {path}: {e:#}")))?;
        sb.note_image_mount(&path);
        Ok(())
    }

    /// Unmount what TaskMountDirectory mounted at `path` (and nothing else: not the
    /// sandbox's /usr, its helpers or its root).
    pub async fn unmount_image(&self, sb: &Sandbox, path: &[u8]) -> Result<(), Status> {
        let path = path_of(path)?;
        let root = Self::sandbox_root(sb)?;
        if !sb.forget_image_mount(&path) {
            return Err(Status::failed_precondition(format!(
                "no image is mounted at {path} (only paths given to TaskMountDirectory can be unmounted)"
            )));
        }
        let target = mounts::dir_in_sandbox(&root, &path, None)
            .map_err(|e| Status::not_found(format!("{path}: {e:#}")))?;
        mounts::detach(&target)
            .map_err(|e| Status::failed_precondition(format!("{path} is not a mount: {e:#}")))
    }
}
