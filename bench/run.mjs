// Orchestrator of bench/run.sh: runs the four clients side by side against one sandboxd,
// interleaving their samples round by round (so that load from the rest of the machine
// hits them alike), and writes bench/reports/latest.md.
//
// Clients: the native Rust client (bench-native), the wasm SDK in headless Chromium
// (bench/web/ served by sandboxd, /pkg from the same origin), Modal's JS client 0.11.1 in
// Node, Modal's Python client 1.6.4. The first, third and fourth are child processes
// answering one JSON command a line; the browser is driven with page.evaluate().
//
// Environment: SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET (from
// scripts/sandboxd-start.sh), BENCH_NATIVE (path of bench-native), BENCH_PY (python with
// modal 1.6.4), BENCH_PKG (the npm package dir), BENCH_N, BENCH_WARMUP, BENCH_BYTES,
// BENCH_TP_RUNS, BENCH_BURST, BENCH_CLIENTS (comma list), BENCH_REPORT, BENCH_IMAGE.
import { spawn, execSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants as zc } from "node:zlib";
import { tmpdir, loadavg, cpus } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const URL_ = env.SANDBOXD_URL;
const TOKEN_ID = env.SANDBOXD_TOKEN_ID;
const TOKEN_SECRET = env.SANDBOXD_TOKEN_SECRET;
if (!URL_ || !TOKEN_ID || !TOKEN_SECRET) throw new Error("SANDBOXD_URL / SANDBOXD_TOKEN_ID / SANDBOXD_TOKEN_SECRET not set");
const N = +(env.BENCH_N || 20);
const WARMUP = +(env.BENCH_WARMUP || 2);
const BYTES = +(env.BENCH_BYTES || 100_000_000);
const TP_RUNS = +(env.BENCH_TP_RUNS || 5);
const BURST = +(env.BENCH_BURST || 50);
const IMAGE = env.BENCH_IMAGE || "debian:bookworm-slim";
const APP = env.BENCH_APP || "bench";
const PKG = env.BENCH_PKG || join(here, "..", "pkg");
const REPORT = env.BENCH_REPORT || join(here, "reports", "latest.md");
const CALL_TIMEOUT_MS = +(env.BENCH_CALL_TIMEOUT_MS || 180_000);
const ENABLED = new Set((env.BENCH_CLIENTS || "native,wasm,wasm-gateway,modal-js,modal-py").split(","));
const clientEnv = {
  ...env,
  MODAL_SERVER_URL: URL_,
  MODAL_TOKEN_ID: TOKEN_ID,
  MODAL_TOKEN_SECRET: TOKEN_SECRET,
  BENCH_APP: APP,
  BENCH_IMAGE: IMAGE,
};

const say = (s) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer in ${ms / 1000} s`)), ms).unref())]);

// A child process speaking the line protocol (bench/clients/lines.mjs).
class LineClient {
  constructor(name, label, cmd, args, extraEnv = {}) {
    this.name = name;
    this.label = label;
    this.proc = spawn(cmd, args, { env: { ...clientEnv, ...extraEnv }, stdio: ["pipe", "pipe", "pipe"] });
    this.waiting = [];
    this.stderrTail = "";
    this.exited = null;
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      let msg;
      try { msg = JSON.parse(line); } catch { return; } // stray library output
      if (typeof msg !== "object" || msg === null || !("ok" in msg)) return;
      const w = this.waiting.shift();
      if (w) w.resolve(msg);
    });
    this.proc.stderr.on("data", (d) => { this.stderrTail = (this.stderrTail + d).slice(-4000); });
    this.proc.on("exit", (code, sig) => {
      this.exited = `exited (${code ?? sig})`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`${name} ${this.exited}: ${this.stderrTail}`));
    });
    this.proc.on("error", (e) => { this.exited = String(e); });
  }
  async call(cmd) {
    if (this.exited) throw new Error(`${this.name} ${this.exited}: ${this.stderrTail}`);
    const p = new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.proc.stdin.write(JSON.stringify(cmd) + "\n");
    const r = await withTimeout(p, CALL_TIMEOUT_MS, `${this.name} ${cmd.op}`);
    if (!r.ok) throw new Error(r.error);
    return r;
  }
  async close() {
    if (this.exited) return;
    try { this.proc.stdin.write('{"op":"quit"}\n'); } catch {}
    await withTimeout(new Promise((r) => this.proc.on("exit", r)), 5000, "quit").catch(() => this.proc.kill());
  }
}

// The wasm SDK in a headless Chromium page served by sandboxd; `wasm-gateway` is the same
// page driving its sandboxes through `sandboxd gateway` with a scoped token.
class BrowserClient {
  constructor(name = "wasm", label = "modal-wasm (Chromium)", creds = null) {
    this.name = name;
    this.label = label;
    this.creds = creds;
  }
  async start() {
    this.browser = await chromium.launch({
      executablePath: env.CHROMIUM || "/usr/bin/chromium",
      args: ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
    this.page = await this.browser.newPage();
    this.consoleTail = [];
    this.page.on("console", (m) => { this.consoleTail = [...this.consoleTail, m.text()].slice(-20); });
    this.page.on("pageerror", (e) => { this.consoleTail = [...this.consoleTail, `pageerror: ${e}`].slice(-20); });
    await this.page.goto(`${URL_}/index.html`);
    await this.page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
    this.version = this.browser.version();
  }
  async call(cmd) {
    const r = await withTimeout(
      this.page.evaluate(async (c) => {
        try {
          return { ok: true, ...(await window.bench[c.op](c)) };
        } catch (e) {
          return { ok: false, error: `${e && e.name}: ${e && e.message}\n${e && e.stack}` };
        }
      }, cmd),
      CALL_TIMEOUT_MS, `wasm ${cmd.op}`);
    if (!r.ok) throw new Error(`${r.error}\nconsole: ${this.consoleTail.join("\n")}`);
    return r;
  }
  async close() { await this.browser?.close().catch(() => {}); }
}

// Statistics.
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = (s.length - 1) * q, lo = Math.floor(i), hi = Math.ceil(i);
  return s[lo] + (s[hi] - s[lo]) * (i - lo);
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;

// Sizes of the npm package: the wasm, and all JS it loads (as scripts/build-pkg.sh counts).
function sizes(dir) {
  const files = [];
  const walk = (d) => { for (const e of readdirSync(d)) { const p = join(d, e); statSync(p).isDirectory() ? walk(p) : files.push(p); } };
  walk(dir);
  const measure = (paths) => {
    const buf = Buffer.concat(paths.sort().map((p) => readFileSync(p)));
    // The gzip and brotli CLIs, as build-pkg.sh uses; Node's zlib if they are missing.
    const cli = (cmd, fallback) => { try { return execSync(cmd, { input: buf, maxBuffer: 1 << 28, stdio: ["pipe", "pipe", "ignore"] }).length; } catch { return fallback(); } };
    return {
      files: paths.map((p) => relative(dir, p)),
      raw: buf.length,
      gzip: cli("gzip -9 -c", () => gzipSync(buf, { level: 9 }).length),
      brotli: cli("brotli -c -q 11", () => brotliCompressSync(buf, { params: { [zc.BROTLI_PARAM_QUALITY]: 11, [zc.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length),
    };
  };
  const wasm = measure(files.filter((p) => p.endsWith(".wasm")));
  const js = measure(files.filter((p) => p.endsWith(".js")));
  return { wasm, js, total: { raw: wasm.raw + js.raw, gzip: wasm.gzip + js.gzip, brotli: wasm.brotli + js.brotli } };
}

// ---------------------------------------------------------------------------------------
const started = new Date();
const load0 = loadavg();
const errors = {}; // client name -> first error (makes the run fail)
const notes = {}; // missed-target details that are not client errors (the burst)
const unsupported = {}; // client name -> { phase: reason } for what a client cannot do
const markUnsupported = (c, phase, reason) => {
  say(`${c.name}: ${phase} not supported: ${reason}`);
  (unsupported[c.name] ??= {})[phase] = reason;
};
const can = (c, phase) => !errors[c.name] && !unsupported[c.name]?.setup && !unsupported[c.name]?.[phase];
const fail = (c, phase, e) => {
  const msg = `${phase}: ${String(e && e.message ? e.message : e).slice(0, 1500)}`;
  say(`${c.name} FAILED ${msg}`);
  errors[c.name] ??= msg;
};

say(`sandboxd at ${URL_}; N=${N} after ${WARMUP} warmups; ${BYTES} bytes x ${TP_RUNS}; burst ${BURST}`);
const size = sizes(PKG);
say(`package: wasm+JS gzip ${size.total.gzip} bytes`);
let modalJsSize = null;
try {
  const modalDir = join(here, "node_modules", "modal", "dist");
  const b = readFileSync(join(modalDir, "index.js"));
  modalJsSize = { raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
} catch {}

const clients = [];
if (ENABLED.has("native"))
  clients.push(new LineClient("native", "native Rust (tonic, HTTP/2)", env.BENCH_NATIVE || join(here, "..", "target", "release", "bench-native"), []));
if (ENABLED.has("wasm")) clients.push(new BrowserClient());
if (ENABLED.has("wasm-gateway") && env.BENCH_GATEWAY_URL)
  clients.push(new BrowserClient("wasm-gateway", "modal-wasm via the gateway (Chromium)", { endpoint: env.BENCH_GATEWAY_URL, token: env.BENCH_GATEWAY_TOKEN }));
if (ENABLED.has("modal-js"))
  clients.push(new LineClient("modal-js", "Modal JS 0.11.1 (Node)", process.execPath, [join(here, "clients", "modal-js.mjs")], { HOME: mkdtempSync(join(tmpdir(), "bench-home-")) }));
if (ENABLED.has("modal-py"))
  clients.push(new LineClient("modal-py", "Modal Python 1.6.4", env.BENCH_PY || "python3", [join(here, "clients", "modal_py.py")], { HOME: mkdtempSync(join(tmpdir(), "bench-home-")), PYTHONUNBUFFERED: "1" }));

const setupInfo = {};
for (const c of clients) {
  try {
    const t0 = performance.now();
    if (c.start) await c.start();
    const creds = c.creds ?? { endpoint: URL_, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET };
    const r = await c.call({ op: "setup", ...creds, appName: APP, imageTag: IMAGE });
    if (r.unsupported) { markUnsupported(c, "setup", r.unsupported); continue; }
    setupInfo[c.name] = { ms: performance.now() - t0, ...r };
    say(`${c.name}: ready in ${f1(performance.now() - t0)} ms`);
  } catch (e) { fail(c, "setup", e); }
}
const live = (phase) => clients.filter((c) => can(c, phase));

// Latency: round-robin, rotating the order each round.
const lat = Object.fromEntries(clients.map((c) => [c.name, []]));
const phases = {}; // client -> { create: [ms], exec: [ms], read: [ms] }
for (let round = 0; round < WARMUP + N; round++) {
  const order = live("latency");
  for (let k = 0; k < order.length; k++) {
    const c = order[(k + round) % order.length];
    if (!can(c, "latency")) continue;
    try {
      const r = await c.call({ op: "latency" });
      if (r.unsupported) markUnsupported(c, "latency", r.unsupported);
      else if (round >= WARMUP) {
        lat[c.name].push(r.ms);
        if (r.phases) for (const [k, v] of Object.entries(r.phases)) ((phases[c.name] ??= {})[k] ??= []).push(v);
      }
    } catch (e) { fail(c, `latency round ${round}`, e); }
  }
  if (round === WARMUP - 1 || (round + 1) % 5 === 0) say(`latency: round ${round + 1}/${WARMUP + N}`);
}

// Throughput: one warm-up read of 10 MB each, then TP_RUNS rounds.
const tp = Object.fromEntries(clients.map((c) => [c.name, []]));
for (const c of live("throughput")) {
  try {
    const r = await c.call({ op: "throughput", bytes: 10_000_000 });
    if (r.unsupported) markUnsupported(c, "throughput", r.unsupported);
  } catch (e) { fail(c, "throughput warm-up", e); }
}
for (let round = 0; round < TP_RUNS; round++) {
  const order = live("throughput");
  for (let k = 0; k < order.length; k++) {
    const c = order[(k + round) % order.length];
    if (!can(c, "throughput")) continue;
    try {
      const r = await c.call({ op: "throughput", bytes: BYTES });
      if (r.unsupported) { markUnsupported(c, "throughput", r.unsupported); continue; }
      tp[c.name].push(r.bytes / 1e6 / (r.ms / 1e3));
      say(`throughput: ${c.name} ${f1(r.bytes / 1e6 / (r.ms / 1e3))} MB/s`);
    } catch (e) { fail(c, `throughput round ${round}`, e); }
  }
}

// Burst, from the one page.
let burst = null;
const wasm = clients.find((c) => c.name === "wasm");
if (wasm && can(wasm, "burst")) {
  try {
    const r = await wasm.call({ op: "burst", count: BURST });
    if (r.unsupported) markUnsupported(wasm, "burst", r.unsupported);
    else {
      burst = r;
      say(`burst: ${burst.succeeded}/${burst.count} in ${f1(burst.wallMs)} ms`);
      // A sandbox of the burst failing misses the target; it is reported, not fatal.
      if (burst.succeeded !== burst.count) notes.burst = `${burst.count - burst.succeeded} of ${burst.count} failed: ${burst.errors.join("; ")}`;
    }
  } catch (e) { fail(wasm, "burst", e); }
}

for (const c of clients) await c.close();
const load1 = loadavg();

// ---------------------------------------------------------------------------------------
// The report.
const p50 = (n) => quantile(lat[n] || [], 0.5);
const tpMed = (n) => quantile(tp[n] || [], 0.5);
// Why a client has no number for a phase.
const why = (n, phase) => {
  const u = unsupported[n]?.setup ?? unsupported[n]?.[phase];
  if (u) return `not supported: ${u}`;
  if (errors[n]) return "error (see Errors)";
  return "not run";
};
const verdict = (ok) => (ok === null ? "n/a" : ok ? "**met**" : "**missed**");

let gitRev = "";
try { gitRev = execSync("git rev-parse --short HEAD", { cwd: here }).toString().trim(); } catch {}
let dirty = "";
try { dirty = execSync("git status --porcelain -- src proto sandboxd Cargo.toml", { cwd: join(here, "..") }).toString().trim() ? " (working tree with uncommitted changes)" : ""; } catch {}

const L = [];
L.push(`# modal-wasm bench: ${started.toISOString().replace("T", " ").slice(0, 19)} UTC`);
L.push("");
L.push(`Commit \`${gitRev}\`${dirty}. One release sandboxd (\`${URL_}\`), all clients against it in one run, samples interleaved round by round.`);
L.push(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, load average ${load0.map(f2).join(" ")} at start, ${load1.map(f2).join(" ")} at end (shared with other work: treat single numbers with care).`);
L.push(`Chromium ${wasm?.version ?? "not run"}; Node ${process.version}; image \`${IMAGE}\`.`);
L.push("");

L.push("## Targets (bench/README.md)");
L.push("");
L.push("| target | measured | goal | verdict |");
L.push("|---|---|---|---|");
const latRatio = p50("wasm") / p50("native");
L.push(`| latency: wasm p50 / native p50 | ${f2(latRatio)} (${f1(p50("wasm"))} / ${f1(p50("native"))} ms) | ≤ 1.25 | ${verdict(Number.isFinite(latRatio) ? latRatio <= 1.25 : null)} |`);
const gwRatio = p50("wasm-gateway") / p50("wasm");
L.push(`| latency: through the gateway p50 / direct p50 (wasm) | ${f2(gwRatio)} (${f1(p50("wasm-gateway"))} / ${f1(p50("wasm"))} ms) | ≤ 1.15 | ${verdict(Number.isFinite(gwRatio) ? gwRatio <= 1.15 : null)} |`);
const jsRatio = p50("wasm") / p50("modal-js");
L.push(`| latency: wasm p50 / Modal JS p50 | ${f2(jsRatio)} (${f1(p50("wasm"))} / ${f1(p50("modal-js"))} ms) | ≤ 1.00 | ${verdict(Number.isFinite(jsRatio) ? jsRatio <= 1 : null)} |`);
const tpRatio = tpMed("wasm") / tpMed("native");
L.push(`| throughput: wasm / native (${BYTES / 1e6} MB stdout) | ${f2(tpRatio)} (${f1(tpMed("wasm"))} / ${f1(tpMed("native"))} MB/s) | ≥ 0.7 | ${verdict(Number.isFinite(tpRatio) ? tpRatio >= 0.7 : null)} |`);
L.push(`| burst: ${BURST} sandboxes at once from one page | ${burst ? `${burst.succeeded}/${burst.count} succeeded, ${f1(burst.wallMs)} ms` : "not run / error"} | all succeed | ${verdict(burst ? burst.succeeded === burst.count : null)} |`);
L.push(`| size: wasm + JS glue, gzip | ${kb(size.total.gzip)} (${size.total.gzip} B) | ≤ 100 KB | ${verdict(size.total.gzip <= 102400)} |`);
L.push("");

L.push(`## Latency: create + exec \`echo hi\` + read its stdout to EOF`);
L.push("");
L.push(`N=${N} per client after ${WARMUP} warm-ups. The app and image handle are resolved once before; exit-code wait and terminate happen after the clock stops. Milliseconds.`);
L.push("");
L.push("| client | n | p50 | p95 | min | mean | max | p50 / native |");
L.push("|---|---|---|---|---|---|---|---|");
for (const c of clients) {
  const xs = lat[c.name];
  const ok = xs.length > 0;
  L.push(`| ${c.label} | ${xs.length} | ${ok ? f1(quantile(xs, 0.5)) : why(c.name, "latency")} | ${ok ? f1(quantile(xs, 0.95)) : "-"} | ${ok ? f1(Math.min(...xs)) : "-"} | ${ok ? f1(mean(xs)) : "-"} | ${ok ? f1(Math.max(...xs)) : "-"} | ${ok ? f2(quantile(xs, 0.5) / p50("native")) : "-"} |`);
}
L.push("");

L.push("Where the time goes (p50 of each step, ms): `create` = sandboxes.create() (SandboxCreateV2), `exec` = exec() returning (TaskExecStart), `read` = reading stdout to EOF (TaskExecStdioRead).");
L.push("");
L.push("| client | create | exec | read |");
L.push("|---|---|---|---|");
for (const c of clients) {
  const ph = phases[c.name];
  if (ph) L.push(`| ${c.label} | ${f1(quantile(ph.create, 0.5))} | ${f1(quantile(ph.exec, 0.5))} | ${f1(quantile(ph.read, 0.5))} |`);
}
L.push("");

L.push(`## Throughput: stdout of \`head -c ${BYTES} /dev/zero\` through the stream API`);
L.push("");
L.push(`Binary mode where the client has one; MB = 10^6 bytes; clock from exec start to EOF; ${TP_RUNS} runs each after a 10 MB warm-up, median reported.`);
L.push("");
L.push("| client | stream API | runs | median MB/s | best MB/s | median / native |");
L.push("|---|---|---|---|---|---|");
const api = {
  native: "tonic `Streaming<TaskExecStdioReadResponse>`",
  wasm: "`p.stdout` ReadableStream (`mode: \"binary\"`), `getReader()`",
  "modal-js": "`p.stdout` ReadableStream (`mode: \"binary\"`), `getReader()`",
  "modal-py": "`for chunk in p.stdout` (`text=False`)",
};
for (const c of clients) {
  const xs = tp[c.name];
  const ok = xs.length > 0;
  L.push(`| ${c.label} | ${api[c.name]} | ${xs.length} | ${ok ? f1(tpMed(c.name)) : why(c.name, "throughput")} | ${ok ? f1(Math.max(...xs)) : "-"} | ${ok ? f2(tpMed(c.name) / tpMed("native")) : "-"} |`);
}
L.push("");

L.push(`## Burst: ${BURST} sandboxes created and exec'd at once from one Chromium page`);
L.push("");
if (burst) {
  const ms = burst.perSandboxMs;
  L.push(`${burst.succeeded} of ${burst.count} succeeded; wall time ${f1(burst.wallMs)} ms (until the last output and exit code; terminates not counted). Per sandbox: p50 ${f1(quantile(ms, 0.5))} ms, p95 ${f1(quantile(ms, 0.95))} ms, max ${f1(Math.max(...ms))} ms.`);
  if (burst.errors.length) L.push(`\nErrors: ${burst.errors.map((e) => `\`${e}\``).join(", ")}`);
} else {
  L.push(wasm ? `No result: ${why("wasm", "burst")}.` : "Not run (the wasm client is not enabled).");
}
L.push("");

L.push("## Size of the npm package (pkg/)");
L.push("");
L.push("| part | files | raw | gzip -9 | brotli q11 |");
L.push("|---|---|---|---|---|");
L.push(`| wasm | ${size.wasm.files.length} | ${size.wasm.raw} | ${size.wasm.gzip} | ${size.wasm.brotli} |`);
L.push(`| JS glue | ${size.js.files.length} | ${size.js.raw} | ${size.js.gzip} | ${size.js.brotli} |`);
L.push(`| total | | ${size.total.raw} (${kb(size.total.raw)}) | ${size.total.gzip} (${kb(size.total.gzip)}) | ${size.total.brotli} (${kb(size.total.brotli)}) |`);
L.push("");
L.push(`Target: 100 KB gzip → ${f2(size.total.gzip / 102400)}× the target. Each part compressed as one stream (the JS files concatenated), as scripts/build-pkg.sh counts them.`);
if (modalJsSize) L.push(`For reference, Modal's JS client 0.11.1 \`dist/index.js\` alone (without its 6 runtime dependencies): ${kb(modalJsSize.raw)} raw, ${kb(modalJsSize.gzip)} gzip.`);
if (setupInfo.wasm?.loadMs !== undefined) L.push(`Loading the package in the page (import + fetch + instantiate, local server): ${f1(setupInfo.wasm.loadMs)} ms.`);
L.push("");

L.push("## Errors and unsupported operations");
L.push("");
const oneLine = (v) => `\`${v.replace(/`/g, "'").replace(/\n/g, " ⏎ ").slice(0, 800)}\``;
if (!Object.keys(errors).length && !Object.keys(unsupported).length && !Object.keys(notes).length)
  L.push("None: every client completed every phase.");
for (const [k, v] of Object.entries(errors)) L.push(`- **${k}** (error, fails the run): ${oneLine(v)}`);
for (const [k, v] of Object.entries(unsupported)) for (const [phase, r] of Object.entries(v)) L.push(`- **${k}** cannot do ${phase}: ${oneLine(r)}`);
for (const [k, v] of Object.entries(notes)) L.push(`- **${k}** (missed target, not fatal): ${oneLine(v)}`);
L.push("");

const md = L.join("\n");
mkdirSync(dirname(REPORT), { recursive: true });
writeFileSync(REPORT, md);
writeFileSync(REPORT.replace(/\.md$/, ".json"), JSON.stringify({ started, url: URL_, N, WARMUP, BYTES, TP_RUNS, lat, phases, tp, burst, size, setupInfo, errors, unsupported, notes, load0, load1 }, null, 2));
process.stdout.write(md + "\n");
process.exit(Object.keys(errors).length ? 1 : 0);
