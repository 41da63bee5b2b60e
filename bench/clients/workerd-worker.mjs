// The wasm SDK in workerd (Cloudflare Workers' runtime), driven by bench/run.mjs over HTTP:
// workerd is request-driven, so each POST carries one command of the line protocol as JSON
// and its response is the reply. Bundled by clients/workerd.mjs with the package's workerd
// entry (the wasm imported as a module). The ops are web/sdk-bench.mjs, as everywhere.
import * as modal from "modal-wasm";
import { sdkBench } from "../web/sdk-bench.mjs";

// One client for the isolate's life, made by the setup request and used by the later ones,
// as a Worker keeps a module-level client (a client per request would also pay the lazy
// image lookup in every first create).
const ops = sdkBench(async () => modal);

export default {
  async fetch(request) {
    let reply;
    try {
      const cmd = await request.json();
      const fn = ops[cmd.op];
      if (!fn) throw new Error(`unknown op ${cmd.op}`);
      reply = { ok: true, ...(await fn(cmd)) };
    } catch (e) {
      reply = { ok: false, error: String(e && e.stack ? e.stack : e) };
    }
    return Response.json(reply);
  },
};
