#!/usr/bin/env python3
"""Wire comparison of the project's upstream protos with the upstream sources (run by scripts/proto-wire.sh).

Compiles both .proto sets with protoc (grpcio-tools), then, for every message and enum the project declares in the
compared packages, checks that upstream declares it with the same field numbers, names, types and labels (enum
values: same numbers). Prints each difference and exits 1 when there is one. With --table, writes the upstream
rows of the project's messages and enums to a TSV the Rust test `tests/proto_wire.rs` checks the project's
descriptors against in CI (no upstream checkout there):

    <message or enum full name> TAB <field or value name> TAB <number> TAB <type> TAB <label>

type: a scalar name (int32, string, bytes...) or the full name of a message/enum; label: singular, optional
(proto3 `optional`), repeated; for enum values type is `enum` and label `-`.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2
from grpc_tools import protoc
import grpc_tools

SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED32: "sfixed32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64: "sfixed64",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT32: "sint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_SINT64: "sint64",
}


def compile_set(includes, files):
    """Compiles `files` (relative to the first include) into a FileDescriptorSet."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        args = ["protoc", f"--descriptor_set_out={out}", "--include_imports"]
        args += [f"-I{i}" for i in includes] + [f"-I{wkt}"] + files
        if protoc.main(args) != 0:
            sys.exit(f"protoc failed on {includes[0]}")
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        return fds


def protos_under(root, sub=""):
    base = os.path.join(root, sub)
    found = []
    for d, dirs, files in os.walk(base):
        dirs[:] = [x for x in dirs if x != "vendor"]
        found += [os.path.relpath(os.path.join(d, f), root) for f in files if f.endswith(".proto")]
    return sorted(found)


def index(fds):
    """{full name: ("message", DescriptorProto) | ("enum", EnumDescriptorProto)}."""
    out = {}

    def walk_msg(prefix, m):
        name = f"{prefix}.{m.name}" if prefix else m.name
        out[name] = ("message", m)
        for n in m.nested_type:
            walk_msg(name, n)
        for e in m.enum_type:
            out[f"{name}.{e.name}"] = ("enum", e)

    for f in fds.file:
        for m in f.message_type:
            walk_msg(f.package, m)
        for e in f.enum_type:
            out[f"{f.package}.{e.name}" if f.package else e.name] = ("enum", e)
    return out


def field_row(f):
    ty = SCALARS.get(f.type) or f.type_name.lstrip(".")
    if f.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
        label = "repeated"
    elif f.proto3_optional:
        label = "optional"
    else:
        label = "singular"
    return (f.name, f.number, ty, label)


# Project packages named differently from upstream's (the package is not on the wire): project -> upstream.
ALIASES = {"talos.resource.config.": "resource.config."}


def upstream_name(name):
    for mine, theirs in ALIASES.items():
        if name.startswith(mine):
            return theirs + name[len(mine):]
    return name


def compare(project, upstream, packages):
    rows, problems = [], []
    for name, (kind, d) in sorted(project.items()):
        if not any(name == p or name.startswith(p + ".") for p in packages):
            continue
        up_name = upstream_name(name)
        if up_name not in upstream or upstream[up_name][0] != kind:
            problems.append(f"{kind} {name}: not in upstream (as {up_name})")
            continue
        up = upstream[up_name][1]
        if kind == "enum":
            up_values = {v.number: v.name for v in up.value}
            for v in d.value:
                if up_values.get(v.number) != v.name:
                    problems.append(f"enum {name}.{v.name} = {v.number}: upstream has {up_values.get(v.number)}")
            rows += [(name, v.name, v.number, "enum", "-") for v in up.value if any(p.number == v.number for p in d.value)]
            continue
        up_fields = {f.number: field_row(f) for f in up.field}
        for f in d.field:
            mine = field_row(f)
            theirs = up_fields.get(f.number)
            if theirs is None:
                problems.append(f"{name}.{f.name} = {f.number}: no such field number upstream")
            elif theirs != mine:
                problems.append(f"{name}.{f.name}: project {mine}, upstream {theirs}")
            else:
                rows.append((name,) + theirs)
    return rows, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=True, help="the project's proto/ directory")
    ap.add_argument("--talos-api", required=True, help="siderolabs/talos api/ directory at the tag")
    ap.add_argument("--cosi-proto", help="cosi-project/specification proto/ directory (optional)")
    ap.add_argument("--table", help="write the TSV table here")
    a = ap.parse_args()

    project = index(compile_set([a.project], protos_under(a.project, "talos") + protos_under(a.project, "cosi")))
    talos = index(compile_set([a.talos_api, os.path.join(a.talos_api, "vendor")], protos_under(a.talos_api)))
    rows, problems = compare(
        project, talos, ["common", "machine", "storage", "talos.resource.definitions", "talos.resource.config"]
    )
    if a.cosi_proto:
        cosi = index(compile_set([a.cosi_proto], protos_under(a.cosi_proto)))
        cosi_rows, cosi_problems = compare(project, cosi, ["cosi.resource"])
        rows += cosi_rows
        problems += cosi_problems
    for p in problems:
        print(f"DIFF {p}")
    print(f"{len(rows)} fields and enum values identical to upstream, {len(problems)} differences")
    if a.table:
        with open(a.table, "w") as f:
            f.write("# message\tfield\tnumber\ttype\tlabel  (written by scripts/proto-wire.sh; do not edit)\n")
            for r in rows:
                f.write("\t".join(str(x) for x in r) + "\n")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
