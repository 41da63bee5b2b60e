#!/usr/bin/env bash
# The benchmark: builds what it needs (release sandboxd and bench-native, the static
# in-sandbox helpers, the npm package in pkg/, the playground in www/dist), starts one
# sandboxd, and runs the native Rust client, the wasm SDK in a Chromium page, a Web Worker,
# Node, Deno and workerd, a plain-JS gRPC-web baseline, Modal's JS client 0.11.1 (Node) and
# Modal's Python client 1.6.4 side by side against it; a second sandboxd serving TLS for
# the burst over h2, a third serving the playground for its page load. Writes
# bench/reports/latest.md (+ .json, .png) and prints it. Exits non-zero only when a client errors, never because a
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
  say "building the playground (www/dist)"
  bash www/build.sh >&2
else
  HELPERS="$ROOT/target/x86_64-unknown-linux-gnu/release"
fi

if [ ! -d bench/node_modules/modal ] || [ ! -d bench/node_modules/playwright-core ] || [ ! -x bench/node_modules/.bin/deno ] ||
  [ ! -x bench/node_modules/.bin/workerd ] || [ ! -x bench/node_modules/.bin/esbuild ]; then
  say "installing bench/node_modules (modal@0.11.1, playwright-core, deno, workerd, esbuild)"
  # the registry reachable here lacks other platforms' optional builds, so a lock made here
  # is incomplete for `npm ci`: fall back to installing from it (as scripts/setup.sh does)
  (cd bench && { npm ci --no-audit --no-fund --loglevel=error >&2 2>/dev/null \
    || npm install --no-save --no-audit --no-fund --loglevel=error >&2; })
fi

PY="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-1.6.4}/bin/python"
if [ -z "${BENCH_CLIENTS:-}" ]; then
  BENCH_CLIENTS=native,wasm,wasm-worker,wasm-node,wasm-deno,wasm-workerd,plain-js,plain-js-node,wasm-gateway,wasm-h2,modal-js,playground
  if "$PY" -c 'import modal' 2>/dev/null; then BENCH_CLIENTS=$BENCH_CLIENTS,modal-py
  else say "no Python env with modal 1.6.4 at $PY (scripts/setup.sh makes it): Modal's Python client is not run"; fi
fi
export BENCH_CLIENTS BENCH_PY="$PY" BENCH_NATIVE="$ROOT/target/release/bench-native" BENCH_PKG="$ROOT/pkg"

# Stops a sandboxd this script started and removes its state dir unless something is
# still mounted under it.
stop_sandboxd() { # pid state-dir
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  if [ -n "$2" ] && ! grep -qF "$2" /proc/self/mounts; then rm -rf "$2" 2>/dev/null || true; fi
}
cleanup() {
  if [ -n "${GATEWAY_PID:-}" ]; then kill "$GATEWAY_PID" 2>/dev/null || true; fi
  stop_sandboxd "${TLS_PID:-}" "${BENCH_DIR:-}/tls-state"
  stop_sandboxd "${PLAYGROUND_PID:-}" "${BENCH_DIR:-}/playground-state"
  if [ -n "${BENCH_DIR:-}" ] && ! grep -qF "$BENCH_DIR" /proc/self/mounts; then rm -rf "$BENCH_DIR"; fi
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

# Starts another sandboxd in the background on a free port; prints its url once listening.
start_sandboxd() { # name token-id token-secret serve-args...
  local name=$1 id=$2 secret=$3; shift 3
  target/release/sandboxd serve --listen 127.0.0.1:0 --state-dir "$BENCH_DIR/$name-state" --helpers "$HELPERS" \
    --token-id "$id" --token-secret "$secret" "$@" >"$BENCH_DIR/$name.out" 2>"$BENCH_DIR/$name.log" &
  echo $! >"$BENCH_DIR/$name.pid"
}
wait_url() { # name -> url on stdout
  local url="" i
  for i in $(seq 1 100); do
    url=$(sed -n 's/^sandboxd: listening on \(https\?:[^ ]*\).*/\1/p' "$BENCH_DIR/$1.out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  echo "$url"
}
BENCH_DIR=$(mktemp -d /tmp/bench-run.XXXXXX)

# HTTP/2 to the browser: a second sandboxd serving TLS (h2 and http/1.1 by ALPN) with a
# certificate from a test CA made here, as the tests make theirs. Chromium trusts it by the
# certificate's public key hash (--ignore-certificate-errors-spki-list: it matches the
# chain the server sends, which holds the leaf, not the CA), which keeps h2 and the
# browser's normal checks of every other certificate, unlike ignoring TLS errors.
if [[ ",$BENCH_CLIENTS," == *",wasm-h2,"* ]]; then
  ossl() { openssl "$@" >/dev/null 2>>"$BENCH_DIR/openssl.log"; }
  (cd "$BENCH_DIR" &&
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=modal-wasm bench CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out csr.pem -subj /CN=localhost &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
    ossl x509 -req -in csr.pem -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext.cnf)
  BENCH_TLS_SPKI=$(openssl x509 -in "$BENCH_DIR/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
  BENCH_TLS_TOKEN_ID=ak-bench-$RANDOM BENCH_TLS_TOKEN_SECRET=as-bench-$RANDOM$RANDOM
  start_sandboxd tls "$BENCH_TLS_TOKEN_ID" "$BENCH_TLS_TOKEN_SECRET" --tls-cert "$BENCH_DIR/cert.pem" --tls-key "$BENCH_DIR/key.pem" \
    --pkg pkg --www bench/web
  TLS_PID=$(cat "$BENCH_DIR/tls.pid")
  BENCH_TLS_URL=$(wait_url tls)
  say "TLS sandboxd at ${BENCH_TLS_URL:-(did not start: $BENCH_DIR/tls.log)}"
  export BENCH_TLS_URL BENCH_TLS_TOKEN_ID BENCH_TLS_TOKEN_SECRET BENCH_TLS_SPKI
fi

# The playground (www/dist), served as users get it, for the page load to first output.
if [[ ",$BENCH_CLIENTS," == *",playground,"* ]] && [ -f www/dist/index.html ]; then
  start_sandboxd playground "ak-bench-pg-$RANDOM" "as-bench-pg-$RANDOM$RANDOM" --pkg pkg --www www/dist
  PLAYGROUND_PID=$(cat "$BENCH_DIR/playground.pid")
  BENCH_PLAYGROUND_URL=$(wait_url playground)
  say "playground sandboxd at ${BENCH_PLAYGROUND_URL:-(did not start: $BENCH_DIR/playground.log)}"
  export BENCH_PLAYGROUND_URL
fi

node bench/run.mjs
