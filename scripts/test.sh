#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the real servers the integration
# tests start (the CNCF registry, htpasswd, dnsmasq) when they are missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
source scripts/apt-install.sh
apt_install "${need[@]}"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
    # nextest does not run doctests.
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast "$@"
fi
