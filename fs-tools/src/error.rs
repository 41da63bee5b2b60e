//! The failure report: one JSON object on stderr and a non-zero exit status.

use std::io::{self, Write};
use std::path::Path;

/// `error_kind` values. The first ten are the protocol's; `Io` covers any other OS
/// error (ENOSPC, EIO, ELOOP, ...) and `InvalidCommand` a command line that is not one
/// well-formed JSON command (exit status 2).
pub mod kind {
    pub const NOT_FOUND: &str = "NotFound";
    pub const NOT_DIRECTORY: &str = "NotDirectory";
    pub const IS_FILE: &str = "IsFile";
    pub const IS_DIRECTORY: &str = "IsDirectory";
    pub const ALREADY_EXISTS: &str = "AlreadyExists";
    pub const PATH_ALREADY_EXISTS: &str = "PathAlreadyExists";
    pub const DIRECTORY_NOT_EMPTY: &str = "DirectoryNotEmpty";
    pub const PERMISSION_DENIED: &str = "PermissionDenied";
    pub const FILE_TOO_LARGE: &str = "FileTooLarge";
    pub const NOT_SUPPORTED: &str = "NotSupported";
    pub const IO: &str = "Io";
    pub const INVALID_COMMAND: &str = "InvalidCommand";
}

/// Exit status of a command that was understood but failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit status of a command line that is not one valid JSON command.
pub const EXIT_INVALID: i32 = 2;

#[derive(Debug)]
pub struct FsError {
    pub kind: &'static str,
    pub message: String,
    pub detail: String,
    pub exit_code: i32,
}

impl FsError {
    pub fn new(kind: &'static str, message: impl Into<String>, detail: impl Into<String>) -> Self {
        FsError {
            kind,
            message: message.into(),
            detail: detail.into(),
            exit_code: EXIT_FAILED,
        }
    }

    pub fn invalid(message: impl Into<String>, detail: impl Into<String>) -> Self {
        FsError {
            kind: kind::INVALID_COMMAND,
            message: message.into(),
            detail: detail.into(),
            exit_code: EXIT_INVALID,
        }
    }

    /// An OS error from `op` on `path`, classified by errno.
    pub fn io(op: &str, path: &Path, err: &io::Error) -> Self {
        let kind = errno_kind(err);
        FsError::new(
            kind,
            message_for(kind, err),
            format!("{op} {}: {err}", path.display()),
        )
    }

    /// Like [`FsError::io`], but with the kind chosen by the caller.
    pub fn io_as(kind: &'static str, op: &str, path: &Path, err: &io::Error) -> Self {
        FsError::new(
            kind,
            message_for(kind, err),
            format!("{op} {}: {err}", path.display()),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({
            "version": 1,
            "error_kind": self.kind,
            "message": self.message,
            "detail": self.detail,
        })
        .to_string()
    }

    /// Writes the report to stderr (best effort: there is nowhere else to say it).
    pub fn emit(&self) {
        let mut line = self.to_json();
        line.push('\n');
        let _ = io::stderr().write_all(line.as_bytes());
    }
}

/// The protocol kind for an OS error.
pub fn errno_kind(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOENT) => kind::NOT_FOUND,
        Some(libc::ENOTDIR) => kind::NOT_DIRECTORY,
        Some(libc::EISDIR) => kind::IS_DIRECTORY,
        Some(libc::EEXIST) => kind::ALREADY_EXISTS,
        Some(libc::ENOTEMPTY) => kind::DIRECTORY_NOT_EMPTY,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => kind::PERMISSION_DENIED,
        Some(libc::EFBIG) => kind::FILE_TOO_LARGE,
        Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => kind::NOT_SUPPORTED,
        _ => kind::IO,
    }
}

/// A short human message; clients append ": <path>" to it.
pub fn message_for(k: &'static str, err: &io::Error) -> String {
    let m = match k {
        kind::NOT_FOUND => "path does not exist",
        kind::NOT_DIRECTORY => "a component of the path is not a directory",
        kind::IS_FILE => "expected a directory path, found a file",
        kind::IS_DIRECTORY => "expected a file path, found a directory",
        kind::ALREADY_EXISTS | kind::PATH_ALREADY_EXISTS => "path already exists",
        kind::DIRECTORY_NOT_EMPTY => "directory is not empty",
        kind::PERMISSION_DENIED if err.raw_os_error() == Some(libc::EROFS) => {
            "permission denied: read-only file system"
        }
        kind::PERMISSION_DENIED => "permission denied",
        kind::FILE_TOO_LARGE => "file too large",
        kind::NOT_SUPPORTED => "operation not supported by this filesystem",
        _ => return strip_os_error_suffix(&err.to_string()),
    };
    m.to_string()
}

/// "No space left on device (os error 28)" -> "No space left on device".
fn strip_os_error_suffix(s: &str) -> String {
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}
