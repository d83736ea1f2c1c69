#!/usr/bin/env bash
# The main job, on a fresh machine: set-up, then check and plan the example runbooks.
# Later issues extend it (the lab, replication, a drill and a failover).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "demo: validating the example runbooks"
npx lifeboat validate runbooks/examples/*.yaml
echo "demo: the plan of the payments runbook"
npx lifeboat plan runbooks/examples/payments.yaml
