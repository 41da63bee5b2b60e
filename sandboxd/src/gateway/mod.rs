//! `sandboxd gateway`: the bridge from browsers and edge workers to a Modal-compatible
//! upstream (Modal's API, or a sandboxd). It holds the upstream credential and speaks
//! gRPC-web and native gRPC to clients, which hold only scoped, expiring tokens
//! (`tokens`). Every call is checked against the token (signature, expiry, scopes, the
//! tags of every sandbox it names), creates are forced into the token's app and tags and
//! held to the limits, command-router access is replaced by gateway tickets so exec
//! traffic comes through the gateway too, and the upstream's credentials, auth token,
//! router urls and JWTs never leave it. Stateless: replicas sharing the signing key and
//! the upstream credential are interchangeable behind any load balancer.
//!
//! - `policy`: what a token may ask (pure checks and rewrites);
//! - `seal`: sealed object ids and router tickets (stateless proofs);
//! - `upstream`: channels, credential, router access and caches;
//! - `limits`: per-subject rate and stream limits, idle timeouts;
//! - `cp`, `tcr`: the two services, method by method; `terminal`: the project's own
//!   router extension (resize).

mod cp;
mod limits;
pub mod policy;
pub mod revocations;
mod seal;
mod tcr;
mod terminal;
mod upstream;

use crate::grpc_errors::TypedErrors;
use crate::tokens::{Claims, Verifier};
use anyhow::{bail, Context, Result};
use futures::StreamExt;
use limits::SubjectLimits;
use modal_proto::client::modal_client_server::ModalClientServer;
use modal_proto::task_command_router::task_command_router_server::TaskCommandRouterServer;
use modal_proto::terminal::terminal_server::TerminalServer;
use revocations::Revocations;
use seal::{Seals, Ticket};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Status};
use tower::Layer;
use upstream::{Upstream, UpstreamConfig};

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8788")]
    listen: SocketAddr,
    /// The Modal-compatible API to forward to, e.g. https://api.modal.com or a sandboxd.
    #[arg(long, env = "MODAL_SERVER_URL")]
    upstream: String,
    /// Extra PEM CA certificates to trust for the upstream (beside the system's roots).
    #[arg(long)]
    upstream_ca: Option<PathBuf>,
    /// The upstream workspace credential (never leaves the gateway).
    #[arg(long, env = "MODAL_TOKEN_ID", hide_env_values = true)]
    token_id: String,
    #[arg(long, env = "MODAL_TOKEN_SECRET", hide_env_values = true)]
    token_secret: String,
    /// The upstream environment every call goes to (default: the workspace's default).
    #[arg(long, env = "MODAL_ENVIRONMENT", default_value = "")]
    environment: String,
    /// A page origin allowed to call from a browser (exact, e.g. https://app.example.com;
    /// repeatable). Without any, no cross-origin browser call is allowed.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// The URL clients reach this gateway at, for the command-router access it hands out
    /// (default: the scheme and Host of each request).
    #[arg(long)]
    public_url: Option<String>,
    /// Hosts the upstream's command routers may be at (exact, or `*.example.com`;
    /// repeatable). Default: the upstream's host and its parent domain.
    #[arg(long = "allow-router-host")]
    router_hosts: Vec<String>,
    /// Serve the playground (static files) from DIR, with per-visitor tokens.
    #[arg(long)]
    www: Option<PathBuf>,
    /// The npm package served at /pkg.
    #[arg(long)]
    pkg: Option<PathBuf>,
    #[command(flatten)]
    tls: crate::TlsArgs,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// What scoped tokens may do: the verifying key, limits, quotas, revocations. Shared by
/// `sandboxd gateway` and `sandboxd serve --signing-key`.
#[derive(clap::Args, Clone)]
pub struct PolicyArgs {
    /// The key that verifies scoped tokens: an HS256 secret (at least 32 bytes) or an
    /// Ed25519 public key (PEM). With an HS256 secret the server can also mint the
    /// playground's per-visitor tokens.
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Longest sandbox lifetime a token may ask for, in seconds.
    #[arg(long, default_value_t = 3600)]
    max_timeout: u32,
    /// Most CPU cores a sandbox may ask for.
    #[arg(long, default_value_t = 4.0)]
    max_cpu: f64,
    /// Most memory a sandbox may ask for, in MiB.
    #[arg(long, default_value_t = 8192)]
    max_memory_mib: u32,
    /// Most ephemeral disk a sandbox may ask for, in MiB.
    #[arg(long, default_value_t = 10240)]
    max_disk_mib: u32,
    /// A registry tag images may start from (`python:*` matches every python tag;
    /// repeatable). Default: any.
    #[arg(long = "image")]
    images: Vec<String>,
    /// A named secret of the workspace tokens may use (repeatable). Default: none.
    #[arg(long = "allow-secret")]
    allowed_secrets: Vec<String>,
    /// A named volume of the workspace tokens may mount (repeatable). Default: none.
    #[arg(long = "allow-volume")]
    allowed_volumes: Vec<String>,
    /// Calls per second per token subject (bursts of twice as many).
    #[arg(long, default_value_t = 50)]
    rate_limit: u32,
    /// Open streams per token subject.
    #[arg(long, default_value_t = 64)]
    max_streams: usize,
    /// Seconds a stream may carry nothing before it is ended (the client resumes it).
    #[arg(long, default_value_t = 600)]
    stream_idle_timeout: u64,
    /// Sandboxes one token subject may have running at once (0: no limit).
    #[arg(long, default_value_t = 5)]
    quota_sandboxes: u32,
    /// Commands one token subject may start per minute (0: no limit; the filesystem
    /// helper does not count).
    #[arg(long, default_value_t = 120)]
    quota_execs_per_minute: u32,
    /// Seconds without activity after which a token's sandbox is reaped (its idle timeout
    /// is at most this; 0: as asked).
    #[arg(long, default_value_t = 600)]
    quota_idle_timeout: u32,
    /// The revocation list (`sandboxd token revoke` writes it; re-read every second).
    /// Default for `serve`: revocations in the state dir.
    #[arg(long)]
    pub revocations: Option<PathBuf>,
}

/// The gateway's state, shared by both services.
pub struct Gateway {
    up: Upstream,
    verifier: Verifier,
    seals: Seals,
    limits: policy::Limits,
    subjects: Arc<SubjectLimits>,
    idle: Duration,
    allowed_secrets: Vec<String>,
    allowed_volumes: Vec<String>,
    quota_sandboxes: u32,
    revoked: Revocations,
    public_url: Option<String>,
    tls: bool,
}

fn unauthenticated(msg: &str) -> Status {
    Status::unauthenticated(msg.to_string())
}

/// The bearer value of `authorization`.
fn bearer<T>(req: &Request<T>) -> Result<&str, Status> {
    let h = req
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthenticated("missing authorization: Bearer <token>"))?;
    h.strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthenticated("authorization must be `Bearer <token>`"))
}

impl Gateway {
    /// The claims of a control-plane call's token. A workspace credential sent by a client
    /// is refused outright: it must never be in a browser, and it is never forwarded.
    fn authenticate<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        let md = req.metadata();
        if md.contains_key("x-modal-token-id") || md.contains_key("x-modal-token-secret") {
            return Err(unauthenticated(
                "this gateway accepts only scoped tokens (authorization: Bearer); never send a workspace token id or secret to it",
            ));
        }
        let claims = self.verifier.verify(bearer(req)?)?;
        self.revoked.check(&claims)?;
        self.subjects.call(&claims.sub)?;
        Ok(claims)
    }

    /// The ticket of a command-router call, which must name the ticket's task.
    fn ticket<T>(&self, req: &Request<T>, task_id: &str) -> Result<Ticket, Status> {
        let t = self.seals.open_ticket(bearer(req)?)?;
        self.revoked.check(&t.claims)?;
        if t.task != task_id {
            return Err(Status::permission_denied(format!(
                "this command router access is for task {}, not {task_id}",
                t.task
            )));
        }
        self.subjects.call(&t.claims.sub)?;
        Ok(t)
    }

    /// PERMISSION_DENIED unless the sandbox is the token's (its tags, or listed by id).
    async fn check_sandbox(&self, c: &Claims, sandbox_id: &str) -> Result<(), Status> {
        if sandbox_id.is_empty() {
            return Err(Status::invalid_argument("sandbox_id is required"));
        }
        if c.sandboxes.iter().flatten().any(|i| i == sandbox_id) {
            return Ok(());
        }
        let tags = self.up.tags(sandbox_id).await?;
        if policy::reaches(c, sandbox_id, &tags) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "sandbox {sandbox_id} is not within this token's reach"
            )))
        }
    }

    /// RESOURCE_EXHAUSTED when the token's subject already runs its quota of sandboxes
    /// (counted upstream by the creator tag every create through the gateway sets).
    async fn check_sandbox_quota(
        &self,
        c: &Claims,
        client: &tonic::metadata::MetadataMap,
    ) -> Result<(), Status> {
        let quota = self.quota_sandboxes;
        if quota == 0 {
            return Ok(());
        }
        let req = modal_proto::client::SandboxListRequest {
            app_id: self.app_id(c).await?,
            environment_name: self.up.environment().to_string(),
            include_finished: false,
            tags: policy::subject_filter(c),
            before_timestamp: 0.0,
        };
        let running = self
            .up
            .cp(client, req, |mut cl, r| async move {
                cl.sandbox_list_v2(r).await
            })
            .await?
            .sandboxes
            .len();
        if running >= quota as usize {
            let plural = |n: usize| if n == 1 { "" } else { "es" };
            return Err(Status::resource_exhausted(format!(
                "you have {running} sandbox{} running and this server allows {quota} per user: terminate one (or wait for one to end) to start another",
                plural(running)
            )));
        }
        Ok(())
    }

    /// The id of the token's app; NOT_FOUND until it has been created.
    async fn app_id(&self, c: &Claims) -> Result<String, Status> {
        self.up.app_id(&c.app, false).await
    }

    /// PERMISSION_DENIED unless `app_id` is the token's app.
    async fn check_app(&self, c: &Claims, app_id: &str) -> Result<(), Status> {
        let mine = self.app_id(c).await?;
        if app_id != mine {
            return Err(Status::permission_denied(format!(
                "this token's sandboxes live in app '{}'",
                c.app
            )));
        }
        Ok(())
    }

    /// The command-router url this gateway hands out: itself.
    fn router_url<T>(&self, req: &Request<T>) -> String {
        if let Some(u) = &self.public_url {
            return u.clone();
        }
        let host = req
            .metadata()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1");
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}")
    }

    /// Access to the command router of `sandbox_id` (task `task_id`) as the token sees it.
    fn router_access(
        &self,
        c: &Claims,
        sandbox_id: &str,
        task_id: &str,
        url: String,
    ) -> Result<(String, String), Status> {
        Ok((self.seals.ticket(c, sandbox_id, task_id)?, url))
    }

    /// An upstream stream as the client gets it: statuses cleaned, the subject's stream
    /// slot held, an idle timeout.
    fn stream<T: Send + 'static>(
        &self,
        sub: &str,
        upstream: tonic::Streaming<T>,
    ) -> Result<BoxStream<T>, Status> {
        let guard = self.subjects.open_stream(sub)?;
        let s = upstream.map(|r| r.map_err(upstream::clean));
        Ok(Box::pin(limits::Guarded::new(s, guard, self.idle)))
    }
}

/// The path prefix of the project's own router extension.
const EXTENSION_PREFIX: &str = "/modal_wasm.terminal.v1.Terminal/";

/// tonic answers UNIMPLEMENTED for a method its service does not have: every method of
/// Modal's services the gateway serves is implemented, so that means "not in the Sandbox
/// API", which the gateway refuses as PERMISSION_DENIED like every other method it does
/// not serve. The project's own extension is the exception: there UNIMPLEMENTED is the
/// upstream's (Modal's routers lack the service) and means "not supported here", which
/// clients must be able to tell from a refusal.
async fn unimplemented_is_refused(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let extension = req.uri().path().starts_with(EXTENSION_PREFIX);
    let mut resp = next.run(req).await;
    if !extension && resp.headers().get("grpc-status").map(|v| v.as_bytes()) == Some(b"12") {
        let h = resp.headers_mut();
        h.insert("grpc-status", http::HeaderValue::from_static("7"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static(
                "this%20method%20is%20not%20served%20by%20the%20gateway",
            ),
        );
    }
    resp
}

/// A trailers-only gRPC reply (status in the headers), understood by gRPC and gRPC-web
/// clients alike: for paths the gateway does not serve.
async fn refuse_unknown(req: axum::extract::Request) -> axum::response::Response {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("application/grpc"));
    let mut resp = axum::response::Response::new(axum::body::Body::empty());
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, content_type);
    h.insert("grpc-status", http::HeaderValue::from_static("7"));
    h.insert(
        "grpc-message",
        http::HeaderValue::from_static("this%20method%20is%20not%20served%20by%20the%20gateway"),
    );
    resp
}

fn cors(origins: &[String]) -> Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    let list = origins
        .iter()
        .map(|o| {
            let o = o.trim_end_matches('/');
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.contains('*') {
                bail!("--allow-origin {o}: an exact origin like https://app.example.com");
            }
            http::HeaderValue::from_str(o).context("--allow-origin")
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([http::Method::POST])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(
            ["grpc-status", "grpc-message", "grpc-status-details-bin"]
                .map(http::header::HeaderName::from_static),
        )
        .max_age(Duration::from_secs(7200)))
}

impl Gateway {
    /// A gateway with `policy` in front of `up`. Its keys for sealed ids and tickets derive
    /// from `upstream_secret`, which every replica shares.
    pub fn new(
        policy: &PolicyArgs,
        up: Upstream,
        upstream_secret: &str,
        tls: bool,
        public_url: Option<String>,
    ) -> Result<Arc<Gateway>> {
        let key = policy
            .signing_key
            .as_deref()
            .context("--signing-key is required: the key that verifies scoped tokens")?;
        if !(policy.max_cpu.is_finite() && policy.max_cpu > 0.0) {
            bail!("--max-cpu must be a positive number of cores");
        }
        let limits = policy::Limits {
            max_timeout_secs: policy.max_timeout,
            max_milli_cpu: (policy.max_cpu * 1000.0).round() as u32,
            max_memory_mib: policy.max_memory_mib,
            max_disk_mib: policy.max_disk_mib,
            max_idle_secs: policy.quota_idle_timeout,
            images: if policy.images.is_empty() {
                vec!["*".into()]
            } else {
                policy.images.clone()
            },
        };
        Ok(Arc::new(Gateway {
            seals: Seals::new(upstream_secret),
            up,
            verifier: Verifier::from_file(key)?,
            limits,
            subjects: SubjectLimits::new(
                policy.rate_limit.max(1),
                policy.max_streams.max(1),
                policy.quota_execs_per_minute,
            ),
            idle: Duration::from_secs(policy.stream_idle_timeout.max(1)),
            allowed_secrets: policy.allowed_secrets.clone(),
            allowed_volumes: policy.allowed_volumes.clone(),
            quota_sandboxes: policy.quota_sandboxes,
            revoked: Revocations::new(policy.revocations.clone()),
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            tls,
        }))
    }
}

#[cfg(test)]
impl PolicyArgs {
    /// The flags' defaults.
    pub fn for_tests() -> PolicyArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            policy: PolicyArgs,
        }
        Cli::parse_from(["test"]).policy
    }
}

/// The gateway of `sandboxd serve --signing-key`: the same policy, in front of this
/// sandboxd's own services (`local`, called in-process with the workspace credential).
pub fn local(
    policy: &PolicyArgs,
    local: axum::Router,
    token_id: &str,
    token_secret: &str,
    tls: bool,
) -> Result<Arc<Gateway>> {
    use tower::ServiceExt;
    type Req = http::Request<tonic::body::Body>;
    let svc = ServiceExt::<Req>::map_response(local, |r: http::Response<axum::body::Body>| {
        r.map(tonic::body::Body::new)
    });
    let svc = ServiceExt::<Req>::map_err(
        svc,
        |e: std::convert::Infallible| -> upstream::TransportError { match e {} },
    );
    let up = Upstream::new(UpstreamConfig {
        dial: upstream::Dial::Local(upstream::Svc::new(svc)),
        token_id: token_id.to_string(),
        token_secret: token_secret.to_string(),
        environment: String::new(),
        router_hosts: Vec::new(),
    })?;
    Gateway::new(policy, up, token_secret, tls, None)
}

/// One port for both kinds of clients of `serve --signing-key`: calls with the workspace
/// credential (Modal's official clients, the operator) and command-router calls with a
/// router JWT this sandboxd signed (`is_local_jwt`) go to its own services; every other
/// call (scoped tokens, gateway tickets, no credential) goes through the gateway's policy.
pub fn dispatch(
    local: axum::Router,
    scoped: axum::Router,
    is_local_jwt: impl Fn(&str) -> bool + Clone + Send + Sync + 'static,
) -> axum::Router {
    use tower::ServiceExt;
    let route = move |req: axum::extract::Request| {
        let h = req.headers();
        let workspace =
            h.contains_key("x-modal-token-id") || h.contains_key("x-modal-token-secret");
        let local_jwt = h
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .is_some_and(|t| is_local_jwt(t.trim()));
        let svc = if workspace || local_jwt {
            local.clone()
        } else {
            scoped.clone()
        };
        async move { svc.oneshot(req).await }
    };
    axum::Router::new()
        .route_service(
            "/modal.client.ModalClient/{*method}",
            tower::service_fn(route.clone()),
        )
        .route_service(
            "/modal.task_command_router.TaskCommandRouter/{*method}",
            tower::service_fn(route.clone()),
        )
        .route_service(
            &format!("{EXTENSION_PREFIX}{{*method}}"),
            tower::service_fn(route),
        )
}

/// Both services of the gateway, gRPC and gRPC-web, as one router. Methods it does not
/// serve answer PERMISSION_DENIED.
pub fn grpc_router(gw: Arc<Gateway>) -> axum::Router {
    let web = tonic_web::GrpcWebLayer::new();
    let cp = ModalClientServer::from_arc(Arc::new(cp::GatewayCp { gw: gw.clone() }))
        .max_decoding_message_size(upstream::MAX_MESSAGE)
        .max_encoding_message_size(upstream::MAX_MESSAGE);
    let tcr = TaskCommandRouterServer::from_arc(Arc::new(tcr::GatewayTcr { gw: gw.clone() }))
        .max_decoding_message_size(upstream::MAX_MESSAGE)
        .max_encoding_message_size(upstream::MAX_MESSAGE);
    let terminal = TerminalServer::from_arc(Arc::new(terminal::GatewayTerminal { gw }));
    // the same typed statuses as sandboxd's own services (grpc_errors.rs)
    tonic::service::Routes::new(web.layer(TypedErrors::layer(cp)))
        .add_service(web.layer(TypedErrors::layer(tcr)))
        .add_service(web.layer(TypedErrors::layer(terminal)))
        .into_axum_router()
        .fallback(refuse_unknown)
        .layer(axum::middleware::from_fn(unimplemented_is_refused))
}

pub async fn run(args: GatewayArgs) -> Result<()> {
    let upstream_uri: http::Uri = args
        .upstream
        .parse()
        .with_context(|| format!("--upstream {}", args.upstream))?;
    match (upstream_uri.scheme_str(), upstream_uri.host()) {
        (Some("https"), Some(_)) => {}
        (Some("http"), Some(h)) if h == "localhost" || h.starts_with("127.") || h == "[::1]" => {}
        _ => bail!("--upstream must be an https:// URL (http:// only for a loopback address)"),
    }
    if args.token_id.is_empty() || args.token_secret.is_empty() {
        bail!("the upstream credential is empty: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET");
    }
    let router_hosts = if args.router_hosts.is_empty() {
        upstream::default_router_hosts(&upstream_uri)
    } else {
        args.router_hosts.clone()
    };
    let up = Upstream::new(UpstreamConfig {
        dial: upstream::Dial::Remote {
            url: args.upstream.trim_end_matches('/').to_string(),
            ca_pem: args
                .upstream_ca
                .as_deref()
                .map(crate::tls::ca_pem)
                .transpose()?,
        },
        token_id: args.token_id.clone(),
        token_secret: args.token_secret.clone(),
        environment: args.environment.clone(),
        router_hosts,
    })?;
    let tls = args.tls.server_config()?;
    let gw = Gateway::new(
        &args.policy,
        up,
        &args.token_secret,
        tls.is_some(),
        args.public_url.clone(),
    )?;
    let mut router = grpc_router(gw);
    if let Some(www) = &args.www {
        // the playground in front of Modal: each visitor gets a token of its own
        let visitors = crate::playground::VisitorTokens::new(&args.policy, tls.is_some())?;
        let statics = crate::playground::routes(
            Some(crate::playground::Credential::Visitors(visitors)),
            args.pkg.clone(),
        )
        .fallback_service(crate::playground::site(www.clone()));
        // gRPC calls (to any service: unknown ones are refused as before) go to the
        // gateway, everything else to the playground's files
        router = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (grpc, statics) = (router.clone(), statics.clone());
            async move {
                use tower::ServiceExt;
                let is_grpc = req
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
                let r = if is_grpc {
                    grpc.oneshot(req).await
                } else {
                    statics.oneshot(req).await
                };
                match r {
                    Ok(resp) => resp,
                    Err(e) => match e {},
                }
            }
        });
    }
    let router = router
        .layer(axum::middleware::map_request(
            crate::server::host_from_authority,
        ))
        .layer(cors(&args.allow_origins)?);
    let listener = crate::server::Listener {
        tcp: tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?,
        tls,
    };
    println!(
        "sandboxd gateway: listening on {} (upstream {})",
        listener.url()?,
        args.upstream
    );
    crate::server::serve_http(listener, router).await
}
