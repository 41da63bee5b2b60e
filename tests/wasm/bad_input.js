// Bodies of the bad-input suite (tests/wasm/bad_input.rs): random JS values, from a
// seeded generator, fed to every constructor, static function, method, getter and option
// of the package. Each call must return, or throw/reject with a typed SDK error (an Error
// whose class carries its stable `code`), or with the reason of an AbortSignal the input
// aborted; never a wasm trap ("unreachable": the module would be dead), never a raw JS
// exception let through the wasm (a Proxy's, a getter's, a TypeError of a detached
// buffer), never a hang. A canary call after each input proves the module still works.

const HOSTILE = new Error("hostile input"); // what the inputs' traps and getters throw
const boom = () => {
  throw HOSTILE;
};

// mulberry32
function prng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Option names: every camelCase string literal and `o.name` in the package's sources
 * (params, facade, files.js), so a new option is fuzzed without listing it here. */
function optionKeys(sources) {
  const keys = new Set(["signal", "onProgress"]);
  for (const m of sources.matchAll(/"([a-z][A-Za-z0-9]{1,30})"/g)) keys.add(m[1]);
  for (const m of sources.matchAll(/\bo\.([a-z][A-Za-z0-9]{1,30})\b/g)) keys.add(m[1]);
  return [...keys];
}

function detachedBuffer() {
  const b = new ArrayBuffer(16);
  structuredClone(b, { transfer: [b] });
  return b;
}

function throwingStream(kind) {
  return new ReadableStream({
    start(c) {
      if (kind === "junk") {
        c.enqueue(12345);
        c.enqueue({});
      } else if (kind === "error") {
        c.error(HOSTILE);
      } else {
        c.enqueue(new Uint8Array([1, 2, 3]));
        c.enqueue("text");
        c.close();
      }
    },
  });
}

export class Gen {
  constructor(seed, keys, handles) {
    this.r = prng(seed);
    this.keys = keys;
    this.handles = handles; // [label, value]
  }
  int(n) {
    return Math.floor(this.r() * n);
  }
  pick(xs) {
    return xs[this.int(xs.length)];
  }

  /** A hostile or odd value, with a label for reports. Each call builds a fresh one. */
  any(depth = 0) {
    const g = this;
    const kinds = [
      () => ["undefined", undefined],
      () => ["null", null],
      () => g.pick([["true", true], ["false", false]]),
      () => {
        const n = g.pick([0, -0, 1, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 65535, 65536, 1000, 60000, -1000, 0.1]);
        return [`number ${n}`, n];
      },
      () => {
        const s = g.pick(["", "x", "/", "/tmp", "/tmp/fuzz", "..", "/../../etc/passwd", "a\0b", "a\nb", "\r\n", "é", "\uD800", "\uDFFF\uD800", "💥", " ", "-1", "sb-x", "ap-x", "im-x", "text", "binary", "pipe", "ignore", "r", "w+b", "rb", "x+", "%ZZ", "http://", "https://[::1", "javascript:alert(1)"]);
        return [`string ${JSON.stringify(s)}`, s];
      },
      () => {
        const n = g.r() < 0.02 ? 16 << 20 : g.pick([1 << 10, 1 << 16, 1 << 20]);
        return [`string of ${n} chars`, g.pick(["x", "é", "\n", "\uD800"]).repeat(n)];
      },
      () => g.pick([["symbol", Symbol("fuzz")], ["Symbol.iterator", Symbol.iterator]]),
      () => g.pick([["0n", 0n], ["2n**64n", 2n ** 64n], ["-1n", -1n]]),
      () => g.pick([
        ["function", () => {}],
        ["throwing function", boom],
        ["class", class {}],
        ["async function", async () => {}],
      ]),
      () => ["cyclic object", (() => {
        const o = { a: 1 };
        o.self = o;
        o.list = [o];
        return o;
      })()],
      () => ["cyclic array", (() => {
        const a = ["x"];
        a.push(a);
        return a;
      })()],
      () => ["Object.create(null)", Object.create(null)],
      () => ["{}", {}],
      () => ["[]", []],
      () => ["sparse array of length 2^32-1", (() => {
        const a = [];
        a.length = 2 ** 32 - 1;
        return a;
      })()],
      () => ["array with a throwing element getter", Object.defineProperty(["x", "y"], 1, { get: boom })],
      () => ["array with a throwing length", new Proxy([], { get: (t, k) => (k === "length" ? boom() : t[k]) })],
      () => ["array Proxy of length 2^32-1", new Proxy([], { get: (t, k) => (k === "length" ? 2 ** 32 - 1 : typeof k === "string" && /^\d+$/.test(k) ? "x" : t[k]) })],
      () => ["array of 100000 strings", new Array(100_000).fill("x")],
      () => ["Proxy whose every trap throws", new Proxy({}, allTraps())],
      () => ["array Proxy whose every trap throws", new Proxy([], allTraps())],
      () => ["function Proxy whose every trap throws", new Proxy(() => {}, allTraps())],
      () => ["revoked Proxy", (() => {
        const { proxy, revoke } = Proxy.revocable({}, {});
        revoke();
        return proxy;
      })()],
      () => ["revoked array Proxy", (() => {
        const { proxy, revoke } = Proxy.revocable([], {});
        revoke();
        return proxy;
      })()],
      () => ["object with throwing toString/valueOf/toPrimitive", { toString: boom, valueOf: boom, [Symbol.toPrimitive]: boom }],
      () => {
        const key = g.pick(g.keys);
        return [`object with a throwing getter '${key}'`, Object.defineProperty({}, key, { get: boom, enumerable: true })];
      },
      () => ["Date", new Date(NaN)],
      () => ["RegExp", /x/g],
      () => ["Map", new Map([["a", "b"]])],
      () => ["Set", new Set(["a"])],
      () => ["rejected Promise", (() => {
        const p = Promise.reject(HOSTILE);
        p.catch(() => {});
        return p;
      })()],
      () => ["Error", new Error("e")],
      () => ["Uint8Array", new Uint8Array([1, 2, 3])],
      () => ["empty Uint8Array", new Uint8Array(0)],
      () => ["Uint16Array", new Uint16Array([1, 65535])],
      () => ["Float64Array", new Float64Array([NaN])],
      () => ["DataView", new DataView(new ArrayBuffer(8), 2, 3)],
      () => ["ArrayBuffer", new ArrayBuffer(5)],
      () => ["detached ArrayBuffer", detachedBuffer()],
      () => ["Uint8Array over a detached buffer", (() => {
        const b = new ArrayBuffer(16);
        const view = new Uint8Array(b, 4, 8);
        structuredClone(b, { transfer: [b] });
        return view;
      })()],
      () => ["fake Uint8Array (prototype only)", Object.create(Uint8Array.prototype)],
      () => ["fake ArrayBuffer (prototype only)", Object.create(ArrayBuffer.prototype)],
      () => ["Uint8Array with a throwing 'buffer'", Object.defineProperty(new Uint8Array(4), "buffer", { get: boom })],
      () => ["Blob", new Blob(["blob"])],
      () => ["fake Blob (stream() returns 5)", { stream: () => 5, arrayBuffer: () => {}, size: 1 }],
      () => ["fake Blob (stream() throws)", { stream: boom, arrayBuffer: () => {} }],
      () => ["ReadableStream of junk chunks", throwingStream("junk")],
      () => ["ReadableStream that errors", throwingStream("error")],
      () => ["ReadableStream of mixed chunks", throwingStream("mixed")],
      () => ["locked ReadableStream", (() => {
        const s = throwingStream("mixed");
        s.getReader();
        return s;
      })()],
      () => ["fake ReadableStream (getReader throws)", { getReader: boom }],
      () => ["fake ReadableStream (getReader returns 1)", { getReader: () => 1, locked: false }],
      () => ["AbortSignal", new AbortController().signal],
      () => ["aborted AbortSignal (hostile reason)", AbortSignal.abort(HOSTILE)],
      () => ["aborted AbortSignal (reason 42)", AbortSignal.abort(42)],
      () => ["AbortSignal.timeout(1)", AbortSignal.timeout(1)],
      () => ["fake AbortSignal {aborted:false}", { aborted: false }],
      () => ["fake AbortSignal {aborted:true}", { aborted: true, reason: "r" }],
      () => ["fake AbortSignal with throwing getters", Object.defineProperties({}, { aborted: { get: boom }, reason: { get: boom }, addEventListener: { get: boom } })],
      () => ["AbortSignal Proxy whose traps throw", new Proxy(new AbortController().signal, allTraps())],
      () => (g.handles.length ? g.pick(g.handles) : ["null", null]),
    ];
    if (depth < 2) {
      kinds.push(
        () => {
          const [l, v] = g.any(depth + 1);
          return [`[${l}]`, [v]];
        },
        () => {
          const [l, v] = g.any(depth + 1);
          return [`["echo", ${l}]`, ["echo", v]];
        },
        () => g.options(depth + 1),
        () => g.options(depth + 1),
        () => {
          const [l, v] = g.any(depth + 1);
          const k = g.pick(g.keys);
          return [`{${k}: {x: ${l}}}`, { [k]: { x: v } }];
        },
      );
    }
    return g.pick(kinds)();
  }

  /** An options object: known option names with random values. */
  options(depth = 0) {
    const o = {};
    const labels = [];
    for (let i = this.int(4); i >= 0; i--) {
      const k = this.pick(this.keys);
      const [l, v] = this.r() < 0.3 ? this.plausible() : this.any(depth + 1);
      o[k] = v;
      labels.push(`${k}: ${l}`);
    }
    return [`{${labels.join(", ")}}`, o];
  }

  /** Something a caller might well pass: so that later arguments and options get reached. */
  plausible() {
    return this.pick([
      () => ["string \"/tmp/fuzz\"", "/tmp/fuzz"],
      () => ["string \"fuzz\"", "fuzz"],
      () => ["[\"echo\", \"hi\"]", ["echo", "hi"]],
      () => ["{a: \"b\"}", { a: "b" }],
      () => ["number 1000", 1000],
      () => ["number 8080", 8080],
      () => ["true", true],
      () => ["undefined", undefined],
      () => ["AbortSignal", new AbortController().signal],
      () => (this.handles.length ? this.pick(this.handles) : ["null", null]),
      () => this.options(2),
    ])();
  }
}

function allTraps() {
  const h = {};
  for (const t of ["get", "set", "has", "ownKeys", "getOwnPropertyDescriptor", "defineProperty", "deleteProperty", "getPrototypeOf", "setPrototypeOf", "isExtensible", "preventExtensions", "apply", "construct"]) {
    h[t] = boom;
  }
  return h;
}

/** A typed SDK error: an Error whose class carries the same stable `code`. */
export function typed(e) {
  return e instanceof Error && !(e instanceof WebAssembly.RuntimeError) && typeof e.code === "string" && e.constructor.code === e.code;
}

/** AbortSignals reachable in `args`, real or duck-typed (the reasons of aborted ones are
 * legitimate rejections). */
function signalsIn(args) {
  const out = [];
  const seen = new Set();
  const walk = (v, depth) => {
    if (depth > 3 || v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    try {
      // a real AbortSignal, or a duck-typed one (the SDK accepts those: other realms)
      const d = Object.getOwnPropertyDescriptor(v, "aborted");
      if (v instanceof AbortSignal || (d && "value" in d)) out.push(v);
      if (Array.isArray(v)) return v.slice(0, 8).forEach((x) => walk(x, depth + 1));
      for (const k of Object.keys(v).slice(0, 40)) {
        const d = Object.getOwnPropertyDescriptor(v, k);
        if (d && "value" in d) walk(d.value, depth + 1);
      }
    } catch {
      // a Proxy: nothing to find
    }
  };
  for (const a of args) walk(a, 0);
  return out;
}

const settle = (p, ms) =>
  Promise.race([
    p.then((value) => ({ value }), (error) => ({ error })),
    new Promise((r) => setTimeout(() => r({ hang: true }), ms)),
  ]);

/** Methods and getters of `obj`'s class and of what files.js installs on it; the ones
 * that end the object's life (close, detach, terminate) last. */
const LAST = ["terminate", "detach", "close"];
function members(obj) {
  const out = [];
  const skip = new Set(["constructor", "free", "__destroy_into_raw", "__wbg_ptr"]);
  // the platform's own stream methods throw TypeErrors by the Streams spec; the SDK's
  // additions (readText, writeText, ...) are own properties of its streams
  const platform = [Object.prototype, ReadableStream.prototype, WritableStream.prototype];
  for (let p = obj; p && !platform.includes(p); p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (skip.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (d.get) out.push({ name, kind: "getter", fn: d.get });
      else if (typeof d.value === "function") out.push({ name, kind: "method", fn: d.value });
    }
  }
  return out.sort((a, b) => LAST.indexOf(a.name) - LAST.indexOf(b.name));
}

class Fuzzer {
  constructor(env) {
    this.env = env;
    this.calls = 0;
    this.failures = new Map();
    this.recent = [];
  }

  fail(what, detail) {
    const key = `${what}: ${String(detail).slice(0, 200)}`;
    if (!this.failures.has(key)) this.failures.set(key, this.recent.slice(-1)[0]);
  }

  /** Checks the outcome of one call; returns the value when it succeeded. */
  async judge(name, label, args, run, timeoutMs) {
    this.calls++;
    this.recent.push(`${name}(${label})`);
    if (this.env.verbose) console.log(`#${this.calls} ${name}(${label})`);
    if (this.recent.length > 20) this.recent.shift();
    const signals = signalsIn(args);
    const reason = (s) => {
      try {
        return s.aborted ? { value: s.reason } : null;
      } catch {
        return null;
      }
    };
    const ok = (e) => typed(e) || signals.some((s) => Object.is(reason(s)?.value, e));
    let r;
    try {
      r = run();
    } catch (e) {
      if (!ok(e)) this.fail(`${name} threw untyped`, describe(e));
      return undefined;
    }
    if (r && typeof r.then === "function") {
      const s = await settle(r, timeoutMs);
      if (s.hang) this.fail(`${name} never settled`, label);
      else if ("error" in s && !ok(s.error)) this.fail(`${name} rejected untyped`, describe(s.error));
      return s.value;
    }
    return r;
  }

  /** Proves the module still runs (sync and async paths) after an input. */
  async canary(name) {
    const { images, closedApps } = this.env.canary;
    let alive = false;
    try {
      alive = images.fromRegistry("alpine:3").tag === "alpine:3";
      const s = await settle(closedApps.fromName("x"), 5000);
      alive = alive && s.error && s.error.code === "CLIENT_CLOSED";
    } catch (e) {
      alive = false;
    }
    if (!alive) {
      this.fail("the module stopped working (a trap or a stuck executor)", `after ${this.recent.join(" | ")}`);
      throw new Error(`the wasm module is dead after ${name}: ${[...this.failures.keys()].join("\n")}`);
    }
  }

  /** Calls every member of every target with `rounds` random argument lists. */
  async sweep(gen, targets, rounds, timeoutMs) {
    for (const [tname, obj] of targets) {
      for (const m of members(obj)) {
        const n = m.kind === "getter" ? 1 : rounds;
        for (let i = 0; i < n; i++) {
          const argv = [];
          const labels = [];
          for (let k = gen.int(4); k > 0; k--) {
            const [l, v] = gen.r() < 0.35 ? gen.plausible() : gen.r() < 0.5 ? gen.options() : gen.any();
            argv.push(v);
            labels.push(l);
          }
          const name = `${tname}.${m.name}`;
          const value = await this.judge(name, labels.join(", "), argv, () => m.fn.apply(obj, argv), timeoutMs);
          await this.drain(name, value, timeoutMs, argv);
          await this.canary(name);
        }
      }
    }
  }

  /** Consumes what a call returned (an iterator's next(), a stream's first chunk); `args`
   * were the call's (an AbortSignal among them may end these too). */
  async drain(name, value, timeoutMs, args) {
    if (!value || typeof value !== "object") return;
    if (typeof value.next === "function" && typeof value.return === "function") {
      await this.judge(`${name} → next`, "", args, () => value.next(), timeoutMs);
      await this.judge(`${name} → return`, "", args, () => value.return(), timeoutMs);
    } else if (value instanceof ReadableStream && !value.locked) {
      const reader = value.getReader();
      await this.judge(`${name} → read`, "", args, () => reader.read(), timeoutMs);
      reader.cancel().catch(() => {});
    }
  }
}

function describe(e) {
  try {
    if (e instanceof Error) return `${e.constructor.name}: ${e.message} ${e.code ? `(code ${e.code})` : ""}\n${e.stack}`;
    return `${typeof e} ${String(e)}`;
  } catch {
    return typeof e;
  }
}

/** Random values against the whole API. `env`: the clients and handles of bad_input.rs. */
export async function fuzzApi(env) {
  const started = Date.now();
  const f = new Fuzzer(env);
  const keys = optionKeys(env.sources);
  const { live, denied, probe } = env;
  // a client closed after handing out handles: its calls fail before any request
  const closed = env.closed;
  const closedSandbox = await closed.sandboxes.fromId("sb-fuzz");
  const closedParts = [closedSandbox.filesystem, closedSandbox.stdin, closedSandbox.stdout, closed.sandboxes.list()];
  closed.close();
  const freed = live.images.fromRegistry("freed:1");
  freed.free();
  f.env.canary = { images: closed.images, closedApps: closed.apps };
  const ModalClient = live.constructor;
  const Probe = probe.constructor;

  // handles to pass around and to call: live data handles, a sandbox of a closed client,
  // a sandbox of a client the server refuses (wrong token: every request fails typed)
  const app = await live.apps.fromName("wasm-fuzz", { createIfMissing: true });
  const image = live.images.fromRegistry("debian:bookworm-slim");
  const secret = await live.secrets.fromObject({ A: "1" });
  const volume = await live.volumes.fromName("wasm-fuzz-vol", { createIfMissing: true });
  const deniedSandbox = await denied.sandboxes.fromId("sb-fuzz");
  const handles = [
    ["App", app],
    ["Image", image],
    ["Secret", secret],
    ["Volume", volume],
    ["Probe", probe],
    ["Sandbox (closed client)", closedSandbox],
    ["ModalClient (closed)", closed],
    ["freed Image", freed],
  ];
  const gen = new Gen(env.seed, keys, handles);

  // 1. the constructor and the static functions
  for (let i = 0; i < env.rounds * 4; i++) {
    const [l, v] = gen.r() < 0.5 ? gen.options() : gen.any();
    const c = await f.judge("new ModalClient", l, [v], () => new ModalClient(v), 5000);
    if (c) c.close();
    const [l2, v2] = gen.any();
    const [l3, v3] = gen.r() < 0.5 ? gen.options() : gen.any();
    await f.judge("Probe.withTcp", `${l2}, ${l3}`, [v2, v3], () => Probe.withTcp(v2, v3), 5000);
    await f.judge("Probe.withExec", `${l2}, ${l3}`, [v2, v3], () => Probe.withExec(v2, v3), 5000);
    await f.canary("ModalClient/Probe");
  }

  // 1b. getToken returning, resolving, throwing or rejecting hostile values
  const tokenSources = [
    (v) => () => v,
    (v) => async () => v,
    (v) => () => {
      throw v;
    },
    (v) => () => Promise.reject(v),
    () => () => Object.defineProperty(Promise.resolve("tok"), "constructor", { get: boom }),
    () => () => ({ then: boom }),
    () => () => Object.defineProperty({}, "then", { get: boom }),
  ];
  for (let i = 0; i < env.rounds / 5; i++) {
    const [l, v] = gen.any();
    const getToken = gen.pick(tokenSources)(v);
    const c = await f.judge("new ModalClient({ getToken })", l, [v], () => new ModalClient({ endpoint: env.url, getToken }), 5000);
    if (c) {
      await f.judge("apps.fromName with getToken", l, [v], () => c.apps.fromName("fuzz"), 20000);
      c.close();
    }
    await f.canary("getToken");
  }

  // 2. every member of every class: no request leaves (closed client), or every request
  //    is refused by the server (denied client)
  const targets = (client, sb, [fs, stdin, stdout, list], tag) => [
    [`apps${tag}`, client.apps],
    [`images${tag}`, client.images],
    [`secrets${tag}`, client.secrets],
    [`volumes${tag}`, client.volumes],
    [`sandboxes${tag}`, client.sandboxes],
    [`list iterator${tag}`, list],
    [`SandboxFilesystem${tag}`, fs],
    [`Sandbox.stdin${tag}`, stdin],
    [`Sandbox.stdout${tag}`, stdout],
    [`Sandbox${tag}`, sb],
    [`ModalClient${tag}`, client],
  ];
  const deniedParts = [deniedSandbox.filesystem, deniedSandbox.stdin, deniedSandbox.stdout, denied.sandboxes.list()];
  await f.sweep(gen, [["App", app], ["Image", image], ["Secret", secret], ["Volume", volume], ["Probe", probe]], 4, 5000);
  await f.sweep(gen, targets(closed, closedSandbox, closedParts, " (closed)"), env.rounds, 5000);
  await f.sweep(gen, targets(denied, deniedSandbox, deniedParts, " (denied)"), Math.ceil(env.rounds / 4), 20000);

  // 3. what needs a live sandbox: stdin chunks, upload sources, file handles
  const sb = await live.sandboxes.create(app, image, { timeoutMs: 300_000 });
  let deep = 0;
  try {
    for (let i = 0; i < env.liveRounds; i++) {
      const p = await sb.exec(["cat"], { mode: gen.pick(["text", "binary"]) });
      const w = p.stdin.getWriter();
      const [l, v] = gen.any();
      const wrote = await f.judge("stdin.write", l, [v], () => w.write(v).then(() => true), 20000);
      // (closing an errored stream is the platform's TypeError)
      if (wrote) await f.judge("stdin.close", "", [], () => w.close(), 20000);
      const [l2, v2] = gen.any();
      await f.judge("stdin.writeText", l2, [v2], () => sb.stdin.writeText(v2), 20000);
      const [l3, v3] = gen.any();
      const [l4, v4] = gen.r() < 0.5 ? gen.options() : gen.any();
      await f.judge("filesystem.writeBytes", `${l3}, ${l4}`, [v3, v4], () => sb.filesystem.writeBytes(v3, `/tmp/fuzz-${i}`, v4), 20000);
      const file = await sb.open(`/tmp/fuzz-file-${i}`, gen.pick(["w+", "w+b", "a+"]));
      for (const m of ["read", "readline", "write", "seek", "tell", "flush", "close"]) {
        const argv = [gen.any()[1], gen.any()[1]];
        await f.judge(`FileIO.${m}`, "random", argv, () => file[m](...argv), 20000);
      }
      deep++;
      await f.canary("live");
    }
  } finally {
    await sb.terminate().catch(() => {});
  }
  // the live client still works end to end
  const check = await live.sandboxes.create(app, image);
  try {
    const p = await check.exec(["echo", "alive"]);
    const out = await p.stdout.readText();
    if (out !== "alive\n") f.fail("the live client no longer works", out);
  } finally {
    await check.terminate();
  }
  const summary = `bad input: ${f.calls} calls with random JS values (seed ${env.seed}, ${keys.length} option names, ${deep} live rounds) in ${((Date.now() - started) / 1000).toFixed(1)} s`;
  console.log(summary);
  // the figure in the test command's output, through the fault harness when it runs
  if (env.report) await fetch(`${env.report}/report`, { method: "POST", body: summary }).catch(() => {});
  if (f.failures.size) {
    const list = [...f.failures].map(([k, last]) => `- ${k}\n    input: ${last}`).join("\n");
    throw new Error(`${f.failures.size} kinds of failure in ${f.calls} calls (seed ${env.seed}):\n${list}`);
  }
  return summary;
}
