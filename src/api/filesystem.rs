//! Files in a sandbox: `sandbox.filesystem` (Modal's JS client), `sandbox.open()` (a
//! Python-style file handle), and the `ls`/`mkdir`/`rm`/`watch` shorthands. Everything
//! runs the in-sandbox helper (`crate::fs::HELPER`) through ordinary exec: its stdout is
//! read as a resumable stream, uploads go to its stdin as offset-carrying
//! `TaskExecStdinWrite` chunks, and failures come back as typed errors (`crate::fs`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;
use futures_util::lock::Mutex;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use futures_util::SinkExt;
use js_sys::{Function, Promise, Uint8Array};
use modal_proto::task_command_router as tcr;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::process::{exec_output, exec_stdin, exec_wait, readable};
use super::promise;
use crate::error::{Error, ErrorKind, Result};
use crate::fileio::{FileState, Mode};
use crate::fs::{self, FileInfo, Op, WatchEvent};
use crate::js::{self, convert};
use crate::params::{SandboxExecParams, StreamMode};
use crate::retry::Backoff;
use crate::rpc::Router;
use crate::stdio::{OffsetSink, MAX_WRITE};

#[wasm_bindgen(typescript_custom_section)]
const TS_FS: &str = r#"
/** Type of a filesystem entry. */
export type FileType = "file" | "directory" | "symlink";
/** Metadata of a file, directory or symlink in a sandbox. */
export interface FileInfo {
  readonly name: string;
  readonly path: string;
  readonly type: FileType;
  readonly size: number;
  readonly mode: number;
  /** Permission bits in octal, e.g. `"0644"`. */
  readonly permissions: string;
  readonly owner: string;
  readonly group: string;
  /** Unix epoch seconds. */
  readonly modifiedTime: number;
  readonly symlinkTarget: string | null;
}
/** Type of a filesystem watch event (renames are reported as `"Modify"`). */
export type FileWatchEventType = "Access" | "Create" | "Modify" | "Remove" | "Unknown";
/** A change seen by `watch()`. */
export interface FileWatchEvent {
  readonly eventType: FileWatchEventType;
  readonly paths: string[];
}
/** Progress of an upload or download. */
export interface TransferProgress {
  /** Bytes transferred so far. */
  loaded: number;
  /** Total bytes, when known (Blob and buffer uploads; downloads with a stat). */
  total?: number;
}
/** Options of filesystem calls. */
export interface FilesystemCallOptions {
  /** Aborting rejects the call with the signal's reason and cancels its requests. */
  signal?: AbortSignal;
}
/** Options of uploads and downloads. */
export interface FilesystemTransferOptions extends FilesystemCallOptions {
  /** Called as bytes go over the wire (after each chunk of up to 1 MiB). */
  onProgress?: (progress: TransferProgress) => void;
}
/** What `writeBytes()` accepts. Strings are written as UTF-8. */
export type FileWriteSource = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array | ArrayBuffer | string> | string;
/** Options of `filesystem.makeDirectory()`. */
export interface FilesystemMakeDirectoryOptions extends FilesystemCallOptions {
  /** Create missing parents; succeed if it exists (default `true`). */
  createParents?: boolean;
}
/** Options of `sandbox.mkdir()`. */
export interface SandboxMkdirOptions extends FilesystemCallOptions {
  /** Create missing parents; succeed if it exists (default `false`, as in Python). */
  parents?: boolean;
}
/** Options of `filesystem.remove()` / `sandbox.rm()`. */
export interface FilesystemRemoveOptions extends FilesystemCallOptions {
  /** Remove a directory and its contents (default `false`: only empty directories). */
  recursive?: boolean;
}
/** Options of `watch()`. */
export interface FilesystemWatchOptions {
  /** Only these event types (default: all; `[]` suppresses all). */
  filter?: FileWatchEventType[];
  /** Also watch nested subdirectories. */
  recursive?: boolean;
  /** Stop after this long (truncated to whole seconds); default: until stopped. */
  timeoutMs?: number;
  /** Aborting ends the iteration (`done: true`) and stops the watcher. */
  signal?: AbortSignal;
}
/** Options of `snapshotFilesystem()`. */
export interface SandboxSnapshotFilesystemParams extends FilesystemCallOptions {
  /** Overall budget in milliseconds (default 55000); then `TimeoutError`. */
  timeoutMs?: number;
  /** Lifetime of the image (a multiple of 1000, default 30 days); `null`: no expiry. */
  ttlMs?: number | null;
}
/** Options of `snapshotDirectory()`. */
export interface SandboxSnapshotDirectoryParams extends SandboxSnapshotFilesystemParams {}
/** Options of `reloadVolumes()`. */
export interface SandboxReloadVolumesParams extends FilesystemCallOptions {
  /** Overall budget in milliseconds (default 55000). */
  timeoutMs?: number;
}
"#;

// ---- options, read without serde (smaller wasm) -------------------------------------

/// An options object; `undefined`/`null` mean no options.
pub(crate) struct Opts(JsValue);

impl Opts {
    pub(crate) fn new(v: &JsValue, what: &str) -> Result<Opts> {
        if v.is_undefined() || v.is_null() {
            return Ok(Opts(JsValue::UNDEFINED));
        }
        if !v.is_object() {
            return Err(Error::invalid(format!("{what} must be an object")));
        }
        Ok(Opts(v.clone()))
    }

    fn get(&self, key: &str) -> JsValue {
        if self.0.is_undefined() {
            return JsValue::UNDEFINED;
        }
        js_sys::Reflect::get(&self.0, &JsValue::from_str(key)).unwrap_or_default()
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_bool()
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{key} must be a boolean")))
    }

    pub(crate) fn ms(&self, key: &str) -> Result<Option<f64>> {
        convert::opt_ms(&self.get(key), key)
    }

    /// `undefined` → `None`, `null` → `Some(None)`, a number → `Some(Some(n))`.
    pub(crate) fn nullable_ms(&self, key: &str) -> Result<Option<Option<f64>>> {
        let v = self.get(key);
        if v.is_undefined() {
            return Ok(None);
        }
        if v.is_null() {
            return Ok(Some(None));
        }
        v.as_f64()
            .map(|n| Some(Some(n)))
            .ok_or_else(|| Error::invalid(format!("{key} must be a number or null")))
    }

    fn func(&self, key: &str) -> Result<Option<Function>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.dyn_into::<Function>()
            .map(Some)
            .map_err(|_| Error::invalid(format!("{key} must be a function")))
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        convert::string_array(&v, key).map(Some)
    }

    pub(crate) fn signal(&self) -> Result<Option<web_sys::AbortSignal>> {
        convert::signal_of(&self.0)
    }
}

/// The signal of `options`, for `promise()` (invalid options reject the promise).
pub(crate) fn signal_of(options: &JsValue) -> Result<Option<web_sys::AbortSignal>> {
    Opts::new(options, "options")?.signal()
}

fn report(progress: &Option<Function>, loaded: u64, total: Option<f64>) {
    if let Some(f) = progress {
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"loaded".into(), &JsValue::from(loaded as f64));
        if let Some(t) = total {
            let _ = js_sys::Reflect::set(&o, &"total".into(), &JsValue::from(t));
        }
        // A throwing callback does not break the transfer.
        let _ = f.call1(&JsValue::NULL, &o);
    }
}

// ---- running the helper ---------------------------------------------------------------

/// One run of the helper.
struct Helper {
    router: Rc<Router>,
    task_id: String,
    exec_id: String,
}

impl Helper {
    async fn start(router: &Rc<Router>, command: String) -> Result<Helper> {
        let task_id = router.task_id().await?;
        let exec_id = js::uuid();
        let p = SandboxExecParams::default();
        let req = crate::params::exec_start_request(
            &task_id,
            &exec_id,
            vec![fs::HELPER.to_string(), command],
            &p,
        )?;
        router
            .call(crate::rpcs::TASK_EXEC_START, &req, Backoff::UNARY)
            .await?;
        Ok(Helper {
            router: router.clone(),
            task_id,
            exec_id,
        })
    }

    fn output(
        &self,
        fd: tcr::TaskExecStdioFileDescriptor,
    ) -> LocalBoxStream<'static, Result<Bytes>> {
        exec_output(&self.router, &self.task_id, &self.exec_id, fd)
    }

    fn stdout(&self) -> LocalBoxStream<'static, Result<Bytes>> {
        self.output(tcr::TaskExecStdioFileDescriptor::Stdout)
    }

    fn stdin(&self) -> OffsetSink {
        OffsetSink::new(exec_stdin(&self.router, &self.task_id, &self.exec_id))
    }

    /// Sends EOF to stdin (stops a watch) without waiting.
    fn close_stdin(&self) {
        let write = exec_stdin(&self.router, &self.task_id, &self.exec_id);
        wasm_bindgen_futures::spawn_local(async move {
            let _ = write(0, Bytes::new(), true).await;
        });
    }

    /// Waits for the exit; a non-zero exit becomes the typed error its stderr describes.
    async fn finish(&self, op: Op, path: &str) -> Result<()> {
        let stderr = collect(
            self.output(tcr::TaskExecStdioFileDescriptor::Stderr),
            |_| {},
        )
        .await?;
        let code = exec_wait(&self.router, &self.task_id, &self.exec_id).await?;
        if code == 0 {
            Ok(())
        } else {
            Err(fs::helper_error(op, path, code, &stderr))
        }
    }

    /// The helper's typed error if it has already failed (no waiting).
    async fn failure(&self, op: Op, path: &str) -> Option<Error> {
        let req = tcr::TaskExecPollRequest {
            task_id: self.task_id.clone(),
            exec_id: self.exec_id.clone(),
        };
        let resp = self
            .router
            .call(crate::rpcs::TASK_EXEC_POLL, &req, Backoff::UNARY)
            .await
            .ok()?;
        resp.exit_status.as_ref()?;
        self.finish(op, path).await.err()
    }
}

async fn collect(
    mut s: LocalBoxStream<'static, Result<Bytes>>,
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
        progress(out.len() as u64);
    }
    Ok(out)
}

/// Runs a helper command to completion; its stdout.
async fn run(router: &Rc<Router>, op: Op, path: &str, command: String) -> Result<Vec<u8>> {
    let h = Helper::start(router, command).await?;
    let out = collect(h.stdout(), |_| {}).await?;
    h.finish(op, path).await?;
    Ok(out)
}

/// The file's bytes as a stream that ends with the helper's error, if any.
fn download(router: Rc<Router>, path: String) -> LocalBoxStream<'static, Result<Bytes>> {
    stream::once(async move {
        fs::check_path(&path, "read")?;
        let h = Rc::new(Helper::start(&router, fs::read_command(&path)).await?);
        let h2 = h.clone();
        let tail = stream::once(async move { h2.finish(Op::Read, &path).await })
            .filter_map(|r| futures_util::future::ready(r.err().map(Err)));
        Ok::<_, Error>(h.stdout().chain(tail).boxed_local())
    })
    .map(|r| match r {
        Ok(s) => s,
        Err(e) => stream::once(futures_util::future::ready(Err(e))).boxed_local(),
    })
    .flatten()
    .boxed_local()
}

async fn read_all(router: &Rc<Router>, path: &str, progress: Option<Function>) -> Result<Vec<u8>> {
    let total = if progress.is_some() {
        stat(router, path).await.ok().map(|i| i.size)
    } else {
        None
    };
    let s = download(router.clone(), path.to_string());
    let data = collect(s, |n| report(&progress, n, total)).await?;
    Ok(data)
}

async fn stat(router: &Rc<Router>, path: &str) -> Result<FileInfo> {
    fs::check_path(path, "stat")?;
    let out = run(router, Op::Stat, path, fs::stat_command(path)).await?;
    fs::parse_entry(&out)
}

async fn list(router: &Rc<Router>, path: &str) -> Result<Vec<FileInfo>> {
    fs::check_path(path, "listFiles")?;
    let out = run(router, Op::List, path, fs::list_command(path)).await?;
    fs::parse_entries(&out)
}

async fn mkdir(router: &Rc<Router>, path: &str, parents: bool) -> Result<()> {
    fs::check_path(path, "makeDirectory")?;
    run(
        router,
        Op::MakeDirectory,
        path,
        fs::mkdir_command(path, parents),
    )
    .await?;
    Ok(())
}

async fn remove(router: &Rc<Router>, path: &str, recursive: bool) -> Result<()> {
    fs::check_path(path, "remove")?;
    run(
        router,
        Op::Remove,
        path,
        fs::remove_command(path, recursive),
    )
    .await?;
    Ok(())
}

/// Bytes to upload, and their total size when known.
type Source = (LocalBoxStream<'static, Result<Bytes>>, Option<f64>);

/// One chunk of a JS source: `Uint8Array`, `ArrayBuffer`, any `ArrayBufferView`, string.
fn js_bytes(v: &JsValue) -> Option<Bytes> {
    if let Some(s) = v.as_string() {
        return Some(Bytes::from(s.into_bytes()));
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Some(Bytes::from(a.to_vec()));
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Some(Bytes::from(Uint8Array::new(b).to_vec()));
    }
    if js_sys::ArrayBuffer::is_view(v) {
        let get = |k: &str| js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or_default();
        let (buf, off, len) = (get("buffer"), get("byteOffset"), get("byteLength"));
        let (off, len) = (off.as_f64()? as u32, len.as_f64()? as u32);
        let arr = Uint8Array::new_with_byte_offset_and_length(&buf, off, len);
        return Some(Bytes::from(arr.to_vec()));
    }
    None
}

fn is_function(v: &JsValue, key: &str) -> bool {
    v.is_object()
        && js_sys::Reflect::get(v, &JsValue::from_str(key))
            .map(|f| f.is_function())
            .unwrap_or(false)
}

fn web_stream(v: JsValue) -> Result<LocalBoxStream<'static, Result<Bytes>>> {
    let raw: web_sys::ReadableStream = v.unchecked_into();
    let s = wasm_streams::ReadableStream::from_raw(raw)
        .try_into_stream()
        .map_err(|_| Error::invalid("the ReadableStream is locked"))?;
    Ok(s.map(|r| match r {
        Ok(chunk) => js_bytes(&chunk).ok_or_else(|| {
            Error::invalid("stream chunks must be Uint8Array, ArrayBuffer or string")
        }),
        Err(e) => Err(Error::new(
            ErrorKind::Invalid,
            format!(
                "the source stream failed: {}",
                e.as_string()
                    .or_else(|| js_sys::Reflect::get(&e, &"message".into())
                        .ok()
                        .and_then(|m| m.as_string()))
                    .unwrap_or_default()
            ),
        )),
    })
    .boxed_local())
}

/// Blob, ArrayBuffer(View), string or ReadableStream as bytes to upload.
fn source(data: &JsValue) -> Result<Source> {
    if let Some(b) = js_bytes(data) {
        let n = b.len() as f64;
        return Ok((
            stream::once(futures_util::future::ready(Ok(b))).boxed_local(),
            Some(n),
        ));
    }
    if is_function(data, "getReader") {
        return Ok((web_stream(data.clone())?, None));
    }
    // A Blob (or File): `size` and `stream()`.
    if is_function(data, "stream") && is_function(data, "arrayBuffer") {
        let size = js_sys::Reflect::get(data, &"size".into())
            .ok()
            .and_then(|s| s.as_f64());
        let f: Function = js_sys::Reflect::get(data, &"stream".into())
            .unwrap_or_default()
            .unchecked_into();
        let s = f
            .call0(data)
            .map_err(|_| Error::invalid("Blob.stream() failed"))?;
        return Ok((web_stream(s)?, size));
    }
    Err(Error::invalid(
        "data must be a Blob, ArrayBuffer, ArrayBufferView, ReadableStream or string",
    ))
}

/// Writes `src` to `path` (created or replaced), reporting progress per chunk sent.
async fn upload(
    router: &Rc<Router>,
    path: &str,
    src: Source,
    progress: Option<Function>,
) -> Result<()> {
    fs::check_path(path, "write")?;
    let (mut input, total) = src;
    let h = Helper::start(router, fs::write_command(path)).await?;
    let sent = async {
        let mut sink = h.stdin();
        let mut buf: Vec<u8> = Vec::new();
        let mut loaded = 0u64;
        let mut ended = false;
        while !ended {
            match input.next().await {
                Some(chunk) => buf.extend_from_slice(&chunk?),
                None => ended = true,
            }
            while buf.len() >= MAX_WRITE || (ended && !buf.is_empty()) {
                let n = buf.len().min(MAX_WRITE);
                let piece: Vec<u8> = buf.drain(..n).collect();
                sink.send(Bytes::from(piece)).await?;
                loaded += n as u64;
                report(&progress, loaded, total);
            }
        }
        if loaded == 0 {
            report(&progress, 0, total);
        }
        sink.close().await
    }
    .await;
    match sent {
        Ok(()) => h.finish(Op::Write, path).await,
        // A helper that already failed explains the failure better than its stdin does.
        Err(e) => Err(h.failure(Op::Write, path).await.unwrap_or(e)),
    }
}

// ---- JS values --------------------------------------------------------------------------

fn info_js(i: &FileInfo) -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &v);
    };
    set("name", i.name.as_str().into());
    set("path", i.path.as_str().into());
    set("type", i.file_type.as_str().into());
    set("size", i.size.into());
    set("mode", i.mode.into());
    set("permissions", i.permissions.as_str().into());
    set("owner", i.owner.as_str().into());
    set("group", i.group.as_str().into());
    set("modifiedTime", i.modified_time.into());
    set(
        "symlinkTarget",
        i.symlink_target
            .as_deref()
            .map(JsValue::from_str)
            .unwrap_or(JsValue::NULL),
    );
    o.into()
}

fn event_js(e: &WatchEvent) -> JsValue {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"eventType".into(), &e.event_type.into());
    let paths: js_sys::Array = e.paths.iter().map(|p| JsValue::from_str(p)).collect();
    let _ = js_sys::Reflect::set(&o, &"paths".into(), &paths);
    o.into()
}

fn iter_result(value: JsValue, done: bool) -> JsValue {
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"value".into(), &value);
    let _ = js_sys::Reflect::set(&o, &"done".into(), &JsValue::from_bool(done));
    o.into()
}

// ---- sandbox.filesystem ------------------------------------------------------------------

/// Files of a sandbox, as `sandbox.filesystem` of Modal's JS client. Paths are absolute.
///
/// ```ts
/// await sb.filesystem.writeText("hello", "/tmp/a.txt");
/// console.log(await sb.filesystem.readText("/tmp/a.txt"));
/// for (const f of await sb.filesystem.listFiles("/tmp")) console.log(f.name, f.size);
/// ```
#[wasm_bindgen]
pub struct SandboxFilesystem {
    router: Rc<Router>,
}

impl SandboxFilesystem {
    pub(crate) fn new(router: Rc<Router>) -> SandboxFilesystem {
        SandboxFilesystem { router }
    }
}

#[wasm_bindgen]
impl SandboxFilesystem {
    /// Reads a file as bytes. `onProgress` reports the bytes received.
    #[wasm_bindgen(js_name = readBytes, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn read_bytes(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemTransferOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let progress = Opts::new(&options, "options")?.func("onProgress")?;
            let data = read_all(&router, &path, progress).await?;
            Ok(Uint8Array::from(&data[..]))
        })
    }

    /// Reads a file as UTF-8 text (invalid bytes become U+FFFD).
    #[wasm_bindgen(js_name = readText, unchecked_return_type = "Promise<string>")]
    pub fn read_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemTransferOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let progress = Opts::new(&options, "options")?.func("onProgress")?;
            let data = read_all(&router, &path, progress).await?;
            Ok(String::from_utf8_lossy(&data).into_owned())
        })
    }

    /// A file's bytes as a pull-based stream (for large files); a failure (e.g. not found)
    /// errors the stream. Cancelling it stops the download.
    #[wasm_bindgen(js_name = readStream, unchecked_return_type = "ModalReadStream<Uint8Array>")]
    pub fn read_stream(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
    ) -> Result<JsValue, JsValue> {
        let path = convert::string(&path, "path")?;
        Ok(readable(
            download(self.router.clone(), path),
            StreamMode::Binary,
        ))
    }

    /// Writes bytes (a `Blob`, `ArrayBuffer`, typed array, `ReadableStream` or string) to a
    /// file, replacing it; parents are created. Streams upload in chunks of up to 1 MiB.
    #[wasm_bindgen(js_name = writeBytes, unchecked_return_type = "Promise<void>")]
    pub fn write_bytes(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FileWriteSource")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemTransferOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let progress = Opts::new(&options, "options")?.func("onProgress")?;
            let src = source(&data)?;
            upload(&router, &path, src, progress).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Writes UTF-8 text to a file, replacing it; parents are created.
    #[wasm_bindgen(js_name = writeText, unchecked_return_type = "Promise<void>")]
    pub fn write_text(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemTransferOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let text = convert::string(&data, "data")?;
            let path = convert::string(&path, "path")?;
            let progress = Opts::new(&options, "options")?.func("onProgress")?;
            let n = text.len() as f64;
            let src = (
                stream::once(futures_util::future::ready(Ok(Bytes::from(
                    text.into_bytes(),
                ))))
                .boxed_local(),
                Some(n),
            );
            upload(&router, &path, src, progress).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The entries of a directory, sorted by name.
    #[wasm_bindgen(js_name = listFiles, unchecked_return_type = "Promise<FileInfo[]>")]
    pub fn list_files(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let entries = list(&router, &path).await?;
            Ok(entries.iter().map(info_js).collect::<js_sys::Array>())
        })
    }

    /// Metadata of one path (a symlink itself, not its target).
    #[wasm_bindgen(unchecked_return_type = "Promise<FileInfo>")]
    pub fn stat(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            Ok(info_js(&stat(&router, &path).await?))
        })
    }

    /// Creates a directory (with missing parents unless `createParents: false`).
    #[wasm_bindgen(js_name = makeDirectory, unchecked_return_type = "Promise<void>")]
    pub fn make_directory(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemMakeDirectoryOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let parents = Opts::new(&options, "options")?
                .bool("createParents")?
                .unwrap_or(true);
            mkdir(&router, &path, parents).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes a file or an empty directory (any directory with `recursive: true`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemRemoveOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let router = self.router.clone();
        promise(signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let recursive = Opts::new(&options, "options")?
                .bool("recursive")?
                .unwrap_or(false);
            remove(&router, &path, recursive).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Watches a path for changes: an async iterator of events that ends when `timeoutMs`
    /// passes, the signal aborts, or the loop breaks.
    ///
    /// ```ts
    /// for await (const ev of sb.filesystem.watch("/tmp", { timeoutMs: 10000 })) console.log(ev);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "AsyncIterableIterator<FileWatchEvent>")]
    pub fn watch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FilesystemWatchOptions | undefined")]
        options: JsValue,
    ) -> Result<JsValue, JsValue> {
        Ok(watch(self.router.clone(), &path, &options)?)
    }
}

// ---- watch ---------------------------------------------------------------------------------

struct WatchState {
    helper: Option<Rc<Helper>>,
    out: Option<LocalBoxStream<'static, Result<Bytes>>>,
    lines: fs::Lines,
    queue: VecDeque<WatchEvent>,
    done: bool,
    error: Option<Error>,
}

impl WatchState {
    fn stop(&mut self) {
        self.done = true;
        self.out = None;
        self.queue.clear();
        if let Some(h) = self.helper.take() {
            h.close_stdin();
        }
    }
}

/// The async iterator of `watch()`.
#[wasm_bindgen]
pub struct FileWatchIterator {
    state: Rc<Mutex<WatchState>>,
    signal: Option<web_sys::AbortSignal>,
    path: String,
}

pub(crate) fn watch(router: Rc<Router>, path: &JsValue, options: &JsValue) -> Result<JsValue> {
    let path = convert::string(path, "path")?;
    fs::check_path(&path, "watch")?;
    let o = Opts::new(options, "options")?;
    let signal = o.signal()?;
    let filter = o.strings("filter")?;
    let command = fs::watch_command(
        &path,
        o.bool("recursive")?.unwrap_or(false),
        filter.as_deref(),
        o.ms("timeoutMs")?,
    )?;
    let state = Rc::new(Mutex::new(WatchState {
        helper: None,
        out: None,
        lines: fs::Lines::default(),
        queue: VecDeque::new(),
        done: false,
        error: None,
    }));
    // Start the watcher now, so that changes made before the first `next()` are seen.
    let st = state.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let mut st = st.lock().await;
        if st.done {
            return;
        }
        match Helper::start(&router, command).await {
            Ok(h) => {
                st.out = Some(h.stdout());
                st.helper = Some(Rc::new(h));
            }
            Err(e) => {
                st.done = true;
                st.error = Some(e);
            }
        }
    });
    let it = FileWatchIterator {
        state,
        signal,
        path,
    };
    Ok(js::make_async_iterable(&it.into()))
}

#[wasm_bindgen]
impl FileWatchIterator {
    /// The next event (`{ value, done }`).
    #[wasm_bindgen(unchecked_return_type = "Promise<IteratorResult<FileWatchEvent, undefined>>")]
    pub fn next(&self) -> Promise {
        let state = self.state.clone();
        let signal = self.signal.clone();
        let path = self.path.clone();
        super::js_promise(Box::pin(async move {
            if signal.as_ref().is_some_and(|s| s.aborted()) {
                state.lock().await.stop();
                return Ok(iter_result(JsValue::UNDEFINED, true));
            }
            let st = state.clone();
            let r = js::with_signal(signal.clone(), async move {
                let mut st = st.lock().await;
                next_event(&mut st, &path).await.map_err(Error::into_js)
            })
            .await;
            match r {
                Ok(Some(ev)) => Ok(iter_result(event_js(&ev), false)),
                Ok(None) => Ok(iter_result(JsValue::UNDEFINED, true)),
                Err(_) if signal.as_ref().is_some_and(|s| s.aborted()) => {
                    state.lock().await.stop();
                    Ok(iter_result(JsValue::UNDEFINED, true))
                }
                Err(e) => Err(e),
            }
        }))
    }

    /// Stops watching.
    #[wasm_bindgen(
        js_name = "return",
        unchecked_return_type = "Promise<IteratorResult<FileWatchEvent, undefined>>"
    )]
    pub fn return_(&self) -> Promise {
        let state = self.state.clone();
        super::js_promise(Box::pin(async move {
            state.lock().await.stop();
            Ok(iter_result(JsValue::UNDEFINED, true))
        }))
    }
}

async fn next_event(st: &mut WatchState, path: &str) -> Result<Option<WatchEvent>> {
    loop {
        if let Some(ev) = st.queue.pop_front() {
            return Ok(Some(ev));
        }
        if let Some(e) = st.error.take() {
            return Err(e);
        }
        if st.done {
            return Ok(None);
        }
        let Some(out) = st.out.as_mut() else {
            st.done = true;
            continue;
        };
        match out.next().await {
            Some(Ok(bytes)) => {
                for line in st.lines.push(&bytes) {
                    st.queue.extend(fs::parse_event(&line));
                }
            }
            Some(Err(e)) => {
                st.done = true;
                return Err(e);
            }
            None => {
                if let Some(line) = st.lines.finish() {
                    st.queue.extend(fs::parse_event(&line));
                }
                st.out = None;
                st.done = true;
                if let Some(h) = st.helper.take() {
                    st.error = h.finish(Op::Watch, path).await.err();
                }
            }
        }
    }
}

// ---- sandbox.open() ------------------------------------------------------------------------

struct FileInner {
    router: Rc<Router>,
    path: String,
    state: RefCell<FileState>,
    flushing: Mutex<()>,
}

impl FileInner {
    async fn flush(&self) -> Result<()> {
        let _guard = self.flushing.lock().await;
        let pending = self.state.borrow().pending()?;
        if let Some((data, version)) = pending {
            let n = data.len() as f64;
            let src = (
                stream::once(futures_util::future::ready(Ok(Bytes::from(data)))).boxed_local(),
                Some(n),
            );
            upload(&self.router, &self.path, src, None).await?;
            self.state.borrow_mut().saved(version);
        }
        Ok(())
    }
}

/// A file opened with `sandbox.open(path, mode)`, like Python's file objects: `read`,
/// `readline`, `write`, `seek`, `tell`, `flush`, `close`. The content is read when opened
/// and written back whole on `flush()` and `close()`.
///
/// ```ts
/// await using f = await sb.open("/tmp/notes.txt", "a+");
/// await f.write("more\n");
/// f.seek(0);
/// console.log(await f.read());
/// ```
#[wasm_bindgen]
pub struct FileIO {
    inner: Rc<FileInner>,
}

/// Opens `path` with a Python `mode` (`r`, `w`, `a`, `x`, with `+`, `b`).
pub(crate) async fn open(router: Rc<Router>, path: String, mode: &str) -> Result<JsValue> {
    let mode = Mode::parse(mode)?;
    fs::check_path(&path, "open")?;
    if mode.exclusive {
        match stat(&router, &path).await {
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::FsPathAlreadyExists,
                    format!("File exists: {path}"),
                ))
            }
            Err(e) if e.kind == ErrorKind::FsNotFound => {}
            Err(e) => return Err(e),
        }
    }
    let (data, dirty) = if mode.truncate || mode.exclusive {
        (Vec::new(), true)
    } else {
        match read_all(&router, &path, None).await {
            Ok(d) => (d, false),
            Err(e) if e.kind == ErrorKind::FsNotFound && mode.create => (Vec::new(), true),
            Err(e) => return Err(e),
        }
    };
    let inner = Rc::new(FileInner {
        router,
        path,
        state: RefCell::new(FileState::new(mode, data, dirty)),
        flushing: Mutex::new(()),
    });
    // Create or truncate the file now, as open() does.
    inner.flush().await?;
    Ok(js::install_async_dispose(&FileIO { inner }.into(), "close"))
}

#[wasm_bindgen]
impl FileIO {
    /// The file's path.
    #[wasm_bindgen(getter)]
    pub fn path(&self) -> String {
        self.inner.path.clone()
    }

    /// True once closed.
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.inner.state.borrow().is_closed()
    }

    /// Reads up to `n` characters (text mode) or bytes (binary mode); all when omitted.
    #[wasm_bindgen(unchecked_return_type = "Promise<string | Uint8Array>")]
    pub fn read(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | undefined")] n: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(Ok(None), async move {
            let n = count(&n)?;
            let mut st = inner.state.borrow_mut();
            Ok(if st.mode.binary {
                Uint8Array::from(&st.read(n)?[..]).into()
            } else {
                JsValue::from_str(&st.read_text(n)?)
            })
        })
    }

    /// Reads through the next newline (included), or to the end.
    #[wasm_bindgen(unchecked_return_type = "Promise<string | Uint8Array>")]
    pub fn readline(&self) -> Promise {
        let inner = self.inner.clone();
        promise(Ok(None), async move {
            let mut st = inner.state.borrow_mut();
            let line = st.readline()?;
            Ok(if st.mode.binary {
                Uint8Array::from(&line[..]).into()
            } else {
                JsValue::from_str(&String::from_utf8_lossy(&line))
            })
        })
    }

    /// Writes a string (text mode) or bytes (binary mode) at the position; resolves to the
    /// count written (characters or bytes). Saved on `flush()`/`close()`.
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn write(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array | ArrayBuffer")] data: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(Ok(None), async move {
            let mut st = inner.state.borrow_mut();
            if st.mode.binary {
                if data.is_string() {
                    return Err(Error::invalid(
                        "write() in binary mode takes bytes, not a string",
                    ));
                }
                let b = js_bytes(&data)
                    .ok_or_else(|| Error::invalid("write() takes a Uint8Array or ArrayBuffer"))?;
                Ok(st.write(&b)? as f64)
            } else {
                let s = data
                    .as_string()
                    .ok_or_else(|| Error::invalid("write() in text mode takes a string"))?;
                st.write(s.as_bytes())?;
                Ok(s.chars().count() as f64)
            }
        })
    }

    /// Moves the position (`whence`: 0 start, 1 current, 2 end); returns the new position.
    pub fn seek(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] offset: JsValue,
        #[wasm_bindgen(unchecked_param_type = "0 | 1 | 2 | undefined")] whence: JsValue,
    ) -> Result<f64, JsValue> {
        let offset = offset
            .as_f64()
            .filter(|o| o.is_finite() && o.fract() == 0.0)
            .ok_or_else(|| Error::invalid("offset must be an integer"))?;
        let whence = if whence.is_undefined() {
            0.0
        } else {
            whence
                .as_f64()
                .ok_or_else(|| Error::invalid("whence must be 0, 1 or 2"))?
        };
        if !(0.0..=2.0).contains(&whence) || whence.fract() != 0.0 {
            return Err(Error::invalid("whence must be 0, 1 or 2").into());
        }
        let pos = self
            .inner
            .state
            .borrow_mut()
            .seek(offset as i64, whence as u8)?;
        Ok(pos as f64)
    }

    /// The current position in bytes.
    pub fn tell(&self) -> Result<f64, JsValue> {
        Ok(self.inner.state.borrow().tell()? as f64)
    }

    /// Writes unsaved changes to the sandbox.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(signal_of(&options), async move {
            inner.flush().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Flushes and closes the file; later calls reject with `ClientClosedError`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FilesystemCallOptions | undefined")]
        options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        promise(signal_of(&options), async move {
            if inner.state.borrow().is_closed() {
                return Ok(JsValue::UNDEFINED);
            }
            inner.flush().await?;
            inner.state.borrow_mut().close();
            Ok(JsValue::UNDEFINED)
        })
    }
}

fn count(n: &JsValue) -> Result<Option<usize>> {
    if n.is_undefined() || n.is_null() {
        return Ok(None);
    }
    match n.as_f64() {
        Some(v) if v < 0.0 && v.fract() == 0.0 => Ok(None), // read(-1): all, as in Python
        Some(v) if v.is_finite() && v.fract() == 0.0 => Ok(Some(v as usize)),
        _ => Err(Error::invalid("n must be an integer")),
    }
}

// ---- shorthands used by `Sandbox` ----------------------------------------------------------

/// `sandbox.ls(path)`: entry names.
pub(crate) async fn ls(router: &Rc<Router>, path: &str) -> Result<js_sys::Array> {
    Ok(list(router, path)
        .await?
        .iter()
        .map(|e| JsValue::from_str(&e.name))
        .collect())
}

/// `sandbox.mkdir(path, { parents })`.
pub(crate) async fn make_dir(router: &Rc<Router>, path: &str, parents: bool) -> Result<()> {
    mkdir(router, path, parents).await
}

/// `sandbox.rm(path, { recursive })`.
pub(crate) async fn rm(router: &Rc<Router>, path: &str, recursive: bool) -> Result<()> {
    remove(router, path, recursive).await
}
