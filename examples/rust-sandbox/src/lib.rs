//! A small crate that uses modal-wasm's Rust API, the way a Leptos or Dioxus app (or any
//! Rust crate compiled to `wasm32-unknown-unknown`) would: run a command in a fresh
//! sandbox and collect what it printed. Its tests (`tests/sandbox.rs`) run in headless
//! Chromium against a sandboxd:
//!
//! ```sh
//! SANDBOXD_URL=http://127.0.0.1:8787 SANDBOXD_TOKEN_ID=ak-... SANDBOXD_TOKEN_SECRET=as-... \
//!   wasm-pack test --headless --chrome examples/rust-sandbox [--features tonic-web]
//! ```

use std::time::Duration;

use modal_wasm::{AppFromNameParams, Client, Result, SandboxCreateParams, SandboxExecParams};

/// What a command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its stdout, as text.
    pub stdout: String,
    /// Its stderr, as text.
    pub stderr: String,
    /// Its exit code.
    pub code: i32,
}

/// Runs `command` in a new sandbox of `app_name` from the registry image `image`, and
/// terminates the sandbox afterwards, whatever happened.
pub async fn run_in_sandbox(
    client: &Client,
    app_name: &str,
    image: &str,
    command: &[&str],
) -> Result<Output> {
    let app = client
        .apps()
        .from_name(
            app_name,
            &AppFromNameParams {
                create_if_missing: true,
                ..Default::default()
            },
        )
        .await?;
    let image = client.images().from_registry(image)?;
    let params = SandboxCreateParams {
        timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    };
    let sandbox = client.sandboxes().create(&app, &image, &params).await?;
    let output = async {
        let process = sandbox
            .exec(command.iter().copied(), &SandboxExecParams::default())
            .await?;
        Ok(Output {
            stdout: process.stdout().read_text().await?,
            stderr: process.stderr().read_text().await?,
            code: process.wait().await?,
        })
    }
    .await;
    sandbox.terminate().await?;
    output
}
