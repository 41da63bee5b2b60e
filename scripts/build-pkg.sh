#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm-pack (release, --target web), the hand-written
# entries (browser/worker/Deno: index.js, Node: node.js, workerd: workerd.js, error
# classes: errors.js), and package.json from pkg.json.template + Cargo.toml. Prints the
# sizes of the wasm and the JS glue (raw, gzip, brotli) and fails above the budget.
set -euo pipefail
cd "$(dirname "$0")/.."
# The limit on wasm + JS glue, gzip: from issue 3's 150 KB (153600 bytes), moved down to
# just above the measured size with every cut; never raise it past a size main has had
# (MODAL_WASM_BUDGET_GZIP overrides it for experiments). 138600: the cuts (151.6 -> 134.0 KB)
# and terminals (+4.4 KB: exec/create pty, resize, attach) landed together; 138300: the
# trimmed exec request; 138250: fetch chunks taken as they are; 145200: Modal JS's option
# parity (+5,375 B measured: every create option sent, unknown and renamed keys refused
# with a suggestion) and client configuration (+1,567 B: MODAL_* in Node and Deno,
# timeoutMs, maxRetries); 144800: create options read field by field; 135000: the error
# type one pointer wide (Box), so every Result is small (-9,790 B); 134900: so is Status;
# 135900: Modal JS's closeStdin, exec timeoutMs deadline, wait() after detach (+972 B);
# 136000: its Tunnel class (in glue.js), tunnels cached per sandbox (+121 B); 137700:
# images.delete, secrets.delete, volumes.delete, App.environmentName (+1,648 B); 139500:
# volumes.ephemeral with its heartbeat, withMountOptions, closeEphemeral (+1,833 B); 139800:
# Modal JS's six other error classes (+260 B); 136400: no HashMap left (secret env and
# image ids as lists: -3,473 B); 136100: the list's page buffer no VecDeque (-412 B), and
# workerd's fetch bodies read in bulk (+125 B: 2x its stdout throughput); 132800: wasm-streams
# without the byte source export the SDK never used (-3,252 B, vendor/wasm-streams);
# 137800: Image.build, dockerfileCommands (layered builds with env, secrets, gpu,
# forceBuild), imageId written back after a lazy build, fromAwsEcr, fromGcpArtifactRegistry,
# fromRegistry's secret (+4,990 B); 141700: sandbox.logs (its protobuf and fetch/tail
# algorithms in JS over one wasm call), copyFromLocal/copyToLocal, the cached filesystem,
# Modal JS's missing Sandbox methods refused by name (+3,916 B); 144400: Modal JS's
# experimentalCreate/FromName/List (aliases), sandboxSnapshots and experimentalFromSnapshot
# (refused) in compat.js, Image.publish and images.fromName (+2,717 B); 144200: the hidden
# methods under them take plain values and refuse wrong ones with typed errors (-224 B);
# 141300: talc as the allocator instead of dlmalloc (-2,932 B; its features that give up
# realloc in place would save 133 B more: not worth the copies); 139800: prost-derive
# without the message and field path in wasm decode errors (-1,483 B; vendor/prost-derive);
# 136500: short import and export names between the wasm and its glue (-3,310 B;
# scripts/wasm-trim.py); 136100: and short import module names (-383 B); 136050: panic
# locations without the registry's directory name (-40 B); 131500: stdout replies decoded
# as slices (-57 B), typed calls without a state machine per RPC (-4,473 B: src/rpc.rs,
# `Then`); 125050: the pinned nightly's optimize_for_size std and immediate-abort panics
# (-6,460 B); 123950: requests encoded without prost's per-type encode_to_vec and
# encoded_len (-1,081 B, src/codec.rs); 123930: the wasm's gzip counted without the file
# name gzip had stored in its header (19 B that were never the package's; now the same
# count as the size lines above it and bench/); 122980: wasm-streams' promises through the
# one boxed `future_to_promise` instantiation (-953 B, vendor/wasm-streams); 122270: the
# closure shims only the function table named, emptied (-707 B, scripts/wasm-dead-closures.py);
# 121740: no source locations in the nightly build (-528 B, -Zlocation-detail=none); 118960:
# MIR inlining at threshold 25 (-2,779 B); 118570: every crate at opt-level "z" (-387 B,
# Cargo.toml's wasm-release profile); 118290: MIR inlining's threshold 40 at opt-level z (-279 B);
# 116910: JSON read and written by the JS engine in wasm (-950 B, src/json.rs), and a JWT's
# exp read with it (-433 B, src/auth.rs); 116840: string getters answer a JS string made in the
# wasm, not a String the glue copies out (-71 B); 115620: loops where a fallible `collect`
# (into `Result<Vec<_>>` or `Option<Vec<_>>`) instantiated core's GenericShunt adapter per
# site, and MODAL_* read without wasm-bindgen's Vec<String> conversion (-1,215 B in all);
# 114550: and where a plain `map(...).collect()`, `extend_from_slice` of Strings or
# `min_by_key` did the same (-1,072 B over ten sites); 114510: JSON values read with the
# option readers' imports, not a second Array.isArray and Object.entries (-38 B); 114190: a
# file download as one unfold, not five stream combinators (-142 B), and stdin's
# WritableStream over one Sink impl, not `sink_map_err` and `with` (-174 B); 113045: nested
# messages encoded without their `encoded_len` (-1,149 B, vendor/prost-derive); 112490: ASCII
# trims where `str::trim` brought Unicode's whitespace table and `trim_end_matches` a
# searcher (-554 B); 112210: text that is not UTF-8 decoded by the engine's TextDecoder
# (-280 B, src/utf8.rs `lossy`); 111660: sandboxes.list()'s next() and return() queued in
# JS, not behind futures' async Mutex in the wasm (-548 B); 111625: LLVM's inline threshold
# 12 (-37 B); 111215: the option readers' key recorder a `fn`, not a closure behind `dyn Fn`
# with a vtable and call shims per options type (-412 B); 111055: a URL's host found by a
# scan of its bytes (-169 B); 110835: no char searcher left (grpc trailers parsed as bytes,
# utf8::split_once_byte for a JWT's payload, a GPU's count and loopback octets: -207 B);
# 110620: a pending pull of wasm-streams cancelled by a flag and a waker of its own, not
# futures' `abortable` (-215 B, vendor/wasm-streams); 110495: a JS error's text read by one
# function (convert::error_text), a boolean option's text without `Display` (-128 B); 110480:
# and JSON.parse's error read with it too (-16 B).
BUDGET_GZIP=${MODAL_WASM_BUDGET_GZIP:-110480}   # just above the last measured size
TARGET_GZIP=102400                               # 100 KB: the goal

# Source paths in the wasm (panic locations) relative to the workspace and the registry, so
# the package is the same bytes from any checkout (and the size gate the same number).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
remap="--remap-path-prefix=$PWD/= --remap-path-prefix=${CARGO_TARGET_DIR:-$PWD/target}/="
remap+=" --remap-path-prefix=$cargo_home/registry/src/="
# and without the registry's directory (index.crates.io-<hash>/) in each crate's path: the
# sources fetched first, so that directory exists on a fresh machine too
cargo fetch -q
for dir in "$cargo_home"/registry/src/*/; do
  [ -d "$dir" ] && remap+=" --remap-path-prefix=$dir="
done
# LLVM's inline threshold for every crate: measured (gzip of the package) 0: +1,335 B,
# 5: -64, 10: -460, 15: -304, 25: +1,780, 50: +5,527 against the opt-levels' own default;
# after MIR inlining and the cuts to 111,659 B, 10 -> 11, 12 or 14: -37 B (the same
# build), 16: +695 B, 8: as 10. 12, the middle of the flat stretch.
inline="-C llvm-args=-inline-threshold=12"

# The wasm is built with a pinned nightly (scripts/nightly.sh installs it when missing) for
# two unstable size options, -6,460 B gzip together: the standard library rebuilt with
# `optimize_for_size` (-Zbuild-std), and panics as a bare trap (`panic=immediate-abort`: no
# formatting or location of a panic message). A panic's message had no way out anyway:
# std's default hook writes to a stderr wasm32-unknown-unknown does not have, and JS sees
# the same `RuntimeError: unreachable` either way. For the same reason no source location
# is kept (`-Zlocation-detail=none`: -528 B): callers of `#[track_caller]` functions
# (`unwrap`, `RefCell::borrow_mut`, indexing) still passed a file, line and column that
# the trap never showed. The crate builds on stable as users build it
# (tests/js/wasm-pack-targets.sh runs plain wasm-pack); only this build is nightly.
# cargo and the wasm-bindgen CLI are run directly (wasm-pack would want a prebuilt wasm32
# std, which build-std does not need), the CLI as `wasm-pack build --target web` runs it.

# MIR inlining, which rustc runs in -O2/-O3 builds but not at opt-level s or z: inlined
# before monomorphization, a small generic helper (a conversion, a constructor, a closure)
# is no longer a function of its own for each type (-2,779 B at threshold 25, with the
# dependencies then at opt-level s). The wasm's gzip with every crate at z (Cargo.toml), by
# -Zinline-mir-threshold: 15: 102,897 B; 25: 102,617; 33: 102,626; 37: 102,440; 40: 102,348;
# 45: 102,426; 50 (rustc's default): 102,999; 60: 103,266. Uneven from one value to the next:
# measure again after large changes.
mir_inline="-Zinline-mir=yes -Zinline-mir-threshold=40"
nightly=$(bash scripts/nightly.sh)
remap+=" --remap-path-prefix=$(rustc "+$nightly" --print sysroot)/lib/rustlib/src/rust/="
export RUSTFLAGS="${RUSTFLAGS:-} $inline $remap -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none $mir_inline"
pkg_target=${CARGO_TARGET_DIR:-$PWD/target}/pkg-nightly
cargo "+$nightly" build -q --lib --target wasm32-unknown-unknown --profile wasm-release --features talc \
  --target-dir "$pkg_target" -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size
# wasm-bindgen would leave the snippets of JS modules the crate no longer imports, counted below
rm -rf pkg/snippets
wasm-bindgen "$pkg_target/wasm32-unknown-unknown/wasm-release/modal_wasm.wasm" --out-dir pkg --out-name modal_wasm --target web

# Empty the closure shims only wasm-bindgen's deleted describe functions named (they stay in
# the function table; scripts/wasm-dead-closures.py says why it is safe), while the wasm
# still has its function names.
python3 scripts/wasm-dead-closures.py pkg/modal_wasm_bg.wasm

# Drop the wasm's custom sections and shorten the import and export names the wasm and its
# glue share (scripts/wasm-trim.py says why).
python3 scripts/wasm-trim.py pkg/modal_wasm_bg.wasm pkg/modal_wasm.js pkg/modal_wasm.d.ts pkg/modal_wasm_bg.wasm.d.ts

cp src/js/pkg/index.js src/js/pkg/node.js src/js/pkg/workerd.js src/js/pkg/index.d.ts src/js/pkg/errors.d.ts src/js/pkg/token.js src/js/pkg/token.d.ts src/js/pkg/compat.js pkg/
# optional trailing parameters, and no `any` in the public types (fails if one is left)
python3 scripts/dts-fixup.py pkg/modal_wasm.d.ts pkg/modal_wasm_bg.wasm.d.ts
glue=$(cd pkg && find snippets -name glue.js | head -1)
[ -n "$glue" ] || { echo "build-pkg: snippets/**/glue.js not found" >&2; exit 1; }
# The classes the package exports from glue.js: its error classes (generated from ErrorKind,
# src/error.rs; checked by src/js/lists.rs, which also checks that this pattern finds each),
# so no list is kept here, and Tunnel (declared in src/api/types.rs).
errors=$(sed -n 's/^export \(class\|const\) \([A-Za-z]*Error\|InternalFailure\|Tunnel\)\b.*/\2/p' "pkg/$glue" | paste -sd, - | sed 's/,/, /g')
[ -n "$errors" ] || { echo "build-pkg: no error classes found in $glue" >&2; exit 1; }
echo "export { $errors } from \"./$glue\";" > pkg/errors.js

# Minify the package's JS with esbuild (whitespace, syntax, local names; exported and other
# top-level names stay, as esbuild keeps them outside a bundle): 15.6 -> 12.6 KB gzip. The
# docs ship in the .d.ts files, which is what editors and tsc read. esbuild is a dev
# dependency of tests/js (installed by scripts/setup.sh, or here when missing).
esbuild=tests/js/node_modules/.bin/esbuild
[ -x "$esbuild" ] || (cd tests/js && npm install --no-save --no-audit --no-fund --loglevel=error >&2)
find pkg -name '*.js' -print0 | xargs -0 -I{} "$esbuild" {} --minify --log-level=error --outfile={} --allow-overwrite

python3 - <<'PY'
import json, tomllib, pathlib
cargo = tomllib.loads(pathlib.Path("Cargo.toml").read_text())["package"]
pkg = pathlib.Path("pkg")
files = sorted(str(p.relative_to(pkg)) for p in pkg.rglob("*") if p.is_file() and p.name != "package.json")
text = pathlib.Path("pkg.json.template").read_text()
for key in ("name", "version", "description", "license", "repository"):
    text = text.replace("{{%s}}" % key, json.dumps(cargo[key])[1:-1])
text = text.replace("{{files}}", json.dumps(files))
data = json.loads(text)
assert "dependencies" not in data, "the package must have zero runtime dependencies"
(pkg / "package.json").write_text(json.dumps(data, indent=2) + "\n")
PY

# Sizes: the wasm, and all JS the package loads, each part compressed as one stream (the
# files concatenated, through stdin: no file name in gzip's header). The gate below adds up
# the same gzip counts the lines print.
size_line() { # label files...; sets $gz
  local label=$1; shift
  local raw br
  raw=$(cat "$@" | wc -c); gz=$(cat "$@" | gzip -9 | wc -c); br=$(cat "$@" | brotli -c -q 11 | wc -c)
  printf '%-18s raw %8d  gzip %7d  brotli %7d\n' "$label" "$raw" "$gz" "$br"
}
js_files=$(find pkg -name '*.js' | sort)
echo "npm package sizes (pkg/):"
size_line "wasm" pkg/modal_wasm_bg.wasm
wasm_gz=$gz
size_line "JS glue" $js_files
js_gz=$gz
total=$((wasm_gz + js_gz))
printf 'total gzip %d bytes (%.1f KB); target %d KB, limit %d KB\n' "$total" "$(echo "$total/1024" | bc -l)" $((TARGET_GZIP/1024)) $((BUDGET_GZIP/1024))
if [ "$total" -gt "$BUDGET_GZIP" ]; then
  echo "build-pkg: FAIL: wasm + JS glue is $total bytes gzip, above the $BUDGET_GZIP byte limit" >&2
  exit 1
fi
[ "$total" -le "$TARGET_GZIP" ] || echo "build-pkg: warning: above the 100 KB target"
