#![cfg(target_arch = "wasm32")]
//! The basic flow (create, exec, stdout, exit code, terminate) with the SDK running in a
//! dedicated worker in headless Chromium, against a live sandboxd.

mod common;

use common::{check, client};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen(module = "/tests/wasm/live.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = basicFlow)]
    async fn basic_flow(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = stdioAndExitCodes)]
    async fn stdio_and_exit_codes(c: JsValue) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen_test]
async fn basic_flow_in_a_dedicated_worker() {
    let Some(c) = client() else { return };
    check(basic_flow(c.clone()).await);
    check(stdio_and_exit_codes(c).await);
}
