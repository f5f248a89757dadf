#!/usr/bin/env bash
# Adds to the framework stubs beside this script every framework symbol that a darwin link reported as undefined.
# Usage: scripts/macos-frameworks/update.sh BUILD_LOG...   (the output of a failed `scripts/release.sh
# --targets darwin_arm64`: zig prints "error: undefined symbol: _Name" for each). Each symbol goes to its
# framework by Apple's naming prefix (CF/kCF CoreFoundation, Sec/kSec/SSL Security, SC/kSC SystemConfiguration);
# any other undefined symbol is an error to look at by hand (a new framework, or a library missing from zig).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -gt 0 ] || { sed -n '2,6p' "$0" >&2; exit 2; }

framework_of() {
  case "$1" in
  _CF* | _kCF*) echo CoreFoundation ;;
  _Sec* | _kSec* | _SSL*) echo Security ;;
  _SC* | _kSC*) echo SystemConfiguration ;;
  *) return 1 ;;
  esac
}

# The symbols a stub exports now, one per line.
symbols_of() {
  local tbd="$here/$1.framework/$1.tbd"
  [ -f "$tbd" ] || return 0
  sed -n 's/^ *symbols: *\[\(.*\)\]/\1/p' "$tbd" | tr ',' '\n' | tr -d ' ' | grep .
}

undefined=$(grep -ho 'undefined symbol: _[A-Za-z0-9_]*' "$@" | awk '{print $3}' | sort -u)
for sym in $undefined; do
  framework_of "$sym" >/dev/null || { echo "update.sh: $sym belongs to no known framework" >&2; exit 1; }
done
for fw in CoreFoundation Security SystemConfiguration; do
  all=$( (symbols_of "$fw"; for sym in $undefined; do [ "$(framework_of "$sym")" != "$fw" ] || echo "$sym"; done) | LC_ALL=C sort -u)
  [ -n "$all" ] || continue
  mkdir -p "$here/$fw.framework"
  # Text-based stub (TAPI .tbd v4): the framework's install name and the symbols linked from it. dyld loads
  # the real framework at that path; compatibility version 1 is below every released one.
  {
    echo "--- !tapi-tbd"
    echo "tbd-version:     4"
    echo "targets:         [ x86_64-macos, arm64-macos ]"
    echo "install-name:    '/System/Library/Frameworks/$fw.framework/Versions/A/$fw'"
    echo "current-version: 1"
    echo "compatibility-version: 1"
    echo "exports:"
    echo "  - targets:         [ x86_64-macos, arm64-macos ]"
    echo "    symbols:         [ $(echo "$all" | paste -sd, - | sed 's/,/, /g') ]"
    echo "..."
  } >"$here/$fw.framework/$fw.tbd"
  echo "$fw: $(echo "$all" | wc -l) symbols"
done
