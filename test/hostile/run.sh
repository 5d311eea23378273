#!/usr/bin/env bash
# Hostile-client suite (test/hostile/run.py): loopback only, bounded (every
# probe has a time limit; the whole run is cut at HOSTILE_TIMEOUT seconds).
# As root, the server's data folder is a 128 MiB tmpfs so the disk-full probes
# run for real; otherwise those probes are skipped and say so.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ -f dist/cli/main.js ] || npm run build
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || bash scripts/setup-venv.sh

work="$(mktemp -d "${TMPDIR:-/tmp}/hostile.XXXXXX")"
mounted=0
cleanup() {
  if [ "$mounted" = 1 ]; then umount -l "$work/data" 2>/dev/null || true; fi
  if [ -n "${HOSTILE_KEEP:-}" ]; then echo "hostile: work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
mkdir -p "$work/data"
tmpfs_flag=()
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=128m,mode=0755 hostile-data "$work/data" 2>/dev/null; then
  mounted=1
  tmpfs_flag=(--tmpfs)
else
  echo "hostile: not root or no tmpfs; the disk-full probes are skipped"
fi
timeout --kill-after=10 "${HOSTILE_TIMEOUT:-420}" "$PY" test/hostile/run.py --work "$work" "${tmpfs_flag[@]}" "$@"
