export * from "./modal_wasm.js";
export * from "./errors.js";
export * from "./token.js";
