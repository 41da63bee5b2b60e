#!/usr/bin/env bash
# The crate's standard builds, as users run them: plain `wasm-pack build --release --target
# web|bundler|nodejs|deno` (the Cargo.toml profiles as they are, whatever wasm-opt is on
# PATH), each into a temporary dir, and each package instantiated and called in the runtime
# it is made for (wasm-pack-targets.mjs): Node for nodejs, Deno for web, deno and bundler
# (Deno imports .wasm modules as bundlers do). Reuses the crate's target dir (the release
# profile for wasm32: only the first run compiles).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
out=$(mktemp -d /tmp/wasm-pack-targets.XXXXXX)
trap 'rm -rf "$out"' EXIT
for target in web bundler nodejs deno; do
  wasm-pack build --release --target "$target" --out-dir "$out/$target" "$root" >"$out/$target.log" 2>&1 \
    || { tail -30 "$out/$target.log"; echo "wasm-pack build --release --target $target failed" >&2; exit 1; }
done
node wasm-pack-targets.mjs nodejs "$out/nodejs"
for target in web deno bundler; do
  ./node_modules/.bin/deno run --quiet --allow-read wasm-pack-targets.mjs "$target" "$out/$target"
done
echo "wasm-pack build --release: web, bundler, nodejs and deno packages instantiate and run"
