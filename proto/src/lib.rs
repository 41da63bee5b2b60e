//! The subset of Modal's protocol used by modal-wasm and sandboxd, generated from
//! `modal_proto/*.proto` (themselves generated from Modal's published descriptors by
//! `tools/subset.py`, and checked against them by `tests/compare_descriptors.py`), and the
//! project's own extension beside it (`modal_wasm/*.proto`, a package of its own).
#![allow(clippy::all, missing_docs)]

pub mod client {
    tonic::include_proto!("modal.client");
}

pub mod task_command_router {
    tonic::include_proto!("modal.task_command_router");
}

/// The project's own calls, which Modal's protocol lacks (`modal_wasm/terminal.proto`).
pub mod terminal {
    tonic::include_proto!("modal_wasm.terminal.v1");
}
