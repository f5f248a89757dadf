#!/usr/bin/env bash
# Installs PyPI kubernetes-validate (upstream-derived JSON schemas of every built-in kind per Kubernetes version,
# with x-kubernetes-list-type, -list-map-keys, -map-type and patch strategies) into .cache/kubernetes-validate and
# prints the path of the v1.32 definitions (…/kubernetes-json-schema/v1.32.0-local/_definitions.json), which the
# emulator types built-in kinds with (VIXENS_K8S_SCHEMAS) and the SSA differential tests use. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/kubernetes-validate"
version="${VIXENS_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
k8s="${VIXENS_K8S_SCHEMA_VERSION:-v1.32.0}"
pkg="$dest/kubernetes_validate"
if [[ ! -f "$pkg/kubernetes-json-schema/$k8s-local/_definitions.json" ]]; then
  pip_cmd() {
    if command -v pip3 >/dev/null 2>&1; then pip3 "$@"; else python3 -m pip "$@"; fi
  }
  pip_cmd install --quiet --no-deps --target "$dest" "kubernetes-validate==$version" >&2
fi
# Located as Python sees the installed package (find_spec does not import it: its runtime dependencies are not
# needed for the schema files).
dir="$(PYTHONPATH="$dest" python3 -c 'import importlib.util, os; print(os.path.dirname(importlib.util.find_spec("kubernetes_validate").origin))')"
file="$dir/kubernetes-json-schema/$k8s-local/_definitions.json"
[[ -f "$file" ]] || { echo "install-kubernetes-validate: no $file" >&2; exit 1; }
echo "$file"
