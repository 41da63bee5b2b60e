//! modal-wasm
