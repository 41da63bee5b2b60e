"""Tidy the package's generated .d.ts (called by scripts/build-pkg.sh).

- wasm-bindgen types a trailing `Option` parameter declared with an unchecked TS type as
  `name: T | undefined`, which TypeScript treats as a required argument; make such
  trailing parameters optional (`name?: T`), as callers expect.
- The stream adapter classes wasm-streams exports use `any`; the public types must not.
- Modal JS's generic signatures, which wasm-bindgen cannot declare: `ContainerProcess<R>`
  (its streams typed by the exec's `mode`), `exec` overloads by `mode`, `terminate`
  overloads by `wait`. Fails if a declaration they rewrite is not found.
- Fails if any `any` is left.
"""
import re
import sys
from pathlib import Path

ANY = re.compile(r"\bany\b")
PARAM = re.compile(r"(\w+): ([^,()]+?) \| undefined(?=[,)])")


def optional_trailing(params: str) -> str:
    parts = [p.strip() for p in params.split(",")] if params.strip() else []
    # from the end, `x: T | undefined` and `x?: T` parameters may all be optional
    for i in range(len(parts) - 1, -1, -1):
        m = re.fullmatch(r"(\w+): (.+?) \| undefined", parts[i])
        if m:
            parts[i] = f"{m.group(1)}?: {m.group(2)}"
        elif "?:" not in parts[i]:
            break
    return ", ".join(parts)


def fix(text: str) -> str:
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\s*(?:static )?(?:async )?\w+\()(.*)(\)(?::.*)?;)$", line)
        if m and "| undefined" in m.group(2) and "=>" not in m.group(2):
            line = m.group(1) + optional_trailing(m.group(2)) + m.group(3)
        if not line.lstrip().startswith(("*", "/")):
            line = ANY.sub("unknown", line)
        out.append(line)
    return "\n".join(out) + "\n"


# (generated declaration, its replacement) pairs: each must be found exactly once
MODAL_GENERICS = [
    ("export class ContainerProcess {",
     "export class ContainerProcess<R extends string | Uint8Array = string | Uint8Array> {"),
    ("    readonly stderr: ModalReadStream;\n", "    readonly stderr: ModalReadStream<R>;\n"),
    ("    readonly stdin: ModalWriteStream;\n", "    readonly stdin: ModalWriteStream<R>;\n"),
    ("    readonly stdout: ModalReadStream;\n", "    readonly stdout: ModalReadStream<R>;\n"),
    ("    exec(command: string[], params?: SandboxExecParams | null): Promise<ContainerProcess>;\n",
     "    exec(command: string[], params?: SandboxExecParams & { mode?: \"text\" }): Promise<ContainerProcess<string>>;\n"
     "    exec(command: string[], params: SandboxExecParams & { mode: \"binary\" }): Promise<ContainerProcess<Uint8Array>>;\n"
     "    exec(command: string[], params?: SandboxExecParams): Promise<ContainerProcess>;\n"),
    ("    terminate(params?: SandboxTerminateParams | null): Promise<number | undefined>;\n",
     "    terminate(params?: SandboxTerminateParams & { wait?: false }): Promise<void>;\n"
     "    terminate(params: SandboxTerminateParams & { wait: true }): Promise<number>;\n"
     "    terminate(params?: SandboxTerminateParams): Promise<number | undefined>;\n"),
]


def modal_generics(path: Path, text: str) -> str:
    if "export class ContainerProcess {" not in text and "class Sandbox" not in text:
        return text
    for old, new in MODAL_GENERICS:
        if text.count(old) != 1:
            sys.exit(f"dts-fixup: {path}: expected one `{old.strip()}` to rewrite, found {text.count(old)}")
        text = text.replace(old, new)
    return text


def main() -> None:
    left = []
    for path in map(Path, sys.argv[1:]):
        text = modal_generics(path, fix(path.read_text()))
        path.write_text(text)
        left += [f"{path}:{i + 1}: {l.strip()}" for i, l in enumerate(text.splitlines())
                 if ANY.search(l) and not l.lstrip().startswith(("*", "/"))]
    if left:
        sys.exit("dts-fixup: `any` left in the public types:\n  " + "\n  ".join(left))


if __name__ == "__main__":
    main()
