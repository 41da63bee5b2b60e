//! Credentials and tokens: the workspace token pair that control-plane calls carry, and
//! HS256 JWTs for AuthTokenGet and for task command router access.
//!
//! JWTs are written here with `hmac` + `sha2` (a dozen lines) rather than a JWT crate,
//! to keep a C toolchain (ring) out of the build for one algorithm.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};
use tonic::{metadata::MetadataMap, Status};

type HmacSha256 = Hmac<Sha256>;

/// The configured workspace credential and the key that signs tokens.
#[derive(Clone)]
pub struct Auth {
    pub token_id: String,
    pub token_secret: String,
    key: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// `client` for AuthTokenGet tokens, `task:<task id>` for command router access.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Auth {
    pub fn new(token_id: String, token_secret: String, key: Vec<u8>) -> Self {
        Self {
            token_id,
            token_secret,
            key,
        }
    }

    /// Control-plane calls must carry the configured token id and secret.
    pub fn check_workspace(&self, md: &MetadataMap) -> Result<(), Status> {
        let get = |k: &str| md.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (id, secret) = (get("x-modal-token-id"), get("x-modal-token-secret"));
        if id.is_empty() || secret.is_empty() {
            return Err(Status::unauthenticated(
                "missing credentials: set x-modal-token-id and x-modal-token-secret (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET)",
            ));
        }
        if !constant_time_eq(id.as_bytes(), self.token_id.as_bytes())
            || !constant_time_eq(secret.as_bytes(), self.token_secret.as_bytes())
        {
            return Err(Status::unauthenticated(
                "invalid token id or secret for this sandboxd",
            ));
        }
        Ok(())
    }

    pub fn sign(&self, sub: &str, ttl_secs: u64) -> String {
        let iat = now_secs();
        let claims = Claims {
            sub: sub.to_string(),
            iat,
            exp: iat + ttl_secs,
        };
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        format!("{signing_input}.{}", B64.encode(self.mac(&signing_input)))
    }

    fn mac(&self, input: &str) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Verify signature and expiry; returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, Status> {
        let bad = || Status::unauthenticated("invalid or expired command router token");
        let (signing_input, sig) = token.rsplit_once('.').ok_or_else(bad)?;
        let sig = B64.decode(sig).map_err(|_| bad())?;
        let mut mac = HmacSha256::new_from_slice(&self.key).map_err(|_| bad())?;
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&sig).map_err(|_| bad())?;
        let payload = signing_input.split('.').nth(1).ok_or_else(bad)?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(payload).map_err(|_| bad())?).map_err(|_| bad())?;
        if claims.exp <= now_secs() {
            return Err(bad());
        }
        Ok(claims)
    }

    /// Task command router calls carry `authorization: Bearer <jwt>` signed for one task.
    pub fn check_task(&self, md: &MetadataMap, task_id: &str) -> Result<(), Status> {
        let header = md
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <jwt>"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <jwt>`"))?;
        let claims = self.verify(token.trim())?;
        if claims.sub != format!("task:{task_id}") {
            return Err(Status::unauthenticated(format!(
                "this token is not valid for task {task_id}"
            )));
        }
        Ok(())
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new("ak-1".into(), "as-1".into(), b"key".to_vec())
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let a = auth();
        let t = a.sign("task:ta-1", 60);
        assert_eq!(a.verify(&t).unwrap().sub, "task:ta-1");
        let mut tampered = t.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert!(a.verify(&tampered).is_err());
        let other = Auth::new("ak-1".into(), "as-1".into(), b"other".to_vec());
        assert!(other.verify(&t).is_err());
        assert!(a.verify(&a.sign("client", 0)).is_err(), "expired");
    }

    #[test]
    fn task_tokens_are_bound_to_their_task() {
        let a = auth();
        let mut md = MetadataMap::new();
        md.insert(
            "authorization",
            format!("Bearer {}", a.sign("task:ta-1", 60))
                .parse()
                .unwrap(),
        );
        assert!(a.check_task(&md, "ta-1").is_ok());
        assert!(a.check_task(&md, "ta-2").is_err());
        assert!(a.check_task(&MetadataMap::new(), "ta-1").is_err());
    }
}
