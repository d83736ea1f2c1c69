#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set-up, lint, types, deployment files, unit tests,
# integration tests (real Temporal, real lab). Ends with one plain line: `tests: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
npx biome check .
npx tsc --noEmit -p .
bash scripts/check-deploy.sh

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json" || status=1
npx vitest run --project integration --reporter=default --reporter=json \
  --outputFile.json="$results/integration.json" || status=1

echo "test-all: wall time $(($(date +%s) - start)) s"
node -e '
  let passed = 0, failed = 0, skipped = 0;
  for (const f of process.argv.slice(1)) {
    try {
      const r = JSON.parse(require("node:fs").readFileSync(f, "utf8"));
      passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
    } catch { failed += 1; console.error(`test-all: no results in ${f}`); }
  }
  console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
' "$results/unit.json" "$results/integration.json"
exit "$status"
