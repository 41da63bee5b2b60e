//! Files in a sandbox: `sandbox.filesystem` (Modal's JS client): reads, streamed reads,
//! uploads, listing, stat, mkdir, remove. Everything runs the in-sandbox helper
//! (`crate::fs::HELPER`) through ordinary exec: its stdout is read as a resumable stream,
//! uploads go to its stdin as offset-carrying `TaskExecStdinWrite` chunks, and failures come
//! back as typed errors (`crate::fs`). `readText`, `writeText`, `watch`, `sandbox.open()` and
//! the `ls`/`mkdir`/`rm` shorthands are built on these in `src/js/files.js`.

use std::rc::Rc;

use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use futures_util::SinkExt;
use js_sys::{Function, Promise, Uint8Array};
use modal_proto::task_command_router as tcr;
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::process::{exec_output, exec_stdin, exec_wait, readable};
use super::promise;
use crate::error::{Error, ErrorKind, Result};
use crate::fs::{self, FileInfo, Op};
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};
use crate::options::{exec_start_request, SandboxExecParams};
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
/** What `writeBytes()` accepts. Strings are written as UTF-8. */
export type FileWriteSource = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array | ArrayBuffer | string> | string;
/** Options of `sandbox.mkdir()`. */
export interface SandboxMkdirOptions extends FilesystemCallOptions {
  /** Create missing parents; succeed if it exists (default `false`, as in Python). */
  parents?: boolean;
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
/** A file opened with `sandbox.open(path, mode)`, like Python's file objects. The content
 * is read when opened and written back whole on `flush()` and `close()`.
 *
 * ```ts
 * await using f = await sb.open("/tmp/notes.txt", "a+");
 * await f.write("more\n");
 * f.seek(0);
 * console.log(await f.read());
 * ```
 */
export interface FileIO {
  /** The file's path. */
  readonly path: string;
  /** True once closed. */
  readonly closed: boolean;
  /** Reads up to `n` characters (text mode) or bytes (binary mode); all when omitted. */
  read(n?: number): Promise<string | Uint8Array>;
  /** Reads through the next newline (included), or to the end. */
  readline(): Promise<string | Uint8Array>;
  /** Writes a string (text mode) or bytes (binary mode) at the position; resolves to the
   * count written (characters or bytes). Saved on `flush()`/`close()`. */
  write(data: string | Uint8Array | ArrayBuffer | ArrayBufferView): Promise<number>;
  /** Moves the position (`whence`: 0 start, 1 current, 2 end); returns the new position. */
  seek(offset: number, whence?: 0 | 1 | 2): number;
  /** The current position in bytes. */
  tell(): number;
  /** Writes unsaved changes to the sandbox. */
  flush(options?: FilesystemCallOptions): Promise<void>;
  /** Flushes and closes the file; later calls reject with `ClientClosedError`. */
  close(options?: FilesystemCallOptions): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
export interface SandboxFilesystem {
  /** Reads a file as UTF-8 text (invalid bytes become U+FFFD). */
  readText(path: string, options?: FilesystemTransferOptions): Promise<string>;
  /** Writes UTF-8 text to a file, replacing it; parents are created. */
  writeText(data: string, path: string, options?: FilesystemTransferOptions): Promise<void>;
  /** Watches a path for changes: an async iterator of events that ends when `timeoutMs`
   * passes, the signal aborts, or the loop breaks.
   *
   * ```ts
   * for await (const ev of sb.filesystem.watch("/tmp", { timeoutMs: 10000 })) console.log(ev);
   * ```
   */
  watch(path: string, options?: FilesystemWatchOptions): AsyncIterableIterator<FileWatchEvent>;
}
export interface Sandbox {
  /** Opens a file with a Python mode (`"r"` default, `"w"`, `"a"`, `"x"`, `"r+"`, ...,
   * `"b"` for bytes): a `FileIO` with `read`, `readline`, `write`, `seek`, `tell`,
   * `flush`, `close`.
   *
   * ```ts
   * const f = await sb.open("/tmp/data.bin", "wb");
   * await f.write(new Uint8Array([1, 2, 3]));
   * await f.close();
   * ```
   */
  open(path: string, mode?: string, options?: FilesystemCallOptions): Promise<FileIO>;
  /** Names of the entries of a directory, sorted. */
  ls(path: string, options?: FilesystemCallOptions): Promise<string[]>;
  /** Creates a directory; with `{ parents: true }` also missing parents (and no error if
   * it exists). */
  mkdir(path: string, options?: SandboxMkdirOptions): Promise<void>;
  /** Removes a file or empty directory; with `{ recursive: true }` any directory. */
  rm(path: string, options?: FilesystemRemoveOptions): Promise<void>;
  /** Watches a path for changes (see `filesystem.watch`). */
  watch(path: string, options?: FilesystemWatchOptions): AsyncIterableIterator<FileWatchEvent>;
}
/** Options of `snapshotDirectory()`. */
export type SandboxSnapshotDirectoryParams = SandboxSnapshotFilesystemParams;
"#;

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
        let req = exec_start_request(
            &task_id,
            &exec_id,
            vec![fs::HELPER.to_string(), command],
            &p,
        )?;
        router
            .call(
                modal_proto::rpcs::task_command_router::TASK_EXEC_START,
                &req,
                Backoff::UNARY,
            )
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
            .call(
                modal_proto::rpcs::task_command_router::TASK_EXEC_POLL,
                &req,
                Backoff::UNARY,
            )
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
        options: Option<Ts<ts::FilesystemTransferOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = convert::string(&path, "path")?;
            let progress = convert::options(options, "options")?;
            let data = read_all(&router, &path, progress).await?;
            Ok(Uint8Array::from(&data[..]))
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
        options: Option<Ts<ts::FilesystemTransferOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = convert::string(&path, "path")?;
            let progress = convert::options(options, "options")?;
            let src = source(&data)?;
            upload(&router, &path, src, progress).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The entries of a directory, sorted by name.
    #[wasm_bindgen(js_name = listFiles, unchecked_return_type = "Promise<FileInfo[]>")]
    pub fn list_files(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        options: Option<Ts<ts::FilesystemCallOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
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
        options: Option<Ts<ts::FilesystemCallOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = convert::string(&path, "path")?;
            Ok(info_js(&stat(&router, &path).await?))
        })
    }

    /// Creates a directory (with missing parents unless `createParents: false`).
    #[wasm_bindgen(js_name = makeDirectory, unchecked_return_type = "Promise<void>")]
    pub fn make_directory(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        options: Option<Ts<ts::FilesystemMakeDirectoryOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = convert::string(&path, "path")?;
            let parents = convert::options(options, "options")?.unwrap_or(true);
            mkdir(&router, &path, parents).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Removes a file or an empty directory (any directory with `recursive: true`).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn remove(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string")] path: JsValue,
        options: Option<Ts<ts::FilesystemRemoveOptions>>,
    ) -> Promise {
        let router = self.router.clone();
        promise(convert::signal_of_ts(&options), async move {
            let path = convert::string(&path, "path")?;
            let recursive = convert::options(options, "options")?.unwrap_or(false);
            remove(&router, &path, recursive).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
