#!/usr/bin/env bash
# Compatibility matrix (test/compat): every Anki release in test/compat/versions.txt,
# each from its own cached venv, against our server and the official server of
# the same release. Prints the matrix and exits non-zero on any failure.
#
#   scripts/test-compat.sh                 # the full matrix (all releases, all scenarios, both servers)
#   scripts/test-compat.sh --quick         # the CI set (see docs/compat.md)
#   scripts/test-compat.sh --versions 2.1.66,newest --server ours --scenarios normal_sync,media
#
# Other arguments go to test/compat/run_matrix.py (--help lists them).
# Environment: COMPAT_VENV_DIR (default .cache/compat-venvs), COMPAT_JOBS (default 4),
# COMPAT_PYTHON (python for the venvs, default python3), COMPAT_NO_BUILD=1 (use dist/ as is).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

only_official=0
prev=""
for arg in "$@"; do
  case "$arg" in
    --server=official) only_official=1 ;;
  esac
  if [ "$prev" = "--server" ] && [ "$arg" = "official" ]; then only_official=1; fi
  prev="$arg"
done

# Our server runs from dist/, which must match the sources.
if [ "$only_official" = 0 ] && [ "${COMPAT_NO_BUILD:-0}" != 1 ]; then
  npm run build --silent
fi

exec python3 "$ROOT/test/compat/run_matrix.py" "$@"
