#!/usr/bin/env bash
# The main job: install what is missing, build sandboxd, the helpers, the npm package and
# the playground, then serve the playground on localhost with the local backend.
#   bash scripts/run.sh [--listen 127.0.0.1:8787] [other `sandboxd serve` flags]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HELPERS=$(bash scripts/build-helpers.sh)
cargo build -q --release -p sandboxd
bash scripts/build-pkg.sh >&2
bash www/build.sh --force >&2
WWW=www/dist
echo "Open the playground at the address below (credentials are printed on first start)." >&2
exec target/release/sandboxd serve --helpers "$HELPERS" --www "$WWW" --pkg pkg "$@"
