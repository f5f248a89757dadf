#!/usr/bin/env bash
# Compares the project's Talos protos (proto/talos, proto/cosi) with siderolabs/talos api/ at a tag (and, when
# given, cosi-project/specification proto/), field by field (number, name, type, label), and rewrites
# tests/data/talos-wire.tsv, the table tests/proto_wire.rs checks the project's descriptors against in CI.
#
#   scripts/proto-wire.sh <talos git dir or checkout> [tag, default v1.13.9] [cosi-specification git dir]
#
# Needs git and Python 3 (installs grpcio-tools into .cache/proto-venv). Exits 1 on any difference.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
talos=${1:?usage: $0 <talos git dir> [tag] [cosi-specification git dir]}
tag=${2:-v1.13.9}
cosi=${3:-}
venv="$root/.cache/proto-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import grpc_tools' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q grpcio-tools==1.76.0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$talos" archive "$tag" api | tar -x -C "$tmp"
args=(--project "$root/proto" --talos-api "$tmp/api" --table "$root/tests/data/talos-wire.tsv")
if [[ -n "$cosi" ]]; then
  mkdir -p "$tmp/cosi"
  git -C "$cosi" archive HEAD proto | tar -x -C "$tmp/cosi"
  args+=(--cosi-proto "$tmp/cosi/proto")
fi
"$venv/bin/python" "$root/scripts/proto-wire.py" "${args[@]}"
