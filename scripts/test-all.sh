#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set-up, lint, types, unit tests, integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
npx biome check .
npx tsc --noEmit -p .
bash scripts/check-deploy.sh
npx vitest run --project unit
npx vitest run --project integration
echo "test-all: wall time $(( $(date +%s) - start )) s"
