#!/usr/bin/env bash
# Validates the deployment files without a container engine: the compose file (Debian's
# docker-compose parses and resolves it offline), the Prometheus config (promtool), and the
# site worker's systemd unit (systemd-analyze, when present).
set -euo pipefail
cd "$(dirname "$0")/.."

docker-compose -f docker-compose.yml config -q
echo "check-deploy: docker-compose.yml is valid"

# Also parses the file_sd target files the config names (deploy/prometheus/site-workers/).
promtool check config deploy/prometheus/prometheus.yml
# The alert rules, and their own tests (test/unit/platform/alert-rules.test.ts runs these too).
promtool check rules deploy/prometheus/rules/lifeboat.rules.yml
promtool test rules deploy/prometheus/rules/lifeboat.rules.test.yml

if command -v systemd-analyze >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp deploy/site-worker/lifeboat-site-worker@.service "$tmp/lifeboat-site-worker@example.service"
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/lifeboat-site-worker@example.service"
  echo "check-deploy: deploy/site-worker unit is valid"
fi
