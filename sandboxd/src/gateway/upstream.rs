//! The gateway's side towards the upstream: Modal's API or a remote sandboxd over verified
//! TLS (h2, keepalive, 100 MiB messages), or, for `sandboxd serve --signing-key`, the local
//! sandboxd's own services in this process. The workspace credential and the
//! `AuthTokenGet` token go on every control-plane call; command-router access is fetched
//! per sandbox; sandbox tags and app ids are cached briefly. Upstream statuses reach clients
//! with their code, message and details only (never upstream metadata).

use super::policy;
use crate::sync::lock;
use modal_proto::client as pb;
use modal_proto::client::modal_client_client::ModalClientClient;
use modal_proto::task_command_router::task_command_router_client::TaskCommandRouterClient;
use modal_proto::terminal::terminal_client::TerminalClient;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

/// Modal's clients allow messages up to 100 MiB.
pub const MAX_MESSAGE: usize = 100 << 20;
/// How long sandbox tags and app ids are trusted before being looked up again.
const TAGS_TTL: Duration = Duration::from_secs(5);
const APP_TTL: Duration = Duration::from_secs(60);
/// Refresh an upstream JWT this long before it expires (at most half its lifetime).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// `x-modal-client-type` towards the upstream: the gateway speaks as Modal's JS client.
const CLIENT_TYPE: &str = "8";
const DEFAULT_CLIENT_VERSION: &str = "1.0.0";

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of a transport. A concrete type rather than `BoxError`: with a boxed error
/// as the service's error, rustc cannot prove tonic's futures `Send` in the async service
/// methods ("implementation of `From` is not general enough").
#[derive(Debug)]
pub struct TransportError(pub BoxError);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A gRPC transport: a network channel, or a service in this process.
pub type Svc = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;
pub type Cp = ModalClientClient<Svc>;
pub type Tcr = TaskCommandRouterClient<Svc>;

fn boxed_channel(c: Channel) -> Svc {
    use tower::ServiceExt;
    Svc::new(c.map_err(|e| TransportError(Box::new(e))))
}

/// Where the upstream is.
pub enum Dial {
    /// Over the network (`url`: https, or http on loopback).
    Remote {
        url: String,
        ca_pem: Option<Vec<u8>>,
    },
    /// In this process: both services of a local sandboxd, whatever router url it hands out.
    Local(Svc),
}

pub struct UpstreamConfig {
    pub dial: Dial,
    pub token_id: String,
    pub token_secret: String,
    pub environment: String,
    /// Hosts command routers may be at (`*.example.com` or exact).
    pub router_hosts: Vec<String>,
}

struct Cached<T> {
    value: T,
    until: Instant,
}

/// Command-router access for one sandbox: where its router is, and its JWT.
#[derive(Clone)]
struct Access {
    svc: Svc,
    origin: http::Uri,
    jwt: String,
}

/// The clients of one command router: Modal's service, and the project's own extension
/// beside it (`modal_wasm.terminal.v1.Terminal`).
pub trait RouterClient {
    fn at(svc: Svc, origin: http::Uri) -> Self;
}

impl RouterClient for Tcr {
    fn at(svc: Svc, origin: http::Uri) -> Self {
        TaskCommandRouterClient::with_origin(svc, origin)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }
}

impl RouterClient for TerminalClient<Svc> {
    fn at(svc: Svc, origin: http::Uri) -> Self {
        TerminalClient::with_origin(svc, origin)
    }
}

pub struct Upstream {
    cfg: UpstreamConfig,
    cp: Cp,
    /// Async (see `crate::sync`): one fetch at a time, the others wait for its token.
    auth_token: tokio::sync::Mutex<Option<Cached<String>>>,
    access: Mutex<HashMap<String, Cached<Access>>>,
    channels: Mutex<HashMap<String, Svc>>,
    tags: Mutex<HashMap<String, Cached<BTreeMap<String, String>>>>,
    apps: Mutex<HashMap<String, Cached<String>>>,
}

/// A status as clients may see it: code, message, details; nothing else of the upstream.
pub fn clean(st: Status) -> Status {
    Status::with_details(
        st.code(),
        st.message().to_string(),
        st.details().to_vec().into(),
    )
}

/// When a JWT should be replaced: before its `exp`, by at most half its lifetime.
fn refresh_time(jwt: &str) -> Instant {
    let now_secs = crate::auth::now_secs();
    let exp = jwt_exp(jwt).unwrap_or(now_secs + 600);
    let left = Duration::from_secs(exp.saturating_sub(now_secs));
    Instant::now() + left - REFRESH_MARGIN.min(left / 2)
}

fn jwt_exp(jwt: &str) -> Option<u64> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("exp")?.as_u64()
}

/// The router url to dial. Like Modal's JS and Go clients: an upstream control plane in
/// plaintext on loopback hands out `https://` router urls (which JS clients demand) that are
/// dialed in plaintext (a local sandboxd without TLS).
fn plaintext_on_loopback(cp_url: &str, router_url: &str) -> String {
    let loopback = |u: &str| {
        let host = u
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(u)
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        host == "localhost" || host.starts_with("127.")
    };
    match router_url.strip_prefix("https://") {
        Some(rest) if cp_url.starts_with("http://") && loopback(cp_url) && loopback(router_url) => {
            format!("http://{rest}")
        }
        _ => router_url.to_string(),
    }
}

fn host_allowed(patterns: &[String], host: &str) -> bool {
    patterns.iter().any(|p| match p.strip_prefix("*.") {
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        None => p == host,
    })
}

/// The router hosts allowed by default: the upstream's host, and for a named host every
/// host of its parent domain (`api.modal.com` gives `*.modal.com`).
pub fn default_router_hosts(upstream: &http::Uri) -> Vec<String> {
    let host = upstream.host().unwrap_or("").to_string();
    let mut v = vec![host.clone()];
    let is_name = host.parse::<std::net::IpAddr>().is_err() && host.contains('.');
    if is_name {
        if let Some((_, parent)) = host.split_once('.') {
            if parent.contains('.') {
                v.push(format!("*.{parent}"));
            }
        }
    }
    v
}

impl Upstream {
    pub fn new(cfg: UpstreamConfig) -> anyhow::Result<Upstream> {
        let svc = match &cfg.dial {
            Dial::Remote { url, ca_pem } => {
                boxed_channel(Self::endpoint(ca_pem, url, None)?.connect_lazy())
            }
            Dial::Local(svc) => svc.clone(),
        };
        let cp = ModalClientClient::with_origin(svc, Self::origin(&cfg))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(Upstream {
            cfg,
            cp,
            auth_token: tokio::sync::Mutex::new(None),
            access: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            tags: Mutex::new(HashMap::new()),
            apps: Mutex::new(HashMap::new()),
        })
    }

    pub fn environment(&self) -> &str {
        &self.cfg.environment
    }

    fn origin(cfg: &UpstreamConfig) -> http::Uri {
        match &cfg.dial {
            Dial::Remote { url, .. } => url.parse().unwrap_or_default(),
            Dial::Local(_) => http::Uri::from_static("http://127.0.0.1"),
        }
    }

    fn name(&self) -> &str {
        match &self.cfg.dial {
            Dial::Remote { url, .. } => url,
            Dial::Local(_) => "(this sandboxd)",
        }
    }

    /// An endpoint for `url` (dialing `ipv4` instead of the url's host when given, the
    /// host kept for TLS and `:authority`): h2 keepalive, no request deadline.
    fn endpoint(
        ca_pem: &Option<Vec<u8>>,
        url: &str,
        ipv4: Option<&str>,
    ) -> anyhow::Result<Endpoint> {
        let uri: http::Uri = url.parse()?;
        let host = uri.host().unwrap_or("").to_string();
        let https = uri.scheme_str() == Some("https");
        let dial = match ipv4.filter(|a| !a.is_empty()) {
            Some(ip) => {
                let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
                format!("{}://{ip}:{port}", uri.scheme_str().unwrap_or("https"))
            }
            None => url.to_string(),
        };
        let mut ep = Endpoint::from_shared(dial)?
            .origin(uri.clone())
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .keep_alive_while_idle(true)
            .http2_adaptive_window(true);
        if https {
            let mut tls = ClientTlsConfig::new().with_native_roots().domain_name(host);
            if let Some(pem) = ca_pem {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            ep = ep.tls_config(tls)?;
        }
        Ok(ep)
    }

    /// The `AuthTokenGet` JWT of the gateway's credential, fetched and refreshed here.
    async fn auth_token(&self, fresh: bool) -> Result<String, Status> {
        let mut slot = self.auth_token.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !fresh && Instant::now() < c.until) {
            return Ok(c.value.clone());
        }
        let mut req = Request::new(pb::AuthTokenGetRequest {});
        self.credential(req.metadata_mut(), None)?;
        let token = self
            .cp
            .clone()
            .auth_token_get(req)
            .await
            .map_err(|e| self.upstream_refused(e))?
            .into_inner()
            .token;
        *slot = Some(Cached {
            until: refresh_time(&token),
            value: token.clone(),
        });
        Ok(token)
    }

    /// The workspace credential and client identification, and what a client may pass on:
    /// its idempotency key and retry count (every other client header is dropped).
    fn credential(&self, md: &mut MetadataMap, client: Option<&MetadataMap>) -> Result<(), Status> {
        let bad = |_| Status::internal("the gateway's credential is not a valid header value");
        md.insert(
            "x-modal-token-id",
            MetadataValue::try_from(&self.cfg.token_id).map_err(bad)?,
        );
        md.insert(
            "x-modal-token-secret",
            MetadataValue::try_from(&self.cfg.token_secret).map_err(bad)?,
        );
        md.insert(
            "x-modal-client-type",
            MetadataValue::from_static(CLIENT_TYPE),
        );
        let mut version = MetadataValue::from_static(DEFAULT_CLIENT_VERSION);
        if let Some(c) = client {
            for key in ["x-idempotency-key", "x-retry-attempt"] {
                if let Some(v) = c.get(key).filter(|v| v.len() <= 128) {
                    md.insert(key, v.clone());
                }
            }
            if let Some(v) = c.get("x-modal-client-version").filter(|v| v.len() <= 32) {
                version = v.clone();
            }
        }
        md.insert("x-modal-client-version", version);
        Ok(())
    }

    /// The upstream refused the gateway's own credential: the operator must act, the
    /// client can only wait.
    fn upstream_refused(&self, st: Status) -> Status {
        if st.code() == Code::Unauthenticated || st.code() == Code::PermissionDenied {
            tracing::error!(
                "the upstream {} refused this gateway's credential ({}): check MODAL_TOKEN_ID / MODAL_TOKEN_SECRET",
                self.name(),
                st.message()
            );
            return Status::unavailable(
                "the gateway cannot reach its upstream with its credential; the operator has been told (see the gateway's log)",
            );
        }
        clean(st)
    }

    /// One control-plane call with the gateway's credential; on UNAUTHENTICATED the auth
    /// token is fetched again once, then the refusal is the operator's problem.
    pub async fn cp<T, R, F, Fut>(&self, client: &MetadataMap, msg: T, call: F) -> Result<R, Status>
    where
        T: Clone,
        F: Fn(Cp, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let mut fresh = false;
        loop {
            let mut req = Request::new(msg.clone());
            self.credential(req.metadata_mut(), Some(client))?;
            let token = self.auth_token(fresh).await?;
            req.metadata_mut().insert(
                "x-modal-auth-token",
                MetadataValue::try_from(&token)
                    .map_err(|_| Status::internal("bad upstream auth token"))?,
            );
            match call(self.cp.clone(), req).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(st) if st.code() == Code::Unauthenticated && !fresh => fresh = true,
                Err(st) => return Err(self.upstream_refused(st)),
            }
        }
    }

    fn router_channel(&self, url: &str, ipv4: &str) -> Result<(Svc, http::Uri), Status> {
        let (cp_url, ca_pem) = match &self.cfg.dial {
            Dial::Local(svc) => {
                let uri = url
                    .parse()
                    .unwrap_or_else(|_| http::Uri::from_static("http://127.0.0.1"));
                return Ok((svc.clone(), uri));
            }
            Dial::Remote { url, ca_pem } => (url, ca_pem),
        };
        let url = plaintext_on_loopback(cp_url, url);
        let url = url.as_str();
        let uri: http::Uri = url
            .parse()
            .map_err(|_| Status::unavailable("the upstream handed out a bad command router url"))?;
        let host = uri.host().unwrap_or("");
        if !host_allowed(&self.cfg.router_hosts, host) {
            tracing::error!(
                "the upstream handed out a command router at {host}, which is not an allowed router host (--allow-router-host)"
            );
            return Err(Status::unavailable(
                "the upstream's command router is not on this gateway's allowlist; the operator has been told",
            ));
        }
        let key = format!("{url} {ipv4}");
        let svc = {
            let mut channels = lock(&self.channels);
            if channels.len() > 1024 {
                channels.clear();
            }
            match channels.get(&key) {
                Some(c) => c.clone(),
                None => {
                    let c = boxed_channel(
                        Self::endpoint(ca_pem, url, Some(ipv4))
                            .map_err(|e| Status::unavailable(format!("command router: {e}")))?
                            .connect_lazy(),
                    );
                    channels.insert(key, c.clone());
                    c
                }
            }
        };
        Ok((svc, uri))
    }

    async fn access(&self, sandbox_id: &str, fresh: bool) -> Result<Access, Status> {
        if !fresh {
            if let Some(a) = lock(&self.access)
                .get(sandbox_id)
                .filter(|c| Instant::now() < c.until)
            {
                return Ok(a.value.clone());
            }
        }
        let req = pb::SandboxGetCommandRouterAccessRequest {
            target: Some(
                pb::sandbox_get_command_router_access_request::Target::SandboxId(
                    sandbox_id.to_string(),
                ),
            ),
        };
        let resp = self
            .cp(&MetadataMap::new(), req, |mut c, r| async move {
                c.sandbox_get_command_router_access(r).await
            })
            .await?;
        let (svc, origin) = self.router_channel(&resp.url, &resp.worker_ipv4_address)?;
        let access = Access {
            svc,
            origin,
            jwt: resp.jwt,
        };
        let mut all = lock(&self.access);
        if all.len() > 10_000 {
            let now = Instant::now();
            all.retain(|_, c| now < c.until);
        }
        all.insert(
            sandbox_id.to_string(),
            Cached {
                until: refresh_time(&access.jwt),
                value: access.clone(),
            },
        );
        Ok(access)
    }

    /// One command-router call for `sandbox_id` with the upstream's router JWT; on
    /// UNAUTHENTICATED the access is fetched again once.
    pub async fn router<T, R, F, Fut>(&self, sandbox_id: &str, msg: T, call: F) -> Result<R, Status>
    where
        T: Clone,
        F: Fn(Tcr, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        self.router_with(sandbox_id, msg, call).await
    }

    /// As `router`, with any client of the sandbox's router (`RouterClient`).
    pub async fn router_with<C, T, R, F, Fut>(
        &self,
        sandbox_id: &str,
        msg: T,
        call: F,
    ) -> Result<R, Status>
    where
        C: RouterClient,
        T: Clone,
        F: Fn(C, Request<T>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let mut fresh = false;
        loop {
            let access = self.access(sandbox_id, fresh).await?;
            let mut req = Request::new(msg.clone());
            req.metadata_mut().insert(
                "authorization",
                MetadataValue::try_from(format!("Bearer {}", access.jwt))
                    .map_err(|_| Status::internal("bad upstream router jwt"))?,
            );
            match call(C::at(access.svc, access.origin), req).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(st) if st.code() == Code::Unauthenticated && !fresh => fresh = true,
                Err(st) => return Err(clean(st)),
            }
        }
    }

    /// The tags of a sandbox (cached for a few seconds).
    pub async fn tags(&self, sandbox_id: &str) -> Result<BTreeMap<String, String>, Status> {
        if let Some(c) = lock(&self.tags)
            .get(sandbox_id)
            .filter(|c| Instant::now() < c.until)
        {
            return Ok(c.value.clone());
        }
        let req = pb::SandboxTagsGetRequest {
            sandbox_id: sandbox_id.to_string(),
        };
        let v1 = crate::ids::is_v1_sandbox_id(sandbox_id);
        let resp = self
            .cp(&MetadataMap::new(), req, |mut c, r| async move {
                if v1 {
                    c.sandbox_tags_get(r).await
                } else {
                    c.sandbox_tags_get_v2(r).await
                }
            })
            .await?;
        let tags = policy::tags_map(&resp.tags);
        self.remember_tags(sandbox_id, tags.clone());
        Ok(tags)
    }

    /// Tags known from a reply (a create, a tags-set), so the next check needs no lookup.
    pub fn remember_tags(&self, sandbox_id: &str, tags: BTreeMap<String, String>) {
        let mut all = lock(&self.tags);
        if all.len() > 10_000 {
            let now = Instant::now();
            all.retain(|_, c| now < c.until);
        }
        all.insert(
            sandbox_id.to_string(),
            Cached {
                value: tags,
                until: Instant::now() + TAGS_TTL,
            },
        );
    }

    /// The id of the app named `name` in the gateway's environment; created when
    /// `create` (a token with the create scope asked for it).
    pub async fn app_id(&self, name: &str, create: bool) -> Result<String, Status> {
        if let Some(c) = lock(&self.apps)
            .get(name)
            .filter(|c| Instant::now() < c.until)
        {
            return Ok(c.value.clone());
        }
        let creation = if create {
            pb::ObjectCreationType::CreateIfMissing
        } else {
            pb::ObjectCreationType::Unspecified
        };
        let req = pb::AppGetOrCreateRequest {
            app_name: name.to_string(),
            environment_name: self.cfg.environment.clone(),
            object_creation_type: creation as i32,
        };
        let id = self
            .cp(&MetadataMap::new(), req, |mut c, r| async move {
                c.app_get_or_create(r).await
            })
            .await?
            .app_id;
        let mut apps = lock(&self.apps);
        if apps.len() > 1024 {
            apps.clear();
        }
        apps.insert(
            name.to_string(),
            Cached {
                value: id.clone(),
                until: Instant::now() + APP_TTL,
            },
        );
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_hosts() {
        let d = default_router_hosts(&"https://api.modal.com".parse().unwrap());
        assert_eq!(
            d,
            vec!["api.modal.com".to_string(), "*.modal.com".to_string()]
        );
        assert!(host_allowed(&d, "w-1.modal.com"));
        assert!(!host_allowed(&d, "modal.com.evil.net"));
        assert!(!host_allowed(&d, "evilmodal.com"));
        let local = default_router_hosts(&"https://127.0.0.1:9".parse().unwrap());
        assert_eq!(local, vec!["127.0.0.1".to_string()]);
        assert!(!host_allowed(&local, "127.0.0.2"));
    }

    #[test]
    fn loopback_routers_of_a_plaintext_upstream_are_dialed_in_plaintext() {
        let p = plaintext_on_loopback;
        assert_eq!(
            p("http://127.0.0.1:9", "https://127.0.0.1:9"),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            p("https://127.0.0.1:9", "https://127.0.0.1:9"),
            "https://127.0.0.1:9"
        );
        assert_eq!(
            p("http://127.0.0.1:9", "https://r.example.com"),
            "https://r.example.com"
        );
        assert_eq!(
            p("https://api.modal.com", "https://w.modal.com"),
            "https://w.modal.com"
        );
    }

    #[test]
    fn statuses_lose_upstream_metadata() {
        let mut st = Status::not_found("no such sandbox");
        st.metadata_mut()
            .insert("x-upstream-secret", MetadataValue::from_static("s3cr3t"));
        let c = clean(st);
        assert_eq!((c.code(), c.message()), (Code::NotFound, "no such sandbox"));
        assert!(c.metadata().is_empty());
    }
}
