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
  const ready = new Promise((resolve, reject) => {
    w.addEventListener("error", (e) => reject(new Error(`the SDK worker failed to start: ${e.message || "error"}`)), { once: true });
    w.addEventListener("message", ({ data }) => data && data.ready && resolve(), { once: false });
  });
  w.onmessage = ({ data }) => {
    if (data.event) return onEvent(data.event);
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.error) p.reject(reviveError(data.error));
    else p.resolve(data.result);
  };
  await ready;
  const call = (method, ...args) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      w.postMessage({ id, method, args });
    });
  return new Proxy(
    { mode: "worker", worker: w },
    { get: (target, key) => (key in target ? target[key] : key === "then" ? undefined : (...args) => call(key, ...args)) },
  );
}
