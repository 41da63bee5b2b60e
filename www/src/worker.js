// Dedicated worker that hosts the SDK off the main thread (the default; `?worker=0` keeps
// it on the page). It owns a Session and answers the page's calls: {id, method, args} ->
// {id, result | error}; run output and lifecycle events are posted as {event}.
//
// The handler is in place before the SDK has loaded (a dynamic import, not a static one):
// the page posts its first call right away, and a module worker still awaiting its imports
// would let that message go by unheard.
const loaded = import("./session.js").then(({ Session, describeError }) => ({
  session: new Session((event) => self.postMessage({ event })),
  describeError,
}));

// the page's credential, fetched here (for `boot`) while the SDK loads
const config = import("./config.js");

self.onmessage = async ({ data: { id, method, args } }) => {
  let sdk;
  if (method === "boot" && args[0] && !args[0].credentials) {
    const { endpoint } = args[0];
    args[0].credentials = config.then(({ fetchCredentials }) => fetchCredentials(endpoint));
    args[0].credentials.catch(() => {}); // boot reports it
  }
  try {
    sdk = await loaded;
    const { session } = sdk;
    if (typeof session[method] !== "function" || method.startsWith("_")) throw new Error(`no method ${method}`);
    const result = await session[method](...args);
    const transfer = result instanceof Uint8Array ? [result.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    const error = sdk ? sdk.describeError(e) : { name: "Error", code: "ERROR", message: `the SDK did not load: ${e && e.message}` };
    self.postMessage({ id, error });
  }
};
