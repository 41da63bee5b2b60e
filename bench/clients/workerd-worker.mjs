// The wasm SDK in workerd (Cloudflare Workers' runtime), driven by bench/run.mjs over HTTP:
// workerd is request-driven, so each POST carries one command of the line protocol as JSON
// and its response is the reply. Bundled by clients/workerd.mjs with the package's workerd
// entry (the wasm imported as a module). The ops are web/sdk-bench.mjs, as everywhere.
import * as modal from "modal-wasm";
import { sdkBench } from "../web/sdk-bench.mjs";

const ops = sdkBench(async () => modal);
let setupArgs = null;
let setupDone = false;

export default {
  async fetch(request) {
    let reply;
    try {
      const cmd = await request.json();
      const fn = ops[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      if (cmd.op === "setup") setupArgs = cmd;
      // workerd ties I/O objects to the request that made them: every request builds its own
      // client (untimed; the app lookup is one call) rather than reuse one across requests
      else if (setupArgs && setupDone) await ops.setup(setupArgs);
      reply = { ok: true, ...(await fn(cmd)) };
      if (cmd.op === "setup") setupDone = true;
    } catch (e) {
      reply = { ok: false, error: String(e && e.stack ? e.stack : e) };
    }
    return Response.json(reply);
  },
};
