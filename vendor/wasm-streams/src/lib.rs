//! Working with the Web [Streams API](https://developer.mozilla.org/en-US/docs/Web/API/Streams_API)
//! in Rust.
//!
//! This crate provides wrappers around [`ReadableStream`], [`WritableStream`] and [`TransformStream`].
//! It also supports converting from and into [`Stream`]s and [`Sink`]s from the [futures] crate.
//!
//! [`Stream`]: https://docs.rs/futures/0.3.30/futures/stream/trait.Stream.html
//! [`Sink`]: https://docs.rs/futures/0.3.30/futures/sink/trait.Sink.html
//! [futures]: https://docs.rs/futures/0.3.30/futures/index.html

// modal-wasm: off wasm32 the #[wasm_bindgen] exports are plain unused code (a local path
// dependency gets no lint cap, so native `cargo clippy` would report them).
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub use readable::ReadableStream;
pub use transform::TransformStream;
pub use writable::WritableStream;

pub(crate) mod queuing_strategy;
pub mod readable;
pub mod transform;
pub(crate) mod util;
pub mod writable;
