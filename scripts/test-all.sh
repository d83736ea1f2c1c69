#!/usr/bin/env bash
# The whole test suite, on a fresh machine: set-up, then the lab's integration files (real
# Temporal, real lab) and, beside them, lint, types, deployment files, unit tests and the
# integration files that need no lab. Ends with one plain line: `tests: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh

results=$(mktemp -d)
server_home="$results/temporal"
# The one Temporal server of the run, for both integration projects (test/support/shared-server.ts).
stop_server() { npx tsx test/support/shared-server.ts stop "$server_home" || true; rm -rf "$results"; }
trap stop_server EXIT
LIFEBOAT_TEST_TEMPORAL_ADDRESS=$(npx tsx test/support/shared-server.ts start "$server_home")
export LIFEBOAT_TEST_TEMPORAL_ADDRESS

# Everything that is not the lab, one after another: lint, types, deployment files, unit tests,
# then the integration files that need no lab. It runs beside the lab's files; its output
# goes to a file, printed once both end, so the two never interleave.
not_lab() {
  local s=0
  npx biome check . || s=1
  npx tsc --noEmit -p . || s=1
  bash scripts/check-deploy.sh || s=1
  npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json" || s=1
  npx vitest run --project no-lab --reporter=default --reporter=json \
    --outputFile.json="$results/no-lab.json" || s=1
  return "$s"
}
status=0
not_lab >"$results/not-lab.log" 2>&1 &
not_lab_pid=$!
# The lab's files, one after another.
npx vitest run --project integration --reporter=default --reporter=json \
  --outputFile.json="$results/integration.json" || status=1
wait "$not_lab_pid" || status=1
cat "$results/not-lab.log"

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
' "$results/unit.json" "$results/integration.json" "$results/no-lab.json"
exit "$status"
