//! # modal-wasm
//!
//! Modal's Sandbox API for JavaScript in browsers, web workers, Deno, Cloudflare Workers
//! and Node, over gRPC-web and `fetch`.
//!
//! ```ts
//! import { ModalClient } from "modal-wasm";
//! const modal = new ModalClient({ endpoint: "http://127.0.0.1:8080", tokenId, tokenSecret });
//! const app = await modal.apps.fromName("demo", { createIfMissing: true });
//! const image = modal.images.fromRegistry("alpine:3.21");
//! const sb = await modal.sandboxes.create(app, image);
//! const p = await sb.exec(["echo", "hi"]);
//! console.log(await p.stdout.readText(), await p.wait());
//! await sb.terminate();
//! ```
//!
//! Layout: plain Rust logic that is tested natively (`error`, `options`, `objects`,
//! `duration`, `retry`, `ids`, `auth`, `endpoint`, `cursor`, `exit`, `utf8`, `fs`, `stdio`),
//! the wire layer (`grpc`: a small gRPC-web client over `fetch`; `rpc`: metadata, auth,
//! retries), and the thin `#[wasm_bindgen]` facade (`api`, `js`). Only the API is public;
//! everything else is crate-private, so the compiler reports what nothing uses.

pub mod api;
mod auth;
mod cursor;
mod duration;
mod endpoint;
mod error;
mod exit;
mod fs;
mod grpc;
mod ids;
mod js;
mod objects;
mod options;
mod retry;
mod rpc;
mod stdio;
mod utf8;

pub use error::{Error, ErrorKind, Result};
pub use objects::{App, Image, Probe, ProbeCheck, Secret, Volume};
pub use options::{
    AppFromNameParams, ImageTtl, SandboxCreateConnectTokenParams, SandboxCreateParams,
    SandboxExecParams, SandboxFromNameParams, SandboxListParams, SecretFromNameParams,
    SecretFromObjectParams, SnapshotParams, StdioBehavior, VolumeFromNameParams,
};
