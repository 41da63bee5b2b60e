#!/usr/bin/env bash
# Prints the pinned nightly toolchain that builds the npm package's wasm (scripts/build-pkg.sh
# says why), installing it first when it is missing: rustup's minimal profile and rust-src
# (the standard library is rebuilt from source, so no prebuilt wasm32 std is needed), about
# 80 MB and 20 s. The crate itself builds on stable; only the package build uses this.
set -euo pipefail
NIGHTLY=nightly-2026-05-19
# asked of `rustup toolchain list` first: `rustc +NAME` of a missing toolchain would have
# rustup auto-install its default profile where RUSTUP_AUTO_INSTALL allows it
if ! rustup toolchain list | grep -q "^$NIGHTLY-" ||
  [ ! -d "$(rustc "+$NIGHTLY" --print sysroot)/lib/rustlib/src/rust/library" ]; then
  echo "[nightly] rustup toolchain install $NIGHTLY --profile minimal --component rust-src" >&2
  rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >&2
fi
echo "$NIGHTLY"
