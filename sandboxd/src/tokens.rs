//! Scoped tokens: the narrow, expiring credential a browser or an edge worker holds,
//! minted by an app's backend (`mintToken` in the SDK, `sandboxd token mint`, or any JWT
//! library) and verified by `sandboxd gateway` (and `sandboxd serve --signing-key`).
//!
//! A JWT signed HS256 (a secret of at least 32 bytes) or EdDSA (Ed25519), with claims
//! `sub`, `app`, `tags`, `scopes`, optional `sandboxes`, `exp` (at most 24 h ahead), `iat`,
//! `jti`. The algorithm is pinned by the key: `none` and every other algorithm are refused.
//! Verification and signing are jsonwebtoken's (pure-Rust backend).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tonic::Status;

/// The longest lifetime a token may have: a leaked token must die within a day.
pub const MAX_TTL_SECS: u64 = 24 * 60 * 60;
/// Clock skew tolerated between the minting backend and this server.
const LEEWAY_SECS: u64 = 30;
/// Shortest HS256 secret accepted (RFC 7518 asks for at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// Bounds on the claims, so a token cannot make every check expensive.
const MAX_TAGS: usize = 32;
const MAX_SANDBOXES: usize = 256;
const MAX_CLAIM_CHARS: usize = 256;

/// What a token allows. `read` covers wait, poll, tags, tunnels, listing and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    Create,
    Exec,
    Fs,
    Read,
    Terminate,
    Snapshot,
    ConnectToken,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Create,
        Scope::Exec,
        Scope::Fs,
        Scope::Read,
        Scope::Terminate,
        Scope::Snapshot,
        Scope::ConnectToken,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Create => "create",
            Scope::Exec => "exec",
            Scope::Fs => "fs",
            Scope::Read => "read",
            Scope::Terminate => "terminate",
            Scope::Snapshot => "snapshot",
            Scope::ConnectToken => "connect-token",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// The claims of a scoped token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The end user the app minted the token for; per-subject limits apply to it.
    pub sub: String,
    /// The app (by name) every sandbox of the token lives in.
    pub app: String,
    /// Forced onto every sandbox the token creates; required on every sandbox it touches.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub scopes: Vec<Scope>,
    /// When present, the token reaches these sandboxes (whatever their tags) and no others
    /// that lack its tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandboxes: Option<Vec<String>>,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub jti: String,
}

impl Claims {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// PERMISSION_DENIED unless the token has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Status> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "this token lacks the '{}' scope",
                scope.name()
            )))
        }
    }

    fn check_shape(&self, now: u64) -> Result<(), &'static str> {
        if self.sub.is_empty() || self.app.is_empty() {
            return Err("sub and app must be non-empty");
        }
        if self.scopes.is_empty() {
            return Err("scopes must not be empty");
        }
        if self.exp > now + MAX_TTL_SECS + LEEWAY_SECS {
            return Err("exp is more than 24 hours ahead");
        }
        let long = |s: &String| s.is_empty() || s.chars().count() > MAX_CLAIM_CHARS;
        if self.tags.len() > MAX_TAGS || self.tags.iter().any(|(k, v)| long(k) || v.len() > 256) {
            return Err("tags: at most 32, names 1-256 characters");
        }
        if let Some(ids) = &self.sandboxes {
            if ids.len() > MAX_SANDBOXES || ids.iter().any(long) {
                return Err("sandboxes: at most 256 ids");
            }
        }
        Ok(())
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    let bytes =
        std::fs::read(path).with_context(|| format!("reading signing key {}", path.display()))?;
    Ok(bytes)
}

fn is_pem(bytes: &[u8], label: &str) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains(&format!("-----BEGIN {label}-----"))
}

/// An HS256 secret file: its bytes without the trailing newline, at least 32 of them.
fn secret_of(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let secret = bytes.trim_ascii_end().to_vec();
    if secret.len() < MIN_SECRET_BYTES {
        anyhow::bail!(
            "an HS256 signing key must be at least {MIN_SECRET_BYTES} bytes (this one has {}); \
             make one with: head -c 48 /dev/urandom | base64 > signing.key",
            secret.len()
        );
    }
    Ok(secret)
}

/// Checks tokens against one key; the algorithm is the key's.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// From `--signing-key FILE`: an Ed25519 public key in PEM (EdDSA), or an HS256 secret.
    pub fn from_file(path: &Path) -> anyhow::Result<Verifier> {
        Self::from_bytes(&read_key_file(path)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Verifier> {
        if is_pem(bytes, "PRIVATE KEY") {
            anyhow::bail!(
                "the signing key is an Ed25519 private key: give the server its public key \
                 (openssl pkey -in key.pem -pubout -out key.pub.pem); only the minting backend holds the private key"
            );
        }
        let (key, alg) = if is_pem(bytes, "PUBLIC KEY") {
            (DecodingKey::from_ed_pem(bytes)?, Algorithm::EdDSA)
        } else {
            (
                DecodingKey::from_secret(&secret_of(bytes)?)?,
                Algorithm::HS256,
            )
        };
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Verifier { key, validation })
    }

    /// The claims of a valid token; UNAUTHENTICATED (naming what is wrong) otherwise.
    pub fn verify(&self, token: &str) -> Result<Claims, Status> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                let why = match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet",
                    K::InvalidSignature => "the token's signature does not verify",
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => {
                        "the token's algorithm is not the one this server accepts"
                    }
                    K::MissingRequiredClaim(_) => "the token lacks a required claim",
                    K::Json(_) => "the token's claims are malformed (sub, app, scopes, exp; scopes from: create, exec, fs, read, terminate, snapshot, connect-token)",
                    _ => "the token is malformed",
                };
                Status::unauthenticated(format!("invalid token: {why}"))
            })?
            .claims;
        claims
            .check_shape(crate::auth::now_secs())
            .map_err(|why| Status::unauthenticated(format!("invalid token: {why}")))?;
        Ok(claims)
    }
}

/// Signs tokens (the `token mint` command, and tests).
pub struct Signer {
    key: EncodingKey,
    alg: Algorithm,
}

impl Signer {
    /// From a file: an Ed25519 private key in PEM (EdDSA), or an HS256 secret.
    pub fn from_file(path: &Path) -> anyhow::Result<Signer> {
        Self::from_bytes(&read_key_file(path)?)
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Signer> {
        if is_pem(bytes, "PRIVATE KEY") {
            return Ok(Signer {
                key: EncodingKey::from_ed_pem(bytes)?,
                alg: Algorithm::EdDSA,
            });
        }
        if is_pem(bytes, "PUBLIC KEY") {
            anyhow::bail!("a public key cannot sign: give the Ed25519 private key");
        }
        Ok(Signer {
            key: EncodingKey::from_secret(&secret_of(bytes)?)?,
            alg: Algorithm::HS256,
        })
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(self.alg),
            claims,
            &self.key,
        )?)
    }
}

/// Claims for a new token of `ttl_secs` from now, with a random `jti`.
pub fn new_claims(
    sub: &str,
    app: &str,
    tags: BTreeMap<String, String>,
    scopes: Vec<Scope>,
    sandboxes: Option<Vec<String>>,
    ttl_secs: u64,
) -> anyhow::Result<Claims> {
    if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
        anyhow::bail!("the lifetime must be from 1 second to 24 hours");
    }
    let now = crate::auth::now_secs();
    let claims = Claims {
        sub: sub.to_string(),
        app: app.to_string(),
        tags,
        scopes,
        sandboxes,
        exp: now + ttl_secs,
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    claims.check_shape(now).map_err(anyhow::Error::msg)?;
    Ok(claims)
}

/// `15m`, `2h`, `900s`, `900` (seconds), `1d`.
pub fn parse_ttl(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("bad duration '{s}' (examples: 900, 15m, 2h)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => anyhow::bail!("bad duration unit in '{s}' (s, m, h or d)"),
    };
    n.checked_mul(mult)
        .ok_or_else(|| anyhow::anyhow!("duration '{s}' is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

    fn claims(ttl: u64) -> Claims {
        new_claims(
            "user-1",
            "playground",
            BTreeMap::from([("user".into(), "a".into())]),
            vec![Scope::Exec, Scope::Read],
            None,
            ttl,
        )
        .unwrap()
    }

    fn code(r: Result<Claims, Status>) -> tonic::Code {
        r.map(|_| ()).unwrap_err().code()
    }

    #[test]
    fn hs256_round_trip() {
        let t = Signer::from_bytes(SECRET)
            .unwrap()
            .sign(&claims(60))
            .unwrap();
        let c = Verifier::from_bytes(SECRET).unwrap().verify(&t).unwrap();
        assert_eq!(c.sub, "user-1");
        assert!(c.allows(Scope::Exec) && !c.allows(Scope::Create));
    }

    #[test]
    fn refuses_forged_none_expired_and_far_future() {
        let v = Verifier::from_bytes(SECRET).unwrap();
        let other = Signer::from_bytes(b"another secret of thirty-two bytes or more!").unwrap();
        let forged = other.sign(&claims(60)).unwrap();
        assert_eq!(code(v.verify(&forged)), tonic::Code::Unauthenticated);

        // alg: none, with and without a signature
        let body = B64.encode(serde_json::to_vec(&claims(60)).unwrap());
        let head = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(v.verify(&format!("{head}.{body}.")).is_err());
        assert!(v.verify(&format!("{head}.{body}")).is_err());
        // HS512 with the right secret is still the wrong algorithm
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(60),
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert!(v
            .verify(&hs512)
            .unwrap_err()
            .message()
            .contains("algorithm"));

        let mut old = claims(60);
        old.exp = crate::auth::now_secs() - 120;
        let t = Signer::from_bytes(SECRET).unwrap().sign(&old).unwrap();
        assert!(v.verify(&t).unwrap_err().message().contains("expired"));

        let mut far = claims(60);
        far.exp = crate::auth::now_secs() + 2 * MAX_TTL_SECS;
        let t = Signer::from_bytes(SECRET).unwrap().sign(&far).unwrap();
        assert!(v.verify(&t).unwrap_err().message().contains("24 hours"));
    }

    #[test]
    fn unknown_scopes_and_short_secrets_are_refused() {
        let json = br#"{"sub":"u","app":"a","scopes":["exec","root"],"exp":9999999999}"#;
        let head = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let input = format!("{head}.{}", B64.encode(json));
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        let t = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
        let err = Verifier::from_bytes(SECRET)
            .unwrap()
            .verify(&t)
            .unwrap_err();
        assert!(err.message().contains("malformed"), "{}", err.message());
        assert!(Verifier::from_bytes(b"short").is_err());
        assert!(new_claims("u", "a", BTreeMap::new(), vec![Scope::Read], None, 0).is_err());
        assert!(new_claims("u", "a", BTreeMap::new(), vec![], None, 60).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_ttl("15m").unwrap(), 900);
        assert_eq!(parse_ttl("900").unwrap(), 900);
        assert_eq!(parse_ttl("2h").unwrap(), 7200);
        assert!(parse_ttl("5y").is_err());
        assert!(parse_ttl("m").is_err());
    }
}
