//! Expiring tokens the SDK holds (the control plane's `AuthTokenGet` JWT, and a scoped
//! token from `getToken`): reading their `exp` claim and deciding when to fetch a new one.

/// Refresh a token this many milliseconds before it expires (at most half its lifetime
/// before, so short tokens are not refreshed on every call).
pub const REFRESH_MARGIN_MS: f64 = 5.0 * 60.0 * 1000.0;
/// Lifetime assumed for a token without a readable `exp` claim.
pub const DEFAULT_LIFETIME_MS: f64 = 20.0 * 60.0 * 1000.0;

/// The `exp` claim (seconds since the epoch) of a JWT, if it has one.
pub fn jwt_exp(token: &str) -> Option<f64> {
    let (_, rest) = crate::utf8::split_once_byte(token, b'.')?;
    let payload = crate::utf8::split_once_byte(rest, b'.').map_or(rest, |(p, _)| p);
    let bytes = base64url_decode(payload)?;
    crate::json::parse(&bytes).ok()?.get("exp")?.as_f64()
}

/// Decodes base64url (JWT segments; padding ignored); `None` on any invalid character.
/// Hand-written (a dozen lines) so the wasm carries no second base64 engine.
pub fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => continue,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A cached token and when (ms since the epoch) it should be replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthToken {
    /// The JWT sent as `x-modal-auth-token`.
    pub token: String,
    /// Time after which the token is refreshed before use.
    pub refresh_at_ms: f64,
}

impl AuthToken {
    /// A token fetched at `now_ms`.
    pub fn new(token: String, now_ms: f64) -> Self {
        let refresh_at_ms = match jwt_exp(&token) {
            Some(exp) => {
                let exp_ms = exp * 1000.0;
                let margin = REFRESH_MARGIN_MS.min((exp_ms - now_ms).max(0.0) / 2.0);
                exp_ms - margin
            }
            None => now_ms + DEFAULT_LIFETIME_MS,
        };
        AuthToken {
            token,
            refresh_at_ms,
        }
    }

    /// True while the token may be used at `now_ms`.
    pub fn is_fresh(&self, now_ms: f64) -> bool {
        now_ms < self.refresh_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        use base64::Engine;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        format!("eyJhbGciOiJIUzI1NiJ9.{p}.sig")
    }

    #[test]
    fn base64url_matches_the_base64_crate() {
        use base64::Engine;
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data);
            assert_eq!(base64url_decode(&enc).unwrap(), data);
        }
        assert_eq!(base64url_decode("a*b"), None);
    }

    #[test]
    fn reads_exp() {
        assert_eq!(
            jwt_exp(&jwt(r#"{"sub":"x","exp": 1700000000,"iat":1}"#)),
            Some(1.7e9)
        );
        assert_eq!(
            jwt_exp(&jwt(r#"{"exp":1700000000.75}"#)),
            Some(1700000000.75)
        );
        assert_eq!(jwt_exp(&jwt(r#"{"exp":1,"#)), None);
        assert_eq!(jwt_exp(&jwt(r#"{"exp" :"soon"}"#)), None);
        assert_eq!(jwt_exp(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_exp("not a jwt"), None);
    }

    #[test]
    fn freshness() {
        let t = AuthToken::new(jwt(r#"{"exp":1000}"#), 0.0);
        assert!(t.is_fresh(1_000_000.0 - REFRESH_MARGIN_MS - 1.0));
        assert!(!t.is_fresh(1_000_000.0 - REFRESH_MARGIN_MS));
        let t = AuthToken::new("opaque".into(), 10.0);
        assert!(t.is_fresh(10.0 + DEFAULT_LIFETIME_MS - 1.0));
    }

    #[test]
    fn short_tokens_refresh_at_half_their_lifetime() {
        // a 60 s token fetched at t=940 s: refreshed from t=970 s on
        let t = AuthToken::new(jwt(r#"{"exp":1000}"#), 940_000.0);
        assert!(t.is_fresh(969_999.0));
        assert!(!t.is_fresh(970_000.0));
        // already expired when fetched: never fresh
        let t = AuthToken::new(jwt(r#"{"exp":1000}"#), 2_000_000.0);
        assert!(!t.is_fresh(2_000_000.0));
    }
}
