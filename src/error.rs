//! The SDK's error type: a kind with a stable `code`, the message, and the gRPC status
//! it came from. The JS facade turns it into a real `Error` subclass (see `js/glue.js`).

use std::fmt;

use crate::grpc::Code;

/// Defines [`ErrorKind`] and everything derived from its list: the stable codes, and the
/// JS error classes (name and base class) that `src/js/glue.js`, `src/js/pkg/errors.d.ts`
/// and the package's exports carry. Those files are generated from this list and checked
/// against it (`src/js/lists.rs`); this is the only place to add a kind.
macro_rules! error_kinds {
    ($(
        $(#[doc = $doc:literal])+
        $kind:ident = $code:literal, $class:literal $(: $base:ident)?;
    )+) => {
        /// What went wrong, as code branches on it (`err.kind` in Rust, `err.code` in JS:
        /// `err.code === "NOT_FOUND"`).
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])+ $kind, )+
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            #[cfg(test)]
            pub(crate) const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),+];

            /// The stable code (`code` of the JS error).
            pub fn code(self) -> &'static str {
                match self { $(ErrorKind::$kind => $code,)+ }
            }

            /// The JS error class of this kind, its base class (`None`: `ModalError`) and
            /// its doc line.
            #[cfg(test)]
            pub(crate) fn js_class(self) -> (&'static str, Option<ErrorKind>, &'static str) {
                match self {
                    $(ErrorKind::$kind => (
                        $class,
                        error_kinds!(@base $($base)?),
                        concat!($($doc),+),
                    ),)+
                }
            }
        }
    };
    (@base) => { None };
    (@base $base:ident) => { Some(ErrorKind::$base) };
}

error_kinds! {
    /// The object (app, sandbox, secret, volume, image) does not exist.
    NotFound = "NOT_FOUND", "NotFoundError";
    /// An object with that name already exists.
    AlreadyExists = "ALREADY_EXISTS", "AlreadyExistsError";
    /// Bad input: wrong type, missing field, out-of-range value.
    Invalid = "INVALID", "InvalidError";
    /// The operation conflicts with the object's state.
    Conflict = "CONFLICT", "ConflictError";
    /// Credentials were missing or rejected.
    Auth = "AUTH", "AuthError";
    /// The credentials are valid but do not allow this call: a scoped token's scopes, tags,
    /// app or sandboxes do not cover it.
    PermissionDenied = "PERMISSION_DENIED", "PermissionDeniedError";
    /// A deadline passed.
    Timeout = "TIMEOUT", "TimeoutError";
    /// The sandbox timed out.
    SandboxTimeout = "SANDBOX_TIMEOUT", "SandboxTimeoutError";
    /// The client or handle was closed.
    ClientClosed = "CLIENT_CLOSED", "ClientClosedError";
    /// A quota or capacity limit was hit.
    ResourceExhausted = "RESOURCE_EXHAUSTED", "ResourceExhaustedError";
    /// Any other server or network failure.
    Remote = "REMOTE", "RemoteError";
    /// Something unexpected happened at run time (e.g. a snapshot answered without an image).
    Execution = "EXECUTION", "ExecutionError";
    /// A retryable internal error of the server (Modal JS's class; not thrown here yet).
    InternalFailure = "INTERNAL_FAILURE", "InternalFailure";
    /// A snapshot is done and failed (Modal JS's class; not thrown here yet).
    SnapshotCreation = "SNAPSHOT_CREATION", "SnapshotCreationError";
    /// A Modal Function timed out (Modal JS's class, for ported code; functions are not part of this package).
    FunctionTimeout = "FUNCTION_TIMEOUT", "FunctionTimeoutError";
    /// The Queue is empty (Modal JS's class, for ported code; queues are not part of this package).
    QueueEmpty = "QUEUE_EMPTY", "QueueEmptyError";
    /// The Queue is full (Modal JS's class, for ported code; queues are not part of this package).
    QueueFull = "QUEUE_FULL", "QueueFullError";
    /// A filesystem operation in the sandbox failed; base of the specific filesystem errors.
    Filesystem = "FILESYSTEM", "SandboxFilesystemError";
    /// The path does not exist in the sandbox.
    FsNotFound = "FILESYSTEM_NOT_FOUND", "SandboxFilesystemNotFoundError": Filesystem;
    /// A file was expected; the path is a directory.
    FsIsADirectory = "FILESYSTEM_IS_A_DIRECTORY", "SandboxFilesystemIsADirectoryError": Filesystem;
    /// A directory was expected; the path (or a parent) is not one.
    FsNotADirectory = "FILESYSTEM_NOT_A_DIRECTORY", "SandboxFilesystemNotADirectoryError": Filesystem;
    /// The directory is not empty.
    FsDirectoryNotEmpty = "FILESYSTEM_DIRECTORY_NOT_EMPTY", "SandboxFilesystemDirectoryNotEmptyError": Filesystem;
    /// The path already exists.
    FsPathAlreadyExists = "FILESYSTEM_PATH_ALREADY_EXISTS", "SandboxFilesystemPathAlreadyExistsError": Filesystem;
    /// Permission denied (including writes to a read-only mount).
    FsPermissionDenied = "FILESYSTEM_PERMISSION_DENIED", "SandboxFilesystemPermissionError": Filesystem;
    /// The file is larger than the sandbox allows reading at once.
    FsFileTooLarge = "FILESYSTEM_FILE_TOO_LARGE", "SandboxFilesystemFileTooLargeError": Filesystem;
}

impl ErrorKind {
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

/// An SDK error: kind, message, and (when it came from the server) the gRPC status code;
/// its fields are [`ErrorData`]'s. One pointer wide, so that every `Result` stays small
/// (moving a 40-byte error through each `?` cost the package kilobytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorData>);

/// What an [`Error`] holds (an `Error` derefs to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorData {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// The gRPC status code (0..=16) when the error came from a gRPC call.
    pub grpc_status: Option<i32>,
    /// The underlying error's text (a transport failure, a decode error), if any.
    pub cause: Option<String>,
}

impl std::ops::Deref for Error {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl From<ErrorData> for Error {
    fn from(data: ErrorData) -> Self {
        Error(Box::new(data))
    }
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorData {
            kind,
            message: message.into(),
            grpc_status: None,
            cause: None,
        }
        .into()
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
        ErrorData {
            kind: ErrorKind::from_grpc(status.code()),
            message,
            grpc_status: Some(status.code() as i32),
            cause: None,
        }
        .into()
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
