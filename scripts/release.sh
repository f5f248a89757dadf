#!/usr/bin/env bash
# Builds a Terraform Registry release of terraform-provider-vixens.
#
# Output (in --out DIR, default dist/), following the layout the Terraform Registry and
# goreleaser use for provider releases:
#   terraform-provider-vixens_<ver>_<os>_<arch>.zip   one per target, holding terraform-provider-vixens_v<ver>
#                                                     (with .exe on Windows)
#   terraform-provider-vixens_<ver>_manifest.json     copy of terraform-registry-manifest.json
#   terraform-provider-vixens_<ver>_SHA256SUMS        sha256 of every zip and of the manifest
#   terraform-provider-vixens_<ver>_SHA256SUMS.sig    binary detached GPG signature of SHA256SUMS
#
# Signing key: GPG_FINGERPRINT (required unless --no-sign) names the secret key; GNUPGHOME, when set,
# selects the keyring. The key must be RSA or DSA (the only kinds the Terraform Registry accepts).
#
# Targets: linux_amd64 (the host) is always buildable; the others need the cross toolchains that
# scripts/install-cross.sh installs (Debian and PyPI packages); see RELEASING.md. Every binary is
# checked (format, architecture, linked libraries, size) and, where this machine can run it (natively,
# under qemu-user or Wine), started with the go-plugin environment until it prints its handshake line.
set -euo pipefail

readonly NAME=terraform-provider-vixens
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
# The platforms a release publishes; linux_arm and linux_386 are known but not published.
readonly RELEASE_TARGETS="linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64"
readonly KNOWN_TARGETS="$RELEASE_TARGETS linux_arm linux_386"
# The oldest macOS the darwin binaries load on (LC_BUILD_VERSION minos); Terraform itself needs 11 too.
readonly MACOS_MIN=11.0
# go-plugin's handshake environment as Terraform sets it (hashicorp/terraform internal/plugin/serve.go).
readonly TF_COOKIE=d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2

usage() {
  cat <<EOF
Usage: scripts/release.sh [options]
  --out DIR            output directory (default: dist)
  --targets LIST       comma-separated os_arch list, or "release" for every published platform
                       ($RELEASE_TARGETS); default: every target that can be built here
  --list-targets       print each known target, its Rust triple, how it is built and whether it can be
                       built here, then exit
  --dry-run            check everything, print the build command of each target, build nothing
  --changelog FILE     changelog to check the version against (default: CHANGELOG.md)
  --allow-unreleased   accept an undated "Unreleased" changelog entry (snapshot builds, tests)
  --no-sign            skip the GPG signature (never for a real release)
  --no-run             skip starting the binaries (qemu-user, Wine, native) for their handshake line
  -h, --help           this text
Environment: GPG_FINGERPRINT (signing key), GNUPGHOME (keyring), CARGO_TARGET_DIR, SOURCE_DATE_EPOCH.
EOF
}

die() {
  echo "release.sh: error: $*" >&2
  exit 1
}
log() { echo "release.sh: $*" >&2; }

out_dir=dist
targets_arg=
changelog=CHANGELOG.md
allow_unreleased=0
sign=1
list_only=0
dry_run=0
run_check=1
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out_dir=${2:?--out needs a directory}; shift 2 ;;
  --targets) targets_arg=${2:?--targets needs a list}; shift 2 ;;
  --changelog) changelog=${2:?--changelog needs a file}; shift 2 ;;
  --allow-unreleased) allow_unreleased=1; shift ;;
  --no-sign) sign=0; shift ;;
  --no-run) run_check=0; shift ;;
  --list-targets) list_only=1; shift ;;
  --dry-run) dry_run=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown option: $1" ;;
  esac
done

cd "$ROOT"
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}

# --- targets -------------------------------------------------------------------------------------
rust_triple() {
  case "$1" in
  linux_amd64) echo x86_64-unknown-linux-gnu ;;
  linux_arm64) echo aarch64-unknown-linux-gnu ;;
  linux_arm) echo armv7-unknown-linux-gnueabihf ;;
  linux_386) echo i686-unknown-linux-gnu ;;
  darwin_amd64) echo x86_64-apple-darwin ;;
  darwin_arm64) echo aarch64-apple-darwin ;;
  windows_amd64) echo x86_64-pc-windows-gnu ;;
  *) return 1 ;;
  esac
}
# GNU tool prefix of the target's C cross compiler and binutils (darwin: none, zig links it).
gnu_prefix() {
  case "$1" in
  linux_arm64) echo aarch64-linux-gnu- ;;
  linux_arm) echo arm-linux-gnueabihf- ;;
  linux_386) echo i686-linux-gnu- ;;
  windows_amd64) echo x86_64-w64-mingw32- ;;
  *) echo "" ;;
  esac
}
host_triple=$(rustc -vV | sed -n 's/^host: //p')
[ "$host_triple" = x86_64-unknown-linux-gnu ] || die "release builds run on x86_64 Linux (host is $host_triple)"

# A rustc that has the prebuilt standard library of a target: rustup's when the target is installed there
# (rustup cannot download targets on machines without its server), else Debian's rustc-web, whose
# multiarch libstd-rust-web-dev:<arch> packages provide the std of other Linux architectures.
rustc_with_std() {
  local candidate libdir
  for candidate in "$(command -v rustc)" /usr/bin/rustc; do
    [ -x "$candidate" ] || continue
    libdir=$("$candidate" --print target-libdir --target "$1" 2>/dev/null) || continue
    if compgen -G "$libdir/libstd-*.rlib" >/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# A rustc whose own sources are installed, from which `-Z build-std` compiles the standard library of
# targets no package ships (darwin, windows): Debian's rustc-web with rust-web-src (which installs
# /usr/src/rustc-<version>: the version must be the compiler's), or rustup's with its rust-src component.
rustc_with_src() {
  local candidate sysroot src release
  for candidate in "$(command -v rustc)" /usr/bin/rustc; do
    [ -x "$candidate" ] || continue
    sysroot=$("$candidate" --print sysroot 2>/dev/null) || continue
    src=$(readlink -f "$sysroot/lib/rustlib/src/rust" 2>/dev/null) || continue
    [ -f "$src/library/std/Cargo.toml" ] || continue
    release=$("$candidate" -vV | sed -n 's/^release: //p')
    case "$src" in */rustc-[0-9]*) [ "${src##*/rustc-}" = "$release" ] || continue ;; esac
    echo "$candidate"
    return 0
  done
  return 1
}

# The cargo of a rustc: the one installed beside it (Debian's cargo-web beside rustc-web; rustup's proxy).
cargo_of() {
  local cargo
  cargo="$(dirname "$1")/cargo"
  [ -x "$cargo" ] && echo "$cargo"
}

# Framework stubs for linking darwin binaries: see scripts/macos-frameworks/README.md.
# Relative to the package root, where rustc runs the linker: the flag, and so the build, is the same in every checkout.
readonly FRAMEWORK_STUBS=scripts/macos-frameworks

# plan TARGET: how the target is built here. Sets
#   why          empty when it can be built, else what is missing (the plan is still filled in)
#   how          one line: the compiler, where its standard library comes from, the linker
#   build_env    environment assignments for the build (array)
#   build_cmd    the cargo command (array)
#   built_bin    the file the build writes
#   exe_name     the executable's name in the zip
#   strip_tool   the strip command run on the copy that goes into the zip (empty: the build stripped it)
plan() {
  local t=$1 triple gnu rustc cargo triple_env triple_var path std_src=0 tool
  why=
  build_env=()
  exe_name="${NAME}_v${version:-<version>}"
  triple=$(rust_triple "$t") || { why="unknown target (known: $KNOWN_TARGETS)"; return; }
  gnu=$(gnu_prefix "$t")
  strip_tool="${gnu}strip"
  if [ "$t" = linux_amd64 ]; then
    # Host build: the plain release profile, no features (test-resources stays out).
    how="host toolchain, system cc"
    build_cmd=(cargo build --release --locked --bin "$NAME")
    built_bin="$target_dir/release/$NAME"
    return
  fi
  case "$t" in windows_*) exe_name="$exe_name.exe" ;; darwin_*) strip_tool= ;; esac

  if rustc=$(rustc_with_std "$triple"); then
    how="$rustc with its prebuilt std"
  elif [[ "$t" == linux_* ]]; then
    why="no Rust standard library for $triple (Debian: libstd-rust-web-dev:<arch>)"
    rustc=/usr/bin/rustc how="$rustc with its prebuilt std"
  else
    rustc=$(rustc_with_src) ||
      { why="no Rust standard library for $triple, nor a rustc with its own sources (Debian: rust-web-src)"; rustc=/usr/bin/rustc; }
    std_src=1 how="$rustc, std built from its sources (-Z build-std)"
  fi
  if ! cargo=$(cargo_of "$rustc"); then
    [ -n "$why" ] || why="no cargo beside $rustc (Debian: cargo-web)"
    cargo=/usr/bin/cargo
  fi
  triple_env=$(tr 'a-z-' 'A-Z_' <<<"$triple")
  triple_var=${triple//-/_}
  # That rustc's cargo first on PATH (cargo-zigbuild runs `cargo`); a separate target dir for the cross
  # builds, so their artifacts never mix with the host's.
  path="$(dirname "$cargo"):$PATH"
  build_env=("RUSTC=$rustc" "CARGO_TARGET_DIR=$target_dir/cross")
  build_cmd=("$cargo" build)
  [ "$std_src" = 0 ] || build_env+=(RUSTC_BOOTSTRAP=1)
  case "$t" in
  linux_* | windows_*)
    how="$how, linked by ${gnu}gcc"
    build_env+=("CARGO_TARGET_${triple_env}_LINKER=${gnu}gcc" "CC_${triple_var}=${gnu}gcc"
      "CXX_${triple_var}=${gnu}g++" "AR_${triple_var}=${gnu}ar")
    for tool in "${gnu}gcc" "${gnu}strip"; do
      command -v "$tool" >/dev/null || { [ -n "$why" ] || why="no $tool"; }
    done
    ;;
  darwin_*)
    # zig (PyPI ziglang) is the C compiler (aws-lc-sys) and the linker, with its macOS libSystem stubs;
    # the frameworks the dependencies link are stubs from $FRAMEWORK_STUBS. rustc strips Apple binaries
    # with rust-objcopy, here Debian's llvm-objcopy (which re-signs the binary): release.sh does not
    # strip them again.
    how="$how, linked by zig (cargo-zigbuild), macOS >= $MACOS_MIN"
    path="$target_dir/cross/bin:$path"
    build_env+=("MACOSX_DEPLOYMENT_TARGET=$MACOS_MIN" "CARGO_TARGET_${triple_env}_RUSTFLAGS=-Clink-arg=-F$FRAMEWORK_STUBS")
    build_cmd=("$cargo" zigbuild)
    command -v cargo-zigbuild >/dev/null || { [ -n "$why" ] || why="no cargo-zigbuild (PyPI: cargo-zigbuild, ziglang)"; }
    command -v llvm-objcopy >/dev/null || { [ -n "$why" ] || why="no llvm-objcopy (Debian: llvm)"; }
    ;;
  esac
  build_env=("PATH=$path" "${build_env[@]}")
  build_cmd+=(--release --locked --bin "$NAME" --target "$triple")
  [ "$std_src" = 0 ] || build_cmd+=(-Z build-std=std)
  built_bin="$target_dir/cross/$triple/release/$NAME"
  [[ "$t" != windows_* ]] || built_bin="$built_bin.exe"
}

if [ "$list_only" = 1 ]; then
  for t in $KNOWN_TARGETS; do
    plan "$t"
    published=unpublished
    [[ " $RELEASE_TARGETS " != *" $t "* ]] || published=published
    if [ -z "$why" ]; then status=buildable; else status="not buildable: $why"; fi
    echo "$t $(rust_triple "$t") $published: $status ($how)"
  done
  exit 0
fi

targets=()
if [ -n "$targets_arg" ]; then
  [ "$targets_arg" != release ] || targets_arg=${RELEASE_TARGETS// /,}
  IFS=', ' read -r -a targets <<<"$targets_arg"
  for t in "${targets[@]}"; do
    rust_triple "$t" >/dev/null || die "unknown target $t (known: $KNOWN_TARGETS)"
    plan "$t"
    [ -z "$why" ] || [ "$dry_run" = 1 ] || die "target $t cannot be built here: $why (see scripts/install-cross.sh)"
  done
else
  for t in $KNOWN_TARGETS; do
    plan "$t"
    if [ -z "$why" ]; then targets+=("$t"); else log "skipping $t: $why"; fi
  done
fi

# --- version -------------------------------------------------------------------------------------
version=$(cargo metadata --no-deps --format-version 1 --manifest-path "$ROOT/Cargo.toml" |
  jq -r --arg n "$NAME" '.packages[] | select(.name == $n) | .version')
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "bad version in Cargo.toml: '$version'"

# CHANGELOG.md (Keep a Changelog): the first release heading must be "## [<ver>] - <YYYY-MM-DD>", or
# "## [<ver>] - Unreleased" with --allow-unreleased.
[ -f "$changelog" ] || die "$changelog not found"
heading=$(grep -m1 -E '^## \[' "$changelog" || true)
[ -n "$heading" ] || die "$changelog has no '## [<version>] - <date>' heading"
cl_version=$(sed -E 's/^## \[([^]]*)\].*/\1/' <<<"$heading")
cl_date=$(sed -E 's/^## \[[^]]*\] *-? *//' <<<"$heading")
[ "$cl_version" = "$version" ] ||
  die "version mismatch: Cargo.toml says $version but the latest $changelog entry is [$cl_version]"
if [[ "$cl_date" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
  :
elif [ "$cl_date" = Unreleased ] && [ "$allow_unreleased" = 1 ]; then
  log "warning: $changelog entry [$version] is Unreleased (snapshot build)"
else
  die "$changelog entry [$version] must be dated '## [$version] - YYYY-MM-DD' (got '$heading')"
fi

if [ "$sign" = 1 ]; then
  [ -n "${GPG_FINGERPRINT:-}" ] || die "GPG_FINGERPRINT is not set (the signing key's fingerprint; or --no-sign)"
  gpg --batch --list-secret-keys "$GPG_FINGERPRINT" >/dev/null 2>&1 ||
    die "no secret key $GPG_FINGERPRINT in the keyring (GNUPGHOME=${GNUPGHOME:-~/.gnupg})"
fi

# The Registry renders docs/ from the tagged commit: its layout must be right before tagging.
"$ROOT/scripts/check-docs-layout.sh" "$ROOT/docs" || die "docs/ layout is not what the Registry renders"

manifest_src="$ROOT/terraform-registry-manifest.json"
jq -e '.version == 1 and (.metadata.protocol_versions | length > 0)' "$manifest_src" >/dev/null ||
  die "$manifest_src must be {\"version\":1,\"metadata\":{\"protocol_versions\":[...]}}"

prefix_ver="${NAME}_${version}"
if [ "$dry_run" = 1 ]; then
  for t in "${targets[@]}"; do
    plan "$t"
    shown="${build_env[*]}${build_env[*]:+ }${build_cmd[*]}"
    echo "$t: ${shown//:$PATH/:\$PATH}"
    echo "$t: -> $built_bin as $exe_name in ${prefix_ver}_${t}.zip${why:+ (not buildable here: $why)}"
  done
  exit 0
fi

# --- checks of a built binary ----------------------------------------------------------------------
# Bytes of FILE at OFFSET as an unsigned little-endian integer of SIZE bytes (1, 2 or 4).
le() { od -An -t "u$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' '; }
hex_at() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

# Checks the executable format and architecture, prints the linked libraries (and the newest glibc
# symbol version needed), and refuses a binary that still has a symbol table.
check_binary() {
  local t=$1 exe=$2 expect machine libs glibc
  case "$t" in
  linux_*)
    case "$t" in
    linux_amd64) expect=62 ;; linux_arm64) expect=183 ;; linux_arm) expect=40 ;; linux_386) expect=3 ;;
    esac
    [ "$(hex_at "$exe" 0 4)" = 7f454c46 ] || die "$t: $exe is not an ELF file"
    machine=$(le "$exe" 18 2)
    [ "$machine" = "$expect" ] || die "$t: ELF e_machine is $machine, expected $expect"
    if readelf --section-headers "$exe" | grep -q '\.symtab'; then die "$exe still has a symbol table"; fi
    libs=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    glibc=$(readelf -V "$exe" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    log "$t: ELF e_machine $machine ($(file -b "$exe" | cut -d, -f1-2)); needs ${libs% }; newest glibc symbol GLIBC_$glibc"
    ;;
  windows_*)
    [ "$(hex_at "$exe" 0 2)" = 4d5a ] || die "$t: $exe has no MZ header"
    local pe
    pe=$(le "$exe" 60 4)
    [ "$(hex_at "$exe" "$pe" 4)" = 50450000 ] || die "$t: $exe has no PE signature"
    machine=$(le "$exe" $((pe + 4)) 2)
    [ "$machine" = $((0x8664)) ] || die "$t: PE machine is $machine, expected x86-64 (34404)"
    [ "$(le "$exe" $((pe + 24)) 2)" = $((0x20b)) ] || die "$t: not PE32+"
    [ "$(le "$exe" $((pe + 16)) 4)" = 0 ] || die "$t: $exe still has a COFF symbol table"
    libs=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' | tr '\n' ' ')
    # Only Windows' own DLLs: a MinGW runtime DLL (libgcc_s, libwinpthread, libstdc++) is not on users' machines.
    if grep -Eio 'lib[a-z0-9_+-]*\.dll' <<<"$libs"; then die "$t: links a MinGW runtime DLL: $libs"; fi
    log "$t: PE32+ x86-64 ($(file -b "$exe" | cut -d, -f1)); imports ${libs% }"
    ;;
  darwin_*)
    case "$t" in darwin_amd64) expect=$((0x01000007)) ;; darwin_arm64) expect=$((0x0100000c)) ;; esac
    [ "$(hex_at "$exe" 0 4)" = cffaedfe ] || die "$t: $exe is not a 64-bit Mach-O file"
    machine=$(le "$exe" 4 4)
    [ "$machine" = "$expect" ] || die "$t: Mach-O cputype is $machine, expected $expect"
    [ "$(le "$exe" 12 4)" = 2 ] || die "$t: not a Mach-O executable (MH_EXECUTE)"
    # Stripped: no debug map (N_STAB entries) and no local function symbols. The global symbols zig's linker
    # exports stay in the symbol table, as in a strip(1)ped Mach-O executable.
    local stabs locals minos
    stabs=$(llvm-nm -a "$exe" | awk '$2 == "-"' | wc -l)
    locals=$(llvm-nm --defined-only "$exe" | awk '$2 == "t"' | wc -l)
    [ "$stabs" = 0 ] && [ "$locals" = 0 ] || die "$t: $exe is not stripped ($stabs debug entries, $locals local functions)"
    libs=$(llvm-objdump --macho --dylibs-used "$exe" | tail -n +2 | sed 's/^\s*//; s/ (.*//' | tr '\n' ' ')
    # Only the system's own libraries and frameworks: nothing from Homebrew, MacPorts or a build machine.
    for lib in $libs; do
      [[ "$lib" == /usr/lib/* || "$lib" == /System/Library/Frameworks/* ]] || die "$t: links $lib"
    done
    minos=$(llvm-objdump --macho --private-headers "$exe" | sed -n '/LC_BUILD_VERSION/,/minos/s/^\s*minos //p')
    [ "$minos" = "$MACOS_MIN" ] || die "$t: minimum macOS is $minos, expected $MACOS_MIN"
    # Apple silicon kills unsigned or mis-signed arm64 code: darwin_arm64 must carry an ad-hoc signature that
    # covers it as shipped. x86_64 code runs unsigned (Intel Macs, Rosetta 2), and ld64 and zig leave it so.
    local sig_opt=() signed
    [ "$t" = darwin_arm64 ] || sig_opt=(--unsigned-ok)
    signed=$(python3 "$ROOT/scripts/check-macho-signature.py" "${sig_opt[@]}" "$exe" | sed 's/^[^:]*: //')
    log "$t: $(file -b "$exe" | sed 's/,.*//'); macOS >= $minos; $signed; links ${libs% }"
    ;;
  esac
}

# How to run a target's binary here, or nothing.
runner() {
  case "$1" in
  linux_amd64) echo env ;;
  linux_arm64) command -v qemu-aarch64 >/dev/null && [ -d /usr/aarch64-linux-gnu ] && echo "qemu-aarch64 -L /usr/aarch64-linux-gnu" ;;
  windows_amd64)
    local wine
    wine=$(command -v wine64 || command -v /usr/lib/wine/wine64) && command -v x86_64-w64-mingw32-gcc >/dev/null && echo "$wine"
    ;;
  esac
  return 0
}

# Starts the binary as Terraform does (go-plugin environment) and checks that it prints the handshake
# line "1|<proto>|tcp|127.0.0.1:<port>|grpc|" within 120 s; then stops it.
check_handshake() {
  local t=$1 exe=$2 dir pid line= wineserver
  local -a run
  read -r -a run <<<"$(runner "$t")"
  if [ ${#run[@]} = 0 ]; then
    case "$t" in
    darwin_*) log "$t: not run (no macOS here): static checks only" ;;
    *) log "$t: not run: no runner installed (scripts/install-cross.sh installs qemu-user and Wine)" ;;
    esac
    return 0
  fi
  dir=$(mktemp -d "$stage/run.XXXXXX")
  cp "$exe" "$dir/"
  local -a envs=(TF_PLUGIN_MAGIC_COOKIE=$TF_COOKIE PLUGIN_PROTOCOL_VERSIONS=5,6 PLUGIN_MIN_PORT=10000 PLUGIN_MAX_PORT=25000)
  if [[ "$t" == windows_* ]]; then
    # Wine 8.0 (Debian 12) lacks bcryptprimitives.dll, whose ProcessPrng Rust's std calls on Windows 10+:
    # a stand-in built here from scripts/wine/bcryptprimitives.c sits beside the copy that is run.
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dir/bcryptprimitives.dll" "$ROOT/scripts/wine/bcryptprimitives.c" -lbcrypt
    envs+=("WINEPREFIX=$target_dir/cross/wineprefix" WINEDEBUG=-all "WINEDLLOVERRIDES=mscoree,mshtml=")
  fi
  # The files exist before the background job starts: the loop below may read them before its redirections run.
  : >"$dir/stdout"
  : >"$dir/stderr"
  env "${envs[@]}" "${run[@]}" "$dir/$(basename "$exe")" >"$dir/stdout" 2>"$dir/stderr" &
  pid=$!
  # Up to 5 minutes: Wine sets up its prefix on the first run, and qemu-user emulates every instruction.
  for _ in $(seq 600); do
    line=$(head -n1 "$dir/stdout")
    [[ -z "$line" || "$(wc -l <"$dir/stdout")" = 0 ]] || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  # Past the line the provider starts its runtime and serves: it must still be running a moment later.
  sleep 2
  local alive=0
  ! kill -0 "$pid" 2>/dev/null || alive=1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ "$t" == windows_* ]]; then
    # This prefix's wineserver only (it would linger a few seconds).
    wineserver=$(command -v wineserver || echo "$(dirname "${run[0]}")/wineserver")
    WINEPREFIX="$target_dir/cross/wineprefix" "$wineserver" -k 2>/dev/null || true
  fi
  line=${line%$'\r'}
  [[ "$line" =~ ^1\|6\|tcp\|127\.0\.0\.1:[0-9]+\|grpc\|$ ]] ||
    die "$t: no handshake line from ${run[*]} $(basename "$exe") (stdout: '$line'; stderr: $(head -c 2000 "$dir/stderr"))"
  [ "$alive" = 1 ] || die "$t: the provider exited after its handshake line (stderr: $(head -c 2000 "$dir/stderr"))"
  local how=natively
  [ "${run[0]}" = env ] || how="under ${run[0]##*/}"
  log "$t: started $how: handshake line $line"
}

# --- build and package ---------------------------------------------------------------------------
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
rm -f "$out_dir/${prefix_ver}"_*
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Zip entries carry this time, so the same commit gives the same zips (reproducible builds).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}
# rustc strips Apple binaries with `rust-objcopy` (rustup ships it): here it is Debian's llvm-objcopy.
mkdir -p "$target_dir/cross/bin"
if command -v llvm-objcopy >/dev/null; then ln -sf "$(command -v llvm-objcopy)" "$target_dir/cross/bin/rust-objcopy"; fi

log "version $version, targets: ${targets[*]}"
for t in "${targets[@]}"; do
  plan "$t"
  started=$(date +%s)
  env "${build_env[@]}" "${build_cmd[@]}"
  [ -f "$built_bin" ] || die "build did not produce $built_bin"
  log "$t: built in $(($(date +%s) - started)) s"

  dir="$stage/$t"
  mkdir -p "$dir"
  exe="$dir/$exe_name"
  cp "$built_bin" "$exe"
  [ -z "$strip_tool" ] || "$strip_tool" --strip-all "$exe"
  chmod 0755 "$exe"
  touch -d "@$epoch" "$exe"
  check_binary "$t" "$exe"
  [ "$run_check" = 0 ] || check_handshake "$t" "$exe"
  size=$(stat -c %s "$exe")
  log "$t: stripped binary $exe_name is $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') MiB)"
  (cd "$dir" && TZ=UTC zip -q -X -j "$out_dir/${prefix_ver}_${t}.zip" "$exe_name")
done

cp "$manifest_src" "$out_dir/${prefix_ver}_manifest.json"
sums="${prefix_ver}_SHA256SUMS"
(cd "$out_dir" && sha256sum -- "${prefix_ver}"_*.zip "${prefix_ver}_manifest.json" | LC_ALL=C sort -k2 >"$sums")

if [ "$sign" = 1 ]; then
  gpg --batch --yes --local-user "$GPG_FINGERPRINT" --output "$out_dir/$sums.sig" --detach-sign "$out_dir/$sums"
  gpg --batch --verify "$out_dir/$sums.sig" "$out_dir/$sums" 2>/dev/null ||
    die "the new signature does not verify"
else
  log "warning: --no-sign: no $sums.sig written; the Registry and terraform init need it"
fi

log "release $version written to $out_dir:"
(cd "$out_dir" && ls -l "${prefix_ver}"_* >&2)
