#![cfg(target_arch = "wasm32")]
//! Live suite: the JS API in headless Chromium against a running sandboxd.
//!
//! The server comes in at compile time: SANDBOXD_URL, SANDBOXD_TOKEN_ID,
//! SANDBOXD_TOKEN_SECRET (scripts/test-wasm.sh sets them). Without them every test is
//! skipped with a message. The test bodies are JavaScript (what users write), driven by
//! one Rust test each.

mod common;

use common::{check, make_client, run};
use modal_wasm::api::ModalClient;
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/live.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = basicFlow)]
    async fn basic_flow(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = stdioAndExitCodes)]
    async fn stdio_and_exit_codes(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = bigOutput)]
    async fn big_output(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = cancelReader)]
    async fn cancel_reader(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = terminateAndReturncode)]
    async fn terminate_and_returncode(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = tagsNamesAndList)]
    async fn tags_names_and_list(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = badInput)]
    async fn bad_input(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = abortSignal)]
    async fn abort_signal(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = authErrors)]
    async fn auth_errors(bad_client: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = terminalFromJs)]
    async fn terminal_from_js(c: JsValue) -> Result<JsValue, JsValue>;
}

fn code_of(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn create_exec_echo_terminate() {
    run(basic_flow).await;
}

#[wasm_bindgen_test]
async fn exec_stdio_stdin_and_exit_codes() {
    run(stdio_and_exit_codes).await;
}

#[wasm_bindgen_test]
async fn ten_megabytes_through_a_readable_stream() {
    run(big_output).await;
}

#[wasm_bindgen_test]
async fn cancelling_a_reader_stops_the_stream() {
    run(cancel_reader).await;
}

#[wasm_bindgen_test]
async fn terminate_gives_returncode_137() {
    run(terminate_and_returncode).await;
}

#[wasm_bindgen_test]
async fn tags_from_name_and_list() {
    run(tags_names_and_list).await;
}

#[wasm_bindgen_test]
async fn bad_input_gives_typed_errors() {
    run(bad_input).await;
}

#[wasm_bindgen_test]
async fn abort_signal_rejects_with_its_reason() {
    run(abort_signal).await;
}

#[wasm_bindgen_test]
async fn exec_on_a_terminal_resize_and_attach_from_js() {
    run(terminal_from_js).await;
}

#[wasm_bindgen_test]
async fn wrong_credentials_give_auth_error() {
    if let (Some(url), Some(id)) = (
        option_env!("SANDBOXD_URL"),
        option_env!("SANDBOXD_TOKEN_ID"),
    ) {
        let bad = make_client(url, id, "as-wrong").unwrap();
        check(auth_errors(bad).await);
    }
}

#[wasm_bindgen_test]
fn constructor_rejects_bad_params() {
    let e = ModalClient::new(None).err().expect("no params");
    assert_eq!(code_of(&e), "INVALID");
    let e = make_client("ftp://x", "a", "b").expect_err("bad scheme");
    assert_eq!(code_of(&e), "INVALID");
    let e = make_client("http://127.0.0.1:1", "", "").expect_err("no token");
    assert_eq!(code_of(&e), "AUTH");
    assert!(e.is_instance_of::<js_sys::Error>());
    let e = ModalClient::new(Some(Ts::new_unchecked(JsValue::from(7))))
        .err()
        .expect("number");
    assert_eq!(code_of(&e), "INVALID");
}
