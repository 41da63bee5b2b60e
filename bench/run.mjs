// Orchestrator of bench/run.sh: runs the clients side by side against one sandboxd,
// interleaving their samples round by round (so that load from the rest of the machine
// hits them alike), and writes bench/reports/latest.{md,json,png}.
//
// Clients: the native Rust client (bench-native); the wasm SDK in a Chromium page, in a
// dedicated Web Worker of that page, in Node, in Deno and in workerd (one module,
// web/sdk-bench.mjs, in all of them); a plain-JS gRPC-web baseline in the page; the SDK
// through the gateway; Modal's JS client 0.11.1 in Node; Modal's Python client 1.6.4.
// Child processes answer one JSON command a line; pages are driven with page.evaluate();
// workerd takes one command per HTTP request. Besides: the burst over HTTP/1.1 and over
// h2 (a second sandboxd serving TLS) and the playground's page load to first output.
//
// Environment: SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET (from
// scripts/sandboxd-start.sh), BENCH_NATIVE (path of bench-native), BENCH_PY (python with
// modal 1.6.4), BENCH_PKG (the npm package dir), BENCH_TLS_URL/_TOKEN_ID/_TOKEN_SECRET/
// _SPKI (the TLS sandboxd), BENCH_PLAYGROUND_URL, and the knobs of bench/README.md.
import { spawn, execSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync, brotliCompressSync, constants as zc } from "node:zlib";
import { tmpdir, loadavg, cpus } from "node:os";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { writeChart } from "./chart.mjs";

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
const BURST = +(env.BENCH_BURST || 200);
const STDIN_BYTES = +(env.BENCH_STDIN_BYTES || 20_000_000);
const LOADS = +(env.BENCH_LOADS || 20);
const PLAYGROUND_LANG = env.BENCH_PLAYGROUND_LANG || "bash";
const TLS = env.BENCH_TLS_URL ? { url: env.BENCH_TLS_URL, tokenId: env.BENCH_TLS_TOKEN_ID, tokenSecret: env.BENCH_TLS_TOKEN_SECRET, spki: env.BENCH_TLS_SPKI } : null;
const CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync"];
const IMAGE = env.BENCH_IMAGE || "debian:bookworm-slim";
const APP = env.BENCH_APP || "bench";
const PKG = env.BENCH_PKG || join(here, "..", "pkg");
const REPORT = env.BENCH_REPORT || join(here, "reports", "latest.md");
const CALL_TIMEOUT_MS = +(env.BENCH_CALL_TIMEOUT_MS || 180_000);
const ALL_CLIENTS = "native,wasm,wasm-worker,wasm-node,wasm-deno,wasm-workerd,plain-js,plain-js-node,wasm-gateway,wasm-h2,modal-js,modal-py,playground";
const ENABLED = new Set((env.BENCH_CLIENTS || ALL_CLIENTS).split(","));
// What each client is asked to do (the phases it has code for).
const PHASES = ["latency", "throughput", "execRtt", "stdin"];
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
  constructor(name, label, cmd, args, extraEnv = {}, phases = PHASES) {
    this.name = name;
    this.label = label;
    this.phases = new Set(phases);
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

// The wasm SDK in a headless Chromium page served by sandboxd (`api` "bench"), or in a
// dedicated Web Worker of that page ("benchWorker"); `wasm-gateway` is the page driving its
// sandboxes through `sandboxd gateway` with a scoped token; `plain-js` is the page's
// hand-written gRPC-web baseline (web/baseline.js, "baseline"); `wasm-h2` is the page
// served over TLS (h2 by ALPN) with the test CA trusted by its public key.
class BrowserClient {
  constructor(name, label, { creds = null, api = "bench", base = URL_, args = [], phases = PHASES } = {}) {
    this.name = name;
    this.label = label;
    this.creds = creds;
    this.api = api;
    this.base = base;
    this.args = args;
    this.phases = new Set(phases);
  }
  async start() {
    this.browser = await chromium.launch({ executablePath: env.CHROMIUM || "/usr/bin/chromium", args: [...CHROMIUM_ARGS, ...this.args] });
    this.page = await this.browser.newPage();
    this.consoleTail = [];
    this.page.on("console", (m) => { this.consoleTail = [...this.consoleTail, m.text()].slice(-20); });
    this.page.on("pageerror", (e) => { this.consoleTail = [...this.consoleTail, `pageerror: ${e}`].slice(-20); });
    await this.page.goto(`${this.base}/index.html`);
    await this.page.waitForFunction((api) => window.benchReady === true && !!window[api], this.api, { timeout: 30_000 });
    this.version = this.browser.version();
  }
  async call(cmd) {
    const r = await withTimeout(
      this.page.evaluate(async ([api, c]) => {
        try {
          return { ok: true, ...(await window[api][c.op](c)) };
        } catch (e) {
          return { ok: false, error: `${e && e.name}: ${e && e.message}\n${e && e.stack}` };
        }
      }, [this.api, cmd]),
      CALL_TIMEOUT_MS, `${this.name} ${cmd.op}`);
    if (!r.ok) throw new Error(`${r.error}\nconsole: ${this.consoleTail.join("\n")}`);
    return r;
  }
  async close() { await this.browser?.close().catch(() => {}); }
}

// The wasm SDK in workerd: one command per HTTP request to a local workerd
// (clients/workerd.mjs starts it; clients/workerd-worker.mjs answers).
class WorkerdClient {
  constructor(name, label) {
    this.name = name;
    this.label = label;
    this.phases = new Set(PHASES);
  }
  async start() {
    const { startWorkerd } = await import("./clients/workerd.mjs");
    this.workerd = await startWorkerd({ here, pkg: PKG });
  }
  async call(cmd) {
    const r = await withTimeout(
      fetch(this.workerd.url, { method: "POST", body: JSON.stringify(cmd) }).then(async (res) => {
        const text = await res.text();
        try { return JSON.parse(text); } catch { return { ok: false, error: `HTTP ${res.status}: ${text.slice(0, 500)}` }; }
      }),
      CALL_TIMEOUT_MS, `${this.name} ${cmd.op}`);
    if (!r.ok) throw new Error(`${r.error}\nworkerd: ${this.workerd.log().slice(-1500)}`);
    return r;
  }
  async close() { this.workerd?.stop(); }
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
const can = (c, phase) => !errors[c.name] && !unsupported[c.name]?.setup && !unsupported[c.name]?.[phase] && (!PHASES.includes(phase) || c.phases.has(phase));
const fail = (c, phase, e) => {
  const msg = `${phase}: ${String(e && e.message ? e.message : e).slice(0, 1500)}`;
  say(`${c.name} FAILED ${msg}`);
  errors[c.name] ??= msg;
};

say(`sandboxd at ${URL_}; N=${N} after ${WARMUP} warmups; ${BYTES} bytes x ${TP_RUNS}; stdin ${STDIN_BYTES} bytes; burst ${BURST}; ${LOADS} page loads`);
const size = sizes(PKG);
say(`package: wasm+JS gzip ${size.total.gzip} bytes`);
let modalJsSize = null;
try {
  const modalDir = join(here, "node_modules", "modal", "dist");
  const b = readFileSync(join(modalDir, "index.js"));
  modalJsSize = { raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
} catch {}

const clients = [];
const bin = (name) => join(here, "node_modules", ".bin", name);
if (ENABLED.has("native"))
  clients.push(new LineClient("native", "native Rust (tonic, HTTP/2)", env.BENCH_NATIVE || join(here, "..", "target", "release", "bench-native"), []));
if (ENABLED.has("wasm")) clients.push(new BrowserClient("wasm", "modal-wasm (Chromium page)"));
if (ENABLED.has("wasm-worker")) clients.push(new BrowserClient("wasm-worker", "modal-wasm (Chromium, dedicated Web Worker)", { api: "benchWorker" }));
if (ENABLED.has("wasm-node"))
  clients.push(new LineClient("wasm-node", `modal-wasm (Node ${process.version})`, process.execPath, [join(here, "clients", "sdk-lines.mjs")], { BENCH_PKG: PKG }));
if (ENABLED.has("wasm-deno"))
  clients.push(new LineClient("wasm-deno", "modal-wasm (Deno)", bin("deno"), ["run", "--quiet", "--allow-net", "--allow-read", "--allow-env", join(here, "clients", "sdk-lines.mjs")], { BENCH_PKG: PKG, NO_COLOR: "1" }));
if (ENABLED.has("wasm-workerd")) clients.push(new WorkerdClient("wasm-workerd", "modal-wasm (workerd)"));
// needs the app and image ids the native client's setup reports
if (ENABLED.has("plain-js") && ENABLED.has("native"))
  clients.push(new BrowserClient("plain-js", "plain JS gRPC-web (Chromium, bench-only baseline)", { api: "baseline", phases: ["latency", "throughput", "execRtt"] }));
// the same code in Node: Node's fetch, what the SDK in Node is held against
if (ENABLED.has("plain-js-node") && ENABLED.has("native"))
  clients.push(new LineClient("plain-js-node", `plain JS gRPC-web (Node ${process.version} fetch, bench-only baseline)`, process.execPath, [join(here, "clients", "baseline-lines.mjs")], {}, ["latency", "throughput", "execRtt"]));
if (ENABLED.has("wasm-gateway") && env.BENCH_GATEWAY_URL)
  clients.push(new BrowserClient("wasm-gateway", "modal-wasm via the gateway (Chromium)", { creds: { endpoint: env.BENCH_GATEWAY_URL, token: env.BENCH_GATEWAY_TOKEN }, phases: ["latency", "throughput"] }));
// only the burst, from a page served over TLS: the test CA trusted by its public key hash
// (--ignore-certificate-errors-spki-list, which keeps h2; not ignoreHTTPSErrors)
if (ENABLED.has("wasm-h2") && TLS)
  clients.push(new BrowserClient("wasm-h2", "modal-wasm (Chromium page over TLS, h2)", {
    creds: { endpoint: TLS.url, tokenId: TLS.tokenId, tokenSecret: TLS.tokenSecret }, base: TLS.url,
    args: [`--ignore-certificate-errors-spki-list=${TLS.spki}`], phases: [],
  }));
if (ENABLED.has("modal-js"))
  clients.push(new LineClient("modal-js", "Modal JS 0.11.1 (Node)", process.execPath, [join(here, "clients", "modal-js.mjs")], { HOME: mkdtempSync(join(tmpdir(), "bench-home-")) }));
if (ENABLED.has("modal-py"))
  clients.push(new LineClient("modal-py", "Modal Python 1.6.4", env.BENCH_PY || "python3", [join(here, "clients", "modal_py.py")], { HOME: mkdtempSync(join(tmpdir(), "bench-home-")), PYTHONUNBUFFERED: "1" }, ["latency", "throughput", "execRtt"]));

const setupInfo = {};
for (const c of clients) {
  try {
    const t0 = performance.now();
    if (c.start) await c.start();
    const creds = c.creds ?? { endpoint: URL_, tokenId: TOKEN_ID, tokenSecret: TOKEN_SECRET };
    const ids = { appId: setupInfo.native?.appId, imageId: setupInfo.native?.imageId };
    const r = await c.call({ op: "setup", ...creds, appName: APP, imageTag: IMAGE, ...ids });
    if (r.unsupported) { markUnsupported(c, "setup", r.unsupported); continue; }
    setupInfo[c.name] = { ms: performance.now() - t0, ...r };
    say(`${c.name}: ready in ${f1(performance.now() - t0)} ms`);
  } catch (e) { fail(c, "setup", e); }
}
const live = (phase) => clients.filter((c) => can(c, phase));

// `rounds` rounds of one `phase` call per client, the order rotated each round so that no
// client has the machine to itself. `request(round)` is the command, `keep(c, reply, round)`
// takes a reply; an unsupported phase or a failure takes the client out of it. `afterRound`
// runs once a round is done; `unit` names a round in failures ("round", "block").
async function interleaved(phase, rounds, { request, keep, afterRound = () => {}, unit = "round" }) {
  for (let round = 0; round < rounds; round++) {
    const order = live(phase);
    for (let k = 0; k < order.length; k++) {
      const c = order[(k + round) % order.length];
      if (!can(c, phase)) continue;
      try {
        const r = await c.call(request(round));
        if (r.unsupported) markUnsupported(c, phase, r.unsupported);
        else keep(c, r, round);
      } catch (e) { fail(c, `${phase} ${unit} ${round}`, e); }
    }
    afterRound(round);
  }
}

// Latency: round-robin, rotating the order each round.
const lat = Object.fromEntries(clients.map((c) => [c.name, []]));
const phases = {}; // client -> { create: [ms], exec: [ms], read: [ms] }
await interleaved("latency", WARMUP + N, {
  request: () => ({ op: "latency" }),
  keep: (c, r, round) => {
    if (round < WARMUP) return;
    lat[c.name].push(r.ms);
    if (r.phases) for (const [k, v] of Object.entries(r.phases)) ((phases[c.name] ??= {})[k] ??= []).push(v);
  },
  afterRound: (round) => {
    if (round === WARMUP - 1 || (round + 1) % 5 === 0) say(`latency: round ${round + 1}/${WARMUP + N}`);
  },
});

// Throughput: one warm-up read of 10 MB each, then TP_RUNS rounds.
const tp = Object.fromEntries(clients.map((c) => [c.name, []]));
for (const c of live("throughput")) {
  try {
    const r = await c.call({ op: "throughput", bytes: 10_000_000 });
    if (r.unsupported) markUnsupported(c, "throughput", r.unsupported);
  } catch (e) { fail(c, "throughput warm-up", e); }
}
const mbps = (r) => r.bytes / 1e6 / (r.ms / 1e3);
await interleaved("throughput", TP_RUNS, {
  request: () => ({ op: "throughput", bytes: BYTES }),
  keep: (c, r) => {
    tp[c.name].push(mbps(r));
    say(`throughput: ${c.name} ${f1(mbps(r))} MB/s`);
  },
});

// Exec round trip in a warm sandbox: one call answers a block of samples in its own sandbox
// (in workerd one request holds the sandbox's life); four blocks per client, interleaved
// round by round in rotating order, so that no client has the machine to itself.
const rtt = Object.fromEntries(clients.map((c) => [c.name, []]));
const RTT_BLOCKS = 4;
await interleaved("execRtt", RTT_BLOCKS, {
  request: () => ({ op: "execRtt", count: Math.ceil(N / RTT_BLOCKS), warmup: WARMUP }),
  keep: (c, r) => rtt[c.name].push(...r.samples),
  unit: "block",
});
for (const c of live("execRtt")) say(`exec round trip: ${c.name} p50 ${f1(quantile(rtt[c.name], 0.5))} ms`);

// Stdin throughput: TP_RUNS rounds, interleaved.
const stdinTp = Object.fromEntries(clients.map((c) => [c.name, []]));
await interleaved("stdin", TP_RUNS, {
  request: () => ({ op: "stdin", bytes: STDIN_BYTES }),
  keep: (c, r) => {
    stdinTp[c.name].push(mbps(r));
    say(`stdin: ${c.name} ${f1(mbps(r))} MB/s`);
  },
});

// The playground: navigation start to its first stdout byte on screen, over cold loads
// (a new browser context each: no cache, no cookies). The page makes its sandbox on load;
// as soon as the sandbox is ready the hook below presses Run (the starter program of
// PLAYGROUND_LANG), and the first terminal write after the run's own header line, once
// parsed and painted (the next animation frame), is the first output.
let firstOutput = null;
if (ENABLED.has("playground") && env.BENCH_PLAYGROUND_URL) {
  const fo = { name: "playground" };
  let browser;
  try {
    browser = await chromium.launch({ executablePath: env.CHROMIUM || "/usr/bin/chromium", args: CHROMIUM_ARGS });
    const samples = [], ready = [], wasmLoaded = [], workerStarted = [], created = [], texts = new Set();
    for (let i = 0; i < LOADS + 1; i++) {
      const ctx = await browser.newContext();
      try {
        await ctx.addInitScript(() => {
          const hook = () => {
            const pg = window.playground, st = document.getElementById("sandbox-status");
            if (!pg || !st) return setTimeout(hook, 1);
            const go = () => {
              if (st.dataset.state !== "ready" || window.__benchArmed) return;
              window.__benchReadyMs = performance.now();
              const write = pg.term.write.bind(pg.term);
              pg.term.write = (data, cb) => {
                if (window.__benchArmed && !window.__benchFirst) {
                  window.__benchFirst = { text: String(data).slice(0, 40), readyMs: window.__benchReadyMs,
                    moduleMs: performance.getEntriesByType("resource").find((e) => e.name.endsWith(".wasm"))?.responseEnd };
                  return write(data, () => {
                    requestAnimationFrame(() => { window.__benchFirst.ms = performance.now(); });
                    cb?.();
                  });
                }
                return write(data, cb);
              };
              pg.runCode(); // writes its header line synchronously, before its first await
              window.__benchArmed = true;
            };
            new MutationObserver(go).observe(st, { attributes: true });
            go();
          };
          hook();
        });
        const page = await ctx.newPage();
        let worker = null; // the SDK's dedicated worker: it fetches the wasm and makes the calls
        page.on("worker", (w) => (worker ??= w));
        await page.goto(`${env.BENCH_PLAYGROUND_URL}/?lang=${PLAYGROUND_LANG}`);
        const r = await page.waitForFunction(() => window.__benchFirst?.ms && window.__benchFirst, null, { timeout: 60_000 }).then((h) => h.jsonValue());
        // the worker's own clock and resource timings, moved onto the page's
        const w = worker && (await worker.evaluate(() => ({ origin: performance.timeOrigin,
          wasm: performance.getEntriesByType("resource").find((e) => e.name.endsWith(".wasm"))?.responseEnd,
          created: performance.getEntriesByType("resource").find((e) => e.name.endsWith("/SandboxCreateV2"))?.responseEnd })).catch(() => null));
        const pageOrigin = await page.evaluate(() => performance.timeOrigin);
        if (i > 0) { // the first load warms the server's caches
          samples.push(r.ms);
          ready.push(r.readyMs);
          const off = w ? w.origin - pageOrigin : 0;
          if (w) workerStarted.push(off);
          const wasmMs = r.moduleMs ?? (w?.wasm != null ? w.wasm + off : null);
          if (wasmMs != null) wasmLoaded.push(wasmMs);
          if (w?.created != null) created.push(w.created + off);
        }
        texts.add(JSON.stringify(r.text));
      } finally {
        // end the page's sandbox before the context goes (the unload beacon may not make it)
        for (const page of ctx.pages()) await page.evaluate(() => window.playground?.state?.session?.terminate()).catch(() => {});
        await ctx.close();
      }
    }
    firstOutput = { samples, ready, wasmLoaded, workerStarted, created, firstWrites: [...texts].slice(0, 3) };
    say(`playground: first output p50 ${f1(quantile(samples, 0.5))} ms`);
  } catch (e) { fail(fo, "playground first output", e); }
  await browser?.close().catch(() => {});
}

// Bursts, from one page: over HTTP/1.1 (the plain sandboxd) and over h2 (the TLS one).
// Last: 400 sandboxes end with it, and their teardown (unmounts, loop devices) loads the
// machine for a while after (the playground's loads, measured after it, ran 100-140 ms
// slower at p50 than on the quiet machine).
const bursts = {};
const wasm = clients.find((c) => c.name === "wasm");
for (const [key, c] of [["h1", wasm], ["h2", clients.find((x) => x.name === "wasm-h2")]]) {
  if (!c || !can(c, "burst")) continue;
  try {
    const r = await c.call({ op: "burst", count: BURST });
    if (r.unsupported) { markUnsupported(c, "burst", r.unsupported); continue; }
    // the protocol the page's calls to the server really used
    const origin = new URL(c.base).origin;
    // (entries of calls still streaming when they were read have no protocol yet)
    r.protocols = await c.page.evaluate((o) => [...new Set(performance.getEntriesByType("resource")
      .filter((e) => e.name.startsWith(o) && e.nextHopProtocol).map((e) => e.nextHopProtocol))], origin);
    bursts[key] = r;
    say(`burst (${key}): ${r.succeeded}/${r.count} in ${f1(r.wallMs)} ms over ${r.protocols.join(", ")}`);
    // A sandbox of the burst failing misses the target; it is reported, not fatal.
    if (r.succeeded !== r.count) notes[`burst ${key}`] = `${r.count - r.succeeded} of ${r.count} failed: ${r.errors.join("; ")}`;
    if (key === "h2" && !(r.protocols.length === 1 && r.protocols[0] === "h2"))
      fail(c, "burst", `the page's calls did not all use h2: ${r.protocols.join(", ")}`);
  } catch (e) { fail(c, `burst ${key}`, e); }
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

// The targets (bench/README.md), as data: the Markdown table and the chart are made from it.
// dir "le": measured ≤ goal is met; "ge": measured ≥ goal.
const targets = [];
const ratioTarget = (what, num, den, unit, goal, dir, fmt = f1) => {
  const value = num / den;
  targets.push({ what, value, goal, dir, detail: `${fmt(num)} / ${fmt(den)} ${unit}`,
    ok: Number.isFinite(value) ? (dir === "le" ? value <= goal : value >= goal) : null });
};
const runtimes = [["wasm", "page"], ["wasm-worker", "Web Worker"], ["wasm-node", "Node"], ["wasm-deno", "Deno"], ["wasm-workerd", "workerd"]];
for (const [n, where] of runtimes) if (lat[n]?.length || n === "wasm") ratioTarget(`latency p50: wasm (${where}) / native`, p50(n), p50("native"), "ms", 1.25, "le");
ratioTarget("latency p50: wasm (page) / Modal JS in Node", p50("wasm"), p50("modal-js"), "ms", 1.0, "le");
ratioTarget("latency p50: wasm (page) / plain-JS baseline", p50("wasm"), p50("plain-js"), "ms", 1.1, "le");
if (lat["wasm-gateway"]?.length) ratioTarget("latency p50: through the gateway / direct (page)", p50("wasm-gateway"), p50("wasm"), "ms", 1.15, "le");
for (const [n, where] of runtimes) if (tp[n]?.length || n === "wasm") ratioTarget(`stdout throughput: wasm (${where}) / native`, tpMed(n), tpMed("native"), "MB/s", 0.7, "ge");
ratioTarget("stdout throughput: wasm (page) / plain-JS baseline", tpMed("wasm"), tpMed("plain-js"), "MB/s", 1 / 1.1, "ge");
// Node's own limit, as the page's is (the issue's 1.1x asks it of the browser; held to it here too)
if (tp["plain-js-node"]?.length) {
  ratioTarget("latency p50: wasm (Node) / plain-JS baseline in Node", p50("wasm-node"), p50("plain-js-node"), "ms", 1.1, "le");
  ratioTarget("stdout throughput: wasm (Node) / plain-JS baseline in Node", tpMed("wasm-node"), tpMed("plain-js-node"), "MB/s", 1 / 1.1, "ge");
}
const fo50 = firstOutput ? quantile(firstOutput.samples, 0.5) : NaN;
targets.push({ what: `playground: page load to first output, p50 of ${LOADS} cold loads`, value: fo50, goal: 300, dir: "le", unit: "ms",
  detail: firstOutput ? `${f1(fo50)} ms` : `not run / error`, ok: firstOutput ? fo50 <= 300 : null });
for (const [key, how] of [["h2", "h2 (TLS)"], ["h1", "HTTP/1.1"]]) {
  const b = bursts[key];
  targets.push({ what: `burst: ${BURST} sandboxes at once from one page, ${how}`, detail: b ? `${b.succeeded}/${b.count} succeeded, ${f1(b.wallMs)} ms` : "not run / error",
    ok: b ? b.succeeded === b.count : null, goalText: "all succeed" });
}
targets.push({ what: "size: wasm + JS glue, gzip", value: size.total.gzip / 1024, goal: 100, dir: "le", detail: `${kb(size.total.gzip)} (${size.total.gzip} B)`, ok: size.total.gzip <= 102400, unit: "KB" });

L.push("## Targets (bench/README.md)");
L.push("");
L.push("| target | measured | goal | verdict |");
L.push("|---|---|---|---|");
for (const t of targets) {
  const goal = t.goalText ?? `${t.dir === "le" ? "≤" : "≥"} ${f2(t.goal)}${t.unit ? ` ${t.unit}` : ""}`;
  const measured = t.unit || t.value === undefined ? t.detail : `${f2(t.value)} (${t.detail})`;
  L.push(`| ${t.what} | ${measured} | ${goal} | ${verdict(t.ok)} |`);
}
L.push("");

const statsRow = (label, xs, why, ratioTo) => {
  const ok = xs.length > 0;
  return `| ${label} | ${xs.length} | ${ok ? f1(quantile(xs, 0.5)) : why} | ${ok ? f1(quantile(xs, 0.95)) : "-"} | ${ok ? f1(Math.min(...xs)) : "-"} | ${ok ? f1(mean(xs)) : "-"} | ${ok ? f1(Math.max(...xs)) : "-"} | ${ok ? f2(quantile(xs, 0.5) / ratioTo) : "-"} |`;
};

L.push(`## Latency: create + exec \`echo hi\` + read its stdout to EOF`);
L.push("");
L.push(`N=${N} per client after ${WARMUP} warm-ups. The app and image handle are resolved once before; exit-code wait and terminate happen after the clock stops. Milliseconds.`);
L.push("");
L.push("| client | n | p50 | p95 | min | mean | max | p50 / native |");
L.push("|---|---|---|---|---|---|---|---|");
for (const c of clients) if (c.phases.has("latency")) L.push(statsRow(c.label, lat[c.name], why(c.name, "latency"), p50("native")));
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

L.push("## Exec round trip in a warm sandbox: exec `true` + its exit code");
L.push("");
L.push(`${RTT_BLOCKS} blocks per client, interleaved across clients round by round; each block one sandbox, reused: ${WARMUP} untimed warm-ups, then ${Math.ceil(N / RTT_BLOCKS)} samples (exec start to the exit code; TaskExecStart + TaskExecWait). Milliseconds.`);
L.push("");
L.push("| client | n | p50 | p95 | min | mean | max | p50 / native |");
L.push("|---|---|---|---|---|---|---|---|");
const rttNative = quantile(rtt.native || [], 0.5);
for (const c of clients) if (c.phases.has("execRtt")) L.push(statsRow(c.label, rtt[c.name], why(c.name, "execRtt"), rttNative));
L.push("");

L.push(`## Throughput: stdout of \`head -c ${BYTES} /dev/zero\` through the stream API`);
L.push("");
L.push(`Binary mode where the client has one; MB = 10^6 bytes; clock from exec start to EOF; ${TP_RUNS} runs each after a 10 MB warm-up, median reported.`);
L.push("");
L.push("| client | stream API | runs | median MB/s | best MB/s | median / native |");
L.push("|---|---|---|---|---|---|");
const sdkRead = "`p.stdout` ReadableStream (`mode: \"binary\"`), `getReader()`";
const api = {
  native: "tonic `Streaming<TaskExecStdioReadResponse>`",
  "plain-js": "`fetch` body `getReader()`, frames parsed by hand",
  "plain-js-node": "`fetch` body `getReader()`, frames parsed by hand",
  "modal-py": "`for chunk in p.stdout` (`text=False`)",
};
for (const c of clients) {
  if (!c.phases.has("throughput")) continue;
  const xs = tp[c.name];
  const ok = xs.length > 0;
  L.push(`| ${c.label} | ${api[c.name] ?? sdkRead} | ${xs.length} | ${ok ? f1(tpMed(c.name)) : why(c.name, "throughput")} | ${ok ? f1(Math.max(...xs)) : "-"} | ${ok ? f2(tpMed(c.name) / tpMed("native")) : "-"} |`);
}
L.push("");

L.push(`## Stdin throughput: ${STDIN_BYTES / 1e6} MB written to \`wc -c\``);
L.push("");
L.push(`1 MiB writes to the process's stdin (the SDKs' \`WritableStream\` writer, \`writeBytes\` for Modal JS, TaskExecStdinWrite at a running offset for native), then EOF; clock from exec start until \`wc\` printed its count (checked). MB = 10^6 bytes; ${TP_RUNS} runs, median.`);
L.push("");
L.push("| client | runs | median MB/s | best MB/s | median / native |");
L.push("|---|---|---|---|---|");
const stdinMed = (n) => quantile(stdinTp[n] || [], 0.5);
for (const c of clients) {
  if (!c.phases.has("stdin")) continue;
  const xs = stdinTp[c.name];
  const ok = xs.length > 0;
  L.push(`| ${c.label} | ${xs.length} | ${ok ? f1(stdinMed(c.name)) : why(c.name, "stdin")} | ${ok ? f1(Math.max(...xs)) : "-"} | ${ok ? f2(stdinMed(c.name) / stdinMed("native")) : "-"} |`);
}
L.push("");

L.push(`## Burst: ${BURST} sandboxes created and exec'd at once from one Chromium page`);
L.push("");
L.push("`Promise.all` of create + exec `echo burst-i` + read + exit code; wall time until the last output and exit code (terminates not counted). HTTP/1.1: the plain sandboxd, at most six connections per origin; h2: a second sandboxd serving TLS, the test CA trusted by Chromium through `--ignore-certificate-errors-spki-list`; the protocol is the one `performance` reports for the page's calls (`nextHopProtocol`).");
L.push("");
L.push("| protocol | protocol seen | succeeded | wall ms | per sandbox p50 | p95 | max |");
L.push("|---|---|---|---|---|---|---|");
for (const [key, how] of [["h1", "HTTP/1.1"], ["h2", "h2 (TLS)"]]) {
  const b = bursts[key];
  if (!b) { L.push(`| ${how} | - | ${key === "h2" && !TLS ? "not run (no TLS sandboxd)" : why(key === "h1" ? "wasm" : "wasm-h2", "burst")} | - | - | - | - |`); continue; }
  const ms = b.perSandboxMs;
  L.push(`| ${how} | ${b.protocols.join(", ")} | ${b.succeeded}/${b.count} | ${f1(b.wallMs)} | ${f1(quantile(ms, 0.5))} | ${f1(quantile(ms, 0.95))} | ${f1(Math.max(...ms))} |`);
  if (b.errors.length) L.push(`\nErrors (${how}): ${b.errors.map((e) => `\`${e}\``).join(", ")}\n`);
}
L.push("");

L.push("## Playground: page load to first output");
L.push("");
if (firstOutput) {
  const xs = firstOutput.samples;
  L.push(`The built playground (www/dist) served by its own sandboxd, ${xs.length} cold loads (a new browser context each, after one unmeasured load): navigation start to the first stdout byte painted in the terminal, the page's starter ${PLAYGROUND_LANG} program run the moment its sandbox is ready. p50 ${f1(quantile(xs, 0.5))} ms, p95 ${f1(quantile(xs, 0.95))} ms, min ${f1(Math.min(...xs))} ms, max ${f1(Math.max(...xs))} ms. First writes seen: ${firstOutput.firstWrites.map((t) => `\`${t}\``).join(", ")}.`);
  L.push("");
  const at = (ys) => (ys.length ? f1(quantile(ys, 0.5)) : "n/a");
  L.push(`Where the time goes (p50, ms since navigation start; the SDK runs in the page's worker, whose timings are read from the worker): the worker started ${at(firstOutput.workerStarted)}, the wasm fetched ${at(firstOutput.wasmLoaded)}, SandboxCreateV2 answered ${at(firstOutput.created)}, the sandbox ready (the page's status) ${at(firstOutput.ready)}, the first output ${f1(quantile(xs, 0.5))}.`);
} else {
  L.push(errors.playground ? "No result: error (see Errors)." : "Not run (no playground server, or not enabled).");
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
// (workerd's bundle instantiates the wasm when the worker starts, before setup)
const loads = runtimes.filter(([n]) => setupInfo[n]?.loadMs !== undefined && n !== "wasm-workerd").map(([n, where]) => `${where} ${f1(setupInfo[n].loadMs)} ms`);
if (loads.length) L.push(`Loading the package (import + fetch or read + instantiate, local server): ${loads.join(", ")}.`);
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
writeFileSync(REPORT.replace(/\.md$/, ".json"), JSON.stringify({ started, url: URL_, N, WARMUP, BYTES, TP_RUNS, STDIN_BYTES, BURST, LOADS,
  targets, lat, phases, tp, rtt, stdin: stdinTp, bursts, firstOutput, size, setupInfo, errors, unsupported, notes, load0, load1 }, null, 2));
try {
  await writeChart(targets, REPORT.replace(/\.md$/, ".png"), `modal-wasm bench, ${started.toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${gitRev}`);
} catch (e) { say(`chart not written: ${e.message}`); }
process.stdout.write(md + "\n");
process.exit(Object.keys(errors).length ? 1 : 0);
