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
import re
import sys

from wasm_binary import (
    code_section,
    function_bodies,
    function_names,
    imported_functions,
    read_imports,
    sections,
)


def gzip_size(d, blank):
    """gzip -9 of `d` without custom sections, with the bodies of functions in `blank`
    emptied; and the raw bytes emptied."""
    out, imported, removed = bytearray(d[:8]), 0, 0
    for sid, start, body, end in sections(d):
        if sid == 0:
            continue
        if sid == 2:
            imported = imported_functions(read_imports(d, body, end))
        if sid == 10:
            section, removed = code_section(function_bodies(d, body), imported, blank)
            out += section
        else:
            out += d[start:end]
    return len(gzip.compress(bytes(out), 9, mtime=0)), removed


def main(path, pattern):
    d = open(path, "rb").read()
    names = {}
    for sid, _, body, end in sections(d):
        if sid == 0:
            names.update(function_names(d, body, end))
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
