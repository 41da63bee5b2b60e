// The page's first moves, made before the editor and terminal code (most of the page's
// JavaScript) is evaluated: the SDK's worker starts, fetches the credential, connects and
// creates the page's sandbox while the rest of the page loads. One message to the worker
// does it all, so none of it waits for the page's main thread. main.js takes the result
// over through `window.playgroundBoot`; it is loaded from here, after the worker is on its
// way (evaluated in the same task, its code held up the worker's start by as long).
import { openSession } from "./remote.js";
import { pageConfig, savedShell, fetchCredentials } from "./config.js";

const cfg = pageConfig(location);
const early = []; // events that came before main.js listened
let listener = null;
const session = openSession({ worker: cfg.worker, onEvent: (ev) => (listener ? listener(ev) : early.push(ev)) });
// The credential is fetched while the SDK loads: by the worker (worker.js), so the boot
// call goes out now and not when this thread is next free (main.js's evaluation holds it
// for a few hundred milliseconds); on this thread (`?worker=0`) from here.
const credentials = cfg.credentials || (cfg.worker ? null : fetchCredentials(cfg.endpoint));
credentials?.catch?.(() => {}); // boot reports it
const booted = session.then((s) =>
  s.boot({
    endpoint: cfg.endpoint,
    credentials,
    // after a reload with a shell open, main.js reattaches to that sandbox instead
    start: !savedShell(),
    timeoutMs: cfg.timeoutMs,
  }),
);
booted.catch(() => {}); // main.js reports a failure when it takes the result

window.playgroundBoot = {
  session,
  booted,
  listen(fn) {
    listener = fn;
    for (const ev of early.splice(0)) fn(ev);
  },
};

import("./main.js");
