//! Commands and sandboxes on a pseudo-terminal, against a real sandboxd: the terminal is a
//! real one inside the sandbox (`tty`, `stty size`, `test -t 0`), Ctrl-C is SIGINT to the
//! foreground process group, a resize reaches the program (`tput cols`, SIGWINCH), output
//! through the terminal is byte-exact and resumable like a pipe's, and the resize call is
//! authorized like every command-router call.

mod common;

use common::terminal::*;
use common::*;
use modal_proto::task_command_router as tcr;
use sha2::{Digest, Sha256};
use tonic::Code;

async fn terminal_client_for(env: &Env, sb: &Sb) -> Term {
    terminal_client(&sb.url, env.transport, &sb.jwt).await
}

#[tokio::test]
async fn a_command_runs_on_a_real_terminal_of_the_size_asked() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let script = "tty; stty size; test -t 0 && test -t 1 && echo on-a-tty; echo TERM=$TERM COLORTERM=$COLORTERM; ps -o stat= -p $$";
    let id = exec_pty(&mut sb, &["sh", "-c", script], 33, 111)
        .await
        .unwrap();
    let mut screen = Screen::new(id.clone());
    let out = screen.read_to_end(&mut sb, 30).await;
    assert!(out.contains("/dev/pts/"), "tty names a pts: {out:?}");
    assert!(out.contains("33 111\r\n"), "stty size: {out:?}");
    assert!(
        out.contains("on-a-tty\r\n"),
        "stdin and stdout are terminals: {out:?}"
    );
    assert!(
        out.contains("TERM=xterm-256color COLORTERM=truecolor"),
        "{out:?}"
    );
    // `s`: a session leader; `+`: in the terminal's foreground process group
    let stat = out.lines().last().unwrap_or("").trim();
    assert!(
        stat.contains('s') && stat.contains('+'),
        "the command leads its session, in the foreground: {stat:?} in {out:?}"
    );
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
    // stderr went to the terminal as well
    let id = exec_pty(&mut sb, &["sh", "-c", "echo to-stderr >&2; exit 3"], 0, 0)
        .await
        .unwrap();
    let out = Screen::new(id.clone()).read_to_end(&mut sb, 30).await;
    assert_eq!(out, "to-stderr\r\n");
    assert_eq!(sb.read_all(&id, true).await, b"", "nothing on stderr");
    assert_eq!(sb.wait(&id).await, Exit::Code(3));
    // PTYInfo with no size is 24 x 80
    let id = exec_pty(&mut sb, &["stty", "size"], 0, 0).await.unwrap();
    assert_eq!(Screen::new(id).read_to_end(&mut sb, 30).await, "24 80\r\n");
}

#[tokio::test]
async fn ctrl_c_is_sigint_to_the_foreground_group_and_stdin_eof_is_ctrl_d() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    // the program alone in the foreground: Ctrl-C ends it with SIGINT
    let id = exec_pty(&mut sb, &["sh", "-c", "echo ready; exec sleep 100"], 24, 80)
        .await
        .unwrap();
    let mut screen = Screen::new(id.clone());
    screen.until(&mut sb, "ready", 20).await;
    screen.type_(&mut sb, b"\x03").await;
    assert_eq!(
        within(10, "sleep to end on Ctrl-C", sb.wait(&id)).await,
        Exit::Signal(libc::SIGINT)
    );
    // the whole foreground group gets it: the shell traps it and goes on
    let script = "trap 'echo caught' INT; echo ready; sleep 100; echo after";
    let id = exec_pty(&mut sb, &["sh", "-c", script], 24, 80)
        .await
        .unwrap();
    let mut screen = Screen::new(id.clone());
    screen.until(&mut sb, "ready", 20).await;
    // a Ctrl-C that lands before `sleep` has started only runs the trap: type it again
    // until sleep has had one too (then the shell goes on to `after`)
    let from = screen.text.len();
    let mut typed = 0;
    while !screen.shows_within(&mut sb, from, "after", 1000).await {
        assert!(
            typed < 20,
            "no `after` after {typed} Ctrl-C: {:?}",
            screen.as_str()
        );
        screen.type_(&mut sb, b"\x03").await;
        typed += 1;
    }
    let out = screen.read_to_end(&mut sb, 20).await;
    assert!(out.contains("caught\r\nafter\r\n"), "{out:?}");
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
    // typed input is echoed by the line discipline; EOF on stdin is Ctrl-D
    let id = exec_pty(&mut sb, &["cat"], 24, 80).await.unwrap();
    let mut screen = Screen::new(id.clone());
    screen.write(&mut sb, b"hello\r", true).await;
    let out = screen.read_to_end(&mut sb, 20).await;
    assert_eq!(out, "hello\r\nhello\r\n", "echo, then cat's copy");
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
}

#[tokio::test]
async fn a_resize_reaches_the_program() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let mut term = terminal_client_for(&env, &sb).await;
    // asked between two reads: tput and stty see the new size
    let id = exec_pty(
        &mut sb,
        &[
            "sh",
            "-c",
            "tput cols; echo ready; read x; tput cols; stty size",
        ],
        24,
        80,
    )
    .await
    .unwrap();
    let mut screen = Screen::new(id.clone());
    let first = screen.until(&mut sb, "ready", 20).await;
    assert!(first.starts_with("80\r\n"), "{first:?}");
    resize(&mut term, &sb, &id, 40, 132).await.unwrap();
    screen.type_(&mut sb, b"go\r").await;
    let out = screen.read_to_end(&mut sb, 20).await;
    assert!(out.ends_with("132\r\n40 132\r\n"), "{out:?}");
    // a running program is told (SIGWINCH to the foreground group)
    let script = "trap 'echo winch $(tput lines)x$(tput cols)' WINCH; echo ready; while :; do sleep 0.05; done";
    let id = exec_pty(&mut sb, &["bash", "-c", script], 24, 80)
        .await
        .unwrap();
    let mut screen = Screen::new(id.clone());
    screen.until(&mut sb, "ready", 20).await;
    resize(&mut term, &sb, &id, 50, 200).await.unwrap();
    screen.until(&mut sb, "winch 50x200", 20).await;
    screen.type_(&mut sb, b"\x03").await;
    within(10, "the loop to end on Ctrl-C", sb.wait(&id)).await;
    // resizing a command that has ended is no error (a resize races with the end)
    resize(&mut term, &sb, &id, 30, 90).await.unwrap();
}

#[tokio::test]
async fn resize_is_checked_like_every_router_call() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let other = env.idle_sandbox().await;
    let mut term = terminal_client_for(&env, &sb).await;
    let piped = sb.exec(&["sleep", "30"]).await;
    assert_code(
        resize(&mut term, &sb, &piped, 40, 100).await,
        Code::FailedPrecondition,
        "a command without a terminal",
    );
    let id = exec_pty(&mut sb, &["sleep", "30"], 24, 80).await.unwrap();
    for (rows, cols) in [(0, 80), (24, 0), (10_001, 80)] {
        assert_code(
            resize(&mut term, &sb, &id, rows, cols).await,
            Code::InvalidArgument,
            "a size out of bounds",
        );
    }
    assert_code(
        resize(&mut term, &sb, "no-such-exec", 24, 80).await,
        Code::NotFound,
        "an unknown exec",
    );
    // another sandbox's router JWT, or none, gets nowhere
    let mut theirs = terminal_client(&sb.url, env.transport, &other.jwt).await;
    assert_code(
        resize(&mut theirs, &sb, &id, 24, 80).await,
        Code::Unauthenticated,
        "another task's JWT",
    );
    let mut bare = terminal_client(&sb.url, env.transport, "").await;
    assert_code(
        resize(&mut bare, &sb, &id, 24, 80).await,
        Code::Unauthenticated,
        "no JWT",
    );
    // nor does a JWT that is not one
    let mut garbage = terminal_client(&sb.url, env.transport, "x").await;
    assert_code(
        resize(&mut garbage, &sb, &id, 24, 80).await,
        Code::Unauthenticated,
        "a garbage JWT",
    );
    // bad PTYInfo is refused by name
    let mut info = pty_info(24, 80);
    info.winsz_cols = 70_000;
    let r = sb
        .tcr
        .task_exec_start(tcr::TaskExecStartRequest {
            task_id: sb.task_id.clone(),
            exec_id: "bad-pty".into(),
            command_args: vec!["true".into()],
            pty_info: Some(info),
            ..Default::default()
        })
        .await;
    let st = assert_code(r, Code::InvalidArgument, "a terminal 70000 wide");
    assert!(st.message().contains("winsz_cols"), "{st:?}");
    env.terminate(&other.id).await;
}

/// 20 MB of base64 through the terminal (output post-processing off, so the bytes are
/// the program's), read with the connection dropped twice on the way, hashed on both
/// sides.
#[tokio::test]
async fn twenty_megabytes_through_the_terminal_byte_exact_across_reconnects() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let script = "stty -opost -echo; head -c 20000000 /dev/urandom | base64 | tee /tmp/sent";
    let id = exec_pty(&mut sb, &["sh", "-c", script], 24, 80)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut screen = Screen::new(id.clone());
    let mut cuts = [8_000_000usize, 17_000_000];
    within(120, "20 MB through the terminal", async {
        let mut cut = 0;
        while screen.read_some(&mut sb).await {
            if cut < cuts.len() && screen.text.len() >= cuts[cut] {
                cuts[cut] = screen.text.len();
                screen.disconnect();
                cut += 1;
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(sb.wait(&id).await, Exit::Code(0));
    let got = &screen.text;
    let inside = sb.sh("sha256sum < /tmp/sent | cut -d' ' -f1").await;
    let size = sb.sh("stat -c %s /tmp/sent").await;
    let here = format!("{:x}", Sha256::digest(got));
    assert_eq!(size.trim(), got.len().to_string(), "as many bytes as sent");
    assert_eq!(inside.trim(), here, "the same bytes");
    assert!(got.len() > 27_000_000, "{}", got.len());
    eprintln!(
        "pty: {} bytes in {:.2?} ({:.0} MB/s), reconnected at {:?}",
        got.len(),
        elapsed,
        got.len() as f64 / elapsed.as_secs_f64() / 1e6,
        cuts
    );
}

#[tokio::test]
async fn a_sandbox_entrypoint_runs_on_a_terminal() {
    let mut env = Env::new().await;
    let mut def = env.def(&[
        "sh",
        "-c",
        "tty; stty size; echo TERM=$TERM; read line; echo got:$line",
    ]);
    def.pty_info = Some(pty_info(20, 70));
    let sb = env.create(def).await.unwrap();
    let mut router = sb.tcr.clone();
    let mut s = router
        .sandbox_stdio_read_v2(tcr::SandboxStdioReadV2Request {
            task_id: sb.task_id.clone(),
            offset: 0,
            file_descriptor: tcr::SandboxStdioFileDescriptor::Stdout as i32,
        })
        .await
        .expect("SandboxStdioReadV2")
        .into_inner();
    let mut out = String::new();
    within(20, "the entrypoint's first lines", async {
        while !out.contains("TERM=") {
            let m = s.message().await.unwrap().expect("more output");
            out.push_str(&String::from_utf8_lossy(&m.data));
        }
    })
    .await;
    assert!(
        out.contains("/dev/pts/") && out.contains("20 70\r\n"),
        "{out:?}"
    );
    router
        .sandbox_stdin_write_v2(tcr::SandboxStdinWriteV2Request {
            task_id: sb.task_id.clone(),
            offset: 0,
            data: b"hi there\r".to_vec(),
            eof: false,
        })
        .await
        .unwrap();
    within(20, "the entrypoint's reply", async {
        while let Some(m) = s.message().await.unwrap() {
            out.push_str(&String::from_utf8_lossy(&m.data));
        }
    })
    .await;
    assert!(out.ends_with("hi there\r\ngot:hi there\r\n"), "{out:?}");
    let res = env.wait_result(&sb.id, 20).await;
    assert_eq!(returncode(&res), 0, "{res:?}");
}
