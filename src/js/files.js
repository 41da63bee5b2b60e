// The file conveniences of a Sandbox, in JS over the SDK's own calls: `sandbox.open()`
// (Python-style file handles), `watch()`, `filesystem.readText`/`writeText` and the
// `ls`/`mkdir`/`rm` shorthands. They are text, JSON and small state machines, which cost
// a fraction here of what they cost in the wasm (the package's size budget, issue 3); the
// transfers and the helper protocol stay in Rust (`SandboxFilesystem`). `installFiles` puts
// them on the classes' prototypes; Rust calls it for every Sandbox it hands out.
import { makeError, bytesOf } from "./glue.js";

/** The in-sandbox filesystem helper sandboxd provides (same path as Modal's). */
export const HELPER = "/__modal/.bin/modal-sandbox-fs-tools";

const invalid = (message) => makeError("INVALID", message);
const closedFile = () => makeError("CLIENT_CLOSED", "I/O operation on closed file");
const decoder = new TextDecoder();
const encoder = new TextEncoder();
const OWNER = Symbol("modal-wasm.sandbox");
const FILESYSTEM = Symbol("modal-wasm.filesystem");

// ---- arguments ---------------------------------------------------------------------------

function str(v, what) {
  if (typeof v !== "string") throw invalid(`${what} must be a string`);
  return v;
}

/** Fails with an InvalidError unless `path` is an absolute path (as Modal's clients require). */
export function checkPath(path, what) {
  str(path, "path");
  if (!path.startsWith("/")) throw invalid(`${what}: only absolute paths are supported, got '${path}'`);
  if (path.includes("\0")) throw invalid(`${what}: path contains a NUL byte`);
}

/** An options object (`undefined`/`null`: none). */
function opts(v, what = "options") {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" && typeof v !== "function") throw invalid(`${what} must be an object`);
  return v;
}

// Errors worded as the Rust reader of option objects words them (src/js/convert.rs).
const badOption = (key, expected) => invalid(`invalid options: ${key} must be ${expected}`);

/** `f()`, which reads a caller's value: a getter or Proxy trap that throws gives an
 * InvalidError naming `what` (the thrown value as its cause). */
function reading(what, f) {
  try {
    return f();
  } catch (e) {
    throw makeError("INVALID", `could not read ${what}: it threw`, undefined, e);
  }
}

/** `o[key]`, read safely. */
const get = (o, key) => reading(key, () => o[key]);

function optBool(o, key) {
  const v = get(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badOption(key, "a boolean");
  return v;
}

function signalOf(o) {
  const s = get(o, "signal");
  if (s === undefined || s === null) return undefined;
  if (typeof s !== "object" || !reading("signal", () => "aborted" in s)) throw invalid("signal must be an AbortSignal");
  return s;
}

/** True if `signal` has aborted; a signal that cannot be read counts as not aborted. */
function aborted(signal) {
  try {
    return Boolean(signal && signal.aborted);
  } catch {
    return false;
  }
}

// ---- watch -------------------------------------------------------------------------------

/** Event types reported to JS; the helper's renames are reported as `Modify`. */
export const EVENT_TYPES = ["Access", "Create", "Modify", "Remove", "Unknown"];
const RENAMES = ["Rename", "RenameFrom", "RenameTo"];

/** The helper's `Watch` command; `Modify` in `filter` also selects the rename kinds. */
export function watchCommand(path, recursive, filter, timeoutMs) {
  let types = null;
  if (filter !== undefined && filter !== null) {
    // a copy, read safely and bounded (a Proxy may claim 2^32-1 entries)
    filter = reading("filter", () => {
      if (!Array.isArray(filter)) throw badOption("filter", "an array of strings");
      if (!(filter.length <= 64)) throw invalid("filter has too many entries");
      return Array.from(filter);
    });
    types = [];
    for (const t of filter) {
      if (!EVENT_TYPES.includes(t)) {
        throw invalid(`filter: unknown event type '${t}' (expected Access, Create, Modify, Remove or Unknown)`);
      }
      types.push(t);
      if (t === "Modify") types.push(...RENAMES);
    }
  }
  let timeout = null;
  if (timeoutMs !== undefined && timeoutMs !== null) {
    if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw badOption("timeoutMs", "a non-negative number of milliseconds");
    }
    timeout = Math.trunc(timeoutMs / 1000);
  }
  return JSON.stringify({ Watch: { path, recursive, filter: types, timeout_secs: timeout } });
}

/** One line of `Watch` output; null for blank, invalid or path-less lines (skipped). */
export function parseEvent(line) {
  let v;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  let type = v.event_type;
  if (RENAMES.includes(type)) type = "Modify";
  else if (!EVENT_TYPES.includes(type)) return null;
  const paths = Array.isArray(v.paths) ? v.paths.filter((p) => typeof p === "string") : [];
  return paths.length ? { eventType: type, paths } : null;
}

// The helper's error kinds and their codes, as src/fs.rs maps them.
// <generated from Rust by src/js/lists.rs: do not edit>
const ERROR_CODES = {
  NotFound: "FILESYSTEM_NOT_FOUND",
  IsDirectory: "FILESYSTEM_IS_A_DIRECTORY",
  NotDirectory: "FILESYSTEM_NOT_A_DIRECTORY",
  IsFile: "FILESYSTEM_NOT_A_DIRECTORY",
  DirectoryNotEmpty: "FILESYSTEM_DIRECTORY_NOT_EMPTY",
  PathAlreadyExists: "FILESYSTEM_PATH_ALREADY_EXISTS",
  AlreadyExists: "FILESYSTEM_PATH_ALREADY_EXISTS",
  PermissionDenied: "FILESYSTEM_PERMISSION_DENIED",
  FileTooLarge: "FILESYSTEM_FILE_TOO_LARGE",
  NotSupported: "INVALID",
};
// </generated>

/**
 * The typed error of a failed helper run, from its exit code and stderr (the JSON
 * `{error_kind, message, detail}`, or unstructured text kept as the cause). The same
 * mapping as the Rust side's `fs::helper_error` for the calls that stay there.
 */
export function helperError(path, code, stderr) {
  const text = stderr.trim();
  let p;
  try {
    p = JSON.parse(text);
  } catch {
    p = null;
  }
  const message = p && typeof p.message === "string" ? p.message.trim() : "";
  if (!message || typeof p.error_kind !== "string") {
    return makeError("FILESYSTEM", `Operation on '${path}' failed with exit code ${code}`, undefined, text || undefined);
  }
  const kind = Object.prototype.hasOwnProperty.call(ERROR_CODES, p.error_kind) ? ERROR_CODES[p.error_kind] : "FILESYSTEM";
  const detail = typeof p.detail === "string" && p.detail ? p.detail : undefined;
  return makeError(kind, kind === "FILESYSTEM" ? message : `${message}: ${path}`, undefined, detail);
}

/**
 * The async iterator of `watch()`. The watcher starts at once (changes made before the
 * first `next()` are seen); it ends on its timeout, when the signal aborts, or on
 * `return()` (a `break` out of `for await`), which sends EOF to the helper.
 */
class FileWatch {
  constructor(sandbox, path, command, signal) {
    this._path = path;
    this._signal = signal;
    this._queue = [];
    this._partial = "";
    this._done = false;
    this._stopped = false;
    this._error = null;
    this._reader = null;
    this._steps = Promise.resolve();
    if (signal) reading("signal", () => signal.addEventListener("abort", () => this._stop(), { once: true }));
    this._proc = sandbox.exec([HELPER, command]);
    this._proc.catch(() => {});
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  next() {
    if (aborted(this._signal)) this._stop();
    // One step at a time, in call order.
    const step = this._steps.then(() => this._step());
    this._steps = step.catch(() => {});
    return step;
  }

  return() {
    this._stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  async _step() {
    for (;;) {
      if (this._queue.length) return { value: this._queue.shift(), done: false };
      if (this._error) {
        const e = this._error;
        this._error = null;
        throw e;
      }
      if (this._done) return { value: undefined, done: true };
      try {
        if (!this._reader) {
          const p = await this._proc;
          if (this._done) continue;
          this._reader = p.stdout.getReader();
        }
        const r = await this._reader.read();
        if (this._done) continue;
        if (!r.done) {
          this._lines(r.value);
          continue;
        }
        this._lines("\n");
        this._done = true;
        const p = await this._proc;
        const [stderr, code] = await Promise.all([p.stderr.readText(), p.wait()]);
        if (code !== 0 && !this._stopped) this._error = helperError(this._path, code, stderr);
      } catch (e) {
        if (this._stopped) continue;
        this._done = true;
        throw e;
      }
    }
  }

  _lines(text) {
    const lines = (this._partial + text).split("\n");
    this._partial = lines.pop();
    for (const line of lines) {
      const ev = parseEvent(line);
      if (ev) this._queue.push(ev);
    }
  }

  _stop() {
    if (this._stopped) return;
    this._stopped = this._done = true;
    this._queue.length = 0;
    this._proc.then((p) => p.stdin.close().catch(() => {}), () => {});
    if (this._reader) this._reader.cancel().catch(() => {});
  }
}

function watch(sandbox, path, options) {
  checkPath(path, "watch");
  const o = opts(options);
  const signal = signalOf(o);
  const command = watchCommand(path, optBool(o, "recursive") ?? false, get(o, "filter"), get(o, "timeoutMs"));
  return new FileWatch(sandbox, path, command, signal);
}

// ---- sandbox.open() ----------------------------------------------------------------------

/** A Python open mode (`r`, `w`, `a`, `x`, each optionally with `+` and `b`/`t`). */
export function parseMode(s) {
  const bad = () => invalid(`invalid mode: '${s}'`);
  let base = null;
  let plus = false;
  let binary = false;
  let text = false;
  for (const c of str(s, "mode")) {
    if ("rwax".includes(c) && base === null) base = c;
    else if (c === "+" && !plus) plus = true;
    else if (c === "b" && !binary && !text) binary = true;
    else if (c === "t" && !binary && !text) text = true;
    else throw bad();
  }
  if (base === null) throw bad();
  return {
    readable: base === "r" || plus,
    writable: base !== "r" || plus,
    truncate: base === "w",
    create: base !== "r",
    exclusive: base === "x",
    append: base === "a",
    binary,
  };
}

/** The byte length of the first `n` UTF-8 characters of `b` (all of `b` if shorter). */
function charBoundaryAfter(b, n) {
  let chars = 0;
  for (let i = 0; i < b.length; i++) {
    // A character starts at every byte that is not a continuation byte.
    if ((b[i] & 0xc0) !== 0x80) {
      if (chars === n) return i;
      chars++;
    }
  }
  return b.length;
}

/**
 * An open file's state: the bytes held locally, the position, and whether a write-back is
 * due (a version bumped by every change; a flush records the version it saved).
 */
export class FileState {
  constructor(mode, data, dirty) {
    this.mode = mode;
    this._buf = data;
    this._len = data.length;
    this._pos = mode.append ? data.length : 0;
    this._version = dirty ? 1 : 0;
    this._saved = 0;
    this.closed = false;
  }

  _check() {
    if (this.closed) throw closedFile();
  }

  _checkRead() {
    this._check();
    if (!this.mode.readable) throw invalid("file not open for reading");
  }

  get length() {
    return this._len;
  }

  tell() {
    this._check();
    return this._pos;
  }

  /** Up to `n` bytes (all remaining when undefined), advancing. */
  read(n) {
    this._checkRead();
    const start = Math.min(this._pos, this._len);
    const end = n === undefined ? this._len : Math.min(start + n, this._len);
    this._pos = Math.max(end, this._pos);
    return this._buf.slice(start, end);
  }

  /** Up to `n` characters of UTF-8 text, advancing by the bytes they took. */
  readText(n) {
    this._checkRead();
    const start = Math.min(this._pos, this._len);
    const rest = this._buf.subarray(start, this._len);
    const end = n === undefined ? rest.length : charBoundaryAfter(rest, n);
    this._pos = start + end;
    return decoder.decode(rest.subarray(0, end));
  }

  /** Through the next `\n` (included) or to the end. */
  readline() {
    this._checkRead();
    const start = Math.min(this._pos, this._len);
    const rest = this._buf.subarray(start, this._len);
    const nl = rest.indexOf(10);
    const end = nl < 0 ? rest.length : nl + 1;
    this._pos = start + end;
    return rest.slice(0, end);
  }

  /** Writes at the position (at the end in append mode), zero-filling a gap; the count. */
  write(bytes) {
    this._check();
    if (!this.mode.writable) throw invalid("file not open for writing");
    if (this.mode.append) this._pos = this._len;
    const end = this._pos + bytes.length;
    if (end > this._buf.length) {
      const grown = new Uint8Array(Math.max(end, this._buf.length * 2));
      grown.set(this._buf.subarray(0, this._len));
      this._buf = grown;
    }
    if (this._pos > this._len) this._buf.fill(0, this._len, this._pos);
    this._buf.set(bytes, this._pos);
    this._pos = end;
    this._len = Math.max(this._len, end);
    this._version++;
    return bytes.length;
  }

  /** Moves the position (`whence` 0: start, 1: current, 2: end); the new position. */
  seek(offset, whence) {
    this._check();
    const base = [0, this._pos, this._len][whence];
    if (base === undefined) throw invalid("invalid whence (should be 0, 1 or 2)");
    const target = base + offset;
    if (target < 0) throw invalid("negative seek position");
    if (target > 2 ** 40) throw invalid("seek position too large");
    this._pos = target;
    return target;
  }

  /** `{ data, version }` to write back, or null when saved. */
  pending() {
    this._check();
    return this._version === this._saved ? null : { data: this._buf.slice(0, this._len), version: this._version };
  }

  saved(version) {
    this._saved = Math.max(this._saved, version);
  }
}

function count(n) {
  if (n === undefined || n === null) return undefined;
  if (typeof n !== "number" || !Number.isInteger(n)) throw invalid("n must be an integer");
  return n < 0 ? undefined : n; // read(-1): all, as in Python
}

/**
 * A file opened with `sandbox.open(path, mode)`, like Python's file objects. The content
 * is read when opened and written back whole on `flush()` and `close()`.
 */
class FileIO {
  constructor(filesystem, path, state) {
    this._fs = filesystem;
    this._path = path;
    this._st = state;
    this._flushing = Promise.resolve();
  }

  get path() {
    return this._path;
  }

  get closed() {
    return this._st.closed;
  }

  async read(n) {
    const k = count(n);
    return this._st.mode.binary ? this._st.read(k) : this._st.readText(k);
  }

  async readline() {
    const line = this._st.readline();
    return this._st.mode.binary ? line : decoder.decode(line);
  }

  async write(data) {
    if (this._st.mode.binary) {
      if (typeof data === "string") throw invalid("write() in binary mode takes bytes, not a string");
      const b = bytesOf(data);
      if (!b) throw invalid("write() takes a Uint8Array or ArrayBuffer");
      return this._st.write(b);
    }
    if (typeof data !== "string") throw invalid("write() in text mode takes a string");
    this._st.write(encoder.encode(data));
    return [...data].length;
  }

  seek(offset, whence) {
    if (typeof offset !== "number" || !Number.isInteger(offset)) throw invalid("offset must be an integer");
    if (whence === undefined) whence = 0;
    if (whence !== 0 && whence !== 1 && whence !== 2) throw invalid("whence must be 0, 1 or 2");
    return this._st.seek(offset, whence);
  }

  tell() {
    return this._st.tell();
  }

  /** Writes unsaved changes to the sandbox (one write-back at a time). */
  flush(options) {
    const run = async () => {
      const p = this._st.pending();
      if (p) {
        await this._fs.writeBytes(p.data, this._path, { signal: signalOf(opts(options)) });
        this._st.saved(p.version);
      }
    };
    const done = this._flushing.then(run, run);
    this._flushing = done.catch(() => {});
    return done;
  }

  async close(options) {
    if (this._st.closed) return;
    await this.flush(options);
    this._st.closed = true;
  }
}
// `await using f = await sb.open(...)` closes it (where the runtime has the symbol).
if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(FileIO.prototype, Symbol.asyncDispose, {
    value() {
      return this.close();
    },
    configurable: true,
  });
}

async function open(sandbox, path, mode, options) {
  const fs = sandbox.filesystem;
  str(path, "path");
  const m = parseMode(mode === undefined || mode === null ? "r" : mode);
  checkPath(path, "open");
  const call = { signal: signalOf(opts(options)) };
  if (m.exclusive) {
    const exists = await fs.stat(path, call).then(
      () => true,
      (e) => {
        if (e && e.code === "FILESYSTEM_NOT_FOUND") return false;
        throw e;
      },
    );
    if (exists) throw makeError("FILESYSTEM_PATH_ALREADY_EXISTS", `File exists: ${path}`);
  }
  let data = new Uint8Array(0);
  let dirty = true;
  if (!m.truncate && !m.exclusive) {
    try {
      data = await fs.readBytes(path, call);
      dirty = false;
    } catch (e) {
      if (!(e && e.code === "FILESYSTEM_NOT_FOUND" && m.create)) throw e;
    }
  }
  const f = new FileIO(fs, path, new FileState(m, data, dirty));
  await f.flush(call); // creates or truncates the file now, as open() does
  return f;
}

// ---- copyFromLocal / copyToLocal ---------------------------------------------------------

const NO_PATHS =
  "a local path needs Node (20.16+) or Deno; in a browser or worker pass a File, Blob, ReadableStream or Uint8Array";

/** Node's `fs` (through `process.getBuiltinModule`: no import a bundler would follow), or
 * null outside Node. */
function nodeFs() {
  const get = globalThis.process?.getBuiltinModule;
  return typeof get === "function" ? get("node:fs") : null;
}

/** An InvalidError for a local file that could not be opened, read or written. */
const localError = (what, path, e) =>
  makeError("INVALID", `${what}: local file '${path}': ${e && e.message ? e.message : String(e)}`, undefined, e);

/** What `writeBytes` uploads for `copyFromLocal(path)`: the file opened as a Blob (Node)
 * or a file stream (Deno). Anything else (File, Blob, ReadableStream, bytes) goes as it is. */
async function localSource(local) {
  const deno = globalThis.Deno;
  try {
    if (deno?.open) return (await deno.open(local, { read: true })).readable;
    const fs = nodeFs();
    if (fs?.openAsBlob) return await fs.openAsBlob(local);
  } catch (e) {
    throw localError("copyFromLocal", local, e);
  }
  throw invalid(`copyFromLocal: ${NO_PATHS}`);
}

/** A WritableStream into the local file `path` (Node, Deno), created or replaced. */
async function localSink(path) {
  const deno = globalThis.Deno;
  try {
    if (deno?.open) return (await deno.open(path, { write: true, create: true, truncate: true })).writable;
    const get = globalThis.process?.getBuiltinModule;
    const fh = await nodeFs().promises.open(path, "w");
    return get("node:stream").Writable.toWeb(fh.createWriteStream());
  } catch (e) {
    throw localError("copyToLocal", path, e);
  }
}

/** Whether `v` is a WritableStream (false for a Proxy whose traps throw). */
function isWritableStream(v) {
  try {
    return typeof WritableStream !== "undefined" && v instanceof WritableStream;
  } catch {
    return false;
  }
}

/**
 * `copyToLocal(remote, local)`: to a path (Node, Deno; the file is replaced) or into a
 * WritableStream; with no `local`, resolves to a Blob of the file (what a page saves or
 * shows). Nothing local is created or changed before the first bytes (or the end of an
 * empty file) arrive, so a missing remote file leaves it alone.
 */
async function copyToLocal(fsys, remotePath, local, extra) {
  if (extra !== undefined) throw invalid("copyToLocal takes (remotePath, local?): no options");
  let parts, open;
  if (local === undefined || local === null) {
    parts = [];
    open = () => new WritableStream({ write: (c) => void parts.push(c) });
  } else if (typeof local === "string") {
    if (!globalThis.Deno?.open && !nodeFs()) throw invalid(`copyToLocal: ${NO_PATHS}`);
    open = () => localSink(local);
  } else if (isWritableStream(local)) {
    open = () => local;
  } else {
    throw invalid("copyToLocal: local must be a path (Node, Deno) or a WritableStream, or omitted for a Blob");
  }
  const reader = fsys.readStream(remotePath).getReader();
  let r = await reader.read();
  const writer = (await open()).getWriter();
  try {
    for (; !r.done; r = await reader.read()) await writer.write(r.value);
    await writer.close();
  } catch (e) {
    writer.abort(e).catch(() => {});
    reader.cancel(e).catch(() => {});
    throw e;
  }
  return parts && new Blob(parts);
}

// ---- installation ------------------------------------------------------------------------

const define = (proto, name, value) =>
  Object.defineProperty(proto, name, { value, writable: true, configurable: true });

/** Adds `readText`, `writeText` and `watch` to the SandboxFilesystem prototype (once). */
function installFilesystem(fp) {
  if (Object.prototype.hasOwnProperty.call(fp, "readText")) return;
  define(fp, "readText", async function (path, options) {
    return decoder.decode(await this.readBytes(path, options));
  });
  define(fp, "writeText", async function (data, path, options) {
    return this.writeBytes(str(data, "data"), path, options);
  });
  define(fp, "watch", function (path, options) {
    if (!this[OWNER]) throw makeError("CLIENT_CLOSED", "this filesystem has no sandbox");
    return watch(this[OWNER], path, options);
  });
  define(fp, "copyFromLocal", async function (local, remotePath, options) {
    if (local === undefined || local === null) throw invalid("copyFromLocal: local must be a path or a File, Blob, ReadableStream or Uint8Array");
    str(remotePath, "remotePath");
    // only a path is awaited: awaiting any other value reads its `then`, which may throw
    const source = typeof local === "string" ? await localSource(local) : local;
    return this.writeBytes(source, remotePath, options);
  });
  define(fp, "copyToLocal", function (remotePath, local, extra) {
    return copyToLocal(this, remotePath, local, extra);
  });
}

/**
 * Adds the methods above to the prototype of `sandbox`, once per class. Its `filesystem`
 * getter then completes the SandboxFilesystem prototype on first use and remembers the
 * sandbox, which `watch()` runs the helper in.
 */
export function installFiles(sandbox) {
  const sp = Object.getPrototypeOf(sandbox);
  if (!sp || Object.prototype.hasOwnProperty.call(sp, "open")) return sandbox;
  const getFs = Object.getOwnPropertyDescriptor(sp, "filesystem").get;

  // One SandboxFilesystem per sandbox, as in Modal JS; the Rust getter still runs each time
  // (it throws ClientClosedError once the sandbox is detached) and its new object is freed.
  Object.defineProperty(sp, "filesystem", {
    get() {
      const fs = getFs.call(this);
      const kept = this[FILESYSTEM];
      if (kept) {
        fs.free();
        return kept;
      }
      installFilesystem(Object.getPrototypeOf(fs));
      fs[OWNER] = this;
      this[FILESYSTEM] = fs;
      return fs;
    },
    configurable: true,
  });
  define(sp, "open", function (path, mode, options) {
    return open(this, path, mode, options);
  });
  define(sp, "ls", async function (path, options) {
    return (await this.filesystem.listFiles(path, options)).map((e) => e.name);
  });
  define(sp, "mkdir", async function (path, options) {
    const o = opts(options);
    const parents = optBool(o, "parents") ?? false;
    return this.filesystem.makeDirectory(path, { createParents: parents, signal: signalOf(o) });
  });
  define(sp, "rm", async function (path, options) {
    return this.filesystem.remove(path, options);
  });
  define(sp, "watch", function (path, options) {
    return this.filesystem.watch(path, options);
  });
  return sandbox;
}
