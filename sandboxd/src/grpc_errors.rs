//! One rule for the statuses of every tonic service sandboxd serves (the local control
//! plane and command router, and anything else built on tonic services): a layer that
//! wraps each service and retypes the statuses tonic itself makes when a request cannot
//! be read.
//!
//! - A request message that does not decode (bad varint, wrong wire type, invalid UTF-8
//!   in a string field, a frame cut short, a unary call without a message, a bad
//!   compressed flag) is the caller's fault: INVALID_ARGUMENT. tonic answers INTERNAL
//!   (gRPC's table names INTERNAL for an unparseable message), which Modal's clients
//!   retry as if the server had failed, resending the same bytes.
//! - A message over the size limit is RESOURCE_EXHAUSTED (tonic: OUT_OF_RANGE), as gRPC
//!   servers answer it elsewhere.
//! - A status message is at most `MAX_MESSAGE_BYTES`, so an error that quotes a huge
//!   input still fits in a header and reaches the caller.
//! - UNIMPLEMENTED names the method: tonic answers a method it does not know with no
//!   message, and one it stubs with "Not yet implemented"; a client porting code from
//!   Modal (sidecar containers, queues, dicts, functions) learns which call it was.
//!
//! tonic's statuses are recognised by their messages (tonic-0.14's codec and server), so
//! a tonic upgrade that rewords them fails `tests/wire_fuzz.rs`, not production silently.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::server::NamedService;
use tonic::{Code, Status};

/// The longest status message sent, in bytes (before percent-encoding).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Messages of the statuses tonic makes for a request that does not decode (tonic-web's
/// are its errors reading a gRPC-web request body: bad base64 in grpc-web-text).
const UNDECODABLE: [&str; 6] = [
    "failed to decode Protobuf message",
    "Missing request message",
    "Unexpected EOF decoding stream",
    "protocol error: received message with",
    "Error decompressing",
    "tonic-web: ",
];
const TOO_LARGE: &str = "Error, decoded message length too large";

/// What `status` should be instead, if anything.
pub fn retyped(code: Code, message: &str) -> Option<(Code, String)> {
    let code2 = match code {
        Code::Internal if UNDECODABLE.iter().any(|m| message.starts_with(m)) => {
            Code::InvalidArgument
        }
        Code::OutOfRange if message.starts_with(TOO_LARGE) => Code::ResourceExhausted,
        c => c,
    };
    let long = message.len() > MAX_MESSAGE_BYTES;
    if code2 == code && !long {
        return None;
    }
    let mut msg = message.to_string();
    if long {
        let mut cut = MAX_MESSAGE_BYTES - 3;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push_str("...");
    }
    Some((code2, msg))
}

/// The message of UNIMPLEMENTED for the method at `path`.
pub fn unimplemented_message(path: &str) -> String {
    format!(
        "sandboxd does not implement {}: it serves Modal's sandbox API (docs/PROTOCOL.md lists the calls)",
        path.trim_start_matches('/')
    )
}

/// Rewrite the status in `headers` (response headers of a trailers-only response, or
/// trailers) if it needs it; `path` is the request's.
fn fix(headers: &mut HeaderMap, path: &str) {
    let Some(raw) = headers.get("grpc-status") else {
        return;
    };
    let code = Code::from_bytes(raw.as_bytes());
    if code == Code::Unimplemented {
        let message = headers
            .get("grpc-message")
            .map(|m| percent_decode(m.as_bytes()))
            .unwrap_or_default();
        if message.is_empty() || message == "Not yet implemented" {
            headers.remove("grpc-status");
            headers.remove("grpc-message");
            let _ = Status::new(code, unimplemented_message(path)).add_header(headers);
        }
        return;
    }
    let long = headers
        .get("grpc-message")
        .is_some_and(|m| m.len() > MAX_MESSAGE_BYTES);
    if !matches!(code, Code::Internal | Code::OutOfRange) && !long {
        return;
    }
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    if let Some((code, message)) = retyped(code, &message) {
        headers.remove("grpc-status");
        headers.remove("grpc-message");
        let _ = Status::new(code, message).add_header(headers);
    }
}

/// grpc-message is percent-encoded UTF-8.
fn percent_decode(b: &[u8]) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The layer: `TypedErrors::layer(service)` wherever a tonic service is served.
#[derive(Clone)]
pub struct TypedErrors<S> {
    inner: S,
}

impl<S> TypedErrors<S> {
    pub fn layer(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for TypedErrors<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for TypedErrors<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path().to_string();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let (mut parts, body) = fut.await?.into_parts();
            fix(&mut parts.headers, &path);
            let body = body.map_frame(move |mut frame| {
                if let Some(t) = frame.trailers_mut() {
                    fix(t, &path);
                }
                frame
            });
            Ok(http::Response::from_parts(
                parts,
                tonic::body::Body::new(body),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_errors_become_invalid_argument() {
        let (c, m) = retyped(
            Code::Internal,
            "failed to decode Protobuf message: invalid varint",
        )
        .unwrap();
        assert_eq!(c, Code::InvalidArgument);
        assert!(m.contains("invalid varint"));
        assert_eq!(
            retyped(Code::Internal, "Missing request message.").map(|r| r.0),
            Some(Code::InvalidArgument)
        );
        assert_eq!(
            retyped(Code::Internal, "tonic-web: Invalid symbol 33, offset 0.").map(|r| r.0),
            Some(Code::InvalidArgument)
        );
        assert_eq!(
            retyped(
                Code::OutOfRange,
                "Error, decoded message length too large: found 9 bytes"
            )
            .map(|r| r.0),
            Some(Code::ResourceExhausted)
        );
        // sandboxd's own INTERNAL stays INTERNAL; other codes stay
        assert_eq!(retyped(Code::Internal, "sandboxd: disk full"), None);
        assert_eq!(retyped(Code::NotFound, "Sandbox x not found"), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(2000);
        let (c, m) = retyped(Code::NotFound, &long).unwrap();
        assert_eq!(c, Code::NotFound);
        assert!(
            m.len() <= MAX_MESSAGE_BYTES && m.ends_with("..."),
            "{}",
            m.len()
        );
    }

    #[test]
    fn headers_are_rewritten_in_place() {
        let mut h = HeaderMap::new();
        Status::internal("failed to decode Protobuf message: buffer underflow")
            .add_header(&mut h)
            .unwrap();
        fix(&mut h, "/x.Y/Z");
        let s = Status::from_header_map(&h).unwrap();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "failed to decode Protobuf message: buffer underflow"
        );
        assert_eq!(percent_decode(b"a%20b%zz%"), "a b%zz%");
    }

    #[test]
    fn unimplemented_names_the_method() {
        for given in ["", "Not yet implemented"] {
            let mut h = HeaderMap::new();
            Status::unimplemented(given).add_header(&mut h).unwrap();
            fix(&mut h, "/modal.client.ModalClient/QueueGet");
            let s = Status::from_header_map(&h).unwrap();
            assert_eq!(s.code(), Code::Unimplemented);
            assert!(
                s.message()
                    .starts_with("sandboxd does not implement modal.client.ModalClient/QueueGet:"),
                "{}",
                s.message()
            );
        }
        // a message of sandboxd's own stays
        let mut h = HeaderMap::new();
        Status::unimplemented("terminals are not supported here")
            .add_header(&mut h)
            .unwrap();
        fix(&mut h, "/a.B/C");
        let s = Status::from_header_map(&h).unwrap();
        assert_eq!(s.message(), "terminals are not supported here");
    }
}
