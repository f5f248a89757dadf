#!/usr/bin/env bash
# Installs the Helm renderer used by the chart-equality tests (tests/cilium_chart_equality.rs): the PyPI package
# helm-python-sdk (Helm v4 compiled into a shared library, driven through ctypes; no helm binary, no network at
# render time) into .cache/helm/site (git-ignored), importable with PYTHONPATH=.cache/helm/site.
# Idempotent: an importable install is kept; the wheel is kept in .cache/helm/dl so a re-install works offline.
# Prints the site directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VIXENS_HELM_CACHE:-$root/.cache/helm}"
site="$cache/site"
dl="$cache/dl"
spec="helm-python-sdk==0.2.2"

pip_cmd() {
  if command -v pip3 >/dev/null 2>&1; then pip3 "$@"; elif command -v pip >/dev/null 2>&1; then pip "$@"; else python3 -m pip "$@"; fi
}

if PYTHONPATH="$site" python3 -c 'import helm_python; helm_python.helm_sdk_version()' >/dev/null 2>&1; then
  echo "$site"
  exit 0
fi
mkdir -p "$dl"
if ! find "$dl" -maxdepth 1 -name 'helm_python_sdk-*.whl' | grep -q .; then
  pip_cmd download --quiet --no-deps --only-binary=:all: --dest "$dl" "$spec" >&2
fi
wheel="$(find "$dl" -maxdepth 1 -name 'helm_python_sdk-*.whl' | head -n1)"
[[ -n "$wheel" ]] || { echo "install-helm: no wheel for $spec" >&2; exit 1; }
rm -rf "$site.tmp"
pip_cmd install --quiet --no-deps --no-index --target "$site.tmp" "$wheel" >&2
rm -rf "$site"
mv "$site.tmp" "$site"
PYTHONPATH="$site" python3 -c 'import helm_python; print("helm-python-sdk", helm_python.helm_sdk_version())' >&2
echo "$site"
