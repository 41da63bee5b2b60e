#!/usr/bin/env python3
"""The most a size cut could save: the gzip size of a wasm with the bodies of the functions
whose names match REGEX made `unreachable`, beside the same wasm untouched (both without
custom sections, as the package ships). For docs/SIZE.md's estimates, before the work.

    wasm-size-bound.py WASM REGEX

WASM must still have its function names: the wasm-bindgen output of the build's wasm,
e.g. `wasm-bindgen target/pkg-nightly/wasm32-unknown-unknown/wasm-release/modal_wasm.wasm
--out-dir /tmp/wb --target web`, not the package's (wasm-trim.py drops them).
"""
import gzip
import importlib.util
import pathlib
import re
import sys

_spec = importlib.util.spec_from_file_location(
    "wasm_dead_closures", pathlib.Path(__file__).with_name("wasm-dead-closures.py")
)
wasm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wasm)


def gzip_size(d, blank):
    """gzip -9 of `d` without custom sections, with the bodies of functions in `blank`
    emptied; and the raw bytes emptied."""
    out, imported, removed = bytearray(d[:8]), 0, 0
    for sid, start, body, end in wasm.sections(d):
        if sid == 0:
            continue
        if sid == 2:
            imported = wasm.imported_functions(d, body)
        if sid == 10:
            count, p = wasm.leb(d, body)
            code = bytearray(wasm.uleb(count))
            for k in range(count):
                size, p = wasm.leb(d, p)
                fb = d[p : p + size]
                p += size
                if imported + k in blank:
                    removed += len(fb)
                    fb = wasm.UNREACHABLE_BODY
                code += wasm.uleb(len(fb)) + fb
            out += bytes([10]) + wasm.uleb(len(code)) + code
        else:
            out += d[start:end]
    return len(gzip.compress(bytes(out), 9, mtime=0)), removed


def main(path, pattern):
    d = open(path, "rb").read()
    names = {}
    for sid, _, body, end in wasm.sections(d):
        if sid == 0:
            names.update(wasm.function_names(d, body, end))
    if not names:
        sys.exit("wasm-size-bound: the wasm has no function names")
    match = re.compile(pattern)
    blank = {f for f, n in names.items() if match.search(n)}
    before, _ = gzip_size(d, set())
    after, removed = gzip_size(d, blank)
    print(f"{len(blank)} functions, {removed} B raw: gzip {before} -> {after} ({after - before:+d} B)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
