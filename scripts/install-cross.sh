#!/usr/bin/env bash
# Installs the cross toolchains that scripts/release.sh uses for the targets other than linux_amd64, all from
# package registries (Debian and PyPI); rustup's own compiler is left alone (it cannot download targets here).
#
#   every cross target   Debian rustc-web + cargo-web (a current Rust for Debian 12, installed beside rustup's)
#   linux_<arch>         its prebuilt standard library libstd-rust-web-dev:<arch> (multiarch), the GNU cross
#                        gcc and libc headers (aws-lc-sys compiles C), qemu-user to start the binary
#   windows_amd64        rust-web-src (the compiler's own sources: std is built with -Z build-std), MinGW-w64
#                        gcc as C compiler and linker, Wine (wine64) to start the binary
#   darwin_<arch>        rust-web-src, PyPI ziglang (C compiler and linker, with macOS libSystem stubs) and
#                        cargo-zigbuild (drives cargo with zig), Debian llvm (llvm-objcopy strips and re-signs,
#                        llvm-nm/llvm-objdump check the result)
#
# Usage: scripts/install-cross.sh [os_arch ...]   (default: every published target). Needs root (apt-get).
set -euo pipefail

# The versions release.sh was checked with (RELEASING.md).
readonly ZIGLANG=0.17.1 CARGO_ZIGBUILD=0.24.1

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(linux_arm64 darwin_amd64 darwin_arm64 windows_amd64)

packages=(rustc-web cargo-web file zip unzip jq)
pip_packages=()
for t in "${targets[@]}"; do
  arch=
  case "$t" in
  linux_amd64) continue ;;
  linux_arm64) arch=arm64 gnu=aarch64-linux-gnu ;;
  linux_arm) arch=armhf gnu=arm-linux-gnueabihf ;;
  linux_386) arch=i386 gnu=i686-linux-gnu ;;
  windows_amd64) packages+=(rust-web-src gcc-mingw-w64-x86-64 wine64) ;;
  darwin_amd64 | darwin_arm64)
    packages+=(rust-web-src llvm python3)
    pip_packages=("ziglang==$ZIGLANG" "cargo-zigbuild==$CARGO_ZIGBUILD")
    ;;
  *) echo "install-cross.sh: unknown target $t (known: linux_arm64 linux_arm linux_386 darwin_amd64 darwin_arm64 windows_amd64)" >&2; exit 1 ;;
  esac
  if [ -n "$arch" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      dpkg --add-architecture "$arch"
    fi
    # The cross libc headers are only a Recommends of the cross gcc: named here (aws-lc-sys needs them).
    packages+=("libstd-rust-web-dev:$arch" "gcc-$gnu" "libc6-dev-${arch}-cross" qemu-user)
  fi
done

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
if [ ${#pip_packages[@]} -gt 0 ]; then
  if command -v pip3 >/dev/null 2>&1; then pip3 install -q "${pip_packages[@]}"; else python3 -m pip install -q "${pip_packages[@]}"; fi
fi
"$(dirname "${BASH_SOURCE[0]}")/release.sh" --list-targets
