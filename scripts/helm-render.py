#!/usr/bin/env python3
"""Renders a Helm chart package offline with Helm v4 (PyPI helm-python-sdk, installed by scripts/install-helm.sh).

Usage: PYTHONPATH=.cache/helm/site helm-render.py CHART.tgz RELEASE NAMESPACE < values.json

Reads the values as JSON on stdin and prints, as JSON on stdout, a list of {"template": path, "object": {...}}:
every Kubernetes object the chart renders, parsed by Helm's own YAML reader (sigs.k8s.io/yaml, so `0400` is the
octal 256 the API server would store). Nothing is contacted (`lookup` returns nothing). Exit status 1 with the
error on stderr when the chart does not render.
"""
import json
import re
import sys

import helm_python as helm

# Helm splits a template's output into documents on `---` lines (releaseutil.SplitManifests).
SEPARATOR = re.compile(r"(?m)^---\s*$")


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    chart_path, release, namespace = sys.argv[1:]
    values = json.load(sys.stdin)
    with open(chart_path, "rb") as f:
        data = f.read()
    out = []
    try:
        with helm.Chart.load_archive(data) as chart:
            rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
        for template in sorted(rendered):
            if not template.endswith((".yaml", ".yml")):
                continue
            for doc in SEPARATOR.split(rendered[template]):
                if not doc.strip():
                    continue
                obj = helm.values_from_yaml(doc)
                if obj:
                    out.append({"template": template, "object": obj})
    except Exception as e:  # the SDK raises its own error types; report any of them the same way
        print(f"helm-render: {chart_path}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
