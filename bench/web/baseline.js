// The browser's own limit, for bench/run.mjs: the same create + exec + read and stdout
// streaming as bench.js, as a minimal hand-written gRPC-web client in plain JS (a protobuf
// writer/reader of the few fields needed, fetch, frame parsing). Bench-only code: no
// retries, no validation beyond what the measurement needs. The SDK is reported against it.

const te = new TextEncoder();
let cp, creds, appId, imageId;

// --- protobuf: the few wire types the calls use -------------------------------------------
class Writer {
  constructor() { this.bytes = []; }
  varint(n) {
    let v = BigInt(n);
    do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; this.bytes.push(b); } while (v);
    return this;
  }
  tag(field, wire) { return this.varint((field << 3) | wire); }
  uint(field, n) { return n ? this.tag(field, 0).varint(n) : this; }
  raw(field, u8) { this.tag(field, 2).varint(u8.length); for (const b of u8) this.bytes.push(b); return this; }
  str(field, s) { return s ? this.raw(field, te.encode(s)) : this; }
  msg(field, w) { return this.raw(field, w.finish()); }
  finish() { return Uint8Array.from(this.bytes); }
}

// field number -> [values] (varints as Numbers, length-delimited as Uint8Array)
function read(u8) {
  const out = {};
  let i = 0;
  const varint = () => { let r = 0, s = 0, b; do { b = u8[i++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return r; };
  while (i < u8.length) {
    const key = varint(), field = Math.floor(key / 8), wire = key & 7;
    let v;
    if (wire === 0) v = varint();
    else if (wire === 2) { const n = varint(); v = u8.subarray(i, i + n); i += n; }
    else if (wire === 1) { v = u8.subarray(i, i + 8); i += 8; }
    else if (wire === 5) { v = u8.subarray(i, i + 4); i += 4; }
    else throw new Error(`wire type ${wire}`);
    (out[field] ??= []).push(v);
  }
  return out;
}
const td = new TextDecoder();
const str = (m, f) => (m[f] ? td.decode(m[f][0]) : "");

// --- gRPC-web over fetch -----------------------------------------------------------------
function frame(body) {
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

// Calls `path` at `base`; hands each response message to onMessage as it arrives.
async function call(base, path, body, headers, onMessage) {
  const r = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers },
    body: frame(body),
  });
  let status = r.headers.get("grpc-status"), message = r.headers.get("grpc-message");
  const reader = r.body.getReader();
  // chunks kept until a whole frame is there, joined once (no copy per chunk)
  let parts = [], have = 0, need = 5;
  const take = () => { const b = parts.length === 1 ? parts[0] : concat(parts, have); parts = [b]; return b; };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    have += value.length;
    while (have >= need) {
      let buf = take();
      const n = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (have < 5 + n) { need = 5 + n; break; }
      const payload = buf.subarray(5, 5 + n);
      if (buf[0] & 0x80) {
        for (const line of td.decode(payload).split("\r\n")) {
          const [k, ...v] = line.split(":");
          if (k.trim() === "grpc-status") status = v.join(":").trim();
          if (k.trim() === "grpc-message") message = v.join(":").trim();
        }
      } else onMessage(payload);
      buf = buf.subarray(5 + n);
      parts = buf.length ? [buf] : [];
      have = buf.length;
      need = 5;
    }
  }
  if (status !== "0") throw new Error(`${path}: grpc-status ${status} ${decodeURIComponent(message ?? "")}`);
}
function concat(parts, n) { const o = new Uint8Array(n); let at = 0; for (const p of parts) { o.set(p, at); at += p.length; } return o; }
async function unary(base, path, body, headers) {
  let m = null;
  await call(base, path, body, headers, (p) => { m = read(p); });
  return m ?? {};
}

// --- the calls -----------------------------------------------------------------------------
const CP = "/modal.client.ModalClient/";
const TCR = "/modal.task_command_router.TaskCommandRouter/";

async function create() {
  const def = new Writer()
    .str(3, imageId)
    .msg(5, new Writer()) // resources: the defaults
    .uint(7, 300) // timeout_secs
    .msg(22, new Writer().uint(1, 1)); // network_access: OPEN
  const m = await unary(cp, CP + "SandboxCreateV2", new Writer().str(1, appId).msg(2, def).finish(), creds);
  const access = m[5] ? read(m[5][0]) : {};
  // as the SDK does: a localhost router is dialed in plaintext when the control plane is
  let url = str(access, 2);
  if (cp.startsWith("http://") && url.startsWith("https://") && new URL(url).hostname === new URL(cp).hostname) url = "http://" + url.slice(8);
  return { sandboxId: str(m, 1), taskId: str(m, 3), jwt: str(access, 1), url };
}

async function exec(sb, args) {
  const execId = crypto.randomUUID();
  const w = new Writer().str(1, sb.taskId).str(2, execId);
  for (const a of args) w.str(3, a);
  w.uint(4, 1).uint(5, 1); // stdout, stderr: PIPE
  await unary(sb.url, TCR + "TaskExecStart", w.finish(), { authorization: `Bearer ${sb.jwt}` });
  return execId;
}

// Stdout to EOF; each chunk's bytes to onData.
function readStdout(sb, execId, onData) {
  const req = new Writer().str(1, sb.taskId).str(2, execId).finish(); // offset 0, fd STDOUT
  return call(sb.url, TCR + "TaskExecStdioRead", req, { authorization: `Bearer ${sb.jwt}` }, (p) => {
    const m = read(p);
    if (m[1]) onData(m[1][0]);
  });
}

async function wait(sb, execId) {
  const m = await unary(sb.url, TCR + "TaskExecWait", new Writer().str(1, sb.taskId).str(2, execId).finish(), { authorization: `Bearer ${sb.jwt}` });
  return m[1] ? m[1][0] : 128 + (m[2] ? m[2][0] : -129);
}

const terminate = (sb) => unary(cp, CP + "SandboxTerminateV2", new Writer().str(1, sb.sandboxId).finish(), creds);

// --- what bench/run.mjs calls ------------------------------------------------------------------
async function setup({ endpoint, tokenId, tokenSecret, appId: a, imageId: i }) {
  if (!a || !i) throw new Error("baseline setup needs the app and image ids (from the native client's setup)");
  cp = endpoint;
  creds = { "x-modal-token-id": tokenId, "x-modal-token-secret": tokenSecret, "x-modal-client-type": "8", "x-modal-client-version": "1.0.0" };
  appId = a;
  imageId = i;
  return {};
}

async function latency() {
  const t0 = performance.now();
  const sb = await create();
  const t1 = performance.now();
  try {
    const execId = await exec(sb, ["echo", "hi"]);
    const t2 = performance.now();
    let out = "";
    await readStdout(sb, execId, (d) => { out += td.decode(d, { stream: true }); });
    const t3 = performance.now();
    const code = await wait(sb, execId);
    if (out !== "hi\n" || code !== 0) throw new Error(`echo hi: stdout ${JSON.stringify(out)}, exit ${code}`);
    return { ms: t3 - t0, phases: { create: t1 - t0, exec: t2 - t1, read: t3 - t2 } };
  } finally {
    await terminate(sb);
  }
}

async function throughput({ bytes }) {
  const sb = await create();
  try {
    const t0 = performance.now();
    const execId = await exec(sb, ["head", "-c", String(bytes), "/dev/zero"]);
    let n = 0;
    await readStdout(sb, execId, (d) => { n += d.byteLength; });
    const ms = performance.now() - t0;
    const code = await wait(sb, execId);
    if (n !== bytes || code !== 0) throw new Error(`read ${n} of ${bytes} bytes, exit ${code}`);
    return { bytes: n, ms };
  } finally {
    await terminate(sb);
  }
}

// exec `true` + TaskExecWait in one warm sandbox; warmup untimed, then count samples
async function execRtt({ count, warmup = 2 }) {
  const sb = await create();
  try {
    const samples = [];
    for (let i = 0; i < warmup + count; i++) {
      const t0 = performance.now();
      const execId = await exec(sb, ["true"]);
      const code = await wait(sb, execId);
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`true: exit ${code}`);
      if (i >= warmup) samples.push(ms);
    }
    return { samples };
  } finally {
    await terminate(sb);
  }
}

window.baseline = { setup, latency, throughput, execRtt };
