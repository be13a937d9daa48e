#!/usr/bin/env bash
# Measures preflight against a local registry, plain HTTP and TLS: REPOS × TAGS distinct images
# (default 10 × 20 = 200), one run each, wall time, time per image, peak memory, and the requests
# the registry saw. Rerun it after a change and compare. Usage: scripts/bench.sh [REPOS] [TAGS]
set -euo pipefail
cd "$(dirname "$0")/.."
repos=${1:-10}
tags=${2:-20}

command -v docker-registry >/dev/null || { echo "docker-registry missing: run scripts/test.sh once" >&2; exit 2; }
cargo build -q --release -p preflight-cli
bin=target/release/preflight

work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

# A CA-signed certificate for 127.0.0.1, so the TLS run verifies like production.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$work/ca.key" \
    -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/srv.key" -out "$work/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/ext"
openssl x509 -req -in "$work/srv.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/ext" -out "$work/srv.pem" 2>/dev/null

start_registry() { # name [tls] → sets $addr to host:port (no subshell: the trap must see the pid)
    local name=$1 tls=${2:-}
    {
        echo "version: 0.1"
        echo "log: {level: info}"
        echo "storage: {filesystem: {rootdirectory: $work/$name-data}}"
        if [ -n "$tls" ]; then
            echo "http: {addr: 127.0.0.1:0, secret: bench, tls: {certificate: $work/srv.pem, key: $work/srv.key}}"
        else
            echo "http: {addr: 127.0.0.1:0, secret: bench}"
        fi
    } >"$work/$name.yml"
    docker-registry serve "$work/$name.yml" >"$work/$name.log" 2>&1 &
    pids+=($!)
    local port=""
    for _ in $(seq 200); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.log" | head -n1)
        [ -n "$port" ] && break
        sleep 0.05
    done
    [ -n "$port" ] || { cat "$work/$name.log" >&2; exit 2; }
    addr="127.0.0.1:$port"
}

seed() { # base-url
    local base=$1 curl=(curl -fsS --cacert "$work/ca.pem")
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/cfg"
    printf 'bench layer' >"$work/layer"
    local cd ld
    cd="sha256:$(sha256sum "$work/cfg" | cut -d' ' -f1)"
    ld="sha256:$(sha256sum "$work/layer" | cut -d' ' -f1)"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
        "$cd" "$(stat -c%s "$work/cfg")" "$ld" "$(stat -c%s "$work/layer")" >"$work/manifest"
    for r in $(seq "$repos"); do
        for pair in "cfg:$cd" "layer:$ld"; do
            local file=${pair%%:*} digest=${pair#*:} loc
            loc=$("${curl[@]}" -X POST -D - -o /dev/null "$base/v2/bench/app$r/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
            case "$loc" in http*) ;; *) loc="$base$loc" ;; esac
            case "$loc" in *\?*) sep='&' ;; *) sep='?' ;; esac
            "${curl[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$work/$file" "$loc${sep}digest=$digest" >/dev/null
        done
        for t in $(seq "$tags"); do
            "${curl[@]}" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
                --data-binary "@$work/manifest" "$base/v2/bench/app$r/manifests/v$t" >/dev/null
        done
    done
}

measure() { # label host flags...
    local label=$1 host=$2
    shift 2
    local refs=()
    for r in $(seq "$repos"); do for t in $(seq "$tags"); do refs+=("$host/bench/app$r:v$t"); done; done
    local before after
    before=$(grep -c '"HEAD /v2/' "$work/$label.log" || true)
    local t0 t1
    t0=$(date +%s.%N)
    # The manifest HEAD alone, as the registry's HEAD count below expects (blobs is the default).
    /usr/bin/time -f '%M' -o "$work/rss" "$bin" check -o json --depth manifest "$@" "${refs[@]}" >"$work/out.json"
    t1=$(date +%s.%N)
    after=$(grep -c '"HEAD /v2/' "$work/$label.log" || true)
    python3 - "$label" "${#refs[@]}" "$t0" "$t1" "$(cat "$work/rss")" "$((after - before))" "$work/out.json" <<'PY'
import json, sys
label, n, t0, t1, rss, heads, out = sys.argv[1:]
n, wall = int(n), float(sys.argv[4]) - float(sys.argv[3])
report = json.load(open(out))
ok = report["summary"]["pullable"]
manifest_ms = sorted(s["elapsed_ms"] for i in report["images"] for s in i["stages"] if s["stage"] == "manifest")
p50 = manifest_ms[len(manifest_ms) // 2]
print(f"{label:6} {n} images: wall {wall*1000:.0f} ms, {wall*1000/n:.2f} ms/image, "
      f"{n/wall:.0f} images/s, manifest HEAD p50 {p50:.1f} ms, HEADs at registry {heads}, "
      f"peak RSS {int(rss)/1024:.1f} MiB, pullable {ok}/{n}")
PY
}

start_registry plain
plain=$addr
start_registry tls yes
tls=$addr
echo "seeding $repos × $tags images in two registries…" >&2
seed "http://$plain"
seed "https://$tls"
measure plain "$plain" --plain-http "$plain"
measure tls "$tls" --ca-file "$work/ca.pem"

# One image per run, as a developer checks by hand: the whole process, median of 20 runs.
single() { # label image flags...
    local label=$1 image=$2
    shift 2
    python3 - "$label" "$bin" "$image" "$@" <<'PY'
import statistics, subprocess, sys, time
label, binary, image, *flags = sys.argv[1:]
runs = []
for _ in range(20):
    t0 = time.perf_counter()
    subprocess.run([binary, "check", "-o", "json", *flags, image], check=True, capture_output=True)
    runs.append((time.perf_counter() - t0) * 1000)
print(f"{label:6} 1 image per process: median {statistics.median(runs):.1f} ms, min {min(runs):.1f} ms (20 runs)")
PY
}
single plain "$plain/bench/app1:v1" --plain-http "$plain"
single tls "$tls/bench/app1:v1" --ca-file "$work/ca.pem"
