// The wasm SDK's side of bench/run.mjs, the same code in every runtime: the page
// (web/bench.js), a dedicated Web Worker (web/worker.js), Node and Deno
// (clients/sdk-lines.mjs) and workerd (clients/workerd-worker.mjs). Each driver imports the
// package its runtime resolves and passes it to `sdkBench`; the ops answer plain objects
// that go back to the orchestrator unchanged. No DOM, no Node built-ins: only what every
// runtime has (fetch, streams, performance.now).

// A capability the SDK lacks is reported as such ({unsupported}), not as an error.
class Unsupported extends Error {}
const need = (cond, what) => { if (!cond) throw new Unsupported(what); };
const supported = (fn) => async (args) => {
  try {
    return await fn(args ?? {});
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
};

const quietTerminate = (sb) => sb.terminate().catch(() => {});

/** The ops of one runtime: `importPackage()` resolves the npm package (timed as loadMs). */
export function sdkBench(importPackage) {
  let mod, client, app, image;

  async function setup({ endpoint, tokenId, tokenSecret, token, appName, imageTag }) {
    const t0 = performance.now();
    mod = await importPackage();
    const loadMs = performance.now() - t0;
    need(typeof mod.ModalClient === "function", "no ModalClient export");
    client = new mod.ModalClient(token ? { endpoint, token } : { endpoint, tokenId, tokenSecret });
    need(typeof client.apps?.fromName === "function", "no client.apps.fromName()");
    need(typeof client.images?.fromRegistry === "function", "no client.images.fromRegistry()");
    need(typeof client.sandboxes?.create === "function", "no client.sandboxes.create()");
    app = await client.apps.fromName(appName, { createIfMissing: true });
    image = client.images.fromRegistry(imageTag);
    return { loadMs };
  }

  // create + exec `echo hi` + read stdout to EOF, timed; wait and terminate after the clock.
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
      const code = await p.wait();
      if (out !== "hi\n" || code !== 0) throw new Error(`echo hi: stdout ${JSON.stringify(out)}, exit ${code}`);
      return { ms: t3 - t0, phases: { create: t1 - t0, exec: t2 - t1, read: t3 - t2 } };
    } finally {
      await quietTerminate(sb);
    }
  }

  // In a fresh sandbox (untimed): exec `head -c N /dev/zero`, stdout to EOF (timed).
  async function throughput({ bytes }) {
    const sb = await client.sandboxes.create(app, image);
    try {
      const t0 = performance.now();
      const p = await sb.exec(["head", "-c", String(bytes), "/dev/zero"], { mode: "binary" });
      need(typeof p.stdout?.getReader === "function", "process.stdout is not a ReadableStream");
      const reader = p.stdout.getReader();
      let n = 0;
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
      await quietTerminate(sb);
    }
  }

  // Exec round trip in one warm sandbox: exec `true` + its exit code, `warmup` untimed then
  // `count` timed. One call answers all samples, so in workerd the sandbox lives within one
  // request.
  async function execRtt({ count, warmup = 2 }) {
    const sb = await client.sandboxes.create(app, image);
    try {
      const samples = [];
      for (let i = 0; i < warmup + count; i++) {
        const t0 = performance.now();
        const p = await sb.exec(["true"]);
        const code = await p.wait();
        const ms = performance.now() - t0;
        if (code !== 0) throw new Error(`true: exit ${code}`);
        if (i >= warmup) samples.push(ms);
      }
      return { samples };
    } finally {
      await quietTerminate(sb);
    }
  }

  // Stdin throughput: `bytes` written to `wc -c` through process.stdin (a WritableStream)
  // in 1 MiB chunks, then EOF; timed from exec start until its stdout (the count) is read.
  async function stdin({ bytes }) {
    const sb = await client.sandboxes.create(app, image);
    try {
      const chunk = new Uint8Array(1 << 20).fill(120);
      const t0 = performance.now();
      const p = await sb.exec(["wc", "-c"], { mode: "binary" });
      need(typeof p.stdin?.getWriter === "function", "process.stdin is not a WritableStream");
      const out = readAll(p.stdout);
      const w = p.stdin.getWriter();
      for (let left = bytes; left > 0; left -= chunk.length) await w.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
      await w.close();
      const text = new TextDecoder().decode(await out);
      const ms = performance.now() - t0;
      const code = await p.wait();
      if (text.trim() !== String(bytes) || code !== 0) throw new Error(`wc -c counted ${JSON.stringify(text)} of ${bytes} bytes, exit ${code}`);
      return { bytes, ms };
    } finally {
      await quietTerminate(sb);
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
        if (sb) await quietTerminate(sb);
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

  const ops = { setup, latency, throughput, execRtt, stdin, burst };
  return Object.fromEntries(Object.entries(ops).map(([k, f]) => [k, supported(f)]));
}

async function readAll(stream) {
  const reader = stream.getReader();
  const parts = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.byteLength;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.byteLength; }
  return out;
}
