//! OIDC identity tokens for sandboxes that ask for one (`include_oidc_identity_token`,
//! Modal JS's `includeOidcIdentityToken`): as on Modal, the sandbox finds a signed JWT in
//! `MODAL_IDENTITY_TOKEN` that names it and its app, for a service that trusts this
//! sandboxd to check who is calling. Signed with an Ed25519 key of sandboxd's own (kept in
//! the state dir, never the key of its other tokens), published as a JWKS at
//! `/.well-known/jwks.json` with an OpenID discovery document beside it, so a verifier
//! needs nothing but the issuer's URL.

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use std::path::Path;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub struct Oidc {
    key: Ed25519KeyPair,
    /// The key's id: the first 16 hex digits of its public key's SHA-256.
    kid: String,
}

/// What a token says of the sandbox it was issued to (Modal's claims, as far as
/// sandboxd has them).
#[derive(Serialize, Debug)]
pub struct Identity {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub app_id: String,
    pub app_name: String,
    pub environment_name: String,
    pub sandbox_id: String,
    pub container_id: String,
}

impl Oidc {
    /// The key in `path` (PKCS#8), made there (mode 0600) the first time.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let der = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|_| anyhow::anyhow!("generating the OIDC signing key"))?;
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .and_then(|mut f| f.write_all(doc.as_ref()))
                    .with_context(|| format!("writing {}", path.display()))?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let key = Ed25519KeyPair::from_pkcs8(&der)
            .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 key: {e}", path.display()))?;
        let kid = crate::images::hex_digest(key.public_key().as_ref())[..16].to_string();
        Ok(Self { key, kid })
    }

    /// A signed token (EdDSA) with these claims.
    pub fn token(&self, claims: &Identity) -> String {
        let header = serde_json::json!({ "alg": "EdDSA", "typ": "JWT", "kid": self.kid });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let sig = self.key.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    /// The public key as a JSON Web Key Set.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.kid,
            "x": B64.encode(self.key.public_key().as_ref()),
        }]})
    }
}

/// OpenID discovery for `issuer`: where its keys are, what it signs with.
pub fn discovery(issuer: &str) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
    })
}

/// The issuer a client reached sandboxd at: `http(s)://` and its Host, when that is a
/// plain host[:port] (anything else: 127.0.0.1).
pub fn issuer(host: &str, tls: bool) -> String {
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    let host = if plain { host } else { "127.0.0.1" };
    format!("{}://{host}", if tls { "https" } else { "http" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_the_published_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oidc.pk8");
        let o = Oidc::load_or_create(&path).unwrap();
        let again = Oidc::load_or_create(&path).unwrap();
        assert_eq!(o.kid, again.kid, "the key is kept");
        let claims = Identity {
            iss: issuer("127.0.0.1:1234", false),
            aud: "x".into(),
            sub: "s".into(),
            iat: 1,
            nbf: 1,
            exp: 2,
            app_id: "ap-1".into(),
            app_name: "a".into(),
            environment_name: "main".into(),
            sandbox_id: "sb-1".into(),
            container_id: "ta-1".into(),
        };
        let t = o.token(&claims);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let jwks = o.jwks();
        let x = B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, x);
        public
            .verify(input.as_bytes(), &B64.decode(sig).unwrap())
            .expect("signature");
        let mut forged = input.to_string();
        forged.push('x');
        assert!(public
            .verify(forged.as_bytes(), &B64.decode(sig).unwrap())
            .is_err());
        assert_eq!(issuer("evil/path", true), "https://127.0.0.1");
    }
}
