// The page's handle on a Session: direct on the main thread, or a proxy to worker.js.
// Both expose the same async methods and deliver events to `onEvent`.

/** Rebuild an Error from its cloned description (worker mode). */
function reviveError({ name, code, message }) {
  const e = new Error(message);
  e.name = name;
  e.code = code;
  return e;
}

export async function openSession({ worker, onEvent }) {
  if (!worker) {
    const { Session } = await import("./session.js");
    const s = new Session(onEvent);
    s.mode = "main thread";
    return s;
  }
  const w = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "modal-wasm" });
  const pending = new Map();
  let next = 1;
  let failed = null; // the worker could not start: every call, pending or later, fails with it
  w.addEventListener("error", (e) => {
    failed = new Error(`the SDK worker failed to start: ${e.message || "error"}`);
    for (const p of pending.values()) p.reject(failed);
    pending.clear();
  });
  w.onmessage = ({ data }) => {
    if (data.event) return onEvent(data.event);
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.error) p.reject(reviveError(data.error));
    else p.resolve(data.result);
  };
  // Calls are posted at once, not after the worker says it is up: a worker queues the
  // messages that come before its script has run, and the page's start need not wait
  // for this thread to hear back.
  const call = (method, ...args) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = next++;
      pending.set(id, { resolve, reject });
      w.postMessage({ id, method, args });
    });
  return new Proxy(
    { mode: "worker", worker: w },
    { get: (target, key) => (key in target ? target[key] : key === "then" ? undefined : (...args) => call(key, ...args)) },
  );
}
