//! # modal-wasm
//!
//! Modal's Sandbox API where Modal's own clients cannot run: browsers, web workers, Deno,
//! Cloudflare Workers and Node, over gRPC-web and `fetch`. Two APIs over one core:
//!
//! **Rust**, for any crate compiled to `wasm32-unknown-unknown` (a Leptos or Dioxus app, a
//! worker, a crate's own `#[wasm_bindgen_test]`s): [`Client`], [`Sandbox`],
//! [`ContainerProcess`] and friends, with async methods, Rust option types, stdio as a
//! `futures::Stream` ([`OutputStream`], also `futures::io::AsyncRead`) and a `Sink`
//! ([`Stdin`], also `futures::io::AsyncWrite`), and a choice of [`transport`]: the SDK's
//! own fetch client (default) or tonic with tonic-web-wasm-client (feature `tonic-web`).
//!
//! ```no_run
//! # async fn example() -> modal_wasm::Result<()> {
//! use modal_wasm::{AppFromNameParams, Client, Credentials};
//!
//! let client = Client::builder("http://127.0.0.1:8787")
//!     .credentials(Credentials::workspace("ak-...", "as-..."))
//!     .build()?;
//! let app = client
//!     .apps()
//!     .from_name("demo", &AppFromNameParams { create_if_missing: true, ..Default::default() })
//!     .await?;
//! let image = client.images().from_registry("alpine:3.21")?;
//! let sb = client.sandboxes().create(&app, &image, &Default::default()).await?;
//! let p = sb.exec(["echo", "hi"], &Default::default()).await?;
//! assert_eq!(p.stdout().read_text().await?, "hi\n");
//! sb.terminate().await?;
//! # Ok(())
//! # }
//! ```
//!
//! **JavaScript**, the npm package: a thin `#[wasm_bindgen]` facade (module [`api`]) over the
//! Rust API that adds JS names, promises, web streams, JS errors and option objects.
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
//! Layout: the Rust API (`client`, `sandbox`, `process`, `filesystem`, `objects`,
//! `options`, `credentials`, `transport`); plain logic tested natively (`error`, `duration`,
//! `retry`, `ids`, `auth`, `endpoint`, `cursor`, `exit`, `utf8`, `fs`, `stdio`); the wire
//! (`grpc`: the small gRPC-web client over `fetch`; `rpc`: metadata, credentials, retries,
//! the command router; `wire`: request messages trimmed to the fields the SDK sets); the JS
//! facade (`api`, `js`). Only the APIs are public; everything else is crate-private, so the
//! compiler reports what nothing uses.

#![warn(missing_docs)]

pub mod api;
mod auth;
mod client;
mod codec;
mod credentials;
mod cursor;
mod duration;
mod endpoint;
mod error;
mod exit;
mod filesystem;
mod fs;
mod grpc;
mod ids;
mod image_build;
mod js;
mod json;
mod logs;
mod objects;
mod options;
mod process;
mod retry;
mod rpc;
mod sandbox;
mod stdio;
mod suggest;
pub mod transport;
mod utf8;
mod wire;

pub use client::{Apps, Client, ClientBuilder, Images, SandboxList, Sandboxes, Secrets, Volumes};
pub use credentials::{Credentials, TokenSource};
pub use error::{Error, ErrorData, ErrorKind, Result};
pub use filesystem::{OnProgress, Progress, SandboxFilesystem};
pub use fs::{FileInfo, FileType};
pub use logs::{
    LogEntry, LogSource, LogStream, LogsFetchParams, LogsTailParams, SandboxLogs, FETCH_LIMIT,
};
pub use objects::{App, Image, Probe, ProbeCheck, Secret, Volume};
pub use options::{
    AppFromNameParams, ImageDockerfileCommandsParams, ImageTtl, PtyParams,
    SandboxCreateConnectTokenParams, SandboxCreateParams, SandboxExecParams, SandboxFromNameParams,
    SandboxListParams, SecretFromNameParams, SecretFromObjectParams, SnapshotParams, StdioBehavior,
    VolumeFromNameParams,
};
pub use process::ContainerProcess;
pub use sandbox::{ConnectCredentials, Sandbox, Tunnel};
pub use stdio::{OutputReader, OutputStream, Stdin};

// feature talc (the npm package): 2.9 KB gzip smaller than dlmalloc (scripts/build-pkg.sh)
#[cfg(all(feature = "talc", target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
