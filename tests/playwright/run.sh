#!/usr/bin/env bash
# The playground's end-to-end tests: playwright-core driving Debian's Chromium through the
# page that sandboxd serves (www/dist), against a live sandboxd; and the playground for many
# people (multiuser.test.mjs starts its own sandboxd with a signing key, and a gateway); the
# Terminal tab (terminal.test.mjs: a shell, Ctrl-C, resize, a reload reattaching); the
# package's copyFromLocal/copyToLocal in a page (copy.test.mjs: Blob, File, stream).
#
#   SANDBOXD_URL=http://127.0.0.1:PORT bash tests/playwright/run.sh
#
# The sandboxd at SANDBOXD_URL must serve `--www www/dist --pkg pkg` (this script builds
# www/dist when it is missing or older than its sources; sandboxd reads it from disk).
# Without SANDBOXD_URL, it starts target/debug/sandboxd itself (helpers from
# SANDBOXD_HELPERS or scripts/build-helpers.sh) and stops it afterwards.
# Screenshots go to $TEST_OUTPUT (default: test-output/ at the repository root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export TEST_OUTPUT=${TEST_OUTPUT:-$root/test-output}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
mkdir -p "$TEST_OUTPUT"

[ -x "$CHROMIUM" ] || { echo "playwright: no Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }

# the test's own dependency (playwright-core only; it never downloads a browser)
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
  (cd "$here" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null ||
    npm install --no-save --no-audit --no-fund --loglevel=error; })
fi

# the playground: install its dependencies and build www/dist when stale
bash "$root/www/build.sh"

if [ -z "${SANDBOXD_URL:-}" ]; then
  bin=$root/target/debug/sandboxd
  [ -x "$bin" ] || (cd "$root" && cargo build -q -p sandboxd)
  helpers=${SANDBOXD_HELPERS:-$(cd "$root" && bash scripts/build-helpers.sh 2>/dev/null)}
  # shellcheck source=/dev/null
  source "$root/scripts/sandboxd-start.sh" "$bin" --helpers "$helpers" --www "$root/www/dist" --pkg "$root/pkg"
  trap 'kill "$SANDBOXD_PID" 2>/dev/null || true' EXIT
fi

cd "$here"
node --test --test-concurrency=1 --test-timeout=300000 playground.test.mjs terminal.test.mjs multiuser.test.mjs copy.test.mjs
echo "playwright: screenshots in $TEST_OUTPUT/playground*.png"
