//! Object ids. Clients pick a sandbox's backend from the shape of its id alone:
//! `sb-` + exactly 22 base62 characters is V1, anything else V2 (PROTOCOL.md).

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

/// A new id `PREFIX-` + 22 base62 characters (Modal's usual shape).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", base62(22))
}

/// A V1 sandbox id: `sb-` + exactly 22 base62 characters.
pub fn new_sandbox_v1_id() -> String {
    new_id("sb")
}

/// A V2 sandbox id: any other shape; we use `sb-` + 26 base62 characters.
pub fn new_sandbox_v2_id() -> String {
    format!("sb-{}", base62(26))
}

/// True when `id` has the V1 shape.
pub fn is_v1_sandbox_id(id: &str) -> bool {
    id.strip_prefix("sb-")
        .is_some_and(|rest| rest.len() == 22 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_id_shapes_tell_v1_from_v2() {
        for _ in 0..100 {
            assert!(is_v1_sandbox_id(&new_sandbox_v1_id()));
            assert!(!is_v1_sandbox_id(&new_sandbox_v2_id()));
        }
        assert!(!is_v1_sandbox_id("sb-short"));
        assert!(!is_v1_sandbox_id("ta-0123456789012345678901"));
        assert!(!is_v1_sandbox_id("sb-01234567890123456789_1"));
    }
}
