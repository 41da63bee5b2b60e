//! One gRPC-web call over `fetch`: the response body as a stream of messages, and abort on
//! drop: dropping the stream (or the future before it) aborts the fetch through its
//! `AbortController`, so a JS cancel of an output `ReadableStream` reaches the server.

use bytes::{Bytes, BytesMut};
use futures_util::stream::{LocalBoxStream, StreamExt};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::AbortController;

use super::frame::{self, Chunk};
use super::{Code, Status};
use crate::transport::Call;

/// The messages of one call's reply (see [`frame::messages`]).
pub type Messages = LocalBoxStream<'static, Result<Bytes, Status>>;

#[wasm_bindgen(module = "/src/grpc/fetch.js")]
extern "C" {
    #[wasm_bindgen(js_name = grpcFetch)]
    fn grpc_fetch(
        url: &str,
        headers: &Object,
        body: &Uint8Array,
        signal: &JsValue,
    ) -> js_sys::Promise;
}

impl Chunk for Uint8Array {
    fn push_into(&self, buf: &mut BytesMut) {
        // straight into the spare capacity: no zero-filling first
        let n = self.length() as usize;
        buf.reserve(n);
        let copied = self
            .copy_to_uninit(&mut buf.spare_capacity_mut()[..n])
            .len();
        // SAFETY: the `copied` (= n) bytes after the old length were just written
        unsafe { buf.set_len(buf.len() + copied) };
    }
}

/// Aborts the fetch when dropped.
struct AbortOnDrop(Option<AbortController>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.abort();
        }
    }
}

fn js_text(e: &JsValue) -> String {
    let text = crate::js::convert::error_text(e);
    if text.is_empty() {
        "fetch failed".into()
    } else {
        text
    }
}

/// POSTs the call's message, framed, to its URL with its headers and returns the reply's
/// messages. Fails
/// before any message when the reply is an error (trailers-only, a non-200 HTTP status, a
/// content type other than binary gRPC-web) or the fetch itself fails (UNAVAILABLE).
pub async fn call(call: Call) -> Result<Messages, Status> {
    let mut url = String::with_capacity(call.base_url.len() + call.path.len());
    url.push_str(&call.base_url);
    url.push_str(call.path);
    let h = Object::new();
    let set = |k: &str, v: &str| {
        let _ = Reflect::set(&h, &JsValue::from_str(k), &JsValue::from_str(v));
    };
    set("content-type", "application/grpc-web+proto");
    set("accept", "application/grpc-web+proto");
    set("x-grpc-web", "1");
    for (k, v) in &call.headers {
        set(k, v);
    }
    let body = Uint8Array::from(&frame::encode(&call.message)[..]);
    let ctrl = AbortController::new().ok();
    let signal = ctrl
        .as_ref()
        .map_or(JsValue::UNDEFINED, |c| c.signal().into());
    let guard = AbortOnDrop(ctrl);
    let reply = JsFuture::from(grpc_fetch(&url, &h, &body, &signal))
        .await
        .map_err(|e| Status::unavailable(js_text(&e)))?;
    let r: Array = reply.unchecked_into();
    let http = r.get(0).as_f64().unwrap_or(0.0) as u16;
    let content_type = r.get(1).as_string().unwrap_or_default();
    let header_status = Status::from_fields(
        r.get(2).as_string().as_deref(),
        r.get(3).as_string().as_deref(),
    );
    match &header_status {
        Some(s) if s.code() != Code::Ok => return Err(s.clone()),
        None if http != 200 => {
            return Err(Status::new(
                Code::from_http(http),
                format!("HTTP status {http} from {url}"),
            ))
        }
        _ => {}
    }
    if !content_type.starts_with("application/grpc")
        || content_type.starts_with("application/grpc-web-text")
    {
        return Err(Status::internal(format!(
            "unexpected content-type '{content_type}' from {url}"
        )));
    }
    let body = r.get(4);
    let chunks = if body.is_object() {
        wasm_streams::ReadableStream::from_raw(body.unchecked_into())
            .into_stream()
            .map(|c| match c {
                // a fetch body's chunks are Uint8Arrays (Fetch standard; so in every
                // runtime tested): taken as they are, where `new Uint8Array(chunk)` copied
                // each one into fresh memory, a sixth of the time of a 100 MB read
                Ok(c) => Ok(c.unchecked_into::<Uint8Array>()),
                Err(e) => Err(Status::unavailable(js_text(&e))),
            })
            .boxed_local()
    } else {
        futures_util::stream::empty().boxed_local()
    };
    // The guard lives as long as the body stream.
    let chunks = chunks.map(move |c| {
        let _ = &guard;
        c
    });
    Ok(frame::messages(chunks, header_status))
}
