#!/usr/bin/env bash
# Regenerates every generated file of the project from its source
# (`npm run generate`):
#
#   src/collection/proto/gen/                protobuf code: buf + protoc-gen-es (devDependencies)
#   src/collection/stock/stock-data.ts       stock notetypes, captured from a new collection made
#                                            by the real client (the anki package scripts/setup-venv.sh
#                                            puts in .venv; PYTHON overrides the interpreter)
#   native/casefold12.h                      Unicode 12.0.0 case folding: scripts/gen-casefold.mjs from
#                                            the npm package unicode-12.0.0, fetched once with `npm pack`
#                                            into .cache/ (only its Case_Folding tables are unpacked)
#   test/unit/fixtures/unicase-vectors.json  scripts/unicase-vectors (Rust, the unicase 2.6.0 crate);
#                                            needs cargo: without it this one is skipped, loudly
#
# Usage: scripts/generate.sh [--out DIR]
#   --out DIR  write the files under DIR (same relative paths) instead of in
#              place; scripts/check-generated.sh compares those with the committed ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

out="$root"
if [ "${1:-}" = "--out" ] && [ -n "${2:-}" ]; then
  out="$(mkdir -p "$2" && cd "$2" && pwd)"
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--out DIR]" >&2
  exit 2
fi
mkdir -p "$out/src/collection/stock" "$out/native" "$out/test/unit/fixtures"

echo "generate: protobuf code (buf)" >&2
if [ "$out" = "$root" ]; then
  npx --no-install buf generate src/collection/proto --template src/collection/proto/buf.gen.yaml
else
  npx --no-install buf generate src/collection/proto --template src/collection/proto/buf.gen.yaml -o "$out"
fi

echo "generate: stock notetypes (anki package)" >&2
python="${PYTHON:-$root/.venv/bin/python}"
if ! "$python" -c "import anki" 2>/dev/null; then
  echo "generate: no anki package for $python; run scripts/setup-venv.sh first (or set PYTHON)" >&2
  exit 1
fi
"$python" scripts/generate-stock-data.py "$out/src/collection/stock/stock-data.ts"

echo "generate: case-folding table (unicode-12.0.0)" >&2
ucd="$root/.cache/unicode-12.0.0-0.8.0"
if [ ! -f "$ucd/package/Case_Folding/F/code-points.js" ]; then
  rm -rf "$ucd" && mkdir -p "$ucd"
  tarball="$(cd "$ucd" && npm pack unicode-12.0.0@0.8.0 --silent)"
  tar -xzf "$ucd/$tarball" -C "$ucd" package/package.json package/Case_Folding/C package/Case_Folding/F
  rm -f "$ucd/$tarball"
fi
node scripts/gen-casefold.mjs "$ucd/package" "$out/native/casefold12.h"

echo "generate: unicase test vectors (cargo)" >&2
if command -v cargo >/dev/null; then
  cargo run --quiet --release --manifest-path scripts/unicase-vectors/Cargo.toml -- \
    scripts/unicase-vectors/inputs.txt "$out/test/unit/fixtures/unicase-vectors.json"
else
  echo "generate: SKIPPED test/unit/fixtures/unicase-vectors.json: cargo is not installed" >&2
fi
