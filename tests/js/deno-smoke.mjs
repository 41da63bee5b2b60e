// Deno 2: the package's "deno" entry, resolved from node_modules by its bare name. The smoke
// flow, then copyFromLocal/copyToLocal with local paths (Deno's own file API), byte-exact.
import * as modal from "modal-wasm";
import { smoke } from "./smoke.mjs";

const env = Deno.env.toObject();
const cred = { endpoint: env.SANDBOXD_URL, tokenId: env.SANDBOXD_TOKEN_ID, tokenSecret: env.SANDBOXD_TOKEN_SECRET };
const line = await smoke(modal, cred, "deno");

const client = new modal.ModalClient(cred);
const app = await client.apps.fromName("smoke-deno", { createIfMissing: true });
const sb = await client.sandboxes.create(app, client.images.fromRegistry("alpine:3.21"), { timeoutMs: 60_000 });
const dir = await Deno.makeTempDir();
try {
  const data = new Uint8Array(2 * 1024 * 1024 + 5);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(i + 65536, data.length)));
  await Deno.writeFile(`${dir}/in.bin`, data);
  await sb.filesystem.copyFromLocal(`${dir}/in.bin`, "/tmp/in.bin");
  await sb.filesystem.copyToLocal("/tmp/in.bin", `${dir}/out.bin`);
  const back = await Deno.readFile(`${dir}/out.bin`);
  if (back.length !== data.length || back.some((b, i) => b !== data[i])) throw new Error("copyToLocal(path) differs from what copyFromLocal(path) sent");
} finally {
  await sb.terminate();
  await Deno.remove(dir, { recursive: true });
  client.close();
}
console.log(`${line}; copyFromLocal/copyToLocal with paths: ok`);
