//! The size cap on a sandbox's writable layer: the layer (overlay upper and work dirs,
//! and the sandbox's own empty mounts) lives on an ext4 filesystem of its own, in a
//! sparse file in the state dir, loop-mounted at the sandbox's data directory. A write
//! past the cap fails with ENOSPC inside the sandbox; the host's disk holds only what
//! the sandbox really wrote, and never more than the cap.
//!
//! Why a disk image and not a size-capped tmpfs: tmpfs pages are memory charged to the
//! sandbox's memory cgroup, so a sandbox that writes files has that much less memory (a
//! `pip install` of 2 GB under a 1 GB memory limit is OOM-killed instead of getting
//! ENOSPC), and the host's RAM, not its disk, would hold every sandbox's files. The cost
//! of the image is kept off the create path: the filesystem is made once per size
//! (mkfs.ext4, tens of milliseconds) as a template, and each sandbox gets a sparse copy
//! of it (about 2 MB of metadata, copied in the kernel) plus a loop device, a few
//! milliseconds in all. No journal: the layer does not outlive a crash of sandboxd
//! (the next start deletes it), so there is nothing to replay.

use crate::sync::lock;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// The disk settings of one instance: the default cap, the formatted template, and a
/// few disks of the default size made ahead, mounted and waiting for a sandbox, so a
/// create does not wait for a loop device and a mount (2 to 20 ms measured here).
#[derive(Clone, Debug)]
pub struct Disks {
    /// Default cap in MiB (`serve --sandbox-disk-mib`); 0 means no cap.
    pub default_mib: u64,
    /// Where the template and the images live (the state dir's `sandboxes/`).
    dir: PathBuf,
    /// Host uid that owns the filesystem's root (root inside the sandbox).
    uid: u32,
    pool: Arc<Mutex<Pool>>,
}

/// Disks made ahead; how many, and whether more are being made.
const READY: usize = 2;

#[derive(Debug, Default)]
struct Pool {
    template: Option<PathBuf>,
    ready: Vec<Disk>,
    refilling: bool,
    /// Set by `close`: make no more.
    closed: bool,
}

/// One sandbox's mounted disk; unmounted and deleted by `release` (or on drop).
#[derive(Debug)]
pub struct Disk {
    /// Where the filesystem is mounted: the sandbox's data directory.
    pub mount_point: PathBuf,
    image: PathBuf,
    mounted: bool,
}

fn mkfs_ext4() -> &'static str {
    // /usr/sbin is not on every PATH
    ["/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("mkfs.ext4")
}

impl Disks {
    pub fn new(default_mib: u64, dir: PathBuf, uid: u32) -> Self {
        Self {
            default_mib,
            dir,
            uid,
            pool: Arc::default(),
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        lock(&self.pool)
    }

    /// Make the template of the default size now (so a machine that cannot make one is
    /// told at start), and start making the first disks ahead.
    pub fn prepare(&self) -> Result<()> {
        if self.default_mib > 0 {
            self.template()?;
            self.refill();
        }
        Ok(())
    }

    /// A formatted, empty filesystem of the default size (a sparse file), made once.
    fn template(&self) -> Result<PathBuf> {
        if let Some(p) = self.pool().template.clone().filter(|p| p.exists()) {
            return Ok(p);
        }
        let path = self
            .dir
            .join(format!(".template-{}.ext4", self.default_mib));
        std::fs::create_dir_all(&self.dir)?;
        format(&path, self.default_mib, self.uid)?;
        self.pool().template = Some(path.clone());
        Ok(path)
    }

    /// A fresh, empty, mounted filesystem of `mib` MiB for one sandbox: one made ahead
    /// when `mib` is the default, else made now. Another size is formatted for this
    /// sandbox alone (and costs mkfs's time), so a client cannot fill the state dir with
    /// templates of many sizes.
    pub fn create(&self, mib: u64) -> Result<Disk> {
        if mib == self.default_mib {
            let ready = self.pool().ready.pop();
            self.refill();
            if let Some(d) = ready {
                return Ok(d);
            }
        }
        self.make(mib)
    }

    /// Make disks ahead in the background until `READY` wait.
    fn refill(&self) {
        {
            let mut pool = self.pool();
            if pool.refilling || pool.closed || pool.ready.len() >= READY {
                return;
            }
            pool.refilling = true;
        }
        let me = self.clone();
        std::thread::spawn(move || loop {
            let made = me.make(me.default_mib);
            let mut pool = me.pool();
            match made {
                Ok(d) if !pool.closed => pool.ready.push(d),
                Ok(_) => {} // dropped: unmounted and deleted
                Err(e) => tracing::warn!("making a sandbox disk ahead: {e:#}"),
            }
            if pool.closed || pool.ready.len() >= READY || pool.template.is_none() {
                pool.refilling = false;
                return;
            }
        });
    }

    /// Make no more disks; release the ones made ahead (a clean stop).
    pub fn close(&self) {
        self.pool().closed = true;
        for _ in 0..500 {
            if !self.pool().refilling {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let ready = std::mem::take(&mut self.pool().ready);
        drop(ready);
    }

    /// A disk made now: a copy of the template (default size) or a new filesystem,
    /// loop-mounted at `<dir>/d-<random>`, its image beside it.
    fn make(&self, mib: u64) -> Result<Disk> {
        let mount_point = self.dir.join(crate::ids::new_id("d"));
        let mut image = mount_point.as_os_str().to_owned();
        image.push(".ext4");
        // from here on, dropping `disk` deletes whatever of the image was made
        let mut disk = Disk {
            mount_point,
            image: PathBuf::from(image),
            mounted: false,
        };
        let t0 = std::time::Instant::now();
        if mib == self.default_mib {
            let template = self.template()?;
            copy_sparse(&template, &disk.image)
                .with_context(|| format!("copying {}", template.display()))?;
        } else {
            format(&disk.image, mib, self.uid)?;
        }
        let made = t0.elapsed();
        std::fs::create_dir_all(&disk.mount_point)?;
        attach_and_mount(&disk.image, &disk.mount_point)
            .context("mounting the writable layer's disk")?;
        tracing::debug!(image = ?disk.image, ?made, mounted = ?t0.elapsed(), "writable layer disk");
        disk.mounted = true;
        Ok(disk)
    }
}

/// `mkfs.ext4` of a sparse file of `mib` MiB whose root directory belongs to `uid`. No
/// reserved blocks: the sandbox's root is not the host's root and could not use them.
fn format(path: &Path, mib: u64, uid: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let f = File::create(&tmp)?;
    f.set_len(mib << 20)?;
    drop(f);
    let out = std::process::Command::new(mkfs_ext4())
        .args(["-q", "-F", "-O", "^has_journal", "-m", "0", "-E"])
        .arg(format!(
            "lazy_itable_init=1,nodiscard,root_owner={uid}:{uid}"
        ))
        .arg(&tmp)
        .output()
        .context(
            "running mkfs.ext4 (install e2fsprogs, or serve with --sandbox-disk-mib 0 for no cap)",
        )?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        bail!(
            "mkfs.ext4 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Copy only the data of sparse file `src` (the holes stay holes), in the kernel.
fn copy_sparse(src: &Path, dst: &Path) -> Result<()> {
    let from = File::open(src)?;
    let len = from.metadata()?.len();
    let to = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)?;
    to.set_len(len)?;
    let (fi, fo) = (from.as_raw_fd(), to.as_raw_fd());
    let mut pos: i64 = 0;
    while (pos as u64) < len {
        let data = unsafe { libc::lseek(fi, pos, libc::SEEK_DATA) };
        if data < 0 {
            break; // ENXIO: only a hole is left
        }
        let hole = unsafe { libc::lseek(fi, data, libc::SEEK_HOLE) };
        if hole < 0 {
            bail!(
                "seeking {}: {}",
                src.display(),
                std::io::Error::last_os_error()
            );
        }
        let (mut off_in, mut off_out) = (data, data);
        while off_in < hole {
            let n = unsafe {
                libc::copy_file_range(
                    fi,
                    &mut off_in,
                    fo,
                    &mut off_out,
                    (hole - off_in) as usize,
                    0,
                )
            };
            if n <= 0 {
                bail!(
                    "copying {}: {}",
                    src.display(),
                    std::io::Error::last_os_error()
                );
            }
        }
        pos = hole;
    }
    Ok(())
}

/// Bind `image` to a free loop device (auto-cleared once unmounted) and mount it.
fn attach_and_mount(image: &Path, target: &Path) -> Result<()> {
    let (loop_dev, dev) = attach(image)?;
    let (src, tgt, fstype) = (
        CString::new(dev.as_bytes())?,
        CString::new(target.as_os_str().as_bytes())?,
        CString::new("ext4")?,
    );
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOATIME,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        // closing our handle detaches the device (auto-clear)
        bail!(
            "mounting {dev} on {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        );
    }
    // the mount holds the device now; dropping `loop_dev` leaves it to the mount
    drop(loop_dev);
    Ok(())
}

/// Bind `image` to a free loop device: the device, open, and its path.
///
/// The kernel offers every asker the same free device until one binds it, so sandboxd's
/// own disks take turns (a burst of starts otherwise spun through its tries in lockstep);
/// another process taking the device first is waited out with a growing pause.
fn attach(image: &Path) -> Result<(File, String)> {
    static TURN: Mutex<()> = Mutex::new(());
    let backing = OpenOptions::new().read(true).write(true).open(image)?;
    let ctl = File::open("/dev/loop-control").context("opening /dev/loop-control")?;
    let _turn = lock(&TURN);
    let mut pause = std::time::Duration::from_millis(1);
    for _ in 0..64 {
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            bail!("no free loop device: {}", std::io::Error::last_os_error());
        }
        let dev = format!("/dev/loop{n}");
        let mut cfg: LoopConfig = unsafe { std::mem::zeroed() };
        cfg.fd = backing.as_raw_fd() as u32;
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
        let bound = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dev)
            .map_err(|e| e.raw_os_error())
            .and_then(|loop_dev| {
                let rc = unsafe { libc::ioctl(loop_dev.as_raw_fd(), LOOP_CONFIGURE, &cfg) };
                match rc {
                    0 => Ok(loop_dev),
                    _ => Err(std::io::Error::last_os_error().raw_os_error()),
                }
            });
        match bound {
            Ok(loop_dev) => return Ok((loop_dev, dev)),
            // taken by another process between the offer and the bind, or its device node
            // not made yet: ask again after a pause
            Err(Some(libc::EBUSY | libc::ENOENT)) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Err(e) => bail!(
                "configuring {dev}: {}",
                std::io::Error::from_raw_os_error(e.unwrap_or(libc::EIO))
            ),
        }
    }
    bail!("no free loop device after 64 tries")
}

impl Disk {
    /// Unmount (lazily: a process still holding a file cannot block it) and delete the
    /// image; the loop device detaches itself once the filesystem is gone.
    pub fn release(&mut self) {
        if self.mounted {
            if let Ok(c) = CString::new(self.mount_point.as_os_str().as_bytes()) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
            self.mounted = false;
        }
        let _ = std::fs::remove_file(&self.image);
        super::reap::remove_tree(&self.mount_point);
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_copies_keep_holes_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = File::create(&src).unwrap();
            f.set_len(64 << 20).unwrap();
            f.write_all(b"head").unwrap();
            f.seek(SeekFrom::Start(32 << 20)).unwrap();
            f.write_all(b"middle").unwrap();
        }
        let dst = dir.path().join("dst");
        copy_sparse(&src, &dst).unwrap();
        let (a, b) = (std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
        assert!(a == b, "same bytes");
        use std::os::unix::fs::MetadataExt;
        let blocks = std::fs::metadata(&dst).unwrap().blocks() * 512;
        assert!(
            blocks < 4 << 20,
            "holes stay holes: {blocks} bytes allocated"
        );
    }
}
