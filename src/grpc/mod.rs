//! A small gRPC-web client over the global `fetch`: binary `application/grpc-web+proto`
//! only (never the base64 text mode). The default transport (`transport::FetchTransport`)
//! and the npm package's: tonic + tonic-web-wasm-client (the `tonic-web` transport) cost
//! about 60 KB gzip more of wasm (tonic, `http`, base64, their `Debug`/`fmt` code) for what
//! is, for a client, one POST and a frame decoder. Three files, one job each:
//!
//! - this one: [`Code`] and [`Status`], and the status of a response from its headers
//!   (trailers-only replies) or its trailers frame, with `grpc-message` percent-decoded;
//! - `frame`: request framing and the incremental response decoder (native tests split the
//!   trailers frame at every byte);
//! - `fetch`: the call itself, the body as a stream of messages, abort on drop.

mod fetch;
pub mod frame;

pub use fetch::call;

use std::fmt;

/// A gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[allow(missing_docs)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code for `n`; values outside 0..=16 are `Unknown`, as the gRPC spec says.
    pub fn from_i32(n: i32) -> Code {
        usize::try_from(n)
            .ok()
            .and_then(|i| CODES.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The code's name, e.g. `"Unavailable"`.
    pub fn name(self) -> &'static str {
        [
            "Ok",
            "Cancelled",
            "Unknown",
            "InvalidArgument",
            "DeadlineExceeded",
            "NotFound",
            "AlreadyExists",
            "PermissionDenied",
            "ResourceExhausted",
            "FailedPrecondition",
            "Aborted",
            "OutOfRange",
            "Unimplemented",
            "Internal",
            "Unavailable",
            "DataLoss",
            "Unauthenticated",
        ][self as usize]
    }

    /// The code for a non-200 HTTP status of a reply without `grpc-status` (gRPC's
    /// http-grpc-status-mapping.md).
    pub fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502..=504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// A gRPC status: code and message (one pointer wide, like the SDK's `Error`, so that
/// the transport's `Result`s stay small).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status(Box<(Code, String)>);

impl Status {
    /// A status of `code` with `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status(Box::new((code, message.into())))
    }
    /// The code.
    pub fn code(&self) -> Code {
        self.0 .0
    }
    /// The message (percent-decoded `grpc-message`).
    pub fn message(&self) -> &str {
        &self.0 .1
    }
    /// `CANCELLED`
    pub fn cancelled(m: impl Into<String>) -> Status {
        Status::new(Code::Cancelled, m)
    }
    /// `UNKNOWN`
    pub fn unknown(m: impl Into<String>) -> Status {
        Status::new(Code::Unknown, m)
    }
    /// `INVALID_ARGUMENT`
    pub fn invalid_argument(m: impl Into<String>) -> Status {
        Status::new(Code::InvalidArgument, m)
    }
    /// `NOT_FOUND`
    pub fn not_found(m: impl Into<String>) -> Status {
        Status::new(Code::NotFound, m)
    }
    /// `INTERNAL`
    pub fn internal(m: impl Into<String>) -> Status {
        Status::new(Code::Internal, m)
    }
    /// `UNAVAILABLE`
    pub fn unavailable(m: impl Into<String>) -> Status {
        Status::new(Code::Unavailable, m)
    }
    /// `UNAUTHENTICATED`
    pub fn unauthenticated(m: impl Into<String>) -> Status {
        Status::new(Code::Unauthenticated, m)
    }

    /// The status in a reply's `grpc-status` / `grpc-message` (headers of a trailers-only
    /// reply, or the trailers frame); `None` without `grpc-status`.
    pub fn from_fields(grpc_status: Option<&str>, grpc_message: Option<&str>) -> Option<Status> {
        let code = grpc_status?.trim_ascii();
        let code = code.parse::<i32>().map_or(Code::Unknown, Code::from_i32);
        let message = grpc_message.map(percent_decode).unwrap_or_default();
        Some(Status::new(code, message))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code().name())?;
        f.write_str(": ")?;
        f.write_str(self.message())
    }
}

impl std::error::Error for Status {}

/// Decodes `grpc-message`: `%XX` escapes of UTF-8 bytes; a malformed escape is kept as is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    crate::utf8::lossy(&out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True if `v` may be sent as a header value (visible ASCII, space, tab).
pub fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|c| c == b'\t' || (0x20..0x7f).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for n in 0..=16 {
            assert_eq!(Code::from_i32(n) as i32, n);
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::Unavailable.name(), "Unavailable");
        assert_eq!(Code::from_http(503), Code::Unavailable);
        assert_eq!(Code::from_http(404), Code::Unimplemented);
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(percent_decode("no%20such%20app"), "no such app");
        assert_eq!(percent_decode("caf%C3%A9 100%"), "café 100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%25"), "%");
        let s = Status::from_fields(Some("5"), Some("not%20found")).unwrap();
        assert_eq!((s.code(), s.message()), (Code::NotFound, "not found"));
        assert_eq!(
            Status::from_fields(Some("x"), None).unwrap().code(),
            Code::Unknown
        );
        assert!(Status::from_fields(None, Some("m")).is_none());
    }

    #[test]
    fn header_values() {
        assert!(valid_header_value("Bearer abc.def"));
        assert!(!valid_header_value("a\nb"));
        assert!(!valid_header_value("é"));
    }
}
