#!/usr/bin/env bash
# Regenerates docs/ (Terraform Registry layout) from the resource schemas and examples/. tests/docs.rs fails
# when docs/ is stale, so run this after changing a schema description or an example, and commit the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VIXENS_UPDATE_DOCS=1 cargo test --quiet --test docs -- docs_are_current
git status --short docs/
