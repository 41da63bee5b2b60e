//! One port for everything: native gRPC (h2c) for Modal's clients, gRPC-web (HTTP/1.1 and
//! h2) with CORS for browsers, and static files (the playground and the npm package).

use crate::cp::ControlPlane;
use crate::state::State;
use crate::tcr::Router;
use http::header::HeaderName;
use modal_proto::client::modal_client_server::ModalClientServer;
use modal_proto::task_command_router::task_command_router_server::TaskCommandRouterServer;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

/// Biggest message accepted (stdin chunks, file uploads through exec stdin).
const MAX_MESSAGE: usize = 64 << 20;

/// The url clients use for the task command router. Python accepts `http://` for a
/// localhost server; Modal's JS and Go clients demand `https://` and, for a localhost
/// server, dial it in plaintext anyway (PROTOCOL.md), so the answer depends on the caller.
pub fn tcr_url(client_type: &str, host: &str) -> String {
    match client_type {
        "8" | "9" => format!("https://{host}"),
        _ => format!("http://{host}"),
    }
}

pub struct StaticDirs {
    pub www: Option<PathBuf>,
    pub pkg: Option<PathBuf>,
}

pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    statics: StaticDirs,
) -> anyhow::Result<()> {
    let auth = state.clone();
    let cp = InterceptedService::new(
        ModalClientServer::new(ControlPlane {
            state: state.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE),
        move |req: tonic::Request<()>| {
            auth.auth.check_workspace(req.metadata())?;
            Ok(req)
        },
    );
    let tcr = TaskCommandRouterServer::new(Router { state })
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let mut router = tonic::service::Routes::new(cp)
        .add_service(tcr)
        .into_axum_router();
    // HTTP/2 carries the authority in the URI, not in a Host header, and the control plane
    // builds the command router url it hands out from Host
    router = router.layer(axum::middleware::map_request(host_from_authority));
    if let Some(pkg) = statics.pkg {
        router = router.nest_service("/pkg", ServeDir::new(pkg));
    }
    if let Some(www) = statics.www {
        router = router.fallback_service(ServeDir::new(www));
    }
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(
            ["grpc-status", "grpc-message", "grpc-status-details-bin"].map(HeaderName::from_static),
        );
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(cors)
        .layer(tonic_web::GrpcWebLayer::new())
        .add_routes(tonic::service::Routes::from(router))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

/// Give an HTTP/2 request (which has `:authority`, no Host) a Host header from its URI.
async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
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
