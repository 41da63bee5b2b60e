#![cfg(target_arch = "wasm32")]
//! The crate's own tests, in headless Chromium, against the sandboxd named at build time
//! (SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET): through the SDK's fetch client,
//! or through tonic-web-wasm-client with `--features tonic-web`.

use std::cell::Cell;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use modal_wasm::transport::{Call, Messages, Status, Transport};
use modal_wasm::{Client, Credentials, ErrorKind, SandboxExecParams};
use modal_wasm_example_rust_sandbox::{run_in_sandbox, Output};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const IMAGE: &str = "debian:bookworm-slim";

#[cfg(feature = "tonic-web")]
fn transport() -> modal_wasm::transport::TonicWebTransport {
    modal_wasm::transport::TonicWebTransport::new()
}

#[cfg(not(feature = "tonic-web"))]
fn transport() -> modal_wasm::transport::FetchTransport {
    modal_wasm::transport::FetchTransport
}

/// The chosen transport, counting the calls it carries: proof that they went through it.
struct Counting<T>(T, Rc<Cell<usize>>);

impl<T: Transport> Transport for Counting<T> {
    fn call(&self, call: Call) -> LocalBoxFuture<'static, Result<Messages, Status>> {
        self.1.set(self.1.get() + 1);
        self.0.call(call)
    }
}

fn env(name: &str, value: Option<&'static str>) -> &'static str {
    value.unwrap_or_else(|| panic!("{name} must be set at build time (a sandboxd to test against)"))
}

/// A client of the sandboxd named at build time, and its call counter.
fn client() -> (Client, Rc<Cell<usize>>) {
    let url = env("SANDBOXD_URL", option_env!("SANDBOXD_URL"));
    let id = env("SANDBOXD_TOKEN_ID", option_env!("SANDBOXD_TOKEN_ID"));
    let secret = env(
        "SANDBOXD_TOKEN_SECRET",
        option_env!("SANDBOXD_TOKEN_SECRET"),
    );
    let calls = Rc::new(Cell::new(0));
    let client = Client::builder(url)
        .credentials(Credentials::workspace(id, secret))
        .transport(Counting(transport(), calls.clone()))
        .build()
        .expect("client");
    (client, calls)
}

/// The example's app, and a sandbox of it on `IMAGE` created with `params`.
async fn sandbox(
    client: &Client,
    params: modal_wasm::SandboxCreateParams,
) -> (modal_wasm::App, modal_wasm::Sandbox) {
    let app = client
        .apps()
        .from_name(
            "rust-example",
            &modal_wasm::AppFromNameParams {
                create_if_missing: true,
                ..Default::default()
            },
        )
        .await
        .expect("app");
    let image = client.images().from_registry(IMAGE).expect("image");
    let sb = client
        .sandboxes()
        .create(&app, &image, &params)
        .await
        .expect("create");
    (app, sb)
}

#[wasm_bindgen_test]
async fn a_command_runs_in_a_sandbox() {
    let (client, calls) = client();
    let out = run_in_sandbox(
        &client,
        "rust-example",
        IMAGE,
        &[
            "sh",
            "-c",
            "echo hello from $0; echo oops >&2; exit 7",
            "rust",
        ],
    )
    .await
    .expect("run_in_sandbox");
    assert_eq!(
        out,
        Output {
            stdout: "hello from rust\n".into(),
            stderr: "oops\n".into(),
            code: 7,
        }
    );
    // app, environment, image, create, exec, stdout, stderr, wait, terminate at least
    assert!(
        calls.get() >= 9,
        "{} calls went through the transport",
        calls.get()
    );
}

#[wasm_bindgen_test]
async fn stdio_as_async_read_and_write_and_tags_and_list() {
    let (client, _) = client();
    let (app, sb) = sandbox(
        &client,
        modal_wasm::SandboxCreateParams {
            tags: vec![("example".into(), "rust".into())],
            ..Default::default()
        },
    )
    .await;

    // stdin as AsyncWrite, stdout as AsyncRead, 200 KB each way
    let cat = sb
        .exec(["cat"], &SandboxExecParams::default())
        .await
        .unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut stdin = cat.stdin();
    stdin.write_all(&data).await.unwrap();
    stdin.close().await.unwrap();
    let mut echoed = Vec::new();
    cat.stdout()
        .into_async_read()
        .read_to_end(&mut echoed)
        .await
        .unwrap();
    assert!(
        echoed == data,
        "cat echoed {} bytes, not the 200000 sent",
        echoed.len()
    );
    assert_eq!(cat.wait().await.unwrap(), 0);

    // the same sandbox found by tag, through the list stream
    let listed: Vec<_> = client
        .sandboxes()
        .list(&modal_wasm::SandboxListParams {
            app_id: Some(app.id().into()),
            tags: vec![("example".into(), "rust".into())],
            ..Default::default()
        })
        .collect()
        .await;
    assert!(
        listed
            .iter()
            .any(|s| matches!(s, Ok(s) if s.id() == sb.id())),
        "{} listed",
        listed.len()
    );

    sb.terminate().await.unwrap();
    assert_eq!(sb.wait().await.unwrap(), 137);
    assert_eq!(sb.returncode(), Some(137));
    sb.detach();
    let e = sb
        .exec(["true"], &SandboxExecParams::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ClientClosed, "{e}");
}

#[wasm_bindgen_test]
async fn bad_input_is_refused_before_any_call() {
    let (client, calls) = client();
    let e = client.images().from_registry("").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    let sb = client.sandboxes().from_id("sb-none").unwrap();
    let e = sb
        .exec(Vec::<String>::new(), &SandboxExecParams::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(calls.get(), 0);
    let e = Client::builder("ftp://x")
        .credentials(Credentials::token("t"))
        .build()
        .err()
        .unwrap();
    assert_eq!(e.kind, ErrorKind::Invalid);
}

/// The output of `p` until it contains `want` (a terminal's output arrives in pieces).
/// Resolves after `ms` milliseconds (the page's setTimeout).
async fn sleep(ms: i32) {
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout: js_sys::Function = js_sys::Reflect::get(&global, &"setTimeout".into())
            .expect("setTimeout")
            .into();
        set_timeout
            .call2(&global, &resolve, &ms.into())
            .expect("setTimeout");
    });
    wasm_bindgen_futures::JsFuture::from(timer)
        .await
        .expect("timer");
}

/// Reads until `want` appears in `seen` at or after byte `from`; fails in 20 s saying what
/// was seen (rather than the runner's silent timeout).
async fn read_until_from(
    out: &mut modal_wasm::OutputStream,
    seen: &mut String,
    from: usize,
    want: &str,
) {
    let mut deadline = Box::pin(sleep(20_000));
    while !seen.get(from..).is_some_and(|s| s.contains(want)) {
        match futures_util::future::select(out.next(), &mut deadline).await {
            futures_util::future::Either::Left((chunk, _)) => {
                let chunk = chunk.expect("output ended").expect("output");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
            futures_util::future::Either::Right(_) => panic!("no {want:?} in 20 s: {seen:?}"),
        }
    }
}

async fn read_until(out: &mut modal_wasm::OutputStream, seen: &mut String, want: &str) {
    read_until_from(out, seen, 0, want).await
}

#[wasm_bindgen_test]
async fn a_shell_on_a_terminal_ctrl_c_resize_bytes_and_attach() {
    let (client, _) = client();
    let (_, sb) = sandbox(&client, Default::default()).await;
    let pty = |rows, cols| SandboxExecParams {
        pty: Some(modal_wasm::PtyParams {
            rows: Some(rows),
            cols: Some(cols),
            term: None,
        }),
        ..Default::default()
    };

    // tty, stty size, TERM
    let p = sb
        .exec(
            ["sh", "-c", "tty; stty size; echo TERM=$TERM"],
            &pty(30, 100),
        )
        .await
        .unwrap();
    let out = p.stdout().read_text().await.unwrap();
    assert_eq!(p.wait().await.unwrap(), 0);
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.contains("30 100\r\n"), "{out:?}");
    assert!(out.contains("TERM=xterm-256color\r\n"), "{out:?}");

    // an interactive shell: Ctrl-C interrupts sleep, a resize reaches tput, then attach
    let sh = sb.exec(["sh", "-i"], &pty(24, 80)).await.unwrap();
    let mut out = sh.stdout();
    let mut seen = String::new();
    // The markers are quoted apart in what is typed (g""o prints go), so the terminal's echo
    // of the input never matches, whether it comes before or after the shell's prompt.
    sh.stdin()
        .write(&b"echo g\"\"o; sleep 100; echo slept=$?\r"[..])
        .await
        .unwrap();
    read_until(&mut out, &mut seen, "go\r\n").await;
    // Ctrl-C ends sleep and, as in any interactive shell, the rest of the typed line; the
    // next line is typed once the shell has prompted again (before, it may be dropped too)
    let before_ctrl_c = seen.len();
    sh.stdin().write(&b"\x03"[..]).await.unwrap();
    read_until_from(&mut out, &mut seen, before_ctrl_c, "^C").await;
    read_until_from(&mut out, &mut seen, before_ctrl_c, "# ").await;
    sh.stdin().write(&b"echo status=$?\r"[..]).await.unwrap();
    read_until(&mut out, &mut seen, "status=130").await;
    assert!(!seen.contains("\nslept="), "{seen:?}");
    assert!(sh.resize(133, 41).await.unwrap(), "sandboxd resizes");
    sh.stdin()
        .write(&b"echo cols=$(tput cols) lines=$(tput lines)\r"[..])
        .await
        .unwrap();
    read_until(&mut out, &mut seen, "cols=133 lines=41").await;

    // many bytes, byte-exact (raw mode: no \n -> \r\n on the way out)
    sh.stdin()
        .write(&b"stty raw -echo; echo BEGIN; seq 1 100000; echo END\r"[..])
        .await
        .unwrap();
    read_until(&mut out, &mut seen, "\nEND\n").await;
    let start = seen.rfind("BEGIN\n").unwrap() + 6;
    let body = &seen[start..seen.rfind("END\n").unwrap()];
    let expected: String = (1..=100000).map(|i| format!("{i}\n")).collect();
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "bytes through the terminal differ");

    // another handle on the same shell: stdin continues, output from any offset
    let again = sb.attach(sh.exec_id(), true).await.unwrap();
    again.stdin().write(&b"echo attached\n"[..]).await.unwrap();
    let mut out2 = again.stdout_from(seen.len() as u64);
    let mut seen2 = String::new();
    read_until(&mut out2, &mut seen2, "attached").await;
    again.stdin().write(&b"exit\n"[..]).await.unwrap();
    sb.terminate().await.unwrap();
}

/// The messages of a log stream, every entry read without error.
async fn messages(entries: modal_wasm::LogStream) -> Vec<String> {
    entries.map(|e| e.unwrap().message).collect().await
}

#[wasm_bindgen_test]
async fn entrypoint_logs_fetched_and_tailed() {
    use modal_wasm::{LogSource, LogsFetchParams, LogsTailParams};
    let (client, _) = client();
    let (_, sb) = sandbox(
        &client,
        modal_wasm::SandboxCreateParams {
            command: vec![
                "sh".into(),
                "-c".into(),
                // apart in time, so the order across stdout and stderr is known
                "echo out 1; sleep 0.3; echo err 1 >&2; sleep 0.3; echo out 2; echo last".into(),
            ],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(sb.wait().await.unwrap(), 0);
    let lines = |entries: &[modal_wasm::LogEntry]| -> String {
        entries
            .iter()
            .map(|e| format!("{:?}:{}", e.source, e.message))
            .collect()
    };

    let all: Vec<_> = sb.logs().tail(&LogsTailParams::default()).collect().await;
    let all: Vec<_> = all.into_iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        lines(&all),
        "Stdout:out 1\nStderr:err 1\nStdout:out 2\nStdout:last\n"
    );
    assert!(all
        .iter()
        .all(|e| e.object_id == sb.id() && e.context_ids.len() == 1));
    let now = js_sys::Date::now();
    assert!(all
        .iter()
        .all(|e| e.timestamp_ms > now - 120_000.0 && e.timestamp_ms <= now));

    let newest = LogsTailParams {
        entries: Some(2),
        source: Some(LogSource::Stdout),
    };
    let two = messages(sb.logs().tail(&newest)).await;
    assert_eq!(two, ["out 2\n", "last\n"]);

    // fetch: counted in buckets, then fetched, with the source and search filters
    let since = now - 590_000.0;
    let errs = LogsFetchParams {
        source: Some(LogSource::Stderr),
        ..LogsFetchParams::since(since)
    };
    let errs = messages(sb.logs().fetch(&errs)).await;
    assert_eq!(errs, ["err 1\n"]);
    let found = LogsFetchParams {
        search_text: Some("out 2".into()),
        ..LogsFetchParams::since(since)
    };
    let found = messages(sb.logs().fetch(&found)).await;
    assert_eq!(found, ["out 2\n"]);
    let before = LogsFetchParams {
        until_ms: Some(now - 300_000.0),
        ..LogsFetchParams::since(now - 600_000.0)
    };
    assert_eq!(sb.logs().fetch(&before).count().await, 0);

    // refused before any call, as Modal JS refuses them
    let too_long = LogsFetchParams::since(now - 40.0 * 86_400_000.0);
    let e = sb
        .logs()
        .fetch(&too_long)
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::Invalid,
            "logs.fetch: Time range cannot exceed 35 days."
        )
    );
    let e = sb
        .logs()
        .tail(&LogsTailParams {
            entries: Some(20_001),
            source: None,
        })
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
    sb.detach();
}
