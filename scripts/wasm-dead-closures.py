#!/usr/bin/env python3
"""Empties the closure invoke shims of the package's wasm that nothing can call, in place
(scripts/build-pkg.sh, before wasm-trim.py drops the function names this reads).

wasm-bindgen's describe functions take the address of an invoke shim for every closure
type in every `#[wasm_bindgen]` import of every crate linked in (js-sys's `forEach`,
`find`, ... of each typed array, `Array`, `Set`, `Map`), used or not; taking an address
puts the shim in the function table. The wasm-bindgen CLI runs and deletes the describe
functions, and exports the shims of the closures the glue does call, but the table keeps
every entry, so the rest stay in the module as dead code (42 shims, -707 B gzip).

A shim is emptied (its body made `unreachable`) only when all of these hold: its name is
wasm-bindgen's `convert::closures::_::invoke`, it is in the function table, and no
export, start function, direct call (`call`, `return_call`) or `ref.func` names it. Its
table index was only ever computed by the deleted describe functions, so no
`call_indirect` can reach it either.

    wasm-dead-closures.py WASM

Fails, writing nothing, on a module it cannot fully parse (an instruction it does not
know, another element segment form).
"""
import re
import sys

from wasm_binary import (
    code_section,
    fail,
    function_bodies,
    function_names,
    imported_functions,
    leb,
    read_exports,
    read_imports,
    sections,
    skip_leb,
)

SHIM = re.compile(r"^wasm_bindgen\[[0-9a-f]+\]::convert::closures::_::invoke::<")

# Immediates of the instructions a Rust wasm32 module has (MVP, sign-ext, bulk memory,
# reference types, multi-value, non-trapping float-to-int).
NO_IMM = set(range(0x45, 0xC5)) | {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1}
ONE_U32 = {0x0C, 0x0D, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26}
MEMARG = set(range(0x28, 0x3F))


def code_refs(body, refs):
    """Adds to `refs` the functions that `body` calls or takes a `ref.func` of."""
    p = 0
    groups, p = leb(body, p)
    for _ in range(groups):
        _, p = leb(body, p)
        p += 1  # value type
    while p < len(body):
        op, p = body[p], p + 1
        if op in NO_IMM:
            continue
        if op in ONE_U32:
            p = skip_leb(body, p)
        elif op in (0x10, 0x12, 0xD2):  # call, return_call, ref.func
            f, p = leb(body, p)
            refs.add(f)
        elif op in (0x02, 0x03, 0x04):  # block type: empty, a value type, or a type index
            p = p + 1 if body[p] == 0x40 or 0x6F <= body[p] <= 0x7F else skip_leb(body, p)
        elif op in (0x11, 0x13):  # call_indirect, return_call_indirect: type, table
            p = skip_leb(body, skip_leb(body, p))
        elif op == 0x0E:  # br_table
            n, p = leb(body, p)
            for _ in range(n + 1):
                p = skip_leb(body, p)
        elif op == 0x1C:  # select with types
            n, p = leb(body, p)
            p += n
        elif op in MEMARG:
            p = skip_leb(body, skip_leb(body, p))
        elif op in (0x3F, 0x40):  # memory.size, memory.grow
            p += 1
        elif op in (0x41, 0x42):  # i32.const, i64.const
            p = skip_leb(body, p)
        elif op == 0x43:
            p += 4
        elif op == 0x44:
            p += 8
        elif op == 0xD0:  # ref.null
            p += 1
        elif op == 0xFC:
            sub, p = leb(body, p)
            if sub <= 7:  # trunc_sat
                pass
            elif sub == 8:  # memory.init: data, memory
                p = skip_leb(body, p) + 1
            elif sub in (9, 13, 15, 16, 17):  # data.drop, elem.drop, table.grow/size/fill
                p = skip_leb(body, p)
            elif sub == 10:  # memory.copy
                p += 2
            elif sub == 11:  # memory.fill
                p += 1
            elif sub in (12, 14):  # table.init, table.copy
                p = skip_leb(body, skip_leb(body, p))
            else:
                fail(f"unknown instruction 0xfc {sub}")
        else:
            fail(f"unknown instruction 0x{op:02x}")
    if p != len(body):
        fail("a function body did not parse to its end")


def table_elements(d, p):
    """Function indices of the active element segments (the form LLVM writes)."""
    count, p = leb(d, p)
    funcs = []
    for _ in range(count):
        flags, p = leb(d, p)
        if flags != 0:
            fail(f"element segment form {flags}")
        while d[p] != 0x0B:  # the offset expression: i32.const N
            p += 1
        n, p = leb(d, p + 1)
        for _ in range(n):
            f, p = leb(d, p)
            funcs.append(f)
    return funcs


def main(wasm_path):
    d = open(wasm_path, "rb").read()
    imported, names, table, refs, code = 0, {}, [], set(), None
    for sid, start, body, end in sections(d):
        if sid == 0:
            names.update(function_names(d, body, end))
        elif sid == 2:
            imported = imported_functions(read_imports(d, body, end))
        elif sid == 7:
            refs.update(leb(desc, 1)[0] for _, desc in read_exports(d, body, end) if desc[0] == 0)
        elif sid == 8:
            refs.add(leb(d, body)[0])
        elif sid == 9:
            table = table_elements(d, body)
        elif sid == 10:
            code = (start, body, end)
    if code is None or not names:
        fail("no code section or no function names")
    start, body, end = code
    bodies = function_bodies(d, body)
    for fb in bodies:
        code_refs(fb, refs)
    dead = {f for f in table if f not in refs and SHIM.match(names.get(f, ""))}
    section, removed = code_section(bodies, imported, dead)
    open(wasm_path, "wb").write(d[:start] + section + d[end:])
    print(f"wasm-dead-closures: {len(dead)} closure shims only the table named, {removed} bytes, emptied")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
