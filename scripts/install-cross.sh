#!/usr/bin/env bash
# Installs, from Debian's packages, the cross toolchains that scripts/release.sh uses for targets other
# than linux_amd64: Debian's rustc-web (whose standard library comes per architecture as the multiarch
# package libstd-rust-web-dev:<arch>) and the GNU cross compiler and binutils of each architecture.
# rustup's own compiler is left alone; release.sh picks /usr/bin/rustc only for the cross targets.
# Usage: scripts/install-cross.sh [os_arch ...]   (default: linux_arm64). Needs root (apt-get).
set -euo pipefail

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux_arm64)

packages=(rustc-web)
for t in "${targets[@]}"; do
  case "$t" in
  linux_arm64) arch=arm64 gcc=gcc-aarch64-linux-gnu libc=libc6-dev-arm64-cross ;;
  linux_arm) arch=armhf gcc=gcc-arm-linux-gnueabihf libc=libc6-dev-armhf-cross ;;
  linux_386) arch=i386 gcc=gcc-i686-linux-gnu libc=libc6-dev-i386-cross ;;
  *) echo "install-cross.sh: unknown target $t (known: linux_arm64 linux_arm linux_386)" >&2; exit 1 ;;
  esac
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
  fi
  # The cross libc headers are only a Recommends of the cross gcc: name them (aws-lc-sys needs them).
  packages+=("libstd-rust-web-dev:$arch" "$gcc" "$libc")
done

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
"$(dirname "${BASH_SOURCE[0]}")/release.sh" --list-targets
