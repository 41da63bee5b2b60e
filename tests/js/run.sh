#!/usr/bin/env bash
# Unit tests of the package's hand-written files.js and sandbox.js (Node), and packaging tests of the
# built npm package (pkg/): smoke flows in Node, Deno and workerd
# against a live sandboxd, a Vite production build of the README's page example, and
# `tsc --strict` over the public types and Modal-JS-style code (modal-style.ts), the parity
# table of Modal JS's options (parity.mjs), and the gateway end to end (gateway-e2e.mjs). Also
# the crate's plain `wasm-pack build --release` for each target, instantiated in Node and
# Deno (wasm-pack-targets.sh). Needs
# pkg/ built and SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET
# (scripts/sandboxd-start.sh sets them); the gateway test also SANDBOXD_HELPERS and
# MODAL_WASM_PY (test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")"
: "${SANDBOXD_URL:?start sandboxd first (scripts/sandboxd-start.sh)}"
[ -f ../../pkg/package.json ] || { echo "pkg/ is not built: run scripts/build-pkg.sh" >&2; exit 1; }
[ -d node_modules/.bin ] || npm install --no-save --no-audit --no-fund --loglevel=error
# the package under test, linked the way npm links a file: dependency
mkdir -p node_modules
ln -sfn ../../../pkg node_modules/modal-wasm
passed=0 failed=0
run() { # name command...
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); echo "ok   $name: ${out##*$'\n'}"
  else failed=$((failed + 1)); echo "FAIL $name"; echo "$out" | tail -30; fi
}

run files.js node --test --test-reporter=dot files-unit.mjs
run sandbox.js node --test --test-reporter=dot sandbox-unit.mjs
run "wasm-pack targets" bash wasm-pack-targets.sh
run mintToken node mint-token-fuzz.mjs
run node node node-smoke.mjs
# Modal JS parity: its create/exec option keys, read from modal@0.11.1's index.d.ts
# (tests/conformance's node_modules, installed by scripts/setup.sh), each sent or refused
run "modal js parity" node parity.mjs
run deno ./node_modules/.bin/deno run --allow-net --allow-read --allow-write --allow-env deno-smoke.mjs

workerd_smoke() {
  rm -rf workerd/out && mkdir -p workerd/out
  ./node_modules/.bin/esbuild workerd/worker.mjs --bundle --format=esm --platform=neutral \
    --conditions=workerd,worker,browser --main-fields=module,main --external:*.wasm \
    --log-level=warning --outfile=workerd/out/worker.js
  cp ../../pkg/modal_wasm_bg.wasm workerd/out/
  local port; port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > workerd/out/config.capnp <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:$port", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "modal_wasm_bg.wasm", wasm = embed "modal_wasm_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [
    (name = "SANDBOXD_URL", text = "$SANDBOXD_URL"),
    (name = "SANDBOXD_TOKEN_ID", text = "$SANDBOXD_TOKEN_ID"),
    (name = "SANDBOXD_TOKEN_SECRET", text = "$SANDBOXD_TOKEN_SECRET"),
  ],
  globalOutbound = "internet",
);
CAPNP
  ./node_modules/.bin/workerd serve workerd/out/config.capnp >workerd/out/workerd.log 2>&1 &
  local pid=$!
  local body="" i
  for i in $(seq 1 100); do
    body=$(curl -sf "http://127.0.0.1:$port/" 2>/dev/null) && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$body" ] || body=$(curl -s "http://127.0.0.1:$port/" 2>&1 || true)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "$body"
  [[ "$body" == *": ok"* ]] || { cat workerd/out/workerd.log; return 1; }
}
run workerd workerd_smoke

run "vite build" sh -c 'cd vite-app && ../node_modules/.bin/vite build --logLevel warn --outDir ../vite-dist --emptyOutDir && ls ../vite-dist/assets | grep -c wasm | sed "s/^/wasm assets: /"'
# the built page, served by sandboxd (it serves www/dist) so it gets its credential
vite_page() {
  [ -d ../../www/dist ] || { echo "www/dist is missing: sandboxd serves the example from there (bash www/build.sh)"; return 1; }
  rm -rf ../../www/dist/vite-example && cp -r vite-dist ../../www/dist/vite-example
  node vite-check.mjs
}
run "vite page in Chromium" vite_page
# the gateway: an upstream sandboxd over TLS, two replicas, Deno and Chromium with scoped
# tokens, the Python client over TLS, and a scan of every byte the gateways sent back
run gateway node gateway-e2e.mjs
run "tsc --strict" sh -c './node_modules/.bin/tsc -p tsconfig.json && echo "public types check under --strict"'

echo "package: $passed passed, $failed failed"
[ "$failed" = 0 ]
