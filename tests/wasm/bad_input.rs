#![cfg(target_arch = "wasm32")]
//! Bad input to the SDK, in headless Chromium: random JS values (wrong types, cyclic
//! objects, huge strings, getters and Proxies that throw, detached buffers, symbols,
//! BigInt, fake streams and signals, freed handles) to every constructor, static function,
//! method, getter and option of the package, against the sandboxd of SANDBOXD_URL. Always a
//! typed error, never a wasm trap or a raw JS exception through the wasm, never a hang (see
//! bad_input.js). The seed is random and printed; FUZZ_SEED=<n> at build time replays it.

mod common;

use common::{check, client, make_client};
use modal_wasm::api::Probe;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/bad_input.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = fuzzApi)]
    async fn fuzz_api(env: JsValue) -> Result<JsValue, JsValue>;
}

/// The sources the option names are read from (every option is fuzzed, new ones too).
const SOURCES: &[&str] = &[
    include_str!("../../src/js/options.rs"),
    include_str!("../../src/api/client.rs"),
    include_str!("../../src/api/objects.rs"),
    include_str!("../../src/api/sandbox.rs"),
    include_str!("../../src/api/process.rs"),
    include_str!("../../src/api/filesystem.rs"),
    include_str!("../../src/js/files.js"),
];

#[wasm_bindgen_test]
async fn random_js_values_get_typed_errors_everywhere() {
    let (Some(live), Some(closed)) = (client(), client()) else {
        return;
    };
    let url = option_env!("SANDBOXD_URL").unwrap_or_default();
    let id = option_env!("SANDBOXD_TOKEN_ID").unwrap_or_default();
    let denied = make_client(url, id, "as-wrong-secret").unwrap();
    let probe: JsValue = Probe::with_tcp(8080.into(), None).unwrap().into();
    let seed = option_env!("FUZZ_SEED")
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or_else(|| (js_sys::Math::random() * 4294967296.0) as u32);
    console_log!("bad input: seed {seed}");
    let env = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        js_sys::Reflect::set(&env, &k.into(), &v).unwrap();
    };
    set("url", url.into());
    set("live", live);
    set("closed", closed);
    set("denied", denied);
    set("probe", probe);
    set("seed", seed.into());
    set("rounds", 300.into());
    set("liveRounds", 20.into());
    set("sources", SOURCES.concat().into());
    // FUZZ_VERBOSE=1 at build time logs every call (the last one names a hang's input)
    set("verbose", option_env!("FUZZ_VERBOSE").is_some().into());
    // the summary is printed by the fault harness (tests/faults/harness.mjs) when it runs
    set("report", option_env!("FAULTS_CONTROL_URL").into());
    check(fuzz_api(env.into()).await);
}
