//! How calls reach the server: one trait, two implementations. [`FetchTransport`] (the
//! default) is the SDK's own small gRPC-web client over `fetch` (`src/grpc`);
//! `TonicWebTransport` (cargo feature `tonic-web`) is tonic over tonic-web-wasm-client, for
//! Rust apps that already carry tonic. Both speak binary `application/grpc-web+proto`.

#[cfg(feature = "tonic-web")]
mod tonic_web;

use std::rc::Rc;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::LocalBoxStream;

pub use crate::grpc::{Code, Status};
#[cfg(feature = "tonic-web")]
pub use tonic_web::TonicWebTransport;

/// The reply of one call: its messages as they arrive, then nothing if the call ended OK,
/// or one `Err` with its status.
pub type Messages = LocalBoxStream<'static, Result<Bytes, Status>>;

/// One gRPC-web call.
pub struct Call {
    /// The server's base URL, e.g. `http://127.0.0.1:8787` (no trailing slash).
    pub base_url: Rc<str>,
    /// `/package.Service/Method`.
    pub path: &'static str,
    /// Request metadata (lowercase names; values checked to be valid header values).
    pub headers: Vec<(&'static str, String)>,
    /// The request message, encoded.
    pub message: Vec<u8>,
}

impl std::fmt::Debug for Call {
    /// Never prints header values (they carry credentials).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("message_len", &self.message.len())
            .finish_non_exhaustive()
    }
}

/// Sends gRPC-web calls. Dropping a returned future or message stream must cancel the
/// call (abort its request).
pub trait Transport {
    /// Sends `call`; resolves to the reply's messages, or fails before any message when
    /// the reply is an error (a trailers-only status, a non-200 HTTP status, another
    /// content type) or the request itself fails (UNAVAILABLE).
    fn call(&self, call: Call) -> LocalBoxFuture<'static, Result<Messages, Status>>;
}

/// The SDK's own gRPC-web client over the global `fetch`: pages, workers, Deno, workerd,
/// Node. About 50 KB gzip smaller in the npm package than tonic with tonic-web-wasm-client.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchTransport;

impl Transport for FetchTransport {
    fn call(&self, call: Call) -> LocalBoxFuture<'static, Result<Messages, Status>> {
        Box::pin(crate::grpc::call(call))
    }
}
