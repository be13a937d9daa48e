#!/usr/bin/env bash
# The main job on a fresh machine, with no internet: start a real registry on loopback, push
# payment-app:v2.1.2 to it, and ask preflight about the deploy that references v2.1.3 — the
# 3 AM scenario, as a deploy manifest. Extra arguments go to `preflight check` (e.g. `-o json`).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/apt-install.sh
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v curl >/dev/null 2>&1 || need+=(curl)
apt_install "${need[@]}"
echo "building preflight (cargo build -p preflight-cli; the first build takes a couple of minutes)" >&2
cargo build -p preflight-cli
echo "starting a registry on loopback and pushing demo/payment-app:v2.1.2 to it" >&2

work=$(mktemp -d)
trap 'kill "${registry_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cat >"$work/config.yml" <<YAML
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: 127.0.0.1:0, secret: demo}
YAML
docker-registry serve "$work/config.yml" >"$work/log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "${port:-}" ] || { cat "$work/log" >&2; echo "the registry did not start" >&2; exit 2; }
reg="127.0.0.1:$port"

push_blob() { # repo file → digest
    local digest="sha256:$(sha256sum "$2" | cut -d' ' -f1)"
    local location
    location=$(curl -fsS -X POST -D - -o /dev/null "http://$reg/v2/$1/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case "$location" in http*) ;; *) location="http://$reg$location" ;; esac
    case "$location" in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -fsS -X PUT --data-binary "@$2" -H 'Content-Type: application/octet-stream' \
        "$location${sep}digest=$digest" >/dev/null
    echo "$digest"
}
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config.json"
printf 'payment-app layer' >"$work/layer"
config=$(push_blob demo/payment-app "$work/config.json")
layer=$(push_blob demo/payment-app "$work/layer")
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config","size":$(stat -c%s "$work/config.json")},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"$layer","size":$(stat -c%s "$work/layer")}]}
JSON
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/manifest.json" "http://$reg/v2/demo/payment-app/manifests/v2.1.2" >/dev/null

cat >"$work/deploy.yaml" <<YAML
# What \`helm template shop ./chart\` would render for the hotfix deploy.
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment-app, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: app
          image: $reg/demo/payment-app:v2.1.3
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: payment-api, namespace: shop}
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: $reg/demo/payment-app:v2.1.2
      containers:
        - name: api
          image: $reg/demo/payment-api:v2.1.2
YAML

echo "registry at $reg holds demo/payment-app:v2.1.2; checking the deploy:" >&2
echo >&2
set +e
target/debug/preflight check --plain-http "$reg" -f "$work/deploy.yaml" "$@"
status=$?
echo >&2
echo "preflight exited with $status (0: all pullable, 1: something will not pull, 2: bad input)" >&2
