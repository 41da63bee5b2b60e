// The wasm SDK's side of bench/run.mjs, in headless Chromium. Loads the npm package that
// sandboxd serves at /pkg and exposes `window.bench` for the orchestrator's
// page.evaluate() calls, whose results come back to it as the evaluate's return value.
const log = (s) => { document.getElementById("log").textContent += s + "\n"; };

let mod, client, app, image;

// A capability the SDK lacks is reported as such ({unsupported}), not as an error.
class Unsupported extends Error {}
const need = (cond, what) => { if (!cond) throw new Unsupported(what); };
const supported = (fn) => async (args) => {
  try {
    return await fn(args);
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
};

async function setup({ endpoint, tokenId, tokenSecret, token, appName, imageTag }) {
  const t0 = performance.now();
  mod = await import("/pkg/index.js");
  const loadMs = performance.now() - t0;
  need(typeof mod.ModalClient === "function", "no ModalClient export");
  client = new mod.ModalClient(token ? { endpoint, token } : { endpoint, tokenId, tokenSecret });
  need(typeof client.apps?.fromName === "function", "no client.apps.fromName()");
  need(typeof client.images?.fromRegistry === "function", "no client.images.fromRegistry()");
  need(typeof client.sandboxes?.create === "function", "no client.sandboxes.create()");
  app = await client.apps.fromName(appName, { createIfMissing: true });
  image = client.images.fromRegistry(imageTag);
  log(`setup: package loaded in ${loadMs.toFixed(1)} ms`);
  return { loadMs };
}

async function latency() {
  const t0 = performance.now();
  const sb = await client.sandboxes.create(app, image);
  const t1 = performance.now();
  try {
    need(typeof sb.exec === "function", "no sandbox.exec()");
    const p = await sb.exec(["echo", "hi"]);
    const t2 = performance.now();
    need(typeof p.stdout?.readText === "function", "no process.stdout.readText()");
    const out = await p.stdout.readText();
    const t3 = performance.now();
    const ms = t3 - t0;
    const phases = { create: t1 - t0, exec: t2 - t1, read: t3 - t2 };
    const code = await p.wait();
    if (out !== "hi\n" || code !== 0) throw new Error(`echo hi: stdout ${JSON.stringify(out)}, exit ${code}`);
    return { ms, phases };
  } finally {
    await sb.terminate();
  }
}

async function throughput({ bytes }) {
  const sb = await client.sandboxes.create(app, image);
  try {
    const t0 = performance.now();
    const p = await sb.exec(["head", "-c", String(bytes), "/dev/zero"], { mode: "binary" });
    let n = 0;
    need(typeof p.stdout?.getReader === "function", "process.stdout is not a ReadableStream");
    const reader = p.stdout.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
    }
    const ms = performance.now() - t0;
    const code = await p.wait();
    if (n !== bytes || code !== 0) throw new Error(`read ${n} of ${bytes} bytes, exit ${code}`);
    return { bytes: n, ms };
  } finally {
    await sb.terminate();
  }
}

// `count` sandboxes created and exec'd at once; every one must print its own index.
async function burst({ count }) {
  const one = async (i) => {
    const t0 = performance.now();
    let sb;
    try {
      sb = await client.sandboxes.create(app, image);
      const p = await sb.exec(["echo", `burst-${i}`]);
      const out = await p.stdout.readText();
      const code = await p.wait();
      const done = performance.now();
      if (out !== `burst-${i}\n` || code !== 0) throw new Error(`stdout ${JSON.stringify(out)}, exit ${code}`);
      return { ok: true, ms: done - t0, done };
    } catch (e) {
      const done = performance.now();
      return { ok: false, ms: done - t0, done, error: `${e && e.name}: ${e && e.message}` };
    } finally {
      if (sb) await sb.terminate().catch(() => {});
    }
  };
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  // Until the last sandbox's output and exit code were in (its terminate is not counted).
  const wallMs = Math.max(...results.map((r) => r.done)) - t0;
  return {
    count,
    succeeded: results.filter((r) => r.ok).length,
    wallMs,
    perSandboxMs: results.map((r) => r.ms),
    errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5),
  };
}

window.bench = { setup: supported(setup), latency: supported(latency), throughput: supported(throughput), burst: supported(burst) };
window.benchReady = true;
