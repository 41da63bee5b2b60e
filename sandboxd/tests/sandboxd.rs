//! Integration tests: each starts a real `sandboxd` (root, bubblewrap, its own state dir and
//! port) and talks to it over real sockets with Modal's generated clients, native gRPC or
//! gRPC-web over HTTP/1.1. Needs root and the static helpers (see common::helpers_dir).

mod common;

use common::*;
use modal_proto::client::{self as pb, generic_result::GenericStatus};
use modal_proto::task_command_router as tcr;
use tonic::Code;

/// create, exec `echo`, read stdout, wait, terminate, SandboxWait → TERMINATED (137).
async fn v2_flow(t: Transport) {
    let mut env = Env::with(t).await;
    let mut sb = env.idle_sandbox().await;
    assert!(
        !is_v1_id(&sb.id),
        "a V2 sandbox id must not have the V1 shape: {}",
        sb.id
    );
    assert_eq!(
        env.poll(&sb.id).await.unwrap(),
        None,
        "running: no result yet"
    );
    let exec = sb.exec(&["echo", "hi", "there"]).await;
    let out = sb.read_all(&exec, false).await;
    assert_eq!(out, b"hi there\n");
    assert_eq!(sb.wait(&exec).await, Exit::Code(0));
    // stderr and a non-zero exit code come through too
    let (out, err, exit) = sb
        .run(&["sh", "-c", "echo out; echo err >&2; exit 3"])
        .await;
    assert_eq!(
        (out.as_str(), err.as_str(), exit),
        ("out\n", "err\n", Exit::Code(3))
    );
    let poll = sb
        .tcr
        .task_exec_poll(tcr::TaskExecPollRequest {
            task_id: sb.task_id.clone(),
            exec_id: exec.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        poll.exit_status,
        Some(tcr::task_exec_poll_response::ExitStatus::Code(0))
    );
    env.terminate(&sb.id).await;
    let res = env.wait_result(&sb.id, 20).await;
    assert_eq!(res.status, GenericStatus::Terminated as i32, "{res:?}");
    assert_eq!(returncode(&res), 137);
    // terminating again is harmless and reports the existing result
    let again = env.terminate(&sb.id).await;
    assert_eq!(
        again.existing_result.map(|r| r.status),
        Some(GenericStatus::Terminated as i32)
    );
}

fn is_v1_id(id: &str) -> bool {
    id.strip_prefix("sb-")
        .is_some_and(|r| r.len() == 22 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[tokio::test]
async fn v2_flow_native_grpc() {
    v2_flow(Transport::Grpc).await;
}

#[tokio::test]
async fn v2_flow_grpc_web_http1() {
    v2_flow(Transport::GrpcWeb).await;
}

/// Read V1 logs (SandboxGetLogs, reopened at `last_entry_id` after each long poll) until
/// the text so far satisfies `done` or the stream reports eof. Returns (text, last id, eof).
async fn v1_logs_until(
    cp: &mut Cp,
    sandbox_id: &str,
    mut last: String,
    mut text: String,
    done: impl Fn(&str) -> bool,
) -> (String, String, bool) {
    within(30, "SandboxGetLogs", async {
        loop {
            let mut s = cp
                .sandbox_get_logs(pb::SandboxGetLogsRequest {
                    sandbox_id: sandbox_id.to_string(),
                    file_descriptor: pb::FileDescriptor::Stdout as i32,
                    timeout: 2.0,
                    last_entry_id: last.clone(),
                })
                .await
                .expect("SandboxGetLogs")
                .into_inner();
            while let Some(b) = s.message().await.expect("SandboxGetLogs batch") {
                if !b.entry_id.is_empty() {
                    last = b.entry_id.clone();
                }
                for item in &b.items {
                    text.push_str(&item.data);
                }
                if b.eof {
                    return (text, last, true);
                }
                if done(&text) {
                    return (text, last, false);
                }
            }
        }
    })
    .await
}

async fn v1_stdin(
    cp: &mut Cp,
    sandbox_id: &str,
    index: u32,
    input: &[u8],
    eof: bool,
) -> Result<(), tonic::Status> {
    cp.sandbox_stdin_write(pb::SandboxStdinWriteRequest {
        sandbox_id: sandbox_id.to_string(),
        input: input.to_vec(),
        index,
        eof,
    })
    .await
    .map(|_| ())
}

/// SandboxCreate, SandboxGetTaskId, TaskGetCommandRouterAccess, SandboxGetLogs,
/// SandboxStdinWrite (1-based index) to an entrypoint `cat`, SandboxTerminate.
async fn v1_flow(t: Transport) {
    let mut env = Env::with(t).await;
    let r = env
        .cp
        .sandbox_create(pb::SandboxCreateRequest {
            app_id: env.app_id.clone(),
            definition: Some(env.def(&[
                "sh",
                "-c",
                "echo started; cat; echo done; exec sleep 600",
            ])),
            ..Default::default()
        })
        .await
        .expect("SandboxCreate")
        .into_inner();
    let id = r.sandbox_id;
    assert!(is_v1_id(&id), "a V1 sandbox id is sb- + 22 base62: {id}");
    // the client polls SandboxGetTaskId until a task id is set
    let task_id = {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let r = env
                .cp
                .sandbox_get_task_id(pb::SandboxGetTaskIdRequest {
                    sandbox_id: id.clone(),
                    ..Default::default()
                })
                .await
                .expect("SandboxGetTaskId")
                .into_inner();
            assert!(r.task_result.is_none(), "not finished: {:?}", r.task_result);
            if let Some(t) = r.task_id.filter(|t| !t.is_empty()) {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "no task id");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let access = env
        .cp
        .task_get_command_router_access(pb::TaskGetCommandRouterAccessRequest {
            task_id: task_id.clone(),
        })
        .await
        .expect("TaskGetCommandRouterAccess")
        .into_inner();
    let tcr = tcr_with(&env.sd, t, &access.url, Md::bearer(&access.jwt)).await;
    let mut sb = Sb {
        id: id.clone(),
        task_id,
        jwt: access.jwt,
        url: access.url,
        tcr,
    };
    assert_eq!(sb.sh("echo via-tcr").await, "via-tcr\n");

    let (text, last, eof) = v1_logs_until(&mut env.cp, &id, String::new(), String::new(), |t| {
        t.contains("started\n")
    })
    .await;
    assert!(!eof && text == "started\n", "{text:?}");
    v1_stdin(&mut env.cp, &id, 1, b"abc\n", false)
        .await
        .expect("index 1");
    v1_stdin(&mut env.cp, &id, 1, b"abc\n", false)
        .await
        .expect("a retried index is accepted");
    v1_stdin(&mut env.cp, &id, 2, b"def\n", false)
        .await
        .expect("index 2");
    assert_code(
        v1_stdin(&mut env.cp, &id, 5, b"gap\n", false).await,
        Code::FailedPrecondition,
        "an index past the next one",
    );
    v1_stdin(&mut env.cp, &id, 3, b"", true).await.expect("eof");
    // reopen where the last batch ended: only the new output comes
    let (text, _, eof) =
        v1_logs_until(&mut env.cp, &id, last, text, |t| t.contains("done\n")).await;
    assert!(!eof);
    assert_eq!(
        text, "started\nabc\ndef\ndone\n",
        "the retried index was applied once"
    );

    // a reader waiting when the sandbox is terminated sees eof
    let mut logs = env
        .cp
        .sandbox_get_logs(pb::SandboxGetLogsRequest {
            sandbox_id: id.clone(),
            file_descriptor: pb::FileDescriptor::Stdout as i32,
            timeout: 30.0,
            last_entry_id: text.len().to_string(),
        })
        .await
        .expect("SandboxGetLogs")
        .into_inner();
    let term = env
        .cp
        .sandbox_terminate(pb::SandboxTerminateRequest {
            sandbox_id: id.clone(),
        })
        .await
        .expect("SandboxTerminate")
        .into_inner();
    assert_eq!(
        term.existing_result.map(|r| r.status),
        Some(GenericStatus::Terminated as i32)
    );
    let saw_eof = within(20, "logs eof after terminate", async {
        while let Some(b) = logs.message().await.expect("batch") {
            assert!(
                b.items.iter().all(|i| i.data.is_empty()),
                "no new output: {b:?}"
            );
            if b.eof {
                return true;
            }
        }
        false
    })
    .await;
    assert!(saw_eof, "SandboxGetLogs ends with an eof batch");
    let w = env
        .cp
        .sandbox_wait(pb::SandboxWaitRequest {
            sandbox_id: id.clone(),
            timeout: 10.0,
        })
        .await
        .expect("SandboxWait")
        .into_inner();
    let res = w.result.expect("result");
    assert_eq!(returncode(&res), 137, "{res:?}");
}

#[tokio::test]
async fn v1_flow_native_grpc() {
    v1_flow(Transport::Grpc).await;
}

#[tokio::test]
async fn v1_flow_grpc_web_http1() {
    v1_flow(Transport::GrpcWeb).await;
}

#[tokio::test]
async fn auth_rejection() {
    let mut env = Env::new().await;
    let a = env.idle_sandbox().await;
    let b = env.idle_sandbox().await;
    for t in [Transport::Grpc, Transport::GrpcWeb] {
        for (md, what) in [
            (Md::default(), "no credentials"),
            (Md::creds(TOKEN_ID, "as-wrong"), "wrong secret"),
            (Md::creds("ak-wrong", TOKEN_SECRET), "wrong id"),
            (Md::creds(TOKEN_ID, ""), "secret missing"),
        ] {
            let mut cp = env.sd.cp_with(t, md).await;
            let r = cp
                .app_get_or_create(pb::AppGetOrCreateRequest {
                    app_name: "x".into(),
                    object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
                    ..Default::default()
                })
                .await;
            assert_code(r, Code::Unauthenticated, &format!("CP {what} over {t:?}"));
            let r = cp
                .sandbox_wait_v2(pb::SandboxWaitRequest {
                    sandbox_id: a.id.clone(),
                    timeout: 0.0,
                })
                .await;
            assert_code(
                r,
                Code::Unauthenticated,
                &format!("SandboxWaitV2 {what} over {t:?}"),
            );
        }
    }
    // AuthTokenGet: a JWT whose payload has exp
    let token = env
        .cp
        .auth_token_get(pb::AuthTokenGetRequest::default())
        .await
        .unwrap()
        .into_inner()
        .token;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(claims["exp"].as_u64().unwrap() > now, "{claims}");

    // the TCR: each call needs a bearer JWT signed for its own task
    let start = |task: &str| tcr::TaskExecStartRequest {
        task_id: task.to_string(),
        exec_id: uuid::Uuid::new_v4().to_string(),
        command_args: vec!["true".into()],
        ..Default::default()
    };
    for t in [Transport::Grpc, Transport::GrpcWeb] {
        for (md, what) in [
            (Md::default(), "no bearer"),
            (Md::bearer(&a.jwt), "another task's jwt"),
            (Md::bearer(&token), "the AuthTokenGet jwt"),
            (Md::bearer("not.a.jwt"), "garbage"),
            (
                Md(vec![("authorization", b.jwt.clone())]),
                "no Bearer prefix",
            ),
            (Md::workspace(), "workspace credentials"),
        ] {
            let mut c = tcr_with(&env.sd, t, &b.url, md).await;
            let r = c.task_exec_start(start(&b.task_id)).await;
            assert_code(r, Code::Unauthenticated, &format!("TCR {what} over {t:?}"));
            let r = c
                .task_exec_wait(tcr::TaskExecWaitRequest {
                    task_id: b.task_id.clone(),
                    exec_id: "x".into(),
                })
                .await;
            assert_code(
                r,
                Code::Unauthenticated,
                &format!("TaskExecWait {what} over {t:?}"),
            );
        }
    }
    // and the right one works
    let mut own = tcr_with(&env.sd, Transport::Grpc, &b.url, Md::bearer(&b.jwt)).await;
    own.task_exec_start(start(&b.task_id))
        .await
        .expect("own jwt");
}

/// `seq 1 N` output, as the exec will print it.
fn seq_bytes(n: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 1..=n {
        v.extend_from_slice(format!("{i}\n").as_bytes());
    }
    v
}

#[tokio::test]
async fn stdio_offset_replay_after_reconnect() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let expected = seq_bytes(200_000); // ~1.3 MB
    assert!(expected.len() > 1_000_000);
    let exec = sb.exec(&["seq", "1", "200000"]).await;
    // read part of the stream, then drop it (a lost connection)
    let mut got = Vec::new();
    {
        let mut s = sb.stdio(&exec, 0, false).await.unwrap();
        within(30, "first part", async {
            while got.len() < 300_000 {
                let m = s
                    .message()
                    .await
                    .unwrap()
                    .expect("more data before the end");
                assert!(!m.data.is_empty());
                got.extend_from_slice(&m.data);
            }
        })
        .await;
    }
    assert!(got.len() < expected.len(), "stopped mid-stream");
    // reopen at the received offset: exactly the rest
    let mut s = sb.stdio(&exec, got.len() as u64, false).await.unwrap();
    within(30, "the rest", async {
        while let Some(m) = s.message().await.unwrap() {
            assert!(!m.data.is_empty(), "no empty chunks");
            got.extend_from_slice(&m.data);
        }
    })
    .await;
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the concatenation is byte-exact");
    assert_eq!(sb.wait(&exec).await, Exit::Code(0));
    // a reopen at 0 replays from the start, and one at an odd offset from there
    assert!(sb.read_all(&exec, false).await == expected, "replay from 0");
    let mut s = sb.stdio(&exec, 777_777, false).await.unwrap();
    let mut tail = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        tail.extend_from_slice(&m.data);
    }
    assert!(
        tail == expected[777_777..],
        "replay from an offset inside a chunk"
    );
    // at the end: the stream ends OK with nothing
    let mut s = sb.stdio(&exec, expected.len() as u64, false).await.unwrap();
    assert!(s.message().await.unwrap().is_none());
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn stdin_offsets() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let exec = sb.exec(&["cat"]).await;
    let task = sb.task_id.clone();
    let client = sb.tcr.clone();
    let write = |offset: u64, data: &[u8], eof: bool| {
        let mut c = client.clone();
        let req = tcr::TaskExecStdinWriteRequest {
            task_id: task.clone(),
            exec_id: exec.clone(),
            offset,
            data: data.to_vec(),
            eof,
        };
        async move { c.task_exec_stdin_write(req).await.map(|_| ()) }
    };
    write(0, b"hello ", false).await.expect("first write");
    write(0, b"hello ", false)
        .await
        .expect("a retry at the old offset is accepted");
    write(3, b"lo world\n", false)
        .await
        .expect("an overlapping retry");
    assert_code(
        write(100, b"x", false).await,
        Code::FailedPrecondition,
        "a gap",
    );
    assert_code(
        write(13, b"x", false).await,
        Code::FailedPrecondition,
        "one past the end",
    );
    let status = sb
        .tcr
        .task_exec_stdin_status(tcr::TaskExecStdinStatusRequest {
            task_id: sb.task_id.clone(),
            exec_id: exec.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((status.num_bytes_written, status.closed), (12, false));
    write(12, b"", true).await.expect("eof with empty data");
    write(12, b"", true).await.expect("a retried eof");
    assert_code(
        write(12, b"late", false).await,
        Code::FailedPrecondition,
        "a write after eof",
    );
    assert_eq!(
        sb.read_all(&exec, false).await,
        b"hello world\n",
        "applied once, in order"
    );
    assert_eq!(sb.wait(&exec).await, Exit::Code(0), "eof ends cat");
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn exec_timeout() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let started = std::time::Instant::now();
    let exec = sb
        .exec_opts(
            &["sh", "-c", "echo before; sleep 30; echo after"],
            ExecOpts {
                timeout_secs: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let exit = sb.wait(&exec).await;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(8),
        "ended after {took:?}"
    );
    assert!(
        took >= std::time::Duration::from_millis(900),
        "not before the timeout: {took:?}"
    );
    assert_ne!(exit.returncode(), 0, "{exit:?}");
    assert_eq!(
        sb.read_all(&exec, false).await,
        b"before\n",
        "the stream ends"
    );
    // the sandbox lives on
    assert_eq!(sb.sh("echo alive").await, "alive\n");
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn sandbox_timeout() {
    let mut env = Env::new().await;
    let mut def = env.def(&["sleep", "60"]);
    def.timeout_secs = 2;
    let sb = env.create(def).await.unwrap();
    let started = std::time::Instant::now();
    let res = env.wait_result(&sb.id, 20).await;
    assert_eq!(res.status, GenericStatus::Timeout as i32, "{res:?}");
    assert_eq!(res.exitcode, 124);
    assert_eq!(returncode(&res), 124);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn terminate_while_exec_runs() {
    let mut env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let exec = sb.exec(&["sh", "-c", "echo begun; sleep 60"]).await;
    let mut stream = sb.stdio(&exec, 0, false).await.unwrap();
    let first = within(20, "first output", stream.message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.data, b"begun\n");
    let mut waiter = sb.clone_client();
    let id = sb.id.clone();
    let started = std::time::Instant::now();
    let (exit, ()) = tokio::join!(waiter.wait(&exec), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        env.terminate(&id).await;
    });
    assert_ne!(exit.returncode(), 0, "killed: {exit:?}");
    let end = within(20, "stdio stream end", stream.message()).await;
    assert!(matches!(end, Ok(None)), "the stream ends OK: {end:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let res = env.wait_result(&sb.id, 10).await;
    assert_eq!(returncode(&res), 137);
}

#[tokio::test]
async fn names_are_unique_while_running() {
    let mut env = Env::new().await;
    let mut def = env.def(&[]);
    def.name = Some("web-1".into());
    let first = env.create(def.clone()).await.expect("first");
    let err = env.create(def.clone()).await.map(|s| s.id);
    assert_code(
        err,
        Code::AlreadyExists,
        "same name, same app, first running",
    );
    let from_name = |cp: &mut Cp| {
        let mut cp = cp.clone();
        async move {
            cp.sandbox_get_from_name_v2(pb::SandboxGetFromNameRequest {
                sandbox_name: "web-1".into(),
                app_name: "itest".into(),
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner().sandbox_id)
        }
    };
    assert_eq!(from_name(&mut env.cp).await.unwrap(), first.id);
    // the same name in another app is fine
    let other_app = app(&mut env.cp, "itest-other").await;
    let r = env
        .cp
        .sandbox_create_v2(pb::SandboxCreateV2Request {
            app_id: other_app,
            definition: Some(def.clone()),
            ..Default::default()
        })
        .await
        .expect("same name in another app")
        .into_inner();
    env.terminate(&r.sandbox_id).await;
    // after terminate the name is free again
    env.terminate(&first.id).await;
    assert_code(
        from_name(&mut env.cp).await,
        Code::NotFound,
        "name of a terminated sandbox",
    );
    let second = env.create(def).await.expect("name free after terminate");
    assert_ne!(second.id, first.id);
    assert_eq!(from_name(&mut env.cp).await.unwrap(), second.id);
    env.terminate(&second.id).await;
}

fn tags(pairs: &[(&str, &str)]) -> Vec<pb::SandboxTag> {
    pairs
        .iter()
        .map(|(k, v)| pb::SandboxTag {
            tag_name: k.to_string(),
            tag_value: v.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn tags_and_list_filters() {
    let mut env = Env::new().await;
    let def = env.def(&[]);
    let a = env
        .create_tagged(def.clone(), &[("team", "a"), ("env", "prod")])
        .await
        .unwrap();
    let b = env
        .create_tagged(def.clone(), &[("team", "b")])
        .await
        .unwrap();
    let other_app = app(&mut env.cp, "itest-other").await;
    let c = env
        .cp
        .sandbox_create_v2(pb::SandboxCreateV2Request {
            app_id: other_app.clone(),
            definition: Some(def),
            tags: tags(&[("team", "a2")]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sandbox_id;
    let get = |cp: &mut Cp, id: &str| {
        let mut cp = cp.clone();
        let id = id.to_string();
        async move {
            let mut t: Vec<(String, String)> = cp
                .sandbox_tags_get_v2(pb::SandboxTagsGetRequest { sandbox_id: id })
                .await
                .unwrap()
                .into_inner()
                .tags
                .into_iter()
                .map(|t| (t.tag_name, t.tag_value))
                .collect();
            t.sort();
            t
        }
    };
    assert_eq!(
        get(&mut env.cp, &a.id).await,
        [("env".into(), "prod".into()), ("team".into(), "a".into())]
    );
    env.cp
        .sandbox_tags_set_v2(pb::SandboxTagsSetRequest {
            sandbox_id: a.id.clone(),
            tags: tags(&[("team", "a2")]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        get(&mut env.cp, &a.id).await,
        [("team".into(), "a2".into())],
        "set replaces the whole set"
    );
    let list = |cp: &mut Cp, app_id: &str, t: &[(&str, &str)], finished: bool| {
        let mut cp = cp.clone();
        let req = pb::SandboxListRequest {
            app_id: app_id.to_string(),
            tags: tags(t),
            include_finished: finished,
            ..Default::default()
        };
        async move {
            let mut ids: Vec<String> = cp
                .sandbox_list_v2(req)
                .await
                .unwrap()
                .into_inner()
                .sandboxes
                .into_iter()
                .map(|s| s.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let app_id = env.app_id.clone();
    assert_eq!(
        list(&mut env.cp, &app_id, &[], false).await,
        sorted(vec![a.id.clone(), b.id.clone()])
    );
    assert_eq!(
        list(&mut env.cp, &other_app, &[], false).await,
        vec![c.clone()]
    );
    assert_eq!(
        list(&mut env.cp, "", &[("team", "a2")], false).await,
        sorted(vec![a.id.clone(), c.clone()]),
        "by tag across apps"
    );
    assert_eq!(
        list(&mut env.cp, &app_id, &[("team", "a2")], false).await,
        vec![a.id.clone()]
    );
    assert!(
        list(&mut env.cp, &app_id, &[("env", "prod")], false)
            .await
            .is_empty(),
        "the old tag is gone"
    );
    assert!(
        list(&mut env.cp, &app_id, &[("team", "a2"), ("x", "y")], false)
            .await
            .is_empty(),
        "all tags must match"
    );
    env.terminate(&b.id).await;
    assert_eq!(
        list(&mut env.cp, &app_id, &[], false).await,
        vec![a.id.clone()],
        "finished left out"
    );
    assert_eq!(
        list(&mut env.cp, &app_id, &[], true).await,
        sorted(vec![a.id.clone(), b.id.clone()]),
        "include_finished"
    );
    assert_eq!(
        list(&mut env.cp, &app_id, &[("team", "b")], true).await,
        vec![b.id.clone()]
    );
    // the list carries tags and the running/finished state
    let infos = env
        .cp
        .sandbox_list_v2(pb::SandboxListRequest {
            app_id: app_id.clone(),
            include_finished: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sandboxes;
    let info_b = infos.iter().find(|s| s.id == b.id).unwrap();
    assert_eq!(info_b.tags, tags(&[("team", "b")]));
    let res_b = info_b
        .task_info
        .as_ref()
        .and_then(|t| t.result.as_ref())
        .expect("finished result");
    assert_eq!(res_b.status, GenericStatus::Terminated as i32);
    let info_a = infos.iter().find(|s| s.id == a.id).unwrap();
    assert!(info_a
        .task_info
        .as_ref()
        .and_then(|t| t.result.as_ref())
        .is_none());
    env.terminate(&a.id).await;
    env.terminate(&c).await;
}

#[tokio::test]
async fn isolation_host_filesystem() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let marker = format!("sandboxd-itest-{}", uuid::Uuid::new_v4().simple());
    // writes inside land in the sandbox's own layer, never on the host
    let out = sb
        .sh(&format!(
            "echo inside > /tmp/{marker} && cat /tmp/{marker}; \
             echo x > /usr/bin/{marker} 2>/dev/null && echo usr-written; \
             echo x > /{marker} && echo root-written; true"
        ))
        .await;
    assert!(out.starts_with("inside\n"), "{out:?}");
    for p in [
        format!("/tmp/{marker}"),
        format!("/usr/bin/{marker}"),
        format!("/{marker}"),
    ] {
        assert!(!std::path::Path::new(&p).exists(), "the host got {p}");
    }
    // the host's own /etc, /root and sandboxd's state dir are not what the sandbox sees
    let state = env.sd.state_dir.display().to_string();
    let host_hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let out = sb
        .sh(&format!(
            "test -e '{state}/state.redb' && echo state-visible; \
             test -e '{state}' && echo state-dir-visible; \
             cat /etc/hostname 2>/dev/null; hostname; true"
        ))
        .await;
    assert!(!out.contains("visible"), "{out:?}");
    if !host_hostname.trim().is_empty() && host_hostname.trim() != "modal" {
        assert!(
            !out.contains(host_hostname.trim()),
            "host /etc leaked: {out:?}"
        );
    }
    // root inside is not root on the host: files it creates are owned by an unprivileged uid
    // (the writable layers, each on its sandbox's own disk, are under sandboxes/)
    let data_root = env.sd.state_dir.join("sandboxes");
    let _ = sb.sh("echo owned > /root/owned").await;
    let owned = walk_find(&data_root, "owned").expect("the file is in the sandbox's layer");
    use std::os::unix::fs::MetadataExt;
    assert_ne!(
        std::fs::metadata(owned).unwrap().uid(),
        0,
        "root inside maps to a non-root uid"
    );
    env.terminate(&sb.id).await;
}

fn walk_find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if e.file_name() == name {
            return Some(p);
        }
        if e.file_type().ok()?.is_dir() {
            if let Some(found) = walk_find(&p, name) {
                return Some(found);
            }
        }
    }
    None
}

#[tokio::test]
async fn isolation_between_sandboxes() {
    let env = Env::new().await;
    let def = env.def(&["sleep", "1717"]);
    let mut a = env.create(def).await.unwrap();
    let mut b = env.idle_sandbox().await;
    let procs = "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done";
    let (in_a, in_b) = tokio::join!(
        async {
            a.sh("echo s3cret > /root/secret && echo a > /tmp/a-only")
                .await;
            a.sh(procs).await
        },
        b.sh(procs)
    );
    assert!(
        in_a.contains("sleep 1717"),
        "A sees its own processes: {in_a}"
    );
    assert!(
        !in_b.contains("sleep 1717"),
        "B must not see A's processes: {in_b}"
    );
    let ps = b.sh("ps -eo args 2>&1 || true").await;
    assert!(!ps.contains("1717"), "{ps}");
    let out = b
        .sh("cat /root/secret 2>/dev/null; test -e /tmp/a-only && echo a-visible; true")
        .await;
    assert!(
        !out.contains("s3cret") && !out.contains("a-visible"),
        "{out}"
    );
    assert_eq!(a.sh("cat /root/secret").await, "s3cret\n");
    env.terminate(&a.id).await;
    env.terminate(&b.id).await;
}

/// A python3 program that tries TCP connects and prints one line per target:
/// `HOST:PORT ok` or `HOST:PORT fail <error>`. It first connects to a listener of its own
/// on 127.0.0.1, proving that the probe itself works.
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

async fn connect_probe(sb: &mut Sb, targets: &[String]) -> Vec<(String, bool)> {
    let mut argv = vec!["python3", "-c", CONNECT_PROBE];
    argv.extend(targets.iter().map(String::as_str));
    let (out, err, exit) = sb.run(&argv).await;
    assert_eq!(exit, Exit::Code(0), "probe failed: {out} {err}");
    let lines: Vec<(String, bool)> = out
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let t = it.next().unwrap_or("").to_string();
            (t, it.next() == Some("ok"))
        })
        .collect();
    assert_eq!(lines.len(), targets.len() + 1, "{out}");
    assert!(lines[0].1, "the probe connects to its own listener: {out}");
    lines[1..].to_vec()
}

#[tokio::test]
async fn isolation_block_network() {
    let env = Env::new().await;
    let mut def = env.def(&[]);
    def.block_network = true;
    let mut sb = env.create(def).await.unwrap();
    let dev = sb.sh("cat /proc/net/dev").await;
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    let port = env.sd.port;
    let res = connect_probe(
        &mut sb,
        &[
            format!("127.0.0.1:{port}"),
            format!("10.0.2.2:{port}"),
            "1.1.1.1:53".into(),
        ],
    )
    .await;
    assert!(res.iter().all(|(_, ok)| !ok), "no network at all: {res:?}");
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn isolation_network_cannot_reach_host_loopback() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let port = env.sd.port;
    if std::path::Path::new("/usr/bin/slirp4netns").exists() {
        let dev = sb.sh("cat /proc/net/dev").await;
        assert!(
            dev.contains("tap0:"),
            "the sandbox has a user-mode network: {dev}"
        );
    }
    // 127.0.0.1 is the sandbox's own; 10.0.2.2 is slirp4netns's gateway to the host
    let res = connect_probe(
        &mut sb,
        &[format!("127.0.0.1:{port}"), format!("10.0.2.2:{port}")],
    )
    .await;
    assert!(
        res.iter().all(|(_, ok)| !ok),
        "sandboxd's port must be unreachable: {res:?}"
    );
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn restart_keeps_records() {
    let mut env = Env::new().await;
    let mut def = env.def(&[]);
    def.name = Some("keeper".into());
    let running = env.create_tagged(def.clone(), &[("k", "v")]).await.unwrap();
    let finished = env.create(env.def(&["true"])).await.unwrap();
    let res = env.wait_result(&finished.id, 20).await;
    assert_eq!(res.status, GenericStatus::Success as i32);
    let app_id = env.app_id.clone();
    let Env { sd, .. } = env;
    let dir = sd.crash();
    let sd = Sandboxd::start_in(dir.into_dir()).await;
    let mut env = Env::on(sd, Transport::Grpc).await;
    assert_eq!(env.app_id, app_id, "the app survives");
    let res = env
        .poll(&running.id)
        .await
        .expect("a sandbox running at the crash is not NOT_FOUND")
        .expect("and has a finished result");
    assert_ne!(res.status, GenericStatus::Success as i32, "{res:?}");
    assert_eq!(
        env.poll(&finished.id).await.unwrap().map(|r| r.status),
        Some(GenericStatus::Success as i32),
        "a finished result survives as it was"
    );
    let t = env
        .cp
        .sandbox_tags_get_v2(pb::SandboxTagsGetRequest {
            sandbox_id: running.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tags;
    assert_eq!(t, tags(&[("k", "v")]));
    let listed: Vec<String> = env
        .cp
        .sandbox_list_v2(pb::SandboxListRequest {
            app_id: app_id.clone(),
            tags: tags(&[("k", "v")]),
            include_finished: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sandboxes
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![running.id.clone()]);
    let named = env
        .cp
        .sandbox_get_from_name_v2(pb::SandboxGetFromNameRequest {
            sandbox_name: "keeper".into(),
            app_name: "itest".into(),
            include_terminated: true,
            ..Default::default()
        })
        .await
        .expect("the name record survives")
        .into_inner();
    assert_eq!(named.sandbox_id, running.id);
    // the name is free again, and the new sandboxd runs sandboxes
    let mut again = env.create(def).await.expect("name free after the restart");
    assert_eq!(again.sh("echo back").await, "back\n");
    // the old task's router access is refused cleanly
    let r = running
        .tcr
        .clone()
        .task_exec_start(tcr::TaskExecStartRequest {
            task_id: running.task_id.clone(),
            exec_id: "x".into(),
            command_args: vec!["true".into()],
            ..Default::default()
        })
        .await;
    assert!(r.is_err(), "no exec in a sandbox that ended with the crash");
    env.terminate(&again.id).await;
}

#[tokio::test]
async fn bad_input() {
    let mut env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let unknown = "sb-AAAAAAAAAAAAAAAAAAAAAAAAAA".to_string();
    assert_code(
        env.poll(&unknown).await,
        Code::NotFound,
        "SandboxWaitV2 unknown id",
    );
    assert_code(
        env.cp
            .sandbox_terminate_v2(pb::SandboxTerminateRequest {
                sandbox_id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        "SandboxTerminateV2 unknown id",
    );
    assert_code(
        env.cp
            .sandbox_tags_get_v2(pb::SandboxTagsGetRequest {
                sandbox_id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        "SandboxTagsGetV2 unknown id",
    );
    assert_code(
        env.cp
            .sandbox_get_task_id(pb::SandboxGetTaskIdRequest {
                sandbox_id: "sb-0123456789012345678901".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "SandboxGetTaskId unknown V1 id",
    );
    let mut def = env.def(&[]);
    def.image_id = "im-nope".into();
    assert_code(
        env.create(def).await.map(|s| s.id),
        Code::NotFound,
        "unknown image",
    );
    assert_code(
        env.cp
            .sandbox_create_v2(pb::SandboxCreateV2Request {
                app_id: env.app_id.clone(),
                definition: None,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "no definition",
    );
    assert_code(
        env.cp
            .sandbox_create_v2(pb::SandboxCreateV2Request {
                app_id: "ap-nope".into(),
                definition: Some(env.def(&[])),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "unknown app",
    );
    assert_code(
        sb.exec_opts(&[], ExecOpts::default()).await,
        Code::InvalidArgument,
        "empty command_args",
    );
    let task = sb.task_id.clone();
    assert_code(
        sb.tcr
            .task_exec_wait(tcr::TaskExecWaitRequest {
                task_id: task.clone(),
                exec_id: "no-such-exec".into(),
            })
            .await,
        Code::NotFound,
        "TaskExecWait unknown exec",
    );
    assert_code(
        sb.tcr
            .task_exec_poll(tcr::TaskExecPollRequest {
                task_id: task.clone(),
                exec_id: "no-such-exec".into(),
            })
            .await,
        Code::NotFound,
        "TaskExecPoll unknown exec",
    );
    assert_code(
        sb.stdio("no-such-exec", 0, false).await.map(|_| ()),
        Code::NotFound,
        "TaskExecStdioRead unknown exec",
    );
    assert_code(
        sb.tcr
            .task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
                task_id: task.clone(),
                exec_id: "no-such-exec".into(),
                data: b"x".to_vec(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
        "TaskExecStdinWrite unknown exec",
    );
    // a program that does not exist: an error or a non-zero exit, never a hang
    match sb
        .exec_opts(&["/no/such/program"], ExecOpts::default())
        .await
    {
        Ok(id) => assert_ne!(sb.wait(&id).await, Exit::Code(0)),
        Err(s) => assert_ne!(s.code(), Code::Ok),
    }
    // the sandbox is unharmed
    assert_eq!(sb.sh("echo fine").await, "fine\n");
    env.terminate(&sb.id).await;
}

#[tokio::test]
async fn fork_bomb_is_contained() {
    let mut env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let started = std::time::Instant::now();
    let bomb = sb
        .exec_opts(
            &["bash", "-c", ":(){ :|:& };:"],
            ExecOpts {
                timeout_secs: Some(3),
                stdout_devnull: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let exit = sb.wait(&bomb).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let _ = exit;
    assert!(env.sd.alive(), "sandboxd survives");
    // sandboxd still serves, and other sandboxes still run
    let mut other = env.idle_sandbox().await;
    assert_eq!(other.sh("echo ok").await, "ok\n");
    let t0 = std::time::Instant::now();
    env.terminate(&sb.id).await;
    let res = env.wait_result(&sb.id, 20).await;
    assert_eq!(returncode(&res), 137);
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    env.terminate(&other.id).await;
}

/// `Sandbox.create("sh", "-c", "echo ..."); sb.wait(); sb.stdout.read()`: the entrypoint's
/// output is still readable once the sandbox has exited (V2: SandboxStdioReadV2).
#[tokio::test]
async fn v2_entrypoint_output_after_exit() {
    let mut env = Env::new().await;
    let def = env.def(&["sh", "-c", "echo out-1; echo err-1 >&2"]);
    let mut sb = env.create(def).await.unwrap();
    let res = env.wait_result(&sb.id, 20).await;
    assert_eq!(res.status, GenericStatus::Success as i32, "{res:?}");
    let mut s = sb
        .tcr
        .sandbox_stdio_read_v2(tcr::SandboxStdioReadV2Request {
            task_id: sb.task_id.clone(),
            offset: 0,
            file_descriptor: tcr::SandboxStdioFileDescriptor::Stdout as i32,
        })
        .await
        .expect("SandboxStdioReadV2 after exit")
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = within(10, "stdio", s.message()).await.unwrap() {
        out.extend_from_slice(&m.data);
    }
    assert_eq!(out, b"out-1\n");
}

/// The same for V1: SandboxGetLogs after the sandbox exited returns its output, then eof.
#[tokio::test]
async fn v1_logs_after_exit() {
    let mut env = Env::new().await;
    let id = env
        .cp
        .sandbox_create(pb::SandboxCreateRequest {
            app_id: env.app_id.clone(),
            definition: Some(env.def(&["sh", "-c", "echo out-1"])),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sandbox_id;
    let res = env.wait_result(&id, 20).await;
    assert_eq!(res.status, GenericStatus::Success as i32, "{res:?}");
    let (text, _, eof) =
        v1_logs_until(&mut env.cp, &id, String::new(), String::new(), |_| false).await;
    assert!(eof);
    assert_eq!(text, "out-1\n");
}

/// An exec's output and exit status stay available after the sandbox is terminated
/// (TaskExecStdioRead / TaskExecWait opened after the end).
#[tokio::test]
async fn exec_results_after_terminate() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let exec = sb.exec(&["echo", "kept"]).await;
    assert_eq!(sb.wait(&exec).await, Exit::Code(0));
    env.terminate(&sb.id).await;
    assert_eq!(sb.wait(&exec).await, Exit::Code(0));
    assert_eq!(sb.read_all(&exec, false).await, b"kept\n");
}

/// V2 entrypoint stdio while the sandbox runs: SandboxStdinWriteV2 with offsets (a retry
/// applied once, a gap refused), SandboxStdioReadV2 with `starting_offset`, and a reader
/// that reconnects at its offset.
#[tokio::test]
async fn v2_entrypoint_stdio() {
    let env = Env::new().await;
    let def = env.def(&["sh", "-c", "echo ready; cat; echo bye; exec sleep 600"]);
    let mut sb = env.create(def).await.unwrap();
    let task = sb.task_id.clone();
    let client = sb.tcr.clone();
    let write = |offset: u64, data: &[u8], eof: bool| {
        let mut c = client.clone();
        let req = tcr::SandboxStdinWriteV2Request {
            task_id: task.clone(),
            offset,
            data: data.to_vec(),
            eof,
        };
        async move { c.sandbox_stdin_write_v2(req).await.map(|_| ()) }
    };
    let read_until = |offset: u64, want: &'static [u8]| {
        let mut c = client.clone();
        let task = task.clone();
        async move {
            let mut s = c
                .sandbox_stdio_read_v2(tcr::SandboxStdioReadV2Request {
                    task_id: task,
                    offset,
                    file_descriptor: tcr::SandboxStdioFileDescriptor::Stdout as i32,
                })
                .await
                .expect("SandboxStdioReadV2")
                .into_inner();
            let mut got = Vec::new();
            within(20, "entrypoint output", async {
                while !got.ends_with(want) {
                    let m = s.message().await.unwrap().expect("more output");
                    assert!(!m.data.is_empty());
                    assert_eq!(
                        m.starting_offset,
                        offset + got.len() as u64,
                        "nothing dropped"
                    );
                    got.extend_from_slice(&m.data);
                }
            })
            .await;
            got
        }
    };
    assert_eq!(read_until(0, b"ready\n").await, b"ready\n");
    write(0, b"one\n", false).await.unwrap();
    write(0, b"one\n", false).await.expect("a retry");
    assert_code(
        write(9, b"x", false).await,
        Code::FailedPrecondition,
        "a gap",
    );
    write(4, b"two\n", false).await.unwrap();
    write(8, b"", true).await.expect("eof");
    // reconnect at the offset already read: only what follows
    assert_eq!(read_until(6, b"bye\n").await, b"one\ntwo\nbye\n");
    // and from 0, all of it
    assert_eq!(read_until(0, b"bye\n").await, b"ready\none\ntwo\nbye\n");
    assert_eq!(sb.sh("echo still-running").await, "still-running\n");
    env.terminate(&sb.id).await;
}

/// A cross-origin preflight is answered for any origin and header, and is cacheable (so a
/// page on another origin does not pay a preflight round trip per call).
#[tokio::test]
async fn cors_preflight_is_cacheable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sd = Sandboxd::start().await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", sd.port))
        .await
        .expect("connect");
    let req = format!(
        "OPTIONS /modal.client.ModalClient/SandboxCreateV2 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Origin: http://page.example\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type,x-grpc-web,x-modal-token-id\r\n\
         Connection: close\r\n\r\n",
        sd.port
    );
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    within(10, "preflight reply", tcp.read_to_string(&mut resp))
        .await
        .expect("read");
    let resp = resp.to_ascii_lowercase();
    assert!(resp.starts_with("http/1.1 200"), "{resp}");
    assert!(resp.contains("access-control-allow-origin: *"), "{resp}");
    assert!(resp.contains("access-control-max-age: 7200"), "{resp}");
}

/// A reader that lost its connection gets bytes the server already sent once (within the
/// replay window, twice the 8 MiB cap), and an explicit DATA_LOSS (never a silent jump) for
/// bytes older than that: TaskExecStdioRead replies carry no `starting_offset`.
#[tokio::test]
async fn exec_output_replays_a_window_and_reports_older_bytes_lost() {
    let env = Env::new().await;
    let mut sb = env.idle_sandbox().await;
    let total: u64 = 40 << 20;
    let exec = sb
        .exec(&["sh", "-c", &format!("head -c {total} /dev/zero")])
        .await;
    let all = sb.read_all(&exec, false).await;
    assert_eq!(all.len() as u64, total);
    // 16 MiB behind the end is still there
    let mut s = sb.stdio(&exec, total - (16 << 20), false).await.unwrap();
    let mut n = 0u64;
    within(30, "the replay window", async {
        while let Some(m) = s.message().await.expect("replayed bytes") {
            n += m.data.len() as u64;
        }
    })
    .await;
    assert_eq!(n, 16 << 20);
    // offset 0 is long gone: an error, not bytes from a later offset
    let mut s = sb.stdio(&exec, 0, false).await.unwrap();
    let r = within(30, "the gap", s.message()).await;
    assert_code(r.map(|_| ()), Code::DataLoss, "bytes older than the window");
    env.terminate(&sb.id).await;
}
