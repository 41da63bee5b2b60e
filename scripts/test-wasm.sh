#!/usr/bin/env bash
# The SDK's wasm tests: the split-trailers regression tests of the gRPC-web decoders
# (natively, then through both transports in Chromium), the wasm-bindgen-test suites in
# headless Chromium against a live sandboxd, the Rust API example crate with both
# transports, and the npm package build with its size gate.
#
# Needs a running sandboxd: SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET (as set by
# scripts/sandboxd-start.sh). Without them the live tests are skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- transports: split trailers regression tests of both decoders (native)"
for pkg in modal-wasm tonic-web-wasm-client; do
  filter=""; [ "$pkg" = modal-wasm ] && filter="grpc::"
  cargo test -q -p "$pkg" --lib $filter 2>&1 | grep -E "test result|FAILED|panicked" || true
  cargo test -q -p "$pkg" --lib $filter >/dev/null
done

echo "--- wasm-bindgen-test suites in headless Chromium"
[ -n "${SANDBOXD_URL:-}" ] || echo "warning: SANDBOXD_URL unset: live tests will be skipped" >&2
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
# wasm-bindgen-test-runner reads webdriver.json from the crate root.
created_webdriver=0
if [ ! -e webdriver.json ]; then cp tests/wasm/webdriver.json webdriver.json; created_webdriver=1; fi
cleanup() { if [ "$created_webdriver" = 1 ]; then rm -f webdriver.json; fi; }
trap cleanup EXIT
# The env vars are read with option_env! at compile time: make cargo rebuild when they change.
export SANDBOXD_URL="${SANDBOXD_URL:-}" SANDBOXD_TOKEN_ID="${SANDBOXD_TOKEN_ID:-}" SANDBOXD_TOKEN_SECRET="${SANDBOXD_TOKEN_SECRET:-}"
[ -n "$SANDBOXD_URL" ] || unset SANDBOXD_URL SANDBOXD_TOKEN_ID SANDBOXD_TOKEN_SECRET
# a second sandboxd that cuts every stdio stream after 1 MB, for the resume test
fault_pid=""
if [ -n "${SANDBOXD_URL:-}" ] && [ -x target/debug/sandboxd ]; then
  fault_state=$(mktemp -d /tmp/sandboxd-fault.XXXXXX)
  target/debug/sandboxd serve --listen 127.0.0.1:0 --state-dir "$fault_state" \
    --token-id "$SANDBOXD_TOKEN_ID" --token-secret "$SANDBOXD_TOKEN_SECRET" \
    --fault-cut-stdio-after 1000000 >"$fault_state.out" 2>"$fault_state.log" &
  fault_pid=$!
  for _ in $(seq 1 100); do
    SANDBOXD_FAULT_URL=$(sed -n 's/^sandboxd: listening on \(http:[^ ]*\).*/\1/p' "$fault_state.out")
    [ -n "$SANDBOXD_FAULT_URL" ] && break
    sleep 0.1
  done
  export SANDBOXD_FAULT_URL
fi
cleanup() {
  if [ "$created_webdriver" = 1 ]; then rm -f webdriver.json; fi
  if [ -n "$fault_pid" ]; then kill "$fault_pid" 2>/dev/null || true; fi
}
wasm-pack test --headless --chrome . --test live --test resilience --test worker --test files

echo "--- both transports (the SDK's fetch client, tonic-web-wasm-client) against split replies"
wasm-pack test --headless --chrome . --features tonic-web --test transport

echo "--- the Rust API from a Rust crate (examples/rust-sandbox), with each transport"
[ -n "${SANDBOXD_URL:-}" ] || { echo "examples/rust-sandbox needs SANDBOXD_URL (a live sandboxd)" >&2; exit 1; }
wasm-pack test --headless --chrome examples/rust-sandbox
wasm-pack test --headless --chrome examples/rust-sandbox --features tonic-web

echo "--- npm package build and size gate"
bash scripts/build-pkg.sh
