//! [`Sandbox`]: lifecycle, tags, exec, stdio, readiness, tunnels, connect tokens,
//! snapshots, image mounts and volumes of one sandbox.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use modal_proto::client as pb;
use modal_proto::client::generic_result::GenericStatus;
use modal_proto::rpcs::{modal_client as cp, task_command_router as tcr_rpc};
use modal_proto::task_command_router as tcr;

use crate::error::{Error, ErrorKind, Result};
use crate::exit::sandbox_returncode;
use crate::filesystem::SandboxFilesystem;
use crate::js;
use crate::logs::SandboxLogs;
use crate::objects::Image;
use crate::options::{
    budget, exec_start_request, tags_to_proto, ttl_seconds, SandboxCreateConnectTokenParams,
    SandboxExecParams, SnapshotParams, StdioBehavior,
};
use crate::process::{refresher, sleeper, ContainerProcess, Exec};
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{self, Chunk, Opener, OutputStream, Stdin, Writer};
use crate::wire;

/// A sandbox: a secure, isolated container. From [`Sandboxes`](crate::Sandboxes)
/// (`create`, `from_id`, `from_name`, `list`). Cheap to clone (clones are one handle).
#[derive(Clone)]
pub struct Sandbox {
    inner: Rc<SandboxInner>,
}

struct SandboxInner {
    router: Rc<Router>,
    returncode: Cell<Option<i32>>,
    detached: Cell<bool>,
    stdin: Stdin,
    /// The tunnels, once fetched (they do not change while the sandbox runs).
    tunnels: RefCell<Option<Vec<Tunnel>>>,
}

/// A port forwarded from a sandbox, from [`Sandbox::tunnels`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// The port in the sandbox.
    pub container_port: u32,
    /// Host of the TLS endpoint.
    pub host: String,
    /// Port of the TLS endpoint.
    pub port: u32,
    /// Host of the plain TCP endpoint, when there is one.
    pub unencrypted_host: Option<String>,
    /// Port of the plain TCP endpoint, when there is one.
    pub unencrypted_port: Option<u32>,
}

impl Tunnel {
    /// `https://host[:port]`, or `http://` for a loopback host (a local sandboxd forwards
    /// plain TCP there).
    pub fn url(&self) -> String {
        let (host, port) = (&self.host, self.port);
        let scheme = if crate::fs::is_loopback(host) {
            "http"
        } else {
            "https"
        };
        if port == 443 && scheme == "https" {
            format!("https://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }
}

/// Credentials for HTTP connections to a sandbox's port, from
/// [`Sandbox::create_connect_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectCredentials {
    /// Where to connect.
    pub url: String,
    /// The token to present.
    pub token: String,
}

/// Runs `fut`, failing with `Timeout` after `limit` (dropping it, which cancels its
/// requests).
pub(crate) async fn with_timeout<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let fut = std::pin::pin!(fut);
    let ms = crate::duration::ms(limit).min(u32::MAX.into()) as u32;
    let sleep = std::pin::pin!(js::sleep(ms));
    match futures_util::future::select(fut, sleep).await {
        futures_util::future::Either::Left((r, _)) => r,
        futures_util::future::Either::Right(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("{what} did not finish within {ms}ms"),
        )),
    }
}

/// A sandbox path as the bytes of the router's `path` fields, checked to be absolute.
fn abs_path(path: &str, what: &str) -> Result<Vec<u8>> {
    crate::fs::check_path(path, what)?;
    Ok(path.as_bytes().to_vec())
}

fn image_of(image_id: String) -> Result<Image> {
    if image_id.is_empty() {
        return Err(Error::new(
            ErrorKind::Execution,
            "the snapshot response has no image id",
        ));
    }
    Ok(Image::built(image_id))
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("id", &self.id())
            .field("returncode", &self.returncode())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    pub(crate) fn new(router: Rc<Router>) -> Sandbox {
        let r = router.clone();
        let write: Writer = Rc::new(move |offset, data, eof| {
            let r = r.clone();
            Box::pin(async move {
                let req = tcr::SandboxStdinWriteV2Request {
                    task_id: r.task_id().await?,
                    offset,
                    data: data.to_vec(),
                    eof,
                };
                r.call(tcr_rpc::SANDBOX_STDIN_WRITE_V2, &req, Backoff::UNARY)
                    .await
                    .map(|_| ())
            })
        });
        Sandbox {
            inner: Rc::new(SandboxInner {
                router,
                returncode: Cell::new(None),
                detached: Cell::new(false),
                stdin: Stdin::new(write),
                tunnels: RefCell::new(None),
            }),
        }
    }

    pub(crate) fn router(&self) -> &Rc<Router> {
        &self.inner.router
    }

    /// The client this sandbox was reached through (images made from it build with it).
    pub(crate) fn client(&self) -> crate::Client {
        crate::Client {
            conn: self.router().conn.clone(),
        }
    }

    /// Fails with `ClientClosed` once detached or once the client is closed.
    fn check(&self) -> Result<()> {
        if self.inner.detached.get() {
            return Err(Error::closed("Sandbox (detached)"));
        }
        self.router().conn.check_open()
    }

    fn record(&self, result: Option<&wire::GenericResult>) -> Option<i32> {
        let code = sandbox_returncode(result);
        if code.is_some() {
            self.inner.returncode.set(code);
        }
        code
    }

    async fn wait_once(&self, timeout: f32) -> Result<Option<i32>> {
        self.check()?;
        self.wait_call(timeout).await
    }

    /// One `SandboxWait`, on a detached handle too (`wait` works after `detach`, as in
    /// Modal JS).
    async fn wait_call(&self, timeout: f32) -> Result<Option<i32>> {
        self.router().conn.check_open()?;
        let req = pb::SandboxWaitRequest {
            sandbox_id: self.id().to_string(),
            timeout,
        };
        let resp = self.router().conn.cp(wire::SANDBOX_WAIT_V2, &req).await?;
        Ok(self.record(resp.result.as_ref()))
    }

    async fn task_id(&self) -> Result<String> {
        self.router().task_id().await
    }

    /// One call of `sandbox.logs`, its message encoded by the caller (the JS glue):
    /// `which` picks `AppFetchLogs`, `AppCountLogs`, `SandboxWaitV2` or `SandboxGetTaskId`.
    pub(crate) async fn logs_call(&self, which: u32, body: Vec<u8>) -> Result<Bytes> {
        let path = match which {
            0 => cp::APP_FETCH_LOGS.path,
            1 => cp::APP_COUNT_LOGS.path,
            2 => cp::SANDBOX_WAIT_V2.path,
            3 => cp::SANDBOX_GET_TASK_ID.path,
            _ => return Err(Error::invalid("unknown logs call")),
        };
        self.router().conn.cp_bytes(path, body).await
    }

    /// The entrypoint's logs: [`fetch`](SandboxLogs::fetch) a time range or
    /// [`tail`](SandboxLogs::tail) the newest entries, as Modal JS's `sandbox.logs`.
    pub fn logs(&self) -> SandboxLogs {
        SandboxLogs::new(self.clone())
    }

    /// The sandbox id.
    pub fn id(&self) -> &str {
        &self.router().sandbox_id
    }

    /// The return code once known (after [`wait`](Self::wait), [`poll`](Self::poll) or
    /// [`terminate`](Self::terminate)): 137 when terminated, 124 on timeout, else the main
    /// process's exit code.
    pub fn returncode(&self) -> Option<i32> {
        self.inner.returncode.get()
    }

    /// Runs a command in the sandbox. The parameters are checked before any request.
    pub async fn exec<S: Into<String>>(
        &self,
        command: impl IntoIterator<Item = S>,
        params: &SandboxExecParams,
    ) -> Result<ContainerProcess> {
        let command: Vec<String> = command.into_iter().map(Into::into).collect();
        self.exec_command(command, params).await
    }

    /// `exec` without its generic parameter (one instantiation).
    pub(crate) async fn exec_command(
        &self,
        command: Vec<String>,
        params: &SandboxExecParams,
    ) -> Result<ContainerProcess> {
        self.check()?;
        let exec_id = js::uuid();
        // Validate before any request.
        exec_start_request("", &exec_id, command.clone(), params)?;
        let task_id = self.task_id().await?;
        let req = exec_start_request(&task_id, &exec_id, command, params)?;
        self.router()
            .call(wire::TASK_EXEC_START, &req, Backoff::UNARY)
            .await?;
        let exec = Exec {
            router: self.router().clone(),
            task_id,
            exec_id,
        };
        Ok(ContainerProcess::new(
            exec,
            params.stdout == StdioBehavior::Pipe,
            params.stderr == StdioBehavior::Pipe,
            params.pty.is_some(),
            0,
            // Modal JS: a deadline when `timeoutMs` is set and not 0
            (params.timeout)
                .filter(|d| !d.is_zero())
                .map(|d| js::now_ms() + crate::duration::ms(d) as f64),
        ))
    }

    /// A handle on a command already running (or run) in this sandbox, by its exec id
    /// ([`ContainerProcess::exec_id`]): e.g. a terminal's shell after the page that started
    /// it reloaded. `pty` says whether it was started on a terminal. Its stdin continues
    /// where the server's left off; its output can be read again from any offset.
    pub async fn attach(&self, exec_id: &str, pty: bool) -> Result<ContainerProcess> {
        self.check()?;
        if exec_id.is_empty() {
            return Err(Error::invalid("execId must not be empty"));
        }
        let exec = Exec {
            router: self.router().clone(),
            task_id: self.task_id().await?,
            exec_id: exec_id.to_string(),
        };
        let written = exec.stdin_written().await?;
        Ok(ContainerProcess::new(exec, true, true, pty, written, None))
    }

    fn output(&self, fd: tcr::SandboxStdioFileDescriptor) -> OutputStream {
        let router = self.router().clone();
        let r = router.clone();
        let open: Opener = Rc::new(move |offset| {
            let r = r.clone();
            Box::pin(async move {
                let req = tcr::SandboxStdioReadV2Request {
                    task_id: r.task_id().await?,
                    offset,
                    file_descriptor: fd as i32,
                };
                let s = r
                    .call_stream(wire::SANDBOX_STDIO_READ_V2, &req, Backoff::STREAM)
                    .await?;
                Ok(s.map(|m| {
                    m.map(|m| Chunk {
                        data: m.data,
                        starting_offset: Some(m.starting_offset),
                    })
                })
                .boxed_local())
            })
        });
        OutputStream::new(stdio::resumable(0, open, refresher(&router), sleeper()))
    }

    /// The main process's stdout from its first byte (each call reads it anew).
    pub fn stdout(&self) -> OutputStream {
        self.output(tcr::SandboxStdioFileDescriptor::Stdout)
    }

    /// The main process's stderr from its first byte.
    pub fn stderr(&self) -> OutputStream {
        self.output(tcr::SandboxStdioFileDescriptor::Stderr)
    }

    /// The main process's stdin (clones share it); closing it sends EOF.
    pub fn stdin(&self) -> Stdin {
        self.inner.stdin.clone()
    }

    /// Waits for the sandbox to finish: its return code.
    /// Works on a detached handle too.
    pub async fn wait(&self) -> Result<i32> {
        loop {
            if let Some(code) = self.wait_call(10.0).await? {
                return Ok(code);
            }
        }
    }

    /// The return code if the sandbox has finished, else `None` (no waiting).
    pub async fn poll(&self) -> Result<Option<i32>> {
        self.wait_once(0.0).await
    }

    /// Checks that the sandbox exists (`NotFound` otherwise) and refreshes
    /// [`returncode`](Self::returncode).
    pub async fn hydrate(&self) -> Result<()> {
        self.wait_once(0.0).await.map(|_| ())
    }

    /// Terminates the sandbox ([`wait`](Self::wait) then gives 137).
    pub async fn terminate(&self) -> Result<()> {
        self.check()?;
        let req = pb::SandboxTerminateRequest {
            sandbox_id: self.id().to_string(),
        };
        let resp = self
            .router()
            .conn
            .cp(wire::SANDBOX_TERMINATE_V2, &req)
            .await?;
        self.record(resp.existing_result.as_ref());
        Ok(())
    }

    /// Forgets this handle (and its clones): later calls but [`wait`](Self::wait) fail with `ClientClosed`. The
    /// sandbox keeps running.
    pub fn detach(&self) {
        self.inner.detached.set(true);
    }

    /// The sandbox's tags.
    pub async fn tags(&self) -> Result<Vec<(String, String)>> {
        self.check()?;
        let req = pb::SandboxTagsGetRequest {
            sandbox_id: self.id().to_string(),
        };
        let resp = self.router().conn.cp(cp::SANDBOX_TAGS_GET_V2, &req).await?;
        let mut tags = Vec::with_capacity(resp.tags.len());
        for t in resp.tags {
            tags.push((t.tag_name, t.tag_value));
        }
        Ok(tags)
    }

    /// Replaces the sandbox's tags (an empty list clears them).
    pub async fn set_tags(&self, tags: &[(String, String)]) -> Result<()> {
        self.check()?;
        let req = pb::SandboxTagsSetRequest {
            environment_name: self.router().conn.environment.clone(),
            sandbox_id: self.id().to_string(),
            tags: tags_to_proto(tags),
        };
        self.router()
            .conn
            .cp(cp::SANDBOX_TAGS_SET_V2, &req)
            .await
            .map(|_| ())
    }

    /// Waits until the readiness probe passes; `Timeout` after `timeout` (default 300 s).
    pub async fn wait_until_ready(&self, timeout: Option<Duration>) -> Result<()> {
        let limit = timeout.unwrap_or(Duration::from_secs(300));
        let ms = crate::duration::ms(limit) as f64;
        self.check()?;
        if ms <= 0.0 {
            return Err(Error::invalid("timeoutMs must be positive, got 0"));
        }
        let deadline = js::now_ms() + ms;
        let task_id = self.task_id().await?;
        // The server answers DEADLINE_EXCEEDED when its wait runs out: that is the answer,
        // not a transient failure, so no automatic retries here; transient failures are
        // retried below until the deadline.
        let once = Backoff {
            max_retries: 0,
            ..Backoff::UNARY
        };
        loop {
            let left = (deadline - js::now_ms()).max(0.0);
            let req = tcr::SandboxWaitUntilReadyTcrRequest {
                task_id: task_id.clone(),
                timeout: (left / 1000.0) as f32,
            };
            let call = self
                .router()
                .call(tcr_rpc::SANDBOX_WAIT_UNTIL_READY, &req, once);
            let grace = Duration::from_millis((left + 5_000.0) as u64);
            match with_timeout(grace, "waitUntilReady", call).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind == ErrorKind::Timeout => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("Sandbox did not become ready within {}ms", ms as u64),
                    ))
                }
                // UNKNOWN, CANCELLED, INTERNAL, UNAVAILABLE
                Err(e)
                    if matches!(e.grpc_status, Some(1 | 2 | 13 | 14))
                        && js::now_ms() + 200.0 < deadline =>
                {
                    js::sleep(200).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The sandbox's tunnels; `SandboxTimeout` if they are not available within `timeout`
    /// (default 50 s). Fetched once, then answered from the handle, as Modal JS does.
    pub async fn tunnels(&self, timeout: Option<Duration>) -> Result<Vec<Tunnel>> {
        let limit = timeout.unwrap_or(Duration::from_secs(50));
        self.check()?;
        if let Some(tunnels) = &*self.inner.tunnels.borrow() {
            return Ok(tunnels.clone());
        }
        let req = pb::SandboxGetTunnelsRequest {
            sandbox_id: self.id().to_string(),
            timeout: limit.as_secs_f32(),
        };
        let resp = self
            .router()
            .conn
            .cp(wire::SANDBOX_GET_TUNNELS_V2, &req)
            .await?;
        if resp.result.as_ref().map(|r| r.status) == Some(GenericStatus::Timeout as i32) {
            return Err(Error::new(
                ErrorKind::SandboxTimeout,
                "tunnels were not available in time",
            ));
        }
        let mut tunnels = Vec::with_capacity(resp.tunnels.len());
        for t in resp.tunnels {
            tunnels.push(Tunnel {
                container_port: t.container_port,
                host: t.host,
                port: t.port,
                unencrypted_host: t.unencrypted_host,
                unencrypted_port: t.unencrypted_port,
            });
        }
        *self.inner.tunnels.borrow_mut() = Some(tunnels.clone());
        Ok(tunnels)
    }

    /// A token for HTTP connections to the sandbox.
    pub async fn create_connect_token(
        &self,
        params: &SandboxCreateConnectTokenParams,
    ) -> Result<ConnectCredentials> {
        self.check()?;
        let req = pb::SandboxCreateConnectTokenRequest {
            sandbox_id: self.id().to_string(),
            user_metadata: params.user_metadata.clone().unwrap_or_default(),
            port: params.port,
        };
        let resp = self
            .router()
            .conn
            .cp(cp::SANDBOX_CREATE_CONNECT_TOKEN_V2, &req)
            .await?;
        Ok(ConnectCredentials {
            url: resp.url,
            token: resp.token,
        })
    }

    /// The sandbox's files. `ClientClosed` once detached.
    pub fn filesystem(&self) -> Result<SandboxFilesystem> {
        self.check()?;
        Ok(SandboxFilesystem::new(self.router().clone()))
    }

    /// Saves the sandbox's filesystem as a new image (start sandboxes from it).
    pub async fn snapshot_filesystem(&self, params: &SnapshotParams) -> Result<Image> {
        let ttl = ttl_seconds(params.ttl)?;
        self.check()?;
        with_timeout(budget(params.timeout), "snapshotFilesystem", async {
            let req = tcr::TaskSnapshotFilesystemRequest {
                task_id: self.task_id().await?,
                snapshot_id: js::uuid(),
                ttl_seconds: Some(ttl),
                ..Default::default()
            };
            let resp = self
                .router()
                .call(tcr_rpc::TASK_SNAPSHOT_FILESYSTEM, &req, Backoff::UNARY)
                .await?;
            image_of(resp.image_id)
        })
        .await
    }

    /// Saves one directory of the sandbox as a new image (mount it with
    /// [`mount_image`](Self::mount_image)).
    pub async fn snapshot_directory(&self, path: &str, params: &SnapshotParams) -> Result<Image> {
        let path = abs_path(path, "snapshotDirectory")?;
        let ttl = ttl_seconds(params.ttl)?;
        self.check()?;
        with_timeout(budget(params.timeout), "snapshotDirectory", async {
            let req = tcr::TaskSnapshotDirectoryRequest {
                task_id: self.task_id().await?,
                path,
                snapshot_id: js::uuid(),
                ttl_seconds: Some(ttl),
                ..Default::default()
            };
            let resp = self
                .router()
                .call(tcr_rpc::TASK_SNAPSHOT_DIRECTORY, &req, Backoff::UNARY)
                .await?;
            image_of(resp.image_id)
        })
        .await
    }

    /// Mounts `image` (read-only) at `path`; without an image, an empty directory. The
    /// image must be built (`Images::build`, a snapshot, `Images::from_id`, or a sandbox
    /// created from it).
    pub async fn mount_image(&self, path: &str, image: Option<&Image>) -> Result<()> {
        let path = abs_path(path, "mountImage")?;
        let image_id = match image {
            None => String::new(),
            Some(i) => i.id().ok_or_else(|| {
                Error::invalid(
                    "Image must be built before mounting. Call `image.build(app)` first.",
                )
            })?,
        };
        self.check()?;
        let req = tcr::TaskMountDirectoryRequest {
            task_id: self.task_id().await?,
            path,
            image_id,
            ..Default::default()
        };
        self.router()
            .call(tcr_rpc::TASK_MOUNT_DIRECTORY, &req, Backoff::UNARY)
            .await
            .map(|_| ())
    }

    /// Unmounts an image mounted with [`mount_image`](Self::mount_image).
    pub async fn unmount_image(&self, path: &str) -> Result<()> {
        let path = abs_path(path, "unmountImage")?;
        self.check()?;
        let req = tcr::TaskUnmountDirectoryRequest {
            task_id: self.task_id().await?,
            path,
            ..Default::default()
        };
        self.router()
            .call(tcr_rpc::TASK_UNMOUNT_DIRECTORY, &req, Backoff::UNARY)
            .await
            .map(|_| ())
    }

    /// Reloads the sandbox's volumes, so that it sees changes committed elsewhere. Fails
    /// with `Timeout` after `timeout` (default 55 s).
    pub async fn reload_volumes(&self, timeout: Option<Duration>) -> Result<()> {
        self.check()?;
        with_timeout(budget(timeout), "reloadVolumes", async {
            let req = tcr::TaskReloadVolumesRequest {
                task_id: self.task_id().await?,
                ..Default::default()
            };
            self.router()
                .call(tcr_rpc::TASK_RELOAD_VOLUMES, &req, Backoff::UNARY)
                .await
                .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(host: &str, port: u32) -> Tunnel {
        Tunnel {
            container_port: 8080,
            host: host.into(),
            port,
            unencrypted_host: None,
            unencrypted_port: None,
        }
    }

    #[test]
    fn tunnel_urls() {
        assert_eq!(tunnel("a.modal.host", 443).url(), "https://a.modal.host");
        assert_eq!(
            tunnel("a.modal.host", 8443).url(),
            "https://a.modal.host:8443"
        );
        assert_eq!(tunnel("127.0.0.1", 40001).url(), "http://127.0.0.1:40001");
    }
}
