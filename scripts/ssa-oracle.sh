#!/usr/bin/env bash
# Builds the server-side apply oracle (tests/ssa-oracle, structured-merge-diff as kube-apiserver uses it) into
# .cache/ssa-oracle/ssa-oracle and prints its path. Installs Debian's golang-go and
# golang-k8s-sigs-structured-merge-diff-dev with apt-get when missing (root or sudo needed; fails otherwise: the
# differential SSA tests are part of the suite, never skipped). Builds offline in module mode: GOPROXY=off,
# GOFLAGS=-mod=mod, the module's replace directives point into /usr/share/gocode/src, GOCACHE under .cache.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/.cache/ssa-oracle"
smd=/usr/share/gocode/src/sigs.k8s.io/structured-merge-diff
mkdir -p "$out"

if ! command -v go >/dev/null 2>&1 || [[ ! -f "$smd/go.mod" ]]; then
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then as_root=(sudo -n); fi
  echo "ssa-oracle: installing golang-go golang-k8s-sigs-structured-merge-diff-dev" >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q golang-go \
    golang-k8s-sigs-structured-merge-diff-dev >&2
fi

bin="$out/ssa-oracle"
src="$root/tests/ssa-oracle"
stamp="$(cat "$src/main.go" "$src/go.mod" | sha256sum | cut -c1-16)-$(dpkg-query -W -f='${Version}' golang-k8s-sigs-structured-merge-diff-dev 2>/dev/null || echo unknown)"
if [[ -x "$bin" && "$(cat "$out/stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "$bin"
  exit 0
fi
# The module dir must be writable (go.sum); build from a copy so the repo stays clean.
work="$out/src"
rm -rf "$work"
mkdir -p "$work"
cp -a "$src/." "$work/"
gocode="$work/gocode"
mkdir -p "$gocode/github.com/modern-go"
cp -a /usr/share/gocode/src/github.com/modern-go/concurrent "$gocode/github.com/modern-go/"
[[ -f "$gocode/github.com/modern-go/concurrent/go.mod" ]] ||
  echo 'module github.com/modern-go/concurrent' >"$gocode/github.com/modern-go/concurrent/go.mod"
for m in github.com/google/gofuzz github.com/stretchr/testify github.com/davecgh/go-spew gopkg.in/check.v1; do
  mkdir -p "$gocode/stub/${m##*/}"
  echo "module $m" >"$gocode/stub/${m##*/}/go.mod"
done
sed -i "s#=> GOCODE/#=> $gocode/#" "$work/go.mod"
(
  cd "$work"
  export GOPROXY=off GOFLAGS=-mod=mod GOCACHE="$out/gocache" GOPATH="$out/gopath" GO111MODULE=on GOTOOLCHAIN=local
  export GOSUMDB=off
  go build -o "$bin" . >&2
)
echo "$stamp" >"$out/stamp"
echo "$bin"
