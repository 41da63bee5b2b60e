#!/usr/bin/env python3
"""Trims the package's wasm and its wasm-bindgen glue, in place (scripts/build-pkg.sh):

- drops the wasm's custom sections (function names: ~35% of the file; producers), which
  wasm-opt would do but is off (Cargo.toml) and `strip` would break wasm-bindgen;
- shortens the names of the imports the glue hands the wasm (wasm-bindgen's
  `__wbg_<name>_<16 hex digits>`, once in the wasm's import section and once as a key of
  the glue's import object): the hashes do not compress (-2,248 B gzip); and the import
  modules' names (a, b, ...: -383 B gzip);
- shortens the names of the wasm's exports the glue calls (`wasm.sandbox_exec(...)`), in
  the wasm, the glue and the declarations of the raw exports (`InitOutput` in the glue's
  .d.ts, the wasm's own .d.ts): -1,062 B gzip more. `memory` keeps its name, and so does any
  export the glue does not call (something else may look it up by name).

    wasm-trim.py WASM GLUE_JS [DTS...]

Fails, writing nothing, if the glue does not have each of its imports as a key exactly
once, has no import module as a key, or the wasm has no import of the glue's (a
wasm-bindgen whose glue is shaped otherwise).
"""
import re
import sys

from wasm_binary import name_bytes, read_exports, read_imports, section_bytes, sections

GLUE_MODULE = b"./modal_wasm_bg.js"  # the module name wasm-bindgen gives its own imports


def rename_imports(entries, js, js_path):
    """The glue's own imports (module GLUE_MODULE) renamed _a, _b, ... in `entries` and as
    the keys of the glue's import object (`__wbg_..._hash: function(...`); how many."""
    renamed = 0
    for k, entry in enumerate(entries):
        if entry[0] != GLUE_MODULE:
            continue
        field, new = entry[1].decode(), short_name(k)
        key = re.compile(r"(?<![\w$])" + re.escape(field) + r"(?=\s*:)")
        js, n = key.subn(new, js)
        if n != 1:
            sys.exit(f"wasm-trim: import {field} is a key {n} times in {js_path}, not once")
        entry[1] = new.encode()
        renamed += 1
    if renamed == 0:
        sys.exit(f"wasm-trim: no import of {GLUE_MODULE.decode()} found")
    return js


def rename_modules(entries, js):
    """Each import's module (`./modal_wasm_bg.js` for all of wasm-bindgen's, a snippet's
    path for each of ours: 85 and 9 repeats of a long string) renamed a, b, ... in the
    wasm and as the glue's import object keys."""
    modules = [GLUE_MODULE] + sorted({m for m, _, _ in entries} - {GLUE_MODULE})
    short = {m: chr(ord("a") + i).encode() for i, m in enumerate(modules)}
    if len(modules) > 26:
        sys.exit("wasm-trim: more than 26 import modules")
    for m in modules:
        key = re.compile(r"([\"'])" + re.escape(m.decode()) + r"\1(?=\s*:)")
        js, n = key.subn(short[m].decode(), js)
        if n == 0:
            sys.exit(f"wasm-trim: import module {m.decode()} is no key in the glue")
    for entry in entries:
        entry[0] = short[entry[0]]
    return js


def short_name(k):
    """_a, _b, ..., _z, _aa, ...: never a name wasm-bindgen's glue uses for anything else."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    s, k = "", k + 1
    while k:
        k -= 1
        s = letters[k % 26] + s
        k //= 26
    return "_" + s


def rename_exports(entries, js, dts):
    """Renames `entries` (name, descriptor) in place; returns the glue and .d.ts texts."""
    for k, entry in enumerate(entries):
        name = entry[0].decode()
        call = re.compile(r"\bwasm\." + re.escape(name) + r"\b")
        if name == "memory" or not call.search(js):
            continue
        new = short_name(k)
        js = call.sub("wasm." + new, js)
        dts = [rename_declared(t, name, new) for t in dts]
        entry[0] = new.encode()
    return js, dts


def rename_declared(dts, name, new):
    """`readonly NAME:` in the glue's `interface InitOutput`, `export const NAME:` in the
    wasm's own .d.ts; nothing else (an option's field may share a name)."""
    start = dts.find("export interface InitOutput {")
    if start < 0:
        return re.sub(r"(?m)^export const " + re.escape(name) + r"(?=:)", "export const " + new, dts)
    end = dts.index("\n}", start)
    block = re.sub(r"(?m)^(\s+readonly )" + re.escape(name) + r"(?=:)", r"\g<1>" + new, dts[start:end])
    return dts[:start] + block + dts[end:]


def main(wasm_path, js_path, *dts_paths):
    d = open(wasm_path, "rb").read()
    js = open(js_path, encoding="utf-8").read()
    dts = [open(p, encoding="utf-8").read() for p in dts_paths]
    out = bytearray(d[:8])
    for sid, start, body, end in sections(d):
        if sid == 0:
            continue  # custom section
        if sid == 2:
            entries = read_imports(d, body, end)
            js = rename_imports(entries, js, js_path)
            js = rename_modules(entries, js)
            out += section_bytes(2, [(name_bytes(m), name_bytes(f), desc) for m, f, desc in entries])
        elif sid == 7:
            entries = read_exports(d, body, end)
            js, dts = rename_exports(entries, js, dts)
            out += section_bytes(7, [(name_bytes(name), desc) for name, desc in entries])
        else:
            out += d[start:end]
    open(wasm_path, "wb").write(bytes(out))
    open(js_path, "w", encoding="utf-8").write(js)
    for path, text in zip(dts_paths, dts):
        open(path, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
