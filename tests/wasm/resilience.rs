#![cfg(target_arch = "wasm32")]
//! Stream resilience in headless Chromium against real sandboxd processes: resume after
//! the server cuts a stream mid-output (byte-exact), and a reader's cancel reaching the
//! server. SANDBOXD_FAULT_URL is a second sandboxd started with
//! `--fault-cut-stdio-after 1000000` (scripts/test-wasm.sh); both use the same token.

mod common;

use common::{check, client_at};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/resilience.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = resumeAfterServerCuts)]
    async fn resume_after_server_cuts(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = cancelReachesServer)]
    async fn cancel_reaches_server(c: JsValue, stats_url: String) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen_test]
async fn resume_after_the_server_cuts_streams_is_byte_exact() {
    let Some(c) = option_env!("SANDBOXD_FAULT_URL").and_then(client_at) else {
        console_log!("SANDBOXD_FAULT_URL unset at build time: skipped");
        return;
    };
    check(resume_after_server_cuts(c).await);
}

#[wasm_bindgen_test]
async fn cancel_of_a_reader_reaches_the_server() {
    let Some(url) = option_env!("SANDBOXD_URL") else {
        console_log!("SANDBOXD_URL unset at build time: skipped");
        return;
    };
    let Some(c) = client_at(url) else { return };
    check(cancel_reaches_server(c, format!("{url}/__sandboxd/stats")).await);
}
