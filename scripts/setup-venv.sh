#!/usr/bin/env bash
# Create/refresh the Python venv used by the interop suite (test/interop):
#   .venv in the repo root with the real Anki sync client and the test tools.
# Idempotent: does nothing when .venv already has exactly the pinned versions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"

# anki: the client under test (and the official server, python -m anki.syncserver)
REQUIREMENTS=(
  "anki==26.9.3"
  "pytest==9.2.0"
  "zstandard==0.25.0"
  # a local AWS Cognito emulator for test/interop/test_cognito.py
  "moto[server,cognitoidp]==5.2.1"
)

have_pinned() {
  [ -x "$PY" ] || return 1
  "$PY" - "${REQUIREMENTS[@]}" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version, PackageNotFoundError
for req in sys.argv[1:]:
    name, want = req.split("==")
    name = name.split("[")[0]
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYEOF
}

if have_pinned; then
  echo "setup-venv: $VENV is up to date"
  exit 0
fi

if [ ! -x "$PY" ]; then
  echo "setup-venv: creating $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi

echo "setup-venv: installing ${REQUIREMENTS[*]}"
"$PY" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"

if ! have_pinned; then
  echo "setup-venv: $VENV still lacks the pinned versions of ${REQUIREMENTS[*]}" >&2
  exit 1
fi
echo "setup-venv: done"
