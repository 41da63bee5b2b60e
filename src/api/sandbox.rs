//! The JS `Sandbox`: JS names, promises, web streams and JS values over [`crate::Sandbox`].

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{JsString, Promise};
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::filesystem::SandboxFilesystem;
use super::process::{readable, writable, ContainerProcess};
use super::{nullable, promise, Image};
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};
use crate::sandbox as sdk;

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
    sb: sdk::Sandbox,
    /// The web streams, made on first access (one reader at a time, as in Modal's client).
    stdout: RefCell<Option<JsValue>>,
    stderr: RefCell<Option<JsValue>>,
    stdin: RefCell<Option<JsValue>>,
    /// The `tunnels()` record, once fetched (Modal JS answers with the same object).
    tunnels: RefCell<Option<JsValue>>,
}

impl Sandbox {
    /// The JS object for a sandbox (with `[Symbol.asyncDispose]` = terminate, the file
    /// methods of `files.js`, and `logs` and the refusals of `sandbox.js`).
    pub(crate) fn js(sb: sdk::Sandbox) -> JsValue {
        let sb = Sandbox {
            inner: Rc::new(SandboxInner {
                sb,
                stdout: RefCell::new(None),
                stderr: RefCell::new(None),
                stdin: RefCell::new(None),
                tunnels: RefCell::new(None),
            }),
        };
        let sb = js::install_async_dispose(&sb.into(), "terminate");
        js::install_sandbox(&js::install_files(&sb))
    }

    fn sb(&self) -> sdk::Sandbox {
        self.inner.sb.clone()
    }
}

/// The value of `slot`, made by `make` on first use.
fn cached(slot: &RefCell<Option<JsValue>>, make: impl FnOnce() -> JsValue) -> JsValue {
    slot.borrow_mut().get_or_insert_with(make).clone()
}

#[wasm_bindgen]
impl Sandbox {
    /// The sandbox id.
    #[wasm_bindgen(getter, js_name = sandboxId)]
    pub fn sandbox_id(&self) -> JsString {
        self.inner.sb.id().into()
    }

    /// The sandbox's return code once known (after `wait()`/`poll()`/`terminate()`), else
    /// `null`: 137 when terminated, 124 on timeout, else the main process's exit code.
    #[wasm_bindgen(getter, unchecked_return_type = "number | null")]
    pub fn returncode(&self) -> JsValue {
        nullable(self.inner.sb.returncode())
    }

    /// The main process's stdout (text). Created on first access; one reader at a time.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream<string>")]
    pub fn stdout(&self) -> JsValue {
        cached(&self.inner.stdout, || {
            readable(self.inner.sb.stdout(), StreamMode::Text)
        })
    }

    /// The main process's stderr (text).
    #[wasm_bindgen(getter, unchecked_return_type = "ModalReadStream<string>")]
    pub fn stderr(&self) -> JsValue {
        cached(&self.inner.stderr, || {
            readable(self.inner.sb.stderr(), StreamMode::Text)
        })
    }

    /// The main process's stdin; `close()` sends EOF.
    #[wasm_bindgen(getter, unchecked_return_type = "ModalWriteStream<string>")]
    pub fn stdin(&self) -> JsValue {
        cached(&self.inner.stdin, || writable(self.inner.sb.stdin()))
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
        let sb = self.sb();
        promise(convert::signal_of_ts(&params), async move {
            let command = convert::string_array(&command, "command")?;
            let (p, mode) = convert::options(params, "params")?;
            let process = sb.exec_command(command, &p).await?;
            Ok(ContainerProcess::new(process, mode, 0).into())
        })
    }

    /// A command already started in this sandbox, by its `execId`: e.g. a terminal's shell
    /// after the page that started it reloaded. Stdout is read from `stdoutOffset`;
    /// stdin continues where the server's left off.
    ///
    /// ```ts
    /// const shell = await sb.attach(savedExecId, { pty: true, stdoutOffset: shown });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<ContainerProcess>")]
    pub fn attach(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] exec_id: JsValue,
        params: Option<Ts<ts::SandboxAttachParams>>,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&params), async move {
            let exec_id = convert::string(&exec_id, "execId")?;
            let (pty, mode, from) = convert::options(params, "params")?;
            let process = sb.attach(&exec_id, pty).await?;
            Ok(ContainerProcess::new(process, mode, from).into())
        })
    }

    /// Waits for the sandbox to finish; resolves to its return code.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn wait(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&options), async move {
            Ok(sb.wait().await?.into())
        })
    }

    /// The return code if the sandbox has finished, else `null` (no waiting).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | null>")]
    pub fn poll(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&options), async move {
            Ok(nullable(sb.poll().await?))
        })
    }

    /// Terminates the sandbox. With `{ wait: true }`, resolves to its return code (137).
    #[wasm_bindgen(unchecked_return_type = "Promise<number | undefined>")]
    pub fn terminate(&self, params: Option<Ts<ts::SandboxTerminateParams>>) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&params), async move {
            let wait = convert::options(params, "params")?;
            sb.terminate().await?;
            if wait {
                return Ok(JsValue::from(sb.wait().await?));
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Forgets this handle: later calls on it but `wait()` reject with `ClientClosedError`.
    /// The sandbox keeps running.
    pub fn detach(&self) {
        self.inner.sb.detach();
    }

    /// The sandbox's tags.
    #[wasm_bindgen(js_name = getTags, unchecked_return_type = "Promise<Record<string, string>>")]
    pub fn get_tags(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&options), async move {
            let tags = sb.tags().await?;
            Ok(JsValue::from(convert::record(
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
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
        let sb = self.sb();
        promise(convert::signal_of_ts(&options), async move {
            let tags = convert::string_record(&tags, "tags")?;
            sb.set_tags(&tags).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Waits until the readiness probe passes. Rejects with `TimeoutError` after
    /// `timeoutMs` (default 300000; 0 is refused with `InvalidError`).
    #[wasm_bindgen(js_name = waitUntilReady, unchecked_return_type = "Promise<void>")]
    pub fn wait_until_ready(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] timeout_ms: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of_ts(&options), async move {
            let timeout = convert::optional_duration(&timeout_ms, "timeoutMs")?;
            sb.wait_until_ready(timeout).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Tunnels by container port. Rejects with `SandboxTimeoutError` if they are not
    /// available within `timeoutMs` (default 50000). Fetched once per sandbox handle, as
    /// Modal JS does.
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<number, Tunnel>>")]
    pub fn tunnels(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] timeout_ms: JsValue,
        options: Option<Ts<ts::CallOptions>>,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            let timeout = convert::optional_duration(&timeout_ms, "timeoutMs")?;
            let tunnels = inner.sb.tunnels(timeout).await?;
            let out = js_sys::Object::new();
            for t in tunnels {
                let tunnel =
                    js::Tunnel::new(&t.host, t.port, t.unencrypted_host, t.unencrypted_port);
                let _ = js_sys::Reflect::set(&out, &t.container_port.into(), &tunnel);
            }
            Ok(cached(&inner.tunnels, || out.into()))
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
        let sb = self.sb();
        promise(convert::signal_of_ts(&params), async move {
            let p = convert::options(params, "params")?;
            let c = sb.create_connect_token(&p).await?;
            Ok(JsValue::from(convert::record([
                ("url", c.url.as_str()),
                ("token", c.token.as_str()),
            ])))
        })
    }

    /// One control-plane call for `sandbox.logs` (src/js/sandbox.js, which encodes and
    /// decodes its messages): `which` is 0 `AppFetchLogs`, 1 `AppCountLogs`, 2
    /// `SandboxWaitV2`, 3 `SandboxGetTaskId`; resolves to the reply's bytes. On a detached
    /// handle too, as Modal JS's `sandbox.logs` works after `detach()`.
    #[wasm_bindgen(js_name = _cp, skip_typescript)]
    pub fn cp_call(&self, which: JsValue, body: JsValue) -> Promise {
        let sb = self.sb();
        promise(Ok(None), async move {
            // sandbox.js passes a call number and bytes; anything else is refused with a type
            let which = convert::u32_arg(&which, "which")?;
            let body = js::bytes(&body)
                .ok_or_else(|| crate::error::Error::invalid("body must be a Uint8Array"))?
                .to_vec();
            let reply = sb.logs_call(which, body).await?;
            Ok(js_sys::Uint8Array::from(&reply[..]).into())
        })
    }

    /// Checks the sandbox exists (rejects with `NotFoundError` otherwise), refreshes
    /// `returncode`, and resolves to this sandbox.
    #[wasm_bindgen(unchecked_return_type = "Promise<Sandbox>")]
    pub fn hydrate(&self, options: Option<Ts<ts::CallOptions>>) -> Promise {
        let inner = self.inner.clone();
        promise(convert::signal_of_ts(&options), async move {
            inner.sb.hydrate().await?;
            Ok(js::install_async_dispose(
                &Sandbox { inner }.into(),
                "terminate",
            ))
        })
    }
}

/// Files, images, snapshots, mounts and volumes.
#[wasm_bindgen]
impl Sandbox {
    /// The sandbox's files: `readText`, `readBytes`, `readStream`, `writeText`,
    /// `writeBytes`, `listFiles`, `stat`, `makeDirectory`, `remove`, `watch`.
    /// Throws `ClientClosedError` once the sandbox is detached. `open`, `ls`, `mkdir`, `rm`
    /// and `watch` come from `files.js` (installed by `Sandbox::js`).
    #[wasm_bindgen(getter)]
    pub fn filesystem(&self) -> Result<SandboxFilesystem, JsValue> {
        Ok(SandboxFilesystem(self.inner.sb.filesystem()?))
    }

    /// Saves the sandbox's filesystem as a new `Image` (start sandboxes from it).
    #[wasm_bindgen(js_name = snapshotFilesystem, unchecked_return_type = "Promise<Image>")]
    pub fn snapshot_filesystem(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SandboxSnapshotFilesystemParams | undefined")]
        params: JsValue,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of(&params), async move {
            let p = convert::options_of::<ts::SandboxSnapshotFilesystemParams>(&params, "params")?;
            Ok(Image(sb.snapshot_filesystem(&p).await?, sb.client()).into())
        })
    }

    /// Saves one directory of the sandbox as a new `Image` (mount it with `mountImage`).
    #[wasm_bindgen(js_name = snapshotDirectory, unchecked_return_type = "Promise<Image>")]
    pub fn snapshot_directory(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "SandboxSnapshotDirectoryParams | undefined")]
        params: JsValue,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of(&params), async move {
            let path = convert::string(&path, "path")?;
            let p = convert::options_of::<ts::SandboxSnapshotFilesystemParams>(&params, "params")?;
            Ok(Image(sb.snapshot_directory(&path, &p).await?, sb.client()).into())
        })
    }

    /// Mounts `image` at `path`, writable (writes stay in this sandbox; the image never
    /// changes); without an image, an empty directory.
    #[wasm_bindgen(js_name = mountImage, unchecked_return_type = "Promise<void>")]
    pub fn mount_image(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Image | undefined")] image: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let image = if image.is_undefined() || image.is_null() {
                None
            } else {
                Some(super::client::image_of(&image)?)
            };
            sb.mount_image(&path, image.as_ref()).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Unmounts an image mounted with `mountImage`.
    #[wasm_bindgen(js_name = unmountImage, unchecked_return_type = "Promise<void>")]
    pub fn unmount_image(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            sb.unmount_image(&path).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Reloads the sandbox's volumes, so that it sees changes committed elsewhere.
    #[wasm_bindgen(js_name = reloadVolumes, unchecked_return_type = "Promise<void>")]
    pub fn reload_volumes(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SandboxReloadVolumesParams | undefined")]
        params: JsValue,
    ) -> Promise {
        let sb = self.sb();
        promise(convert::signal_of(&params), async move {
            let timeout = convert::options_of::<ts::SandboxReloadVolumesParams>(&params, "params")?;
            sb.reload_volumes(timeout).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
