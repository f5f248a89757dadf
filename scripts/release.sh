#!/usr/bin/env bash
# Builds a Terraform Registry release of terraform-provider-vixens.
#
# Output (in --out DIR, default dist/), following the layout the Terraform Registry and
# goreleaser use for provider releases:
#   terraform-provider-vixens_<ver>_<os>_<arch>.zip   one per target, holding terraform-provider-vixens_v<ver>
#   terraform-provider-vixens_<ver>_manifest.json     copy of terraform-registry-manifest.json
#   terraform-provider-vixens_<ver>_SHA256SUMS        sha256 of every zip and of the manifest
#   terraform-provider-vixens_<ver>_SHA256SUMS.sig    binary detached GPG signature of SHA256SUMS
#
# Signing key: GPG_FINGERPRINT (required unless --no-sign) names the secret key; GNUPGHOME, when set,
# selects the keyring. The key must be RSA or DSA (the only kinds the Terraform Registry accepts).
#
# Targets: linux_amd64 is always built (the host). Other targets are built when their cross toolchain
# is installed (scripts/install-cross.sh installs it from Debian's packages); see RELEASING.md.
set -euo pipefail

readonly NAME=terraform-provider-vixens
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT

usage() {
  cat <<EOF
Usage: scripts/release.sh [options]
  --out DIR            output directory (default: dist)
  --targets LIST       comma-separated os_arch list (default: linux_amd64 plus every target whose
                       cross toolchain is installed; see --list-targets)
  --list-targets       print each known target and whether it can be built here, then exit
  --changelog FILE     changelog to check the version against (default: CHANGELOG.md)
  --allow-unreleased   accept an undated "Unreleased" changelog entry (snapshot builds, tests)
  --no-sign            skip the GPG signature (never for a real release)
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
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out_dir=${2:?--out needs a directory}; shift 2 ;;
  --targets) targets_arg=${2:?--targets needs a list}; shift 2 ;;
  --changelog) changelog=${2:?--changelog needs a file}; shift 2 ;;
  --allow-unreleased) allow_unreleased=1; shift ;;
  --no-sign) sign=0; shift ;;
  --list-targets) list_only=1; shift ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown option: $1" ;;
  esac
done

cd "$ROOT"

# --- targets -------------------------------------------------------------------------------------
# os_arch -> Rust target triple, and the GNU tool prefix of its cross toolchain.
rust_triple() {
  case "$1" in
  linux_amd64) echo x86_64-unknown-linux-gnu ;;
  linux_arm64) echo aarch64-unknown-linux-gnu ;;
  linux_arm) echo armv7-unknown-linux-gnueabihf ;;
  linux_386) echo i686-unknown-linux-gnu ;;
  *) return 1 ;;
  esac
}
gnu_prefix() {
  case "$1" in
  linux_amd64) echo "" ;;
  linux_arm64) echo aarch64-linux-gnu- ;;
  linux_arm) echo arm-linux-gnueabihf- ;;
  linux_386) echo i686-linux-gnu- ;;
  esac
}
readonly KNOWN_TARGETS="linux_amd64 linux_arm64 linux_arm linux_386"
host_triple=$(rustc -vV | sed -n 's/^host: //p')
[ "$host_triple" = x86_64-unknown-linux-gnu ] || die "release builds run on x86_64 Linux (host is $host_triple)"

# The rustc that has the standard library of a target: rustup's when the target is installed there
# (rustup cannot download targets on machines without its server), else Debian's rustc-web, whose
# multiarch libstd-rust-web-dev:<arch> packages provide the std of other Linux architectures.
rustc_for() {
  local triple=$1 candidate
  for candidate in "$(command -v rustc)" /usr/bin/rustc; do
    [ -x "$candidate" ] || continue
    local libdir
    libdir=$("$candidate" --print target-libdir --target "$triple" 2>/dev/null) || continue
    if compgen -G "$libdir/libstd-*.rlib" >/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Prints why a target cannot be built here, or nothing when it can.
missing_for() {
  local t=$1 triple prefix
  triple=$(rust_triple "$t") || { echo "unknown target"; return; }
  [ "$t" = linux_amd64 ] && return
  prefix=$(gnu_prefix "$t")
  rustc_for "$triple" >/dev/null || { echo "no Rust standard library for $triple"; return; }
  command -v "${prefix}gcc" >/dev/null || { echo "no ${prefix}gcc"; return; }
  command -v "${prefix}strip" >/dev/null || { echo "no ${prefix}strip"; return; }
}

if [ "$list_only" = 1 ]; then
  for t in $KNOWN_TARGETS; do
    why=$(missing_for "$t")
    if [ -z "$why" ]; then echo "$t $(rust_triple "$t") buildable"; else echo "$t $(rust_triple "$t") not buildable: $why"; fi
  done
  exit 0
fi

targets=()
if [ -n "$targets_arg" ]; then
  IFS=', ' read -r -a targets <<<"$targets_arg"
  for t in "${targets[@]}"; do
    why=$(missing_for "$t")
    [ -z "$why" ] || die "target $t cannot be built here: $why (see scripts/install-cross.sh)"
  done
else
  for t in $KNOWN_TARGETS; do
    why=$(missing_for "$t")
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

# --- build and package ---------------------------------------------------------------------------
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
prefix_ver="${NAME}_${version}"
rm -f "$out_dir/${prefix_ver}"_*
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
# Zip entries carry this time, so the same commit gives the same zips (reproducible builds).
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}

log "version $version, targets: ${targets[*]}"
for t in "${targets[@]}"; do
  triple=$(rust_triple "$t")
  gnu=$(gnu_prefix "$t")
  if [ "$t" = linux_amd64 ]; then
    # Host build: the plain release profile, no features (test-resources stays out).
    cargo build --release --locked --bin "$NAME"
    bin="$target_dir/release/$NAME"
  else
    triple_env=$(tr 'a-z-' 'A-Z_' <<<"$triple")
    # A separate target dir per cross rustc: its artifacts never mix with the host's.
    env RUSTC="$(rustc_for "$triple")" \
      "CARGO_TARGET_${triple_env}_LINKER=${gnu}gcc" \
      "CC_${triple//-/_}=${gnu}gcc" "CXX_${triple//-/_}=${gnu}g++" "AR_${triple//-/_}=${gnu}ar" \
      CARGO_TARGET_DIR="$target_dir/cross" \
      cargo build --release --locked --bin "$NAME" --target "$triple"
    bin="$target_dir/cross/$triple/release/$NAME"
  fi
  [ -f "$bin" ] || die "build did not produce $bin"

  dir="$stage/$t"
  mkdir -p "$dir"
  exe="$dir/${NAME}_v${version}"
  cp "$bin" "$exe"
  "${gnu}strip" --strip-all "$exe"
  if readelf --section-headers "$exe" | grep -q '\.symtab'; then die "$exe still has a symbol table"; fi
  chmod 0755 "$exe"
  touch -d "@$epoch" "$exe"
  size=$(stat -c %s "$exe")
  log "$t: stripped binary $(basename "$exe") is $size bytes ($(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') MiB)"
  (cd "$dir" && TZ=UTC zip -q -X -j "$out_dir/${prefix_ver}_${t}.zip" "$(basename "$exe")")
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
