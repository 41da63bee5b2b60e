// Bodies of the faults suite (tests/wasm/faults.rs): the SDK in headless Chromium through
// the fault proxy of tests/faults/harness.mjs (random cuts and stalls), and against a
// sandboxd that is killed with SIGKILL mid-stream and restarted on the same state dir.
const IMAGE = "debian:bookworm-slim";

function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)?.slice(0, 300)}, want ${JSON.stringify(want)?.slice(0, 300)}`);
}
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function control(ctl, method, path) {
  const r = await fetch(ctl + path, { method });
  const body = await r.json();
  if (!r.ok) throw new Error(`harness ${method} ${path}: ${body.error}`);
  return body;
}

/** The harness's URLs, token and seed. */
export function faultConfig(ctl) {
  return control(ctl, "GET", "/config");
}

/** Prints a line in the harness's output (the test command's log). */
async function report(ctl, line) {
  console.log(line);
  await fetch(`${ctl}/report`, { method: "POST", body: line });
}

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (bytes) => hex(await crypto.subtle.digest("SHA-256", bytes));

// xorshift32 from the harness's seed: the stdin bytes and the write sizes
function prng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

const STDOUT_BYTES = 100_000_000;
const STDIN_BYTES = 20_000_000;

/** 100 MB of random bytes made and hashed in the sandbox, read in binary mode and hashed
 * here. Every 4 KiB starts with its own offset (8 bytes, big-endian), so a failure says
 * where bytes went missing, were repeated or were moved. */
async function stdoutThroughCuts(sb) {
  const py = [
    "import os, sys, hashlib",
    "h, at, out = hashlib.sha256(), 0, sys.stdout.buffer",
    "while at < " + STDOUT_BYTES + ":",
    "    b = bytearray(os.urandom(min(" + STDOUT_BYTES + " - at, 1 << 20)))",
    "    for i in range(0, len(b), 4096): b[i:i + 8] = (at + i).to_bytes(8, 'big')",
    "    h.update(b); out.write(b); at += len(b)",
    "out.flush(); sys.stderr.write(h.hexdigest())",
  ].join("\n");
  const p = await sb.exec(["python3", "-c", py], { mode: "binary" });
  const buf = new Uint8Array(STDOUT_BYTES);
  let at = 0;
  const reader = p.stdout.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > STDOUT_BYTES) throw new Error(`stdout: more than ${STDOUT_BYTES} bytes`);
    buf.set(value, at);
    at += value.length;
  }
  const theirs = new TextDecoder().decode(await p.stderr.readBytes());
  eq(await p.wait(), 0, "stdout writer's exit code");
  eq(at, STDOUT_BYTES, "stdout bytes received");
  const view = new DataView(buf.buffer);
  for (let i = 0; i + 8 <= at; i += 4096) {
    const stamp = Number(view.getBigUint64(i));
    if (stamp !== i) throw new Error(`stdout: the bytes at offset ${i} are those of offset ${stamp} (${stamp - i} bytes off)`);
  }
  eq(await sha256(buf), theirs, "stdout SHA-256 (browser vs sandbox)");
  return at;
}

/** 20 MB of seeded bytes written in random-sized chunks, hashed here and in the sandbox. */
async function stdinThroughCuts(sb, seed) {
  const next = prng(seed);
  const words = new Uint32Array(STDIN_BYTES / 4);
  for (let i = 0; i < words.length; i++) words[i] = next();
  const data = new Uint8Array(words.buffer);
  const py = [
    "import sys, hashlib",
    "h, n = hashlib.sha256(), 0",
    "while True:",
    "    b = sys.stdin.buffer.read(1 << 16)",
    "    if not b: break",
    "    h.update(b); n += len(b)",
    "print(n, h.hexdigest())",
  ].join("\n");
  const p = await sb.exec(["python3", "-c", py]);
  const w = p.stdin.getWriter();
  let at = 0;
  let writes = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, 1 + (next() % 3_000_000));
    await w.write(data.subarray(at, at + n));
    at += n;
    writes++;
  }
  await w.close();
  const out = (await p.stdout.readText()).trim();
  eq(await p.wait(), 0, "stdin reader's exit code");
  eq(out, `${STDIN_BYTES} ${await sha256(data)}`, "stdin bytes and SHA-256 (sandbox vs browser)");
  return writes;
}

/** `c` goes through the fault proxy: 100 MB of stdout and 20 MB of stdin at once, both
 * byte-exact, while the proxy cuts and stalls connections. */
export async function stdioThroughCuts(c, ctl, seed) {
  const before = (await control(ctl, "GET", "/stats")).faulty;
  const started = Date.now();
  const app = await c.apps.fromName("wasm-faults", { createIfMissing: true });
  const sb = await c.sandboxes.create(app, c.images.fromRegistry(IMAGE), { timeoutMs: 600_000 });
  let out, writes;
  try {
    [out, writes] = await Promise.all([stdoutThroughCuts(sb), stdinThroughCuts(sb, seed)]);
  } finally {
    await sb.terminate();
  }
  const after = (await control(ctl, "GET", "/stats")).faulty;
  const d = (k) => after[k] - before[k];
  const cuts = d("cutsDown") + d("cutsUp");
  await report(
    ctl,
    `faults: ${cuts} cuts survived (${d("cutsDown")} mid-response, ${d("cutsUp")} mid-request) and ` +
      `${d("stalls")} stalls over ${d("connections")} connections; ${out} stdout bytes and ` +
      `${STDIN_BYTES} stdin bytes (${writes} writes) byte-exact by SHA-256, in ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed})`,
  );
  // a run the proxy barely touched proves nothing
  assert(d("cutsDown") >= 10 && d("cutsUp") >= 2, `too few cuts: ${JSON.stringify(after)}`);
}

// --- kill -9 mid-stream ------------------------------------------------------------------

/** A typed SDK error: an Error whose class carries the same stable `code`. */
function typed(e) {
  return e instanceof Error && typeof e.code === "string" && e.constructor.code === e.code && !(e instanceof WebAssembly.RuntimeError);
}

/** Settles `p`, timing it from `t0()` (set when the kill is done). */
function timed(name, p, t0) {
  return p.then(
    (v) => ({ name, ok: true, value: v, ms: Date.now() - t0() }),
    (e) => ({ name, ok: false, error: e, ms: Date.now() - t0() }),
  );
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `c` talks to the harness's crash sandboxd (through a proxy that can hold requests).
 * With calls pending of every kind, the sandboxd is killed with SIGKILL: each call must
 * fail with a typed error within 5 s. After a restart on the same state dir and port,
 * every record is there, running sandboxes are reported finished, and `c` works again. */
export async function crashMidStream(c, ctl) {
  const app = await c.apps.fromName("wasm-crash", { createIfMissing: true });
  const vol = await c.volumes.fromName("wasm-crash-vol", { createIfMissing: true });
  const image = c.images.fromRegistry(IMAGE);
  const name = `crash-${Date.now()}`;
  const sb = await c.sandboxes.create(app, image, {
    name,
    tags: { suite: "crash" },
    volumes: { "/data": vol },
    timeoutMs: 120_000,
  });
  const snapshot = await sb.snapshotFilesystem();
  assert(snapshot.imageId.length > 0, "snapshot image id");

  // calls in flight on open connections: an output stream, the exec's and the sandbox's
  // long-polled waits, the sandbox's own stdout
  const p1 = await sb.exec(["sh", "-c", "echo ready; exec sleep 60"]);
  const out = p1.stdout.getReader();
  eq((await out.read()).value, "ready\n", "first output");
  const p2 = await sb.exec(["cat"]);
  const stdin = p2.stdin.getWriter();
  await stdin.write("before the crash\n");
  let t = 0;
  const t0 = () => t;
  const pending = [
    timed("stdout read", out.read(), t0),
    timed("exec wait", p1.wait(), t0),
    timed("sandbox wait", sb.wait(), t0),
    timed("sandbox stdout read", sb.stdout.getReader().read(), t0),
  ];
  // calls whose requests are on the wire when the server dies (held by the proxy)
  await control(ctl, "POST", "/crash/hold?on=1");
  pending.push(
    timed("exec start", sb.exec(["true"]), t0),
    timed("stdin write", stdin.write(new Uint8Array(256 * 1024)), t0),
    timed("exec poll", p2.poll(), t0),
    timed("getTags", sb.getTags(), t0),
    timed("filesystem read", sb.filesystem.readText("/etc/hostname"), t0),
    timed("list next", c.sandboxes.list({ appId: app.appId }).next(), t0),
    timed("app lookup", c.apps.fromName("wasm-crash"), t0),
  );
  await sleep(300);
  await control(ctl, "POST", "/crash/kill");
  t = Date.now();
  const results = await Promise.race([
    Promise.all(pending),
    sleep(15_000).then(() => {
      throw new Error("calls still pending 15 s after the kill");
    }),
  ]);
  const lines = [];
  const problems = [];
  for (const r of results) {
    if (r.ok) problems.push(`${r.name} resolved after the server was killed: ${r.value}`);
    else if (!typed(r.error)) problems.push(`${r.name}: not a typed error: ${r.error} ${r.error && r.error.stack}`);
    else if (r.ms > 5000) problems.push(`${r.name} failed only after ${r.ms} ms (${r.error.code})`);
    lines.push(`${r.name} ${r.ok ? "resolved" : r.error && r.error.code} ${r.ms} ms`);
  }
  if (problems.length) throw new Error(`after the kill: ${problems.join("; ")} [all: ${lines.join(", ")}]`);
  const slowest = Math.max(...results.map((r) => r.ms));

  // the same state dir, the same port, the same client object
  await control(ctl, "POST", "/crash/restart");
  const code = await sb.poll();
  assert(typeof code === "number", `the sandbox that was running is reported finished (poll: ${code})`);
  const again = await c.sandboxes.fromId(sb.sandboxId);
  eq(await again.poll(), code, "poll through a fresh handle");
  eq(JSON.stringify(await sb.getTags()), JSON.stringify({ suite: "crash" }), "tags after restart");
  eq((await c.apps.fromName("wasm-crash")).appId, app.appId, "app after restart");
  eq((await c.volumes.fromName("wasm-crash-vol")).volumeId, vol.volumeId, "volume after restart");
  eq((await c.images.fromId(snapshot.imageId)).imageId, snapshot.imageId, "snapshot image after restart");
  const named = await c.sandboxes.fromName("wasm-crash", name, { includeTerminated: true });
  eq(named.sandboxId, sb.sandboxId, "named sandbox after restart");
  for await (const s of c.sandboxes.list({ appId: app.appId })) {
    assert(s.sandboxId !== sb.sandboxId, "the killed server's sandbox is not listed as running");
  }
  // the exec that was running: finished too, or a typed error; never "still running"
  const p1poll = await p1.poll().catch((e) => (typed(e) ? e.code : e));
  assert(p1poll !== null, "an exec of the killed server is not reported running");
  // and the client works again: create + exec
  const sb2 = await c.sandboxes.create(app, image);
  try {
    const p = await sb2.exec(["echo", "alive"]);
    eq(await p.stdout.readText(), "alive\n", "exec after restart");
    eq(await p.wait(), 0, "exit after restart");
  } finally {
    await sb2.terminate();
  }
  await report(
    ctl,
    `faults: kill -9 mid-stream: ${results.length} pending calls all failed typed within ${slowest} ms ` +
      `(${lines.join(", ")}); after restart: records kept, sandbox reported finished (${code}), ` +
      `exec poll ${typeof p1poll === "object" ? p1poll && p1poll.code : p1poll}, create+exec ok`,
  );
}
