//! [`TonicWebTransport`]: tonic's gRPC client over tonic-web-wasm-client (cargo feature
//! `tonic-web`), for Rust apps that already carry tonic. The messages go through a raw
//! codec: the SDK encodes and decodes them with prost itself, as with the default
//! transport. tonic-web-wasm-client 0.9.2 is patched in `vendor/` to read a trailers frame
//! that fetch splits across chunks (its issue #97); `tests/wasm/transport.rs` checks both
//! transports against split replies.

use bytes::{Buf, BufMut, Bytes};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataValue};

use super::{Call, Code, Messages, Status, Transport};

/// Modal's JS client accepts messages up to 100 MiB; tonic's default limit is 4 MB.
const MAX_MESSAGE: usize = 100 << 20;

/// tonic over tonic-web-wasm-client's `fetch` (binary gRPC-web). Dropping a call aborts
/// its fetch (tonic-web-wasm-client's abort guard).
#[derive(Debug, Clone, Default)]
pub struct TonicWebTransport {
    options: Option<tonic_web_wasm_client::options::FetchOptions>,
}

impl TonicWebTransport {
    /// A transport with tonic-web-wasm-client's default fetch options.
    pub fn new() -> Self {
        Self::default()
    }

    /// A transport whose fetches use `options` (credentials, cache, mode, ...).
    pub fn with_options(options: tonic_web_wasm_client::options::FetchOptions) -> Self {
        TonicWebTransport {
            options: Some(options),
        }
    }
}

fn status(s: tonic::Status) -> Status {
    Status::new(Code::from_i32(s.code() as i32), s.message())
}

impl Transport for TonicWebTransport {
    fn call(&self, call: Call) -> LocalBoxFuture<'static, Result<Messages, Status>> {
        let base = call.base_url.to_string();
        let client = match &self.options {
            Some(o) => tonic_web_wasm_client::Client::new_with_options(base, o.clone()),
            None => tonic_web_wasm_client::Client::new(base),
        };
        Box::pin(async move {
            let mut request = tonic::Request::new(call.message);
            for (name, value) in call.headers {
                let value = MetadataValue::try_from(value.as_str())
                    .map_err(|_| Status::invalid_argument(format!("bad value of {name}")))?;
                request
                    .metadata_mut()
                    .insert(MetadataKey::from_static(name), value);
            }
            let mut grpc = tonic::client::Grpc::new(client).max_decoding_message_size(MAX_MESSAGE);
            grpc.ready()
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            let path = http::uri::PathAndQuery::from_static(call.path);
            // A unary reply is a stream of one message: one code path for both.
            let reply = grpc
                .server_streaming(request, path, RawCodec)
                .await
                .map_err(status)?;
            let messages: Messages = reply.into_inner().map(|m| m.map_err(status)).boxed_local();
            Ok(messages)
        })
    }
}

/// Passes encoded messages through: the SDK's prost types are encoded and decoded by the
/// SDK, as with the default transport.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
