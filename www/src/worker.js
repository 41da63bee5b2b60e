// Dedicated worker that hosts the SDK off the main thread (`?worker=1`). It owns a
// Session and answers the page's calls: {id, method, args} -> {id, result | error};
// run output and lifecycle events are posted as {event}.
import { Session, describeError } from "./session.js";

const session = new Session((event) => self.postMessage({ event }));

self.onmessage = async ({ data: { id, method, args } }) => {
  try {
    if (typeof session[method] !== "function" || method.startsWith("_")) throw new Error(`no method ${method}`);
    const result = await session[method](...args);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    self.postMessage({ id, error: describeError(e) });
  }
};
self.postMessage({ ready: true });
