//! Generates the prost messages and, by feature, tonic clients (no transport) and servers.
fn main() {
    let client = std::env::var_os("CARGO_FEATURE_CLIENT").is_some();
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();
    println!("cargo:rerun-if-changed=modal_proto");
    println!("cargo:rerun-if-changed=modal_wasm");
    tonic_prost_build::configure()
        .build_client(client)
        .build_server(server)
        .build_transport(false)
        // RPCs a server does not implement answer UNIMPLEMENTED
        .generate_default_stubs(true)
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
}
