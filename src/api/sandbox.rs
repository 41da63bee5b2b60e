//! `Sandbox`: lifecycle, tags, exec, stdio, tunnels and connect tokens of one sandbox.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;
use futures_util::StreamExt;
use js_sys::Promise;
use modal_proto::client as pb;
use modal_proto::client::generic_result::GenericStatus;
use modal_proto::task_command_router as tcr;
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::filesystem::SandboxFilesystem;
use super::process::{readable, refresher, sleeper, writable, ContainerProcess};
use super::promise;
use crate::error::{Error, ErrorKind, Result};
use crate::exit::sandbox_returncode;
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};
use crate::options::{budget, exec_start_request, tags_to_proto, ttl_seconds, StdioBehavior};
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{self, Chunk, Opener, Writer};

/// A sandbox: a secure, isolated container. Get one from `client.sandboxes.create()`,
/// `fromId()`, `fromName()` or `list()`.
///
/// ```ts
/// await using sb = await modal.sandboxes.create(app, image);
/// const p = await sb.exec(["sh", "-c", "echo hi; exit 3"]);
/// console.log(await p.stdout.readText(), await p.wait()); // "hi\n" 3
/// ```
#[wasm_bindgen]
pub struct Sandbox {
    inner: Rc<SandboxInner>,
}

struct SandboxInner {
    router: Rc<Router>,
    returncode: Cell<Option<i32>>,
    detached: Cell<bool>,
    stdout: RefCell<Option<JsValue>>,
    stderr: RefCell<Option<JsValue>>,
    stdin: RefCell<Option<JsValue>>,
}

impl SandboxInner {
    fn check(&self) -> Result<()> {
        if self.detached.get() {
            return Err(Error::closed("Sandbox (detached)"));
        }
        self.router.conn.check_open()
    }

    fn record(&self, result: Option<&pb::GenericResult>) -> Option<i32> {
        let code = sandbox_returncode(result);
        if code.is_some() {
            self.returncode.set(code);
        }
        code
    }

    async fn wait_once(&self, timeout: f32) -> Result<Option<i32>> {
        self.check()?;
        let req = pb::SandboxWaitRequest {
            sandbox_id: self.router.sandbox_id.clone(),
            timeout,
        };
        let resp = self
            .router
            .conn
            .cp(modal_proto::rpcs::modal_client::SANDBOX_WAIT_V2, &req)
            .await?;
        Ok(self.record(resp.result.as_ref()))
    }

    async fn wait(&self) -> Result<i32> {
        loop {
            if let Some(code) = self.wait_once(10.0).await? {
                return Ok(code);
            }
        }
    }
}

impl Sandbox {
    /// The JS object for a sandbox handle (with `[Symbol.asyncDispose]` = terminate).
    pub(crate) fn from_router(router: Rc<Router>) -> JsValue {
        let sb = Sandbox {
            inner: Rc::new(SandboxInner {
                router,
                returncode: Cell::new(None),
                detached: Cell::new(false),
                stdout: RefCell::new(None),
                stderr: RefCell::new(None),
                stdin: RefCell::new(None),
            }),
        };
        let sb = js::install_async_dispose(&sb.into(), "terminate");
        js::install_files(&sb)
    }

    fn stdio_out(&self, fd: tcr::SandboxStdioFileDescriptor) -> JsValue {
        let router = self.inner.router.clone();
        let r = router.clone();
        let open: Opener = Rc::new(move |offset| {
            let r = r.clone();
            Box::pin(async move {
                let task_id = r.task_id().await?;
                let req = tcr::SandboxStdioReadV2Request {
                    task_id,
                    offset,
                    file_descriptor: fd as i32,
                };
                let s = r
                    .call_stream(
                        modal_proto::rpcs::task_command_router::SANDBOX_STDIO_READ_V2,
                        &req,
                        Backoff::STREAM,
                    )
                    .await?;
                Ok(s.map(|m| {
                    m.map(|m| Chunk {
                        data: Bytes::from(m.data),
                        starting_offset: Some(m.starting_offset),
                    })
                })
                .boxed_local())
            })
        });
        readable(
            stdio::resumable(open, refresher(&router), sleeper()),
            StreamMode::Text,
        )
    }
}

#[wasm_bindgen]
impl Sandbox {
    /// The sandbox id.
    #[wasm_bindgen(getter, js_name = sandboxId)]
    pub fn sandbox_id(&self) -> String {
        self.inner.router.sandbox_id.clone()
    }

    /// The sandbox's return code once known (after `wait()`/`poll()`/`terminate()`), else
    /// `null`: 137 when terminated, 124 on timeout, else the main process's exit code.
    #[wasm_bindgen(getter, unchecked_return_type = "number | null")]
    pub fn returncode(&self) -> JsValue {
        super::nullable(self.inner.returncode.get())
    }

    /// The main process's stdout (text). Created on first access; one reader at a time.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream<string>")]
    pub fn stdout(&self) -> JsValue {
        let mut slot = self.inner.stdout.borrow_mut();
        slot.get_or_insert_with(|| self.stdio_out(tcr::SandboxStdioFileDescriptor::Stdout))
            .clone()
    }

    /// The main process's stderr (text).
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream<string>")]
    pub fn stderr(&self) -> JsValue {
        let mut slot = self.inner.stderr.borrow_mut();
        slot.get_or_insert_with(|| self.stdio_out(tcr::SandboxStdioFileDescriptor::Stderr))
            .clone()
    }

    /// The main process's stdin; `close()` sends EOF.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalWriteStream<string>")]
    pub fn stdin(&self) -> JsValue {
        let mut slot = self.inner.stdin.borrow_mut();
        slot.get_or_insert_with(|| {
            let r = self.inner.router.clone();
            let write: Writer = Rc::new(move |offset, data, eof| {
                let r = r.clone();
                Box::pin(async move {
                    let task_id = r.task_id().await?;
                    let req = tcr::SandboxStdinWriteV2Request {
                        task_id,
                        offset,
                        data: data.to_vec(),
                        eof,
                    };
                    r.call(
                        modal_proto::rpcs::task_command_router::SANDBOX_STDIN_WRITE_V2,
                        &req,
                        Backoff::UNARY,
                    )
                    .await
                    .map(|_| ())
                })
            });
            writable(write)
        })
        .clone()
    }

    /// Runs a command in the sandbox.
    ///
    /// ```ts
    /// const p = await sb.exec(["python3", "-c", "print(1)"], { mode: "text", timeoutMs: 10000 });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<ContainerProcess>")]
    pub fn exec(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] command: JsValue,
        params: Option<Ts<ts::SandboxExecParams>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let command = convert::string_array(&command, "command")?;
            let (p, mode) = convert::options(params, "params")?;
            inner.check()?;
            let exec_id = js::uuid();
            // Validate before any request.
            exec_start_request("", &exec_id, command.clone(), &p)?;
            let task_id = inner.router.task_id().await?;
            let req = exec_start_request(&task_id, &exec_id, command, &p)?;
            inner
                .router
                .call(
                    modal_proto::rpcs::task_command_router::TASK_EXEC_START,
                    &req,
                    Backoff::UNARY,
                )
                .await?;
            Ok(ContainerProcess::start(
                inner.router.clone(),
                task_id,
                exec_id,
                mode,
                p.stdout == StdioBehavior::Pipe,
                p.stderr == StdioBehavior::Pipe,
            ))
        })
    }

    /// Waits for the sandbox to finish; resolves to its return code.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn wait(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            inner.wait().await
        })
    }

    /// The return code if the sandbox has finished, else `null` (no waiting).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | null>")]
    pub fn poll(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            Ok(super::nullable(inner.wait_once(0.0).await?))
        })
    }

    /// Terminates the sandbox. With `{ wait: true }`, resolves to its return code (137).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | undefined>")]
    pub fn terminate(&self, params: Option<Ts<ts::SandboxTerminateParams>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let wait = convert::options(params, "params")?;
            inner.check()?;
            let req = pb::SandboxTerminateRequest {
                sandbox_id: inner.router.sandbox_id.clone(),
            };
            let resp = inner
                .router
                .conn
                .cp(modal_proto::rpcs::modal_client::SANDBOX_TERMINATE_V2, &req)
                .await?;
            inner.record(resp.existing_result.as_ref());
            if wait {
                return Ok(JsValue::from(inner.wait().await?));
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Forgets this handle: later calls on it reject with `ClientClosedError`. The sandbox
    /// keeps running.
    pub fn detach(&self) {
        self.inner.detached.set(true);
    }

    /// The sandbox's tags.
    #[wasm_bindgen(js_name = getTags, unchecked_return_type = "Promise<Record<string, string>>")]
    pub fn get_tags(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            inner.check()?;
            let req = pb::SandboxTagsGetRequest {
                sandbox_id: inner.router.sandbox_id.clone(),
            };
            let resp = inner
                .router
                .conn
                .cp(modal_proto::rpcs::modal_client::SANDBOX_TAGS_GET_V2, &req)
                .await?;
            Ok(JsValue::from(convert::record(
                resp.tags
                    .iter()
                    .map(|t| (t.tag_name.as_str(), t.tag_value.as_str())),
            )))
        })
    }

    /// Replaces the sandbox's tags with `tags` (`{}` clears them).
    #[wasm_bindgen(js_name = setTags, unchecked_return_type = "Promise<void>")]
    pub fn set_tags(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] tags: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let tags = convert::string_record(&tags, "tags")?;
            inner.check()?;
            let req = pb::SandboxTagsSetRequest {
                environment_name: inner.router.conn.environment.clone(),
                sandbox_id: inner.router.sandbox_id.clone(),
                tags: tags_to_proto(&tags),
            };
            inner
                .router
                .conn
                .cp(modal_proto::rpcs::modal_client::SANDBOX_TAGS_SET_V2, &req)
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Waits until the readiness probe passes. Rejects with `TimeoutError` after
    /// `timeoutMs` (default 300000).
    #[wasm_bindgen(js_name = waitUntilReady, unchecked_return_type = "Promise<void>")]
    pub fn wait_until_ready(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] timeout_ms: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let ms = ms_or(
                convert::optional_duration(&timeout_ms, "timeoutMs")?,
                300_000.0,
            );
            inner.check()?;
            let deadline = js::now_ms() + ms;
            let task_id = inner.router.task_id().await?;
            // The server answers DEADLINE_EXCEEDED when its wait runs out: that is the
            // answer, not a transient failure, so no automatic retries here; transient
            // failures are retried below until the deadline.
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
                let call = inner.router.call(
                    modal_proto::rpcs::task_command_router::SANDBOX_WAIT_UNTIL_READY,
                    &req,
                    once,
                );
                match with_timeout(left + 5_000.0, "waitUntilReady", call).await {
                    Ok(_) => return Ok(JsValue::UNDEFINED),
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
        })
    }

    /// Tunnels by container port. Rejects with `SandboxTimeoutError` if they are not
    /// available within `timeoutMs` (default 50000).
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<number, Tunnel>>")]
    pub fn tunnels(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] timeout_ms: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let ms = ms_or(
                convert::optional_duration(&timeout_ms, "timeoutMs")?,
                50_000.0,
            );
            inner.check()?;
            let req = pb::SandboxGetTunnelsRequest {
                sandbox_id: inner.router.sandbox_id.clone(),
                timeout: (ms / 1000.0) as f32,
            };
            let resp = inner
                .router
                .conn
                .cp(
                    modal_proto::rpcs::modal_client::SANDBOX_GET_TUNNELS_V2,
                    &req,
                )
                .await?;
            if resp.result.as_ref().map(|r| r.status) == Some(GenericStatus::Timeout as i32) {
                return Err(Error::new(
                    ErrorKind::SandboxTimeout,
                    "tunnels were not available in time",
                ));
            }
            let out = js_sys::Object::new();
            for t in resp.tunnels {
                let o = js_sys::Object::new();
                let set = |k: &str, v: JsValue| {
                    let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &v);
                };
                let url = tunnel_url(&t.host, t.port);
                let pair = |h: &str, p: u32| -> JsValue {
                    js_sys::Array::of2(&JsValue::from_str(h), &JsValue::from(p)).into()
                };
                set("tlsSocket", pair(&t.host, t.port));
                if let (Some(h), Some(p)) = (&t.unencrypted_host, t.unencrypted_port) {
                    set("tcpSocket", pair(h, p));
                }
                set("host", t.host.into());
                set("port", t.port.into());
                if let Some(h) = t.unencrypted_host {
                    set("unencryptedHost", h.into());
                }
                if let Some(p) = t.unencrypted_port {
                    set("unencryptedPort", p.into());
                }
                set("url", url.into());
                let _ = js_sys::Reflect::set(&out, &t.container_port.into(), &o);
            }
            Ok(JsValue::from(out))
        })
    }

    /// A token for HTTP connections to the sandbox: `{ url, token }`.
    #[wasm_bindgen(
        js_name = createConnectToken,
        unchecked_return_type = "Promise<SandboxCreateConnectCredentials>"
    )]
    pub fn create_connect_token(
        &self,
        params: Option<Ts<ts::SandboxCreateConnectTokenParams>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let p = convert::options(params, "params")?;
            inner.check()?;
            let req = pb::SandboxCreateConnectTokenRequest {
                sandbox_id: inner.router.sandbox_id.clone(),
                user_metadata: p.user_metadata.unwrap_or_default(),
                port: p.port,
            };
            let resp = inner
                .router
                .conn
                .cp(
                    modal_proto::rpcs::modal_client::SANDBOX_CREATE_CONNECT_TOKEN_V2,
                    &req,
                )
                .await?;
            Ok(JsValue::from(convert::record([
                ("url", resp.url.as_str()),
                ("token", resp.token.as_str()),
            ])))
        })
    }

    /// Checks the sandbox exists (rejects with `NotFoundError` otherwise), refreshes
    /// `returncode`, and resolves to this sandbox.
    #[wasm_bindgen(unchecked_return_type = "Promise<Sandbox>")]
    pub fn hydrate(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            inner.wait_once(0.0).await?;
            let sb = Sandbox {
                inner: inner.clone(),
            };
            Ok(js::install_async_dispose(&sb.into(), "terminate"))
        })
    }
}

/// A tunnel's URL: `https://host[:port]`, or `http://` for a loopback host (a local
/// sandboxd forwards plain TCP there).
fn tunnel_url(host: &str, port: u32) -> String {
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

/// `d` in milliseconds, or `default_ms`.
fn ms_or(d: Option<std::time::Duration>, default_ms: f64) -> f64 {
    d.map_or(default_ms, |d| d.as_secs_f64() * 1000.0)
}

/// Runs `fut`, failing with `TimeoutError` after `ms` milliseconds (dropping it, which
/// cancels its requests).
async fn with_timeout<T>(
    ms: f64,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let fut = std::pin::pin!(fut);
    let sleep = std::pin::pin!(js::sleep(ms.min(u32::MAX as f64) as u32));
    match futures_util::future::select(fut, sleep).await {
        futures_util::future::Either::Left((r, _)) => r,
        futures_util::future::Either::Right(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("{what} did not finish within {}ms", ms as u64),
        )),
    }
}

/// A path as the bytes of the TCR's `path` fields, checked to be absolute.
fn abs_path(path: &JsValue, what: &str) -> Result<Vec<u8>> {
    let p = convert::string(path, "path")?;
    crate::fs::check_path(&p, what)?;
    Ok(p.into_bytes())
}

/// Files, images, snapshots, mounts and volumes.
#[wasm_bindgen]
impl Sandbox {
    /// The sandbox's files: `readText`, `readBytes`, `readStream`, `writeText`,
    /// `writeBytes`, `listFiles`, `stat`, `makeDirectory`, `remove`, `watch`.
    /// Throws `ClientClosedError` once the sandbox is detached. `open`, `ls`, `mkdir`, `rm`
    /// and `watch` come from `files.js` (installed by `from_router`).
    #[wasm_bindgen(getter)]
    pub fn filesystem(&self) -> Result<SandboxFilesystem, JsValue> {
        self.inner.check()?;
        Ok(SandboxFilesystem::new(self.inner.router.clone()))
    }

    /// Saves the sandbox's filesystem as a new `Image` (start sandboxes from it).
    #[wasm_bindgen(js_name = snapshotFilesystem, unchecked_return_type = "Promise<Image>")]
    pub fn snapshot_filesystem(
        &self,
        params: Option<Ts<ts::SandboxSnapshotFilesystemParams>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let o = convert::options(params, "params")?;
            let ttl = ttl_seconds(o.ttl)?;
            let timeout = budget(o.timeout).as_secs_f64() * 1000.0;
            inner.check()?;
            with_timeout(timeout, "snapshotFilesystem", async {
                let req = tcr::TaskSnapshotFilesystemRequest {
                    task_id: inner.router.task_id().await?,
                    snapshot_id: js::uuid(),
                    ttl_seconds: Some(ttl),
                    ..Default::default()
                };
                let resp = inner
                    .router
                    .call(
                        modal_proto::rpcs::task_command_router::TASK_SNAPSHOT_FILESYSTEM,
                        &req,
                        Backoff::UNARY,
                    )
                    .await?;
                image_of(resp.image_id)
            })
            .await
        })
    }

    /// Saves one directory of the sandbox as a new `Image` (mount it with `mountImage`).
    #[wasm_bindgen(js_name = snapshotDirectory, unchecked_return_type = "Promise<Image>")]
    pub fn snapshot_directory(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SandboxSnapshotDirectoryParams | undefined")]
        params: Option<Ts<ts::SandboxSnapshotFilesystemParams>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let path = abs_path(&path, "snapshotDirectory")?;
            let o = convert::options(params, "params")?;
            let ttl = ttl_seconds(o.ttl)?;
            let timeout = budget(o.timeout).as_secs_f64() * 1000.0;
            inner.check()?;
            with_timeout(timeout, "snapshotDirectory", async {
                let req = tcr::TaskSnapshotDirectoryRequest {
                    task_id: inner.router.task_id().await?,
                    path,
                    snapshot_id: js::uuid(),
                    ttl_seconds: Some(ttl),
                    ..Default::default()
                };
                let resp = inner
                    .router
                    .call(
                        modal_proto::rpcs::task_command_router::TASK_SNAPSHOT_DIRECTORY,
                        &req,
                        Backoff::UNARY,
                    )
                    .await?;
                image_of(resp.image_id)
            })
            .await
        })
    }

    /// Mounts `image` (read-only) at `path`; without an image, an empty directory.
    #[wasm_bindgen(js_name = mountImage, unchecked_return_type = "Promise<void>")]
    pub fn mount_image(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Image | undefined")] image: JsValue,
        options: Option<Ts<ts::FilesystemCallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = abs_path(&path, "mountImage")?;
            let image_id = if image.is_undefined() || image.is_null() {
                String::new()
            } else {
                let id = super::prop_string(&image, "imageId", "image")?;
                if id.is_empty() {
                    return Err(Error::invalid(
                        "the image must be built before mounting (use one from a snapshot, images.fromId, or a sandbox created from it)",
                    ));
                }
                id
            };
            inner.check()?;
            let req = tcr::TaskMountDirectoryRequest {
                task_id: inner.router.task_id().await?,
                path,
                image_id,
                ..Default::default()
            };
            inner
                .router
                .call(
                    modal_proto::rpcs::task_command_router::TASK_MOUNT_DIRECTORY,
                    &req,
                    Backoff::UNARY,
                )
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Unmounts an image mounted with `mountImage`.
    #[wasm_bindgen(js_name = unmountImage, unchecked_return_type = "Promise<void>")]
    pub fn unmount_image(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        options: Option<Ts<ts::FilesystemCallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = abs_path(&path, "unmountImage")?;
            inner.check()?;
            let req = tcr::TaskUnmountDirectoryRequest {
                task_id: inner.router.task_id().await?,
                path,
                ..Default::default()
            };
            inner
                .router
                .call(
                    modal_proto::rpcs::task_command_router::TASK_UNMOUNT_DIRECTORY,
                    &req,
                    Backoff::UNARY,
                )
                .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Reloads the sandbox's volumes, so that it sees changes committed elsewhere.
    #[wasm_bindgen(js_name = reloadVolumes, unchecked_return_type = "Promise<void>")]
    pub fn reload_volumes(&self, params: Option<Ts<ts::SandboxReloadVolumesParams>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&params), async move {
            let timeout = budget(convert::options(params, "params")?).as_secs_f64() * 1000.0;
            inner.check()?;
            with_timeout(timeout, "reloadVolumes", async {
                let req = tcr::TaskReloadVolumesRequest {
                    task_id: inner.router.task_id().await?,
                    ..Default::default()
                };
                inner
                    .router
                    .call(
                        modal_proto::rpcs::task_command_router::TASK_RELOAD_VOLUMES,
                        &req,
                        Backoff::UNARY,
                    )
                    .await?;
                Ok(JsValue::UNDEFINED)
            })
            .await
        })
    }
}

fn image_of(image_id: String) -> Result<super::Image> {
    if image_id.is_empty() {
        return Err(Error::new(
            ErrorKind::Remote,
            "the snapshot response has no image id",
        ));
    }
    Ok(super::Image(crate::objects::Image::built(image_id)))
}
