// Cloudflare Workers (workerd): the package's "workerd" entry (wasm imported as a module,
// instantiated synchronously). Each request runs the smoke flow against sandboxd.
import * as modal from "modal-wasm";
import { smoke } from "../smoke.mjs";

export default {
  async fetch(_request, env) {
    try {
      const line = await smoke(modal, { endpoint: env.SANDBOXD_URL, tokenId: env.SANDBOXD_TOKEN_ID, tokenSecret: env.SANDBOXD_TOKEN_SECRET }, "workerd");
      return new Response(line + "\n");
    } catch (e) {
      return new Response(`workerd smoke failed: ${e?.stack ?? e}\n`, { status: 500 });
    }
  },
};
