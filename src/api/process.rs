//! `ContainerProcess` (a command run by `sandbox.exec()`) and the web-stream adapters.

use std::cell::Cell;
use std::rc::Rc;

use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use futures_util::SinkExt;
use js_sys::{Promise, Uint8Array};
use modal_proto::task_command_router as tcr;
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::promise;
use crate::error::{Error, Result};
use crate::exit::exec_exit_code;
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{self, Chunk, OffsetSink, Opener, Refresher, Sleeper, Writer};

pub(crate) fn sleeper() -> Sleeper {
    Rc::new(|ms| Box::pin(js::sleep(ms)))
}

pub(crate) fn refresher(router: &Rc<Router>) -> Refresher {
    let r = router.clone();
    Rc::new(move || {
        let r = r.clone();
        Box::pin(async move { r.refresh().await })
    })
}

/// A pull-based `ReadableStream` of `bytes` (strings in text mode), with `readText()` and
/// `readBytes()`. Cancelling it drops the Rust stream, which aborts the fetch.
pub(crate) fn readable(bytes: LocalBoxStream<'static, Result<Bytes>>, mode: StreamMode) -> JsValue {
    let js: LocalBoxStream<'static, std::result::Result<JsValue, JsValue>> = match mode {
        StreamMode::Binary => bytes
            .map(|r| {
                r.map(|b| Uint8Array::from(&b[..]).into())
                    .map_err(Error::into_js)
            })
            .boxed_local(),
        StreamMode::Text => stdio::text(bytes)
            .map(|r| r.map(|s| JsValue::from_str(&s)).map_err(Error::into_js))
            .boxed_local(),
    };
    let raw = wasm_streams::ReadableStream::from_stream(js).into_raw();
    js::decorate_readable(&raw)
}

/// The resumable output of an exec on `fd` (pull-based; reopened at the delivered offset).
pub(crate) fn exec_output(
    router: &Rc<Router>,
    task_id: &str,
    exec_id: &str,
    fd: tcr::TaskExecStdioFileDescriptor,
) -> LocalBoxStream<'static, Result<Bytes>> {
    let r = router.clone();
    let (task_id, exec_id) = (task_id.to_string(), exec_id.to_string());
    let open: Opener = Rc::new(move |offset| {
        let r = r.clone();
        let req = tcr::TaskExecStdioReadRequest {
            task_id: task_id.clone(),
            exec_id: exec_id.clone(),
            offset,
            file_descriptor: fd as i32,
        };
        Box::pin(async move {
            let s = r
                .call_stream(
                    modal_proto::rpcs::task_command_router::TASK_EXEC_STDIO_READ,
                    &req,
                    Backoff::STREAM,
                )
                .await?;
            Ok(s.map(|m| {
                m.map(|m| Chunk {
                    data: Bytes::from(m.data),
                    starting_offset: None,
                })
            })
            .boxed_local())
        })
    });
    stdio::resumable(open, refresher(router), sleeper())
}

/// Offset-carrying unary `TaskExecStdinWrite`s to an exec's stdin.
pub(crate) fn exec_stdin(router: &Rc<Router>, task_id: &str, exec_id: &str) -> Writer {
    let r = router.clone();
    let (t, e) = (task_id.to_string(), exec_id.to_string());
    Rc::new(move |offset, data, eof| {
        let r = r.clone();
        let req = tcr::TaskExecStdinWriteRequest {
            task_id: t.clone(),
            exec_id: e.clone(),
            offset,
            data: data.to_vec(),
            eof,
        };
        Box::pin(async move {
            r.call(
                modal_proto::rpcs::task_command_router::TASK_EXEC_STDIN_WRITE,
                &req,
                Backoff::UNARY,
            )
            .await
            .map(|_| ())
        })
    })
}

/// Waits for an exec to exit: its code, or 128 + signal.
pub(crate) async fn exec_wait(router: &Router, task_id: &str, exec_id: &str) -> Result<i32> {
    loop {
        let req = tcr::TaskExecWaitRequest {
            task_id: task_id.to_string(),
            exec_id: exec_id.to_string(),
        };
        let resp = router
            .call(
                modal_proto::rpcs::task_command_router::TASK_EXEC_WAIT,
                &req,
                Backoff::STREAM,
            )
            .await?;
        use tcr::task_exec_wait_response::ExitStatus;
        let code = match resp.exit_status {
            Some(ExitStatus::Code(c)) => exec_exit_code(Some(c), None),
            Some(ExitStatus::Signal(s)) => exec_exit_code(None, Some(s)),
            None => None,
        };
        if let Some(code) = code {
            return Ok(code);
        }
    }
}

/// A chunk written to stdin: a string (UTF-8) or a `Uint8Array`.
fn chunk_bytes(v: JsValue) -> std::result::Result<Bytes, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(Bytes::from(s.into_bytes()));
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(Bytes::from(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Bytes::from(Uint8Array::new(b).to_vec()));
    }
    Err(Error::invalid("stdin chunks must be strings or Uint8Arrays").into_js())
}

/// A `WritableStream` over `write`, with `writeText()` / `writeBytes()`; close sends EOF.
pub(crate) fn writable(write: Writer) -> JsValue {
    let sink = OffsetSink::new(write)
        .sink_map_err(Error::into_js)
        .with(|v: JsValue| futures_util::future::ready(chunk_bytes(v)));
    let raw = wasm_streams::WritableStream::from_sink(sink).into_raw();
    js::decorate_writable(&raw)
}

fn empty_readable(mode: StreamMode) -> JsValue {
    readable(stream::empty().boxed_local(), mode)
}

/// A command running in a sandbox, from `sandbox.exec()`.
///
/// ```ts
/// const p = await sb.exec(["cat"]);
/// await p.stdin.writeText("hello");
/// await p.stdin.close();
/// console.log(await p.stdout.readText(), await p.wait());
/// ```
#[wasm_bindgen]
pub struct ContainerProcess {
    inner: Rc<ProcInner>,
}

struct ProcInner {
    router: Rc<Router>,
    task_id: String,
    exec_id: String,
    stdout: JsValue,
    stderr: JsValue,
    stdin: JsValue,
    returncode: Cell<Option<i32>>,
}

impl ContainerProcess {
    pub(crate) fn start(
        router: Rc<Router>,
        task_id: String,
        exec_id: String,
        mode: StreamMode,
        pipe_stdout: bool,
        pipe_stderr: bool,
    ) -> ContainerProcess {
        let out = |fd| readable(exec_output(&router, &task_id, &exec_id, fd), mode);
        let stdout = if pipe_stdout {
            out(tcr::TaskExecStdioFileDescriptor::Stdout)
        } else {
            empty_readable(mode)
        };
        let stderr = if pipe_stderr {
            out(tcr::TaskExecStdioFileDescriptor::Stderr)
        } else {
            empty_readable(mode)
        };
        let write = exec_stdin(&router, &task_id, &exec_id);
        let stdin = writable(write);
        ContainerProcess {
            inner: Rc::new(ProcInner {
                router,
                task_id,
                exec_id,
                stdout,
                stderr,
                stdin,
                returncode: Cell::new(None),
            }),
        }
    }
}

#[wasm_bindgen]
impl ContainerProcess {
    /// The command's stdout (strings in text mode, `Uint8Array`s in binary mode).
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream")]
    pub fn stdout(&self) -> JsValue {
        self.inner.stdout.clone()
    }

    /// The command's stderr.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream")]
    pub fn stderr(&self) -> JsValue {
        self.inner.stderr.clone()
    }

    /// The command's stdin; `close()` sends EOF.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalWriteStream")]
    pub fn stdin(&self) -> JsValue {
        self.inner.stdin.clone()
    }

    /// The exec id (a client-made UUID).
    #[wasm_bindgen(getter, js_name = execId)]
    pub fn exec_id(&self) -> String {
        self.inner.exec_id.clone()
    }

    /// The exit code once known (after `wait()` or a finished `poll()`), else `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "number | null")]
    pub fn returncode(&self) -> JsValue {
        super::nullable(self.inner.returncode.get())
    }

    /// Waits for the command to exit; resolves to its exit code (128 + signal if killed).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn wait(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let code = exec_wait(&inner.router, &inner.task_id, &inner.exec_id).await?;
            inner.returncode.set(Some(code));
            Ok(code)
        })
    }

    /// The exit code if the command has exited, else `null` (no waiting).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | null>")]
    pub fn poll(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let req = tcr::TaskExecPollRequest {
                task_id: inner.task_id.clone(),
                exec_id: inner.exec_id.clone(),
            };
            let resp = inner
                .router
                .call(
                    modal_proto::rpcs::task_command_router::TASK_EXEC_POLL,
                    &req,
                    Backoff::UNARY,
                )
                .await?;
            use tcr::task_exec_poll_response::ExitStatus;
            let code = match resp.exit_status {
                Some(ExitStatus::Code(c)) => exec_exit_code(Some(c), None),
                Some(ExitStatus::Signal(s)) => exec_exit_code(None, Some(s)),
                None => None,
            };
            if code.is_some() {
                inner.returncode.set(code);
            }
            Ok(super::nullable(code))
        })
    }
}
