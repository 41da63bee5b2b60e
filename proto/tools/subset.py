"""Write the project's .proto subset of Modal's protocol from the pinned wheel's descriptors.

    python subset.py SPEC OUT_DIR      # regenerate proto files
    python subset.py SPEC OUT_DIR --check   # fail if the committed files differ

SPEC lists, one per line, the RPCs (`rpc Service/Method`) and messages (`message Name`,
nested ones as `Outer.Inner`) the project uses. Every kept field keeps Modal's name,
number, type and label. A field whose message type is not listed is left out and named
in a comment, so the subset is visible where it is read. Enums a kept field uses come
along whole.
"""
import sys
from pathlib import Path
from google.protobuf.descriptor import FieldDescriptor as F
from modal_proto import api_pb2, task_command_router_pb2

FILES = {
    "modal.client": (api_pb2.DESCRIPTOR, "modal_proto/api.proto"),
    "modal.task_command_router": (task_command_router_pb2.DESCRIPTOR, "modal_proto/task_command_router.proto"),
}
SCALARS = {v: k[5:].lower() for k, v in vars(F).items() if k.startswith("TYPE_")}


def parse_spec(path):
    rpcs, messages = [], set()
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, name = line.split()
        if kind == "rpc":
            rpcs.append(name)
        else:
            package, _, msg = name.rpartition(":")
            messages.add(f"modal.{package or 'client'}:{msg}")
    return rpcs, messages


def all_messages():
    def walk(m):
        yield m
        for n in m.nested_types:
            yield from walk(n)
    for fd, _ in FILES.values():
        for m in fd.message_types_by_name.values():
            yield from walk(m)


def short(full, package):
    return full[len(package) + 1:] if full.startswith(package + ".") else full


def qualified(m):
    return m.full_name.split(".", 2)[2] if m.full_name.startswith("modal.") else m.full_name


class Writer:
    def __init__(self, rpcs, wanted):
        self.rpcs, self.wanted = rpcs, wanted
        self.by_name = {f"{m.file.package}:{qualified(m)}": m for m in all_messages()}
        self.enums = set()

    def keep(self, m):
        return f"{m.file.package}:{qualified(m)}" in self.wanted or m.full_name.startswith("google.protobuf.")

    def type_of(self, f, package):
        if f.type == F.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                k, v = f.message_type.fields
                return f"map<{self.type_of(k, package)}, {self.type_of(v, package)}>"
            return short(f.message_type.full_name, package)
        if f.type == F.TYPE_ENUM:
            self.enums.add(f.enum_type)
            return short(f.enum_type.full_name, package)
        return SCALARS[f.type]

    def field_kept(self, f):
        t = f.message_type
        if t is None:
            return True
        if t.GetOptions().map_entry:
            v = t.fields_by_name["value"]
            return v.message_type is None or self.keep(v.message_type)
        return self.keep(t)

    def label(self, f):
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            return ""
        if (f.is_repeated if hasattr(f, "is_repeated") else f.label == F.LABEL_REPEATED):
            return "repeated "
        if self.synthetic_oneof(f):
            return "optional "
        return ""

    @staticmethod
    def synthetic_oneof(f):
        """A proto3 `optional` field, whose oneof protoc made (named `_name`, or with
        `X`s in front where that name is taken: `X_zone` for the field `_zone`)."""
        if f.containing_oneof is None:
            return False
        from google.protobuf import descriptor_pb2
        m = descriptor_pb2.DescriptorProto()
        f.containing_type.CopyToProto(m)
        return next(x for x in m.field if x.number == f.number).proto3_optional

    def message(self, m, package, ind=""):
        out = [f"{ind}message {m.name} {{"]
        oneofs = {}
        for f in m.fields:
            if not self.field_kept(f):
                out.append(f"{ind}  // omitted: {f.name} = {f.number} ({f.message_type.full_name})")
                continue
            o = f.containing_oneof
            if o is not None and not self.synthetic_oneof(f):
                oneofs.setdefault(o.name, []).append(f)
                continue
            out.append(f"{ind}  {self.label(f)}{self.type_of(f, package)} {f.name} = {f.number};")
        for name, fs in oneofs.items():
            out.append(f"{ind}  oneof {name} {{")
            for f in fs:
                out.append(f"{ind}    {self.type_of(f, package)} {f.name} = {f.number};")
            out.append(f"{ind}  }}")
        for n in m.nested_types:
            if self.keep(n):
                out.extend(self.message(n, package, ind + "  "))
        for e in m.enum_types:
            if self.keep_enum(m, e):
                out.extend(self.enum(e, ind + "  "))
        out.append(f"{ind}}}")
        return out

    def keep_enum(self, m, e):
        return any(f.enum_type is e for f in m.fields if self.field_kept(f))

    def enum(self, e, ind=""):
        out = [f"{ind}enum {e.name} {{"]
        out += [f"{ind}  {v.name} = {v.number};" for v in e.values]
        out.append(f"{ind}}}")
        return out

    def file(self, package):
        fd, fname = FILES[package]
        body = []
        for m in fd.message_types_by_name.values():
            if self.keep(m):
                body.extend(self.message(m, package))
                body.append("")
        for e in fd.enum_types_by_name.values():
            if e in self.enums:
                body.extend(self.enum(e))
                body.append("")
        services = {}
        for rpc in self.rpcs:
            svc, meth = rpc.split("/")
            for s in fd.services_by_name.values():
                if s.name == svc:
                    services.setdefault(s.name, []).append(s.methods_by_name[meth])
        for name, methods in services.items():
            body.append(f"service {name} {{")
            for r in methods:
                cs = "stream " if r.client_streaming else ""
                ss = "stream " if r.server_streaming else ""
                body.append(f"  rpc {r.name}({cs}{short(r.input_type.full_name, package)}) "
                            f"returns ({ss}{short(r.output_type.full_name, package)});")
            body.append("}")
            body.append("")
        imports = ['import "google/protobuf/empty.proto";']
        if any("google.protobuf.Timestamp" in line for line in body):
            imports.append('import "google/protobuf/timestamp.proto";')
        if package == "modal.task_command_router":
            imports.insert(0, 'import "modal_proto/api.proto";')
        head = [
            "// Generated by proto/tools/subset.py from the descriptors of the pinned `modal` wheel.",
            "// Do not edit by hand: edit proto/subset.txt and regenerate (see proto/README.md).",
            'syntax = "proto3";', "", f"package {package};", "", *imports, "",
        ]
        return "\n".join(head + body).rstrip() + "\n"

    def check_listed(self):
        missing = [w for w in self.wanted if w not in self.by_name]
        for rpc in self.rpcs:
            svc, meth = rpc.split("/")
            for fd, _ in FILES.values():
                s = fd.services_by_name.get(svc)
                if s is None:
                    continue
                r = s.methods_by_name.get(meth)
                if r is None:
                    missing.append(rpc)
                    continue
                for t in (r.input_type, r.output_type):
                    if not self.keep(t):
                        missing.append(f"{t.file.package}:{qualified(t)} (used by {rpc})")
        if missing:
            sys.exit("subset.py: not listed or not in the wheel:\n  " + "\n  ".join(sorted(missing)))


def main():
    spec, out_dir = sys.argv[1], Path(sys.argv[2])
    check = "--check" in sys.argv
    rpcs, wanted = parse_spec(spec)
    w = Writer(rpcs, wanted)
    w.check_listed()
    stale = []
    for package, (_, fname) in FILES.items():
        text = w.file(package)
        path = out_dir / fname
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.exit("subset.py: out of date, regenerate: " + ", ".join(stale))


if __name__ == "__main__":
    main()
