#!/usr/bin/env bash
# The wasm-bindgen CLI that the headless suites run with: wasm-bindgen-cli, the crate's
# version, built with vendor/tiny_http (the HTTP server under wasm-bindgen-test-runner's
# page server, with a fix: a page that never loads otherwise, vendor/tiny_http/README.md).
# Installed once into the project's cache, beside whatever wasm-bindgen the machine has;
# built again when vendor/tiny_http changes. Prints its bin directory, for PATH: wasm-pack
# takes `wasm-bindgen` and `wasm-bindgen-test-runner` from the first directory that has them.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "wasm-bindgen-runner: no pinned wasm-bindgen version in Cargo.toml" >&2; exit 1; }
root="${MODAL_WASM_WBG_RUNNER:-$HOME/.cache/modal-wasm/wasm-bindgen-$version-runner}"
fix=$(find vendor/tiny_http/Cargo.toml vendor/tiny_http/src -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)
if [ "$(cat "$root/vendor-tiny_http" 2>/dev/null)" != "$fix" ] || [ ! -x "$root/bin/wasm-bindgen-test-runner" ]; then
  echo "wasm-bindgen-runner: cargo install wasm-bindgen-cli $version with vendor/tiny_http into $root" >&2
  cargo install -q wasm-bindgen-cli --version "$version" --root "$root" --force \
    --config "patch.crates-io.tiny_http.path=\"$PWD/vendor/tiny_http\"" >&2
  echo "$fix" >"$root/vendor-tiny_http"
fi
echo "$root/bin"
