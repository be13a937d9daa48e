#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the real servers the integration
# tests start (the CNCF registry, htpasswd, dnsmasq, tinyproxy), the node runtimes the oracle tests pull
# with (containerd, podman) and buildah (the image test) when they are missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
# The nodes' HTTP proxy (tests/it/proxy.rs), run under unshare with an /etc/hosts of its own.
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/sbin/tinyproxy ] || need+=(tinyproxy)
# The oracle (tests/it/oracle.rs): containerd with ctr, and podman (containers/image, CRI-O's
# library). podman runs on vfs storage as root, so neither uidmap nor fuse-overlayfs is needed;
# unshare and mount (util-linux, mount) give it and ctr a private resolv.conf.
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need+=(containerd)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v mount >/dev/null 2>&1 || need+=(mount)
# The project's image (tests/it/image.rs): buildah builds the Containerfile's runtime stage on vfs
# storage, and the binary runs from the unpacked image under chroot (coreutils).
command -v buildah >/dev/null 2>&1 || need+=(buildah)
source scripts/apt-install.sh
apt_install "${need[@]}"

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@"
    # nextest does not run doctests.
    cargo test --workspace --doc
else
    cargo test --workspace --no-fail-fast "$@"
fi
