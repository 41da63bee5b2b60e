// The wasm SDK's side of bench/run.mjs, in headless Chromium. Loads the npm package that
// sandboxd serves at /pkg and exposes `window.bench` for the orchestrator's
// page.evaluate() calls, whose results come back to it as the evaluate's return value.
const log = (s) => { document.getElementById("log").textContent += s + "\n"; };

let mod, client, app, image;

async function setup({ endpoint, tokenId, tokenSecret, appName, imageTag }) {
  const t0 = performance.now();
  mod = await import("/pkg/index.js");
  const loadMs = performance.now() - t0;
  client = new mod.ModalClient({ endpoint, tokenId, tokenSecret });
  app = await client.apps.fromName(appName, { createIfMissing: true });
  image = client.images.fromRegistry(imageTag);
  log(`setup: package loaded in ${loadMs.toFixed(1)} ms`);
  return { loadMs };
}

async function latency() {
  const t0 = performance.now();
  const sb = await client.sandboxes.create(app, image);
  const p = await sb.exec(["echo", "hi"]);
  const out = await p.stdout.readText();
  const ms = performance.now() - t0;
  const code = await p.wait();
  await sb.terminate();
  if (out !== "hi\n" || code !== 0) throw new Error(`echo hi: stdout ${JSON.stringify(out)}, exit ${code}`);
  return { ms };
}

async function throughput({ bytes }) {
  const sb = await client.sandboxes.create(app, image);
  try {
    const t0 = performance.now();
    const p = await sb.exec(["head", "-c", String(bytes), "/dev/zero"], { mode: "binary" });
    let n = 0;
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

window.bench = { setup, latency, throughput, burst };
window.benchReady = true;
