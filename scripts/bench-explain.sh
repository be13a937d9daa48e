#!/usr/bin/env bash
# Measures `preflight explain --offline`: generates what `kubectl get pods,events -o json` prints
# for N pods (default 5,000) of which F (default 500) cannot pull their image — half with the
# cause in the status, half backing off with it in a Failed event — and times the explanation (no
# network). Uses hyperfine when installed, else a loop of runs. Usage:
# scripts/bench-explain.sh [N] [F]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
f=${2:-500}
cargo build -q --release -p preflight-cli
bin=target/release/preflight
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$n" "$f" >"$work/pods.json" <<'PY'
import json, sys
n, failing = int(sys.argv[1]), int(sys.argv[2])
every = max(n // failing, 1)
items = []
for i in range(n):
    name = f"app-{i % 250}-7d9f-{i:05d}"
    ns = f"team-{i % 50}"
    image = f"registry.example.com/{ns}/app-{i % 250}:v2.1.{i % 10}"
    state = {"running": {"startedAt": "2026-11-27T21:00:00Z"}}
    fails = i % every == 0 and i // every < failing
    inner = (f'failed to pull and unpack image "{image}": failed to resolve reference '
             f'"{image}": {image}: not found')
    if fails and i % 2 == 0:
        state = {"waiting": {"reason": "ErrImagePull",
                             "message": f"rpc error: code = NotFound desc = {inner}"}}
    elif fails:
        state = {"waiting": {"reason": "ImagePullBackOff",
                             "message": f'Back-off pulling image "{image}"'}}
    items.append({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": f"app-{i % 250}"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": f"app-{i % 250}-7d9f", "controller": True}]},
        "spec": {"nodeName": f"node-{i % 40}", "imagePullSecrets": [{"name": "regcred"}],
                 "containers": [{"name": "app", "image": image,
                                 "env": [{"name": "MODE", "value": "production"}]}]},
        "status": {"phase": "Pending" if fails else "Running",
                   "containerStatuses": [{"name": "app", "image": image, "ready": not fails,
                                          "restartCount": 0, "state": state}]},
    })
    if fails:
        for t in ("21:58:00", "22:01:05"):
            items.append({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{name}.{t}", "namespace": ns},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": name,
                                   "fieldPath": "spec.containers{app}"},
                "reason": "Failed", "type": "Warning",
                "message": f'Failed to pull image "{image}": rpc error: code = NotFound desc = {inner}',
                "lastTimestamp": f"2026-11-27T{t}Z"})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=4)
PY
size=$(du -h "$work/pods.json" | cut -f1)
echo "input: $n pods, $f failing, $size of JSON"
got=$("$bin" explain --offline -o json -f "$work/pods.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["containers"])' || true)
echo "failing containers explained: $got"
if [ "$got" != "$f" ]; then
    echo "expected $f failing containers" >&2
    exit 1
fi
if command -v hyperfine >/dev/null; then
    hyperfine --warmup 1 --runs 10 -i "$bin explain --offline -o json -f $work/pods.json"
else
    runs=10
    start=$(date +%s.%N)
    for _ in $(seq "$runs"); do
        "$bin" explain --offline -o json -f "$work/pods.json" >/dev/null || true
    done
    end=$(date +%s.%N)
    python3 -c "print(f'mean over $runs runs: {($end - $start) / $runs:.3f} s')"
fi
