#![cfg(target_arch = "wasm32")]
//! Split-trailers regression tests of the transports, in Chromium: a gRPC-web reply whose
//! body fetch delivers cut at every byte (and one byte per chunk) must give the same
//! messages and status through every transport. tonic-web-wasm-client 0.9.2 unpatched
//! fails these for cuts inside the trailers frame (its issue #97); the decoder's own native
//! tests are in src/grpc/frame.rs and vendor/tonic-web-wasm-client. Run with
//! `--features tonic-web` to cover TonicWebTransport too (scripts/test-wasm.sh does).

use bytes::Bytes;
use futures_util::StreamExt;
use modal_wasm::transport::{Call, Code, FetchTransport, Status, Transport};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/wasm/transport.js")]
extern "C" {
    #[wasm_bindgen(js_name = replyInChunks)]
    fn reply_in_chunks(chunks: js_sys::Array) -> js_sys::Function;
}

fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![flag];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn body(messages: &[&[u8]], trailers: &str) -> Vec<u8> {
    let mut out: Vec<u8> = messages.iter().flat_map(|m| frame(0, m)).collect();
    out.extend(frame(0x80, trailers.as_bytes()));
    out
}

/// The messages of one call whose reply arrives as `chunks`, and its final status (`None`
/// for OK).
async fn call(t: &dyn Transport, chunks: &[&[u8]]) -> (Vec<Bytes>, Option<Status>) {
    let arr = js_sys::Array::new();
    for c in chunks {
        arr.push(&js_sys::Uint8Array::from(*c));
    }
    let restore = reply_in_chunks(arr);
    let call = Call {
        base_url: "http://127.0.0.1:9".into(),
        path: "/modal.client.ModalClient/AppGetOrCreate",
        headers: vec![("x-modal-client-type", "8".into())],
        message: vec![],
    };
    let mut out = (Vec::new(), None);
    match t.call(call).await {
        Err(s) => out.1 = Some(s),
        Ok(mut messages) => {
            while let Some(m) = messages.next().await {
                match m {
                    Ok(m) => out.0.push(m),
                    Err(s) => out.1 = Some(s),
                }
            }
        }
    }
    let _ = restore.call0(&JsValue::NULL);
    out
}

fn transports() -> Vec<(&'static str, Box<dyn Transport>)> {
    #[allow(unused_mut)]
    let mut all: Vec<(&'static str, Box<dyn Transport>)> =
        vec![("FetchTransport", Box::new(FetchTransport))];
    #[cfg(feature = "tonic-web")]
    all.push((
        "TonicWebTransport",
        Box::new(modal_wasm::transport::TonicWebTransport::new()),
    ));
    all
}

#[wasm_bindgen_test]
async fn error_trailers_split_at_every_byte() {
    let whole = body(
        &[b"hello", b""],
        "grpc-status:5\r\ngrpc-message:no%20such%20app\r\n",
    );
    for (name, t) in transports() {
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            let (messages, status) = call(&*t, &[a, b]).await;
            assert_eq!(
                messages,
                vec![Bytes::from_static(b"hello"), Bytes::new()],
                "{name}, cut at {cut}"
            );
            let status = status.unwrap_or_else(|| panic!("{name}, cut at {cut}: no status"));
            assert_eq!(
                (status.code(), status.message()),
                (Code::NotFound, "no such app"),
                "{name}, cut at {cut}"
            );
        }
    }
}

#[wasm_bindgen_test]
async fn ok_trailers_split_at_every_byte_and_byte_by_byte() {
    let whole = body(&[b"hi"], "grpc-status: 0\r\n");
    for (name, t) in transports() {
        for cut in 0..=whole.len() {
            let (a, b) = whole.split_at(cut);
            let (messages, status) = call(&*t, &[a, b]).await;
            assert_eq!(
                messages,
                vec![Bytes::from_static(b"hi")],
                "{name}, cut at {cut}"
            );
            assert_eq!(status, None, "{name}, cut at {cut}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        let (messages, status) = call(&*t, &bytes).await;
        assert_eq!(
            messages,
            vec![Bytes::from_static(b"hi")],
            "{name}, byte by byte"
        );
        assert_eq!(status, None, "{name}, byte by byte");
    }
}

#[wasm_bindgen_test]
async fn a_body_cut_inside_the_trailers_is_an_error() {
    let whole = body(&[b"x"], "grpc-status:0\r\n");
    for (name, t) in transports() {
        for cut in frame(0, b"x").len() + 1..whole.len() {
            let (_, status) = call(&*t, &[&whole[..cut]]).await;
            let status = status.unwrap_or_else(|| panic!("{name}, cut at {cut}: no error"));
            assert_ne!(status.code(), Code::Ok, "{name}, cut at {cut}");
        }
    }
}

/// Bytes that are not UTF-8 in a trailer, raw or percent-encoded, become U+FFFD (decoded by
/// the JS engine's TextDecoder in wasm, as `String::from_utf8_lossy` does natively).
#[wasm_bindgen_test]
async fn invalid_utf8_in_grpc_message_becomes_replacement_characters() {
    let mut whole = frame(0, b"x");
    whole.extend(frame(
        0x80,
        b"grpc-status:3\r\ngrpc-message:bad %FF and \xff\xfe raw %C3%A9\r\n",
    ));
    let (_, status) = call(&FetchTransport, &[&whole]).await;
    let status = status.expect("an error status");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "bad \u{FFFD} and \u{FFFD}\u{FFFD} raw \u{e9}"
    );
}

// ---- request encoding ------------------------------------------------------------------

/// A request with every kind of nested message field: optional (two levels deep),
/// repeated, and a message inside a oneof.
fn nested_request() -> modal_proto::client::SandboxCreateRequest {
    modal_proto::client::SandboxCreateRequest {
        app_id: "ap-1".into(),
        definition: Some(modal_proto::client::Sandbox {
            entrypoint_args: vec!["sleep".into(), "infinity".into()],
            image_id: "im-1".into(),
            secret_ids: vec!["st-1".into()],
            resources: Some(modal_proto::client::Resources {
                memory_mb: 512,
                milli_cpu: 1500,
                gpu_config: Some(modal_proto::client::GpuConfig {
                    count: 2,
                    gpu_type: "A10G".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volume_mounts: vec![
                modal_proto::client::VolumeMount {
                    volume_id: "vo-1".into(),
                    mount_path: "/data".into(),
                    read_only: true,
                    ..Default::default()
                },
                modal_proto::client::VolumeMount::default(),
                modal_proto::client::VolumeMount {
                    volume_id: "vo-2".repeat(40),
                    mount_path: "/big".into(),
                    sub_path: Some("x".into()),
                    ..Default::default()
                },
            ],
            network_access: Some(modal_proto::client::NetworkAccess {
                network_access_type: 2,
                allowed_cidrs: vec!["10.0.0.0/8".into()],
                ..Default::default()
            }),
            readiness_probe: Some(modal_proto::client::Probe {
                interval_ms: Some(250),
                probe_oneof: Some(modal_proto::client::probe::ProbeOneof::ExecCommand(
                    modal_proto::client::probe::ExecCommand {
                        argv: vec!["true".into()],
                    },
                )),
            }),
            ..Default::default()
        }),
        environment_name: "main".into(),
        tags: vec![modal_proto::client::SandboxTag {
            tag_name: "a".into(),
            tag_value: "1".into(),
        }],
    }
}

/// `nested_request()` as prost encodes it natively (sandboxd's decoder reads these bytes).
const NESTED_REQUEST_NATIVE: &[&str] = &[
    "0a0461702d311290020a05736c6565700a08696e66696e6974791a04696d2d31",
    "220473742d312a1010800418dc0b220810022204413130476a0f0a04766f2d31",
    "12052f6461746120016a006aac010aa001766f2d32766f2d32766f2d32766f2d",
    "32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d",
    "32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d",
    "32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d",
    "32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d32766f2d",
    "32766f2d32766f2d32766f2d32766f2d3212042f6269672a0178b2010e080212",
    "0a31302e302e302e302f38b2020b12060a047472756518fa011a046d61696e22",
    "060a0161120131",
];

/// In wasm the vendored prost-derive writes a nested message through a buffer of its own
/// instead of `encoded_len` first (vendor/prost-derive): the bytes must be the native ones.
#[wasm_bindgen_test]
fn nested_messages_encode_as_natively() {
    use prost::Message;
    let hex: String = NESTED_REQUEST_NATIVE.concat();
    let native: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let msg = nested_request();
    assert_eq!(msg.encode_to_vec(), native);
    assert_eq!(msg.encoded_len(), native.len());
    let back = modal_proto::client::SandboxCreateRequest::decode(&native[..]).unwrap();
    assert_eq!(back, msg);
}
