//! Bounds on everything a client controls. A request past one is refused whole, with
//! INVALID_ARGUMENT (a request that can never be served: too many tags, an argument too
//! long for the kernel) or RESOURCE_EXHAUSTED (a request that could be served later: too
//! many sandboxes or commands at once), and a message that names the bound. The numbers
//! are documented in the README's "Limits" section; keep the two in step.

use tonic::Status;

/// Tags on one sandbox, and the bytes of one tag's name and value.
pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_NAME_BYTES: usize = 128;
pub const MAX_TAG_VALUE_BYTES: usize = 512;
/// Environment variables of one sandbox or command (after secrets are merged in).
pub const MAX_ENV_VARS: usize = 1024;
/// Arguments of one command or entrypoint.
pub const MAX_ARGS: usize = 4096;
/// One argument, or one `KEY=value` of the environment: the kernel's own limit
/// (MAX_ARG_STRLEN, 128 KiB with the terminating NUL).
pub const MAX_ARG_BYTES: usize = 128 * 1024 - 1;
/// Arguments and environment of one command together (the kernel's ARG_MAX is 2 MiB on
/// this kind of machine, minus the stack the program needs).
pub const MAX_EXEC_BYTES: usize = 1 << 20;
/// Names of sandboxes, apps, environments, secrets, volumes: Modal's own rule.
pub const MAX_NAME_CHARS: usize = 64;
/// Client-made ids (exec ids) and paths.
pub const MAX_ID_BYTES: usize = 128;
pub const MAX_PATH_BYTES: usize = 4096;
/// Secrets, volume mounts and open ports of one sandbox.
pub const MAX_SECRETS: usize = 64;
pub const MAX_VOLUME_MOUNTS: usize = 32;
pub const MAX_OPEN_PORTS: usize = 32;
/// Ports of one sandbox with connect tokens, and live tokens per port.
pub const MAX_CONNECT_PORTS: usize = 16;
pub const MAX_CONNECT_TOKENS: usize = 1024;
/// Steps of one image definition, the bytes of one step, and inline context files.
pub const MAX_IMAGE_STEPS: usize = 1000;
pub const MAX_IMAGE_STEP_BYTES: usize = 64 * 1024;
pub const MAX_CONTEXT_FILES: usize = 10_000;
/// Timeouts of sandboxes, idle timeouts and commands, in seconds.
pub const MAX_TIMEOUT_SECS: u32 = 24 * 3600;
/// The writable layer's cap a sandbox may ask for (`ephemeral_disk_mb`), in MiB.
pub const MIN_DISK_MIB: u32 = 64;
pub const MAX_DISK_MIB: u32 = 1 << 20;

fn invalid(msg: String) -> Status {
    Status::invalid_argument(msg)
}

/// At most `max` items of `what`.
pub fn count(what: &str, n: usize, max: usize) -> Result<(), Status> {
    if n > max {
        return Err(invalid(format!(
            "{n} {what} given; at most {max} are allowed"
        )));
    }
    Ok(())
}

/// A string that reaches the operating system (argv, environment, paths): no NUL byte.
pub fn no_nul(what: &str, s: &str) -> Result<(), Status> {
    if s.contains('\0') {
        return Err(invalid(format!("{what} must not contain NUL bytes")));
    }
    Ok(())
}

/// At most `max` bytes.
pub fn bytes(what: &str, s: &str, max: usize) -> Result<(), Status> {
    if s.len() > max {
        return Err(invalid(format!(
            "{what} is {} bytes long; at most {max} are allowed",
            s.len()
        )));
    }
    Ok(())
}

/// A Modal object name: 1 to 64 characters of letters, digits, `-`, `_` and `.`.
pub fn name(what: &str, n: &str) -> Result<(), Status> {
    if n.is_empty()
        || n.chars().count() > MAX_NAME_CHARS
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(invalid(format!(
            "{what} {:?} must be 1 to {MAX_NAME_CHARS} characters of letters, digits, '-', '_' or '.'",
            truncated(n)
        )));
    }
    Ok(())
}

/// A value quoted in an error message, cut so the message itself stays small.
pub fn truncated(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// A client-made id (non-empty, short, printable).
pub fn client_id(what: &str, id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(invalid(format!("{what} is required")));
    }
    bytes(what, id, MAX_ID_BYTES)?;
    if id.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

/// Tags: how many, how long, names non-empty.
pub fn tags<'a>(pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> Result<(), Status> {
    count("tags", pairs.len(), MAX_TAGS)?;
    for (k, v) in pairs {
        if k.is_empty() {
            return Err(invalid("tag names must not be empty".into()));
        }
        bytes("a tag name", k, MAX_TAG_NAME_BYTES)?;
        bytes(
            &format!("the value of tag {:?}", truncated(k)),
            v,
            MAX_TAG_VALUE_BYTES,
        )?;
    }
    Ok(())
}

/// The environment of a sandbox or command: names that the kernel can pass on (no `=`,
/// no NUL, non-empty), sizes within the kernel's limits.
pub fn env<'a>(vars: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> Result<usize, Status> {
    count("environment variables", vars.len(), MAX_ENV_VARS)?;
    let mut total = 0;
    for (k, v) in vars {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(invalid(format!(
                "environment variable name {:?} must be non-empty, without '=' or NUL",
                truncated(k)
            )));
        }
        no_nul(&format!("environment variable {:?}", truncated(k)), v)?;
        let len = k.len() + 1 + v.len();
        if len > MAX_ARG_BYTES {
            return Err(invalid(format!(
                "environment variable {:?} is {len} bytes long; at most {MAX_ARG_BYTES} are allowed",
                truncated(k)
            )));
        }
        total += len + 1;
    }
    Ok(total)
}

/// The arguments of a command or entrypoint (empty allowed here; callers that need a
/// program check that themselves), plus the environment's size `env_bytes`.
pub fn argv(what: &str, args: &[String], env_bytes: usize) -> Result<(), Status> {
    count(&format!("{what} arguments"), args.len(), MAX_ARGS)?;
    let mut total = env_bytes;
    for a in args {
        no_nul(&format!("{what} arguments"), a)?;
        if a.len() > MAX_ARG_BYTES {
            return Err(invalid(format!(
                "an argument of {what} is {} bytes long; at most {MAX_ARG_BYTES} are allowed",
                a.len()
            )));
        }
        total += a.len() + 1;
    }
    if total > MAX_EXEC_BYTES {
        return Err(invalid(format!(
            "{what}: arguments and environment are {total} bytes together; at most {MAX_EXEC_BYTES} are allowed"
        )));
    }
    Ok(())
}

/// An absolute path without `.` or `..` components, of bounded length.
pub fn abs_path(what: &str, p: &str) -> Result<(), Status> {
    bytes(what, p, MAX_PATH_BYTES)?;
    no_nul(what, p)?;
    if !p.starts_with('/') || p.split('/').any(|c| c == ".." || c == ".") {
        return Err(invalid(format!(
            "{what} must be an absolute path without `.` or `..`: {:?}",
            truncated(p)
        )));
    }
    Ok(())
}

/// A volume's `sub_path`: a directory of the volume, from its root (`/a/b` or `a/b`),
/// without `.` or `..`.
pub fn sub_path(p: &str) -> Result<(), Status> {
    let what = "volume_mounts.sub_path";
    bytes(what, p, MAX_PATH_BYTES)?;
    no_nul(what, p)?;
    if p.split('/').any(|c| c == ".." || c == ".") {
        return Err(invalid(format!(
            "{what} must name a directory of the volume without `.` or `..`: {:?}",
            truncated(p)
        )));
    }
    Ok(())
}

/// A timeout in seconds of at most MAX_TIMEOUT_SECS.
pub fn timeout_secs(what: &str, t: u32) -> Result<(), Status> {
    if t > MAX_TIMEOUT_SECS {
        return Err(invalid(format!(
            "{what} is {t}s; at most {MAX_TIMEOUT_SECS}s (24 hours) is allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn code<T: std::fmt::Debug>(r: Result<T, Status>) -> Code {
        r.err().map(|s| s.code()).unwrap_or(Code::Ok)
    }

    #[test]
    fn bounds_refuse_with_invalid_argument() {
        let big = "x".repeat(MAX_TAG_VALUE_BYTES + 1);
        let ten_k: Vec<(String, String)> = (0..10_000)
            .map(|i| (format!("t{i}"), "v".repeat(100)))
            .collect();
        assert_eq!(
            code(tags(ten_k.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            Code::InvalidArgument
        );
        assert_eq!(
            code(tags([("k", big.as_str())].into_iter())),
            Code::InvalidArgument
        );
        assert_eq!(code(tags([("", "v")].into_iter())), Code::InvalidArgument);
        assert_eq!(code(tags([("k", "v")].into_iter())), Code::Ok);
        assert_eq!(code(env([("A=B", "v")].into_iter())), Code::InvalidArgument);
        assert_eq!(code(env([("A", "v\0")].into_iter())), Code::InvalidArgument);
        assert_eq!(code(env([("A", "v")].into_iter())), Code::Ok);
        let four_mb = vec!["a".repeat(1 << 20); 4];
        assert_eq!(code(argv("command", &four_mb, 0)), Code::InvalidArgument);
        let many_small = vec!["a".repeat(1000); 1100];
        assert_eq!(code(argv("command", &many_small, 0)), Code::InvalidArgument);
        assert_eq!(code(argv("command", &["ls".into()], 0)), Code::Ok);
        assert_eq!(code(name("app name", "ok-name_1.2")), Code::Ok);
        assert_eq!(code(name("app name", "no/slash")), Code::InvalidArgument);
        assert_eq!(
            code(name("app name", &"a".repeat(65))),
            Code::InvalidArgument
        );
        assert_eq!(code(abs_path("p", "/a/../b")), Code::InvalidArgument);
        assert_eq!(code(abs_path("p", "rel")), Code::InvalidArgument);
        assert_eq!(code(abs_path("p", "/a/b")), Code::Ok);
        assert_eq!(code(timeout_secs("t", u32::MAX)), Code::InvalidArgument);
        assert_eq!(code(client_id("exec_id", "")), Code::InvalidArgument);
        assert_eq!(
            code(client_id("exec_id", &"e".repeat(129))),
            Code::InvalidArgument
        );
    }

    #[test]
    fn messages_quote_at_most_64_characters() {
        let long = "é".repeat(1000);
        let t = truncated(&long);
        assert!(t.chars().count() <= 67, "{t}");
    }
}
