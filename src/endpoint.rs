//! Endpoint rules: normalizing the server URL and choosing how to dial the command router.

/// `url` without surrounding ASCII whitespace and trailing slashes (a loop over bytes:
/// `trim_end_matches` was a searcher of its own in the wasm).
fn trimmed(url: &str) -> &str {
    let url = url.trim_ascii();
    let mut end = url.len();
    while end > 0 && url.as_bytes()[end - 1] == b'/' {
        end -= 1;
    }
    url.get(..end).unwrap_or(url)
}

/// The server URL without trailing slashes; it must be `http://` or `https://`.
pub fn normalize(endpoint: &str) -> Result<String, String> {
    let e = trimmed(endpoint);
    if !(e.starts_with("http://") || e.starts_with("https://")) {
        return Err(format!(
            "endpoint must start with http:// or https://, got '{endpoint}'"
        ));
    }
    if host_of(e).is_empty() {
        return Err(format!("endpoint has no host: '{endpoint}'"));
    }
    Ok(e.to_string())
}

/// The host (without port or brackets) of an absolute URL. A scan of its bytes: `split`,
/// `rsplit_once` and `strip_prefix` were a pattern searcher each in the wasm.
pub fn host_of(url: &str) -> &str {
    let b = url.as_bytes();
    let find = |from: usize, to: usize, c: u8| (from..to).find(|&i| b[i] == c);
    // after "scheme://" (the first ':', if "//" follows it)
    let start = match find(0, b.len(), b':') {
        Some(i) if b[i + 1..].starts_with(b"//") => i + 3,
        _ => 0,
    };
    // the authority ends at the path, the query or the fragment
    let mut end = start;
    while end < b.len() && !matches!(b[end], b'/' | b'?' | b'#') {
        end += 1;
    }
    // without user info (up to the last '@')
    let host = (start..end)
        .rev()
        .find(|&i| b[i] == b'@')
        .map_or(start, |i| i + 1);
    let (from, stop) = if b.get(host) == Some(&b'[') {
        (host + 1, b']')
    } else {
        (host, b':')
    };
    let to = find(from, end, stop).unwrap_or(end);
    url.get(from..to.max(from)).unwrap_or("")
}

/// True for loopback hosts.
pub fn is_localhost(host: &str) -> bool {
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// The URL to dial for a command router `url` handed out by the server.
///
/// Like Modal's JS and Go clients: the server hands out `https://` urls, and when the
/// control plane itself is a plaintext localhost URL, a localhost router is dialed in
/// plaintext. A url without a scheme gets the control plane's scheme.
pub fn command_router_url(endpoint: &str, url: &str) -> String {
    let url = trimmed(url);
    let plaintext_cp = endpoint.starts_with("http://");
    if let Some(rest) = url.strip_prefix("https://") {
        if plaintext_cp && is_localhost(host_of(url)) {
            return format!("http://{rest}");
        }
        return url.to_string();
    }
    if url.starts_with("http://") {
        return url.to_string();
    }
    let scheme = if plaintext_cp { "http" } else { "https" };
    format!("{scheme}://{url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize("http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9"
        );
        assert!(normalize("127.0.0.1:9").is_err());
        assert!(normalize("http://").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(host_of("https://a.b:443/x"), "a.b");
        assert_eq!(host_of("http://[::1]:80"), "::1");
        assert_eq!(host_of("http://u:p@h:1"), "h");
        assert_eq!(host_of("h.example:8443/p"), "h.example");
        assert_eq!(host_of("https://u@[::1]:8/x@y?q#f"), "::1");
        assert_eq!(host_of("http://h?q=a:b@c"), "h");
        assert_eq!(host_of("http://[::1"), "::1");
        assert_eq!(host_of("http:"), "http");
        assert_eq!(host_of(""), "");
    }

    #[test]
    fn router_urls() {
        let local = "http://127.0.0.1:8000";
        assert_eq!(
            command_router_url(local, "https://127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            command_router_url(local, "https://localhost:8000/"),
            "http://localhost:8000"
        );
        assert_eq!(
            command_router_url(local, "https://r.example.com"),
            "https://r.example.com"
        );
        assert_eq!(
            command_router_url("https://api.example.com", "https://127.0.0.1:1"),
            "https://127.0.0.1:1"
        );
        assert_eq!(
            command_router_url(local, "127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
    }
}
