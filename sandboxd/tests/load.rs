//! Load against a real sandboxd: 200 commands at once across 20 sandboxes, each output
//! checked byte for byte; then 1000 create/terminate cycles, after which everything
//! sandboxd holds on the machine is back at its baseline: processes, mounts, cgroups,
//! loop devices, file descriptors, threads, and the bytes of its state dir (the records
//! database aside, which keeps one record per sandbox, as Modal does; its growth per
//! record is bounded and reported).

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `seq 1 n`, as the command prints it.
fn seq_bytes(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

#[tokio::test]
async fn two_hundred_commands_across_twenty_sandboxes_at_once() {
    let env = Env::new().await;
    let started = Instant::now();
    let mut creates = Vec::new();
    for _ in 0..20 {
        let mut cp = env.cp.clone();
        let (app_id, image_id) = (env.app_id.clone(), env.image_id.clone());
        creates.push(Box::pin(async move {
            cp.sandbox_create_v2(modal_proto::client::SandboxCreateV2Request {
                app_id,
                definition: Some(modal_proto::client::Sandbox {
                    image_id,
                    timeout_secs: 300,
                    block_network: true,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .expect("create")
            .into_inner()
        }));
    }
    let mut sandboxes = Vec::new();
    for r in futures::future::join_all(creates).await {
        let access = r.command_router_access.unwrap();
        let tcr = tcr_with(
            &env.sd,
            Transport::Grpc,
            &access.url,
            Md::bearer(&access.jwt),
        )
        .await;
        sandboxes.push(Sb {
            id: r.sandbox_id,
            task_id: r.task_id,
            jwt: access.jwt,
            url: access.url,
            tcr,
        });
    }
    let created = started.elapsed();
    let mut runs = Vec::new();
    for (s, sb) in sandboxes.iter().enumerate() {
        for e in 0..10u32 {
            let mut sb = sb.clone_client();
            let n = 2000 + 137 * (s as u32 * 10 + e);
            runs.push(Box::pin(async move {
                let script = format!("seq 1 {n}; echo err-{s}-{e} >&2");
                let (out, err, exit) = sb.run(&["sh", "-c", &script]).await;
                assert_eq!(exit, Exit::Code(0), "exec {s}/{e}");
                assert!(
                    out.as_bytes() == seq_bytes(n),
                    "exec {s}/{e}: stdout differs"
                );
                assert_eq!(err, format!("err-{s}-{e}\n"), "exec {s}/{e}: stderr");
                out.len()
            }));
        }
    }
    let bytes: usize = within(180, "200 commands", futures::future::join_all(runs))
        .await
        .into_iter()
        .sum();
    eprintln!(
        "load: 20 sandboxes created at once in {:.1}s; 200 commands at once, {} bytes of output checked, all in {:.1}s",
        created.as_secs_f64(),
        bytes,
        started.elapsed().as_secs_f64()
    );
    for sb in &sandboxes {
        env.terminate(&sb.id).await;
    }
}

/// Sandboxes created all at once, each running a command the moment its create returns:
/// a start slowed by the crowd must still give commands the sandbox's root (entering
/// bwrap's pid 1 before it had pivoted into the root made every such command exit 127
/// with "modal-sandbox-init: No such file or directory").
#[tokio::test]
async fn a_burst_of_sandboxes_each_running_a_command_as_soon_as_created() {
    const BURST: usize = 120;
    let env = Env::new().await;
    let started = Instant::now();
    let one = |i: usize| {
        let env = &env;
        async move {
            let def = modal_proto::client::Sandbox {
                block_network: true,
                ..env.def(&[])
            };
            let mut sb = env.create(def).await.expect("create");
            let got = sb.run(&["echo", &format!("burst-{i}")]).await;
            env.terminate(&sb.id).await;
            got
        }
    };
    let results = within(
        240,
        "the burst",
        futures::future::join_all((0..BURST).map(one)),
    )
    .await;
    for (i, (out, err, exit)) in results.into_iter().enumerate() {
        assert_eq!(
            (out.as_str(), err.as_str(), exit),
            (format!("burst-{i}\n").as_str(), "", Exit::Code(0)),
            "sandbox {i} of the burst"
        );
    }
    eprintln!(
        "load: {BURST} sandboxes at once, each with a command, in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// What sandboxd holds on the machine, counted from outside.
#[derive(Debug, PartialEq, Clone)]
struct Holdings {
    processes: usize,
    mounts: usize,
    cgroups: usize,
    loop_devices: usize,
    fds: usize,
    threads: usize,
    /// Bytes allocated in the state dir, the records database aside.
    state_bytes: u64,
}

fn allocated_under(dir: &Path, skip: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        total += md.blocks() * 512;
        if md.is_dir() {
            total += allocated_under(&p, skip);
        }
    }
    total
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|rd| rd.count()).unwrap_or(0)
}

fn status_field(pid: u32, field: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Children of `pid` (its direct ones: sandboxd's bwrap, nsenter, slirp4netns).
fn children(pid: u32) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        if let Some(rest) = stat.rsplit_once(") ") {
            if rest.1.split_whitespace().nth(1) == Some(&pid.to_string()) {
                n += 1;
            }
        }
    }
    n
}

fn holdings(sd: &Sandboxd) -> Holdings {
    let pid = sd.pid().unwrap();
    let left = sd.leftovers();
    let loops = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("loop/backing_file"))
                .is_ok_and(|b| b.starts_with(&sd.state_dir.display().to_string()))
        })
        .count();
    Holdings {
        processes: left.processes.len() + children(pid),
        mounts: left.mounts.len(),
        cgroups: left.cgroups.len(),
        loop_devices: loops,
        fds: count(&format!("/proc/{pid}/fd")),
        threads: status_field(pid, "Threads:"),
        state_bytes: allocated_under(&sd.state_dir, &sd.state_dir.join("state.redb")),
    }
}

/// Wait (up to `secs`) until the holdings settle back at `baseline` (disks made ahead
/// are refilled in the background, lazily unmounted filesystems let go of their loop
/// devices, blocking threads idle out): the last reading.
async fn settle(sd: &Sandboxd, baseline: &Holdings, secs: u64) -> Holdings {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let now = holdings(sd);
        let same = Holdings {
            threads: baseline.threads,
            ..now.clone()
        };
        if (same == *baseline && now.threads <= baseline.threads + 8) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn create_terminate_cycles_leave_nothing_behind() {
    let cycles: usize = std::env::var("SANDBOXD_LOAD_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let env = Env::new().await;
    // warm up (the first create makes the base image, the first disks), then measure
    for _ in 0..3 {
        let sb = env.idle_sandbox().await;
        env.terminate(&sb.id).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = holdings(&env.sd);
    let db = env.sd.state_dir.join("state.redb");
    let db_before = std::fs::metadata(&db).unwrap().len();
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let mut cp = env.cp.clone();
        let (app_id, image_id) = (env.app_id.clone(), env.image_id.clone());
        let next = next.clone();
        workers.push(Box::pin(async move {
            use modal_proto::client as pb;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= cycles {
                    break;
                }
                let id = cp
                    .sandbox_create_v2(pb::SandboxCreateV2Request {
                        app_id: app_id.clone(),
                        definition: Some(pb::Sandbox {
                            image_id: image_id.clone(),
                            timeout_secs: 300,
                            // half with a network of their own (slirp4netns), half without
                            block_network: i.is_multiple_of(2),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await
                    .expect("create")
                    .into_inner()
                    .sandbox_id;
                cp.sandbox_terminate_v2(pb::SandboxTerminateRequest { sandbox_id: id })
                    .await
                    .expect("terminate");
            }
        }));
    }
    within(900, "the cycles", futures::future::join_all(workers)).await;
    let took = started.elapsed();
    let after = settle(&env.sd, &baseline, 30).await;
    let db_after = std::fs::metadata(&db).unwrap().len();
    eprintln!(
        "load: {cycles} create/terminate cycles (8 at a time) in {:.1}s ({:.1} ms each); \
         before {baseline:?}; after {after:?}; records database {} -> {} bytes ({} bytes per sandbox record)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / cycles as f64,
        db_before,
        db_after,
        (db_after.saturating_sub(db_before)) / cycles as u64
    );
    assert_eq!(
        Holdings {
            threads: baseline.threads,
            ..after.clone()
        },
        baseline,
        "after {cycles} cycles, sandboxd holds what it held before ({:?})",
        env.sd.leftovers()
    );
    assert!(
        after.threads <= baseline.threads + 8,
        "threads {} vs {}",
        after.threads,
        baseline.threads
    );
    assert!(
        db_after.saturating_sub(db_before) <= 4096 * cycles as u64,
        "the records database grows by at most 4 KiB per sandbox record: {db_before} -> {db_after}"
    );
    // and it still serves
    let mut sb = env.idle_sandbox().await;
    assert_eq!(sb.sh("echo after-the-cycles").await, "after-the-cycles\n");
    env.terminate(&sb.id).await;
}
