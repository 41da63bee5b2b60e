//! What the playground page gets from the server that serves it: `GET
//! /__sandboxd/config.json`, same-origin only, and the npm package at `/pkg`.
//!
//! Two modes. On a laptop (no signing key), the server's own workspace credential, as
//! before. With a signing key (`serve --signing-key`, or a gateway serving `--www`), a
//! scoped token per visitor and never the server's credential: each browser gets a visitor
//! id in an HttpOnly, SameSite=Strict cookie (signed, so it cannot be forged or picked),
//! and each request for the config mints a short token for that visitor (sub
//! `visitor-<id>`, tag `visitor=<id>`, scopes create/exec/fs/read/terminate). The page asks
//! again before the token expires (the SDK's `getToken`), and the cookie keeps it the same
//! visitor, with the same sandboxes, across reloads.

use crate::gateway::PolicyArgs;
use crate::tokens::{self, Scope, Signer};
use anyhow::{Context, Result};
use axum::response::IntoResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The app the playground's sandboxes live in.
pub const APP: &str = "modal-wasm-playground";
/// Lifetime of a visitor's token; the page refreshes it before it runs out.
const VISITOR_TTL_SECS: u64 = 15 * 60;
/// Lifetime of the visitor cookie.
const VISITOR_COOKIE_SECS: u64 = 24 * 60 * 60;
const COOKIE: &str = "sandboxd_visitor";
const VISITOR_SCOPES: [Scope; 5] = [
    Scope::Create,
    Scope::Exec,
    Scope::Fs,
    Scope::Read,
    Scope::Terminate,
];

/// What the config endpoint hands out.
pub enum Credential {
    /// The server's own workspace credential (single user, loopback only).
    Workspace {
        token_id: String,
        token_secret: String,
    },
    /// A scoped token per visitor.
    Visitors(VisitorTokens),
}

/// Mints visitor tokens with the server's HS256 signing key.
pub struct VisitorTokens {
    signer: Signer,
    cookie_key: Vec<u8>,
    secure: bool,
}

impl VisitorTokens {
    /// From `--signing-key`, which must be an HS256 secret (a server holding only an Ed25519
    /// public key cannot mint; its app's backend does).
    pub fn new(policy: &PolicyArgs, secure: bool) -> Result<VisitorTokens> {
        let path = policy
            .signing_key
            .as_deref()
            .context("per-visitor tokens need --signing-key")?;
        let key = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if String::from_utf8_lossy(&key).contains("-----BEGIN") {
            anyhow::bail!(
                "the playground mints visitor tokens with an HS256 signing key; with an Ed25519 key, mint them in your own backend"
            );
        }
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.trim_ascii_end())
            .expect("HMAC takes keys of any size");
        mac.update(b"modal-wasm playground visitors v1");
        Ok(VisitorTokens {
            signer: Signer::from_bytes(&key)?,
            cookie_key: mac.finalize().into_bytes().to_vec(),
            secure,
        })
    }

    fn mac(&self, id: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.cookie_key)
            .expect("HMAC takes keys of any size");
        mac.update(id.as_bytes());
        B64.encode(&mac.finalize().into_bytes()[..16])
    }

    /// The visitor id in a valid cookie.
    fn visitor_of(&self, headers: &http::HeaderMap) -> Option<String> {
        let cookies = headers.get(http::header::COOKIE)?.to_str().ok()?;
        let value = cookies
            .split(';')
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)?
            .1;
        let (id, mac) = value.split_once('.')?;
        crate::auth::constant_time_eq(self.mac(id).as_bytes(), mac.as_bytes())
            .then(|| id.to_string())
    }

    fn cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={id}.{}; Path=/__sandboxd; Max-Age={VISITOR_COOKIE_SECS}; HttpOnly; SameSite=Strict{secure}",
            self.mac(id)
        )
    }

    /// A token for the visitor of `headers` (a new visitor if it has no valid cookie),
    /// and the cookie to set for a new one.
    fn mint(&self, headers: &http::HeaderMap) -> Result<(serde_json::Value, Option<String>)> {
        let (id, fresh) = match self.visitor_of(headers) {
            Some(id) => (id, false),
            None => {
                let bytes: [u8; 12] = rand::random();
                (B64.encode(bytes), true)
            }
        };
        let claims = tokens::new_claims(
            &format!("visitor-{id}"),
            APP,
            BTreeMap::from([("visitor".to_string(), id.clone())]),
            VISITOR_SCOPES.to_vec(),
            None,
            VISITOR_TTL_SECS,
        )?;
        let body = serde_json::json!({
            "token": self.signer.sign(&claims)?,
            "expiresAt": claims.exp * 1000,
            "app": APP,
            "visitor": id,
        });
        Ok((body, fresh.then(|| self.cookie(&id))))
    }
}

/// True when a request comes from a page of this server itself: no foreign Origin, and
/// not marked cross-site by the browser.
fn same_origin(headers: &http::HeaderMap) -> bool {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let origin_ok = headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                == Some(host)
        });
    origin_ok && matches!(fetch_site, "same-origin" | "none")
}

/// `GET /__sandboxd/config.json`.
async fn config(cred: Arc<Credential>, headers: http::HeaderMap) -> axum::response::Response {
    if !same_origin(&headers) {
        return (
            http::StatusCode::FORBIDDEN,
            "the playground's credential is only given to pages served by this server\n",
        )
            .into_response();
    }
    let (body, cookie) = match &*cred {
        Credential::Workspace {
            token_id,
            token_secret,
        } => (
            serde_json::json!({ "tokenId": token_id, "tokenSecret": token_secret }),
            None,
        ),
        Credential::Visitors(v) => match v.mint(&headers) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("minting a visitor token: {e:#}");
                return (
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    "could not mint a token\n",
                )
                    .into_response();
            }
        },
    };
    let mut resp = axum::Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    if let Some(c) = cookie.and_then(|c| http::HeaderValue::from_str(&c).ok()) {
        h.insert(http::header::SET_COOKIE, c);
    }
    resp
}

/// The playground's files in `dir` (`serve --www`, `gateway --www`). The bundler names what
/// it writes under `assets/` by content hash, so those are cached for good (a returning
/// visitor loads the page's ~1.5 MB of code and wasm from cache); every other file, the
/// HTML that names them first, is revalidated each time so a new build is seen at once.
pub fn site(dir: PathBuf) -> axum::Router {
    axum::Router::new()
        .fallback_service(tower_http::services::ServeDir::new(dir))
        .layer(axum::middleware::from_fn(cache_policy))
}

async fn cache_policy(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let hashed = req.uri().path().starts_with("/assets/");
    let mut resp = next.run(req).await;
    let status = resp.status();
    if status.is_success() || status == http::StatusCode::NOT_MODIFIED {
        let policy = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        resp.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static(policy),
        );
    }
    resp
}

/// The config endpoint (when there is a credential to give) and the package at `/pkg`.
pub fn routes(cred: Option<Credential>, pkg: Option<PathBuf>) -> axum::Router {
    let mut router = axum::Router::new();
    if let Some(cred) = cred {
        let cred = Arc::new(cred);
        router = router.route(
            "/__sandboxd/config.json",
            axum::routing::get(move |headers: http::HeaderMap| config(cred.clone(), headers)),
        );
    }
    if let Some(pkg) = pkg {
        router = router.nest_service("/pkg", tower_http::services::ServeDir::new(pkg));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashed build output is cached for good; the page and 404s are not.
    #[tokio::test]
    async fn hashed_assets_are_immutable_and_the_page_is_revalidated() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("assets")).unwrap();
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(dir.path().join("assets/main-Ab12.js"), "x").unwrap();
        let get = |path: &str| {
            let req = http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            site(dir.path().to_path_buf()).oneshot(req)
        };
        let cache = |r: &axum::response::Response| {
            r.headers()
                .get(http::header::CACHE_CONTROL)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let asset = get("/assets/main-Ab12.js").await.unwrap();
        assert_eq!(asset.status(), 200);
        assert_eq!(
            cache(&asset).as_deref(),
            Some("public, max-age=31536000, immutable")
        );
        for page in ["/", "/index.html"] {
            let r = get(page).await.unwrap();
            assert_eq!(r.status(), 200, "{page}");
            assert_eq!(cache(&r).as_deref(), Some("no-cache"), "{page}");
        }
        let missing = get("/assets/gone-Zz99.js").await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(cache(&missing), None);
    }

    fn visitors() -> (VisitorTokens, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k");
        std::fs::write(&key, "a-signing-key-of-more-than-32-bytes-for-tests\n").unwrap();
        let mut policy = PolicyArgs::for_tests();
        policy.signing_key = Some(key);
        (VisitorTokens::new(&policy, false).unwrap(), dir)
    }

    #[test]
    fn visitors_keep_their_id_and_cannot_forge_one() {
        let (v, dir) = visitors();
        let (first, cookie) = v.mint(&http::HeaderMap::new()).unwrap();
        let cookie = cookie.expect("a new visitor gets a cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let id = first["visitor"].as_str().unwrap().to_string();
        let mut h = http::HeaderMap::new();
        let pair = cookie.split(';').next().unwrap();
        h.insert(
            http::header::COOKIE,
            format!("a=b; {pair}").parse().unwrap(),
        );
        let (again, none) = v.mint(&h).unwrap();
        assert_eq!(again["visitor"].as_str().unwrap(), id, "the same visitor");
        assert!(none.is_none());
        // the token verifies and is the visitor's
        let verifier = tokens::Verifier::from_file(&dir.path().join("k")).unwrap();
        let c = verifier.verify(again["token"].as_str().unwrap()).unwrap();
        assert_eq!(c.sub, format!("visitor-{id}"));
        assert_eq!(c.tags["visitor"], id);
        assert_eq!(c.app, APP);
        // a forged cookie (someone else's id without its mac) is a new visitor
        let mut forged = http::HeaderMap::new();
        forged.insert(
            http::header::COOKIE,
            format!("{COOKIE}={id}.AAAA").parse().unwrap(),
        );
        let (other, set) = v.mint(&forged).unwrap();
        assert_ne!(other["visitor"].as_str().unwrap(), id);
        assert!(set.is_some());
    }

    #[test]
    fn only_same_origin_pages_get_a_credential() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::HOST, "127.0.0.1:8787".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(
            http::header::ORIGIN,
            "http://127.0.0.1:8787".parse().unwrap(),
        );
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(http::header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
        h.remove(http::header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&h));
    }
}
