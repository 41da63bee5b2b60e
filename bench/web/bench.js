// The wasm SDK in the page, for bench/run.mjs's page.evaluate(window.bench.*) calls, and
// the same ops in a dedicated Web Worker (worker.js) as window.benchWorker.*. The ops
// themselves are sdk-bench.mjs, shared with every other runtime.
import { sdkBench } from "./sdk-bench.mjs";

const log = (s) => { document.getElementById("log").textContent += s + "\n"; };

window.bench = sdkBench(() => import("/pkg/index.js"));

// The worker answers {id, op, args} with {id, reply} or {id, error}.
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const pending = new Map();
let nextId = 0;
worker.onmessage = ({ data }) => {
  const p = pending.get(data.id);
  pending.delete(data.id);
  if (data.error) p?.reject(new Error(data.error));
  else p?.resolve(data.reply);
};
worker.onerror = (e) => {
  log(`worker error: ${e.message}`);
  for (const p of pending.values()) p.reject(new Error(`worker error: ${e.message}`));
  pending.clear();
};
const inWorker = (op) => (args) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args });
  });
window.benchWorker = Object.fromEntries(Object.keys(window.bench).map((op) => [op, inWorker(op)]));

// every call's timing entry kept: the h2 burst reads the protocols its calls used
performance.setResourceTimingBufferSize(100000);
window.benchReady = true;
log("bench page ready");
