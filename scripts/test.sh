#!/usr/bin/env bash
# Every test of the project, from a fresh machine: installs what is missing, then runs
# lints, the protocol checks, Rust tests (with a real sandboxd), the conformance runs of
# Modal's Python and JS clients, the wasm suites in headless Chromium (the JS API, both
# transports, the Rust API example crate), the package smoke tests in Node, Deno and
# workerd, and the playground's Playwright test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/test-output"; rm -rf "$OUT"; mkdir -p "$OUT"
export CARGO_TERM_COLOR=never
# Node looks for a package it lacks in every directory up to / (Vite's optional requires do):
# scripts/node-in-repo.cjs keeps the lookups of code in the repository inside it
export NODE_OPTIONS="--require \"$ROOT/scripts/node-in-repo.cjs\"${NODE_OPTIONS:+ $NODE_OPTIONS}"
PY="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-1.6.4}/bin/python"
stage() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

stage setup
bash scripts/setup.sh

stage "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
for features in "--features talc" "--features tonic-web"; do
  # shellcheck disable=SC2086
  cargo clippy -p modal-wasm -p modal-wasm-example-rust-sandbox --target wasm32-unknown-unknown \
    --all-targets $features -q -- -D warnings
done

stage "protocol: .proto files against Modal's descriptors"
"$PY" proto/tools/subset.py proto/subset.txt proto --check
protoc -Iproto --include_imports --descriptor_set_out="$OUT/modal_proto.pb" \
  proto/modal_proto/api.proto proto/modal_proto/task_command_router.proto
"$PY" proto/tests/compare_descriptors.py "$OUT/modal_proto.pb"

stage "build: sandboxd and the in-sandbox helpers"
HELPERS=$(bash scripts/build-helpers.sh)
export SANDBOXD_HELPERS="$HELPERS"
cargo build -q -p sandboxd

stage "rust tests (unit, and sandboxd integration against real sandboxd processes)"
if ! cargo test --workspace >"$OUT/cargo-test.log" 2>&1; then
  grep -E '^(---- |test .* FAILED|thread .* panicked)' -A12 "$OUT/cargo-test.log" | head -150; tail -5 "$OUT/cargo-test.log"; exit 1
fi
grep -E '^(     Running|test result)' "$OUT/cargo-test.log"

stage "a live sandboxd for the client suites"
cleanup() { [ -n "${SANDBOXD_PID:-}" ] && kill "$SANDBOXD_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
# shellcheck source=scripts/sandboxd-start.sh
source scripts/sandboxd-start.sh target/debug/sandboxd --www www/dist --pkg pkg

stage "conformance: Modal's Python and JS clients against sandboxd, V2 and V1 sandboxes"
bash tests/conformance/run.sh

stage "Modal's Python client: files, snapshots, mounts, tunnels, connect tokens, readiness, terminals"
for t in features terminal; do
  MODAL_SERVER_URL="$SANDBOXD_URL" MODAL_TOKEN_ID="$SANDBOXD_TOKEN_ID" MODAL_TOKEN_SECRET="$SANDBOXD_TOKEN_SECRET" \
    HOME="$(mktemp -d)" timeout 300 "$PY" "tests/py/$t.py"
done

stage "SDK: wasm suites in headless Chromium, npm package build and size gate"
bash scripts/test-wasm.sh

stage "npm package: Node, Deno and workerd smoke tests, a Vite page, the gateway end to end, tsc --strict"
bash www/build.sh
SANDBOXD_BIN="$ROOT/target/debug/sandboxd" MODAL_WASM_PY="$PY" bash tests/js/run.sh

stage "playground: Playwright (Debian's Chromium) against sandboxd"
TEST_OUTPUT="$OUT" bash tests/playwright/run.sh

echo; echo "test.sh: all stages passed"
