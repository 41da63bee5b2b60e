//! One port for everything: native gRPC (h2c, or h2 over TLS) for Modal's clients,
//! gRPC-web (HTTP/1.1 and h2) with CORS for browsers, and static files (the playground and
//! the npm package). The accept loop (plaintext or TLS) is shared with the gateway.

use crate::cp::ControlPlane;
use crate::grpc_errors::TypedErrors;
use crate::state::State;
use crate::tcr::Router;
use http::header::HeaderName;
use modal_proto::client::modal_client_server::ModalClientServer;
use modal_proto::task_command_router::task_command_router_server::TaskCommandRouterServer;
use modal_proto::terminal::terminal_server::TerminalServer;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tower::{Layer, ServiceExt};
use tower_http::cors::{Any, CorsLayer};

/// Biggest message accepted (stdin chunks, file uploads through exec stdin).
const MAX_MESSAGE: usize = 64 << 20;

/// The url clients use for the task command router. Over TLS it is always `https://`.
/// In plaintext, Python accepts `http://` for a localhost server; Modal's JS and Go clients
/// demand `https://` and, for a localhost server, dial it in plaintext anyway (PROTOCOL.md),
/// so the answer depends on the caller.
pub fn tcr_url(client_type: &str, host: &str, tls: bool) -> String {
    match client_type {
        _ if tls => format!("https://{host}"),
        "8" | "9" => format!("https://{host}"),
        _ => format!("http://{host}"),
    }
}

/// The port sandboxd serves: a bound socket, with TLS when a certificate was given.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Listener {
    /// `http://ADDR` or `https://ADDR`, as printed at start-up (tests read it).
    pub fn url(&self) -> anyhow::Result<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.tcp.local_addr()?))
    }
}

/// Everything `serve` serves: where, on which state, what static files and credential
/// its pages get, and the scoped-token policy.
pub struct ServeArgs {
    pub listener: Listener,
    pub state: Arc<State>,
    /// Static files served for any path no service takes (`serve --www`).
    pub www: Option<PathBuf>,
    /// The npm package the playground's pages load (`serve --pkg`).
    pub pkg: Option<PathBuf>,
    /// What `/__sandboxd/config.json` hands to the pages this server serves, if anything.
    pub credential: Option<crate::playground::Credential>,
    /// With a signing key, scoped tokens are accepted through the gateway's policy.
    pub policy: crate::gateway::PolicyArgs,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listener,
        state,
        www,
        pkg,
        credential,
        policy,
    } = args;
    let tls = listener.tls.is_some();
    let auth = state.clone();
    // gRPC-web is translated per service: tonic-web refuses plain HTTP/1.1 requests, which
    // must reach the static files untouched
    let web = tonic_web::GrpcWebLayer::new();
    let cp = InterceptedService::new(
        ModalClientServer::new(ControlPlane {
            state: state.clone(),
            tls,
        })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE),
        move |req: tonic::Request<()>| {
            auth.auth.check_workspace(req.metadata())?;
            Ok(req)
        },
    );
    let stats_state = state.clone();
    let jwt_state = state.clone();
    let tcr = TaskCommandRouterServer::new(Router {
        state: state.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE)
    .max_encoding_message_size(MAX_MESSAGE);
    // the project's own extension of the router (resize), with the router's authorization
    let terminal = TerminalServer::new(crate::terminal::TerminalService {
        state: state.clone(),
    });
    let mut router = tonic::service::Routes::new(web.layer(TypedErrors::layer(cp)))
        .add_service(web.layer(TypedErrors::layer(tcr)))
        .add_service(web.layer(TypedErrors::layer(terminal)))
        .into_axum_router();
    if policy.signing_key.is_some() {
        // scoped tokens: the gateway's policy in front of this sandboxd's own services
        let gw = crate::gateway::local(
            &policy,
            router.clone(),
            &state.auth.token_id,
            &state.auth.token_secret,
            tls,
        )?;
        router = crate::gateway::dispatch(router, crate::gateway::grpc_router(gw), move |jwt| {
            jwt_state.auth.verify(jwt).is_ok()
        });
    }
    router = router.merge(crate::playground::routes(credential, pkg));
    // HTTP/2 carries the authority in the URI, not in a Host header, and the control plane
    // builds the command router url it hands out from Host
    router = router.layer(axum::middleware::map_request(host_from_authority));
    router = router.route(
        "/__sandboxd/stats",
        axum::routing::get(move || async move {
            axum::Json(serde_json::json!({
                "stdioStreamsOpen": stats_state.stdio_streams.open_count(),
            }))
        }),
    );
    // OIDC identity tokens' issuer: its keys and discovery document, public
    let (jwks_state, tls_issuer) = (state.clone(), tls);
    router = router
        .route(
            crate::oidc::JWKS_PATH,
            axum::routing::get(move || async move {
                match jwks_state.oidc() {
                    Ok(o) => Ok(axum::Json(o.jwks())),
                    Err(e) => Err((
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        e.message().to_string(),
                    )),
                }
            }),
        )
        .route(
            crate::oidc::DISCOVERY_PATH,
            axum::routing::get(move |headers: http::HeaderMap| async move {
                let host = headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                axum::Json(crate::oidc::discovery(&crate::oidc::issuer(
                    host, tls_issuer,
                )))
            }),
        );
    if let Some(www) = www {
        router = router.fallback_service(crate::playground::site(www));
    }
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(
            ["grpc-status", "grpc-message", "grpc-status-details-bin"].map(HeaderName::from_static),
        )
        // Pages on another origin preflight every gRPC-web call (custom headers); without a
        // max age Chromium keeps a preflight 5 s, so most calls paid an extra round trip.
        // 2 hours is the most Chromium honours.
        .max_age(std::time::Duration::from_secs(7200));
    serve_http(listener, router.layer(cors)).await
}

/// How long a client may take to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` on every connection: hyper's auto builder (HTTP/1.1, and HTTP/2 by prior
/// knowledge in plaintext or by ALPN over TLS).
pub async fn serve_http(listener: Listener, app: axum::Router) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    let tls = listener.tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (tcp, peer) = match listener.tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // out of file descriptors and the like: wait, never spin or exit
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let svc =
            TowerToHyperService::new(app.clone().map_request(
                |r: http::Request<hyper::body::Incoming>| r.map(axum::body::Body::new),
            ));
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new());
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
            let result = match tls {
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                        .await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!("TLS handshake with {peer}: {e}");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
}

/// Give an HTTP/2 request (which has `:authority`, no Host) a Host header from its URI.
pub(crate) async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(http::header::HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(http::header::HOST, v);
        }
    }
    req
}
