use std::future::Future;
use std::pin::Pin;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// A promise of `fut`, through the one `future_to_promise` instantiation of a boxed future
/// (the same type a crate using this one may box its own promises as): each instantiation
/// of `future_to_promise` is its own copy of the spawn and queue code.
pub(crate) fn boxed_promise(
    fut: impl Future<Output = Result<JsValue, JsValue>> + 'static,
) -> Promise {
    let fut: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(fut);
    // under panic=unwind `future_to_promise` wants an `UnwindSafe` future; each caller says why
    // its own is (the take-and-replace pattern of its `Inner`)
    #[cfg(panic = "unwind")]
    let fut = std::panic::AssertUnwindSafe(fut);
    wasm_bindgen_futures::future_to_promise(fut)
}

pub(crate) async fn promise_to_void_future(promise: Promise) -> Result<(), JsValue> {
    let js_value = JsFuture::from(promise).await?;
    debug_assert!(js_value.is_undefined());
    let _ = js_value;
    Ok(())
}

pub(crate) fn clamp_to_u32(value: usize) -> u32 {
    let wrapped = value as u32;
    let overflow = value != (wrapped as usize);
    if overflow { u32::MAX } else { wrapped }
}

pub(crate) fn checked_cast_to_usize(value: u32) -> usize {
    let wrapped = value as usize;
    debug_assert_eq!(value, wrapped as u32);
    wrapped
}

pub(crate) fn js_to_io_error(js_value: JsValue) -> std::io::Error {
    let message = js_to_string(&js_value).unwrap_or_else(|| "Unknown error".to_string());
    std::io::Error::other(message)
}

fn js_to_string(js_value: &JsValue) -> Option<String> {
    js_value.as_string().or_else(|| {
        js_sys::Object::try_from(js_value)
            .map(|js_object| js_object.to_string().as_string().unwrap_throw())
    })
}
