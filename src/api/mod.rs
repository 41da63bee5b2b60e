//! The `#[wasm_bindgen]` facade: JS classes, option objects, promises, streams. Thin by
//! design: each method converts its input, clones cheap handles, and awaits plain Rust.

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
pub(crate) fn promise<T, F>(signal: Result<Option<web_sys::AbortSignal>>, fut: F) -> Promise
where
    T: Into<JsValue>,
    F: Future<Output = Result<T>> + 'static,
{
    promise_boxed(signal, Box::pin(async move { fut.await.map(Into::into) }))
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

/// A string property of a JS object (e.g. `appId` of an `App`), or an `InvalidError`.
pub(crate) fn prop_string(obj: &JsValue, key: &str, what: &str) -> Result<String> {
    if !obj.is_object() {
        return Err(Error::invalid(format!("{what} must be an object")));
    }
    js_sys::Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| Error::invalid(format!("{what} has no {key}")))
}

/// `number | null`, as Modal's JS client returns for unknown exit codes.
pub(crate) fn nullable(code: Option<i32>) -> JsValue {
    code.map(JsValue::from).unwrap_or(JsValue::NULL)
}
