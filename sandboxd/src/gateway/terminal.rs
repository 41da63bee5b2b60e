//! The gateway's side of the project's own router extension
//! (`modal_wasm.terminal.v1.Terminal`): a resize carries a ticket for its task, needs the
//! `exec` scope, and goes to the sandbox's upstream router like any router call. An
//! upstream without the service (Modal's routers) answers UNIMPLEMENTED, which reaches the
//! client as UNIMPLEMENTED ("not supported here"), never as a refusal (see
//! `unimplemented_is_refused`).

use super::Gateway;
use crate::tokens::Scope;
use modal_proto::terminal::terminal_server::Terminal;
use modal_proto::terminal::{TerminalResizeRequest, TerminalResizeResponse};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct GatewayTerminal {
    pub gw: Arc<Gateway>,
}

#[tonic::async_trait]
impl Terminal for GatewayTerminal {
    async fn terminal_resize(
        &self,
        req: Request<TerminalResizeRequest>,
    ) -> Result<Response<TerminalResizeResponse>, Status> {
        let t = self.gw.ticket(&req, &req.get_ref().task_id)?;
        t.claims.require(Scope::Exec)?;
        let r = self
            .gw
            .up
            .router_with(&t.sbx, req.into_inner(), |mut cl, r| async move {
                modal_proto::terminal::terminal_client::TerminalClient::terminal_resize(&mut cl, r)
                    .await
            })
            .await
            .map_err(|e| match e.code() {
                tonic::Code::Unimplemented => Status::unimplemented(
                    "terminal resize is not supported by this gateway's upstream (Modal's command routers have no such call)",
                ),
                _ => e,
            })?;
        Ok(Response::new(r))
    }
}
