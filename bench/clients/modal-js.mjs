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
  close() { modal.close(); },
});
