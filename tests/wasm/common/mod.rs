//! Shared by the wasm-bindgen-test suites: a client for the sandboxd named at build time
//! (SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET, set by scripts/test-wasm.sh),
//! and a rejected JS test body turned into a panic that shows its stack.
#![allow(dead_code)] // each suite uses a part

use modal_wasm::api::ModalClient;
use tsify::Ts;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::console_log;

/// `new ModalClient({ endpoint, tokenId, tokenSecret })`.
pub fn make_client(url: &str, id: &str, secret: &str) -> Result<JsValue, JsValue> {
    let params = js_sys::Object::new();
    for (k, v) in [("endpoint", url), ("tokenId", id), ("tokenSecret", secret)] {
        js_sys::Reflect::set(&params, &k.into(), &v.into()).unwrap();
    }
    ModalClient::new(Some(Ts::new_unchecked(params.into()))).map(Into::into)
}

/// A client of the sandboxd at `url` with the build-time token; `None` (the test is
/// skipped, with a message) when the build had no token.
pub fn client_at(url: &str) -> Option<JsValue> {
    let (Some(id), Some(secret)) = (
        option_env!("SANDBOXD_TOKEN_ID"),
        option_env!("SANDBOXD_TOKEN_SECRET"),
    ) else {
        console_log!("SANDBOXD_TOKEN_ID/SANDBOXD_TOKEN_SECRET unset at build time: skipped");
        return None;
    };
    Some(make_client(url, id, secret).unwrap())
}

/// A client of SANDBOXD_URL; `None` (skipped, with a message) when the build had none.
pub fn client() -> Option<JsValue> {
    let Some(url) = option_env!("SANDBOXD_URL") else {
        console_log!(
            "SANDBOXD_URL/SANDBOXD_TOKEN_ID/SANDBOXD_TOKEN_SECRET unset at build time: skipped"
        );
        return None;
    };
    client_at(url)
}

/// Fails the test with the JS error and its stack.
pub fn fail(e: JsValue) -> ! {
    let stack = js_sys::Reflect::get(&e, &"stack".into()).unwrap_or(e.clone());
    panic!("{e:?}\n{stack:?}");
}

/// Fails the test if the JS body rejected.
pub fn check(r: Result<JsValue, JsValue>) {
    if let Err(e) = r {
        fail(e);
    }
}

/// Runs a JS test body with the client of SANDBOXD_URL (skipped without one).
pub async fn run(f: impl AsyncFnOnce(JsValue) -> Result<JsValue, JsValue>) {
    if let Some(c) = client() {
        check(f(c).await);
    }
}
