//! The gateway's command router (`modal.task_command_router.TaskCommandRouter`): every
//! call carries a ticket the gateway issued for one sandbox and task (`seal`), is checked
//! against the ticket's scopes, and goes to that sandbox's upstream router with the
//! upstream's own access, which the client never sees.

use super::seal::Ticket;
use super::{policy, BoxStream, Gateway};
use crate::tokens::Scope;
use modal_proto::task_command_router::task_command_router_server::TaskCommandRouter;
use modal_proto::task_command_router::*;
use std::sync::Arc;
use tonic::{Request, Response, Status, Streaming};

pub struct GatewayTcr {
    pub gw: Arc<Gateway>,
}

/// Reading an exec's output and feeding its input: the `exec` scope, or `fs` (the
/// filesystem helper is an exec too; which commands `fs` may start is checked at start).
fn require_exec_or_fs(t: &Ticket) -> Result<(), Status> {
    if t.claims.allows(Scope::Exec) || t.claims.allows(Scope::Fs) {
        Ok(())
    } else {
        t.claims.require(Scope::Exec)
    }
}

/// A unary call: open the ticket for the request's task, check the scope, forward.
macro_rules! forward {
    ($self:ident, $req:ident, $check:expr, $method:ident) => {{
        let t = $self.gw.ticket(&$req, &$req.get_ref().task_id)?;
        $check(&t)?;
        let r = $self
            .gw
            .up
            .router(&t.sbx, $req.into_inner(), |mut cl, r| async move {
                cl.$method(r).await
            })
            .await?;
        Ok(Response::new(r))
    }};
}

/// A server stream: as `forward!`, and the stream held to the subject's limits.
macro_rules! forward_stream {
    ($self:ident, $req:ident, $check:expr, $method:ident) => {{
        let t = $self.gw.ticket(&$req, &$req.get_ref().task_id)?;
        $check(&t)?;
        let s = $self
            .gw
            .up
            .router(&t.sbx, $req.into_inner(), |mut cl, r| async move {
                cl.$method(r).await
            })
            .await?;
        Ok(Response::new($self.gw.stream(&t.claims.sub, s)?))
    }};
}

fn scope(s: Scope) -> impl Fn(&Ticket) -> Result<(), Status> {
    move |t: &Ticket| t.claims.require(s)
}

#[tonic::async_trait]
impl TaskCommandRouter for GatewayTcr {
    async fn task_exec_start(
        &self,
        req: Request<TaskExecStartRequest>,
    ) -> Result<Response<TaskExecStartResponse>, Status> {
        let t = self.gw.ticket(&req, &req.get_ref().task_id)?;
        let mut r = req.into_inner();
        policy::check_exec(&t.claims, &r.command_args)?;
        if !policy::is_fs_helper(&r.command_args) {
            self.gw.subjects.exec(&t.claims.sub)?;
        }
        let seals = &self.gw.seals;
        for s in &mut r.secret_ids {
            *s = seals.unseal(&t.claims, "secret", s)?;
        }
        for s in &mut r.secret_sources {
            if let Some(modal_proto::client::secret_source::Source::SecretId(id)) = &mut s.source {
                *id = seals.unseal(&t.claims, "secret", id)?;
            }
        }
        let resp = self
            .gw
            .up
            .router(
                &t.sbx,
                r,
                |mut cl, r| async move { cl.task_exec_start(r).await },
            )
            .await?;
        Ok(Response::new(resp))
    }

    async fn task_exec_stdio_read(
        &self,
        req: Request<TaskExecStdioReadRequest>,
    ) -> Result<Response<BoxStream<TaskExecStdioReadResponse>>, Status> {
        forward_stream!(self, req, require_exec_or_fs, task_exec_stdio_read)
    }

    async fn task_exec_stdin_write(
        &self,
        req: Request<TaskExecStdinWriteRequest>,
    ) -> Result<Response<TaskExecStdinWriteResponse>, Status> {
        forward!(self, req, require_exec_or_fs, task_exec_stdin_write)
    }

    async fn task_exec_stdin_write_stream(
        &self,
        _: Request<Streaming<TaskExecStdinWriteStreamRequest>>,
    ) -> Result<Response<TaskExecStdinWriteStreamResponse>, Status> {
        Err(Status::permission_denied(
            "TaskExecStdinWriteStream is not served by this gateway: use TaskExecStdinWrite",
        ))
    }

    async fn task_exec_stdin_status(
        &self,
        req: Request<TaskExecStdinStatusRequest>,
    ) -> Result<Response<TaskExecStdinStatusResponse>, Status> {
        forward!(self, req, require_exec_or_fs, task_exec_stdin_status)
    }

    async fn task_exec_wait(
        &self,
        req: Request<TaskExecWaitRequest>,
    ) -> Result<Response<TaskExecWaitResponse>, Status> {
        forward!(self, req, require_exec_or_fs, task_exec_wait)
    }

    async fn task_exec_poll(
        &self,
        req: Request<TaskExecPollRequest>,
    ) -> Result<Response<TaskExecPollResponse>, Status> {
        forward!(self, req, require_exec_or_fs, task_exec_poll)
    }

    async fn sandbox_stdio_read_v2(
        &self,
        req: Request<SandboxStdioReadV2Request>,
    ) -> Result<Response<BoxStream<SandboxStdioReadV2Response>>, Status> {
        forward_stream!(self, req, scope(Scope::Exec), sandbox_stdio_read_v2)
    }

    async fn sandbox_stdin_write_v2(
        &self,
        req: Request<SandboxStdinWriteV2Request>,
    ) -> Result<Response<SandboxStdinWriteV2Response>, Status> {
        forward!(self, req, scope(Scope::Exec), sandbox_stdin_write_v2)
    }

    async fn sandbox_wait_until_ready(
        &self,
        req: Request<SandboxWaitUntilReadyTcrRequest>,
    ) -> Result<Response<SandboxWaitUntilReadyTcrResponse>, Status> {
        forward!(self, req, scope(Scope::Read), sandbox_wait_until_ready)
    }

    async fn task_snapshot_filesystem(
        &self,
        req: Request<TaskSnapshotFilesystemRequest>,
    ) -> Result<Response<TaskSnapshotFilesystemResponse>, Status> {
        let t = self.gw.ticket(&req, &req.get_ref().task_id)?;
        t.claims.require(Scope::Snapshot)?;
        let mut resp = self
            .gw
            .up
            .router(&t.sbx, req.into_inner(), |mut cl, r| async move {
                cl.task_snapshot_filesystem(r).await
            })
            .await?;
        resp.image_id = self.gw.seals.seal(&t.claims, "image", &resp.image_id);
        Ok(Response::new(resp))
    }

    async fn task_snapshot_directory(
        &self,
        req: Request<TaskSnapshotDirectoryRequest>,
    ) -> Result<Response<TaskSnapshotDirectoryResponse>, Status> {
        let t = self.gw.ticket(&req, &req.get_ref().task_id)?;
        t.claims.require(Scope::Snapshot)?;
        let mut resp = self
            .gw
            .up
            .router(&t.sbx, req.into_inner(), |mut cl, r| async move {
                cl.task_snapshot_directory(r).await
            })
            .await?;
        resp.image_id = self.gw.seals.seal(&t.claims, "image", &resp.image_id);
        Ok(Response::new(resp))
    }

    async fn task_mount_directory(
        &self,
        req: Request<TaskMountDirectoryRequest>,
    ) -> Result<Response<()>, Status> {
        let t = self.gw.ticket(&req, &req.get_ref().task_id)?;
        t.claims.require(Scope::Fs)?;
        let mut r = req.into_inner();
        r.image_id = self.gw.seals.unseal(&t.claims, "image", &r.image_id)?;
        self.gw
            .up
            .router(&t.sbx, r, |mut cl, r| async move {
                cl.task_mount_directory(r).await
            })
            .await?;
        Ok(Response::new(()))
    }

    async fn task_unmount_directory(
        &self,
        req: Request<TaskUnmountDirectoryRequest>,
    ) -> Result<Response<()>, Status> {
        forward!(self, req, scope(Scope::Fs), task_unmount_directory)
    }

    async fn task_reload_volumes(
        &self,
        req: Request<TaskReloadVolumesRequest>,
    ) -> Result<Response<TaskReloadVolumesResponse>, Status> {
        forward!(self, req, scope(Scope::Fs), task_reload_volumes)
    }
}
