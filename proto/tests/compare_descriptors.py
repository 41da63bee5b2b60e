"""Compare every message, enum and RPC in the project's .proto files against the pinned
`modal` wheel's descriptors, independently of how the files were written.

    python compare_descriptors.py DESCRIPTOR_SET   # made by: protoc --include_imports --descriptor_set_out

Fails on any difference in name, number, type, label, oneof or RPC signature.
"""
import sys
from google.protobuf import descriptor_pb2
from modal_proto import api_pb2, task_command_router_pb2

WHEEL = {}
for fd in (api_pb2.DESCRIPTOR, task_command_router_pb2.DESCRIPTOR):
    proto = descriptor_pb2.FileDescriptorProto()
    fd.CopyToProto(proto)
    WHEEL[proto.package] = proto


def index(file_proto):
    out = {}

    def walk(prefix, msgs, enums):
        for e in enums:
            out[f"{prefix}.{e.name}"] = e
        for m in msgs:
            name = f"{prefix}.{m.name}"
            out[name] = m
            walk(name, m.nested_type, m.enum_type)

    walk(file_proto.package, file_proto.message_type, file_proto.enum_type)
    for s in file_proto.service:
        for r in s.method:
            out[f"{file_proto.package}.{s.name}/{r.name}"] = r
    return out


def field_facts(m, f):
    oneof = m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
    return (f.name, f.number, f.type, f.type_name, f.label, oneof, f.proto3_optional)


def main():
    ours = descriptor_pb2.FileDescriptorSet()
    ours.ParseFromString(open(sys.argv[1], "rb").read())
    wheel = {}
    for p in WHEEL.values():
        wheel.update(index(p))
    passed = failed = 0

    def check(name, ok, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}: {why}")

    for fp in ours.file:
        if not fp.package.startswith("modal."):
            continue
        for name, ours_d in index(fp).items():
            theirs = wheel.get(name)
            if theirs is None:
                check(name, False, "not in the wheel")
                continue
            if isinstance(ours_d, descriptor_pb2.DescriptorProto):
                by_number = {f.number: f for f in theirs.field}
                for f in ours_d.field:
                    t = by_number.get(f.number)
                    want = field_facts(theirs, t) if t else None
                    got = field_facts(ours_d, f)
                    check(f"{name}.{f.name}", got == want, f"ours {got}, wheel {want}")
            elif isinstance(ours_d, descriptor_pb2.EnumDescriptorProto):
                got = [(v.name, v.number) for v in ours_d.value]
                want = [(v.name, v.number) for v in theirs.value]
                check(name, got == want, f"ours {got}, wheel {want}")
            else:
                got = (ours_d.input_type, ours_d.output_type, ours_d.client_streaming, ours_d.server_streaming)
                want = (theirs.input_type, theirs.output_type, theirs.client_streaming, theirs.server_streaming)
                check(name, got == want, f"ours {got}, wheel {want}")
    print(f"proto-descriptors: {passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
