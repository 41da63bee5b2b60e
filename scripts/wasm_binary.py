"""Reading and writing the wasm binary format, for the package build's post-processing
(wasm-trim.py, wasm-dead-closures.py) and its measuring (wasm-size-bound.py): the
sections, their entries and the function bodies, no more than those scripts need.

A malformed or unexpected module ends the calling script with a message naming it.
"""
import os
import sys

UNREACHABLE_BODY = b"\x00\x00\x0b"  # a function body: no locals; unreachable; end


def fail(why):
    sys.exit(f"{os.path.splitext(os.path.basename(sys.argv[0]))[0]}: {why}")


def leb(buf, i):
    """The unsigned LEB128 at `i`, and the position after it."""
    r = s = 0
    while True:
        b = buf[i]
        i += 1
        r |= (b & 0x7F) << s
        s += 7
        if b < 0x80:
            return r, i


def skip_leb(buf, i):
    """The position after the (signed or unsigned) LEB128 at `i`."""
    while buf[i] & 0x80:
        i += 1
    return i + 1


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sections(d):
    """(id, start, body start, end) of each section."""
    i = 8
    while i < len(d):
        n, j = leb(d, i + 1)
        yield d[i], i, j, j + n
        i = j + n


def read_name(d, p):
    """A length-prefixed name at `p`, and the position after it."""
    n, p = leb(d, p)
    return d[p : p + n], p + n


def name_bytes(name):
    return uleb(len(name)) + name


def section_bytes(sid, entries):
    """Section `sid` of `entries`, each a list of already encoded parts."""
    body = bytearray(uleb(len(entries)))
    for parts in entries:
        body += b"".join(parts)
    return bytes([sid]) + uleb(len(body)) + body


def skip_limits(d, p):
    flags = d[p]
    _, p = leb(d, p + 1)
    if flags & 1:
        _, p = leb(d, p)
    return p


def read_imports(d, body, end):
    """[module, field, descriptor (kind and type bytes)] of each import."""
    count, p = leb(d, body)
    entries = []
    for _ in range(count):
        module, p = read_name(d, p)
        field, p = read_name(d, p)
        kind, q = d[p], p + 1
        if kind == 0:  # function: type index
            _, q = leb(d, q)
        elif kind == 1:  # table: reference type, limits
            q = skip_limits(d, q + 1)
        elif kind == 2:  # memory: limits
            q = skip_limits(d, q)
        elif kind == 3:  # global: value type, mutability
            q += 2
        else:
            fail(f"import of unknown kind {kind}")
        entries.append([module, field, d[p:q]])
        p = q
    if p != end:
        fail("the import section did not parse to its end")
    return entries


def imported_functions(imports):
    """How many of `imports` (read_imports) are functions: the index of the first function
    the module defines."""
    return sum(1 for _, _, desc in imports if desc[0] == 0)


def read_exports(d, body, end):
    """[name, descriptor (kind and index bytes)] of each export."""
    count, p = leb(d, body)
    entries = []
    for _ in range(count):
        name, p = read_name(d, p)
        _, q = leb(d, p + 1)  # kind, index
        entries.append([name, d[p:q]])
        p = q
    if p != end:
        fail("the export section did not parse to its end")
    return entries


def function_names(d, p, end):
    """Function index -> name, from a `name` custom section's function names (nothing for
    another custom section)."""
    section, p = read_name(d, p)
    names = {}
    if section != b"name":
        return names
    while p < end:
        sub, q = d[p], p + 1
        size, q = leb(d, q)
        if sub == 1:
            count, r = leb(d, q)
            for _ in range(count):
                idx, r = leb(d, r)
                n, r = read_name(d, r)
                names[idx] = n.decode("utf-8", "replace")
        p = q + size
    return names


def function_bodies(d, body):
    """The code section's function bodies, in order."""
    count, p = leb(d, body)
    bodies = []
    for _ in range(count):
        size, p = leb(d, p)
        bodies.append(d[p : p + size])
        p += size
    return bodies


def code_section(bodies, imported, emptied):
    """The code section of `bodies`, those of the functions in `emptied` (module function
    indices, after the `imported` ones) made `unreachable`; and the bytes that removed."""
    code, removed = bytearray(uleb(len(bodies))), 0
    for k, fb in enumerate(bodies):
        if imported + k in emptied:
            removed += len(fb)
            fb = UNREACHABLE_BODY
        code += uleb(len(fb)) + fb
    return bytes([10]) + uleb(len(code)) + bytes(code), removed
