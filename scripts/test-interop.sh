#!/usr/bin/env bash
# Real-client interoperability suite: Anki's own sync client against the
# official sync server and ours. Extra arguments go to pytest, e.g.
#   scripts/test-interop.sh --server=official -q
#   scripts/test-interop.sh --server=ours -k roundtrip
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash "$ROOT/scripts/setup-venv.sh"

# Our server is started from dist/; build it when it is missing. Skip this when
# only the official server is selected.
selected="${INTEROP_SERVER:-both}"
prev=""
for arg in "$@"; do
  case "$arg" in
    --server=*) selected="${arg#--server=}" ;;
  esac
  if [ "$prev" = "--server" ]; then selected="$arg"; fi
  prev="$arg"
done
want_ours=1
[ "$selected" = "official" ] && want_ours=0
if [ "$want_ours" = 1 ] && [ ! -f "$ROOT/dist/cli/main.js" ]; then
  echo "test-interop: dist/cli/main.js missing; running npm run build"
  npm run build
fi

# Run the whole suite unless test paths (e.g. test/interop/test_core.py) were given.
target=(test/interop)
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -e "${arg%%::*}" ]; then target=(); break; fi ;;
  esac
done

exec "$ROOT/.venv/bin/python" -m pytest "${target[@]}" "$@"
