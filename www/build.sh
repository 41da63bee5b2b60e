#!/usr/bin/env bash
# Builds the playground into www/dist/ when it is missing or older than its inputs
# (www sources, the lock file, the SDK in pkg/). Installs npm dependencies first if needed.
#   bash www/build.sh [--force]
# Needs pkg/ (bash scripts/build-pkg.sh): the page bundles the SDK from file:../pkg.
set -euo pipefail
www=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$www/.." && pwd)
[ -f "$root/pkg/package.json" ] || { echo "www/build.sh: pkg/ is not built (bash scripts/build-pkg.sh)" >&2; exit 1; }

if [ ! -f "$www/node_modules/.package-lock.json" ] || [ "$www/package-lock.json" -nt "$www/node_modules/.package-lock.json" ]; then
  # `npm ci` insists on a lock entry for every platform's optional rollup/esbuild binary;
  # a registry mirror that lacks some of them makes it refuse, so fall back to an install
  # that follows the same lock file without rewriting it
  (cd "$www" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-save --no-audit --no-fund --loglevel=error; })
fi

if [ "${1:-}" = --force ] || [ ! -f "$www/dist/index.html" ] ||
  [ -n "$(find "$www/src" "$www/index.html" "$www/vite.config.js" "$www/package-lock.json" "$root/pkg" -newer "$www/dist/index.html" -print -quit)" ]; then
  (cd "$www" && npm run -s build >/dev/null)
  touch "$www/dist/index.html"
  echo "www/build.sh: built $www/dist" >&2
fi
