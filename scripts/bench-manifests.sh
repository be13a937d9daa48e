#!/usr/bin/env bash
# Measures extraction (no network), three ways, with the release build:
#   scripts/bench-manifests.sh [N]   N Deployments (default 10,000) as one multi-document stream,
#                                    like `helm template` output: wall time and peak memory;
#   scripts/bench-manifests.sh bundle  a 3 MB install bundle shaped like an operator's (CRDs with
#                                    their OpenAPI schemas, RBAC, ConfigMaps, workloads; built from
#                                    tests/fixtures/manifests), best and median of 20 runs;
#   scripts/bench-manifests.sh files   1,000 files in a directory (a Deployment, a Service and a
#                                    ConfigMap each), best and median of 20 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build -q --release -p preflight-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Best and median wall time of 20 runs of `preflight images -o json -f PATH`.
time_runs() {
    python3 - "$1" "$2" <<'PY'
import statistics, subprocess, sys, time
path, what = sys.argv[1:]
times = []
for _ in range(20):
    t0 = time.perf_counter()
    r = subprocess.run(["target/release/preflight", "images", "-o", "json", "-f", path],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    times.append((time.perf_counter() - t0) * 1000)
    if r.returncode != 0:
        sys.exit(f"preflight images exited {r.returncode} on {path}")
import json
images = json.loads(r.stdout)["summary"]["images"]
print(f"{what}: {images} distinct images, best {min(times):.1f} ms, median {statistics.median(times):.1f} ms (20 runs)")
PY
}

case "$n" in
bundle)
    python3 - "$work/bundle.yaml" <<'PY'
import pathlib, re, sys
parts = [pathlib.Path("tests/fixtures/manifests", f).read_text()
         for f in ("crd-bundle.yaml", "workloads.yaml", "templates.yaml", "workflows.yaml")]
out, i = [], 0
while sum(map(len, out)) < 3_000_000:
    # Each copy its own names and images, as the objects of a real bundle are.
    out.append("---\n" + re.sub(r"name: ([a-z0-9])", rf"name: c{i}-\1", "\n---\n".join(parts)).replace(":v", f":v{i}."))
    i += 1
pathlib.Path(sys.argv[1]).write_text("\n".join(out))
PY
    size=$(stat -c%s "$work/bundle.yaml"); lines=$(wc -l <"$work/bundle.yaml")
    time_runs "$work/bundle.yaml" "bundle of $((size / 1000)) kB, $lines lines"
    exit 0
    ;;
files)
    mkdir "$work/dir"
    python3 - "$work/dir" <<'PY'
import pathlib, sys
d = pathlib.Path(sys.argv[1])
for i in range(1000):
    (d / f"app-{i:04}.yaml").write_text(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: app-{i}, namespace: team-{i % 50}}}
data: {{MODE: production, IMAGE_NOTE: "not an image: registry.example.com/x:y"}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: team-{i % 50}}}
spec: {{selector: {{app: app-{i}}}, ports: [{{port: 80, targetPort: 8080}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: team-{i % 50}}}
spec:
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      imagePullSecrets: [{{name: regcred}}]
      containers:
        - name: app
          image: registry.example.com/team-{i % 50}/app-{i % 200}:v2.1.{i % 10}
        - name: sidecar
          image: docker.io/envoyproxy/envoy:v1.31.0
""")
PY
    time_runs "$work/dir" "1,000 files"
    exit 0
    ;;
esac
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
