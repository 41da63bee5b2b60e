//! Stateless proofs the gateway hands to clients and takes back, so any replica can check
//! them (replicas share the upstream credential, from which both keys are derived):
//!
//! - sealed object ids: image, secret and volume ids in replies become `<id>~<mac>`, the
//!   mac binding the id to the token's tenant (app and tags). A request may name only ids
//!   sealed for its own tenant, so one tenant cannot create a sandbox from another's
//!   snapshot, or mount a workspace volume or secret the gateway never gave out;
//! - router tickets: the command-router "jwt" the gateway hands out in place of the
//!   upstream's. It carries the token's claims and the sandbox and task it was issued for;
//!   the upstream router url and jwt never leave the gateway.

use crate::tokens::Claims;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;

type HmacSha256 = Hmac<Sha256>;

/// Separates an id from its seal; not a character of Modal's ids.
const SEP: char = '~';
/// Bytes of the mac kept in a sealed id (128 bits).
const MAC_BYTES: usize = 16;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The keys, derived from the upstream credential's secret.
pub struct Seals {
    ids: [u8; 32],
    tickets_enc: EncodingKey,
    tickets_dec: DecodingKey,
}

/// What a ticket is issued for, besides the token's claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ticket {
    #[serde(flatten)]
    pub claims: Claims,
    /// The sandbox the ticket reaches.
    pub sbx: String,
    /// Its task: every command-router call names it.
    pub task: String,
}

impl Seals {
    pub fn new(upstream_secret: &str) -> Seals {
        let root = upstream_secret.as_bytes();
        let ids = hmac(root, &[b"modal-wasm gateway: sealed ids v1"]);
        let tickets = hmac(root, &[b"modal-wasm gateway: router tickets v1"]);
        Seals {
            ids,
            tickets_enc: EncodingKey::from_secret(&tickets).expect("an HMAC key"),
            tickets_dec: DecodingKey::from_secret(&tickets).expect("an HMAC key"),
        }
    }

    fn tenant(c: &Claims) -> String {
        // the app and the forced tags: every token of the same tenant seals alike
        let mut s = c.app.clone();
        for (k, v) in &c.tags {
            s.push('\n');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }

    fn mac(&self, c: &Claims, kind: &str, id: &str) -> String {
        let m = hmac(
            &self.ids,
            &[kind.as_bytes(), Self::tenant(c).as_bytes(), id.as_bytes()],
        );
        B64.encode(&m[..MAC_BYTES])
    }

    /// `id` sealed for the token's tenant (empty stays empty).
    pub fn seal(&self, c: &Claims, kind: &str, id: &str) -> String {
        if id.is_empty() {
            return String::new();
        }
        format!("{id}{SEP}{}", self.mac(c, kind, id))
    }

    /// The id inside `sealed` if it was sealed for this tenant; PERMISSION_DENIED
    /// otherwise (an id the gateway never gave to this tenant).
    pub fn unseal(&self, c: &Claims, kind: &str, sealed: &str) -> Result<String, Status> {
        if sealed.is_empty() {
            return Ok(String::new());
        }
        let refused = || {
            Status::permission_denied(format!(
                "{kind} '{sealed}' was not issued to this token's tenant by this gateway"
            ))
        };
        let (id, mac) = sealed.rsplit_once(SEP).ok_or_else(refused)?;
        let want = self.mac(c, kind, id);
        if !crate::auth::constant_time_eq(want.as_bytes(), mac.as_bytes()) {
            return Err(refused());
        }
        Ok(id.to_string())
    }

    /// A ticket for `sandbox` / `task`, expiring with the token.
    pub fn ticket(&self, c: &Claims, sandbox: &str, task: &str) -> Result<String, Status> {
        let t = Ticket {
            claims: c.clone(),
            sbx: sandbox.to_string(),
            task: task.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &t, &self.tickets_enc)
            .map_err(|e| Status::internal(format!("signing a router ticket: {e}")))
    }

    /// The ticket of a command-router call (`authorization: Bearer <ticket>`).
    pub fn open_ticket(&self, ticket: &str) -> Result<Ticket, Status> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Ticket>(ticket, &self.tickets_dec, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                Status::unauthenticated(match e.kind() {
                    K::ExpiredSignature => "command router ticket expired: fetch fresh access",
                    _ => "invalid command router ticket",
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Scope;
    use std::collections::BTreeMap;

    fn claims(user: &str) -> Claims {
        Claims {
            sub: format!("sub-{user}"),
            app: "play".into(),
            tags: BTreeMap::from([("user".into(), user.into())]),
            scopes: vec![Scope::Exec],
            sandboxes: None,
            exp: crate::auth::now_secs() + 60,
            iat: 0,
            jti: "j".into(),
        }
    }

    #[test]
    fn sealed_ids_open_only_for_their_tenant_and_kind() {
        let s = Seals::new("as-secret");
        let (a, b) = (claims("a"), claims("b"));
        let sealed = s.seal(&a, "image", "im-123");
        assert!(sealed.starts_with("im-123~"));
        assert_eq!(s.unseal(&a, "image", &sealed).unwrap(), "im-123");
        // another token of the same tenant (other sub) opens it too
        let mut a2 = claims("a");
        a2.sub = "other".into();
        assert_eq!(s.unseal(&a2, "image", &sealed).unwrap(), "im-123");
        for bad in [
            s.unseal(&b, "image", &sealed),
            s.unseal(&a, "secret", &sealed),
            s.unseal(&a, "image", "im-123"),
            s.unseal(&a, "image", &sealed.replace("im-123", "im-124")),
            Seals::new("as-other").unseal(&a, "image", &sealed),
        ] {
            assert_eq!(bad.unwrap_err().code(), tonic::Code::PermissionDenied);
        }
        assert_eq!(s.unseal(&a, "image", "").unwrap(), "");
    }

    #[test]
    fn tickets_round_trip_and_expire() {
        let s = Seals::new("as-secret");
        let t = s.ticket(&claims("a"), "sb-1", "ta-1").unwrap();
        let opened = s.open_ticket(&t).unwrap();
        assert_eq!(
            (opened.sbx.as_str(), opened.task.as_str()),
            ("sb-1", "ta-1")
        );
        assert_eq!(opened.claims.tags["user"], "a");
        assert!(Seals::new("as-other").open_ticket(&t).is_err());
        let mut old = claims("a");
        old.exp = crate::auth::now_secs() - 1;
        let t = s.ticket(&old, "sb-1", "ta-1").unwrap();
        assert!(s.open_ticket(&t).unwrap_err().message().contains("expired"));
    }
}
