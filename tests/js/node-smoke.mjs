// Node 20+: the package's "node" entry, by its bare name.
import * as modal from "modal-wasm";
import { smoke } from "./smoke.mjs";

const env = process.env;
console.log(await smoke(modal, { endpoint: env.SANDBOXD_URL, tokenId: env.SANDBOXD_TOKEN_ID, tokenSecret: env.SANDBOXD_TOKEN_SECRET }, "node"));
