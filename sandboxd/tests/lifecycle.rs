//! Clean stops and crashes: when sandboxd stops (SIGTERM, SIGINT) nothing of it stays on
//! the machine, and after a `kill -9` the next start on the same state dir removes what
//! the killed process left. Counted the way an operator would look (mounts in
//! /proc/self/mountinfo, cgroup directories, processes in those cgroups, slirp4netns
//! processes serving the instance's sandboxes), and with a second sandboxd running beside
//! it all along, whose sandboxes must not be touched.

mod common;

use common::*;
use modal_proto::client::{self as pb, generic_result::GenericStatus};
use modal_proto::task_command_router as tcr;
use std::collections::HashSet;

/// What a busy instance has: a sandbox with network (slirp4netns), one without, a
/// command running in one, a writable mount added at run time.
struct Busy {
    env: Env,
    sandboxes: Vec<Sb>,
    /// A string in the command line of a process in each sandbox, unique to this test.
    marker: String,
}

async fn busy_instance(dir: Option<tempfile::TempDir>) -> Busy {
    let sd = match dir {
        Some(d) => Sandboxd::start_in(d).await,
        None => Sandboxd::start().await,
    };
    let env = Env::on(sd, Transport::Grpc).await;
    let marker = format!("{}.{}", 1000 + rand_u16(), rand_u16());
    let with_net = env.def(&["sleep", &marker]);
    let mut blocked = env.def(&[]);
    blocked.block_network = true;
    let mut a = env.create(with_net).await.expect("create");
    let mut b = env.create(blocked).await.expect("create");
    // a command that keeps running, and a writable directory mounted into the sandbox
    b.exec(&["sleep", &marker]).await;
    b.tcr
        .task_mount_directory(tcr::TaskMountDirectoryRequest {
            task_id: b.task_id.clone(),
            path: b"/scratch".to_vec(),
            image_id: String::new(),
            ..Default::default()
        })
        .await
        .expect("TaskMountDirectory");
    assert_eq!(b.sh("echo x > /scratch/f && cat /scratch/f").await, "x\n");
    assert_eq!(a.sh("echo up").await, "up\n");
    Busy {
        env,
        sandboxes: vec![a, b],
        marker,
    }
}

fn rand_u16() -> u32 {
    u16::from_le_bytes([
        uuid::Uuid::new_v4().as_bytes()[0],
        uuid::Uuid::new_v4().as_bytes()[1],
    ])
    .into()
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(marker) {
            out.push(pid);
        }
    }
    out
}

/// slirp4netns processes serving a process in `pids`.
fn slirps_serving(pids: &[i32]) -> Vec<i32> {
    let set: HashSet<i32> = pids.iter().copied().collect();
    slirp_processes()
        .into_iter()
        .filter(|(_, target)| set.contains(target))
        .map(|(pid, _)| pid)
        .collect()
}

/// Wait (up to 5 s) for `pid` to be gone: a killed process leaves its cgroup a moment
/// before it has finished exiting.
async fn ends(pid: i32, what: &str) {
    let desc = std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .replace('\0', " ");
    eventually(5, &format!("{what}: process {pid} ({desc}) ends"), || {
        Box::pin(async move { (!alive(pid)).then_some(()) })
    })
    .await;
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Loop devices whose backing file is (or was, if deleted) in `dir`.
fn loop_devices_in(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let f = e.path().join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(&f) {
            if b.trim().starts_with(&dir.display().to_string()) {
                out.push((
                    e.file_name().to_string_lossy().into_owned(),
                    b.trim().to_string(),
                ));
            }
        }
    }
    out
}

/// Wait (up to 5 s: a loop device detaches once its filesystem is fully gone) until no
/// loop device in `dir` satisfies `stale`.
async fn loop_devices_released(dir: &std::path::Path, stale: impl Fn(&str) -> bool) {
    let mut left = Vec::new();
    for _ in 0..50 {
        left = loop_devices_in(dir);
        left.retain(|(_, backing)| stale(backing));
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("loop devices not released: {left:?}");
}

/// A bystander: another sandboxd with a sandbox running a command, which must come
/// through whatever the instance under test does.
struct Bystander {
    env: Env,
    sb: Sb,
    exec: String,
    before: Leftovers,
}

async fn bystander() -> Bystander {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let exec = sb.exec(&["sleep", "3600"]).await;
    // what stays: processes that were there a moment apart (not one just starting)
    let mut before = env.sd.leftovers();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let later = env.sd.leftovers();
    before.processes.retain(|p| later.processes.contains(p));
    assert!(
        !before.mounts.is_empty() && !before.cgroups.is_empty() && !before.processes.is_empty(),
        "the bystander has something to lose: {before:?}"
    );
    Bystander {
        env,
        sb,
        exec,
        before,
    }
}

impl Bystander {
    async fn assert_untouched(&mut self) {
        let now = self.env.sd.leftovers();
        for m in &self.before.mounts {
            assert!(
                now.mounts.contains(m),
                "the other instance lost mount {m:?}"
            );
        }
        for c in &self.before.cgroups {
            assert!(c.is_dir(), "the other instance lost cgroup {c:?}");
        }
        for pid in &self.before.processes {
            assert!(alive(*pid), "the other instance's process {pid} was killed");
        }
        let poll = self
            .sb
            .tcr
            .task_exec_poll(tcr::TaskExecPollRequest {
                task_id: self.sb.task_id.clone(),
                exec_id: self.exec.clone(),
            })
            .await
            .expect("TaskExecPoll")
            .into_inner();
        assert_eq!(poll.exit_status, None, "its command still runs");
        assert_eq!(self.sb.sh("echo alive").await, "alive\n");
    }

    async fn finish(self) {
        self.env.terminate(&self.sb.id).await;
    }
}

/// SIGTERM or SIGINT: every sandbox ends and is recorded as finished; the process exits
/// 0; nothing of it is left on the machine; the next start finds nothing to clean.
async fn clean_stop(signal: i32) {
    let mut other = bystander().await;
    let busy = busy_instance(None).await;
    let Busy {
        env,
        sandboxes,
        marker,
    } = busy;
    let before = env.sd.leftovers();
    let (m, c, p) = before.counts();
    assert!(m > 0 && c > 0 && p > 0, "a busy instance: {before:?}");
    let marked = processes_with(&marker);
    assert!(marked.len() >= 2, "the marked processes run: {marked:?}");
    let slirps = slirps_serving(&before.processes);
    assert!(
        !slirps.is_empty() || !std::path::Path::new("/usr/bin/slirp4netns").exists(),
        "the networked sandbox has a slirp4netns"
    );
    let (run_root, state_dir) = (env.sd.run_root(), env.sd.state_dir.clone());
    let Env { sd, .. } = env;
    let started = std::time::Instant::now();
    let (dir, status) = sd.stop_keeping_dir(signal);
    let took = started.elapsed();
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let after = Leftovers::of(&run_root, &state_dir, &instance_of(&state_dir));
    assert!(after.is_empty(), "left behind after the stop: {after:?}");
    for pid in marked.iter().chain(&slirps) {
        ends(*pid, "a clean stop").await;
    }
    assert!(!run_root.exists(), "the run root is removed");
    let layers: Vec<_> = std::fs::read_dir(state_dir.join("sandboxes"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(layers.is_empty(), "writable layers are removed: {layers:?}");
    loop_devices_released(&state_dir, |_| true).await;
    eprintln!(
        "clean stop (signal {signal}): {m} mounts, {c} cgroups, {p} processes, {} slirp4netns before; 0 after; stop took {took:?}",
        slirps.len()
    );
    other.assert_untouched().await;

    // the next start finds nothing to clean, and has the sandboxes as finished
    let sd = Sandboxd::start_in(dir.into_dir()).await;
    assert!(
        !sd.log_tail(200).contains("cleaned up after an earlier run"),
        "a clean stop leaves nothing for the next start"
    );
    let mut env = Env::on(sd, Transport::Grpc).await;
    for sb in &sandboxes {
        let res = env.poll(&sb.id).await.unwrap().expect("a finished result");
        assert_eq!(res.status, GenericStatus::Terminated as i32, "{res:?}");
        assert!(res.exception.contains("sandboxd stopped"), "{res:?}");
    }
    other.finish().await;
}

fn instance_of(state_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(state_dir.to_string_lossy().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex[..12].to_string()
}

#[tokio::test]
async fn sigterm_leaves_nothing_behind() {
    clean_stop(libc::SIGTERM).await;
}

#[tokio::test]
async fn sigint_leaves_nothing_behind() {
    clean_stop(libc::SIGINT).await;
}

/// kill -9 of sandboxd: its guardian sweeps everything of it within seconds, without
/// touching another instance's; the next start finds nothing to clean.
#[tokio::test]
async fn kill9_is_swept_by_the_guardian() {
    let mut other = bystander().await;
    let Busy {
        env,
        sandboxes,
        marker,
    } = busy_instance(None).await;
    let before = env.sd.leftovers();
    let (m, c, p) = before.counts();
    let (run_root, state_dir) = (env.sd.run_root(), env.sd.state_dir.clone());
    let instance = env.sd.instance();
    let slirps = slirps_serving(&before.processes);
    let marked = processes_with(&marker);
    let Env { sd, .. } = env;
    let guardian = sd.guardian_pid().expect("sandboxd runs a guardian");
    let started = std::time::Instant::now();
    let dir = sd.crash();
    let left = eventually(15, "the guardian sweeps after kill -9", || {
        let (r, s, i) = (run_root.clone(), state_dir.clone(), instance.clone());
        Box::pin(async move {
            let left = Leftovers::of(&r, &s, &i);
            left.is_empty().then_some(left)
        })
    })
    .await;
    let took = started.elapsed();
    assert!(left.is_empty());
    for pid in marked.iter().chain(&slirps).chain(&before.processes) {
        ends(*pid, "the killed run").await;
    }
    loop_devices_released(&state_dir, |_| true).await;
    eventually(10, "the guardian exits", || {
        Box::pin(async move { (!alive(guardian)).then_some(()) })
    })
    .await;
    eprintln!(
        "kill -9: {m} mounts, {c} cgroups, {p} processes, {} slirp4netns before; the guardian left 0 of each, in {took:?}",
        slirps.len()
    );
    other.assert_untouched().await;
    let sd = Sandboxd::start_in(dir.into_dir()).await;
    assert!(
        !sd.log_tail(200).contains("cleaned up after an earlier run"),
        "nothing left for the next start"
    );
    let mut env = Env::on(sd, Transport::Grpc).await;
    for sb in &sandboxes {
        let res = env.poll(&sb.id).await.unwrap().expect("a finished result");
        assert_eq!(res.status, GenericStatus::Terminated as i32, "{res:?}");
    }
    other.finish().await;
}

/// kill -9 of sandboxd and of its guardian (a crash of the machine's process tree, an
/// OOM kill of both): mounts and cgroups stay; the next start on the same state dir
/// removes them (and kills what may still run), without touching another instance's.
#[tokio::test]
async fn kill9_leftovers_are_reaped_by_the_next_start() {
    let mut other = bystander().await;
    let Busy {
        env,
        sandboxes,
        marker,
    } = busy_instance(None).await;
    let before = env.sd.leftovers();
    let (run_root, state_dir) = (env.sd.run_root(), env.sd.state_dir.clone());
    let instance = env.sd.instance();
    let slirps = slirps_serving(&before.processes);
    let Env { sd, .. } = env;
    let guardian = sd.guardian_pid().expect("sandboxd runs a guardian");
    unsafe { libc::kill(guardian, libc::SIGKILL) };
    let dir = sd.crash();
    let left = Leftovers::of(&run_root, &state_dir, &instance);
    let (m, c, p) = left.counts();
    assert!(
        m > 0 && c > 0,
        "a killed sandboxd leaves mounts and cgroups (else this test proves nothing): {left:?}"
    );
    eprintln!(
        "after kill -9 of sandboxd and its guardian: {m} mounts, {c} cgroups, {p} processes left"
    );
    other.assert_untouched().await;

    let sd = Sandboxd::start_in(dir.into_dir()).await;
    // the new process has disks of its own made ahead; none of the old run's is left
    let now = sd.leftovers();
    let kept: Vec<_> = left
        .mounts
        .iter()
        .filter(|m| now.mounts.contains(m))
        .chain(left.cgroups.iter().filter(|c| c.exists()))
        .collect();
    assert!(
        kept.is_empty(),
        "the next start removed the earlier run's leftovers, but not {kept:?}"
    );
    assert!(
        now.cgroups.is_empty() && now.processes.is_empty(),
        "{now:?}"
    );
    for pid in &left.processes {
        ends(*pid, "the killed run").await;
    }
    assert!(
        sd.log_tail(200).contains("cleaned up after an earlier run"),
        "and said so: {}",
        sd.log_tail(20)
    );
    for pid in processes_with(&marker).iter().chain(&slirps) {
        ends(*pid, "the killed run").await;
    }
    // the old run's images were deleted; the new run's disks are not
    loop_devices_released(&state_dir, |backing| backing.ends_with("(deleted)")).await;
    other.assert_untouched().await;
    // the records are there, the sandboxes reported finished, and it serves again
    let mut env = Env::on(sd, Transport::Grpc).await;
    for sb in &sandboxes {
        let res = env.poll(&sb.id).await.unwrap().expect("a finished result");
        assert_eq!(res.status, GenericStatus::Terminated as i32, "{res:?}");
    }
    let mut again = env.idle_sandbox().await;
    assert_eq!(again.sh("echo back").await, "back\n");
    env.terminate(&again.id).await;
    other.finish().await;
}

/// A record that a sandbox ran survives a clean stop as a finished sandbox, listed with
/// include_finished.
#[tokio::test]
async fn records_of_a_clean_stop_are_listed_finished() {
    let env = Env::new().await;
    let sb = env.idle_sandbox().await;
    let app_id = env.app_id.clone();
    let Env { sd, .. } = env;
    let (dir, status) = sd.stop_keeping_dir(libc::SIGTERM);
    assert!(status.success());
    let sd = Sandboxd::start_in(dir.into_dir()).await;
    let mut env = Env::on(sd, Transport::Grpc).await;
    let listed = env
        .cp
        .sandbox_list_v2(pb::SandboxListRequest {
            app_id,
            include_finished: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sandboxes;
    let rec = listed.iter().find(|s| s.id == sb.id).expect("listed");
    let result = rec
        .task_info
        .as_ref()
        .and_then(|t| t.result.as_ref())
        .expect("finished");
    assert_eq!(result.status, GenericStatus::Terminated as i32);
}
