#!/usr/bin/env bash
# Fails when a committed generated file differs from what its generator makes
# now (scripts/generate.sh into a temp folder, then a diff). Without cargo the
# unicase vectors cannot be regenerated: that is said in the output, and the
# other files are still checked.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

bash scripts/generate.sh --out "$tmp"

status=0
check() {
  if [ ! -e "$tmp/$1" ]; then
    echo "check-generated: NOT CHECKED $1 ($2)"
    return
  fi
  if diff -r "$root/$1" "$tmp/$1" >"$tmp/diff.txt"; then
    echo "check-generated: ok $1"
  else
    echo "check-generated: DIFFERS $1 (regenerate with npm run generate and commit):"
    head -40 "$tmp/diff.txt"
    status=1
  fi
}
check src/collection/proto/gen "buf failed"
check src/collection/stock/stock-data.ts "no output"
check native/casefold12.h "no output"
check test/unit/fixtures/unicase-vectors.json "cargo is not installed"
exit $status
