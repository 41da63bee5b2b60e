#![cfg(target_arch = "wasm32")]
//! The basic flow (create, exec, stdout, exit code, terminate) with the SDK running in a
//! dedicated worker in headless Chromium, against a live sandboxd.

use modal_wasm::api::ModalClient;
use tsify::Ts;
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

fn client() -> Option<JsValue> {
    let (Some(url), Some(id), Some(secret)) = (
        option_env!("SANDBOXD_URL"),
        option_env!("SANDBOXD_TOKEN_ID"),
        option_env!("SANDBOXD_TOKEN_SECRET"),
    ) else {
        console_log!("SANDBOXD_URL unset at build time: skipped");
        return None;
    };
    let params = js_sys::Object::new();
    for (k, v) in [("endpoint", url), ("tokenId", id), ("tokenSecret", secret)] {
        js_sys::Reflect::set(&params, &k.into(), &v.into()).ok()?;
    }
    ModalClient::new(Some(Ts::new_unchecked(params.into())))
        .ok()
        .map(Into::into)
}

#[wasm_bindgen_test]
async fn basic_flow_in_a_dedicated_worker() {
    let Some(c) = client() else { return };
    if let Err(e) = basic_flow(c.clone()).await {
        panic!("{e:?}");
    }
    if let Err(e) = stdio_and_exit_codes(c).await {
        panic!("{e:?}");
    }
}
