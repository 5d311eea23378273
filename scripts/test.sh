#!/usr/bin/env bash
# The test command (`npm test`): unit tests, then the real-client suite
# against our server and the official one. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f dist/cli/main.js ] || [ ! -f build/unicase.so ]; then
  npm run build
fi
npx vitest run
bash scripts/test-interop.sh "$@"
