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
//! Layout: plain Rust logic that is tested natively (`error`, `retry`, `ids`, `auth`,
//! `endpoint`, `cursor`, `exit`, `utf8`, `params`, `stdio`), the wire layer (`grpc`: a
//! small gRPC-web client over `fetch`; `rpc`: metadata, auth, retries), and
//! the thin `#[wasm_bindgen]` facade (`api`, `js`).

pub mod api;
pub mod auth;
pub mod cursor;
pub mod endpoint;
pub mod error;
pub mod exit;
pub mod fs;
pub mod grpc;
pub mod ids;
pub mod js;
pub mod params;
pub mod retry;
pub mod rpc;
pub mod stdio;
pub mod utf8;

pub use error::{Error, ErrorKind};
