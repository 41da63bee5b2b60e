//! The task command router: `modal.task_command_router.TaskCommandRouter`, commands and
//! stdio inside a running sandbox. Every call needs `authorization: Bearer <jwt>` signed
//! for its task.

use crate::backend::sandbox::{Exec, ExecError, ExecRequest, ExitStatus, Sandbox, StderrMode};
use crate::backend::stdin::StdinError;
use crate::limits;
use crate::state::State;
use modal_proto::task_command_router::task_command_router_server::TaskCommandRouter;
use modal_proto::task_command_router::*;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status, Streaming};

type BoxStream<T> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// Largest chunk sent in one stdio message.
const CHUNK: usize = 256 * 1024;

pub struct Router {
    pub state: Arc<State>,
}

fn stdin_status(e: StdinError) -> Status {
    match e {
        StdinError::Overflow { .. } => Status::invalid_argument(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

/// Calls that name a container other than the sandbox's main one (`container_id`, which
/// Modal's clients leave empty for it) are for sidecars, which sandboxd never runs: none
/// is ever acted on as if it were the main container.
fn main_container(container_id: &str) -> Result<(), Status> {
    if container_id.is_empty() {
        return Ok(());
    }
    Err(Status::not_found(format!(
        "container {container_id}: sandboxd runs only the sandbox's main container (no sidecars: TaskContainerCreate is not implemented)"
    )))
}

impl Router {
    fn sandbox<T>(&self, req: &Request<T>, task_id: &str) -> Result<Arc<Sandbox>, Status> {
        self.state.auth.check_task(req.metadata(), task_id)?;
        Ok(self.state.by_task(task_id)?.1)
    }

    /// The exec, found in the task's sandbox even after the sandbox has ended.
    fn exec<T>(&self, req: &Request<T>, task_id: &str, exec_id: &str) -> Result<Arc<Exec>, Status> {
        self.state.auth.check_task(req.metadata(), task_id)?;
        limits::client_id("exec_id", exec_id)?;
        let (_, sb) = self.state.handle_by_task(task_id)?;
        sb.exec_handle(exec_id)
            .ok_or_else(|| Status::not_found(format!("Exec {exec_id} not found in task {task_id}")))
    }
}

fn exit_of(s: ExitStatus) -> task_exec_wait_response::ExitStatus {
    match s {
        ExitStatus::Code(c) => task_exec_wait_response::ExitStatus::Code(c),
        ExitStatus::Signal(s) => task_exec_wait_response::ExitStatus::Signal(s),
    }
}

#[tonic::async_trait]
impl TaskCommandRouter for Router {
    async fn task_exec_start(
        &self,
        req: Request<TaskExecStartRequest>,
    ) -> Result<Response<TaskExecStartResponse>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        let r = req.into_inner();
        limits::client_id("exec_id", &r.exec_id)?;
        if r.command_args.is_empty() {
            return Err(Status::invalid_argument("command_args must name a program"));
        }
        if let Some(w) = &r.workdir {
            limits::abs_path("workdir", w)?;
        }
        if let Some(t) = r.timeout_secs {
            limits::timeout_secs("timeout_secs", t)?;
        }
        limits::count(
            "secrets",
            r.secret_ids.len() + r.secret_sources.len(),
            limits::MAX_SECRETS,
        )?;
        let mut env = Vec::new();
        for id in &r.secret_ids {
            env.extend(self.state.secret_env(id)?);
        }
        for s in &r.secret_sources {
            match &s.source {
                Some(modal_proto::client::secret_source::Source::SecretId(id)) => {
                    env.extend(self.state.secret_env(id)?)
                }
                Some(modal_proto::client::secret_source::Source::Env(m)) => {
                    env.extend(m.contents.iter().map(|(k, v)| (k.clone(), v.clone())))
                }
                None => {}
            }
        }
        env.extend(r.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let env_bytes = limits::env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        limits::argv("the command", &r.command_args, env_bytes)?;
        let stderr = match TaskExecStderrConfig::try_from(r.stderr_config) {
            Ok(TaskExecStderrConfig::Pipe) => StderrMode::Pipe,
            Ok(TaskExecStderrConfig::Stdout) => StderrMode::Stdout,
            _ => StderrMode::DevNull,
        };
        let terminal = r.pty_info.as_ref().map(crate::terminal::spec).transpose()?;
        let exec = ExecRequest {
            argv: r.command_args,
            env,
            workdir: r.workdir,
            timeout: r
                .timeout_secs
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
            stdout: r.stdout_config == TaskExecStdoutConfig::Pipe as i32,
            stderr,
        };
        match terminal {
            Some(t) => sb.exec_on_terminal(&r.exec_id, exec, t),
            None => sb.exec(&r.exec_id, exec),
        }
        .map_err(|e| match e {
            ExecError::TooMany { .. } => Status::resource_exhausted(e.to_string()),
            _ => Status::failed_precondition(e.to_string()),
        })?;
        Ok(Response::new(TaskExecStartResponse {}))
    }

    async fn task_exec_stdio_read(
        &self,
        req: Request<TaskExecStdioReadRequest>,
    ) -> Result<Response<BoxStream<TaskExecStdioReadResponse>>, Status> {
        let exec = self.exec(&req, &req.get_ref().task_id, &req.get_ref().exec_id)?;
        let r = req.into_inner();
        let stderr = r.file_descriptor == TaskExecStdioFileDescriptor::Stderr as i32;
        let stream = futures::stream::unfold(r.offset, move |offset| {
            let exec = exec.clone();
            async move {
                if offset == u64::MAX {
                    return None; // after a DATA_LOSS
                }
                let buf = if stderr { &exec.stderr } else { &exec.stdout };
                let (at, data) = buf.next(offset, CHUNK).await?;
                if at > offset {
                    // This reply has no starting_offset to tell the client about a gap
                    // (SandboxStdioReadV2's has): say so instead of skipping silently.
                    return Some((
                        Err(Status::data_loss(format!(
                            "output bytes {offset}..{at} are no longer buffered"
                        ))),
                        u64::MAX,
                    ));
                }
                let next = at + data.len() as u64;
                Some((
                    Ok(TaskExecStdioReadResponse {
                        data: data.to_vec(),
                    }),
                    next,
                ))
            }
        });
        Ok(Response::new(
            self.state.stdio_streams.track(stream, |m| m.data.len()),
        ))
    }

    async fn task_exec_stdin_write(
        &self,
        req: Request<TaskExecStdinWriteRequest>,
    ) -> Result<Response<TaskExecStdinWriteResponse>, Status> {
        let exec = self.exec(&req, &req.get_ref().task_id, &req.get_ref().exec_id)?;
        let r = req.into_inner();
        exec.stdin
            .write(r.offset, &r.data, r.eof)
            .await
            .map_err(stdin_status)?;
        Ok(Response::new(TaskExecStdinWriteResponse {}))
    }

    async fn task_exec_stdin_write_stream(
        &self,
        req: Request<Streaming<TaskExecStdinWriteStreamRequest>>,
    ) -> Result<Response<TaskExecStdinWriteStreamResponse>, Status> {
        let md = req.metadata().clone();
        let mut stream = req.into_inner();
        let first = stream.message().await?.ok_or_else(|| {
            Status::invalid_argument("empty stdin stream: send a start message first")
        })?;
        let Some(task_exec_stdin_write_stream_request::Payload::Start(start)) = first.payload
        else {
            return Err(Status::invalid_argument(
                "the first stdin stream message must be `start`",
            ));
        };
        let mut probe = Request::new(());
        *probe.metadata_mut() = md;
        let exec = self.exec(&probe, &start.task_id, &start.exec_id)?;
        let mut offset = start.offset;
        while let Some(msg) = stream.message().await? {
            match msg.payload {
                Some(task_exec_stdin_write_stream_request::Payload::Data(d)) => {
                    exec.stdin
                        .write(offset, &d, false)
                        .await
                        .map_err(stdin_status)?;
                    // `write` refused an offset whose end overflows
                    offset += d.len() as u64;
                }
                Some(task_exec_stdin_write_stream_request::Payload::End(_)) => {
                    exec.stdin
                        .write(offset, &[], true)
                        .await
                        .map_err(stdin_status)?;
                    break;
                }
                _ => {
                    return Err(Status::invalid_argument(
                        "unexpected message in the stdin stream",
                    ))
                }
            }
        }
        Ok(Response::new(TaskExecStdinWriteStreamResponse {}))
    }

    async fn task_exec_stdin_status(
        &self,
        req: Request<TaskExecStdinStatusRequest>,
    ) -> Result<Response<TaskExecStdinStatusResponse>, Status> {
        let exec = self.exec(&req, &req.get_ref().task_id, &req.get_ref().exec_id)?;
        let (num_bytes_written, closed) = exec.stdin.status().await;
        Ok(Response::new(TaskExecStdinStatusResponse {
            num_bytes_written,
            closed,
        }))
    }

    async fn task_exec_wait(
        &self,
        req: Request<TaskExecWaitRequest>,
    ) -> Result<Response<TaskExecWaitResponse>, Status> {
        let exec = self.exec(&req, &req.get_ref().task_id, &req.get_ref().exec_id)?;
        let status = exec.wait().await;
        Ok(Response::new(TaskExecWaitResponse {
            exit_status: Some(exit_of(status)),
        }))
    }

    async fn task_exec_poll(
        &self,
        req: Request<TaskExecPollRequest>,
    ) -> Result<Response<TaskExecPollResponse>, Status> {
        let exec = self.exec(&req, &req.get_ref().task_id, &req.get_ref().exec_id)?;
        let exit_status = exec.poll().map(|s| match s {
            ExitStatus::Code(c) => task_exec_poll_response::ExitStatus::Code(c),
            ExitStatus::Signal(s) => task_exec_poll_response::ExitStatus::Signal(s),
        });
        Ok(Response::new(TaskExecPollResponse { exit_status }))
    }

    async fn sandbox_stdio_read_v2(
        &self,
        req: Request<SandboxStdioReadV2Request>,
    ) -> Result<Response<BoxStream<SandboxStdioReadV2Response>>, Status> {
        self.state
            .auth
            .check_task(req.metadata(), &req.get_ref().task_id)?;
        let (_, sb) = self.state.handle_by_task(&req.get_ref().task_id)?;
        let r = req.into_inner();
        let stderr = r.file_descriptor == SandboxStdioFileDescriptor::Stderr as i32;
        let stream = futures::stream::unfold(r.offset, move |offset| {
            let sb = sb.clone();
            async move {
                let buf = if stderr { &sb.stderr } else { &sb.stdout };
                let (at, data) = buf.next(offset, CHUNK).await?;
                let next = at + data.len() as u64;
                Some((
                    Ok(SandboxStdioReadV2Response {
                        data: data.to_vec(),
                        starting_offset: at,
                    }),
                    next,
                ))
            }
        });
        Ok(Response::new(
            self.state.stdio_streams.track(stream, |m| m.data.len()),
        ))
    }

    async fn sandbox_wait_until_ready(
        &self,
        req: Request<SandboxWaitUntilReadyTcrRequest>,
    ) -> Result<Response<SandboxWaitUntilReadyTcrResponse>, Status> {
        self.state
            .auth
            .check_task(req.metadata(), &req.get_ref().task_id)?;
        let r = req.into_inner();
        let (rec, _) = self.state.by_task(&r.task_id)?;
        let t = if r.timeout.is_finite() {
            r.timeout.clamp(0.0, 300.0)
        } else {
            0.0
        };
        let ready_at = self
            .state
            .wait_ready(&rec, Duration::from_secs_f32(t))
            .await?;
        Ok(Response::new(SandboxWaitUntilReadyTcrResponse { ready_at }))
    }

    async fn task_snapshot_filesystem(
        &self,
        req: Request<TaskSnapshotFilesystemRequest>,
    ) -> Result<Response<TaskSnapshotFilesystemResponse>, Status> {
        self.state
            .auth
            .check_task(req.metadata(), &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        let r = req.into_inner();
        let (rec, sb) = self.state.by_task(&r.task_id)?;
        let image_id = self
            .state
            .snapshot_filesystem(&rec, &sb, r.ttl_seconds)
            .await?;
        Ok(Response::new(TaskSnapshotFilesystemResponse { image_id }))
    }

    async fn task_snapshot_directory(
        &self,
        req: Request<TaskSnapshotDirectoryRequest>,
    ) -> Result<Response<TaskSnapshotDirectoryResponse>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        let r = req.into_inner();
        let image_id = self
            .state
            .snapshot_directory(&sb, &r.path, r.ttl_seconds)
            .await?;
        Ok(Response::new(TaskSnapshotDirectoryResponse { image_id }))
    }

    async fn task_mount_directory(
        &self,
        req: Request<TaskMountDirectoryRequest>,
    ) -> Result<Response<()>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        let r = req.into_inner();
        self.state.mount_image(&sb, &r.path, &r.image_id).await?;
        Ok(Response::new(()))
    }

    async fn task_unmount_directory(
        &self,
        req: Request<TaskUnmountDirectoryRequest>,
    ) -> Result<Response<()>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        self.state.unmount_image(&sb, &req.get_ref().path).await?;
        Ok(Response::new(()))
    }

    /// Modal's `reloadVolumes`: the sandbox's writes to its volumes are committed, and
    /// it sees their newest committed versions (other sandboxes' commits included).
    async fn task_reload_volumes(
        &self,
        req: Request<TaskReloadVolumesRequest>,
    ) -> Result<Response<TaskReloadVolumesResponse>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        main_container(&req.get_ref().container_id)?;
        sb.reload_volumes().await.map_err(|e| {
            match e.downcast_ref::<crate::backend::rootfs::Busy>() {
                Some(busy) => Status::failed_precondition(busy.to_string()),
                None => Status::internal(format!("reloading the sandbox's volumes: {e:#}")),
            }
        })?;
        Ok(Response::new(TaskReloadVolumesResponse {}))
    }

    async fn sandbox_stdin_write_v2(
        &self,
        req: Request<SandboxStdinWriteV2Request>,
    ) -> Result<Response<SandboxStdinWriteV2Response>, Status> {
        let sb = self.sandbox(&req, &req.get_ref().task_id)?;
        let r = req.into_inner();
        sb.stdin
            .write(r.offset, &r.data, r.eof)
            .await
            .map_err(stdin_status)?;
        sb.touch();
        Ok(Response::new(SandboxStdinWriteV2Response {}))
    }
}
