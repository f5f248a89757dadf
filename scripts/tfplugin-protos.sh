#!/usr/bin/env bash
# Copies Terraform's plugin protocol definitions (docs/plugin-protocol/tfplugin5.proto and tfplugin6.proto,
# MPL-2.0, meant to be copied verbatim by plugin implementations) from a hashicorp/terraform git directory at a
# release tag into proto/, and records their tag and sha256 in tests/data/tfplugin-protos.tsv, which the unit test
# `plugin::protocol_files_are_upstream` checks in CI (the upstream repository is not reachable there).
#
#   scripts/tfplugin-protos.sh <terraform git dir> [tag, default v1.15.9]
#
# Take the newest release tag, never main: only protos of release tags are official protocol versions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
git_dir=${1:?usage: $0 <terraform git dir> [tag]}
tag=${2:-v1.15.9}
table="$root/tests/data/tfplugin-protos.tsv"
printf '# file\ttag\tsha256 (written by scripts/tfplugin-protos.sh)\n' > "$table"
for major in 5 6; do
  file="tfplugin$major.proto"
  git -C "$git_dir" show "$tag:docs/plugin-protocol/$file" > "$root/proto/$file"
  sum=$(sha256sum "$root/proto/$file" | cut -d' ' -f1)
  printf '%s\t%s\t%s\n' "$file" "$tag" "$sum" >> "$table"
  grep -m1 'protocol version' "$root/proto/$file"
done
