// Bodies of the live suite (tests/wasm/live.rs): plain JS against the public API.
const IMAGE = "debian:bookworm-slim";

function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}
function eq(a, b, msg) {
  if (a !== b) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}
async function rejects(p, code, msg) {
  try {
    await p;
  } catch (e) {
    assert(e instanceof Error, `${msg}: not an Error: ${e}`);
    if (code) eq(e.code, code, `${msg}: code (${e.message})`);
    return e;
  }
  throw new Error(`${msg}: did not reject`);
}

async function sandbox(c, params) {
  const app = await c.apps.fromName("wasm-tests", { createIfMissing: true });
  const image = c.images.fromRegistry(IMAGE);
  return { app, sb: await c.sandboxes.create(app, image, params) };
}

export async function basicFlow(c) {
  const { sb } = await sandbox(c);
  assert(sb.sandboxId.length > 0, "sandboxId");
  const p = await sb.exec(["echo", "hi"]);
  eq(await p.stdout.readText(), "hi\n", "stdout");
  eq(await p.wait(), 0, "exit code");
  eq(p.returncode, 0, "returncode");
  await sb.terminate();
}

export async function stdioAndExitCodes(c) {
  const { sb } = await sandbox(c);
  try {
    // stderr and a non-zero exit code
    let p = await sb.exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    const [out, err] = await Promise.all([p.stdout.readText(), p.stderr.readText()]);
    eq(out, "out\n", "stdout");
    eq(err, "err\n", "stderr");
    eq(await p.wait(), 3, "exit 3");
    // killed by a signal: 128 + 9
    p = await sb.exec(["sh", "-c", "kill -9 $$"]);
    eq(await p.wait(), 137, "signal exit");
    // stdin: text and bytes, close = EOF
    p = await sb.exec(["cat"]);
    await p.stdin.writeText("hello ");
    await p.stdin.writeBytes(new TextEncoder().encode("world"));
    await p.stdin.close();
    eq(await p.stdout.readText(), "hello world", "cat echo");
    eq(await p.wait(), 0, "cat exit");
    // binary mode
    p = await sb.exec(["printf", "\\001\\002\\377"], { mode: "binary" });
    const bytes = await p.stdout.readBytes();
    eq(Array.from(bytes).join(","), "1,2,255", "binary bytes");
    // poll before and after exit
    p = await sb.exec(["sleep", "1"]);
    eq(await p.poll(), null, "poll while running");
    eq(await p.wait(), 0, "sleep exit");
    eq(await p.poll(), 0, "poll after exit");
    // ignored stdout is empty
    p = await sb.exec(["echo", "x"], { stdout: "ignore" });
    eq(await p.stdout.readText(), "", "ignored stdout");
    await p.wait();
    // env and workdir
    p = await sb.exec(["sh", "-c", "echo $FOO; pwd"], { env: { FOO: "bar" }, workdir: "/tmp" });
    eq(await p.stdout.readText(), "bar\n/tmp\n", "env and workdir");
  } finally {
    await sb.terminate();
  }
}

export async function bigOutput(c) {
  const { sb } = await sandbox(c);
  try {
    const size = 10 * 1024 * 1024;
    const p = await sb.exec(["head", "-c", String(size), "/dev/zero"], { mode: "binary" });
    const reader = p.stdout.getReader();
    let total = 0;
    let chunks = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      assert(value instanceof Uint8Array, "chunk type");
      for (let i = 0; i < value.length; i += 4096) assert(value[i] === 0, "zero bytes");
      total += value.length;
      chunks++;
    }
    eq(total, size, "bytes read");
    assert(chunks > 1, "streamed in several chunks");
    eq(await p.wait(), 0, "exit");
  } finally {
    await sb.terminate();
  }
}

export async function cancelReader(c) {
  const { sb } = await sandbox(c);
  try {
    const p = await sb.exec(["sh", "-c", "while true; do echo tick; sleep 0.05; done"]);
    const reader = p.stdout.getReader();
    const first = await reader.read();
    assert(!first.done && first.value.includes("tick"), "first chunk");
    await reader.cancel("enough");
    // A cancelled stream is closed for good.
    const after = await reader.read();
    assert(after.done, "done after cancel");
    // The sandbox keeps working after the cancel.
    const q = await sb.exec(["echo", "still here"]);
    eq(await q.stdout.readText(), "still here\n", "exec after cancel");
  } finally {
    await sb.terminate();
  }
}

export async function terminateAndReturncode(c) {
  const { sb } = await sandbox(c);
  eq(sb.returncode, null, "returncode while running");
  eq(await sb.poll(), null, "poll while running");
  const code = await sb.terminate({ wait: true });
  eq(code, 137, "terminate wait");
  eq(sb.returncode, 137, "returncode");
  eq(await sb.wait(), 137, "wait after terminate");
  eq(await sb.poll(), 137, "poll after terminate");
}

export async function tagsNamesAndList(c) {
  const name = "wasm-named-" + Math.random().toString(36).slice(2, 10);
  const tag = "t" + Math.random().toString(36).slice(2, 10);
  const { app, sb } = await sandbox(c, { name, tags: { suite: tag } });
  try {
    eq(JSON.stringify(await sb.getTags()), JSON.stringify({ suite: tag }), "initial tags");
    await sb.setTags({ suite: tag, extra: "1" });
    const tags = await sb.getTags();
    eq(tags.extra, "1", "set tags");
    const found = await c.sandboxes.fromName("wasm-tests", name);
    eq(found.sandboxId, sb.sandboxId, "fromName");
    const ids = [];
    for await (const s of c.sandboxes.list({ appId: app.appId, tags: { suite: tag } })) ids.push(s.sandboxId);
    eq(JSON.stringify(ids), JSON.stringify([sb.sandboxId]), "list by tag");
    // next() and return() called without awaiting each: answered in call order, each once
    const other = await c.sandboxes.create(app, c.images.fromRegistry(IMAGE), { tags: { suite: tag } });
    try {
      const it = c.sandboxes.list({ appId: app.appId, tags: { suite: tag } });
      const [a, b, ret, after] = await Promise.all([it.next(), it.next(), it.return(), it.next()]);
      const got = [a, b].map((r) => !r.done && r.value.sandboxId).sort();
      eq(JSON.stringify(got), JSON.stringify([sb.sandboxId, other.sandboxId].sort()), "concurrent next()s: both sandboxes");
      eq(ret.done && after.done, true, "return, then next: done");
    } finally {
      await other.terminate();
    }
    const again = await c.sandboxes.fromId(sb.sandboxId);
    const p = await again.exec(["echo", "via fromId"]);
    eq(await p.stdout.readText(), "via fromId\n", "exec via fromId handle");
  } finally {
    await sb.terminate();
  }
  await rejects(c.sandboxes.fromName("wasm-tests", name), "NOT_FOUND", "fromName after terminate");
}

export async function badInput(c) {
  await rejects(c.apps.fromName(42), "INVALID", "non-string name");
  await rejects(c.apps.fromName("no-such-app-" + Date.now()), "NOT_FOUND", "missing app");
  const { app, sb } = await sandbox(c);
  try {
    const image = c.images.fromRegistry(IMAGE);
    await rejects(c.sandboxes.create(app, image, { timeoutMs: 1500 }), "INVALID", "timeoutMs not whole seconds");
    await rejects(c.sandboxes.create(app, image, { cpu: "lots" }), "INVALID", "cpu wrong type");
    await rejects(c.sandboxes.create({}, image), "INVALID", "app not an App");
    await rejects(c.sandboxes.create(app, image, "nope"), "INVALID", "params not an object");
    await rejects(sb.exec("echo hi"), "INVALID", "command not an array");
    await rejects(sb.exec([]), "INVALID", "empty command");
    await rejects(sb.exec(["echo", 1]), "INVALID", "non-string arg");
    await rejects(sb.exec(["echo"], { workdir: "relative" }), "INVALID", "relative workdir");
    await rejects(sb.setTags("x"), "INVALID", "tags not an object");
    await rejects(c.sandboxes.fromId(""), "INVALID", "empty id");
    const ghost = await c.sandboxes.fromId("sb-doesnotexist0000000000");
    await rejects(ghost.poll(), "NOT_FOUND", "unknown sandbox");
    // Concurrent calls on one handle are fine.
    const ps = await Promise.all([1, 2, 3].map((i) => sb.exec(["echo", String(i)])));
    const outs = await Promise.all(ps.map((p) => p.stdout.readText()));
    eq(outs.join(""), "1\n2\n3\n", "concurrent execs");
    // Writing a wrong type to stdin errors the stream with InvalidError.
    const p = await sb.exec(["cat"]);
    const w = p.stdin.getWriter();
    await rejects(w.write(42), "INVALID", "stdin wrong chunk type");
    // Detached handles refuse work.
    const d = await c.sandboxes.fromId(sb.sandboxId);
    d.detach();
    await rejects(d.exec(["true"]), "CLIENT_CLOSED", "detached handle");
  } finally {
    await sb.terminate();
  }
}

export async function abortSignal(c) {
  const { sb } = await sandbox(c);
  try {
    const ac = new AbortController();
    const reason = new Error("stop now");
    const p = await sb.exec(["sleep", "30"]);
    const waiting = p.wait({ signal: ac.signal });
    setTimeout(() => ac.abort(reason), 200);
    const t0 = Date.now();
    try {
      await waiting;
      throw new Error("wait did not reject");
    } catch (e) {
      eq(e, reason, "rejects with the signal's reason");
    }
    assert(Date.now() - t0 < 5000, "abort is prompt");
    // An already-aborted signal rejects at once.
    const ac2 = new AbortController();
    ac2.abort("early");
    try {
      await sb.exec(["true"], { signal: ac2.signal });
      throw new Error("exec did not reject");
    } catch (e) {
      eq(e, "early", "pre-aborted reason");
    }
    await rejects(sb.poll({ signal: "not a signal" }), "INVALID", "bad signal");
  } finally {
    await sb.terminate();
  }
}

export async function authErrors(badClient) {
  await rejects(badClient.apps.fromName("wasm-tests", { createIfMissing: true }), "AUTH", "wrong secret");
}

// Reads `reader` (bytes) into `seen.text` until it contains `want`.
async function readUntil(reader, seen, want, from = 0) {
  const dec = new TextDecoder();
  const deadline = Date.now() + 10_000;
  while (!seen.text.includes(want, from)) {
    // a deadline that says what was seen, rather than the runner's silent timeout
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(want)} in 10 s: ${JSON.stringify(seen.text)}`)), deadline - Date.now());
    });
    const { value, done } = await Promise.race([reader.read(), late]).finally(() => clearTimeout(timer));
    if (done) throw new Error(`output ended before ${JSON.stringify(want)}: ${JSON.stringify(seen.text)}`);
    assert(value instanceof Uint8Array, "a terminal's chunks are bytes by default");
    seen.bytes += value.length;
    seen.text += dec.decode(value, { stream: true });
  }
}

export async function terminalFromJs(c) {
  const { sb } = await sandbox(c);
  try {
    // pty: true, and an object of rows, cols, term
    let p = await sb.exec(["sh", "-c", "tty; stty size; echo $TERM"], { pty: true, mode: "text" });
    const out = await p.stdout.readText();
    assert(/^\/dev\/pts\/\d+\r\n24 80\r\nxterm-256color\r\n$/.test(out), JSON.stringify(out));
    p = await sb.exec(["sh", "-c", "stty size; echo $TERM"], { pty: { rows: 30, cols: 100, term: "vt100" }, mode: "text" });
    eq(await p.stdout.readText(), "30 100\r\nvt100\r\n", "rows, cols, term");
    await rejects(sb.exec(["true"], { pty: { colums: 100 } }), "INVALID", "a misspelt pty option");
    await rejects(sb.exec(["true"], { pty: "yes" }), "INVALID", "pty of the wrong type");
    await rejects(sb.exec(["true"], { pty: { rows: 0 } }), "INVALID", "zero rows");
    const plain = await sb.exec(["true"]);
    await rejects(plain.resize(80, 24), "INVALID", "resize without a terminal");

    // an interactive shell: Ctrl-C, a resize seen by tput, then attach from an offset. The
    // markers are quoted apart in what is typed (g""o prints go), so the terminal's echo of
    // the input never matches, whether it comes before or after the shell's prompt.
    const sh = await sb.exec(["sh", "-i"], { pty: { rows: 24, cols: 80 } });
    const r = sh.stdout.getReader();
    const seen = { text: "", bytes: 0 };
    await sh.stdin.writeText('echo g""o; sleep 100\r');
    await readUntil(r, seen, "go\r\n");
    // Ctrl-C alone, then the next line once the shell has prompted again: typed at once,
    // the shell may drop the rest of the line with the interrupted one
    const beforeCtrlC = seen.text.length;
    await sh.stdin.writeText("\x03");
    await readUntil(r, seen, "# ", beforeCtrlC);
    await sh.stdin.writeText("echo status=$?\r");
    await readUntil(r, seen, "status=130");
    await sh.resize(133, 41);
    await sh.stdin.writeText("echo cols=$(tput cols) lines=$(tput lines)\r");
    await readUntil(r, seen, "cols=133 lines=41");
    await rejects(sh.resize(0, 10), "INVALID", "zero columns");

    // what a reloaded page does: the same shell by its exec id, stdout from where it was
    await sh.stdin.writeText('echo o""ne\r');
    await readUntil(r, seen, "one\r\n");
    r.releaseLock();
    const again = await sb.attach(sh.execId, { pty: true, stdoutOffset: seen.bytes });
    eq(again.execId, sh.execId, "attached execId");
    const r2 = again.stdout.getReader();
    const seen2 = { text: "", bytes: 0 };
    await again.stdin.writeText('echo t""wo\r');
    await readUntil(r2, seen2, "two\r\n");
    assert(!seen2.text.includes("one"), `output before the offset came again: ${JSON.stringify(seen2.text)}`);
    await again.resize(90, 20);
    await again.stdin.writeText("exit\r");
    eq(await again.wait(), 0, "the shell's exit code");
    await rejects(sb.attach(sh.execId, { stdoutOffset: -1 }), "INVALID", "negative offset");
  } finally {
    await sb.terminate();
  }
}
