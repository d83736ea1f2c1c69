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
server_home="$results/temporal"
# The one Temporal server of the run, for both integration projects (test/support/shared-server.ts).
stop_server() { npx tsx test/support/shared-server.ts stop "$server_home" || true; rm -rf "$results"; }
trap stop_server EXIT
status=0
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json" || status=1

LIFEBOAT_TEST_TEMPORAL_ADDRESS=$(npx tsx test/support/shared-server.ts start "$server_home")
export LIFEBOAT_TEST_TEMPORAL_ADDRESS
# The lab's files one after another; beside them, the files that need Temporal only (their
# output goes to a file, printed once they end, so the two never interleave).
npx vitest run --project temporal --reporter=default --reporter=json \
  --outputFile.json="$results/temporal.json" >"$results/temporal.log" 2>&1 &
temporal_pid=$!
npx vitest run --project integration --reporter=default --reporter=json \
  --outputFile.json="$results/integration.json" || status=1
wait "$temporal_pid" || status=1
cat "$results/temporal.log"

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
' "$results/unit.json" "$results/integration.json" "$results/temporal.json"
exit "$status"
