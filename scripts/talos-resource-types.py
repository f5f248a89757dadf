#!/usr/bin/env python3
"""Prints src/emulator/talos/resource_types.rs: the COSI resource types each Talos release registers, with their
sensitivity, read from a siderolabs/talos git directory (pkg/machinery/resources/**: each `resource.Type(...)`
constant and the `Sensitivity` of the ResourceDefinition naming it; COSI's own meta types added).

    scripts/talos-resource-types.py <talos git dir> v1.11.6 v1.12.11 v1.13.9 > src/emulator/talos/resource_types.rs
"""

import re
import subprocess
import sys

META = {"ResourceDefinitions.meta.cosi.dev": False, "Namespaces.meta.cosi.dev": False}


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def types_at(repo, tag):
    files = [
        f
        for f in git(repo, "ls-tree", "-r", "--name-only", tag, "pkg/machinery/resources").split()
        if f.endswith(".go") and not f.endswith("_test.go")
    ]
    consts, sensitive_consts = {}, set()
    for f in files:
        text = git(repo, "show", f"{tag}:{f}")
        pkg = f.rsplit("/", 1)[0]
        for name, value in re.findall(r'(\w+)\s*=\s*resource\.Type\("([^"]+)"\)', text):
            consts[(pkg, name)] = value
        for block in re.findall(r"ResourceDefinition\(\) meta\.ResourceDefinitionSpec \{(.*?)\n\}", text, re.S):
            m = re.search(r"\bType:\s+(\w+)", block)
            if m and "meta.Sensitive" in block:
                sensitive_consts.add((pkg, m.group(1)))
    out = {v: (k in sensitive_consts) for k, v in consts.items()}
    out.update(META)
    return out


def main():
    repo, tags = sys.argv[1], sys.argv[2:]
    per_tag = {t: types_at(repo, t) for t in tags}
    minors = {t: int(t.lstrip("v").split(".")[1]) for t in tags}
    rows = {}
    for t in tags:
        for ty, sens in per_tag[t].items():
            rows.setdefault(ty, []).append((minors[t], sens))
    print("//! The COSI resource types Talos registers, per minor release, with their sensitivity: written by")
    print(f"//! scripts/talos-resource-types.py from siderolabs/talos {', '.join(tags)} (pkg/machinery/resources/**).")
    print("")
    print("/// `(type, first minor, last minor, sensitive)`: registered in Talos 1.<first>..=1.<last> (of the releases read)\n/// with that sensitivity; a type whose sensitivity changed has one row per run.")
    print("#[rustfmt::skip]")
    print("pub const RESOURCE_TYPES: &[(&str, u32, u32, bool)] = &[")
    for ty in sorted(rows):
        # One row per run of consecutive releases with the same sensitivity.
        runs = []
        for m, sens in sorted(rows[ty]):
            if runs and runs[-1][1] == m - 1 and runs[-1][2] == sens:
                runs[-1][1] = m
            else:
                runs.append([m, m, sens])
        for first, last, sens in runs:
            print(f'    ("{ty}", {first}, {last}, {str(sens).lower()}),')
    print("];")


if __name__ == "__main__":
    main()
