//! Per-sandbox cgroups (v1 hierarchies, as on this kind of machine): memory, pids and cpu
//! limits, and a freezer group used to kill every process of a sandbox or of one exec at
//! once, fork bombs included (freeze, SIGKILL all, thaw). Where cgroups cannot be written
//! (not root, or no v1 hierarchy), limits fall back to rlimits set on the process.
//!
//! Every group of one sandboxd instance lives under `sandboxd/<instance>/` (the instance
//! is named after its state dir), so that cleaning up after an instance, even one that
//! was killed, never touches the groups of another instance running on the same machine.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "freezer"];

/// Limits asked for at create time.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids: Option<u64>,
    /// Hard CPU cap in millicores.
    pub milli_cpu_max: Option<u32>,
    /// Relative CPU weight in millicores.
    pub milli_cpu: Option<u32>,
}

/// One cgroup path present in each v1 controller hierarchy we use.
#[derive(Clone, Debug)]
pub struct Cgroup {
    rel: PathBuf,
}

pub fn available() -> bool {
    CONTROLLERS
        .iter()
        .all(|c| Path::new(ROOT).join(c).join("cgroup.procs").exists())
        && unsafe { libc::geteuid() } == 0
}

/// `sandboxd/<instance>`: the parent of every group of one sandboxd instance.
pub fn instance_parent(instance: &str) -> PathBuf {
    Path::new("sandboxd").join(instance)
}

impl Cgroup {
    /// Create `<parent>/<name>` in every controller and apply `limits`.
    pub fn create(parent: &Path, name: &str, limits: &Limits) -> io::Result<Self> {
        let cg = Self {
            rel: parent.join(name),
        };
        for c in CONTROLLERS {
            fs::create_dir_all(cg.dir(c))?;
        }
        if let Some(m) = limits.memory_bytes {
            cg.write("memory", "memory.limit_in_bytes", &m.to_string())?;
            // no swap beyond the limit, where the kernel supports the knob
            let _ = cg.write("memory", "memory.memsw.limit_in_bytes", &m.to_string());
        }
        if let Some(p) = limits.pids {
            cg.write("pids", "pids.max", &p.to_string())?;
        }
        if let Some(m) = limits.milli_cpu {
            cg.write(
                "cpu",
                "cpu.shares",
                &(m.max(2) as u64 * 1024 / 1000).max(2).to_string(),
            )?;
        }
        if let Some(m) = limits.milli_cpu_max {
            let period = 100_000u64;
            cg.write("cpu", "cpu.cfs_period_us", &period.to_string())?;
            cg.write(
                "cpu",
                "cpu.cfs_quota_us",
                &(period * m.max(10) as u64 / 1000).to_string(),
            )?;
        }
        Ok(cg)
    }

    /// A child group (for one exec) under the freezer hierarchy only: limits stay
    /// sandbox-wide, the child exists to kill that exec's whole process tree.
    pub fn child(&self, name: &str) -> io::Result<Self> {
        let cg = Self {
            rel: self.rel.join(name),
        };
        fs::create_dir_all(cg.dir("freezer"))?;
        Ok(cg)
    }

    fn dir(&self, controller: &str) -> PathBuf {
        Path::new(ROOT).join(controller).join(&self.rel)
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> io::Result<()> {
        fs::write(self.dir(controller).join(file), value)
    }

    /// `cgroup.procs` files a new process must write its pid into (from `pre_exec`).
    /// For a child group, the sandbox-level memory/pids/cpu groups and its own freezer.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        CONTROLLERS
            .iter()
            .map(|c| {
                let d = self.dir(c);
                if d.exists() {
                    d.join("cgroup.procs")
                } else {
                    // child groups exist only in the freezer: use the parent's for the rest
                    self.dir(c)
                        .parent()
                        .map(|p| p.join("cgroup.procs"))
                        .unwrap_or_default()
                }
            })
            .collect()
    }

    /// How many processes are in this group and its children.
    pub fn pid_count(&self) -> usize {
        self.pids_in().len()
    }

    fn pids_in(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        collect_pids(&self.dir("freezer"), &mut pids);
        pids
    }

    /// Kill every process in this group and its children.
    pub fn kill_all(&self) {
        let _ = self.write("freezer", "freezer.state", "FROZEN");
        for _ in 0..50 {
            let state =
                fs::read_to_string(self.dir("freezer").join("freezer.state")).unwrap_or_default();
            if !state.starts_with("FREEZING") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for pid in self.pids_in() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.write("freezer", "freezer.state", "THAWED");
    }

    /// Remove the group, children first. A process killed a moment ago may not have
    /// left it yet (rmdir fails while one is there): kill again and retry, up to 2 s.
    pub fn remove(&self) {
        for _ in 0..100 {
            for c in CONTROLLERS {
                remove_tree(&self.dir(c));
            }
            if CONTROLLERS.iter().all(|c| !self.dir(c).exists()) {
                return;
            }
            self.kill_all();
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::warn!(
            "cgroup {} is still busy; the next start of this state dir removes it",
            self.rel.display()
        );
    }

    /// Remove an exec's group once its command has ended; a group that still holds
    /// processes (children the command left running) stays until the sandbox ends.
    pub fn remove_if_empty(&self) {
        let _ = fs::remove_dir(self.dir("freezer"));
    }

    /// Whether any process is left in the group or its children.
    pub fn is_empty(&self) -> bool {
        self.pids_in().is_empty()
    }

    /// Whether the kernel OOM-killed a process of this group (explains an exit 137).
    pub fn oom_killed(&self) -> bool {
        fs::read_to_string(self.dir("memory").join("memory.oom_control"))
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("oom_kill ") && !l.ends_with(" 0"))
            })
            .unwrap_or(false)
    }
}

/// The groups that exist under `parent` (in the freezer hierarchy, which every group of
/// ours has), whatever made them: this process or an earlier one on the same state dir.
pub fn groups_under(parent: &Path) -> Vec<Cgroup> {
    let Ok(rd) = fs::read_dir(Path::new(ROOT).join("freezer").join(parent)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| Cgroup {
            rel: parent.join(e.file_name()),
        })
        .collect()
}

/// Every cgroup directory under `parent` in every controller we use (for counting).
pub fn count_dirs_under(parent: &Path) -> usize {
    fn count(dir: &Path) -> usize {
        fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .map(|e| 1 + count(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    }
    CONTROLLERS
        .iter()
        .map(|c| count(&Path::new(ROOT).join(c).join(parent)))
        .sum()
}

/// Remove `parent` itself in every controller (once its groups are gone).
pub fn remove_parent(parent: &Path) {
    for c in CONTROLLERS {
        let _ = fs::remove_dir(Path::new(ROOT).join(c).join(parent));
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}
