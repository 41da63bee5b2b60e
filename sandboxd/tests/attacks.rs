//! The attack suite: each attack is run from inside a real sandbox, written as an
//! attacker would write it, and each test asserts from the host that the attack was
//! contained, then that sandboxd still serves other sandboxes (a bystander sandbox
//! created before the attack still runs commands, and a new one starts).
//!
//! Every attack prints one line `attack: NAME: contained (...)`, so a run reports what
//! was tried.

mod common;

use common::*;
use modal_proto::client as pb;
use modal_proto::task_command_router as tcr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::Code;

/// A sandboxd with a bystander sandbox that must come through every attack.
struct Arena {
    env: Env,
    bystander: Sb,
}

impl Arena {
    async fn new() -> Self {
        Self::on(Sandboxd::start().await).await
    }

    async fn on(sd: Sandboxd) -> Self {
        let env = Env::on(sd, Transport::Grpc).await;
        let mut bystander = env.idle_sandbox().await;
        assert_eq!(bystander.sh("echo up").await, "up\n");
        Self { env, bystander }
    }

    async fn attacker(&mut self) -> Sb {
        self.env.idle_sandbox().await
    }

    /// The attack is over: sandboxd is alive, the bystander runs commands, a new sandbox
    /// starts and runs one.
    async fn still_serves(mut self, attack: &str, detail: &str) {
        assert!(self.env.sd.alive(), "{attack}: sandboxd died");
        assert_eq!(
            self.bystander.sh("echo still-here").await,
            "still-here\n",
            "{attack}: the bystander sandbox"
        );
        let mut fresh = self.env.idle_sandbox().await;
        assert_eq!(
            fresh.sh("echo fresh").await,
            "fresh\n",
            "{attack}: a new sandbox"
        );
        let log = self.env.sd.log_tail(1_000_000);
        assert!(!log.contains("panicked"), "{attack}: sandboxd panicked");
        self.env.terminate(&fresh.id).await;
        self.env.terminate(&self.bystander.id).await;
        eprintln!("attack: {attack}: contained ({detail})");
    }
}

fn marker() -> String {
    format!("atk{}", uuid::Uuid::new_v4().simple())
}

/// `sh -c script` whatever its exit; (stdout, stderr).
async fn try_sh(sb: &mut Sb, script: &str) -> (String, String) {
    let (out, err, _) = sb.run(&["sh", "-c", script]).await;
    (out, err)
}

fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(p).unwrap_or_default();
    sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Host pids whose command line contains `needle`.
fn host_pids_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// Host files planted for an attacker to look for, removed on drop.
struct HostSecrets {
    marker: String,
    files: Vec<PathBuf>,
}

impl HostSecrets {
    fn plant() -> Self {
        let marker = marker();
        let files = vec![
            PathBuf::from(format!("/tmp/{marker}")),
            PathBuf::from(format!("/root/{marker}")),
            PathBuf::from(format!("/var/tmp/{marker}")),
        ];
        for f in &files {
            std::fs::write(f, format!("SECRET-{marker}\n")).expect("planting a host file");
        }
        Self { marker, files }
    }

    fn secret(&self) -> String {
        format!("SECRET-{}", self.marker)
    }
}

impl Drop for HostSecrets {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Read a host file by its path, through /proc, and through a symlink handed to the
/// filesystem API (the in-sandbox helper exec), and through `..` in paths.
#[tokio::test]
async fn attack_read_host_files() {
    let mut arena = Arena::new().await;
    let secrets = HostSecrets::plant();
    let m = secrets.marker.clone();
    let state = arena.env.sd.state_dir.display().to_string();
    let mut sb = arena.attacker().await;

    // by path, and the state dir's credential files
    let (out, _) = try_sh(
        &mut sb,
        &format!(
            "cat /tmp/{m} /root/{m} /var/tmp/{m} {state}/token-secret {state}/signing.key \
             /etc/shadow 2>/dev/null; ls -a /root /tmp /home 2>/dev/null"
        ),
    )
    .await;
    assert!(
        !out.contains(&secrets.secret()) && !out.contains(&m),
        "by path: {out}"
    );
    assert!(
        !out.contains("as-test") && !out.contains("key-"),
        "credentials: {out}"
    );

    // through /proc: pid 1's root, every process's root and cwd, the mount table
    let (out, _) = try_sh(
        &mut sb,
        &format!(
            "cat /proc/1/root/tmp/{m} /proc/*/root/tmp/{m} /proc/*/cwd/tmp/{m} \
             /proc/self/root/tmp/{m} 2>/dev/null; \
             for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done 2>/dev/null"
        ),
    )
    .await;
    assert!(!out.contains(&secrets.secret()), "through /proc: {out}");
    assert!(
        !out.contains("sandboxd") && !out.contains("cargo"),
        "host processes are not visible: {out}"
    );
    let procs = out.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(procs < 20, "only the sandbox's own processes: {out}");

    // open_by_handle_at (the 'shocker' escape) needs CAP_DAC_READ_SEARCH on the host
    let shocker = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class H(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("f", ctypes.c_ubyte * 128)]
h = H(); h.bytes = 128; mnt = ctypes.c_int()
r = libc.name_to_handle_at(-100, b"/", ctypes.byref(h), ctypes.byref(mnt), 0)
fd = os.open("/", os.O_RDONLY)
r2 = libc.open_by_handle_at(fd, ctypes.byref(h), 0)
print("open_by_handle_at", r2, ctypes.get_errno())
"#;
    let (out, err, _) = sb.run(&["python3", "-c", shocker]).await;
    assert!(
        out.contains("open_by_handle_at -1"),
        "open_by_handle_at must fail: {out} {err}"
    );

    // a symlink to a host path handed to the filesystem API: it resolves inside
    sb.sh(&format!(
        "ln -s /tmp/{m} /tmp/link-file; ln -s /proc/1/root /tmp/link-root; \
         ln -s ../../../../../../../tmp/{m} /tmp/link-dots"
    ))
    .await;
    for path in [
        "/tmp/link-file".to_string(),
        format!("/tmp/link-root/tmp/{m}"),
        "/tmp/link-dots".into(),
        format!("/../../../../tmp/{m}"),
        format!("/proc/1/root/tmp/{m}"),
    ] {
        let cmd = format!(r#"{{"ReadFile":{{"path":"{path}"}}}}"#);
        let (out, err, exit) = sb
            .run(&["/__modal/.bin/modal-sandbox-fs-tools", &cmd])
            .await;
        assert!(
            !out.contains(&secrets.secret()),
            "fs helper through {path}: {out}"
        );
        assert_ne!(exit, Exit::Code(0), "{path}: {out} {err}");
    }

    // `..` in API paths: refused, not resolved on the host
    for path in ["/../../tmp", "/tmp/../../..", "/./tmp", "relative"] {
        assert_code(
            sb.tcr
                .task_snapshot_directory(tcr::TaskSnapshotDirectoryRequest {
                    task_id: sb.task_id.clone(),
                    path: path.as_bytes().to_vec(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            &format!("snapshot of {path}"),
        );
        assert_code(
            sb.tcr
                .task_mount_directory(tcr::TaskMountDirectoryRequest {
                    task_id: sb.task_id.clone(),
                    path: path.as_bytes().to_vec(),
                    ..Default::default()
                })
                .await,
            Code::InvalidArgument,
            &format!("mount at {path}"),
        );
    }
    let mut def = arena.env.def(&[]);
    def.volume_mounts = vec![pb::VolumeMount {
        volume_id: "vo-x".into(),
        mount_path: "/data/../../tmp".into(),
        ..Default::default()
    }];
    assert_code(
        arena.env.create(def).await.map(|s| s.id),
        Code::InvalidArgument,
        "a volume at a `..` path",
    );
    assert_code(
        sb.tcr
            .task_exec_start(tcr::TaskExecStartRequest {
                task_id: sb.task_id.clone(),
                exec_id: "dots".into(),
                command_args: vec!["ls".into()],
                workdir: Some("/tmp/../..".into()),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "an exec workdir with `..`",
    );
    arena
        .still_serves(
            "read a host file (by path, /proc, open_by_handle_at, symlinks to the fs helper, `..` in API paths)",
            "no secret read",
        )
        .await;
}

/// A symlink the sandbox plants, handed to server-side path operations (snapshot a
/// directory, mount an image): they resolve inside the sandbox, never on the host.
#[tokio::test]
async fn attack_symlinks_to_server_side_paths() {
    let mut arena = Arena::new().await;
    let secrets = HostSecrets::plant();
    let m = secrets.marker.clone();
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("host-only"), secrets.secret()).unwrap();
    let hd = host_dir.path().display().to_string();
    let mut sb = arena.attacker().await;
    sb.sh(&format!(
        "mkdir -p /inside {hd} && echo mine > /inside/own && echo decoy > {hd}/decoy; \
         ln -s {hd} /tmp/abs; ln -s ../../../../../../..{hd} /tmp/rel; \
         ln -s /proc/self/root/tmp /tmp/magic"
    ))
    .await;
    // the same path exists inside, with a decoy: a link that resolves inside reaches it
    let mut decoys_seen = 0;
    for link in ["/tmp/abs", "/tmp/rel", "/tmp/magic"] {
        // snapshot through the link: whatever it holds comes from inside the sandbox
        let r = sb
            .tcr
            .task_snapshot_directory(tcr::TaskSnapshotDirectoryRequest {
                task_id: sb.task_id.clone(),
                path: link.as_bytes().to_vec(),
                ..Default::default()
            })
            .await;
        if let Ok(r) = r {
            let image_id = r.into_inner().image_id;
            let mut def = arena.env.def(&[]);
            def.image_id = image_id;
            // a directory snapshot is a layer of its own: read it mounted in a sandbox
            let mut viewer = arena.env.idle_sandbox().await;
            viewer
                .tcr
                .task_mount_directory(tcr::TaskMountDirectoryRequest {
                    task_id: viewer.task_id.clone(),
                    path: b"/snap".to_vec(),
                    image_id: def.image_id.clone(),
                    ..Default::default()
                })
                .await
                .expect("mounting the snapshot");
            let (out, _) = try_sh(&mut viewer, "ls -la /snap; cat /snap/* 2>/dev/null").await;
            assert!(
                !out.contains("host-only") && !out.contains(&secrets.secret()),
                "snapshot through {link} copied host files: {out}"
            );
            decoys_seen += out.contains("decoy") as usize;
            arena.env.terminate(&viewer.id).await;
        }
        // mount through the link: the mount lands inside the sandbox
        let before = std::fs::read_dir(host_dir.path()).unwrap().count();
        let _ = sb
            .tcr
            .task_mount_directory(tcr::TaskMountDirectoryRequest {
                task_id: sb.task_id.clone(),
                path: format!("{link}/mnt-{m}").into_bytes(),
                ..Default::default()
            })
            .await;
        // (a mount inside the sandbox's root, under sandboxd's run root, is where it belongs)
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let escaped: Vec<&str> = host_mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&hd) || p.starts_with(&format!("/tmp/mnt-{m}")))
            .collect();
        assert!(
            escaped.is_empty(),
            "a mount through {link} landed on the host: {escaped:?}"
        );
        assert_eq!(
            std::fs::read_dir(host_dir.path()).unwrap().count(),
            before,
            "the host dir is untouched"
        );
    }
    assert_eq!(
        decoys_seen, 2,
        "the absolute and the relative link both resolved inside the sandbox"
    );
    // unmount is only for what was mounted: not /usr, the helpers, the root
    for path in ["/usr", "/__modal/.bin", "/", "/inside"] {
        assert_code(
            sb.tcr
                .task_unmount_directory(tcr::TaskUnmountDirectoryRequest {
                    task_id: sb.task_id.clone(),
                    path: path.as_bytes().to_vec(),
                    ..Default::default()
                })
                .await,
            Code::FailedPrecondition,
            &format!("unmount {path}"),
        );
    }
    assert_code(
        sb.tcr
            .task_mount_directory(tcr::TaskMountDirectoryRequest {
                task_id: sb.task_id.clone(),
                path: b"/__modal/.bin".to_vec(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "a mount over the helpers",
    );
    assert_eq!(
        sb.sh("ls /usr/bin/env && echo ok").await,
        "/usr/bin/env\nok\n"
    );
    arena
        .still_serves(
            "symlinks to server-side snapshot/mount/unmount paths",
            "resolved inside the sandbox; /usr, helpers and root cannot be unmounted",
        )
        .await;
}

/// Write to /usr, /tmp, /etc (new files and existing ones): the host is untouched.
#[tokio::test]
async fn attack_write_host_dirs() {
    let mut arena = Arena::new().await;
    let m = marker();
    let watched = [
        PathBuf::from("/usr/bin/env"),
        PathBuf::from("/etc/passwd"),
        PathBuf::from("/etc/hostname"),
        PathBuf::from("/usr/lib/os-release"),
    ];
    let before: Vec<String> = watched.iter().map(|p| sha256_file(p)).collect();
    let mut sb = arena.attacker().await;
    let (out, _) = try_sh(
        &mut sb,
        &format!(
            "echo x > /usr/bin/{m}; echo x > /usr/lib/{m}; echo x > /tmp/{m}; echo x > /etc/{m}; \
             echo x > /var/tmp/{m}; echo x > /{m}; \
             echo pwned > /usr/bin/env; echo 'root::0:0::/:/bin/sh' > /etc/passwd; \
             echo evil > /etc/hostname; echo evil > /usr/lib/os-release; \
             rm -rf /usr/sbin 2>&1; chmod 777 /usr /etc 2>&1; cat /usr/bin/env"
        ),
    )
    .await;
    assert!(
        out.contains("pwned"),
        "the sandbox changed its own copy: {out}"
    );
    for dir in ["/usr/bin", "/usr/lib", "/tmp", "/etc", "/var/tmp", ""] {
        let p = PathBuf::from(format!("{dir}/{m}"));
        assert!(!p.exists(), "the host got {}", p.display());
    }
    let after: Vec<String> = watched.iter().map(|p| sha256_file(p)).collect();
    assert_eq!(before, after, "host files keep their content: {watched:?}");
    assert!(
        Path::new("/usr/sbin").is_dir(),
        "the host's /usr/sbin is there"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_ne!(
        std::fs::metadata("/usr").unwrap().permissions().mode() & 0o777,
        0o777,
        "the host's /usr mode"
    );
    // another sandbox sees the pristine image
    let mut other = arena.attacker().await;
    let (out, _) = try_sh(
        &mut other,
        &format!("cat /usr/bin/{m} 2>&1; head -c 4 /usr/bin/env | od -c | head -1"),
    )
    .await;
    assert!(!out.contains("x\n") && out.contains("E   L   F"), "{out}");
    arena
        .still_serves(
            "write /usr, /tmp, /etc, /var/tmp, / (new and existing files, rm, chmod)",
            "host files unchanged, other sandboxes see the image as it was",
        )
        .await;
}

/// See and signal another sandbox's processes: ps, /proc, kill -9 -1, kill by host pid.
#[tokio::test]
async fn attack_other_sandboxes_processes() {
    let mut arena = Arena::new().await;
    let m = format!("{}.5", 3000 + (uuid::Uuid::new_v4().as_bytes()[0] as u32));
    let mut victim = arena.attacker().await;
    let victim_exec = victim.exec(&["sleep", &m]).await;
    let victim_pids = eventually(10, "the victim's sleep runs", || {
        let m = m.clone();
        Box::pin(async move {
            let p = host_pids_with(&format!("sleep\0{m}"));
            (!p.is_empty()).then_some(p)
        })
    })
    .await;
    let mut attacker = arena.attacker().await;
    let (out, _) = try_sh(
        &mut attacker,
        "ps -eo pid,args 2>&1; for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done; true",
    )
    .await;
    assert!(
        !out.contains(&format!("sleep {m}")),
        "the attacker sees the victim's process: {out}"
    );
    // signal by the victim's host pids, then everything it can reach
    let kills: String = victim_pids
        .iter()
        .map(|p| format!("kill -9 {p} 2>&1; "))
        .collect();
    let _ = try_sh(&mut attacker, &format!("{kills} kill -9 -1; true")).await;
    for p in &victim_pids {
        assert!(
            Path::new(&format!("/proc/{p}")).exists(),
            "the victim's process {p} was killed"
        );
    }
    let poll = victim
        .tcr
        .task_exec_poll(tcr::TaskExecPollRequest {
            task_id: victim.task_id.clone(),
            exec_id: victim_exec.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(poll.exit_status, None, "the victim's command still runs");
    assert_eq!(victim.sh("echo victim-ok").await, "victim-ok\n");
    arena
        .still_serves(
            "see or signal another sandbox's processes (ps, /proc, kill by host pid, kill -9 -1)",
            "invisible and unreachable",
        )
        .await;
}

/// Write /proc/sys and /sys (and mount a fresh sysfs to write there).
#[tokio::test]
async fn attack_proc_sys_and_sys() {
    let mut arena = Arena::new().await;
    let knobs = [
        "/proc/sys/vm/swappiness",
        "/proc/sys/kernel/pid_max",
        "/proc/sys/fs/file-max",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/overcommit_memory",
    ];
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let before: Vec<String> = knobs.iter().map(|k| read(k)).collect();
    let mut sb = arena.attacker().await;
    let (out, _) = try_sh(
        &mut sb,
        "echo 100 > /proc/sys/vm/swappiness; echo 4194304 > /proc/sys/kernel/pid_max; \
         echo 1 > /proc/sys/fs/file-max; echo pwned > /proc/sys/kernel/hostname; \
         echo 2 > /proc/sys/vm/overcommit_memory; echo 3 > /proc/sys/vm/drop_caches; \
         echo b > /proc/sysrq-trigger; \
         mkdir -p /sys && mount -t sysfs sysfs /sys 2>&1; \
         echo 1 > /sys/kernel/mm/ksm/run 2>&1; echo 1 > /sys/fs/cgroup/memory/memory.force_empty 2>&1; \
         mount -t cgroup -o memory none /mnt 2>&1; mount --bind / /mnt 2>&1; \
         mknod /tmp/disk b 254 0 2>&1 && head -c 512 /tmp/disk | od | head -2; \
         hostname; cat /proc/sys/vm/swappiness",
    )
    .await;
    let after: Vec<String> = knobs.iter().map(|k| read(k)).collect();
    assert_eq!(
        before, after,
        "host kernel settings unchanged: {knobs:?} ({out})"
    );
    assert!(!out.contains("0000000"), "a raw disk was read: {out}");
    arena
        .still_serves(
            "write /proc/sys, /proc/sysrq-trigger, /sys (and a fresh sysfs, cgroupfs), mknod a disk",
            "host settings unchanged, no device access",
        )
        .await;
}

/// A python program that tries TCP connects: `HOST:PORT ok` or `HOST:PORT fail ...` per
/// target, after proving it can connect to a listener of its own.
const CONNECT_PROBE: &str = r#"
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
targets = [("127.0.0.1", srv.getsockname()[1])] + [(h, int(p)) for h, p in (a.split(":") for a in sys.argv[1:])]
for host, port in targets:
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); print(f"{host}:{port} ok")
    except Exception as e:
        print(f"{host}:{port} fail {e!r}")
    s.close()
"#;

async fn connects(sb: &mut Sb, targets: &[String]) -> Vec<(String, bool)> {
    let mut argv = vec!["python3", "-c", CONNECT_PROBE];
    argv.extend(targets.iter().map(String::as_str));
    let (out, err, exit) = sb.run(&argv).await;
    assert_eq!(exit, Exit::Code(0), "probe: {out} {err}");
    let lines: Vec<(String, bool)> = out
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            (it.next().unwrap_or("").to_string(), it.next() == Some("ok"))
        })
        .collect();
    assert!(lines[0].1, "the probe works: {out}");
    lines[1..].to_vec()
}

/// The host's own addresses (to try sandboxd's port on each).
fn host_addresses() -> Vec<String> {
    let mut out = vec!["127.0.0.1".to_string()];
    if let Ok(s) = std::fs::read_to_string("/proc/net/fib_trie") {
        for w in s.lines().collect::<Vec<_>>().windows(2) {
            if w[1].contains("/32 host LOCAL") {
                if let Some(ip) = w[0].split_whitespace().last() {
                    if !out.contains(&ip.to_string()) && !ip.starts_with("127.") {
                        out.push(ip.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Reach sandboxd's port from inside: on the sandbox's loopback, through slirp4netns's
/// gateway to the host, on the host's own addresses; and with block_network, anything.
#[tokio::test]
async fn attack_network_to_sandboxd_and_out() {
    let mut arena = Arena::new().await;
    let port = arena.env.sd.port;
    let mut sb = arena.attacker().await;
    let mut targets: Vec<String> = host_addresses()
        .into_iter()
        .map(|ip| format!("{ip}:{port}"))
        .collect();
    targets.push(format!("10.0.2.2:{port}"));
    targets.push(format!("10.0.2.3:{port}"));
    let res = connects(&mut sb, &targets).await;
    assert!(
        res.iter().all(|(_, ok)| !ok),
        "sandboxd's port reached: {res:?}"
    );
    // with block_network: only a loopback, nothing reachable
    let mut def = arena.env.def(&[]);
    def.block_network = true;
    let mut blocked = arena.env.create(def).await.unwrap();
    let dev = blocked.sh("cat /proc/net/dev").await;
    assert_eq!(
        dev.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["lo"],
        "{dev}"
    );
    let mut out_targets = targets.clone();
    out_targets.extend([
        "1.1.1.1:53".to_string(),
        "8.8.8.8:443".into(),
        "10.0.2.2:22".into(),
    ]);
    let res = connects(&mut blocked, &out_targets).await;
    assert!(
        res.iter().all(|(_, ok)| !ok),
        "block_network let through: {res:?}"
    );
    let (out, _) = try_sh(&mut blocked, "getent hosts example.com; echo rc=$?").await;
    assert!(
        out.contains("rc=2") || out.contains("rc=1"),
        "DNS with block_network: {out}"
    );
    arena
        .still_serves(
            "reach sandboxd's port (sandbox loopback, slirp gateway, host addresses); network with block_network",
            &format!("{} targets, none reached", targets.len() + out_targets.len()),
        )
        .await;
}

/// The cgroup file of a sandbox, by its id (in this instance's tree).
fn cgroup_file(sd: &Sandboxd, controller: &str, sandbox_id: &str, file: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("sandboxd")
        .join(sd.instance())
        .join(sandbox_id)
        .join(file)
}

/// A fork bomb: held at the pids limit, killed by the exec's timeout and by terminate.
#[tokio::test]
async fn attack_fork_bomb() {
    let mut arena = Arena::new().await;
    let mut sb = arena.attacker().await;
    let started = Instant::now();
    let bomb = sb
        .exec_opts(
            &["bash", "-c", ":(){ :|:& };:"],
            ExecOpts {
                timeout_secs: Some(4),
                stdout_devnull: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let max = std::fs::read_to_string(cgroup_file(&arena.env.sd, "pids", &sb.id, "pids.max"))
        .unwrap_or_default();
    let current: u64 =
        std::fs::read_to_string(cgroup_file(&arena.env.sd, "pids", &sb.id, "pids.current"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
    let events = std::fs::read_to_string(cgroup_file(&arena.env.sd, "pids", &sb.id, "pids.events"))
        .unwrap_or_default();
    assert_eq!(max.trim(), "1024", "the pids limit");
    assert!(current <= 1024, "{current} processes");
    let hits: u64 = events
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(hits > 0, "the bomb hit the limit: {events}");
    sb.wait(&bomb).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    let t0 = Instant::now();
    arena.env.terminate(&sb.id).await;
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "terminate ends the bomb"
    );
    arena
        .still_serves(
            "fork bomb",
            &format!("held at {current} of 1024 pids, {hits} forks refused"),
        )
        .await;
}

/// A memory bomb: the kernel kills it at the sandbox's memory limit (exit 137).
#[tokio::test]
async fn attack_memory_bomb() {
    let arena = Arena::new().await;
    let mut def = arena.env.def(&[]);
    def.resources = Some(pb::Resources {
        memory_mb_max: 128,
        ..Default::default()
    });
    let mut sb = arena.env.create(def).await.unwrap();
    let started = Instant::now();
    // 1 GiB, touched
    let id = sb
        .exec(&["python3", "-c", "b = b'x' * (1 << 30); print(len(b))"])
        .await;
    let exit = sb.wait(&id).await;
    assert_eq!(exit.returncode(), 137, "killed at the limit: {exit:?}");
    let oom = std::fs::read_to_string(cgroup_file(
        &arena.env.sd,
        "memory",
        &sb.id,
        "memory.oom_control",
    ))
    .unwrap_or_default();
    assert!(
        oom.lines()
            .any(|l| l.starts_with("oom_kill ") && !l.ends_with(" 0")),
        "the memory cgroup's OOM killer acted: {oom}"
    );
    assert_eq!(
        sb.sh("echo after").await,
        "after\n",
        "the sandbox itself lives on"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    arena
        .still_serves("memory bomb", "killed at the 128 MiB limit, exit 137")
        .await;
}

/// Allocated bytes of a file on the host.
fn allocated(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).map(|m| m.blocks() * 512).unwrap_or(0)
}

fn free_bytes(p: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    st.f_bavail as u64 * st.f_frsize as u64
}

/// The disk image behind a sandbox's writable layer (the loop device whose mount holds
/// its `upper`).
fn disk_image_of(sd: &Sandboxd) -> Vec<PathBuf> {
    std::fs::read_dir(sd.state_dir.join("sandboxes"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ext4"))
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

/// Small files until one fails; prints the errno's name (dash's `echo` says "I/O
/// error" for any failed write, so the shell cannot tell).
const SMALL_FILES: &str = "import errno
for i in range(100000):
    try:
        f = open(f'/tmp/small-{i}', 'w'); f.write('x'); f.close()
    except OSError as e:
        print('small files:', errno.errorcode[e.errno]); break";

/// Fill the disk: writes stop with ENOSPC at the cap, the host keeps its free space.
async fn fill(sb: &mut Sb, cap_mib: u64, sd: &Sandboxd) -> String {
    let free_before = free_bytes(&sd.state_dir);
    let images_before: u64 = disk_image_of(sd).iter().map(|p| allocated(p)).sum();
    let (dd, _, _) = sb
        .run(&[
            "sh",
            "-c",
            "dd if=/dev/zero of=/tmp/fill bs=1M 2>&1 | head -1",
        ])
        .await;
    let (small, err, exit) = sb.run(&["python3", "-c", SMALL_FILES]).await;
    assert_eq!(exit, Exit::Code(0), "{small} {err}");
    let size = sb.sh("stat -c %s /tmp/fill").await;
    let out = format!("{dd}{small}{size}");
    assert!(
        out.contains("No space left on device") && out.contains("small files: ENOSPC"),
        "writes past the cap fail with ENOSPC: {out}"
    );
    let written: u64 = out
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        written <= cap_mib << 20 && written >= (cap_mib << 20) / 2,
        "wrote {written} bytes under a {cap_mib} MiB cap: {out}"
    );
    let images_after: u64 = disk_image_of(sd).iter().map(|p| allocated(p)).sum();
    let grew = images_after.saturating_sub(images_before);
    assert!(
        grew <= (cap_mib << 20) + (16 << 20),
        "the host holds at most the cap: {grew} bytes for a {cap_mib} MiB cap"
    );
    let free_after = free_bytes(&sd.state_dir);
    // other work on this machine moves free space too; the sandbox alone took `grew`
    eprintln!(
        "fill: wrote {} MiB, host image grew {} MiB, host free space {} -> {} MiB",
        written >> 20,
        grew >> 20,
        free_before >> 20,
        free_after >> 20
    );
    // room again once the sandbox deletes its files
    assert_eq!(
        sb.sh("rm -f /tmp/fill /tmp/small-*; echo y > /tmp/after && cat /tmp/after")
            .await,
        "y\n"
    );
    format!(
        "ENOSPC at {} MiB of {cap_mib}, host image {} MiB",
        written >> 20,
        grew >> 20
    )
}

/// Fill the disk with the cap the sandbox asked for (ephemeral_disk_mb).
#[tokio::test]
async fn attack_fill_disk() {
    let arena = Arena::new().await;
    let mut def = arena.env.def(&[]);
    def.resources = Some(pb::Resources {
        ephemeral_disk_mb: 192,
        ..Default::default()
    });
    let mut sb = arena.env.create(def).await.unwrap();
    let detail = fill(&mut sb, 192, &arena.env.sd).await;
    let images = disk_image_of(&arena.env.sd).len();
    arena.env.terminate(&sb.id).await;
    assert!(
        disk_image_of(&arena.env.sd).len() < images,
        "the sandbox's disk image is deleted when it ends"
    );
    arena
        .still_serves("fill the disk (ephemeral_disk_mb 192)", &detail)
        .await;
}

/// Fill the disk with the default cap of `serve --sandbox-disk-mib`.
#[tokio::test]
async fn attack_fill_disk_default_cap() {
    let sd = Sandboxd::start_with(&["--sandbox-disk-mib".into(), "128".into()]).await;
    let mut arena = Arena::on(sd).await;
    let mut sb = arena.attacker().await;
    let detail = fill(&mut sb, 128, &arena.env.sd).await;
    arena
        .still_serves("fill the disk (serve --sandbox-disk-mib 128)", &detail)
        .await;
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// 300 MB of stdout that nobody reads: sandboxd holds a bounded buffer and the writer
/// blocks (back-pressure), instead of sandboxd buffering it all; then a reader gets all of
/// it, byte-exact.
#[tokio::test]
async fn attack_stdout_flood_nobody_reads() {
    let mut arena = Arena::new().await;
    let pid = arena.env.sd.pid().expect("sandboxd runs");
    let mut sb = arena.attacker().await;
    const TOTAL: u64 = 300_000_000;
    // reset the peak RSS, then flood
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let baseline = status_kib(pid, "VmRSS:");
    let id = sb
        .exec(&[
            "sh",
            "-c",
            &format!("head -c {TOTAL} /dev/zero; echo done >&2"),
        ])
        .await;
    let mut peak_unread = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak_unread = peak_unread.max(status_kib(pid, "VmRSS:"));
    }
    let hwm_unread = status_kib(pid, "VmHWM:");
    let poll = sb
        .tcr
        .task_exec_poll(tcr::TaskExecPollRequest {
            task_id: sb.task_id.clone(),
            exec_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        poll.exit_status, None,
        "the writer is blocked, not finished"
    );
    let grew = hwm_unread.saturating_sub(baseline);
    assert!(
        grew < 64 * 1024,
        "sandboxd's RSS grew {grew} KiB with 300 MB unread (baseline {baseline} KiB)"
    );
    // now read it: every byte arrives, in order, and memory stays bounded while reading
    let started = Instant::now();
    let mut s = sb.stdio(&id, 0, false).await.unwrap();
    let mut got = 0u64;
    let reading = within(240, "reading 300 MB", async {
        while let Some(m) = s.message().await.expect("stdout") {
            assert!(m.data.iter().all(|b| *b == 0), "bytes as written");
            got += m.data.len() as u64;
        }
    });
    reading.await;
    assert_eq!(got, TOTAL, "every byte, once");
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
    let hwm_all = status_kib(pid, "VmHWM:");
    assert!(
        hwm_all.saturating_sub(baseline) < 96 * 1024,
        "peak RSS while reading: {hwm_all} KiB (baseline {baseline} KiB)"
    );
    let detail = format!(
        "sandboxd RSS {baseline} KiB before, peak {hwm_unread} KiB with 300 MB unread (+{} KiB), peak {hwm_all} KiB while reading it all in {:.1}s",
        grew,
        started.elapsed().as_secs_f64()
    );
    arena
        .still_serves("300 MB stdout flood, nobody reading", &detail)
        .await;
}

/// A setuid-root binary (owned by the host's root, setuid bit set, in a volume the host
/// wrote), and the base image's own setuid binaries: none gives host root.
#[tokio::test]
async fn attack_setuid_binaries() {
    let mut arena = Arena::new().await;
    let volume_id = arena
        .env
        .cp
        .volume_get_or_create(pb::VolumeGetOrCreateRequest {
            deployment_name: "suid-vol".into(),
            object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .volume_id;
    // its first committed version, written by the host
    let vol_dir = arena
        .env
        .sd
        .state_dir
        .join("volumes")
        .join(&volume_id)
        .join("@0");
    let suid = vol_dir.join("suid-sleep");
    std::fs::copy("/usr/bin/sleep", &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o6755)).unwrap();
    let mut def = arena.env.def(&[]);
    def.volume_mounts = vec![pb::VolumeMount {
        volume_id,
        mount_path: "/vol".into(),
        ..Default::default()
    }];
    let mut sb = arena.env.create(def).await.unwrap();
    let m = format!("{}.25", 4000 + uuid::Uuid::new_v4().as_bytes()[0] as u32);
    let id = sb.exec(&["/vol/suid-sleep", &m]).await;
    // the program itself (not nsenter or the launcher, whose command lines name it)
    let pids = eventually(10, "the setuid program runs", || {
        let m = m.clone();
        Box::pin(async move {
            let p: Vec<i32> = host_pids_with(&format!("suid-sleep\0{m}"))
                .into_iter()
                .filter(|p| {
                    std::fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|c| c.trim() == "suid-sleep")
                })
                .collect();
            (!p.is_empty()).then_some(p)
        })
    })
    .await;
    let mut seen = Vec::new();
    for pid in &pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        for field in ["Uid:", "Gid:"] {
            let ids: Vec<&str> = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .unwrap()
                .split_whitespace()
                .collect();
            assert!(
                ids.iter().all(|i| *i != "0"),
                "the setuid-root program runs with host {field} {ids:?}"
            );
            seen.push(format!("{field} {}", ids.join(" ")));
        }
    }
    // the base image's setuid binaries are the sandbox's root's at most
    let (out, _) = try_sh(
        &mut sb,
        "for f in $(find /usr/bin /usr/sbin -perm -4000 2>/dev/null); do echo \"$f $(stat -c %u $f)\"; done; \
         /usr/bin/su -c 'id -u' 2>&1; /usr/bin/mount -t tmpfs none /mnt 2>&1; true",
    )
    .await;
    let found = out.lines().filter(|l| l.starts_with("/usr/")).count();
    arena.env.terminate(&sb.id).await;
    arena
        .still_serves(
            "setuid binaries (a host-root-owned setuid program in a volume, the base image's su/mount/passwd)",
            &format!(
                "the setuid-root program ran with host {}; {found} setuid files in the image",
                seen.join(", ")
            ),
        )
        .await;
    let _ = id;
}
