// Modal's official JS client (npm modal@0.11.1) in Node, driven by bench/run.mjs.
// Configuration: MODAL_SERVER_URL, MODAL_TOKEN_ID, MODAL_TOKEN_SECRET, BENCH_APP, BENCH_IMAGE.
import { ModalClient } from "modal";
import { serve } from "./lines.mjs";

const modal = new ModalClient({
  endpoint: process.env.MODAL_SERVER_URL,
  tokenId: process.env.MODAL_TOKEN_ID,
  tokenSecret: process.env.MODAL_TOKEN_SECRET,
  logLevel: "error",
});
let app, image;

async function setup() {
  if (!app) {
    app = await modal.apps.fromName(process.env.BENCH_APP || "bench", { createIfMissing: true });
    image = modal.images.fromRegistry(process.env.BENCH_IMAGE || "debian:bookworm-slim");
  }
  return {};
}

await serve({
  setup,
  async latency() {
    await setup();
    const t0 = performance.now();
    const sb = await modal.sandboxes.create(app, image);
    const t1 = performance.now();
    const p = await sb.exec(["echo", "hi"]);
    const t2 = performance.now();
    const out = await p.stdout.readText();
    const t3 = performance.now();
    const ms = t3 - t0;
    const code = await p.wait();
    await sb.terminate();
    if (out !== "hi\n" || code !== 0) throw new Error(`echo hi: stdout ${JSON.stringify(out)}, exit ${code}`);
    return { ms, phases: { create: t1 - t0, exec: t2 - t1, read: t3 - t2 } };
  },
  async throughput({ bytes }) {
    await setup();
    const sb = await modal.sandboxes.create(app, image);
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
  },
  // exec `true` + exit code in one warm sandbox; warmup untimed, then count samples
  async execRtt({ count, warmup = 2 }) {
    await setup();
    const sb = await modal.sandboxes.create(app, image);
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
      await sb.terminate();
    }
  },
  // `bytes` into `wc -c` through p.stdin in 1 MiB writes, then EOF; until the count is read
  async stdin({ bytes }) {
    await setup();
    const sb = await modal.sandboxes.create(app, image);
    try {
      const chunk = new Uint8Array(1 << 20).fill(120);
      const t0 = performance.now();
      const p = await sb.exec(["wc", "-c"], { mode: "binary" });
      const out = (async () => {
        const reader = p.stdout.getReader();
        const parts = [];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
        }
        return Buffer.concat(parts).toString();
      })();
      for (let left = bytes; left > 0; left -= chunk.length) await p.stdin.writeBytes(left >= chunk.length ? chunk : chunk.subarray(0, left));
      await p.stdin.close();
      const text = await out;
      const ms = performance.now() - t0;
      const code = await p.wait();
      if (text.trim() !== String(bytes) || code !== 0) throw new Error(`wc -c counted ${JSON.stringify(text)} of ${bytes} bytes, exit ${code}`);
      return { bytes, ms };
    } finally {
      await sb.terminate();
    }
  },
  close() { modal.close(); },
});
