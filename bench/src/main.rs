//! `bench-native`: the native Rust reference client of `bench/run.sh`.
//!
//! Speaks Modal's protocol with the `modal-proto` crate's tonic clients over
//! `tonic::transport::Channel` (HTTP/2 without TLS), sending the same control-plane
//! metadata as Modal's Python client (`x-modal-client-type: 1`, so the server hands out an
//! `http://` router url) and `authorization: Bearer <jwt>` on router calls.
//!
//! Driven by the orchestrator (`bench/run.mjs`) over stdin/stdout, one JSON object a line:
//! `{"op":"latency"}` → `{"ok":true,"ms":..}`; `{"op":"throughput","bytes":N}` →
//! `{"ok":true,"bytes":..,"ms":..}`; `{"op":"execRtt","count":N,"warmup":W}` →
//! `{"ok":true,"samples":[ms..]}`; `{"op":"stdin","bytes":N}` → `{"ok":true,"bytes":..,"ms":..}`;
//! `{"op":"quit"}`. Errors answer `{"ok":false,"error":..}`.
//! Configuration comes from MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET,
//! BENCH_APP and BENCH_IMAGE.

use futures::StreamExt;
use modal_proto::client as pb;
use modal_proto::client::modal_client_client::ModalClientClient;
use modal_proto::task_command_router as tcr;
use modal_proto::task_command_router::task_command_router_client::TaskCommandRouterClient;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

type CpInterceptor = Box<dyn FnMut(Request<()>) -> std::result::Result<Request<()>, Status> + Send>;
type Cp = ModalClientClient<InterceptedService<Channel, CpInterceptor>>;
type Tcr = TaskCommandRouterClient<InterceptedService<Channel, CpInterceptor>>;

fn header(v: &str) -> Result<MetadataValue<tonic::metadata::Ascii>> {
    Ok(v.parse()?)
}

/// Adds fixed metadata to every request.
fn interceptor(pairs: Vec<(&'static str, MetadataValue<tonic::metadata::Ascii>)>) -> CpInterceptor {
    Box::new(move |mut req: Request<()>| {
        for (k, v) in &pairs {
            req.metadata_mut().insert(*k, v.clone());
        }
        Ok(req)
    })
}

async fn connect(url: &str) -> Result<Channel> {
    Ok(Channel::from_shared(url.to_string())?.connect().await?)
}

struct Bench {
    cp: Cp,
    app_id: String,
    image_id: String,
    /// One HTTP/2 connection per router url, reused across sandboxes.
    channels: HashMap<String, Channel>,
}

struct Sandbox {
    sandbox_id: String,
    task_id: String,
    router: Tcr,
}

impl Bench {
    async fn new() -> Result<Self> {
        let url = std::env::var("MODAL_SERVER_URL")?;
        let token_id = std::env::var("MODAL_TOKEN_ID")?;
        let token_secret = std::env::var("MODAL_TOKEN_SECRET")?;
        let app_name = std::env::var("BENCH_APP").unwrap_or_else(|_| "bench".into());
        let image = std::env::var("BENCH_IMAGE").unwrap_or_else(|_| "debian:bookworm-slim".into());
        let channel = connect(&url).await?;
        let mut cp = ModalClientClient::with_interceptor(
            channel,
            interceptor(vec![
                ("x-modal-token-id", header(&token_id)?),
                ("x-modal-token-secret", header(&token_secret)?),
                ("x-modal-client-type", header("1")?),
                ("x-modal-client-version", header("1.6.4")?),
            ]),
        )
        .max_decoding_message_size(usize::MAX);

        let app_id = cp
            .app_get_or_create(pb::AppGetOrCreateRequest {
                app_name,
                environment_name: String::new(),
                object_creation_type: pb::ObjectCreationType::CreateIfMissing as i32,
            })
            .await?
            .into_inner()
            .app_id;
        let builder_version = cp
            .environment_get_or_create(pb::EnvironmentGetOrCreateRequest::default())
            .await?
            .into_inner()
            .metadata
            .and_then(|m| m.settings)
            .map(|s| s.image_builder_version)
            .unwrap_or_default();
        let resp = cp
            .image_get_or_create(pb::ImageGetOrCreateRequest {
                image: Some(pb::Image {
                    dockerfile_commands: vec![format!("FROM {image}")],
                    ..Default::default()
                }),
                app_id: app_id.clone(),
                builder_version,
                ..Default::default()
            })
            .await?
            .into_inner();
        let image_id = resp.image_id;
        let mut done = resp.result.is_some_and(|r| r.status != 0);
        while !done {
            let mut s = cp
                .image_join_streaming(pb::ImageJoinStreamingRequest {
                    image_id: image_id.clone(),
                    timeout: 55.0,
                    ..Default::default()
                })
                .await?
                .into_inner();
            while let Some(m) = s.next().await {
                let m = m?;
                if let Some(r) = m.result.filter(|r| r.status != 0) {
                    if r.status != pb::generic_result::GenericStatus::Success as i32 {
                        return Err(format!("image build failed: {}", r.exception).into());
                    }
                    done = true;
                    break;
                }
            }
        }
        Ok(Bench {
            cp,
            app_id,
            image_id,
            channels: HashMap::new(),
        })
    }

    async fn create(&mut self) -> Result<Sandbox> {
        let resp = self
            .cp
            .sandbox_create_v2(pb::SandboxCreateV2Request {
                app_id: self.app_id.clone(),
                definition: Some(pb::Sandbox {
                    image_id: self.image_id.clone(),
                    timeout_secs: 300,
                    resources: Some(pb::Resources::default()),
                    network_access: Some(pb::NetworkAccess {
                        network_access_type: pb::network_access::NetworkAccessType::Open as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        let access = resp
            .command_router_access
            .ok_or("SandboxCreateV2 returned no command_router_access")?;
        let channel = match self.channels.get(&access.url) {
            Some(c) => c.clone(),
            None => {
                let c = connect(&access.url).await?;
                self.channels.insert(access.url.clone(), c.clone());
                c
            }
        };
        let router = TaskCommandRouterClient::with_interceptor(
            channel,
            interceptor(vec![(
                "authorization",
                header(&format!("Bearer {}", access.jwt))?,
            )]),
        )
        .max_decoding_message_size(usize::MAX);
        Ok(Sandbox {
            sandbox_id: resp.sandbox_id,
            task_id: resp.task_id,
            router,
        })
    }

    async fn terminate(&mut self, sb: &Sandbox) -> Result<()> {
        self.cp
            .sandbox_terminate_v2(pb::SandboxTerminateRequest {
                sandbox_id: sb.sandbox_id.clone(),
            })
            .await?;
        Ok(())
    }
}

impl Sandbox {
    async fn exec(&mut self, args: &[&str]) -> Result<String> {
        let exec_id = uuid::Uuid::new_v4().to_string();
        self.router
            .task_exec_start(tcr::TaskExecStartRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.clone(),
                command_args: args.iter().map(|s| s.to_string()).collect(),
                stdout_config: tcr::TaskExecStdoutConfig::Pipe as i32,
                stderr_config: tcr::TaskExecStderrConfig::Pipe as i32,
                ..Default::default()
            })
            .await?;
        Ok(exec_id)
    }

    /// Reads the exec's stdout to EOF, handing each chunk to `f`.
    async fn read_stdout(&mut self, exec_id: &str, mut f: impl FnMut(&[u8])) -> Result<u64> {
        let mut s = self
            .router
            .task_exec_stdio_read(tcr::TaskExecStdioReadRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.to_string(),
                offset: 0,
                file_descriptor: tcr::TaskExecStdioFileDescriptor::Stdout as i32,
            })
            .await?
            .into_inner();
        let mut n = 0u64;
        while let Some(m) = s.next().await {
            let m = m?;
            n += m.data.len() as u64;
            f(&m.data);
        }
        Ok(n)
    }

    /// Writes `bytes` to the exec's stdin in 1 MiB requests at a running offset, then EOF
    /// (as the SDKs do).
    async fn write_stdin(&mut self, exec_id: &str, bytes: u64) -> Result<()> {
        const CHUNK: u64 = 1 << 20;
        let chunk = vec![b'x'; CHUNK as usize];
        let mut offset = 0;
        while offset < bytes {
            let n = CHUNK.min(bytes - offset);
            self.router
                .task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
                    task_id: self.task_id.clone(),
                    exec_id: exec_id.to_string(),
                    offset,
                    data: chunk[..n as usize].to_vec(),
                    eof: false,
                })
                .await?;
            offset += n;
        }
        self.router
            .task_exec_stdin_write(tcr::TaskExecStdinWriteRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.to_string(),
                offset,
                data: Vec::new(),
                eof: true,
            })
            .await?;
        Ok(())
    }

    async fn wait(&mut self, exec_id: &str) -> Result<i32> {
        let r = self
            .router
            .task_exec_wait(tcr::TaskExecWaitRequest {
                task_id: self.task_id.clone(),
                exec_id: exec_id.to_string(),
            })
            .await?
            .into_inner();
        Ok(match r.exit_status {
            Some(tcr::task_exec_wait_response::ExitStatus::Code(c)) => c,
            Some(tcr::task_exec_wait_response::ExitStatus::Signal(s)) => 128 + s,
            None => -1,
        })
    }
}

/// One latency sample: create + exec `echo hi` + read its stdout (timed); wait and
/// terminate after the clock stops.
async fn latency(b: &mut Bench) -> Result<Value> {
    let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t0 = Instant::now();
    let mut sb = b.create().await?;
    let create = ms_since(t0);
    let t1 = Instant::now();
    let exec_id = sb.exec(&["echo", "hi"]).await?;
    let exec = ms_since(t1);
    let t2 = Instant::now();
    let mut out = Vec::new();
    sb.read_stdout(&exec_id, |d| out.extend_from_slice(d))
        .await?;
    let read = ms_since(t2);
    let ms = ms_since(t0);
    let code = sb.wait(&exec_id).await?;
    b.terminate(&sb).await?;
    if out != b"hi\n" || code != 0 {
        return Err(format!(
            "echo hi: stdout {:?}, exit {code}",
            String::from_utf8_lossy(&out)
        )
        .into());
    }
    Ok(json!({"ok": true, "ms": ms, "phases": {"create": create, "exec": exec, "read": read}}))
}

/// One throughput sample: in a fresh sandbox (untimed), exec `head -c N /dev/zero` and
/// read its stdout to EOF (timed).
async fn throughput(b: &mut Bench, bytes: u64) -> Result<Value> {
    let mut sb = b.create().await?;
    let t0 = Instant::now();
    let exec_id = sb
        .exec(&["head", "-c", &bytes.to_string(), "/dev/zero"])
        .await?;
    let n = sb.read_stdout(&exec_id, |_| {}).await?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let code = sb.wait(&exec_id).await?;
    b.terminate(&sb).await?;
    if n != bytes || code != 0 {
        return Err(format!("read {n} of {bytes} bytes, exit {code}").into());
    }
    Ok(json!({"ok": true, "bytes": n, "ms": ms}))
}

/// Exec round trip in one warm sandbox: exec `true` + its exit code; `warmup` untimed,
/// then `count` samples.
async fn exec_rtt(b: &mut Bench, count: u64, warmup: u64) -> Result<Value> {
    let mut sb = b.create().await?;
    let mut samples = Vec::new();
    let mut result = Ok(());
    for i in 0..warmup + count {
        let t0 = Instant::now();
        let r = async {
            let exec_id = sb.exec(&["true"]).await?;
            sb.wait(&exec_id).await
        }
        .await;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        match r {
            Ok(0) => {}
            Ok(code) => result = Err(format!("true: exit {code}").into()),
            Err(e) => result = Err(e),
        }
        if result.is_err() {
            break;
        }
        if i >= warmup {
            samples.push(ms);
        }
    }
    b.terminate(&sb).await?;
    result?;
    Ok(json!({"ok": true, "samples": samples}))
}

/// Stdin throughput: `bytes` written to `wc -c`, timed from exec start until its stdout
/// (the count, checked) is read.
async fn stdin(b: &mut Bench, bytes: u64) -> Result<Value> {
    let mut sb = b.create().await?;
    let t0 = Instant::now();
    let r = async {
        let exec_id = sb.exec(&["wc", "-c"]).await?;
        sb.write_stdin(&exec_id, bytes).await?;
        let mut out = Vec::new();
        sb.read_stdout(&exec_id, |d| out.extend_from_slice(d))
            .await?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let code = sb.wait(&exec_id).await?;
        let text = String::from_utf8_lossy(&out).trim().to_string();
        if text != bytes.to_string() || code != 0 {
            return Err(format!("wc -c counted {text:?} of {bytes} bytes, exit {code}").into());
        }
        Ok::<_, Error>(ms)
    }
    .await;
    b.terminate(&sb).await?;
    Ok(json!({"ok": true, "bytes": bytes, "ms": r?}))
}

async fn handle(b: &mut Option<Bench>, line: &str) -> Result<Option<Value>> {
    let cmd: Value = serde_json::from_str(line)?;
    let op = cmd["op"].as_str().unwrap_or_default();
    if op == "quit" {
        return Ok(None);
    }
    if b.is_none() {
        *b = Some(Bench::new().await?);
    }
    let b = b.as_mut().expect("initialized above");
    Ok(Some(match op {
        // the ids let the page's plain-JS baseline skip the app and image calls
        "setup" => json!({"ok": true, "appId": b.app_id, "imageId": b.image_id}),
        "latency" => latency(b).await?,
        "throughput" => throughput(b, cmd["bytes"].as_u64().unwrap_or(100_000_000)).await?,
        "execRtt" => {
            exec_rtt(
                b,
                cmd["count"].as_u64().unwrap_or(20),
                cmd["warmup"].as_u64().unwrap_or(2),
            )
            .await?
        }
        "stdin" => stdin(b, cmd["bytes"].as_u64().unwrap_or(20_000_000)).await?,
        _ => return Err(format!("unknown op {op:?}").into()),
    }))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut bench = None;
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match handle(&mut bench, &line).await {
            Ok(None) => break,
            Ok(Some(v)) => v,
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        };
        stdout.write_all(format!("{reply}\n").as_bytes()).await?;
        stdout.flush().await?;
    }
    Ok(())
}
