// Entry for Cloudflare Workers (workerd): the wasm is imported as a compiled
// WebAssembly.Module (no fetch, no eval) and instantiated synchronously.
import wasm from "./modal_wasm_bg.wasm";
import { initSync } from "./modal_wasm.js";
initSync({ module: wasm });
export * from "./modal_wasm.js";
export * from "./errors.js";
export * from "./token.js";
export * from "./compat.js";
