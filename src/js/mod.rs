//! Bindings to JS: the hand-written glue (`glue.js`), timers, randomness, AbortSignal, and
//! conversions between JS values and Rust, all without panicking on bad input.

pub mod convert;
pub mod errors;
#[cfg(test)]
mod lists;
pub(crate) mod options;

use std::future::Future;

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/js/files.js")]
extern "C" {
    /// Adds `open`, `ls`, `mkdir`, `rm`, `watch` to Sandbox, and (on first use of
    /// `sandbox.filesystem`) `readText`, `writeText`, `watch` to SandboxFilesystem.
    #[wasm_bindgen(js_name = installFiles)]
    pub(crate) fn install_files(sandbox: &JsValue) -> JsValue;
}

#[wasm_bindgen(module = "/src/js/sandbox.js")]
extern "C" {
    /// Adds `logs` (fetch, tail) to Sandbox, and Modal JS's methods the package does not
    /// have, each refused by name (see sandbox.js).
    #[wasm_bindgen(js_name = installSandbox)]
    pub(crate) fn install_sandbox(sandbox: &JsValue) -> JsValue;
}

#[wasm_bindgen(module = "/src/js/glue.js")]
extern "C" {
    /// `new TextDecoder().decode(bytes)`: invalid sequences become U+FFFD.
    #[wasm_bindgen(js_name = decodeUtf8)]
    pub(crate) fn decode_utf8(bytes: &[u8]) -> String;
    /// Modal JS's `Tunnel` class (see glue.js).
    pub(crate) type Tunnel;
    #[wasm_bindgen(constructor)]
    pub(crate) fn new(
        host: &str,
        port: u32,
        unencrypted_host: Option<String>,
        unencrypted_port: Option<u32>,
    ) -> Tunnel;
    #[wasm_bindgen(js_name = makeError)]
    pub(crate) fn make_error(
        code: &str,
        message: &str,
        grpc_status: Option<i32>,
        cause: &JsValue,
    ) -> JsValue;
    #[wasm_bindgen(js_name = decodeText)]
    pub(crate) fn decode_text(stream: &JsValue) -> JsValue;
    /// The `MODAL_*` configuration of a Node or Deno process (see glue.js).
    /// (`string[] | undefined`: read with `convert::string_array`, where a `Vec<String>`
    /// would bring wasm-bindgen's own conversion)
    #[wasm_bindgen(js_name = modalEnv)]
    pub(crate) fn modal_env() -> JsValue;
    #[wasm_bindgen(js_name = decorateReadable)]
    pub(crate) fn decorate_readable(stream: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = decorateWritable)]
    pub(crate) fn decorate_writable(stream: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = makeAsyncIterable)]
    pub(crate) fn make_async_iterable(obj: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = installAsyncDispose)]
    pub(crate) fn install_async_dispose(obj: &JsValue, method: &str) -> JsValue;
    #[wasm_bindgen(js_name = sleep)]
    fn sleep_promise(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = sleepUnref)]
    fn sleep_unref_promise(ms: u32) -> Promise;
    /// `promise`, or a `TimeoutError` for exec `exec_id` after `ms` (see glue.js).
    #[wasm_bindgen(js_name = withDeadline)]
    pub(crate) fn with_deadline(promise: &Promise, ms: u32, exec_id: &str) -> Promise;
    #[wasm_bindgen(js_name = randomBytes)]
    fn random_bytes(n: u32) -> Uint8Array;
    #[wasm_bindgen(js_name = bytesOf)]
    fn bytes_of(v: &JsValue) -> JsValue;
    /// `[ReadableStream, size?]` of the SDK's own over a caller's stream or Blob; `null`
    /// for anything else; a message if it cannot be read (see glue.js).
    #[wasm_bindgen(js_name = streamOf)]
    pub(crate) fn stream_of(v: &JsValue) -> JsValue;

    type AbortWatch;
    #[wasm_bindgen(js_name = abortPromise)]
    fn abort_promise(signal: &web_sys::AbortSignal) -> AbortWatch;
    #[wasm_bindgen(method, getter)]
    fn promise(this: &AbortWatch) -> Promise;
    /// Set when the signal had aborted already, or could not be read: `error` says why.
    #[wasm_bindgen(method, getter)]
    fn done(this: &AbortWatch) -> bool;
    #[wasm_bindgen(method, getter)]
    fn error(this: &AbortWatch) -> JsValue;
    #[wasm_bindgen(method)]
    fn cleanup(this: &AbortWatch);
}

/// Sleeps `ms` milliseconds on a timer that does not keep a Node or Deno process alive.
pub async fn sleep_unref(ms: u32) {
    let _ = JsFuture::from(sleep_unref_promise(ms)).await;
}

/// Sleeps `ms` milliseconds (global `setTimeout`).
pub async fn sleep(ms: u32) {
    let _ = JsFuture::from(sleep_promise(ms)).await;
}

/// The bytes of a string (UTF-8) or of a `Uint8Array`, `ArrayBuffer` or other
/// `ArrayBufferView` (copied by the glue, which no getter or Proxy of the caller's can make
/// throw through the wasm); `None` for anything else.
pub fn bytes(v: &JsValue) -> Option<bytes::Bytes> {
    if let Some(s) = v.as_string() {
        return Some(bytes::Bytes::from(s.into_bytes()));
    }
    let copy = bytes_of(v);
    (!copy.is_null()).then(|| bytes::Bytes::from(copy.unchecked_into::<Uint8Array>().to_vec()))
}

/// 16 random bytes from `crypto.getRandomValues` (no secure context needed).
pub fn random16() -> [u8; 16] {
    let mut out = [0u8; 16];
    let arr = random_bytes(16);
    if arr.length() == 16 {
        arr.copy_to(&mut out);
    }
    out
}

/// A fresh UUID v4.
pub fn uuid() -> String {
    crate::ids::uuid_v4(random16())
}

/// Milliseconds since the epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Runs `fut`; if `signal` aborts first, drops it (which aborts its fetches) and rejects
/// with the signal's reason.
pub async fn with_signal<T>(
    signal: Option<web_sys::AbortSignal>,
    fut: impl Future<Output = Result<T, JsValue>>,
) -> Result<T, JsValue> {
    let Some(signal) = signal else {
        return fut.await;
    };
    // The glue reads the signal (a caller's object: its getters may throw).
    let watch = abort_promise(&signal);
    if watch.done() {
        return Err(watch.error());
    }
    let aborted = JsFuture::from(watch.promise());
    let fut = std::pin::pin!(fut);
    let out = match futures_util::future::select(fut, aborted).await {
        futures_util::future::Either::Left((r, _)) => r,
        futures_util::future::Either::Right((r, _)) => Err(r.err().unwrap_or(JsValue::UNDEFINED)),
    };
    watch.cleanup();
    out
}
