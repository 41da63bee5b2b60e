#!/usr/bin/env bash
# Build the static binaries sandboxd mounts into every sandbox (/__modal/.bin): the
# launcher and the filesystem helper. Static, so they run in any image's rootfs.
# Output: target/x86_64-unknown-linux-gnu/release/ (under CARGO_TARGET_DIR if set; sandboxd finds them there).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(-p modal-sandbox-init)
[ -d fs-tools ] && pkgs+=(-p modal-sandbox-fs-tools)
RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release --target x86_64-unknown-linux-gnu "${pkgs[@]}"
echo "${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release"
