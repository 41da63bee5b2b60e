// Entry for Node 20+: reads the wasm next to this file and instantiates it synchronously.
import { readFile } from "node:fs/promises";
import { initSync } from "./modal_wasm.js";
initSync({ module: await readFile(new URL("./modal_wasm_bg.wasm", import.meta.url)) });
export * from "./modal_wasm.js";
export * from "./errors.js";
export * from "./token.js";
export * from "./compat.js";
