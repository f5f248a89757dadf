#!/usr/bin/env bash
# Fuzzes the cty decoders with cargo-fuzz (libFuzzer). Optional: not part of scripts/test.sh or CI.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET] [-- LIBFUZZER_ARGS...]
#   SECONDS  how long to fuzz (default 600)
#   TARGET   a target in fuzz/fuzz_targets (default msgpack_decode)
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz into ~/.cargo/bin when
# it is missing. New inputs go to fuzz/corpus/TARGET (git-ignored, kept between runs), crashes to
# fuzz/artifacts/TARGET; the committed seeds in fuzz/seeds/TARGET start the corpus. Reproduce a crash with
#   cd fuzz && cargo +nightly fuzz run -s none TARGET artifacts/TARGET/crash-...
# then add the input as a regression test next to the decoder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-600}
target=${2:-msgpack_decode}
shift $(($# > 2 ? 2 : $#))
[ "${1:-}" = -- ] && shift

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz into ~/.cargo/bin" >&2
  cargo install cargo-fuzz --locked
fi

cd "$ROOT/fuzz"
mkdir -p "corpus/$target"
seeds=()
[ -d "seeds/$target" ] && seeds=("seeds/$target")
# No sanitizer: the decoders are safe Rust, so AddressSanitizer would only slow the search down; panics, hangs
# (-timeout) and memory blow-ups (-rss_limit_mb) are what the run looks for.
exec cargo +nightly fuzz run -s none "$target" "corpus/$target" "${seeds[@]}" -- \
  -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$@"
