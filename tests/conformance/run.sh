#!/usr/bin/env bash
# Modal's official clients against a live sandboxd, both sandbox generations each: Python
# (modal==1.6.4, modal_py.py) and JS in Node (modal@0.11.1, modal_js.mjs). The four runs go
# at once (each waits mostly on its sandboxes); their reports print in a fixed order.
#
# Needs SANDBOXD_URL, SANDBOXD_TOKEN_ID, SANDBOXD_TOKEN_SECRET (scripts/sandboxd-start.sh)
# and what scripts/setup.sh installs (the Python venv, node_modules here).
set -euo pipefail
cd "$(dirname "$0")"
: "${SANDBOXD_URL:?start sandboxd first (scripts/sandboxd-start.sh)}"
PY="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-1.6.4}/bin/python"
[ -d node_modules/modal ] || { echo "node_modules/modal is missing: run scripts/setup.sh" >&2; exit 1; }
logs=$(mktemp -d /tmp/conformance.XXXXXX)
export MODAL_SERVER_URL="$SANDBOXD_URL" MODAL_TOKEN_ID="$SANDBOXD_TOKEN_ID" MODAL_TOKEN_SECRET="$SANDBOXD_TOKEN_SECRET"
unset MODAL_PROFILE MODAL_ENVIRONMENT MODAL_CONFIG_PATH

start() { # name v2flag command...
  local name=$1 v2=$2; shift 2
  # a fresh HOME: no ~/.modal.toml from elsewhere picks the server or the generation
  (export HOME; HOME=$(mktemp -d "$logs/home.XXXXXX"); MODAL_SANDBOX_V2=$v2 timeout 300 "$@") >"$logs/$name.log" 2>&1 &
  pids+=("$!"); names+=("$name")
}
pids=() names=()
start py-v2 1 "$PY" modal_py.py
start py-v1 0 "$PY" modal_py.py
start js-v2 1 node modal_js.mjs
start js-v1 0 node modal_js.mjs
status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then tail -1 "$logs/${names[$i]}.log"
  else status=1; echo "--- ${names[$i]} failed:"; tail -40 "$logs/${names[$i]}.log"; fi
done
rm -rf "$logs"
exit $status
