// Loads a package made by plain `wasm-pack build --target TARGET` (wasm-pack-targets.sh) in
// Node (nodejs) or Deno (web, deno, bundler), then calls into it: a client, an image, a
// typed error thrown synchronously and one through a rejected promise (both cross the
// externref table that a bad wasm-opt pass corrupts).
const args = globalThis.Deno ? Deno.args : process.argv.slice(2);
const [target, dir] = args;
const file = (name) => new URL(`file://${dir}/${name}`);

let m;
if (target === "nodejs") {
  const { createRequire } = await import("node:module");
  m = createRequire(import.meta.url)(`${dir}/modal_wasm.js`);
} else if (target === "web") {
  m = await import(file("modal_wasm.js").href);
  await m.default({ module_or_path: await Deno.readFile(file("modal_wasm_bg.wasm")) });
} else {
  m = await import(file("modal_wasm.js").href); // instantiates on import
}

const client = new m.ModalClient({ endpoint: "http://127.0.0.1:9", tokenId: "ak-test", tokenSecret: "as-test" });
const image = client.images.fromRegistry("alpine:3.21");
if (image.tag !== "alpine:3.21") throw new Error(`${target}: image.tag was ${image.tag}`);
const code = (f) => {
  try { f(); } catch (e) { return e.code; }
  return "no error";
};
const sync = code(() => client.images.fromRegistry(42));
if (sync !== "INVALID") throw new Error(`${target}: fromRegistry(42) threw ${sync}, not INVALID`);
const rejected = await client.sandboxes.create("not an app", image).then(() => "no error", (e) => e.code);
if (rejected !== "INVALID") throw new Error(`${target}: create("not an app") rejected with ${rejected}, not INVALID`);
client.close();
console.log(`${target}: instantiated; client, image, InvalidError thrown and rejected: ok`);
