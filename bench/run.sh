#!/usr/bin/env bash
# The benchmark: builds what it needs (release sandboxd and bench-native, the static
# in-sandbox helpers, the npm package in pkg/), starts one sandboxd, and runs the native
# Rust client, the wasm SDK in headless Chromium, Modal's JS client 0.11.1 (Node) and
# Modal's Python client 1.6.4 side by side against it. Writes bench/reports/latest.md
# (+ .json) and prints it. Exits non-zero only when a client errors, never because a
# target is missed. Knobs (environment): see bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  say "building release sandboxd and bench-native"
  cargo build -q --release -p sandboxd -p modal-wasm-bench
  say "building the in-sandbox helpers"
  HELPERS=$(bash scripts/build-helpers.sh)
  say "building the npm package (pkg/)"
  # The bench reports the size against the target; it must not stop at the package gate.
  MODAL_WASM_BUDGET_GZIP=1000000000 bash scripts/build-pkg.sh >&2
else
  HELPERS="$ROOT/target/x86_64-unknown-linux-gnu/release"
fi

if [ ! -d bench/node_modules/modal ] || [ ! -d bench/node_modules/playwright-core ]; then
  say "installing bench/node_modules (modal@0.11.1, playwright-core)"
  # the registry reachable here lacks other platforms' optional builds, so a lock made here
  # is incomplete for `npm ci`: fall back to installing from it (as scripts/setup.sh does)
  (cd bench && { npm ci --no-audit --no-fund --loglevel=error >&2 2>/dev/null \
    || npm install --no-save --no-audit --no-fund --loglevel=error >&2; })
fi

PY="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-1.6.4}/bin/python"
if [ -z "${BENCH_CLIENTS:-}" ]; then
  BENCH_CLIENTS=native,wasm,plain-js,wasm-gateway,modal-js,modal-py
  if ! "$PY" -c 'import modal' 2>/dev/null; then
    say "no Python env with modal 1.6.4 at $PY (scripts/setup.sh makes it): Modal's Python client is not run"
    BENCH_CLIENTS=native,wasm,plain-js,wasm-gateway,modal-js
  fi
fi
export BENCH_CLIENTS BENCH_PY="$PY" BENCH_NATIVE="$ROOT/target/release/bench-native" BENCH_PKG="$ROOT/pkg"

cleanup() {
  if [ -n "${GATEWAY_PID:-}" ]; then kill "$GATEWAY_PID" 2>/dev/null || true; fi
  if [ -n "${SANDBOXD_PID:-}" ]; then
    kill "$SANDBOXD_PID" 2>/dev/null || true
    wait "$SANDBOXD_PID" 2>/dev/null || true
    # Remove the state dir unless something is still mounted under it.
    if [ -n "${SANDBOXD_STATE:-}" ] && ! grep -qF "$SANDBOXD_STATE" /proc/self/mounts; then
      rm -rf "$SANDBOXD_STATE" "$SANDBOXD_STATE.out" 2>/dev/null || true
    fi
  fi
}
trap cleanup EXIT
# shellcheck source=scripts/sandboxd-start.sh
source scripts/sandboxd-start.sh target/release/sandboxd --helpers "$HELPERS" --pkg pkg --www bench/web >&2
say "sandboxd log: $SANDBOXD_STATE.log"

# A gateway in front of that sandboxd, for the wasm client's through-the-gateway latency:
# the page's origin allowed, a token minted as an app's backend would.
head -c 48 /dev/urandom | base64 > "$SANDBOXD_STATE.gw.key"
: >"$SANDBOXD_STATE.gw.out" # exists before the first read below (the job's redirect may be late)
MODAL_TOKEN_ID="$SANDBOXD_TOKEN_ID" MODAL_TOKEN_SECRET="$SANDBOXD_TOKEN_SECRET" target/release/sandboxd gateway \
  --listen 127.0.0.1:0 --upstream "$SANDBOXD_URL" --signing-key "$SANDBOXD_STATE.gw.key" \
  --allow-origin "$SANDBOXD_URL" --rate-limit 1000 >"$SANDBOXD_STATE.gw.out" 2>"$SANDBOXD_STATE.gw.log" &
GATEWAY_PID=$!
for _ in $(seq 1 100); do
  BENCH_GATEWAY_URL=$(sed -n 's/^sandboxd gateway: listening on \(http:[^ ]*\).*/\1/p' "$SANDBOXD_STATE.gw.out")
  [ -n "$BENCH_GATEWAY_URL" ] && break
  sleep 0.1
done
BENCH_GATEWAY_TOKEN=$(target/release/sandboxd token mint --signing-key "$SANDBOXD_STATE.gw.key" \
  --sub bench --app bench --scope create,exec,fs,read,terminate --ttl 2h)
export BENCH_GATEWAY_URL BENCH_GATEWAY_TOKEN
say "gateway at ${BENCH_GATEWAY_URL:-(did not start: $SANDBOXD_STATE.gw.log)}"

node bench/run.mjs
