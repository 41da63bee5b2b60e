// Entry for browsers, web workers, Deno and bundlers: fetches and instantiates the wasm
// next to this file (top-level await), then re-exports the API.
import init from "./modal_wasm.js";
await init({ module_or_path: new URL("./modal_wasm_bg.wasm", import.meta.url) });
export * from "./modal_wasm.js";
export * from "./errors.js";
export * from "./token.js";
export * from "./compat.js";
