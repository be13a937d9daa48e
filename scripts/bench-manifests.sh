#!/usr/bin/env bash
# Measures extraction: generates N Deployments (default 10,000) as one multi-document stream, like
# `helm template` output, and times `preflight images -f -` on it (no network): wall time and
# peak memory. Usage: scripts/bench-manifests.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build -q --release -p preflight-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$n" >"$work/deploy.yaml" <<'PY'
import sys
n = int(sys.argv[1])
for i in range(n):
    print(f"""---
# Source: shop/templates/app-{i}.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team-{i % 50}
  labels: {{app: app-{i}, tier: backend}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      serviceAccountName: deployer
      imagePullSecrets: [{{name: regcred}}]
      initContainers:
        - name: migrate
          image: registry.example.com/team-{i % 50}/migrate:v{i % 7}
      containers:
        - name: app
          image: registry.example.com/team-{i % 50}/app-{i % 200}:v2.1.{i % 10}
          imagePullPolicy: IfNotPresent
          ports: [{{containerPort: 8080}}]
          env:
            - {{name: MODE, value: production}}
        - name: sidecar
          image: docker.io/envoyproxy/envoy:v1.31.0""")
PY
size=$(stat -c%s "$work/deploy.yaml")
t0=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" target/release/preflight images -o json -f - <"$work/deploy.yaml" >"$work/out.json" || true
t1=$(date +%s.%N)
python3 - "$n" "$size" "$t0" "$t1" "$(cat "$work/rss")" "$work/out.json" <<'PY'
import json, sys
n, size, t0, t1, rss, out = sys.argv[1:]
report = json.load(open(out))
uses = sum(len(i["sources"]) for i in report["images"])
print(f"{n} documents ({int(size)/1e6:.1f} MB): {uses} image uses, {report['summary']['images']} distinct, "
      f"wall {(float(t1)-float(t0))*1000:.0f} ms, peak RSS {int(rss)/1024:.1f} MiB")
PY
