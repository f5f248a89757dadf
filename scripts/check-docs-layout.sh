#!/usr/bin/env bash
# Checks that docs/ has the layout the Terraform Registry renders for a provider:
#   docs/index.md                      provider page
#   docs/resources/<name>.md           one per resource, <name> without the "vixens_" prefix
#   docs/data-sources/<name>.md        one per data source
#   docs/guides/<guide>.md             free-form guides
#   docs/functions/<name>.md, docs/ephemeral-resources/<name>.md
# Files elsewhere under docs/ are not shown by the Registry: they fail the check. A missing
# docs/index.md or resource page is only warned about (the content is generated separately).
# Usage: scripts/check-docs-layout.sh [DOCS_DIR]   (default: docs)
set -euo pipefail
docs=${1:-docs}
readonly RESOURCES="talos_cluster cilium argocd_bootstrap"

if [ ! -d "$docs" ]; then
  echo "check-docs-layout: warning: no $docs/ directory: the Registry will show no documentation" >&2
  exit 0
fi
bad=0
while IFS= read -r -d '' f; do
  rel=${f#"$docs"/}
  case "$rel" in
  index.md | resources/*.md | data-sources/*.md | guides/*.md | functions/*.md | ephemeral-resources/*.md)
    case "$rel" in */*/*) ;; *) continue ;; esac ;;
  esac
  echo "check-docs-layout: error: $docs/$rel is not where the Registry looks for documentation" >&2
  bad=1
done < <(find "$docs" -type f -print0)
for page in "$docs"/resources/vixens_*.md; do
  [ -e "$page" ] || continue
  echo "check-docs-layout: error: $page: name resource pages without the vixens_ prefix" >&2
  bad=1
done
[ -f "$docs/index.md" ] || echo "check-docs-layout: warning: $docs/index.md is missing" >&2
for r in $RESOURCES; do
  [ -f "$docs/resources/$r.md" ] || echo "check-docs-layout: warning: $docs/resources/$r.md is missing" >&2
done
exit "$bad"
