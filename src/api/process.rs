//! The JS `ContainerProcess`, and the adapters from the Rust API's stdio to web streams.

use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::StreamExt;
use futures_util::{Sink, SinkExt};
use js_sys::{JsString, Promise, Uint8Array};
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::{nullable, promise};
use crate::error::Error;
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};
use crate::process as sdk;
use crate::stdio::{OutputStream, Stdin};

/// A pull-based `ReadableStream` of `out` (strings in text mode), with `readText()` and
/// `readBytes()`. Cancelling it drops the Rust stream, which aborts the fetch.
pub(crate) fn readable(out: OutputStream, mode: StreamMode) -> JsValue {
    let js = out
        .into_chunks()
        .map(|r| {
            r.map(|b| Uint8Array::from(&b[..]).into())
                .map_err(Error::into_js)
        })
        .boxed_local();
    let raw: JsValue = wasm_streams::ReadableStream::from_stream(js)
        .into_raw()
        .into();
    let raw = match mode {
        StreamMode::Binary => raw,
        StreamMode::Text => js::decode_text(&raw),
    };
    js::decorate_readable(&raw)
}

/// A chunk written to stdin: a string (UTF-8) or bytes (`Uint8Array`, `ArrayBuffer`, any
/// `ArrayBufferView`).
fn chunk_bytes(v: JsValue) -> std::result::Result<Bytes, JsValue> {
    js::bytes(&v)
        .ok_or_else(|| Error::invalid("stdin chunks must be strings or Uint8Arrays").into_js())
}

/// A `WritableStream` over `stdin`, with `writeText()` / `writeBytes()`; close sends EOF.
pub(crate) fn writable(stdin: Stdin) -> JsValue {
    let raw = wasm_streams::WritableStream::from_sink(JsStdin(stdin)).into_raw();
    js::decorate_writable(&raw)
}

/// `Stdin` as a sink of JS chunks with JS errors (one impl, where `sink_map_err` and
/// `with` were a combinator state machine each, ~1 KB of wasm).
struct JsStdin(Stdin);

impl Sink<JsValue> for JsStdin {
    type Error = JsValue;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), JsValue>> {
        self.0.poll_ready_unpin(cx).map_err(Error::into_js)
    }

    fn start_send(mut self: Pin<&mut Self>, chunk: JsValue) -> Result<(), JsValue> {
        let bytes = chunk_bytes(chunk)?;
        self.0.start_send_unpin(bytes).map_err(Error::into_js)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), JsValue>> {
        self.0.poll_flush_unpin(cx).map_err(Error::into_js)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), JsValue>> {
        self.0.poll_close_unpin(cx).map_err(Error::into_js)
    }
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
    process: sdk::ContainerProcess,
    stdout: JsValue,
    stderr: JsValue,
    stdin: JsValue,
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console)]
    fn warn(message: &str);
}

/// Warned that the server cannot resize terminals (once per page: it is the server's).
static WARNED_NO_RESIZE: AtomicBool = AtomicBool::new(false);

impl ContainerProcess {
    /// The JS handle of `process`, its stdout read from byte `stdout_from` on.
    pub(crate) fn new(
        process: sdk::ContainerProcess,
        mode: StreamMode,
        stdout_from: u64,
    ) -> ContainerProcess {
        ContainerProcess {
            inner: Rc::new(ProcInner {
                stdout: readable(process.stdout_from(stdout_from), mode),
                stderr: readable(process.stderr(), mode),
                stdin: writable(process.stdin()),
                process,
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
    pub fn exec_id(&self) -> JsString {
        self.inner.process.exec_id().into()
    }

    /// The exit code once known (after `wait()` or a finished `poll()`), else `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "number | null")]
    pub fn returncode(&self) -> JsValue {
        nullable(self.inner.process.returncode())
    }

    /// Waits for the command to exit; resolves to its exit code (128 + signal if killed).
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn wait(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let process = self.inner.process.clone();
        let left = process.time_left("waiting");
        let p = promise(convert::signal_of_ts(&options), async move {
            Ok(process.wait().await?.into())
        });
        match left {
            // the exec's timeoutMs: stop waiting at its deadline, as Modal JS does
            Ok(Some(ms)) => js::with_deadline(&p, ms, self.inner.process.exec_id()),
            _ => p,
        }
    }

    /// Resizes the terminal of a command started with `pty` (its program gets SIGWINCH).
    /// A server without the resize call (Modal's own) keeps the size: a console warning,
    /// once, and no error.
    ///
    /// ```ts
    /// fit.fit(); await p.resize(term.cols, term.rows);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn resize(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] cols: JsValue,
        #[wasm_bindgen(unchecked_param_type = "number")] rows: JsValue,
    ) -> Promise {
        let process = self.inner.process.clone();
        promise(Ok(None), async move {
            let (cols, rows) = (
                convert::u32_arg(&cols, "cols")?,
                convert::u32_arg(&rows, "rows")?,
            );
            if !process.resize(cols, rows).await? && !WARNED_NO_RESIZE.swap(true, Ordering::Relaxed)
            {
                warn("modal-wasm: this server cannot resize terminals; the size stays");
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Sends EOF to stdin directly, past the `WritableStream` (for when a write failed);
    /// never rejects, as in Modal JS.
    #[wasm_bindgen(js_name = closeStdin, unchecked_return_type = "Promise<void>")]
    pub fn close_stdin(&self) -> Promise {
        let process = self.inner.process.clone();
        promise(Ok(None), async move {
            process.close_stdin().await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The exit code if the command has exited, else `null` (no waiting).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | null>")]
    pub fn poll(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let process = self.inner.process.clone();
        promise(convert::signal_of_ts(&options), async move {
            Ok::<_, Error>(nullable(process.poll().await?))
        })
    }
}
