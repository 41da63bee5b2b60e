//! The subset of Modal's protocol used by modal-wasm and sandboxd, generated from
//! `modal_proto/*.proto` (themselves generated from Modal's published descriptors by
//! `tools/subset.py`, and checked against them by `tests/compare_descriptors.py`).
#![allow(clippy::all, missing_docs)]

pub mod client {
    tonic::include_proto!("modal.client");
}

pub mod task_command_router {
    tonic::include_proto!("modal.task_command_router");
}
