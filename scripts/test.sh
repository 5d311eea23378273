#!/usr/bin/env bash
# The test command (`npm test`): unit tests, then the real-client suite
# against our server and the official one. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# Always build: the interop suite runs dist/, which must match the sources.
npm run build
# Structure: no folder-level import cycle in src/, no function over 80 lines.
node scripts/check-imports.mjs
npx vitest run
bash scripts/test-interop.sh "$@"
