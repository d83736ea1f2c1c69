#!/usr/bin/env bash
# The main job, on a fresh Debian machine, as root; safe to run again (every step reuses what
# is already up): set-up, the embedded Temporal server, the two-site lab with a worker inside
# each site, the orchestrator worker, then the lab runbook checked and planned against the
# running sites (--live), and two replication cycles (full, then incremental) with their
# recovery points, then a drill from those points with its verdict and evidence. Later issues
# extend it (schedules, a failover).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (the lab creates network namespaces, bridges and libvirt daemons)" >&2
  exit 2
fi
# The demo uses the embedded server; a deployed cluster named in the environment is not the lab's.
unset TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_API_KEY

step() { printf '\n\033[1mdemo: %s\033[0m\n' "$*"; }

step "set-up (Debian packages, Temporal binaries, npm dependencies; skipped when present)"
bash scripts/setup.sh

step "static checks of the example runbooks (no server, no site)"
npx lifeboat validate runbooks/examples/*.yaml

step "the embedded Temporal server"
npx lifeboat server start

step "the two-site lab: two libvirt sites in their own namespaces, the lab runbook's VMs booted on the primary, a worker inside each site (each one alone talks to its site's libvirt), polling"
npx lifeboat lab up

step "validate --live: the lab runbook against the running sites (starts the orchestrator worker, which touches no site)"
npx lifeboat validate --live runbooks/examples/lab.yaml

step "plan --live: what a drill, failover or failback would do, and what each site has for it"
npx lifeboat plan --live runbooks/examples/lab.yaml

step "replication: a full cycle, then an incremental one (changed blocks only, over the inter-site link)"
npx lifeboat replicate --wait runbooks/examples/lab.yaml
npx lifeboat replicate --wait runbooks/examples/lab.yaml
npx lifeboat points runbooks/examples/lab.yaml

step "a drill: every VM rebuilt at the secondary from the newest point set, on the isolated bubble, checked (data too), torn down, proven"
npx lifeboat drill runbooks/examples/lab.yaml --wait

step "the drill's signed report: every report of the runbook checked (signatures, chain, the controller's head, each page's embedded evidence)"
npx lifeboat report list lab --runbook-file runbooks/examples/lab.yaml
npx lifeboat report verify "${LIFEBOAT_HOME:-.lifeboat}/reports/lab"

step "where to look"
npx lifeboat server status
npx lifeboat lab status
echo
echo "The Temporal Web UI above lists each live check as a siteInventoryWorkflow (live-check/lab/...)."
echo "Stop everything: npx lifeboat lab down && npx lifeboat server stop"
