// Deno 2: the package's "deno" entry, resolved from node_modules by its bare name.
import * as modal from "modal-wasm";
import { smoke } from "./smoke.mjs";

const env = Deno.env.toObject();
console.log(await smoke(modal, { endpoint: env.SANDBOXD_URL, tokenId: env.SANDBOXD_TOKEN_ID, tokenSecret: env.SANDBOXD_TOKEN_SECRET }, "deno"));
