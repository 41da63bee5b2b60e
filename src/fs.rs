//! The in-sandbox filesystem helper (`/__modal/.bin/modal-sandbox-fs-tools`, see
//! docs/PROTOCOL.md): its JSON commands, the entries it prints, and the mapping of its
//! `error_kind`s to the SDK's typed errors. Plain Rust, tested natively; the facade
//! (`api::filesystem`) only runs the helper and converts values. The watch command and its
//! events are handled in `src/js/files.js` (same error mapping, tested in tests/js).
//! Its JSON is read and written by `crate::json`.

use crate::error::{Error, ErrorKind, Result};
use crate::json;

/// Where the helper lives in every sandbox.
pub const HELPER: &str = "/__modal/.bin/modal-sandbox-fs-tools";

/// The operation a helper call performs (it decides how error kinds map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `ListFiles`
    List,
    /// `Stat`
    Stat,
    /// `ReadFile`
    Read,
    /// `WriteFile`
    Write,
    /// `MakeDirectory`
    MakeDirectory,
    /// `Remove`
    Remove,
}

/// Fails with an `InvalidError` unless `path` is absolute (as Modal's clients require).
pub fn check_path(path: &str, what: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "{what}: only absolute paths are supported, got '{path}'"
        )));
    }
    if path.contains('\0') {
        return Err(Error::invalid(format!("{what}: path contains a NUL byte")));
    }
    Ok(())
}

/// `{"ListFiles":{"path":P}}`
pub fn list_command(path: &str) -> String {
    format!(r#"{{"ListFiles":{{"path":{}}}}}"#, json::quote(path))
}

/// `{"Stat":{"path":P}}`
pub fn stat_command(path: &str) -> String {
    format!(r#"{{"Stat":{{"path":{}}}}}"#, json::quote(path))
}

/// `{"ReadFile":{"path":P}}`
pub fn read_command(path: &str) -> String {
    format!(r#"{{"ReadFile":{{"path":{}}}}}"#, json::quote(path))
}

/// `{"WriteFile":{"path":P}}`
pub fn write_command(path: &str) -> String {
    format!(r#"{{"WriteFile":{{"path":{}}}}}"#, json::quote(path))
}

/// `{"MakeDirectory":{"path":P,"parents":B}}`
pub fn mkdir_command(path: &str, parents: bool) -> String {
    format!(
        r#"{{"MakeDirectory":{{"path":{},"parents":{parents}}}}}"#,
        json::quote(path)
    )
}

/// `{"Remove":{"path":P,"recursive":B}}`
pub fn remove_command(path: &str, recursive: bool) -> String {
    format!(
        r#"{{"Remove":{{"path":{},"recursive":{recursive}}}}}"#,
        json::quote(path)
    )
}

/// The type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
}

impl FileType {
    /// `"file"`, `"directory"` or `"symlink"`, as the helper and the JS API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::File => "file",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
        }
    }
}

/// Metadata of a file, directory or symlink in a sandbox (one entry of `ListFiles` /
/// `Stat`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Base name.
    pub name: String,
    /// Absolute path.
    pub path: String,
    /// File, directory or symlink.
    pub file_type: FileType,
    /// Size in bytes.
    pub size: f64,
    /// `st_mode` (type and permission bits).
    pub mode: f64,
    /// Permission bits in octal, e.g. `"0644"`.
    pub permissions: String,
    /// Owner name (or uid).
    pub owner: String,
    /// Group name (or gid).
    pub group: String,
    /// Modification time, Unix epoch seconds.
    pub modified_time: f64,
    /// A symlink's target.
    pub symlink_target: Option<String>,
}

fn bad_output(what: &str) -> Error {
    Error::new(
        ErrorKind::Filesystem,
        format!("unexpected output from the filesystem helper: {what}"),
    )
}

impl FileInfo {
    fn from_value(v: &json::Value) -> Result<FileInfo> {
        let s = |k: &str| -> Result<String> {
            v.get(k)
                .and_then(json::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad_output(&format!("entry without string '{k}'")))
        };
        let n = |k: &str| -> Result<f64> {
            v.get(k)
                .and_then(json::Value::as_f64)
                .ok_or_else(|| bad_output(&format!("entry without number '{k}'")))
        };
        let file_type = match s("type")?.as_str() {
            "file" => FileType::File,
            "directory" => FileType::Directory,
            "symlink" => FileType::Symlink,
            other => return Err(bad_output(&format!("entry of type '{other}'"))),
        };
        Ok(FileInfo {
            name: s("name")?,
            path: s("path")?,
            file_type,
            size: n("size")?,
            mode: n("mode")?,
            permissions: s("permissions")?,
            owner: s("owner")?,
            group: s("group")?,
            modified_time: n("modified_time")?,
            symlink_target: v
                .get("symlink_target")
                .and_then(json::Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The entries `ListFiles` printed (the helper lists them sorted by name).
pub fn parse_entries(stdout: &[u8]) -> Result<Vec<FileInfo>> {
    let v = json::parse(stdout).map_err(|e| bad_output(&e))?;
    let arr = v.as_array().ok_or_else(|| bad_output("not an array"))?;
    let mut entries = Vec::with_capacity(arr.len());
    for v in arr {
        entries.push(FileInfo::from_value(v)?);
    }
    Ok(entries)
}

/// The entry `Stat` printed.
pub fn parse_entry(stdout: &[u8]) -> Result<FileInfo> {
    let v = json::parse(stdout).map_err(|e| bad_output(&e))?;
    FileInfo::from_value(&v)
}

/// The typed error for a failed helper run: its exit code and stderr (the JSON
/// `{error_kind, message, detail}`, or unstructured text).
pub fn helper_error(op: Op, path: &str, code: i32, stderr: &[u8]) -> Error {
    let parsed = json::parse(stderr.trim_ascii()).ok().and_then(|v| {
        let kind = v.get("error_kind")?.as_str()?.to_string();
        let message = v.get("message")?.as_str()?.trim_ascii().to_string();
        if message.is_empty() {
            return None;
        }
        let detail = v
            .get("detail")
            .and_then(json::Value::as_str)
            .unwrap_or("")
            .to_string();
        Some((kind, message, detail))
    });
    let Some((kind, message, detail)) = parsed else {
        let text = crate::utf8::lossy(stderr.trim_ascii());
        let mut e = Error::new(
            ErrorKind::Filesystem,
            format!("Operation on '{path}' failed with exit code {code}"),
        );
        e.cause = (!text.is_empty()).then_some(text);
        return e;
    };
    let kind = error_kind(op, &kind);
    let mut e = if kind == ErrorKind::Filesystem {
        Error::new(kind, message)
    } else {
        Error::new(kind, format!("{message}: {path}"))
    };
    e.cause = (!detail.is_empty()).then_some(detail);
    e
}

/// The helper's `error_kind`s that map to a specific error (others are `Filesystem`).
#[cfg(test)]
pub(crate) const HELPER_ERROR_KINDS: &[&str] = &[
    "NotFound",
    "IsDirectory",
    "NotDirectory",
    "IsFile",
    "DirectoryNotEmpty",
    "PathAlreadyExists",
    "AlreadyExists",
    "PermissionDenied",
    "FileTooLarge",
    "NotSupported",
];

/// The SDK error kind for the helper's `error_kind` in operation `op`.
pub fn error_kind(op: Op, kind: &str) -> ErrorKind {
    match kind {
        "NotFound" => ErrorKind::FsNotFound,
        "IsDirectory" => ErrorKind::FsIsADirectory,
        "NotDirectory" | "IsFile" => ErrorKind::FsNotADirectory,
        "DirectoryNotEmpty" => ErrorKind::FsDirectoryNotEmpty,
        "PathAlreadyExists" => ErrorKind::FsPathAlreadyExists,
        // WriteFile reports a file where a parent directory should be as AlreadyExists.
        "AlreadyExists" if op == Op::Write => ErrorKind::FsNotADirectory,
        "AlreadyExists" => ErrorKind::FsPathAlreadyExists,
        "PermissionDenied" => ErrorKind::FsPermissionDenied,
        "FileTooLarge" => ErrorKind::FsFileTooLarge,
        "NotSupported" => ErrorKind::Invalid,
        _ => ErrorKind::Filesystem,
    }
}

/// True for `localhost` and loopback IP literals (where a local sandboxd's tunnels are
/// plain HTTP).
pub fn is_loopback(host: &str) -> bool {
    // By hand rather than with `IpAddr::from_str` (several KB of wasm): three more octets.
    let octet = |o: &str| o.parse::<u8>().is_ok();
    let octets = |r: &str| {
        let mut rest = r;
        for _ in 0..2 {
            match crate::utf8::split_once_byte(rest, b'.') {
                Some((o, more)) if octet(o) => rest = more,
                _ => return false,
            }
        }
        octet(rest)
    };
    host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host == "::1"
        || host.strip_prefix("127.").is_some_and(octets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"name":"a.txt","path":"/tmp/d/a.txt","type":"file","size":5,"mode":33188,"permissions":"0644","owner":"root","group":"root","modified_time":1700000000.5,"symlink_target":null}"#;

    #[test]
    fn commands_are_json_with_escaped_paths() {
        assert_eq!(list_command("/a"), r#"{"ListFiles":{"path":"/a"}}"#);
        assert_eq!(
            read_command("/we\"ird\\ \n"),
            r#"{"ReadFile":{"path":"/we\"ird\\ \n"}}"#
        );
        assert_eq!(
            mkdir_command("/d", true),
            r#"{"MakeDirectory":{"path":"/d","parents":true}}"#
        );
        assert_eq!(
            remove_command("/d", false),
            r#"{"Remove":{"path":"/d","recursive":false}}"#
        );
        // Round trip through our own parser.
        let v = json::parse(read_command("/x\u{1}ü").as_bytes()).unwrap();
        assert_eq!(
            v.get("ReadFile").unwrap().get("path").unwrap().as_str(),
            Some("/x\u{1}ü")
        );
    }

    #[test]
    fn paths_must_be_absolute() {
        assert!(check_path("/a/b", "x").is_ok());
        assert_eq!(check_path("a/b", "x").unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(check_path("", "x").unwrap_err().kind, ErrorKind::Invalid);
        assert!(check_path("/a\0", "x").is_err());
    }

    #[test]
    fn entries_parse() {
        let two = format!(
            "[{},{}]\n",
            ENTRY.replace(r#""symlink_target":null"#, r#""symlink_target":"/etc""#),
            ENTRY.replace("a.txt", "z"),
        );
        let e = parse_entries(two.as_bytes()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "a.txt");
        assert_eq!(e[0].symlink_target.as_deref(), Some("/etc"));
        assert_eq!(e[1].name, "z");
        assert_eq!(e[1].size, 5.0);
        assert_eq!(e[1].modified_time, 1700000000.5);
        let one = parse_entry(ENTRY.as_bytes()).unwrap();
        assert_eq!(one.file_type, FileType::File);
        assert_eq!(one.mode, 33188.0);
        assert_eq!(one.symlink_target, None);
        assert!(parse_entries(b"[]").unwrap().is_empty());
        for bad in [&b"{"[..], b"[1]", b"{}", br#"[{"name":"x"}]"#, b"", b"\xff"] {
            let e = parse_entries(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Filesystem, "{bad:?}");
        }
        let weird = ENTRY.replace(r#""type":"file""#, r#""type":"socket""#);
        assert!(parse_entry(weird.as_bytes()).is_err());
    }

    #[test]
    fn error_kinds_map_to_typed_errors() {
        let err = |op, kind: &str| {
            let stderr =
                format!(r#"{{"error_kind":"{kind}","message":"boom","detail":"errno 2"}}"#);
            helper_error(op, "/p", 1, stderr.as_bytes())
        };
        let cases = [
            (
                Op::Read,
                "NotFound",
                ErrorKind::FsNotFound,
                "FILESYSTEM_NOT_FOUND",
            ),
            (
                Op::Read,
                "IsDirectory",
                ErrorKind::FsIsADirectory,
                "FILESYSTEM_IS_A_DIRECTORY",
            ),
            (
                Op::List,
                "IsFile",
                ErrorKind::FsNotADirectory,
                "FILESYSTEM_NOT_A_DIRECTORY",
            ),
            (
                Op::Stat,
                "NotDirectory",
                ErrorKind::FsNotADirectory,
                "FILESYSTEM_NOT_A_DIRECTORY",
            ),
            (
                Op::Remove,
                "DirectoryNotEmpty",
                ErrorKind::FsDirectoryNotEmpty,
                "FILESYSTEM_DIRECTORY_NOT_EMPTY",
            ),
            (
                Op::MakeDirectory,
                "PathAlreadyExists",
                ErrorKind::FsPathAlreadyExists,
                "FILESYSTEM_PATH_ALREADY_EXISTS",
            ),
            (
                Op::MakeDirectory,
                "AlreadyExists",
                ErrorKind::FsPathAlreadyExists,
                "FILESYSTEM_PATH_ALREADY_EXISTS",
            ),
            (
                Op::Write,
                "AlreadyExists",
                ErrorKind::FsNotADirectory,
                "FILESYSTEM_NOT_A_DIRECTORY",
            ),
            (
                Op::Write,
                "PermissionDenied",
                ErrorKind::FsPermissionDenied,
                "FILESYSTEM_PERMISSION_DENIED",
            ),
            (
                Op::Read,
                "FileTooLarge",
                ErrorKind::FsFileTooLarge,
                "FILESYSTEM_FILE_TOO_LARGE",
            ),
            (Op::Read, "NotSupported", ErrorKind::Invalid, "INVALID"),
            (Op::Read, "Io", ErrorKind::Filesystem, "FILESYSTEM"),
        ];
        for (op, kind, want, code) in cases {
            let e = err(op, kind);
            assert_eq!(e.kind, want, "{op:?} {kind}");
            assert_eq!(e.kind.code(), code);
            assert_eq!(e.cause.as_deref(), Some("errno 2"));
        }
        assert_eq!(err(Op::Read, "NotFound").message, "boom: /p");
        assert_eq!(err(Op::Read, "Io").message, "boom");
        // Unstructured stderr: the base error with the exit code, stderr kept as cause.
        let e = helper_error(Op::Read, "/p", 3, b"  segfault\n");
        assert_eq!(e.kind, ErrorKind::Filesystem);
        assert!(e.message.contains("exit code 3"), "{}", e.message);
        assert_eq!(e.cause.as_deref(), Some("segfault"));
        // A payload without a message is unstructured too.
        let e = helper_error(
            Op::Read,
            "/p",
            1,
            br#"{"error_kind":"NotFound","message":" "}"#,
        );
        assert_eq!(e.kind, ErrorKind::Filesystem);
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "modal.host",
            "127.0.0",
            "127.0.0.256",
            "127.a.b.c",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
