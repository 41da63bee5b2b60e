// The playground's sandbox session: everything that talks to modal-wasm lives here, so it
// runs unchanged on the page's main thread or inside a dedicated worker (worker.js).
//
// One sandbox per page session, reused across runs. A run writes the editor's code to a
// file in the sandbox and execs the interpreter on it; stdout/stderr chunks are reported
// through `emit` as they arrive. Files are listed, read and written with the SDK's
// `sandbox.filesystem` (falling back to small execs of find and cat).

import { ModalClient } from "modal-wasm";
import { INTERPRETERS } from "./examples.js";
import { fetchCredentials } from "./config.js";

export const WORKDIR = "/workspace";
const APP_NAME = "modal-wasm-playground";
const IMAGE = "debian:bookworm-slim";
const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
const PIDFILE = (runId) => `/tmp/.playground-run-${runId}.pid`;
// A run's code passed as an argument: Linux takes up to 128 KiB in one (bytes; a UTF-16
// length of 32 Ki is at most 96 KiB of UTF-8).
const MAX_INLINE_CODE = 32 * 1024;
// sh -c WRITE_AND_RUN PIDFILE PATH CODE ARGV...: write CODE to PATH, record the pid, run ARGV
const WRITE_AND_RUN =
  'mkdir -p -- "$(dirname -- "$1")" && printf %s "$2" > "$1" || exit 126; echo $$ > "$0"; shift 2; exec "$@"';

/** A plain, cloneable description of an error (it crosses postMessage in worker mode). */
export function describeError(e) {
  if (e && typeof e === "object") {
    return {
      name: e.name || "Error",
      code: e.code || (e instanceof TypeError ? "NETWORK" : "ERROR"),
      message: e.message || String(e),
    };
  }
  return { name: "Error", code: "ERROR", message: String(e) };
}

/** Whether an error means the sandbox is gone (timed out, terminated, unknown). */
export function isSandboxGone(err) {
  const code = err && err.code;
  if (code === "SANDBOX_TIMEOUT" || code === "NOT_FOUND" || code === "CLIENT_CLOSED") return true;
  const msg = String((err && err.message) || "").toLowerCase();
  return /terminated|timed out|timeout|no such sandbox|not running|finished|has ended/.test(msg) && code !== "NETWORK";
}

export class Session {
  /** @param {(event: object) => void} emit receives run output and lifecycle events */
  constructor(emit) {
    this.emit = emit;
    this.client = null;
    this.app = null;
    this.sb = null;
    this.runs = new Map(); // runId -> { proc, stdin writer, stopped }
  }

  /**
   * Connect to the endpoint with a credential; creates (or finds) the app. A multi-user
   * server hands out a scoped token per visitor (`token`, `tokenUrl`): the SDK asks
   * `tokenUrl` again for a fresh one (the visitor's cookie keeps it the same visitor).
   * A single-user sandboxd hands out its workspace credential (`tokenId`, `tokenSecret`).
   */
  async connect({ endpoint, tokenId, tokenSecret, token, tokenUrl, app }) {
    if (this.client) this.client.close();
    const getToken = tokenUrl
      ? async () => {
          const r = await fetch(tokenUrl, { cache: "no-store", credentials: "same-origin" });
          if (!r.ok) throw new Error(`the server did not renew the token (HTTP ${r.status})`);
          return (await r.json()).token;
        }
      : undefined;
    this.client = token ? new ModalClient({ endpoint, token, getToken }) : new ModalClient({ endpoint, tokenId, tokenSecret });
    this.app = await this.client.apps.fromName(app || APP_NAME, { createIfMissing: true });
    return { appId: this.app.appId };
  }

  /**
   * The page's start in one call (one message in worker mode): the credential (given, or
   * fetched from the server at `endpoint`), the connection, and, if `start`, the sandbox.
   */
  async boot({ endpoint, credentials, start, timeoutMs }) {
    // `credentials`: the pair or token, or its fetch under way (worker.js), or none yet
    const creds = (await credentials) || (await fetchCredentials(endpoint));
    await this.connect({ endpoint, ...creds });
    const started = start ? await this.start(timeoutMs ? { timeoutMs } : {}) : null;
    return { creds, started };
  }

  /** Create the page's sandbox (terminating a previous one, best effort). */
  async start({ timeoutMs = this.timeoutMs || DEFAULT_TIMEOUT_MS } = {}) {
    this.timeoutMs = timeoutMs;
    const old = this.sb;
    this.sb = null;
    if (old) old.terminate().catch(() => {});
    const image = this.client.images.fromRegistry(IMAGE);
    const sb = await this.client.sandboxes.create(this.app, image, {
      timeoutMs,
      workdir: WORKDIR,
      env: { TERM: "xterm-256color", FORCE_COLOR: "1", HOME: WORKDIR, PYTHONDONTWRITEBYTECODE: "1" },
      tags: { purpose: "playground" },
    });
    this.sb = sb;
    // notice when the sandbox ends on its own (timeout) without waiting for the next call
    sb.wait()
      .then((code) => {
        if (this.sb === sb) this.emit({ type: "sandbox-ended", sandboxId: sb.sandboxId, exitCode: code });
      })
      .catch((e) => {
        if (this.sb === sb) this.emit({ type: "sandbox-ended", sandboxId: sb.sandboxId, error: describeError(e) });
      });
    return { sandboxId: sb.sandboxId };
  }

  requireSandbox() {
    if (!this.sb) {
      const e = new Error("no sandbox: start one first");
      e.code = "NO_SANDBOX";
      throw e;
    }
    return this.sb;
  }

  /** Run code: write it to `path`, exec the interpreter, stream its output. */
  async run({ runId, lang, path, code }) {
    const sb = this.requireSandbox();
    const interp = INTERPRETERS[lang];
    if (!interp) throw new Error(`unknown language ${lang}`);
    // The wrapper starts a new session (its own process group, so Stop can kill the
    // program and everything it spawned), records its pid, then becomes the interpreter.
    // Code that fits in one argument is written by the wrapper itself: one exec, not two,
    // before the first output.
    const inline = code.length <= MAX_INLINE_CODE && !code.includes("\0");
    if (!inline) await this.writeFile(path, new TextEncoder().encode(code));
    const argv = inline
      ? ["setsid", "sh", "-c", WRITE_AND_RUN, PIDFILE(runId), path, code, ...interp, path]
      : ["setsid", "sh", "-c", 'echo $$ > "$0"; exec "$@"', PIDFILE(runId), ...interp, path];
    const started = performance.now();
    const proc = await sb.exec(argv, { workdir: WORKDIR });
    const run = { proc, stdin: proc.stdin.getWriter(), stopped: false };
    this.runs.set(runId, run);
    this.emit({ type: "run-started", runId });
    const pump = async (stream, kind) => {
      const reader = stream.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.emit({ type: kind, runId, data: value });
        }
      } catch (e) {
        if (!run.stopped) this.emit({ type: "stream-error", runId, stream: kind, error: describeError(e) });
      }
    };
    try {
      const [exitCode] = await Promise.all([proc.wait(), pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")]);
      return { exitCode, ms: performance.now() - started, stopped: run.stopped };
    } finally {
      this.runs.delete(runId);
      run.stdin.close().catch(() => {});
      sb.exec(["rm", "-f", PIDFILE(runId)]).catch(() => {});
    }
  }

  /** Send text to a running program's stdin. */
  async stdin(runId, text) {
    const run = this.runs.get(runId);
    if (run) await run.stdin.write(text);
  }

  /** Close a running program's stdin (EOF, what Ctrl+D does in a terminal). */
  async closeStdin(runId) {
    const run = this.runs.get(runId);
    if (run) await run.stdin.close();
  }

  /**
   * Stop a run: SIGTERM its process group, SIGKILL after a grace period. If the run has
   * still not ended after that (a wedged sandbox), terminate the sandbox and start a
   * fresh one, which ends every stream of the old one.
   */
  async stop(runId, graceMs = 1500) {
    const run = this.runs.get(runId);
    if (!run) return { how: "not-running" };
    run.stopped = true;
    const sb = this.sb;
    const ended = run.proc.wait().then(
      () => true,
      () => true,
    );
    const within = (ms) => Promise.race([ended, new Promise((r) => setTimeout(() => r(false), ms))]);
    const script =
      'for i in 1 2 3 4 5 6 7 8 9 10; do [ -s "$0" ] && break; sleep 0.05; done; p=$(cat "$0" 2>/dev/null) || exit 0; ' +
      // `kill -s SIG -- -PGID` is the spelling dash, bash and busybox all accept
      'kill -s TERM -- "-$p" 2>/dev/null || kill -s TERM "$p" 2>/dev/null; ' +
      `i=0; while kill -0 "$p" 2>/dev/null && [ $i -lt ${Math.ceil(graceMs / 100)} ]; do sleep 0.1; i=$((i+1)); done; ` +
      'kill -s KILL -- "-$p" 2>/dev/null || kill -s KILL "$p" 2>/dev/null; exit 0';
    try {
      const killer = sb.exec(["sh", "-c", script, PIDFILE(runId)]).then((k) => k.wait());
      await Promise.race([killer, within(graceMs + 2500)]);
    } catch {
      // fall through to the sandbox restart below
    }
    if (await within(1500)) return { how: "signal" };
    this.emit({ type: "notice", message: "The program did not stop; restarting the sandbox." });
    const info = await this.start();
    return { how: "restart", ...info };
  }

  /**
   * File calls go through the SDK's `sandbox.filesystem` (Modal's JS API, served by
   * sandboxd's fs helper). If that is unavailable (an older SDK or a server without the
   * helper), the same operations run as small execs (find, cat) and the session remembers
   * to use them.
   */
  async viaFs(fsCall, execCall) {
    const sb = this.requireSandbox();
    if (sb.filesystem && this.fsMode !== "exec") {
      try {
        const result = await fsCall(sb.filesystem);
        this.fsMode = "filesystem";
        return result;
      } catch (e) {
        if (this.fsMode === "filesystem") throw e; // it works here: a real error
        try {
          const result = await execCall(sb);
          this.fsMode = "exec";
          return result;
        } catch {
          throw e;
        }
      }
    }
    return execCall(sb);
  }

  /** How files are reached: "filesystem" (the SDK's API), "exec", or undefined (not yet). */
  async filesMode() {
    return this.fsMode;
  }

  /** List a directory: [{ name, type: "file"|"dir"|"link"|"other", size, mtime }], dirs first. */
  async ls(dir = WORKDIR) {
    const kinds = { file: "file", directory: "dir", symlink: "link", f: "file", d: "dir", l: "link" };
    const entries = await this.viaFs(
      async (fs) =>
        (await fs.listFiles(dir)).map((f) => ({ name: f.name, type: kinds[f.type] || "other", size: f.size, mtime: f.modifiedTime * 1000 })),
      async (sb) => {
        const proc = await sb.exec(["find", dir, "-mindepth", "1", "-maxdepth", "1", "-printf", "%y\\t%s\\t%T@\\t%f\\0"]);
        const [out, err, code] = await Promise.all([proc.stdout.readText(), proc.stderr.readText(), proc.wait()]);
        if (code !== 0) throw new Error(err.trim() || `find exited with ${code}`);
        return out
          .split("\0")
          .filter(Boolean)
          .map((line) => {
            const [y, size, mtime, ...name] = line.split("\t");
            return { name: name.join("\t"), type: kinds[y] || "other", size: Number(size), mtime: Number(mtime) * 1000 };
          });
      },
    );
    return entries.sort((a, b) => (b.type === "dir") - (a.type === "dir") || a.name.localeCompare(b.name));
  }

  /** Read a file's bytes. */
  async readFile(path) {
    return this.viaFs(
      (fs) => fs.readBytes(path),
      async (sb) => {
        const proc = await sb.exec(["cat", "--", path], { mode: "binary" });
        const [out, err, code] = await Promise.all([proc.stdout.readBytes(), proc.stderr.readText(), proc.wait()]);
        if (code !== 0) throw new Error(err.trim() || `cat exited with ${code}`);
        return out;
      },
    );
  }

  /** Write a file (creating its directory), replacing what was there. */
  async writeFile(path, bytes) {
    await this.viaFs(
      (fs) => fs.writeBytes(bytes, path),
      async (sb) => {
        const proc = await sb.exec(["sh", "-c", 'mkdir -p -- "$(dirname -- "$0")" && cat > "$0"', path], { mode: "binary" });
        const errText = proc.stderr.readText();
        proc.stdout.cancel().catch(() => {});
        const w = proc.stdin.getWriter();
        // chunks of 1 MiB keep each stdin message reasonably sized
        for (let at = 0; at < bytes.length; at += 1 << 20) await w.write(bytes.subarray(at, at + (1 << 20)));
        await w.close();
        const code = await proc.wait();
        if (code !== 0) throw new Error((await errText).trim() || `writing ${path} failed (${code})`);
      },
    );
    return { path, size: bytes.length };
  }

  /**
   * Reuse a sandbox this page session made before a reload, if it still runs; else
   * resolve to null (the caller starts a fresh one).
   */
  async resume(sandboxId) {
    try {
      const sb = await this.client.sandboxes.fromId(sandboxId);
      if ((await sb.poll()) !== null) return null;
      this.sb = sb;
      sb.wait().then(
        (code) => this.sb === sb && this.emit({ type: "sandbox-ended", sandboxId, exitCode: code }),
        (e) => this.sb === sb && this.emit({ type: "sandbox-ended", sandboxId, error: describeError(e) }),
      );
      return { sandboxId };
    } catch {
      return null;
    }
  }

  /**
   * The Terminal tab's interactive login shell on a pseudo-terminal: a new one, or (with
   * `execId`) the one a reloaded page had, its output replayed from `offset`. Output is
   * reported as `shell-out` events of bytes with their end offset; when the stream breaks
   * (the network dropped) the shell is attached again from the last offset, so nothing
   * is lost or shown twice.
   */
  async shellOpen({ rows, cols, execId, offset = 0 }) {
    const sb = this.requireSandbox();
    const proc = execId
      ? await sb.attach(execId, { pty: true, stdoutOffset: offset })
      : await sb.exec(["bash", "-l"], { pty: { rows, cols }, workdir: WORKDIR });
    const shell = { proc, stdin: proc.stdin.getWriter(), offset, closed: false };
    this.shell = shell;
    if (execId) proc.resize(cols, rows).catch(() => {});
    this.pumpShell(shell);
    return { execId: proc.execId };
  }

  async pumpShell(shell) {
    for (let delay = 500; !shell.closed; delay = Math.min(delay * 2, 8000)) {
      const reader = shell.proc.stdout.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          shell.offset += value.length;
          delay = 500;
          this.emit({ type: "shell-out", execId: shell.proc.execId, data: value, offset: shell.offset });
        }
        // the output ended: the shell exited
        shell.closed = true;
        const code = await shell.proc.wait().catch(() => null);
        if (this.shell === shell) this.shell = null;
        this.emit({ type: "shell-exit", execId: shell.proc.execId, exitCode: code });
        return;
      } catch (e) {
        if (shell.closed || isSandboxGone(e)) break;
        this.emit({ type: "shell-state", execId: shell.proc.execId, state: "reconnecting", error: describeError(e) });
        await new Promise((r) => setTimeout(r, delay));
        try {
          const again = await this.sb.attach(shell.proc.execId, { pty: true, stdoutOffset: shell.offset });
          shell.proc = again;
          shell.stdin = again.stdin.getWriter();
          this.emit({ type: "shell-state", execId: again.execId, state: "connected" });
        } catch (e2) {
          if (isSandboxGone(e2)) break;
        }
      }
    }
    if (this.shell === shell) this.shell = null;
    if (!shell.closed) this.emit({ type: "shell-exit", execId: shell.proc.execId, exitCode: null });
  }

  /** Keys typed in the Terminal tab, raw (Ctrl-C is "\x03": the terminal makes it SIGINT). */
  async shellInput(data) {
    if (this.shell) await this.shell.stdin.write(data);
  }

  async shellResize(cols, rows) {
    if (this.shell) await this.shell.proc.resize(cols, rows);
  }

  /** Terminate the sandbox (page close, or the user asked). */
  async terminate() {
    const sb = this.sb;
    this.sb = null;
    if (sb) await sb.terminate();
  }
}
