// The fault harness of the wasm "faults" suite (tests/wasm/faults.rs), run by
// scripts/test-wasm.sh beside a live sandboxd. Plain Node, no dependencies:
//
// - a fault proxy (TCP) in front of the live sandboxd that cuts connections at random
//   byte offsets, mid-request or mid-response (FIN or RST), and stalls others for a while,
//   from a seeded RNG (printed; FAULT_SEED=<n> replays the same fault plans);
// - a sandboxd of its own ("crash" sandboxd: own state dir, same token) behind a second
//   proxy without random faults, which the browser test kills with SIGKILL and restarts on
//   the same state dir and port; that proxy can hold requests (to have calls pending);
// - a control server the browser test drives (CORS open; loopback only):
//     GET  /config          URLs, token, seed
//     GET  /stats           counters of both proxies (cuts, stalls, connections, bytes)
//     POST /crash/hold?on=1 hold (or release) the client bytes entering the crash proxy
//     POST /crash/kill      SIGKILL the crash sandboxd; answers once it is dead
//     POST /crash/restart   start it again on the same state dir and port
//     POST /report          print the body (a figure of the test) in this output
//
// Why Node and not Rust: the proxy is test code driven from the browser, and a small
// script needs no build in the test command (a Rust binary would add a compile and link
// on a 2-core machine); Node's sockets give byte-exact cuts and backpressure (pause)
// for stalls. Prints one line `faults: control <url> seed <n>` when ready, and its
// counters on SIGTERM.
//
// usage: node harness.mjs --upstream URL --sandboxd BIN --token-id ID --token-secret S
// (FAULT_DEBUG=1 prints each connection's fault plan)
import net from "node:net";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of ["upstream", "sandboxd", "token-id", "token-secret"]) {
  if (!args[k]) throw new Error(`harness: --${k} is required`);
}
const seed = Number(process.env.FAULT_SEED || Math.floor(Math.random() * 2 ** 32)) >>> 0;

// mulberry32: a small seeded PRNG (reproducible fault plans)
function rng(s) {
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const between = (a, b) => a + Math.floor(random() * (b - a + 1));

/** The faults of one connection: byte offsets where it is cut or stalled, per direction.
 * Chromium keeps few HTTP/1.1 connections and reuses them, so every connection is cut
 * within 5 MB each way (each cut makes the browser open a new one, with a new plan); a
 * few cuts land in a request's or a response's first bytes. */
function faultPlan() {
  return {
    // mid-response: inside an output stream; sometimes inside headers or a first frame
    down: random() < 0.08 ? between(0, 600) : between(600, 5_000_000),
    // mid-request: inside a stdin write's body; sometimes inside a request's headers
    up: random() < 0.1 ? between(0, 1500) : between(1500, 5_000_000),
    stallDown: random() < 0.3 ? { at: between(0, 4_000_000), ms: between(50, 1000) } : null,
    stallUp: random() < 0.15 ? { at: between(0, 4_000_000), ms: between(50, 1000) } : null,
    reset: random() < 0.5,
  };
}

function newStats() {
  return { connections: 0, cutsUp: 0, cutsDown: 0, stalls: 0, bytesUp: 0, bytesDown: 0, refused: 0 };
}

class Proxy {
  constructor(name, target, faults) {
    this.name = name;
    this.target = target; // { host, port }
    this.faults = faults;
    this.stats = newStats();
    this.hold = false;
    this.held = new Set();
    this.server = net.createServer((c) => this.accept(c));
  }

  listen() {
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", () => resolve(this.server.address().port)));
  }

  setHold(on) {
    this.hold = on;
    if (!on) for (const release of [...this.held]) release();
  }

  accept(client) {
    this.stats.connections++;
    const plan = this.faults ? faultPlan() : {};
    if (process.env.FAULT_DEBUG) console.log(`${this.name} connection ${this.stats.connections}: ${JSON.stringify(plan)}`);
    const upstream = net.connect(this.target.port, this.target.host);
    let done = false;
    // `reset`: RST both ways at once. Otherwise the receiving side gets the bytes so far
    // and a FIN (a clean-looking end in the middle of a message), the other side is dropped.
    const close = (reset, finTo) => {
      if (done) return;
      done = true;
      for (const s of [client, upstream]) {
        if (s === finTo) s.end();
        else if (reset && s.resetAndDestroy) s.resetAndDestroy();
        else s.destroy();
      }
    };
    upstream.on("error", (e) => {
      if (e.code === "ECONNREFUSED") this.stats.refused++;
      close(true);
    });
    client.on("error", () => close(true));
    client.on("close", () => close(false));
    upstream.on("close", () => close(false));
    this.forward(client, upstream, "up", plan.up, plan.stallUp, plan.reset, close);
    this.forward(upstream, client, "down", plan.down, plan.stallDown, plan.reset, close);
  }

  /** Copies src to dst in order, with backpressure, cutting the connection at byte
   * `cutAt` and pausing once at `stall.at` for `stall.ms`. Reading from src stops while
   * any of its reasons holds (the peer's backpressure, a stall, the hold switch); bytes
   * that arrived meanwhile wait in `queue`, so nothing is reordered. */
  forward(src, dst, dir, cutAt, stall, reset, close) {
    let sent = 0;
    const counter = dir === "up" ? "bytesUp" : "bytesDown";
    const queue = [];
    const waits = new Set(); // "drain", "stall", "hold"
    const stop = (why) => {
      waits.add(why);
      src.pause();
    };
    const go = (why) => {
      waits.delete(why);
      pump();
      if (!waits.size && !queue.length && !src.destroyed) src.resume();
    };
    const write = (buf) => {
      sent += buf.length;
      this.stats[counter] += buf.length;
      if (!dst.write(buf)) {
        stop("drain");
        dst.once("drain", () => go("drain"));
      }
    };
    const pump = () => {
      while (queue.length && !waits.size && !dst.destroyed) {
        const buf = queue.shift();
        if (dir === "up" && this.hold) {
          queue.unshift(buf);
          stop("hold");
          const release = () => {
            this.held.delete(release);
            go("hold");
          };
          this.held.add(release);
          return;
        }
        if (cutAt != null && sent + buf.length > cutAt) {
          write(buf.subarray(0, cutAt - sent));
          this.stats[dir === "up" ? "cutsUp" : "cutsDown"]++;
          cutAt = null;
          queue.length = 0;
          return close(reset, reset ? null : dst);
        }
        if (stall && sent + buf.length > stall.at) {
          const at = stall.at - sent;
          const ms = stall.ms;
          stall = null;
          this.stats.stalls++;
          write(buf.subarray(0, at));
          queue.unshift(buf.subarray(at));
          stop("stall");
          setTimeout(() => go("stall"), ms);
          return;
        }
        write(buf);
      }
    };
    src.on("data", (buf) => {
      queue.push(buf);
      pump();
      if (queue.length) src.pause();
    });
    src.on("end", () => {
      const end = () => (queue.length || waits.size ? setTimeout(end, 20) : !dst.destroyed && dst.end());
      end();
    });
  }
}

// --- the crash sandboxd --------------------------------------------------------------------
const crashState = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxd-crash."));
let crash = null; // { child, port }

function startSandboxd(port) {
  const log = fs.openSync(`${crashState}.log`, "a");
  const child = spawn(
    args.sandboxd,
    [
      "serve",
      "--listen",
      `127.0.0.1:${port}`,
      "--state-dir",
      crashState,
      "--token-id",
      args["token-id"],
      "--token-secret",
      args["token-secret"],
    ],
    { stdio: ["ignore", "pipe", log] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("crash sandboxd did not start in 20 s")), 20_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        child.stdout.removeAllListeners("data");
        child.stdout.resume();
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`crash sandboxd exited (${code ?? sig}) before listening; see ${crashState}.log`));
    });
  });
}

function killSandboxd() {
  return new Promise((resolve) => {
    const { child } = crash;
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners("exit");
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

// --- control --------------------------------------------------------------------------------
const upstreamUrl = new URL(args.upstream);
const faulty = new Proxy("faulty", { host: upstreamUrl.hostname, port: Number(upstreamUrl.port) }, true);
crash = await startSandboxd(0);
const crashProxy = new Proxy("crash", { host: "127.0.0.1", port: crash.port }, false);
const faultyPort = await faulty.listen();
const crashPort = await crashProxy.listen();

const control = http.createServer(async (req, res) => {
  const reply = (status, body) => {
    res.writeHead(status, {
      "content-type": "application/json",
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST",
    });
    res.end(JSON.stringify(body));
  };
  const url = new URL(req.url, "http://x");
  try {
    if (req.method === "OPTIONS") return reply(204, {});
    switch (`${req.method} ${url.pathname}`) {
      case "GET /config":
        return reply(200, {
          faultyUrl: `http://127.0.0.1:${faultyPort}`,
          crashUrl: `http://127.0.0.1:${crashPort}`,
          tokenId: args["token-id"],
          tokenSecret: args["token-secret"],
          seed,
        });
      case "POST /report": {
        // a figure from the browser test, printed in the test command's output
        let line = "";
        for await (const chunk of req) line += chunk;
        console.log(line.slice(0, 2000));
        return reply(200, {});
      }
      case "GET /stats":
        return reply(200, { faulty: faulty.stats, crash: crashProxy.stats });
      case "POST /crash/hold":
        crashProxy.setHold(url.searchParams.get("on") === "1");
        return reply(200, { hold: crashProxy.hold });
      case "POST /crash/kill":
        await killSandboxd();
        crashProxy.setHold(false);
        return reply(200, { killed: true });
      case "POST /crash/restart":
        crash = await startSandboxd(crash.port);
        return reply(200, { port: crash.port });
      default:
        return reply(404, { error: "no such route" });
    }
  } catch (e) {
    return reply(500, { error: String(e && e.message) });
  }
});
await new Promise((resolve) => control.listen(0, "127.0.0.1", resolve));

console.log(`faults: control http://127.0.0.1:${control.address().port} seed ${seed}`);

process.on("SIGTERM", async () => {
  const s = faulty.stats;
  console.log(
    `faults: proxy totals (seed ${seed}): ${s.cutsDown} cuts mid-response, ${s.cutsUp} cuts mid-request, ` +
      `${s.stalls} stalls over ${s.connections} connections; ${s.bytesDown} bytes down, ${s.bytesUp} bytes up`,
  );
  // a graceful stop of the crash sandboxd, so it cleans up after itself
  if (crash.child.exitCode === null && crash.child.signalCode === null) {
    crash.child.removeAllListeners("exit");
    const exited = new Promise((r) => crash.child.once("exit", r));
    crash.child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
  process.exit(0);
});
