#![cfg(target_arch = "wasm32")]
//! Faults, in headless Chromium against real sandboxd processes, driven through the
//! harness of tests/faults/harness.mjs (its control URL comes in at build time as
//! FAULTS_CONTROL_URL, set by scripts/test-wasm.sh; without it the tests are skipped):
//!
//! - 100 MB of stdout and 20 MB of stdin through a proxy that cuts and stalls connections
//!   at random (seeded) points, byte-exact by SHA-256 on both sides;
//! - `kill -9` of a sandboxd with calls of every kind pending: each fails typed within 5 s;
//!   after a restart on the same state dir and port the records are there and the same
//!   client works again.

mod common;

use common::{check, fail, make_client};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/faults.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = faultConfig)]
    async fn fault_config(ctl: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = stdioThroughCuts)]
    async fn stdio_through_cuts(c: JsValue, ctl: &str, seed: u32) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = crashMidStream)]
    async fn crash_mid_stream(c: JsValue, ctl: &str) -> Result<JsValue, JsValue>;
}

struct Config {
    ctl: &'static str,
    faulty_url: String,
    crash_url: String,
    token_id: String,
    token_secret: String,
    seed: u32,
}

async fn config() -> Option<Config> {
    let Some(ctl) = option_env!("FAULTS_CONTROL_URL") else {
        console_log!("FAULTS_CONTROL_URL unset at build time: skipped");
        return None;
    };
    let cfg = fault_config(ctl).await.unwrap_or_else(|e| fail(e));
    let get = |k: &str| js_sys::Reflect::get(&cfg, &k.into()).unwrap_or_default();
    let s = |k: &str| get(k).as_string().unwrap_or_default();
    Some(Config {
        ctl,
        faulty_url: s("faultyUrl"),
        crash_url: s("crashUrl"),
        token_id: s("tokenId"),
        token_secret: s("tokenSecret"),
        seed: get("seed").as_f64().unwrap_or_default() as u32,
    })
}

#[wasm_bindgen_test]
async fn stdio_is_byte_exact_through_random_cuts_and_stalls() {
    let Some(cfg) = config().await else { return };
    let c = make_client(&cfg.faulty_url, &cfg.token_id, &cfg.token_secret).unwrap();
    check(stdio_through_cuts(c, cfg.ctl, cfg.seed).await);
}

#[wasm_bindgen_test]
async fn kill_9_fails_pending_calls_typed_and_a_restart_keeps_every_record() {
    let Some(cfg) = config().await else { return };
    let c = make_client(&cfg.crash_url, &cfg.token_id, &cfg.token_secret).unwrap();
    check(crash_mid_stream(c, cfg.ctl).await);
}
