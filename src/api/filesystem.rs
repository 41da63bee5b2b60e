//! The JS `sandbox.filesystem` (as in Modal's JS client): JS names, sources, progress
//! callbacks and values over [`crate::SandboxFilesystem`]. `readText`, `writeText`,
//! `watch`, `sandbox.open()` and the `ls`/`mkdir`/`rm` shorthands are built on these in
//! `src/js/files.js`.

use bytes::Bytes;
use futures_util::stream::{self, LocalBoxStream, StreamExt};
use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::process::readable;
use super::promise;
use crate::error::{Error, ErrorKind, Result};
use crate::filesystem::{self as sdk, Progress};
use crate::fs::FileInfo;
use crate::js::options::{self as ts, StreamMode};
use crate::js::{self, convert};

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
  /** Uploads to `remotePath` (replacing it; parents are created). `local` is a path in
   * Node (20.16+) and Deno (streamed from disk); anywhere a `File`, `Blob`, `ReadableStream`,
   * `ArrayBuffer` or typed array. A path in a browser or worker is refused (`InvalidError`).
   *
   * ```ts
   * await sb.filesystem.copyFromLocal("./data.bin", "/tmp/data.bin"); // Node, Deno
   * await sb.filesystem.copyFromLocal(input.files[0], "/tmp/upload"); // a page
   * ```
   */
  copyFromLocal(local: string | FileWriteSource, remotePath: string, options?: FilesystemTransferOptions): Promise<void>;
  /** Downloads `remotePath` to a local path (Node, Deno; the file is replaced) or into a
   * `WritableStream` (in a page, e.g. `await handle.createWritable()` of a
   * `showSaveFilePicker()` handle). Nothing local is touched until the first bytes arrive,
   * so a missing remote file leaves it as it was.
   *
   * ```ts
   * await sb.filesystem.copyToLocal("/tmp/out.bin", "./out.bin"); // Node, Deno
   * ```
   */
  copyToLocal(remotePath: string, local: string | WritableStream<Uint8Array>): Promise<void>;
  /** With no local destination: resolves to a `Blob` of the file, what a page saves
   * (`URL.createObjectURL`) or shows; in any runtime.
   *
   * ```ts
   * const blob = await sb.filesystem.copyToLocal("/tmp/report.pdf");
   * ```
   */
  copyToLocal(remotePath: string): Promise<Blob>;
}
/** Where a log entry came from. */
export type LogSource = "system" | "stdout" | "stderr";
/** One entry of a sandbox's entrypoint logs. */
export interface LogEntry {
  readonly message: string;
  readonly source: LogSource;
  readonly timestamp: Date;
  /** The sandbox's id. */
  readonly objectId: string;
  /** The container (or task) that wrote it. */
  readonly contextIds: string[];
}
/** Params of `sandbox.logs.fetch()`. */
export interface SandboxLogFetchParams {
  /** Start of the UTC time range. */
  since: Date;
  /** End of the UTC time range (excluded). Defaults to now. */
  until?: Date;
  /** Only entries from this source. */
  source?: LogSource;
  /** Only entries containing this text. */
  searchText?: string;
}
/** Params of `sandbox.logs.tail()`. */
export interface SandboxLogTailParams {
  /** How many of the newest entries (0 to 20000; default 100). */
  entries?: number;
  /** Only entries from this source. */
  source?: LogSource;
}
/** A sandbox's entrypoint logs (its main command's stdout and stderr, kept by the server),
 * as Modal JS's `SandboxLogsManager`. Entries come in chronological order.
 *
 * ```ts
 * for await (const e of sb.logs.tail({ entries: 20 })) console.log(e.source, e.message);
 * for await (const e of sb.logs.fetch({ since: new Date(Date.now() - 3600e3) })) ...
 * ```
 */
export interface SandboxLogsManager {
  /** The entries of a UTC time range (at most 35 days). */
  fetch(params: SandboxLogFetchParams): AsyncIterable<LogEntry>;
  /** The newest entries (looking back up to 30 days). */
  tail(params?: SandboxLogTailParams): AsyncIterable<LogEntry>;
}
export interface Sandbox {
  /** The entrypoint's persisted logs (`fetch`, `tail`); works after `detach()` too. Unlike
   * `stdout`/`stderr`, which stream live output to one reader, these can be read again. */
  readonly logs: SandboxLogsManager;
  /** Modal JS methods this package does not have: each rejects with an `InvalidError`
   * that names it (reading `experimentalSidecars` throws one); the README says why. */
  experimentalSetName(name: string): Promise<never>;
  experimentalGetExitSnapshot(params?: unknown): Promise<never>;
  experimentalSnapshot(): Promise<never>;
  updateNetworkPolicy(params: unknown): Promise<never>;
  experimentalUpdateOutboundPolicy(outboundPolicy: unknown): Promise<never>;
  readonly experimentalSidecars: never;
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

/// Calls the JS `onProgress` with `{ loaded, total }`; a throwing callback does not break
/// the transfer.
fn reporter(f: Function) -> impl FnMut(Progress) {
    move |p: Progress| {
        let o = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&o, &"loaded".into(), &JsValue::from(p.loaded as f64));
        if let Some(t) = p.total {
            let _ = js_sys::Reflect::set(&o, &"total".into(), &JsValue::from(t as f64));
        }
        let _ = f.call1(&JsValue::NULL, &o);
    }
}

// ---- upload sources ---------------------------------------------------------------------

/// Bytes to upload, and their total size when known.
type Source = (LocalBoxStream<'static, Result<Bytes>>, Option<u64>);

/// A `ReadableStream` (of the SDK's own, see `js::stream_of`) as upload bytes.
fn web_stream(raw: web_sys::ReadableStream) -> Result<LocalBoxStream<'static, Result<Bytes>>> {
    let s = wasm_streams::ReadableStream::from_raw(raw)
        .try_into_stream()
        .map_err(|_| Error::invalid("the ReadableStream is locked"))?;
    Ok(s.map(|r| match r {
        Ok(chunk) => js::bytes(&chunk).ok_or_else(|| {
            Error::invalid("stream chunks must be Uint8Array, ArrayBuffer or string")
        }),
        Err(e) => Err(Error::new(
            ErrorKind::Invalid,
            format!("the source stream failed: {}", convert::error_text(&e)),
        )),
    })
    .boxed_local())
}

/// Blob, ArrayBuffer(View), string or ReadableStream as bytes to upload.
fn source(data: &JsValue) -> Result<Source> {
    if let Some(b) = js::bytes(data) {
        let n = b.len() as u64;
        return Ok((
            stream::once(futures_util::future::ready(Ok(b))).boxed_local(),
            Some(n),
        ));
    }
    let found = js::stream_of(data);
    if let Some(message) = found.as_string() {
        return Err(Error::invalid(message));
    }
    if found.is_null() {
        return Err(Error::invalid(
            "data must be a Blob, ArrayBuffer, ArrayBufferView, ReadableStream or string",
        ));
    }
    let found: js_sys::Array = found.unchecked_into();
    Ok((
        web_stream(found.get(0).unchecked_into())?,
        found.get(1).as_f64().map(|n| n as u64),
    ))
}

// ---- JS values ------------------------------------------------------------------------------

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
pub struct SandboxFilesystem(pub(crate) sdk::SandboxFilesystem);

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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let mut progress =
                convert::options_of::<ts::FilesystemTransferOptions>(&options, "options")?
                    .map(reporter);
            let data = fs
                .read_with_progress(&path, progress.as_mut().map(|f| f as _))
                .await?;
            Ok(Uint8Array::from(&data[..]).into())
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
        Ok(readable(self.0.read_stream(&path), StreamMode::Binary))
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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let mut progress =
                convert::options_of::<ts::FilesystemTransferOptions>(&options, "options")?
                    .map(reporter);
            let (src, total) = source(&data)?;
            fs.write_stream(&path, src, total, progress.as_mut().map(|f| f as _))
                .await?;
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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let entries = fs.list(&path).await?;
            let out = js_sys::Array::new();
            for e in &entries {
                out.push(&info_js(e));
            }
            Ok(out.into())
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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            Ok(info_js(&fs.stat(&path).await?))
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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let parents =
                convert::options_of::<ts::FilesystemMakeDirectoryOptions>(&options, "options")?
                    .unwrap_or(true);
            fs.make_directory(&path, parents).await?;
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
        let fs = self.0.clone();
        promise(convert::signal_of(&options), async move {
            let path = convert::string(&path, "path")?;
            let recursive =
                convert::options_of::<ts::FilesystemRemoveOptions>(&options, "options")?
                    .unwrap_or(false);
            fs.remove(&path, recursive).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
