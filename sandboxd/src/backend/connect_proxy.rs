//! Connect tokens: an HTTP proxy on a host port that admits only requests carrying a
//! token issued for one sandbox's port, and forwards them into that sandbox. The token
//! may come as `Authorization: Bearer <token>`, an `x-modal-connect-token` header, or a
//! `_modal_connect_token` query parameter (for a browser's first navigation; the proxy
//! then sets a cookie so the page's own requests are admitted too).

use super::netns::NetNs;
use crate::sync::lock;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const COOKIE: &str = "modal-connect-token";
const QUERY: &str = "_modal_connect_token";

type Body = BoxBody<Bytes, hyper::Error>;

pub struct ConnectProxy {
    pub port: u16,
    pub host_port: u16,
    tokens: Arc<Mutex<HashSet<String>>>,
    task: JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("{msg}\n")))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The token a request carries, and whether it came in the query (to be made a cookie).
fn token_of<B>(req: &Request<B>) -> Option<(String, bool)> {
    let h = req.headers();
    if let Some(t) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_string(), false));
    }
    if let Some(t) = h.get("x-modal-connect-token").and_then(|v| v.to_str().ok()) {
        return Some((t.trim().to_string(), false));
    }
    if let Some(q) = req.uri().query() {
        for pair in q.split('&') {
            if let Some(t) = pair.strip_prefix(QUERY).and_then(|r| r.strip_prefix('=')) {
                return Some((t.to_string(), true));
            }
        }
    }
    for c in h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for kv in c.split(';') {
            if let Some(t) = kv
                .trim()
                .strip_prefix(COOKIE)
                .and_then(|r| r.strip_prefix('='))
            {
                return Some((t.to_string(), false));
            }
        }
    }
    None
}

/// Browsers ask before sending a token header cross-origin; the proxy answers itself
/// (the preflight carries no token), and lets the page read what it is allowed to fetch.
fn preflight<B>(req: &Request<B>) -> Option<Response<Body>> {
    if req.method() != http::Method::OPTIONS
        || !req.headers().contains_key("access-control-request-method")
    {
        return None;
    }
    let origin = req.headers().get(header::ORIGIN)?.clone();
    let mut r = text(StatusCode::NO_CONTENT, "");
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::HeaderValue::from_static("true"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
    );
    if let Some(asked) = req.headers().get("access-control-request-headers") {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        header::HeaderValue::from_static("600"),
    );
    Some(r)
}

async fn forward_admitted(
    ns: NetNs,
    port: u16,
    tokens: Arc<Mutex<HashSet<String>>>,
    mut req: Request<Incoming>,
) -> Response<Body> {
    if let Some(r) = preflight(&req) {
        return r;
    }
    let Some((token, from_query)) = token_of(&req) else {
        return text(StatusCode::UNAUTHORIZED, "missing connect token");
    };
    if !lock(&tokens).contains(&token) {
        return text(StatusCode::FORBIDDEN, "invalid connect token");
    }
    req.headers_mut().remove("x-modal-connect-token");
    if req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "))
    {
        req.headers_mut().remove(header::AUTHORIZATION);
    }
    let upstream = match ns.connect(port).await {
        Ok(s) => s,
        Err(e) => {
            return text(
                StatusCode::BAD_GATEWAY,
                &format!("nothing is listening on port {port} in the sandbox: {e}"),
            )
        }
    };
    let (mut sender, conn) =
        match hyper::client::conn::http1::handshake(TokioIo::new(upstream)).await {
            Ok(x) => x,
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("sandbox connection failed: {e}"),
                )
            }
        };
    tokio::spawn(conn);
    match sender.send_request(req).await {
        Ok(resp) => {
            let mut resp = resp.map(|b| b.boxed());

            if from_query {
                if let Ok(v) = header::HeaderValue::from_str(&format!(
                    "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
                )) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            resp
        }
        Err(e) => text(
            StatusCode::BAD_GATEWAY,
            &format!("sandbox request failed: {e}"),
        ),
    }
}

/// Forward, and let the requesting page read the answer (a refusal included): the proxy
/// is the gate, the token decides.
async fn forward(
    ns: NetNs,
    port: u16,
    tokens: Arc<Mutex<HashSet<String>>>,
    req: Request<Incoming>,
) -> Response<Body> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = forward_admitted(ns, port, tokens, req).await;
    if let Some(o) = origin {
        let h = resp.headers_mut();
        if !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                header::HeaderValue::from_static("true"),
            );
        }
    }
    resp
}

impl ConnectProxy {
    pub async fn open(
        ns: NetNs,
        port: u16,
        inbound: super::tunnels::Inbound,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let host_port = listener.local_addr()?.port();
        let tokens: Arc<Mutex<HashSet<String>>> = Arc::default();
        let t2 = tokens.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                if !inbound.admits(peer.ip()) {
                    continue;
                }
                let (ns, tokens) = (ns.clone(), t2.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (ns, tokens) = (ns.clone(), tokens.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(forward(ns, port, tokens, req).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            port,
            host_port,
            tokens,
            task,
        })
    }

    pub fn token_count(&self) -> usize {
        lock(&self.tokens).len()
    }

    pub fn admit(&self, token: String) {
        lock(&self.tokens).insert(token);
    }
}
