//! Runs the built `modal-sandbox-fs-tools` against temp directories: every command,
//! every error kind that can be provoked here, a 5 MB round trip, Watch, bad input.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_modal-sandbox-fs-tools");

// ---- helpers ------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fs-tools-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        TempDir(dir)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    fn s(&self, p: &str) -> String {
        self.join(p).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn json(&self) -> Value {
        assert_eq!(
            self.code,
            0,
            "expected success, stderr: {}",
            String::from_utf8_lossy(&self.stderr)
        );
        serde_json::from_slice(&self.stdout).expect("stdout is JSON")
    }

    fn ok(&self) {
        assert_eq!(
            self.code,
            0,
            "expected success, stderr: {}",
            String::from_utf8_lossy(&self.stderr)
        );
    }

    /// The error object, after checking the failure contract.
    fn err(&self) -> Value {
        assert_ne!(self.code, 0, "expected failure");
        let text = String::from_utf8_lossy(&self.stderr);
        assert!(!text.contains("panicked"), "panic: {text}");
        let v: Value = serde_json::from_str(text.trim()).expect("stderr is one JSON object");
        for key in ["error_kind", "message", "detail"] {
            assert!(v[key].is_string(), "{key} missing in {v}");
        }
        assert!(!v["message"].as_str().unwrap_or("").is_empty());
        v
    }

    fn kind(&self) -> String {
        self.err()["error_kind"].as_str().unwrap_or("").to_string()
    }
}

fn exec(mut cmd: Command, input: Option<Vec<u8>>) -> Out {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // a freshly copied binary can be briefly "busy" (ETXTBSY) while another test thread's
    // fork still holds the copy's write descriptor before its exec closes it
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                thread::sleep(Duration::from_millis(20));
            }
            other => break other.expect("spawn helper"),
        }
    };
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().expect("stdin");
        thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let out = child.wait_with_output().expect("wait helper");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn cmd(c: &Value) -> Command {
    let mut command = Command::new(BIN);
    command.arg(c.to_string());
    command
}

fn run(c: Value) -> Out {
    exec(cmd(&c), None)
}

fn run_in(c: Value, input: &[u8]) -> Out {
    exec(cmd(&c), Some(input.to_vec()))
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn temp_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("modal-fs-tools"))
        .collect()
}

// ---- Stat and ListFiles ---------------------------------------------------------------

#[test]
fn stat_reports_files_directories_and_symlinks() {
    let t = TempDir::new("stat");
    fs::write(t.join("f.txt"), b"hello").unwrap();
    fs::set_permissions(t.join("f.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir(t.join("d")).unwrap();
    symlink("d", t.join("l")).unwrap();

    let f = run(json!({"Stat": {"path": t.s("f.txt")}})).json();
    assert_eq!(f["name"], "f.txt");
    assert_eq!(f["path"], t.s("f.txt"));
    assert_eq!(f["type"], "file");
    assert_eq!(f["size"], 5);
    assert_eq!(f["mode"], 0o100640);
    assert_eq!(f["permissions"], "0640");
    assert_eq!(f["owner"], "root");
    assert_eq!(f["group"], "root");
    assert!(f["symlink_target"].is_null());
    let mtime = fs::metadata(t.join("f.txt")).unwrap().mtime() as f64;
    let got = f["modified_time"]
        .as_f64()
        .expect("modified_time is a number");
    assert!((got - mtime).abs() < 1.5, "{got} vs {mtime}");

    let d = run(json!({"Stat": {"path": format!("{}/", t.s("d"))}})).json();
    assert_eq!(d["type"], "directory");
    assert_eq!(d["name"], "d");

    // A symlink is reported as itself, not as what it points to.
    let l = run(json!({"Stat": {"path": t.s("l")}})).json();
    assert_eq!(l["type"], "symlink");
    assert_eq!(l["symlink_target"], "d");

    let root = run(json!({"Stat": {"path": "/"}})).json();
    assert_eq!(root["type"], "directory");
    assert_eq!(root["name"], "/");

    assert_eq!(
        run(json!({"Stat": {"path": t.s("nope")}})).kind(),
        "NotFound"
    );
    assert_eq!(
        run(json!({"Stat": {"path": t.s("f.txt/x")}})).kind(),
        "NotDirectory"
    );
}

#[test]
fn list_files_is_sorted_with_absolute_paths() {
    let t = TempDir::new("ls");
    fs::write(t.join("b.txt"), b"12").unwrap();
    fs::create_dir(t.join("a")).unwrap();
    symlink("/nonexistent-target", t.join("c")).unwrap();

    let list = run(json!({"ListFiles": {"path": t.s(".")}})).json();
    let list = list.as_array().expect("an array");
    let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["a", "b.txt", "c"]);
    let types: Vec<&str> = list.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["directory", "file", "symlink"]);
    assert_eq!(list[1]["path"], t.s("b.txt"), "normalised absolute path");
    assert_eq!(list[1]["size"], 2);
    assert_eq!(list[2]["symlink_target"], "/nonexistent-target");

    let empty = run(json!({"ListFiles": {"path": t.s("a")}})).json();
    assert_eq!(empty, json!([]));

    assert_eq!(
        run(json!({"ListFiles": {"path": t.s("b.txt")}})).kind(),
        "IsFile"
    );
    assert_eq!(
        run(json!({"ListFiles": {"path": t.s("zz")}})).kind(),
        "NotFound"
    );
    assert_eq!(
        run(json!({"ListFiles": {"path": t.s("b.txt/zz")}})).kind(),
        "NotDirectory"
    );
}

// ---- ReadFile and WriteFile -----------------------------------------------------------

#[test]
fn write_then_read_5mb_byte_exact() {
    let t = TempDir::new("rw");
    let data = pseudo_random(5 * 1024 * 1024 + 17);
    let path = t.s("deep/er/big.bin");
    run_in(json!({"WriteFile": {"path": path}}), &data).ok();
    assert_eq!(fs::read(&path).unwrap(), data, "on disk");
    let back = run(json!({"ReadFile": {"path": path}}));
    back.ok();
    assert_eq!(back.stdout.len(), data.len());
    assert!(back.stdout == data, "read back byte-exact");
    assert!(temp_leftovers(&t.join("deep/er")).is_empty());

    // Empty stdin makes an empty file.
    run_in(json!({"WriteFile": {"path": t.s("empty")}}), b"").ok();
    assert_eq!(fs::read(t.join("empty")).unwrap(), b"");
}

#[test]
fn write_file_replaces_keeping_mode_and_follows_symlinks() {
    let t = TempDir::new("replace");
    fs::write(t.join("run.sh"), b"old").unwrap();
    fs::set_permissions(t.join("run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    run_in(
        json!({"WriteFile": {"path": t.s("run.sh")}}),
        b"#!/bin/sh\n",
    )
    .ok();
    assert_eq!(fs::read(t.join("run.sh")).unwrap(), b"#!/bin/sh\n");
    let mode = fs::metadata(t.join("run.sh")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o750);

    // Writing through a symlink replaces the target; the link stays a link.
    symlink("run.sh", t.join("link")).unwrap();
    run_in(json!({"WriteFile": {"path": t.s("link")}}), b"via link").ok();
    assert!(fs::symlink_metadata(t.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(t.join("run.sh")).unwrap(), b"via link");
    assert!(temp_leftovers(&t.0).is_empty());
}

#[test]
fn write_file_errors() {
    let t = TempDir::new("werr");
    fs::create_dir(t.join("d")).unwrap();
    fs::write(t.join("f"), b"x").unwrap();
    assert_eq!(
        run_in(json!({"WriteFile": {"path": t.s("d")}}), b"x").kind(),
        "IsDirectory"
    );
    assert_eq!(
        run_in(
            json!({"WriteFile": {"path": format!("{}/", t.s("new"))}}),
            b"x"
        )
        .kind(),
        "IsDirectory"
    );
    // The parent is a file.
    assert_eq!(
        run_in(json!({"WriteFile": {"path": t.s("f/child")}}), b"x").kind(),
        "NotDirectory"
    );
    assert_eq!(
        run_in(json!({"WriteFile": {"path": t.s("f/a/b")}}), b"x").kind(),
        "NotDirectory"
    );
    assert_eq!(fs::read(t.join("f")).unwrap(), b"x");
}

#[test]
fn failed_write_leaves_no_partial_file() {
    let t = TempDir::new("efbig");
    let target = t.join("keep.txt");
    fs::write(&target, b"original").unwrap();
    // RLIMIT_FSIZE of 1 MiB: writing 2 MiB fails with EFBIG half way through.
    let mut c = cmd(&json!({"WriteFile": {"path": t.s("keep.txt")}}));
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1 << 20,
                rlim_max: 1 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = exec(c, Some(pseudo_random(2 << 20)));
    assert_eq!(out.kind(), "FileTooLarge");
    assert_eq!(fs::read(&target).unwrap(), b"original", "target untouched");
    assert!(temp_leftovers(&t.0).is_empty(), "temp file cleaned up");
}

#[test]
fn read_file_errors() {
    let t = TempDir::new("rerr");
    fs::create_dir(t.join("d")).unwrap();
    fs::write(t.join("f"), vec![7u8; 1000]).unwrap();
    assert_eq!(
        run(json!({"ReadFile": {"path": t.s("nope")}})).kind(),
        "NotFound"
    );
    assert_eq!(
        run(json!({"ReadFile": {"path": t.s("d")}})).kind(),
        "IsDirectory"
    );
    assert_eq!(
        run(json!({"ReadFile": {"path": t.s("f/x")}})).kind(),
        "NotDirectory"
    );
    let mut c = cmd(&json!({"ReadFile": {"path": t.s("f")}}));
    c.env("MODAL_FS_TOOLS_MAX_READ_BYTES", "999");
    let out = exec(c, None);
    assert_eq!(out.kind(), "FileTooLarge");
    assert!(out.stdout.is_empty());
    let mut c = cmd(&json!({"ReadFile": {"path": t.s("f")}}));
    c.env("MODAL_FS_TOOLS_MAX_READ_BYTES", "1000");
    let out = exec(c, None);
    out.ok();
    assert_eq!(out.stdout.len(), 1000);
}

// ---- MakeDirectory and Remove -----------------------------------------------------------

#[test]
fn make_directory() {
    let t = TempDir::new("mkdir");
    run(json!({"MakeDirectory": {"path": t.s("a/b/c"), "parents": true}})).ok();
    assert!(t.join("a/b/c").is_dir());
    // Idempotent with parents.
    run(json!({"MakeDirectory": {"path": t.s("a/b/c"), "parents": true}})).ok();
    // "parents" defaults to true.
    run(json!({"MakeDirectory": {"path": t.s("x/y")}})).ok();
    assert!(t.join("x/y").is_dir());

    run(json!({"MakeDirectory": {"path": t.s("a/new"), "parents": false}})).ok();
    assert!(t.join("a/new").is_dir());
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("a/new"), "parents": false}})).kind(),
        "PathAlreadyExists"
    );
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("m/n"), "parents": false}})).kind(),
        "NotFound"
    );
    fs::write(t.join("file"), b"").unwrap();
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("file"), "parents": true}})).kind(),
        "PathAlreadyExists"
    );
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("file"), "parents": false}})).kind(),
        "PathAlreadyExists"
    );
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("file/sub"), "parents": true}})).kind(),
        "NotDirectory"
    );
    assert_eq!(
        run(json!({"MakeDirectory": {"path": t.s("file/sub"), "parents": false}})).kind(),
        "NotDirectory"
    );
}

#[test]
fn remove() {
    let t = TempDir::new("rm");
    fs::write(t.join("f"), b"x").unwrap();
    run(json!({"Remove": {"path": t.s("f")}})).ok();
    assert!(!t.join("f").exists());
    assert_eq!(
        run(json!({"Remove": {"path": t.s("f")}})).kind(),
        "NotFound"
    );

    fs::create_dir_all(t.join("tree/a/b")).unwrap();
    fs::write(t.join("tree/a/b/file"), b"x").unwrap();
    assert_eq!(
        run(json!({"Remove": {"path": t.s("tree"), "recursive": false}})).kind(),
        "DirectoryNotEmpty"
    );
    run(json!({"Remove": {"path": t.s("tree"), "recursive": true}})).ok();
    assert!(!t.join("tree").exists());

    fs::create_dir(t.join("empty")).unwrap();
    run(json!({"Remove": {"path": t.s("empty")}})).ok();
    assert!(!t.join("empty").exists());

    // Symlinks are never followed: the link goes, its target stays.
    fs::create_dir(t.join("target")).unwrap();
    fs::write(t.join("target/keep"), b"x").unwrap();
    symlink(t.join("target"), t.join("link")).unwrap();
    run(json!({"Remove": {"path": t.s("link"), "recursive": true}})).ok();
    assert!(fs::symlink_metadata(t.join("link")).is_err());
    assert!(t.join("target/keep").exists());
    symlink(t.join("target"), t.join("link2")).unwrap();
    run(json!({"Remove": {"path": format!("{}/", t.s("link2")), "recursive": true}})).ok();
    assert!(fs::symlink_metadata(t.join("link2")).is_err());
    assert!(t.join("target/keep").exists());
    // A symlink inside a tree removed recursively is unlinked, not followed.
    fs::create_dir(t.join("tree2")).unwrap();
    symlink(t.join("target"), t.join("tree2/inner")).unwrap();
    run(json!({"Remove": {"path": t.s("tree2"), "recursive": true}})).ok();
    assert!(t.join("target/keep").exists());

    fs::write(t.join("plain"), b"x").unwrap();
    assert_eq!(
        run(json!({"Remove": {"path": format!("{}/", t.s("plain"))}})).kind(),
        "NotDirectory"
    );
    assert_eq!(
        run(json!({"Remove": {"path": "/", "recursive": true}})).kind(),
        "PermissionDenied"
    );
}

// ---- PermissionDenied -------------------------------------------------------------------

/// The tests run as root, which passes every permission check; run the helper as
/// nobody (uid/gid 65534) instead.
/// A copy of the helper that an unprivileged user can execute: the build's own copy may
/// sit below a directory only root can enter (a checkout in a private temp dir).
fn bin_for_nobody() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fs-tools-test-bin-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create bin dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod bin dir");
        let bin = dir.join("modal-sandbox-fs-tools");
        fs::copy(BIN, &bin).expect("copy helper");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod helper");
        bin
    })
    .clone()
}

fn as_nobody(c: Value) -> Command {
    let mut command = Command::new(bin_for_nobody());
    command.arg(c.to_string());
    // SAFETY: setgroups/setgid/setuid are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(65534) != 0
                || libc::setuid(65534) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

#[test]
fn permission_denied_for_an_unprivileged_user() {
    let t = TempDir::new("perm");
    fs::create_dir(t.join("private")).unwrap();
    fs::write(t.join("private/f"), b"x").unwrap();
    fs::set_permissions(t.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(t.join("secret"), b"x").unwrap();
    fs::set_permissions(t.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();

    let kind =
        |c: Value, input: Option<&[u8]>| exec(as_nobody(c), input.map(|i| i.to_vec())).kind();
    assert_eq!(
        kind(json!({"ListFiles": {"path": t.s("private")}}), None),
        "PermissionDenied"
    );
    assert_eq!(
        kind(json!({"ReadFile": {"path": t.s("secret")}}), None),
        "PermissionDenied"
    );
    assert_eq!(
        kind(json!({"Stat": {"path": t.s("private/f")}}), None),
        "PermissionDenied"
    );
    assert_eq!(
        kind(json!({"WriteFile": {"path": t.s("new")}}), Some(b"x")),
        "PermissionDenied"
    );
    assert_eq!(
        kind(
            json!({"MakeDirectory": {"path": t.s("nd"), "parents": false}}),
            None
        ),
        "PermissionDenied"
    );
    assert_eq!(
        kind(json!({"Remove": {"path": t.s("secret")}}), None),
        "PermissionDenied"
    );
    assert_eq!(
        kind(
            json!({"Watch": {"path": t.s("private"), "recursive": false, "filter": null, "timeout_secs": 1}}),
            None
        ),
        "PermissionDenied"
    );
    assert!(t.join("secret").exists());
    assert!(!t.join("new").exists());
}

/// The helper in a private mount namespace of its own where `dir` is bind-mounted onto
/// itself read-only (the way sandboxd mounts read-only volumes).
fn read_only(c: &Value, dir: &Path) -> Command {
    let dir = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
    let mut command = cmd(c);
    // SAFETY: unshare and mount are plain syscalls, async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let none = std::ptr::null();
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    none,
                    c"/".as_ptr(),
                    none,
                    libc::MS_REC | libc::MS_PRIVATE,
                    none.cast(),
                ) == 0
                && libc::mount(dir.as_ptr(), dir.as_ptr(), none, libc::MS_BIND, none.cast()) == 0
                && libc::mount(
                    none,
                    dir.as_ptr(),
                    none,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    none.cast(),
                ) == 0;
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command
}

#[test]
fn read_only_mount_is_permission_denied() {
    let t = TempDir::new("ro");
    fs::write(t.join("f"), b"x").unwrap();
    let probe = read_only(&json!({"Stat": {"path": t.s("f")}}), &t.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = probe {
        // Needs CAP_SYS_ADMIN; the unprivileged-user test above still covers the kind.
        eprintln!("skipping: cannot make a read-only bind mount here ({e})");
        return;
    }
    let run_ro = |c: Value, input: &[u8]| exec(read_only(&c, &t.0), Some(input.to_vec()));

    let err = run_ro(json!({"WriteFile": {"path": t.s("f")}}), b"new").err();
    assert_eq!(err["error_kind"], "PermissionDenied", "{err}");
    assert_eq!(fs::read(t.join("f")).unwrap(), b"x");
    assert_eq!(
        run_ro(json!({"WriteFile": {"path": t.s("sub/new")}}), b"new").kind(),
        "PermissionDenied"
    );
    assert_eq!(
        run_ro(json!({"Remove": {"path": t.s("f")}}), b"").kind(),
        "PermissionDenied"
    );
    assert_eq!(
        run_ro(
            json!({"MakeDirectory": {"path": t.s("d"), "parents": true}}),
            b""
        )
        .kind(),
        "PermissionDenied"
    );
    // Reading still works.
    let out = run_ro(json!({"ReadFile": {"path": t.s("f")}}), b"");
    out.ok();
    assert_eq!(out.stdout, b"x");
}

// ---- Watch --------------------------------------------------------------------------------

struct Watching {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Value>,
    seen: Vec<Value>,
}

fn start_watch(c: Value) -> Watching {
    let mut child = cmd(&c)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v: Value = serde_json::from_str(&line).expect("each line is JSON");
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    Watching {
        stdin: child.stdin.take(),
        child,
        events: rx,
        seen: Vec::new(),
    }
}

impl Watching {
    /// Repeats `act` (the watch may not be set up yet when we start) until `done`
    /// holds for the events seen so far, for at most 15 s.
    fn until(&mut self, mut act: impl FnMut(u32), done: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(15) {
            act(i);
            i += 1;
            let round = Instant::now();
            while round.elapsed() < Duration::from_millis(400) {
                if let Ok(v) = self.events.recv_timeout(Duration::from_millis(50)) {
                    self.seen.push(v);
                }
                if done(&self.seen) {
                    return;
                }
            }
        }
        panic!("events never matched; saw {:?}", self.seen);
    }

    /// Waits for exit (at most `limit`), collecting the remaining events.
    fn finish(mut self, limit: Duration) -> (i32, Vec<Value>, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(v) = self.events.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(v);
                }
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status.code().unwrap_or(-1), self.seen, err);
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("watch did not exit within {limit:?}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn has(events: &[Value], t: &str, path: &Path) -> bool {
    let p = path.to_string_lossy();
    events.iter().any(|e| {
        e["event_type"] == t
            && e["paths"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == p.as_ref()))
    })
}

#[test]
fn watch_sees_create_and_modify_then_ends_on_timeout() {
    let t = TempDir::new("watch");
    let started = Instant::now();
    let mut w = start_watch(
        json!({"Watch": {"path": t.s(""), "recursive": false, "filter": null, "timeout_secs": 4}}),
    );
    let dir = t.0.clone();
    let mut last = PathBuf::new();
    w.until(
        |i| {
            last = dir.join(format!("f{i}"));
            let mut f = fs::File::create(&last).unwrap();
            f.write_all(b"hello").unwrap();
        },
        |ev| {
            (0..40).any(|i| {
                let p = dir.join(format!("f{i}"));
                has(ev, "Create", &p) && has(ev, "Modify", &p)
            })
        },
    );
    let (code, events, stderr) = w.finish(Duration::from_secs(20));
    assert_eq!(code, 0, "exit 0 on timeout; stderr {stderr}");
    assert!(
        started.elapsed() >= Duration::from_millis(3900),
        "ran until its timeout"
    );
    for e in &events {
        assert!(e["event_type"].is_string() && e["paths"].is_array(), "{e}");
    }
}

#[test]
fn watch_recursive_follows_new_subdirectories_and_stops_on_stdin_eof() {
    let t = TempDir::new("watchrec");
    fs::create_dir(t.join("existing")).unwrap();
    let mut w = start_watch(
        json!({"Watch": {"path": t.s(""), "recursive": true, "filter": null, "timeout_secs": null}}),
    );
    let dir = t.0.clone();
    w.until(
        |i| {
            fs::write(dir.join(format!("existing/e{i}")), b"x").unwrap();
        },
        |ev| (0..40).any(|i| has(ev, "Create", &dir.join(format!("existing/e{i}")))),
    );
    // A directory created during the watch, and a file deep inside it.
    w.until(
        |i| {
            let sub = dir.join(format!("new{i}/inner"));
            fs::create_dir_all(&sub).unwrap();
            thread::sleep(Duration::from_millis(100));
            fs::write(sub.join("deep.txt"), b"x").unwrap();
        },
        |ev| (0..40).any(|i| has(ev, "Create", &dir.join(format!("new{i}/inner/deep.txt")))),
    );
    // Closing stdin ends the watch, successfully.
    drop(w.stdin.take());
    let (code, _, stderr) = w.finish(Duration::from_secs(10));
    assert_eq!(code, 0, "stderr {stderr}");
}

#[test]
fn watch_filter_and_renames() {
    let t = TempDir::new("watchfilter");
    let dir = t.0.clone();
    let mut w = start_watch(
        json!({"Watch": {"path": t.s(""), "recursive": false, "filter": ["Create"], "timeout_secs": 3}}),
    );
    w.until(
        |i| {
            fs::write(dir.join(format!("c{i}")), b"data").unwrap();
        },
        |ev| !ev.is_empty(),
    );
    let (code, events, _) = w.finish(Duration::from_secs(20));
    assert_eq!(code, 0);
    assert!(
        events.iter().all(|e| e["event_type"] == "Create"),
        "{events:?}"
    );

    fs::write(dir.join("r0"), b"x").unwrap();
    let mut w = start_watch(
        json!({"Watch": {"path": t.s(""), "recursive": false, "filter": ["RenameFrom", "RenameTo", "Rename"], "timeout_secs": 20}}),
    );
    w.until(
        |i| {
            let _ = fs::rename(dir.join(format!("r{i}")), dir.join(format!("r{}", i + 1)));
        },
        |ev| {
            ev.iter().any(|e| {
                e["event_type"] == "Rename" && e["paths"].as_array().is_some_and(|a| a.len() == 2)
            }) && ev.iter().any(|e| e["event_type"] == "RenameFrom")
                && ev.iter().any(|e| e["event_type"] == "RenameTo")
        },
    );
    drop(w.stdin.take());
    let (code, _, _) = w.finish(Duration::from_secs(10));
    assert_eq!(code, 0);
}

#[test]
fn watch_a_single_file_and_its_removal() {
    let t = TempDir::new("watchfile");
    let f = t.join("one.txt");
    fs::write(&f, b"x").unwrap();
    let mut w = start_watch(
        json!({"Watch": {"path": t.s("one.txt"), "recursive": false, "filter": null, "timeout_secs": 20}}),
    );
    let path = f.clone();
    w.until(
        |_| {
            let mut h = fs::OpenOptions::new().append(true).open(&path).unwrap();
            h.write_all(b"more").unwrap();
        },
        |ev| has(ev, "Modify", &path),
    );
    // Deleting the watched file ends the watch (nothing more can happen to it).
    fs::remove_file(&f).unwrap();
    let (code, events, _) = w.finish(Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(has(&events, "Remove", &f), "{events:?}");
}

#[test]
fn watch_errors() {
    let t = TempDir::new("watcherr");
    assert_eq!(
        run(json!({"Watch": {"path": t.s("missing"), "recursive": false, "filter": null, "timeout_secs": 1}})).kind(),
        "NotFound"
    );
    // timeout_secs 0 with stdin at /dev/null: set up, then end at once.
    let out = run(
        json!({"Watch": {"path": t.s(""), "recursive": true, "filter": null, "timeout_secs": 0}}),
    );
    out.ok();
    assert!(out.stdout.is_empty());
}

// ---- bad input ------------------------------------------------------------------------------

#[test]
fn bad_commands_exit_2_with_a_json_error() {
    let bad = [
        "",
        "not json",
        "{",
        "[]",
        "null",
        "{}",
        r#"{"Stat":{"path":"/"},"ListFiles":{"path":"/"}}"#,
        r#"{"Stat":"/tmp"}"#,
        r#"{"Stat":{}}"#,
        r#"{"Stat":{"path":42}}"#,
        r#"{"Explode":{"path":"/"}}"#,
        r#"{"MakeDirectory":{"path":"/x","parents":"yes"}}"#,
        r#"{"Watch":{"path":"/","timeout_secs":-5}}"#,
        r#"{"Watch":{"path":"/","filter":{}}}"#,
    ];
    for arg in bad {
        let out = exec(
            {
                let mut c = Command::new(BIN);
                c.arg(arg);
                c
            },
            None,
        );
        assert_eq!(out.code, 2, "{arg}");
        assert_eq!(out.kind(), "InvalidCommand", "{arg}");
    }
    // No argument, or two.
    let out = exec(Command::new(BIN), None);
    assert_eq!(out.code, 2);
    assert_eq!(out.kind(), "InvalidCommand");
    let mut two = Command::new(BIN);
    two.args([r#"{"Stat":{"path":"/"}}"#, "extra"]);
    let out = exec(two, None);
    assert_eq!(out.code, 2);
    // Not UTF-8.
    let mut c = Command::new(BIN);
    c.arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff\xfe"));
    assert_eq!(exec(c, None).code, 2);
}

#[test]
fn odd_paths_fail_cleanly() {
    for c in [
        json!({"Stat": {"path": ""}}),
        json!({"ReadFile": {"path": ""}}),
        json!({"ListFiles": {"path": ""}}),
        json!({"Remove": {"path": "", "recursive": true}}),
        json!({"MakeDirectory": {"path": "", "parents": true}}),
        json!({"Stat": {"path": "/proc/self/fd/999999/x"}}),
        json!({"ReadFile": {"path": "/".repeat(5000)}}),
        json!({"Stat": {"path": format!("/{}", "a".repeat(300))}}),
    ] {
        let out = run(c.clone());
        assert_ne!(out.code, 0, "{c}");
        out.err();
    }
    // ReadFile of something that is not a regular file streams it until EOF.
    let out = run(json!({"ReadFile": {"path": "/proc/self/status"}}));
    out.ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Name:"));
}
