// The wasm SDK in a dedicated Web Worker, driven from the page (bench.js) by messages.
import { sdkBench } from "./sdk-bench.mjs";

const ops = sdkBench(() => import("/pkg/index.js"));
self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const fn = ops[op];
    if (!fn) throw new Error(`unknown op ${op}`);
    self.postMessage({ id, reply: await fn(args) });
  } catch (e) {
    self.postMessage({ id, error: `${e && e.name}: ${e && e.message}\n${e && e.stack}` });
  }
};
