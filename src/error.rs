//! The SDK's error type: a kind with a stable `code`, the message, and the gRPC status
//! it came from. The JS facade turns it into a real `Error` subclass (see `js/glue.js`).

use std::fmt;

use crate::grpc::Code;

/// What went wrong, as JS code branches on it: `err.code === "NOT_FOUND"`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object (app, sandbox, secret, volume, image) does not exist.
    NotFound,
    /// An object with that name already exists.
    AlreadyExists,
    /// Bad input: wrong type, missing field, out-of-range value, rejected by the server.
    Invalid,
    /// The operation conflicts with the object's state (FAILED_PRECONDITION, ABORTED).
    Conflict,
    /// Credentials were missing or rejected.
    Auth,
    /// The credentials are valid but do not allow this call (a scoped token's scopes,
    /// tags, app or sandboxes do not cover it).
    PermissionDenied,
    /// A deadline passed (DEADLINE_EXCEEDED, or a client-side wait ran out).
    Timeout,
    /// The sandbox itself timed out.
    SandboxTimeout,
    /// The client (or the handle) was closed before or during the call.
    ClientClosed,
    /// A quota or capacity limit was hit.
    ResourceExhausted,
    /// Any other failure reported by the server or the network.
    Remote,
    /// A filesystem operation in the sandbox failed (base of the `Fs*` kinds).
    Filesystem,
    /// Filesystem: the path does not exist.
    FsNotFound,
    /// Filesystem: a file was expected, the path is a directory.
    FsIsADirectory,
    /// Filesystem: a directory was expected (the path or a parent is not one).
    FsNotADirectory,
    /// Filesystem: the directory is not empty.
    FsDirectoryNotEmpty,
    /// Filesystem: the path already exists.
    FsPathAlreadyExists,
    /// Filesystem: permission denied (including writes to a read-only mount).
    FsPermissionDenied,
    /// Filesystem: the file exceeds the helper's size limit.
    FsFileTooLarge,
}

impl ErrorKind {
    /// The stable `code` property of the JS error.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::AlreadyExists => "ALREADY_EXISTS",
            ErrorKind::Invalid => "INVALID",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::Auth => "AUTH",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::SandboxTimeout => "SANDBOX_TIMEOUT",
            ErrorKind::ClientClosed => "CLIENT_CLOSED",
            ErrorKind::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorKind::Remote => "REMOTE",
            ErrorKind::Filesystem => "FILESYSTEM",
            ErrorKind::FsNotFound => "FILESYSTEM_NOT_FOUND",
            ErrorKind::FsIsADirectory => "FILESYSTEM_IS_A_DIRECTORY",
            ErrorKind::FsNotADirectory => "FILESYSTEM_NOT_A_DIRECTORY",
            ErrorKind::FsDirectoryNotEmpty => "FILESYSTEM_DIRECTORY_NOT_EMPTY",
            ErrorKind::FsPathAlreadyExists => "FILESYSTEM_PATH_ALREADY_EXISTS",
            ErrorKind::FsPermissionDenied => "FILESYSTEM_PERMISSION_DENIED",
            ErrorKind::FsFileTooLarge => "FILESYSTEM_FILE_TOO_LARGE",
        }
    }

    /// The kind for a gRPC status code, as docs/PROTOCOL.md maps them.
    pub fn from_grpc(code: Code) -> Self {
        match code {
            Code::NotFound => ErrorKind::NotFound,
            Code::AlreadyExists => ErrorKind::AlreadyExists,
            Code::InvalidArgument | Code::OutOfRange => ErrorKind::Invalid,
            Code::FailedPrecondition | Code::Aborted => ErrorKind::Conflict,
            Code::Unauthenticated => ErrorKind::Auth,
            Code::PermissionDenied => ErrorKind::PermissionDenied,
            Code::ResourceExhausted => ErrorKind::ResourceExhausted,
            Code::DeadlineExceeded => ErrorKind::Timeout,
            _ => ErrorKind::Remote,
        }
    }
}

/// An SDK error: kind, message, and (when it came from the server) the gRPC status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// The gRPC status code (0..=16) when the error came from a gRPC call.
    pub grpc_status: Option<i32>,
    /// The underlying error's text (a transport failure, a decode error), if any.
    pub cause: Option<String>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            grpc_status: None,
            cause: None,
        }
    }

    /// Shorthand for an [`ErrorKind::Invalid`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }

    /// Shorthand for an [`ErrorKind::ClientClosed`] error.
    pub fn closed(what: &str) -> Self {
        Self::new(ErrorKind::ClientClosed, format!("{what} has been closed"))
    }

    /// Converts a gRPC status, keeping its code, message and source.
    pub fn from_status(status: &crate::grpc::Status) -> Self {
        let mut message = status.message().to_string();
        if message.is_empty() {
            message = format!("gRPC call failed with status {}", status.code().name());
        }
        Error {
            kind: ErrorKind::from_grpc(status.code()),
            message,
            grpc_status: Some(status.code() as i32),
            cause: None,
        }
    }
}

impl From<crate::grpc::Status> for Error {
    fn from(status: crate::grpc::Status) -> Self {
        Error::from_status(&status)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_as_protocol_says() {
        let cases = [
            (Code::NotFound, "NOT_FOUND"),
            (Code::AlreadyExists, "ALREADY_EXISTS"),
            (Code::InvalidArgument, "INVALID"),
            (Code::FailedPrecondition, "CONFLICT"),
            (Code::Aborted, "CONFLICT"),
            (Code::Unauthenticated, "AUTH"),
            (Code::PermissionDenied, "PERMISSION_DENIED"),
            (Code::ResourceExhausted, "RESOURCE_EXHAUSTED"),
            (Code::DeadlineExceeded, "TIMEOUT"),
            (Code::Unavailable, "REMOTE"),
            (Code::Internal, "REMOTE"),
        ];
        for (code, expected) in cases {
            let name = code.name();
            assert_eq!(ErrorKind::from_grpc(code).code(), expected, "{name}");
        }
    }

    #[test]
    fn status_keeps_code_and_message() {
        let e = Error::from(crate::grpc::Status::not_found("no such app"));
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.message, "no such app");
        assert_eq!(e.grpc_status, Some(5));
        let e = Error::from(crate::grpc::Status::unavailable(""));
        assert!(e.message.contains("Unavailable"));
    }
}
