#![cfg(target_arch = "wasm32")]
//! Stream resilience in headless Chromium against real sandboxd processes: resume after
//! the server cuts a stream mid-output (byte-exact), and a reader's cancel reaching the
//! server. SANDBOXD_FAULT_URL is a second sandboxd started with
//! `--fault-cut-stdio-after 1000000` (scripts/test-wasm.sh); both use the same token.

use modal_wasm::api::ModalClient;
use tsify::Ts;
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

fn client(url: &str) -> Option<JsValue> {
    let (Some(id), Some(secret)) = (
        option_env!("SANDBOXD_TOKEN_ID"),
        option_env!("SANDBOXD_TOKEN_SECRET"),
    ) else {
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

fn check(r: Result<JsValue, JsValue>) {
    if let Err(e) = r {
        let stack = js_sys::Reflect::get(&e, &"stack".into()).unwrap_or(e.clone());
        panic!("{e:?}\n{stack:?}");
    }
}

#[wasm_bindgen_test]
async fn resume_after_the_server_cuts_streams_is_byte_exact() {
    let Some(c) = option_env!("SANDBOXD_FAULT_URL").and_then(client) else {
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
    let Some(c) = client(url) else { return };
    check(cancel_reaches_server(c, format!("{url}/__sandboxd/stats")).await);
}
