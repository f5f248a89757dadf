#!/usr/bin/env python3
"""Writes src/talos/config/types/<contract>.json: the typed model of Talos's machine config at one release, derived
from the Go types Talos decodes each document into (pkg/machinery/config/types/** at the tag), for the provider's
plan-time type check of config patches (src/talos/config/typed.rs).

    scripts/talos-config-types.py <talos git dir> [v1.11.6 v1.12.11 v1.13.9]

Talos decodes a document with yaml.v3 (v4 from 1.13) into the Go type its kind registers
(pkg/machinery/config/configloader/internal/decoder/decoder.go), then refuses keys the types do not have
(siderolabs/gen xyaml.CheckUnknownKeys). The model records, per Go struct, its YAML keys (the `yaml:"name"` tags,
`,inline` fields flattened, `-` and unexported fields left out) and each key's type, reduced to what the decoder
checks:

- "string", "bool", "float", "int8".."int64", "uint8".."uint64", "duration" (time.Duration);
- "scalar": a type whose UnmarshalYAML first decodes a string (any YAML scalar fits), "text": a
  TextUnmarshaler (any scalar reaches UnmarshalText), "args": v1alpha1.ArgValue (a string or a list of strings),
  "any": no check (interface{}, a struct with an inline map, or a type this script cannot resolve);
- "[]T" a list, "map:T" a map with string keys, or the name of another struct of the model.

Types from other modules are listed in EXTERNAL; a custom UnmarshalYAML not in CUSTOM is reported on stderr and
modelled as "any" (never a false refusal).
"""

import json
import re
import subprocess
import sys

TAGS = ["v1.11.6", "v1.12.11", "v1.13.9"]
ROOT = "pkg/machinery/config/types"
TALOS = "github.com/siderolabs/talos/"
# Packages scanned only for their TextUnmarshaler types (enums and addresses used by the config types).
TEXT_PACKAGES = [
    "pkg/machinery/nethelpers",
    "pkg/machinery/cel",
    "pkg/machinery/config/machine",
    "pkg/machinery/resources/block",
    "pkg/machinery/resources/network",
]
# Types outside the talos module, by import path and name.
EXTERNAL = {
    ("time", "Duration"): "duration",
    ("net/netip", "Addr"): "text",
    ("net/netip", "Prefix"): "text",
    ("net/netip", "AddrPort"): "text",
    ("net/url", "URL"): "any",
    ("os", "FileMode"): "uint32",
    ("github.com/siderolabs/crypto/x509", "PEMEncodedCertificateAndKey"): {"crt": "scalar", "key": "scalar"},
    ("github.com/siderolabs/crypto/x509", "PEMEncodedCertificate"): {"crt": "scalar"},
    ("github.com/siderolabs/crypto/x509", "PEMEncodedKey"): {"key": "scalar"},
    ("gopkg.in/yaml.v3", "Node"): "any",
    ("go.yaml.in/yaml/v4", "Node"): "any",
}
# Config types with their own UnmarshalYAML (read at each tag): what the decoder accepts.
CUSTOM = {
    "meta.URL": "scalar",  # decodes a string, then url.Parse
    "network.PortRange": "scalar",  # a uint16 or a "lo-hi" string
    "v1alpha1.Base64Bytes": "scalar",  # a base64 string
    "v1alpha1.DiskSize": "scalar",  # a humanize size string (or a number, read as its text)
    "v1alpha1.Endpoint": "scalar",  # a URL string
    "v1alpha1.InstallDiskSizeMatcher": "scalar",  # "[op]size" string
    "v1alpha1.ArgValue": "args",  # a string, or a list of strings (1.13)
    "v1alpha1.ClusterInlineManifests": "[]v1alpha1.ClusterInlineManifest",  # decodes the list, trims contents
}
INTS = {"int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte", "rune"}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def go_files(repo, tag, prefix):
    return [
        f
        for f in git(repo, "ls-tree", "-r", "--name-only", tag, prefix).split()
        if f.endswith(".go") and not f.endswith("_test.go") and "/testdata/" not in f
    ]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)//.*$", "", text)


def imports(text):
    """Import alias -> path."""
    out = {}
    block = re.search(r"\nimport \((.*?)\n\)", text, re.S)
    lines = block.group(1).splitlines() if block else []
    lines += re.findall(r"\nimport (.*)", text)
    for line in lines:
        m = re.match(r'\s*(\w+\s+)?"([^"]+)"', line)
        if m:
            path = m.group(2)
            alias = (m.group(1) or "").strip() or path.rsplit("/", 1)[-1]
            if re.fullmatch(r"v\d+", alias):  # gopkg.in/yaml.v3 style and .../yaml/v4
                alias = path.rsplit("/", 2)[-2]
            alias = alias.split(".")[0]
            out[alias] = path
    return out


def split_top(s, sep):
    """Splits on sep at bracket depth 0."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


class Package:
    def __init__(self, path):
        self.path = path  # repo-relative directory
        self.name = path.rsplit("/", 1)[-1]  # the Go package name, as docgen's schema names types
        self.types = {}  # name -> (kind, body, imports) ; kind: struct | alias
        self.unmarshal_yaml = set()
        self.unmarshal_text = set()
        self.consts = {}
        self.registrations = []  # (kind expression, type name)


def parse_struct_body(body):
    """Fields of a struct body: (names, type, tag)."""
    fields = []
    depth = 0
    cur = ""
    for line in body.splitlines():
        if depth == 0:
            cur = line
        else:
            cur += "\n" + line
        depth += line.count("{") - line.count("}")
        if depth > 0:
            continue
        line = cur.strip()
        cur = ""
        if not line:
            continue
        tag = ""
        m = re.search(r"`([^`]*)`\s*$", line)
        if m:
            tag = m.group(1)
            line = line[: m.start()].strip()
        parts = line.split(None, 1)
        if len(parts) == 1 or parts[0].startswith("*") or (len(parts) == 2 and parts[1].startswith("`")):
            fields.append(([], parts[0], tag))  # embedded
        else:
            names = [n.strip() for n in re.split(r",\s*", parts[0])]
            if len(parts) == 2 and "," in parts[0] and not re.fullmatch(r"[\w, ]+", parts[0]):
                continue
            fields.append((names, parts[1].strip(), tag))
    return fields


def scan(repo, tag, prefix):
    packages = {}
    for f in go_files(repo, tag, prefix):
        directory = f.rsplit("/", 1)[0]
        pkg = packages.setdefault(directory, Package(directory))
        raw = git(repo, "show", f"{tag}:{f}")
        imps = imports(raw)
        text = strip_comments(raw)
        # type declarations, single and grouped
        decls = []
        for m in re.finditer(r"(?m)^type (\w+)(\[[^\]]*\])? (=\s*)?(.*)$", text):
            decls.append((m.group(1), m.group(4), m.end()))
        for block in re.finditer(r"(?ms)^type \((.*?)^\)", text):
            for m in re.finditer(r"(?m)^\t(\w+) (=\s*)?(.*)$", block.group(1)):
                decls.append((m.group(1), m.group(3), None))
        for name, rest, end in decls:
            rest = rest.strip()
            if rest.startswith("struct {") or rest.startswith("struct{"):
                if rest.endswith("{}"):
                    pkg.types[name] = ("struct", "", imps)
                    continue
                depth, i = 1, end
                while depth and i < len(text):
                    if text[i] == "{":
                        depth += 1
                    elif text[i] == "}":
                        depth -= 1
                    i += 1
                pkg.types[name] = ("struct", text[end : i - 1], imps)
            else:
                pkg.types[name] = ("alias", rest, imps)
        for m in re.finditer(r"func \(\w+ \*?(\w+)\) UnmarshalYAML\(", text):
            pkg.unmarshal_yaml.add(m.group(1))
        for m in re.finditer(r"func \(\w+ \*?(\w+)\) UnmarshalText\(", text):
            pkg.unmarshal_text.add(m.group(1))
        for m in re.finditer(r'(?m)^\s*(?:const\s+)?(\w+)\s*=\s*"([^"]*)"', text):
            pkg.consts[m.group(1)] = m.group(2)
        for m in re.finditer(r"registry\.Register\(\s*([\w\".]+)\s*,.*?return &(\w+)\{\}", text, re.S):
            pkg.registrations.append((m.group(1), m.group(2)))
    return packages


class Model:
    def __init__(self, packages, text_types):
        self.packages = packages
        self.by_import = {TALOS + d: p for d, p in packages.items()}
        self.text_types = text_types  # (import path, name)
        self.types = {}
        self.unresolved = set()

    def ref(self, pkg, name):
        return f"{pkg.name}.{name}"

    def resolve_named(self, pkg, name, imps):
        """Type expression of a named type `name` (maybe qualified) seen in `pkg`."""
        if "." in name:
            alias, tname = name.split(".", 1)
            path = imps.get(alias)
            if path is None:
                self.unresolved.add(name)
                return "any"
            if (path, tname) in EXTERNAL:
                ext = EXTERNAL[(path, tname)]
                if isinstance(ext, dict):
                    key = f"ext.{alias}.{tname}"
                    self.types[key] = {"fields": dict(ext)}
                    return key
                return ext
            if (path, tname) in self.text_types:
                return "text"
            target = self.by_import.get(path)
            if target is None:
                self.unresolved.add(f"{path}.{tname}")
                return "any"
            return self.named(target, tname)
        if name in ("string",):
            return "string"
        if name == "bool":
            return "bool"
        if name in ("float32", "float64"):
            return "float"
        if name in INTS:
            return {"int": "int64", "uint": "uint64", "byte": "uint8", "rune": "int32", "uintptr": "uint64"}.get(name, name)
        if name in ("any", "interface{}"):
            return "any"
        return self.named(pkg, name)

    def named(self, pkg, name):
        key = self.ref(pkg, name)
        if key in CUSTOM:
            custom = CUSTOM[key]
            element = custom[2:] if custom.startswith("[]") else None
            if element and "." in element:
                ename = element.split(".", 1)[1]
                return "[]" + self.named(pkg, ename)
            return custom
        if name in pkg.unmarshal_yaml:
            print(f"warning: {key} has its own UnmarshalYAML and is not in CUSTOM: modelled as any", file=sys.stderr)
            return "any"
        if name in pkg.unmarshal_text:
            return "text"
        if name not in pkg.types:
            self.unresolved.add(key)
            return "any"
        kind, body, imps = pkg.types[name]
        if kind == "alias":
            return self.expr(pkg, body, imps)
        if key not in self.types:
            self.types[key] = None  # cycle guard
            st = self.struct(pkg, body, imps)
            if isinstance(st, str):
                del self.types[key]
                return st
            self.types[key] = st
        return key

    def expr(self, pkg, t, imps):
        t = t.strip()
        if t.startswith("*"):
            return self.expr(pkg, t[1:], imps)
        if t.startswith("[]"):
            inner = t[2:].strip()
            if inner in ("byte", "uint8"):
                return "scalar"
            return "[]" + self.expr(pkg, inner, imps)
        m = re.match(r"\[\d+\](.*)", t)
        if m:
            return "[]" + self.expr(pkg, m.group(1), imps)
        if t.startswith("map["):
            depth, i = 0, 3
            while True:
                if t[i] == "[":
                    depth += 1
                elif t[i] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            return "map:" + self.expr(pkg, t[i + 1 :], imps)
        if t.startswith("struct"):
            body = t[t.index("{") + 1 : t.rindex("}")]
            key = f"{pkg.name}.anon{len(self.types)}"
            self.types[key] = None
            self.types[key] = self.struct(pkg, body, imps)
            return key
        if t.startswith("interface") or t == "any":
            return "any"
        if t.startswith("func") or t.startswith("chan"):
            return "any"
        return self.resolve_named(pkg, t, imps)

    def struct(self, pkg, body, imps):
        """The model of a struct body, or "text"/"scalar" when an embedded field's unmarshaler is promoted."""
        fields = {}
        free = False
        promoted = None
        for names, t, tag in parse_struct_body(body):
            m = re.search(r'yaml:"([^"]*)"', tag)
            yaml_tag = m.group(1) if m else None
            opts = yaml_tag.split(",") if yaml_tag is not None else [""]
            if yaml_tag is not None and opts[0] == "-":
                continue
            inline = "inline" in opts[1:]
            if not names:  # embedded
                if not inline and yaml_tag is None:
                    sub = self.expr(pkg, t, imps)
                    if sub in ("text", "scalar"):
                        # its UnmarshalText / UnmarshalYAML is promoted: the struct decodes as it does
                        promoted = sub
                        continue
                    # yaml.v3 does not inline an embedded field without `,inline`: it is a key of its own
                    base = t.lstrip("*").split(".")[-1]
                    if base[:1].isupper():
                        fields[base.lower()] = sub
                    continue
                names = [None]
            for name in names:
                if name is not None and not name[:1].isupper():
                    continue
                sub = self.expr(pkg, t, imps)
                if inline:
                    if sub.startswith("map:") or sub == "any":
                        free = True
                    elif sub in self.types and self.types[sub]:
                        inner = self.types[sub]
                        if inner.get("free"):
                            free = True
                        fields.update(inner["fields"])
                    continue
                key = opts[0] if yaml_tag and opts[0] else name.lower()
                fields[key] = sub
        if promoted:
            return promoted
        out = {"fields": dict(sorted(fields.items()))}
        if free:
            out["free"] = True
        return out


def model_at(repo, tag):
    packages = scan(repo, tag, ROOT)
    text_types = set()
    for prefix in TEXT_PACKAGES:
        for directory, pkg in scan(repo, tag, prefix).items():
            for name in pkg.unmarshal_text:
                text_types.add((TALOS + directory, name))
    m = Model(packages, text_types)
    documents = {}
    for pkg in packages.values():
        for kind_expr, tname in pkg.registrations:
            kind = kind_expr.strip('"') if kind_expr.startswith('"') else pkg.consts.get(kind_expr.split(".")[-1])
            if kind is None:
                print(f"warning: {tag}: cannot resolve the kind {kind_expr} of {tname}", file=sys.stderr)
                continue
            documents[kind] = m.named(pkg, tname)
    for name in sorted(m.unresolved):
        print(f"note: {tag}: {name} unresolved: modelled as any", file=sys.stderr)
    used = {k: v for k, v in sorted(m.types.items()) if v is not None}
    return {"release": tag, "documents": dict(sorted(documents.items())), "types": used}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    repo = sys.argv[1]
    tags = sys.argv[2:] or TAGS
    for tag in tags:
        minor = ".".join(tag.lstrip("v").split(".")[:2]).replace(".", "_")
        path = f"src/talos/config/types/v{minor}.json"
        model = model_at(repo, tag)
        with open(path, "w") as f:
            json.dump(model, f, indent=0, separators=(",", ":"), sort_keys=False)
            f.write("\n")
        print(f"{path}: {len(model['documents'])} documents, {len(model['types'])} types", file=sys.stderr)


if __name__ == "__main__":
    main()
