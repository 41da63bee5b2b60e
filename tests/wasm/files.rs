#![cfg(target_arch = "wasm32")]
//! Files, images, snapshots, mounts, volumes, tunnels, connect tokens and readiness probes
//! (issue 4): the JS API in headless Chromium against a running sandboxd, with real content.
//!
//! Like the live suite, the server comes in at compile time (SANDBOXD_URL,
//! SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET; scripts/test-wasm.sh sets them) and every test
//! is skipped without them. The bodies are JavaScript in files.js.

mod common;

use common::{check, client, run};
use modal_wasm::api::Probe;
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/files.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = bigBlobRoundTrip)]
    async fn big_blob_round_trip(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = listStatRemove)]
    async fn list_stat_remove(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = watchCreateModify)]
    async fn watch_create_modify(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = fileIO)]
    async fn file_io(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = snapshotFilesystem)]
    async fn snapshot_filesystem(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = snapshotDirectoryAndMount)]
    async fn snapshot_directory_and_mount(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = volumesReload)]
    async fn volumes_reload(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = tunnelsAndConnectTokens)]
    async fn tunnels_and_connect_tokens(c: JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = readinessProbe)]
    async fn readiness_probe(
        c: JsValue,
        tcp_probe: JsValue,
        exec_probe: JsValue,
    ) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = abortSignals)]
    async fn abort_signals(c: JsValue) -> Result<JsValue, JsValue>;
}

#[wasm_bindgen_test]
async fn five_megabyte_blob_round_trip_byte_exact() {
    run(big_blob_round_trip).await;
}

#[wasm_bindgen_test]
async fn list_files_stat_typed_errors_and_recursive_remove() {
    run(list_stat_remove).await;
}

#[wasm_bindgen_test]
async fn watch_sees_create_and_modify() {
    run(watch_create_modify).await;
}

#[wasm_bindgen_test]
async fn open_gives_a_python_style_file() {
    run(file_io).await;
}

#[wasm_bindgen_test]
async fn snapshot_filesystem_starts_a_new_sandbox() {
    run(snapshot_filesystem).await;
}

#[wasm_bindgen_test]
async fn snapshot_directory_mounts_writable_elsewhere() {
    run(snapshot_directory_and_mount).await;
}

#[wasm_bindgen_test]
async fn volumes_are_shared_and_reloaded() {
    run(volumes_reload).await;
}

#[wasm_bindgen_test]
async fn tunnel_serves_http_and_connect_tokens_gate() {
    run(tunnels_and_connect_tokens).await;
}

#[wasm_bindgen_test]
async fn readiness_probe_waits_for_the_port() {
    let Some(c) = client() else { return };
    let interval = || {
        let o = js_sys::Object::new();
        js_sys::Reflect::set(&o, &"intervalMs".into(), &100.into()).unwrap();
        Some(Ts::new_unchecked(o.into()))
    };
    let tcp = Probe::with_tcp(8000.into(), interval()).unwrap();
    let argv = js_sys::Array::of3(&"test".into(), &"-f".into(), &"/tmp/ok".into());
    let exec = Probe::with_exec(argv.into(), interval()).unwrap();
    check(readiness_probe(c, tcp.into(), exec.into()).await);
}

#[wasm_bindgen_test]
async fn abort_signals_cancel_file_calls() {
    run(abort_signals).await;
}
