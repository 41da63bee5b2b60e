// Hand-written JS glue of modal-wasm: the exported error classes, and small helpers that
// decorate web streams and iterators. Imported by the wasm-bindgen output; re-exported
// from the package entry. Keep it tiny and free of globals other than standard ones.

/** Base class of every error the SDK throws. `code` is stable; branch on it. */
export class ModalError extends Error {
  constructor(message, options) {
    super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = new.target.code;
    this.grpcStatus = options ? options.grpcStatus : undefined;
  }
}
ModalError.code = "MODAL";

// The error classes, one per ErrorKind of src/error.rs; `makeError` finds them by code.
const classes = {};
function define(name, code, Base = ModalError) {
  const C = { [name]: class extends Base {} }[name];
  C.code = code;
  classes[code] = C;
  return C;
}

// <generated from Rust by src/js/lists.rs: do not edit>
/** The object (app, sandbox, secret, volume, image) does not exist. */
export const NotFoundError = define("NotFoundError", "NOT_FOUND");
/** An object with that name already exists. */
export const AlreadyExistsError = define("AlreadyExistsError", "ALREADY_EXISTS");
/** Bad input: wrong type, missing field, out-of-range value. */
export const InvalidError = define("InvalidError", "INVALID");
/** The operation conflicts with the object's state. */
export const ConflictError = define("ConflictError", "CONFLICT");
/** Credentials were missing or rejected. */
export const AuthError = define("AuthError", "AUTH");
/** The credentials are valid but do not allow this call: a scoped token's scopes, tags, app or sandboxes do not cover it. */
export const PermissionDeniedError = define("PermissionDeniedError", "PERMISSION_DENIED");
/** A deadline passed. */
export const TimeoutError = define("TimeoutError", "TIMEOUT");
/** The sandbox timed out. */
export const SandboxTimeoutError = define("SandboxTimeoutError", "SANDBOX_TIMEOUT");
/** The client or handle was closed. */
export const ClientClosedError = define("ClientClosedError", "CLIENT_CLOSED");
/** A quota or capacity limit was hit. */
export const ResourceExhaustedError = define("ResourceExhaustedError", "RESOURCE_EXHAUSTED");
/** Any other server or network failure. */
export const RemoteError = define("RemoteError", "REMOTE");
/** Something unexpected happened at run time (e.g. a snapshot answered without an image). */
export const ExecutionError = define("ExecutionError", "EXECUTION");
/** A retryable internal error of the server (Modal JS's class; not thrown here yet). */
export const InternalFailure = define("InternalFailure", "INTERNAL_FAILURE");
/** A snapshot is done and failed (Modal JS's class; not thrown here yet). */
export const SnapshotCreationError = define("SnapshotCreationError", "SNAPSHOT_CREATION");
/** A Modal Function timed out (Modal JS's class, for ported code; functions are not part of this package). */
export const FunctionTimeoutError = define("FunctionTimeoutError", "FUNCTION_TIMEOUT");
/** The Queue is empty (Modal JS's class, for ported code; queues are not part of this package). */
export const QueueEmptyError = define("QueueEmptyError", "QUEUE_EMPTY");
/** The Queue is full (Modal JS's class, for ported code; queues are not part of this package). */
export const QueueFullError = define("QueueFullError", "QUEUE_FULL");
/** A filesystem operation in the sandbox failed; base of the specific filesystem errors. */
export const SandboxFilesystemError = define("SandboxFilesystemError", "FILESYSTEM");
/** The path does not exist in the sandbox. */
export const SandboxFilesystemNotFoundError = define("SandboxFilesystemNotFoundError", "FILESYSTEM_NOT_FOUND", SandboxFilesystemError);
/** A file was expected; the path is a directory. */
export const SandboxFilesystemIsADirectoryError = define("SandboxFilesystemIsADirectoryError", "FILESYSTEM_IS_A_DIRECTORY", SandboxFilesystemError);
/** A directory was expected; the path (or a parent) is not one. */
export const SandboxFilesystemNotADirectoryError = define("SandboxFilesystemNotADirectoryError", "FILESYSTEM_NOT_A_DIRECTORY", SandboxFilesystemError);
/** The directory is not empty. */
export const SandboxFilesystemDirectoryNotEmptyError = define("SandboxFilesystemDirectoryNotEmptyError", "FILESYSTEM_DIRECTORY_NOT_EMPTY", SandboxFilesystemError);
/** The path already exists. */
export const SandboxFilesystemPathAlreadyExistsError = define("SandboxFilesystemPathAlreadyExistsError", "FILESYSTEM_PATH_ALREADY_EXISTS", SandboxFilesystemError);
/** Permission denied (including writes to a read-only mount). */
export const SandboxFilesystemPermissionError = define("SandboxFilesystemPermissionError", "FILESYSTEM_PERMISSION_DENIED", SandboxFilesystemError);
/** The file is larger than the sandbox allows reading at once. */
export const SandboxFilesystemFileTooLargeError = define("SandboxFilesystemFileTooLargeError", "FILESYSTEM_FILE_TOO_LARGE", SandboxFilesystemError);
// </generated>

/** A port forwarded from within a running sandbox (Modal JS's `Tunnel`). */
export class Tunnel {
  constructor(host, port, unencryptedHost, unencryptedPort) {
    this.host = host;
    this.port = port;
    this.unencryptedHost = unencryptedHost;
    this.unencryptedPort = unencryptedPort;
  }
  /** `https://host[:port]`; `http://` for a loopback host (a local sandboxd's plain TCP). */
  get url() {
    const plain = /^(localhost|\[?::1\]?|127\.\d+\.\d+\.\d+)$/i.test(this.host);
    const scheme = plain ? "http" : "https";
    return `${scheme}://${this.host}${this.port === 443 && !plain ? "" : `:${this.port}`}`;
  }
  get tlsSocket() {
    return [this.host, this.port];
  }
  get tcpSocket() {
    if (!this.unencryptedHost || this.unencryptedPort === undefined) {
      throw makeError("INVALID", "This tunnel is not configured for unencrypted TCP.");
    }
    return [this.unencryptedHost, this.unencryptedPort];
  }
}

export function makeError(code, message, grpcStatus, cause) {
  const C = classes[code] || ModalError;
  return new C(message, { grpcStatus: grpcStatus === undefined ? undefined : grpcStatus, cause });
}

async function readAll(stream) {
  const reader = stream.getReader();
  const parts = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return parts;
}

// Bytes as text, invalid sequences as U+FFFD (Rust's `from_utf8_lossy` does the same; this
// keeps its decoder out of the wasm): src/utf8.rs `lossy`.
export const decodeUtf8 = (bytes) => new TextDecoder().decode(bytes);

// Text mode: the byte stream decoded by the runtime's TextDecoderStream (a code point split
// across chunks is kept whole; invalid bytes become U+FFFD). Pull-based like the byte
// stream: nothing is fetched until the first read. Cancelling it cancels the byte stream,
// which drops the Rust side and aborts its fetch; an error of the byte stream errors it.
export function decodeText(bytes) {
  let reader;
  return new ReadableStream(
    {
      async pull(controller) {
        reader = reader || bytes.pipeThrough(new TextDecoderStream()).getReader();
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => (reader || bytes).cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

export function decorateReadable(stream) {
  stream.readText = async () => {
    const parts = await readAll(stream);
    if (parts.every((p) => typeof p === "string")) return parts.join("");
    const dec = new TextDecoder();
    return parts.map((p) => (typeof p === "string" ? p : dec.decode(p, { stream: true }))).join("") + dec.decode();
  };
  stream.readBytes = async () => {
    const enc = new TextEncoder();
    const parts = (await readAll(stream)).map((p) => (typeof p === "string" ? enc.encode(p) : p));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  return stream;
}

export function decorateWritable(stream) {
  const write = async (chunk) => {
    const writer = stream.getWriter();
    try {
      await writer.write(chunk);
    } finally {
      writer.releaseLock();
    }
  };
  stream.writeText = (text) => write(text);
  stream.writeBytes = (bytes) => write(bytes);
  return stream;
}

export function makeAsyncIterable(obj) {
  // next() and return() one at a time, in call order (the Rust side takes the list out for
  // a next(): a second one at once would find it gone)
  let tail = Promise.resolve();
  const queued = (method) => {
    const f = obj[method];
    obj[method] = (...args) => {
      const p = tail.then(() => f.apply(obj, args));
      tail = p.catch(() => {});
      return p;
    };
  };
  queued("next");
  queued("return");
  obj[Symbol.asyncIterator] = function () {
    return this;
  };
  return obj;
}

// Gives the object's class `[Symbol.asyncDispose]()` calling `method` (once per class).
export function installAsyncDispose(obj, method) {
  const proto = Object.getPrototypeOf(obj);
  const key = Symbol.asyncDispose;
  if (key && proto && !Object.prototype.hasOwnProperty.call(proto, key)) {
    Object.defineProperty(proto, key, {
      value: async function () {
        await this[method]();
      },
      configurable: true,
    });
  }
  return obj;
}

// MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET, MODAL_ENVIRONMENT ("" when unset)
// in Node and Deno, as Modal's JS client reads them; undefined elsewhere (browsers,
// workers: a page's code must never pick up credentials from a bundler's shimmed env).
export function modalEnv() {
  if (typeof document !== "undefined") return undefined;
  const deno = globalThis.Deno, proc = globalThis.process;
  let get;
  if (deno?.env) get = (k) => deno.env.get(k); // throws without --allow-env: say nothing
  else if (proc?.versions?.node && proc.env) get = (k) => proc.env[k];
  else return undefined;
  try {
    return ["SERVER_URL", "TOKEN_ID", "TOKEN_SECRET", "ENVIRONMENT"].map((k) => get("MODAL_" + k) || "");
  } catch {
    return undefined;
  }
}

// Resolves after `ms` milliseconds; `setTimeout` comes from the global scope (works in
// pages, workers, Deno, workerd and Node).
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A sleep that does not keep a Node or Deno process alive (an ephemeral object's heartbeat).
export function sleepUnref(ms) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (typeof t === "number") globalThis.Deno?.unrefTimer?.(t);
    else t?.unref?.();
  });
}

// An exec's wait() that stops at its timeoutMs deadline, as Modal JS's does.
export function withDeadline(promise, ms, execId) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(makeError("TIMEOUT", `Deadline exceeded while waiting for exec ${execId}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// Rejects with the signal's reason when it aborts; `cleanup()` removes the listener.
// `done`/`error`: the signal had aborted already (its reason), or reading it threw (an
// InvalidError): a caller's object, whose getters may throw, is only touched in here.
export function abortPromise(signal) {
  const invalid = (e) => makeError("INVALID", "signal must be an AbortSignal", undefined, e);
  const reason = () => {
    try {
      return signal.reason;
    } catch (e) {
      return invalid(e);
    }
  };
  const w = { done: false, error: undefined, cleanup() {} };
  w.promise = new Promise((_, reject) => {
    try {
      if (signal.aborted) {
        w.done = true;
        w.error = reason();
        return reject(w.error);
      }
      const onAbort = () => reject(reason());
      signal.addEventListener("abort", onAbort, { once: true });
      w.cleanup = () => {
        try {
          signal.removeEventListener("abort", onAbort);
        } catch {}
      };
    } catch (e) {
      w.done = true;
      w.error = invalid(e);
      reject(w.error);
    }
  });
  w.promise.catch(() => {});
  return w;
}

// A fresh copy of the bytes of a Uint8Array, ArrayBuffer or other ArrayBufferView; null for
// anything else, a detached buffer, or an object whose getters or traps throw.
export function bytesOf(v) {
  try {
    if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
    if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  } catch {}
  return null;
}

// For an upload: [a ReadableStream of the SDK's own, size if known] over a caller's
// ReadableStream or Blob, read with the built-in methods (never the object's own, which
// may throw or lie); null if `v` is neither; a message if it cannot be read.
export function streamOf(v) {
  let size;
  let s = v;
  try {
    size = Object.getOwnPropertyDescriptor(Blob.prototype, "size").get.call(v);
    s = Blob.prototype.stream.call(v);
  } catch {}
  let reader;
  try {
    if (Object.getOwnPropertyDescriptor(ReadableStream.prototype, "locked").get.call(s)) {
      return "the ReadableStream is locked";
    }
    reader = ReadableStream.prototype.getReader.call(s);
  } catch {
    return null;
  }
  const { read, cancel } = Object.getPrototypeOf(reader);
  const own = new ReadableStream(
    {
      async pull(c) {
        const r = await read.call(reader);
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      cancel: (why) => cancel.call(reader, why),
    },
    { highWaterMark: 0 },
  );
  return [own, size];
}

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}
