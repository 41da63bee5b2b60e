#!/usr/bin/env bash
# Regenerate proto/modal_proto/*.proto from proto/subset.txt and the pinned modal wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
PY="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-1.6.4}/bin/python"
"$PY" proto/tools/subset.py proto/subset.txt proto "$@"
