#!/usr/bin/env bash
# The SDK's wasm tests: the split-trailers regression tests and the seeded fuzz of the
# gRPC-web decoders (natively, then through both transports in Chromium), the
# wasm-bindgen-test suites in headless Chromium against a live sandboxd (with the fault
# harness of tests/faults: cuts, stalls, kill -9; and random JS values against the whole
# API), the Rust API example crate with both transports, and the npm package build with
# its size gate.
#
# Needs a running sandboxd: SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET (as set by
# scripts/sandboxd-start.sh). Without them the live tests are skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- transports: split trailers regression tests and fuzz of both decoders (native)"
cargo test -q -p modal-wasm --lib grpc:: -- --nocapture 2>&1 | grep -oE "test result.*|FAILED.*|panicked.*|frame fuzz:.*" || true
cargo test -q -p modal-wasm --lib grpc:: >/dev/null
cargo test -q -p tonic-web-wasm-client --lib 2>&1 | grep -E "test result|FAILED|panicked" || true
cargo test -q -p tonic-web-wasm-client --lib >/dev/null

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
  : >"$fault_state.out" # exists before the first read below (the child creates it late)
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
# the fault harness (tests/faults/harness.mjs): a proxy that cuts and stalls connections to
# the live sandboxd, and a sandboxd of its own that the faults suite kills and restarts
harness_pid="" harness_out=""
if [ -n "${SANDBOXD_URL:-}" ] && [ -x target/debug/sandboxd ]; then
  harness_out=$(mktemp /tmp/fault-harness.XXXXXX)
  node tests/faults/harness.mjs --upstream "$SANDBOXD_URL" --sandboxd target/debug/sandboxd \
    --token-id "$SANDBOXD_TOKEN_ID" --token-secret "$SANDBOXD_TOKEN_SECRET" >"$harness_out" 2>&1 &
  harness_pid=$!
  for _ in $(seq 1 200); do
    FAULTS_CONTROL_URL=$(sed -n 's/^faults: control \(http[^ ]*\).*/\1/p' "$harness_out")
    [ -n "$FAULTS_CONTROL_URL" ] && break
    kill -0 "$harness_pid" 2>/dev/null || { cat "$harness_out" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$FAULTS_CONTROL_URL" ] || { cat "$harness_out" >&2; echo "the fault harness did not start" >&2; exit 1; }
  export FAULTS_CONTROL_URL
fi
stop_harness() { # prints its figures (the suites report through it)
  [ -n "$harness_pid" ] || return 0
  kill -TERM "$harness_pid" 2>/dev/null || true
  wait "$harness_pid" 2>/dev/null || true
  harness_pid=""
  grep -E "^(faults|bad input):" "$harness_out" | grep -v "^faults: control" || true
}
cleanup() {
  if [ "$created_webdriver" = 1 ]; then rm -f webdriver.json; fi
  if [ -n "$fault_pid" ]; then kill "$fault_pid" 2>/dev/null || true; fi
  stop_harness
}
# one suite per run, so that a suite whose page Chromium never loads is retried alone; with
# the npm package's allocator (feature talc), so the faults and fuzz run on what ships
for suite in live resilience worker files faults bad_input; do
  scripts/wasm-pack-headless.sh . --test "$suite" --features talc
done
echo "--- figures of the faults and bad-input suites"
stop_harness

echo "--- both transports (the SDK's fetch client, tonic-web-wasm-client) against split replies"
scripts/wasm-pack-headless.sh . --features tonic-web --test transport

echo "--- the Rust API from a Rust crate (examples/rust-sandbox), with each transport"
[ -n "${SANDBOXD_URL:-}" ] || { echo "examples/rust-sandbox needs SANDBOXD_URL (a live sandboxd)" >&2; exit 1; }
scripts/wasm-pack-headless.sh examples/rust-sandbox
scripts/wasm-pack-headless.sh examples/rust-sandbox --features tonic-web

echo "--- npm package build and size gate"
bash scripts/build-pkg.sh
