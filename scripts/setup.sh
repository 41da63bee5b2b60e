#!/usr/bin/env bash
# Install what this project needs and the machine lacks; nothing else. Idempotent: a
# second run only checks. Debian (root or sudo), rustup's stable Rust (and, installed
# here, the pinned nightly of scripts/nightly.sh for the package build), Node 20+.
set -euo pipefail
cd "$(dirname "$0")/.."
# the CLI must be the crate's own wasm-bindgen version: read where Cargo.toml pins it (as
# scripts/wasm-bindgen-runner.sh does), so the two never disagree
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' Cargo.toml)
[ -n "$WASM_BINDGEN_VERSION" ] || { echo "setup: no pinned wasm-bindgen version in Cargo.toml" >&2; exit 1; }
MODAL_PY_VERSION=1.6.4
say() { printf 'setup: %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

# --- Debian packages: isolation, browser tests, protoc, wasm-opt, brotli for size reports,
# openssl for the TLS tests' certificates
need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
have bwrap || need_apt+=(bubblewrap)
have slirp4netns || need_apt+=(slirp4netns)
# ip routes a sandbox's outbound CIDR allowlist inside its network namespace
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || need_apt+=(iproute2)
# mkfs.ext4 formats the size-capped disk of each sandbox's writable layer
[ -x /usr/sbin/mkfs.ext4 ] || [ -x /sbin/mkfs.ext4 ] || need_apt+=(e2fsprogs)
have chromium || need_apt+=(chromium)
have chromedriver || need_apt+=(chromium-driver)
have protoc || need_apt+=(protobuf-compiler)
have wasm-opt || need_apt+=(binaryen)
have brotli || need_apt+=(brotli)
have openssl || need_apt+=(openssl)
have python3 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Rust: wasm target, lint tools, the wasm-bindgen CLI pinned to the crate's version, wasm-pack
rustup target list --installed | grep -qx wasm32-unknown-unknown || { say "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
# the pinned nightly (with rust-src) that builds the npm package's wasm (scripts/build-pkg.sh)
bash scripts/nightly.sh >/dev/null
for c in clippy rustfmt; do
  rustup component list --installed | grep -q "^$c" || { say "rustup component add $c"; rustup component add "$c"; }
done
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi
have wasm-pack || { say "cargo install wasm-pack"; cargo install -q wasm-pack; }
# the headless suites' runner: the same CLI built with vendor/tiny_http's fix (its own script)
scripts/wasm-bindgen-runner.sh >/dev/null

# --- Python: Modal's official client, for the descriptor check and the conformance run
PYENV="${MODAL_WASM_PYENV:-$HOME/.cache/modal-wasm/py-modal-$MODAL_PY_VERSION}"
if ! "$PYENV/bin/python" -c 'import modal, modal_proto' 2>/dev/null; then
  say "python venv with modal==$MODAL_PY_VERSION at $PYENV"
  python3 -m venv "$PYENV"
  "$PYENV/bin/pip" install -q "modal==$MODAL_PY_VERSION"
fi

# --- npm packages for the JS tests (Modal's JS client among them) and the playground, from
# their lock files. The registry reachable here lacks other platforms' optional builds
# (rollup's, cbor-extract's), so a lock made here is incomplete for `npm ci`; `npm install
# --no-save` then installs from it.
# (www/ depends on the built package and installs its own, in www/build.sh)
for dir in tests/js tests/conformance tests/playwright; do
  if [ -f "$dir/package.json" ] && { [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; }; then
    say "npm packages in $dir"
    (cd "$dir" && { npm ci --no-audit --no-fund --loglevel=error 2>/dev/null \
      || npm install --no-save --no-audit --no-fund --loglevel=error; } && touch node_modules)
  fi
done
say "ok"
