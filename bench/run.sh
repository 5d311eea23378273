#!/usr/bin/env bash
# The benchmark, in one command:  bash bench/run.sh [--quick] [--reps N] [...]
# Builds our server (npm run build) unless --no-build is given, then runs
# bench/run.py with the repo's venv (created by scripts/setup-venv.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

build=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-build" ]; then build=0; else args+=("$a"); fi
done

PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
  if [ -f "$ROOT/scripts/setup-venv.sh" ]; then
    bash "$ROOT/scripts/setup-venv.sh"
  else
    echo "bench: $PY missing; create it with: python3 -m venv .venv && .venv/bin/pip install anki==26.9.3" >&2
    exit 1
  fi
fi
if [ "$build" = 1 ]; then
  [ -d node_modules ] || npm ci
  npm run build >/dev/null
fi
exec "$PY" "$ROOT/bench/run.py" ${args[@]+"${args[@]}"}
