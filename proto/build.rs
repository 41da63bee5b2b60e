//! Generates the prost messages and, by feature, tonic clients (no transport) and servers;
//! and, always, the table of RPCs (`rpcs.rs`: path and message types of every RPC that
//! `subset.txt` lists, from the compiled descriptors).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use prost::Message as _;
use prost_types::FileDescriptorSet;

fn main() {
    let client = std::env::var_os("CARGO_FEATURE_CLIENT").is_some();
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let descriptors = out.join("modal_proto.pb");
    println!("cargo:rerun-if-changed=modal_proto");
    println!("cargo:rerun-if-changed=modal_wasm");
    println!("cargo:rerun-if-changed=subset.txt");
    tonic_prost_build::configure()
        .build_client(client)
        .build_server(server)
        .build_transport(false)
        // RPCs a server does not implement answer UNIMPLEMENTED
        .generate_default_stubs(true)
        .file_descriptor_set_path(&descriptors)
        .compile_protos(
            &[
                "modal_proto/api.proto",
                "modal_proto/task_command_router.proto",
                // the project's own extension (not Modal's): terminal resize
                "modal_wasm/terminal.proto",
            ],
            &["."],
        )
        .expect("compiling modal_proto/*.proto (is protoc installed? run scripts/setup.sh)");

    let set = FileDescriptorSet::decode(&*std::fs::read(&descriptors).expect("descriptor set"))
        .expect("decoding the descriptor set");
    let subset = std::fs::read_to_string("subset.txt").expect("subset.txt");
    std::fs::write(out.join("rpcs.rs"), rpc_table(&set, &subset)).expect("writing rpcs.rs");
}

/// The Rust path (from the crate root) of a message named by its full proto name.
fn rust_type(proto: &str) -> String {
    match proto {
        ".google.protobuf.Empty" => "()".to_string(),
        _ => {
            let (package, name) = proto
                .trim_start_matches('.')
                .rsplit_once('.')
                .expect("a packaged message name");
            let module = match package {
                "modal.client" => "client",
                "modal.task_command_router" => "task_command_router",
                "modal_wasm.terminal.v1" => "terminal",
                other => panic!("an RPC message from an unexpected package: {other}"),
            };
            format!("crate::{module}::{name}")
        }
    }
}

/// `AppGetOrCreate` -> `APP_GET_OR_CREATE`; `SandboxCreateV2` -> `SANDBOX_CREATE_V2`.
fn const_name(method: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = method.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() && !chars[i - 1].is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// One module per service, one constant per RPC listed in `subset.txt` (a listed RPC
/// missing from the descriptors fails the build) and per RPC of the project's own services.
fn rpc_table(set: &FileDescriptorSet, subset: &str) -> String {
    let listed: Vec<&str> = subset
        .lines()
        .filter_map(|l| l.trim().strip_prefix("rpc "))
        .map(str::trim)
        .collect();
    let mut services: BTreeMap<String, String> = BTreeMap::new();
    let mut found = 0;
    for file in &set.file {
        for service in &file.service {
            let service_name = service.name();
            // Modal's services: the RPCs subset.txt lists; the project's own: all of them
            let (module, own) = match file.package() {
                "modal.client" => ("modal_client", false),
                "modal.task_command_router" => ("task_command_router", false),
                "modal_wasm.terminal.v1" => ("terminal", true),
                _ => continue,
            };
            let body = services.entry(module.to_string()).or_default();
            for m in &service.method {
                let key = format!("{service_name}/{}", m.name());
                if own {
                    // not Modal's, so not in subset.txt
                } else if listed.contains(&key.as_str()) {
                    found += 1;
                } else {
                    continue;
                }
                let kind = match (m.client_streaming(), m.server_streaming()) {
                    (false, false) => "Unary",
                    (false, true) => "ServerStreaming",
                    (true, false) => "ClientStreaming",
                    (true, true) => "Streaming",
                };
                let path = format!("/{}.{service_name}/{}", file.package(), m.name());
                let (req, resp) = (rust_type(m.input_type()), rust_type(m.output_type()));
                writeln!(body, "    /// `{path}`").unwrap();
                writeln!(
                    body,
                    "    pub const {}: crate::rpc::{kind}<{req}, {resp}> = crate::rpc::{kind}::new({path:?});",
                    const_name(m.name())
                )
                .unwrap();
            }
        }
    }
    assert_eq!(
        found,
        listed.len(),
        "subset.txt lists RPCs the .proto files lack: regenerate them (scripts/proto-regen.sh)"
    );
    let mut out = String::from("// Generated by proto/build.rs from subset.txt: do not edit.\n");
    for (module, body) in services {
        writeln!(
            out,
            "/// The RPCs of `{module}`.\npub mod {module} {{\n{body}}}"
        )
        .unwrap();
    }
    out
}
