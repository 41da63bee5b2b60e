//! The `#[wasm_bindgen]` facade, the package's JS API: JS classes and names, option
//! objects, promises, web streams, JS errors, AbortSignal. Thin by design: each method
//! converts its input, clones a cheap handle of the Rust API (`crate::Client`,
//! `crate::Sandbox`, ...), and awaits it. Public so that the crate's own wasm test suites
//! can construct a `ModalClient` from Rust; Rust callers use the crate root.

mod client;
mod filesystem;
mod objects;
mod process;
mod sandbox;
mod types;

use std::future::Future;

use js_sys::Promise;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{Error, Result};
use crate::js;

pub use client::*;
pub use filesystem::SandboxFilesystem;
pub use objects::*;
pub use process::*;
pub use sandbox::*;

/// A promise of `fut`, rejected with the signal's reason if `signal` aborts first (which
/// drops `fut` and so cancels its requests), or with an SDK error.
pub(crate) fn promise<F>(signal: Result<Option<web_sys::AbortSignal>>, fut: F) -> Promise
where
    F: Future<Output = Result<JsValue>> + 'static,
{
    promise_boxed(signal, Box::pin(fut))
}

/// The one (non-generic) instantiation of the promise/abort machinery.
fn promise_boxed(
    signal: Result<Option<web_sys::AbortSignal>>,
    fut: futures_util::future::LocalBoxFuture<'static, Result<JsValue>>,
) -> Promise {
    js_promise(Box::pin(async move {
        let signal = signal.map_err(Error::into_js)?;
        js::with_signal(signal, async move { fut.await.map_err(Error::into_js) }).await
    }))
}

/// The one instantiation of `future_to_promise` in the SDK (each costs ~1 KB of wasm).
pub(crate) fn js_promise(
    fut: futures_util::future::LocalBoxFuture<'static, std::result::Result<JsValue, JsValue>>,
) -> Promise {
    future_to_promise(fut)
}

/// `string | undefined` (a JS string made here: a `String` return would be copied out by
/// wasm-bindgen's glue, a dozen lines of JS per getter).
pub(crate) fn optional_string(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::UNDEFINED, JsValue::from_str)
}

/// `number | null`, as Modal's JS client returns for unknown exit codes.
pub(crate) fn nullable(code: Option<i32>) -> JsValue {
    code.map(JsValue::from).unwrap_or(JsValue::NULL)
}
