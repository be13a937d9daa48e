#!/usr/bin/env bash
# Compares preflight with skopeo and with the registry's own capacity, in one run, at the same
# concurrency C, against a local plain-HTTP registry (the Debian docker-registry on 127.0.0.1, with
# the in-memory blob descriptor cache of Debian's default configuration) seeded with 1,000 distinct
# references (100 repositories × 10 tags):
#   - preflight check over all 1,000: wall time, images/s, the requests the registry saw (exactly
#     one manifest HEAD per image, read from the registry's access log), CPU and peak RSS;
#   - skopeo inspect --raw: sequentially (over a sample, default the first 100, extrapolated) and
#     through xargs -P C over all 1,000;
#   - the registry's capacity at C connections, cycling over the same 1,000 manifest paths with
#     the Accept header preflight sends. wrk is tried first for HEAD; wrk 4.1 waits for a body
#     after a HEAD response that carries Content-Length (the registry's do) and completes nothing,
#     which is reported, and the HEADs are then driven by curl's parallel mode (one process,
#     HEAD-aware, C kept-alive connections). wrk measures GET on the same paths, which the
#     registry serves from the same handler at about the same cost. The 70 % target is judged
#     against the higher of the two;
#   - preflight --depth blobs over the same 1,000 (BENCH_BLOBS=0 skips it): the whole pull path, a
#     manifest GET per image and the config and layer once per repository, in requests per second
#     against the registry's capacity and in wall time against --depth manifest;
#   - then 10,000 references (1,000 repositories × 10 tags, the first 1,000 reused): preflight
#     once, peak RSS and wall time.
# It prints a table and the ratios against the targets of issue 5. Numbers depend on the machine
# and on what else runs on it: the load tool, the registry and the tool measured share its cores.
# On loopback the round trip is about 0, which makes sequential clients unrealistically cheap;
# --rtt MS puts a user-space latency proxy (crates/preflight-cli/examples/delay_proxy.rs, MS/2 each
# way, one more RTT for each new connection) in front of the registry, and every measured client
# (preflight, skopeo, the load tools) goes through it; seeding still goes to the registry directly.
#
# Usage: scripts/bench-compare.sh [-c N] [--skopeo-sample N|all] [--load-seconds S] [--runs N]
#                                 [--no-10k] [--sweep "16 64"] [--rtt MS]
#   -c, --concurrency N   C for preflight, xargs -P and the load tool (default 32; BENCH_CONCURRENCY)
#   --skopeo-sample N     references for the sequential skopeo run (default 100, "all" = 1,000)
#   --load-seconds S      duration of each load-tool measurement (default 10)
#   --runs N              preflight runs over the 1,000 (default 3; the median is reported)
#   --no-10k              skip the 10,000-reference memory run (BENCH_10K=0)
#   --sweep "N M…"        also run preflight and the HEAD load at these concurrencies
#   --rtt MS              add MS milliseconds of round-trip time through delay_proxy (default 0:
#                         no proxy; BENCH_RTT)
# PREFLIGHT_BIN=path uses that binary instead of building target/release/preflight.
set -euo pipefail
cd "$(dirname "$0")/.."

conc=${BENCH_CONCURRENCY:-32}
sample=${BENCH_SKOPEO_SAMPLE:-100}
load_secs=${BENCH_LOAD_SECONDS:-10}
runs=${BENCH_RUNS:-3}
big=${BENCH_10K:-1}
sweep=${BENCH_SWEEP:-}
rtt=${BENCH_RTT:-0}
while [ $# -gt 0 ]; do
    case $1 in
        -c | --concurrency) conc=$2; shift 2 ;;
        --skopeo-sample) sample=$2; shift 2 ;;
        --load-seconds) load_secs=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --no-10k) big=0; shift ;;
        --sweep) sweep=$2; shift 2 ;;
        --rtt) rtt=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
repos=100 tags=10 big_repos=1000
n=$((repos * tags))
[ "$sample" = all ] && sample=$n
for v in "$conc" "$sample" "$load_secs" "$runs"; do
    case $v in '' | *[!0-9]* | 0) echo "expected a positive whole number, got '$v'" >&2; exit 2 ;; esac
done
[ "$sample" -le "$n" ] || sample=$n
case $rtt in '' | *[!0-9]*) echo "--rtt expects whole milliseconds, got '$rtt'" >&2; exit 2 ;; esac
rtt=$((10#$rtt))

# What the run needs, installed from Debian when missing (as scripts/test.sh does).
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v bc >/dev/null 2>&1 || need+=(bc)
[ -x /usr/bin/time ] || need+=(time)
source scripts/apt-install.sh
apt_install "${need[@]}"

if [ -n "${PREFLIGHT_BIN:-}" ]; then
    bin=$PREFLIGHT_BIN
else
    cargo build -q --release -p preflight-cli
    bin=${CARGO_TARGET_DIR:-target}/release/preflight
fi
[ -x "$bin" ] || { echo "no preflight binary at $bin" >&2; exit 2; }
if [ "$rtt" -gt 0 ]; then
    cargo build -q --release -p preflight-cli --example delay_proxy
    proxy_bin=${CARGO_TARGET_DIR:-target}/release/examples/delay_proxy
fi

work=$(mktemp -d)
registry_pid="" proxy_pid="" step_pid=""
cleanup() {
    # timeout(1) leads its own process group and passes the signal on to the whole group, so
    # killing the current step's timeout also ends xargs' skopeo children or wrk.
    if [ -n "$step_pid" ]; then
        kill "$step_pid" 2>/dev/null || true
        wait "$step_pid" 2>/dev/null || true
    fi
    if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; fi
    if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bounded SECONDS CMD…: runs CMD under timeout, in the background so that a signal reaches the
# trap at once; the exit status is CMD's (124 when it ran out of time).
bounded() {
    local secs=$1
    shift
    timeout -k 5 "$secs" "$@" &
    step_pid=$!
    local rc=0
    wait "$step_pid" || rc=$?
    step_pid=""
    return "$rc"
}
now() { date +%s.%N; }
# CPU seconds (user+system) the registry has used so far.
registry_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$registry_pid/stat"; }
log_lines() { wc -l <"$work/registry.log"; }
# Registry access-log lines after line FROM: manifest HEADs (200), manifest GETs (200), all requests.
count_since() { # from → "heads gets total"
    sleep 0.3 # the registry writes a request's line as it answers: let the last ones land
    tail -n +"$(($1 + 1))" "$work/registry.log" | awk '
        / "HEAD \/v2\/[^ ]*\/manifests\/[^ ]* HTTP\/[0-9.]*" 200 / { h++ }
        / "GET \/v2\/[^ ]*\/manifests\/[^ ]* HTTP\/[0-9.]*" 200 / { g++ }
        / "(GET|HEAD|POST|PUT|PATCH|DELETE) \/v2\// { t++ }
        END { printf "%d %d %d\n", h, g, t }'
}
result() { printf '%s=%s\n' "$1" "$2" >>"$work/results"; }

# The registry: plain HTTP on a free loopback port. Level warn keeps the access log (one line a
# request, which the counts below read) and drops the per-request info lines, which would cost the
# registry CPU on every request.
port=""
for _ in 1 2 3 4 5; do
    try=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    printf 'version: 0.1\nlog: {level: warn}\nstorage: {cache: {blobdescriptor: inmemory}, filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s, secret: bench}\n' \
        "$work/data" "$try" >"$work/registry.yml"
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    registry_pid=$!
    for _ in $(seq 100); do
        kill -0 "$registry_pid" 2>/dev/null || break
        if curl -fso /dev/null "http://127.0.0.1:$try/v2/"; then port=$try; break; fi
        sleep 0.05
    done
    [ -n "$port" ] && break
    kill "$registry_pid" 2>/dev/null || true # the port was taken meanwhile: another one
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
done
[ -n "$port" ] || { cat "$work/registry.log" >&2; exit 2; }
# Seeding talks to the registry (reg_base); the measured clients to host/base, which is the
# latency proxy's address under --rtt (started after seeding) and the registry's otherwise.
host=127.0.0.1:$port
base=http://$host
reg_base=$base

# Seeding: one config and one layer blob, uploaded once and mounted into every repository, and
# one manifest PUT per tag; curl's parallel mode keeps it to a few processes.
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/cfg"
printf 'bench layer' >"$work/layer"
cfg_digest="sha256:$(sha256sum "$work/cfg" | cut -d' ' -f1)"
layer_digest="sha256:$(sha256sum "$work/layer" | cut -d' ' -f1)"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$cfg_digest" "$(stat -c%s "$work/cfg")" "$layer_digest" "$(stat -c%s "$work/layer")" >"$work/manifest"
curl_batch() { # config-file curl-args… → fails unless every transfer answered 201
    local cfg=$1
    shift
    bounded 900 curl -sS --no-progress-meter --parallel --parallel-max 16 "$@" -K "$cfg" \
        -w '%{http_code}\n' >"$work/codes"
    local want bad
    want=$(grep -c '^url' "$cfg")
    bad=$(grep -vc '^201$' "$work/codes" || true)
    [ "$(grep -c '^201$' "$work/codes")" -eq "$want" ] && [ "$bad" -eq 0 ] ||
        { echo "seeding failed: $(sort "$work/codes" | uniq -c | tr '\n' ' ')" >&2; exit 2; }
}
seed() { # first-repo last-repo
    local first=$1 last=$2 r t d loc sep
    if [ "$first" -eq 1 ]; then
        for d in "cfg:$cfg_digest" "layer:$layer_digest"; do
            loc=$(curl -fsS -X POST -D - -o /dev/null "$reg_base/v2/bench/app1/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
            case "$loc" in http*) ;; *) loc="$reg_base$loc" ;; esac
            case "$loc" in *\?*) sep='&' ;; *) sep='?' ;; esac
            curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$work/${d%%:*}" \
                "$loc${sep}digest=${d#*:}" >/dev/null
        done
        first=2
    fi
    for r in $(seq "$first" "$last"); do
        for d in "$cfg_digest" "$layer_digest"; do
            printf 'url = "%s/v2/bench/app%s/blobs/uploads/?mount=%s&from=bench/app1"\noutput = "/dev/null"\n' \
                "$reg_base" "$r" "$d"
        done
    done >"$work/mount.cfg"
    [ "$first" -le "$last" ] && curl_batch "$work/mount.cfg" -X POST
    [ "$1" -eq 1 ] && first=1
    for r in $(seq "$first" "$last"); do
        for t in $(seq "$tags"); do
            printf 'url = "%s/v2/bench/app%s/manifests/v%s"\noutput = "/dev/null"\n' "$reg_base" "$r" "$t"
        done
    done >"$work/manifests.cfg"
    curl_batch "$work/manifests.cfg" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$work/manifest"
}
refs_file() { # repos file: one HOST/REPO:TAG a line
    local r t
    for r in $(seq "$1"); do for t in $(seq "$tags"); do echo "$host/bench/app$r:v$t"; done; done >"$2"
}

echo "registry $base; seeding $n references ($repos repositories × $tags tags)…" >&2
t0=$(now)
seed 1 "$repos"
result seed_secs "$(echo "$(now) - $t0" | bc)"
if [ "$rtt" -gt 0 ]; then
    "$proxy_bin" 127.0.0.1:0 "$host" "$(echo "scale=1; $rtt / 2" | bc)" >"$work/proxy.out" 2>"$work/proxy.log" &
    proxy_pid=$!
    for _ in $(seq 100); do
        [ -s "$work/proxy.out" ] && break
        kill -0 "$proxy_pid" 2>/dev/null || break
        sleep 0.05
    done
    host=$(head -n1 "$work/proxy.out")
    [ -n "$host" ] || { echo "delay_proxy did not start" >&2; cat "$work/proxy.log" >&2; exit 2; }
    base=http://$host
    echo "clients go through delay_proxy at $base: ${rtt} ms round trip" >&2
fi
refs_file "$repos" "$work/refs"
sed 's#^[^/]*\(/.*\):\([^:]*\)$#/v2\1/manifests/\2#' "$work/refs" >"$work/paths"
mapfile -t refs <"$work/refs"

# preflight over all 1,000, RUNS times; every run must send exactly one manifest HEAD per image.
preflight_run() { # label concurrency refs-file [check flags…]
    local label=$1 c=$2 file=$3 from cpu0 t0 t1 cpu1 heads gets total pullable count
    shift 3
    local extra=("$@")
    local list=()
    mapfile -t list <"$file"
    count=${#list[@]}
    from=$(log_lines)
    cpu0=$(registry_cpu)
    t0=$(now)
    bounded 600 /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        "$bin" check --plain-http "$host" -o json --concurrency "$c" --registry-concurrency "$c" "${extra[@]}" "${list[@]}" >"$work/out.json" ||
        { echo "preflight failed ($label), see above" >&2; exit 2; }
    t1=$(now)
    cpu1=$(registry_cpu)
    read -r heads gets total < <(count_since "$from")
    pullable=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["pullable"])' "$work/out.json")
    read -r _ user sys rss < <(tail -n1 "$work/time")
    {
        echo "${label}_n=$count"
        echo "${label}_wall=$(echo "$t1 - $t0" | bc)"
        echo "${label}_cpu=$(echo "$user + $sys" | bc)"
        echo "${label}_rss_kib=$rss"
        echo "${label}_heads=$heads"
        echo "${label}_gets=$gets"
        echo "${label}_requests=$total"
        echo "${label}_pullable=$pullable"
        echo "${label}_registry_cpu=$(echo "$cpu1 - $cpu0" | bc)"
    } >>"$work/results"
    echo "  $label: $count images, $(echo "$t1 - $t0" | bc | cut -c1-6) s, $heads manifest HEADs, $total requests, peak RSS $((rss / 1024)) MiB" >&2
}
# The manifest HEAD alone: --depth manifest, no longer the default (a binary without --depth
# checks only that).
head_only=()
if "$bin" check --help | grep -q -- '--depth'; then head_only=(--depth manifest); fi
echo "preflight: $runs run(s) over $n references at concurrency $conc…" >&2
result runs "$runs"
for i in $(seq "$runs"); do preflight_run "pf$i" "$conc" "$work/refs" "${head_only[@]}"; done
# The whole pull path (--depth blobs): a manifest GET per image, the config and layer once per
# repository. Skipped with BENCH_BLOBS=0 or a binary without --depth.
if [ "${BENCH_BLOBS:-1}" = 1 ] && "$bin" check --help | grep -q -- '--depth'; then
    echo "preflight --depth blobs: $runs run(s)…" >&2
    for i in $(seq "$runs"); do preflight_run "pb$i" "$conc" "$work/refs" --depth blobs; done
fi
# One image in a fresh process: startup, one connection, one HEAD, JSON (median of 5).
for i in 1 2 3 4 5; do
    t0=$(now)
    bounded 60 "$bin" check --plain-http "$host" -o json "${head_only[@]}" "${refs[0]}" >/dev/null
    echo "$(now) - $t0" | bc
done | sort -n | sed -n 3p | { read -r v; result pf_single "$v"; }

# skopeo, sequentially over the sample and with xargs -P C over all of them.
skopeo_run() { # label parallelism refs-file
    local label=$1 p=$2 file=$3 from t0 t1 heads gets total rc=0
    from=$(log_lines)
    t0=$(now)
    bounded 1800 /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
        xargs -a "$file" -P "$p" -I '{}' timeout 60 skopeo inspect --raw --tls-verify=false 'docker://{}' \
        >"$work/skopeo.out" || rc=$?
    t1=$(now)
    read -r heads gets total < <(count_since "$from")
    read -r _ user sys _ < <(tail -n1 "$work/time")
    {
        echo "${label}_n=$(wc -l <"$file")"
        echo "${label}_wall=$(echo "$t1 - $t0" | bc)"
        echo "${label}_cpu=$(echo "$user + $sys" | bc)"
        echo "${label}_ok=$(grep -o '"schemaVersion"' "$work/skopeo.out" | wc -l)"
        echo "${label}_gets=$gets"
        echo "${label}_requests=$total"
        echo "${label}_rc=$rc"
    } >>"$work/results"
    echo "  $label: $(wc -l <"$file") images, $(echo "$t1 - $t0" | bc | cut -c1-6) s, exit $rc" >&2
}
head -n "$sample" "$work/refs" >"$work/sample"
echo "skopeo: sequentially over $sample, then xargs -P $conc over $n…" >&2
skopeo_run sk_seq 1 "$work/sample"
skopeo_run sk_par "$conc" "$work/refs"

# The registry's capacity: HEAD (wrk if it can, else curl --parallel) and GET (wrk).
accept='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json'
cat >"$work/load.lua" <<'LUA'
-- Cycles over the manifest paths in $WRK_PATHS with $WRK_METHOD and preflight's Accept header;
-- each thread starts at its own offset.
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local threads = 0
function setup(thread)
    thread:set("offset", threads * 500)
    threads = threads + 1
end
local i = 0
function init(args)
    i = offset or 0
end
wrk.method = os.getenv("WRK_METHOD")
wrk.headers["Accept"] = os.getenv("WRK_ACCEPT")
function request()
    i = i % #paths + 1
    return wrk.format(nil, paths[i])
end
LUA
# load LABEL METHOD TOOL CONCURRENCY SECONDS: drives the registry and records, from its access log,
# the successful requests per second, its CPU per request and the load tool's own CPU.
load() {
    local label=$1 method=$2 tool=$3 c=$4 secs=$5 from cpu0 t0 t1 cpu1 heads gets _ ok k rounds
    from=$(log_lines)
    cpu0=$(registry_cpu)
    t0=$(now)
    if [ "$tool" = wrk ]; then
        WRK_PATHS=$work/paths WRK_METHOD=$method WRK_ACCEPT=$accept bounded $((secs + 30)) \
            /usr/bin/time -f '%U %S' -o "$work/time" wrk -t 2 -c "$c" -d "${secs}s" -s "$work/load.lua" "$base" \
            >"$work/wrk.out" 2>&1 || true
        result "${label}_wrk_requests" "$(awk '/ requests in /{ print $1 }' "$work/wrk.out")"
    else
        # curl's parallel mode ends when its list does: size the list for about SECONDS at the
        # rate preflight just reached (the timeout is only a bound).
        rounds=$(awk -v r="$pf_rate" -v s="$secs" 'BEGIN { k = int(r * s / 1000) + 1; print (k < 2 ? 2 : k) }')
        for k in $(seq "$rounds"); do
            awk -v b="$base" '{ printf "url = \"%s%s\"\n", b, $0 }' "$work/paths"
        done >"$work/head.cfg"
        t0=$(now)
        bounded $((secs * 3 + 30)) /usr/bin/time -f '%U %S' -o "$work/time" curl -sS --no-progress-meter -I \
            --parallel --parallel-max "$c" -H "Accept: $accept" -K "$work/head.cfg" >/dev/null 2>&1 || true
    fi
    t1=$(now)
    cpu1=$(registry_cpu)
    read -r heads gets _ < <(count_since "$from")
    if [ "$method" = HEAD ]; then ok=$heads; else ok=$gets; fi
    result "${label}_logged" "$ok"
    result "${label}_secs" "$(echo "$t1 - $t0" | bc)"
    result "${label}_rps" "$(echo "scale=1; $ok / ($t1 - $t0)" | bc)"
    result "${label}_tool_cpu" "$(tail -n1 "$work/time" | awk 'NF == 2 { print $1 + $2 }')"
    if [ "$ok" -gt 0 ]; then
        result "${label}_registry_us" "$(echo "scale=0; ($cpu1 - $cpu0) * 1000000 / $ok" | bc)"
    fi
}
pf_rate=$(awk -F= '$1 == "pf1_n" { n = $2 } $1 == "pf1_wall" { w = $2 } END { print n / w }' "$work/results")
echo "registry capacity at $conc connections, ${load_secs} s each…" >&2
load wrkhead HEAD wrk "$conc" 3
wrk_heads=$(grep '^wrkhead_wrk_requests=' "$work/results" | cut -d= -f2)
if [ "${wrk_heads:-0}" -gt 0 ]; then head_tool=wrk; else head_tool=curl; fi
if [ "$head_tool" = wrk ]; then result head_tool wrk; else result head_tool "curl --parallel"; fi
load head HEAD "$head_tool" "$conc" "$load_secs"
load get GET wrk "$conc" "$load_secs"

for c in $sweep; do
    echo "sweep: concurrency $c…" >&2
    preflight_run "sw$c" "$c" "$work/refs" "${head_only[@]}"
    load "sw${c}_head" HEAD "$head_tool" "$c" "$load_secs"
done
result sweep "$sweep"

if [ "$big" != 0 ]; then
    echo "10,000 references: seeding $((big_repos - repos)) more repositories…" >&2
    seed $((repos + 1)) "$big_repos"
    refs_file "$big_repos" "$work/refs10k"
    echo "preflight over 10,000 at concurrency $conc…" >&2
    preflight_run big "$conc" "$work/refs10k" "${head_only[@]}"
fi

if [ -n "$proxy_pid" ]; then
    result proxy_cpu "$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$proxy_pid/stat")"
fi
echo >&2
python3 - "$work/results" "$conc" "$sample" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$rtt" <<'PY'
import statistics, sys
path, conc, sample, cores, load, rtt = sys.argv[1:]
r = {}
for line in open(path):
    k, _, v = line.rstrip("\n").partition("=")
    r[k] = v
f = lambda k: float(r[k])
runs = int(r["runs"])
pfk = [f"pf{i}" for i in range(1, runs + 1)]
walls = [f(f"{k}_wall") for k in pfk]
heads = [int(r[f"{k}_heads"]) for k in pfk]
reqs = [int(r[f"{k}_requests"]) for k in pfk]
n = int(r["pf1_n"])
wall = statistics.median(walls)
pf = n / wall
rss = max(int(r[f"{k}_rss_kib"]) for k in pfk) / 1024
cpu = statistics.median(f(f"{k}_cpu") for k in pfk)
reg_us = statistics.median(f(f"{k}_registry_cpu") for k in pfk) / n * 1e6
seq = int(r["sk_seq_n"]) / f("sk_seq_wall")
par = int(r["sk_par_n"]) / f("sk_par_wall")
head, get = f("head_rps"), f("get_rps")

print(f"preflight bench-compare: {n} references ({f('seed_secs'):.1f} s to seed), concurrency {conc}, "
      f"{cores} cores shared with other work (load average at the end {load})"
      + (f"; {rtt} ms RTT through delay_proxy (+1 RTT a new connection, {r['proxy_cpu']} CPU s in all)"
         if int(rtt) else ""))
print(f"{'':32} {'images':>6} {'wall s':>7} {'per s':>6} {'CPU s':>6} {'reg µs':>6}  notes")
row = lambda name, cnt, w, rate, c, us, note: print(
    f"{name:32} {cnt:>6} {w:7.2f} {rate:6.0f} {c:>6} {us:>6}  {note}")
row(f"preflight check (median of {runs})", n, wall, pf, f"{cpu:.2f}", f"{reg_us:.0f}",
    f"runs {', '.join(f'{w:.3f}' for w in walls)} s; peak RSS {rss:.1f} MiB")
if "pb1_n" in r:
    pbk = [f"pb{i}" for i in range(1, runs + 1)]
    bwalls = [f(f"{k}_wall") for k in pbk]
    bwall = statistics.median(bwalls)
    breqs = statistics.median(int(r[f"{k}_requests"]) for k in pbk)
    row(f"preflight --depth blobs (median)", n, bwall, n / bwall,
        f"{statistics.median(f(f'{k}_cpu') for k in pbk):.2f}",
        f"{statistics.median(f(f'{k}_registry_cpu') for k in pbk) / breqs * 1e6:.0f}",
        f"runs {', '.join(f'{w:.3f}' for w in bwalls)} s; {breqs:.0f} requests ({breqs / bwall:.0f}/s), "
        f"{r['pb1_gets']} manifest GETs, {r['pb1_pullable']} pullable")
sk_note = (f"first {sample} only, extrapolated: {n / seq:.0f} s for {n}" if int(sample) < n else "all")
row("skopeo inspect, sequential", r["sk_seq_n"], f("sk_seq_wall"), seq, f"{f('sk_seq_cpu'):.2f}", "",
    f"{sk_note}; {r['sk_seq_ok']} ok, {r['sk_seq_requests']} requests")
row(f"skopeo inspect, xargs -P {conc}", r["sk_par_n"], f("sk_par_wall"), par, f"{f('sk_par_cpu'):.2f}", "",
    f"{r['sk_par_ok']} ok, {r['sk_par_requests']} requests (GET /v2/, GET manifest)")
wrk_note = ("" if r["head_tool"] == "wrk" else
            f"; wrk HEAD: {r.get('wrkhead_wrk_requests') or 0} done in 3 s (waits for a body after HEAD)")
row("registry HEAD capacity", "", f("head_secs"), head, r.get("head_tool_cpu", ""), r.get("head_registry_us", ""),
    f"{r['head_tool']} -c {conc}: {r['head_logged']} HEADs logged{wrk_note}")
row("registry GET capacity", "", f("get_secs"), get, r.get("get_tool_cpu", ""), r.get("get_registry_us", ""),
    f"wrk -t 2 -c {conc}, Lua over the same paths: {r['get_logged']} GETs logged")
row("preflight, 1 image, new process", 1, f("pf_single"), 1 / f("pf_single"), "", "",
    "median of 5: startup, connect, 1 HEAD, JSON")
for c in r.get("sweep", "").split():
    k = f"sw{c}"
    row(f"  preflight -c {c}", r[f"{k}_n"], f(f"{k}_wall"), int(r[f"{k}_n"]) / f(f"{k}_wall"), f"{f(f'{k}_cpu'):.2f}",
        f"{f(f'{k}_registry_cpu') / int(r[f'{k}_n']) * 1e6:.0f}", f"{r[f'{k}_heads']} HEADs")
    row(f"  registry HEAD capacity -c {c}", "", f(f"{k}_head_secs"), f(f"{k}_head_rps"),
        r.get(f"{k}_head_tool_cpu", ""), r.get(f"{k}_head_registry_us", ""), "curl --parallel")
print("(CPU s: the tool's own user+system time, children included; reg µs: registry CPU per request)")
print()
ok = lambda b: "met" if b else "MISSED"
print(f"preflight / skopeo sequential        {pf / seq:7.1f}×   target ≥ 50×   {ok(pf / seq >= 50)}"
      f"   (registry HEAD capacity / skopeo sequential = {head / seq:.1f}×)")
print(f"preflight / skopeo xargs -P {conc:<8} {pf / par:7.1f}×   target ≥ 5×    {ok(pf / par >= 5)}")
# Judged against the higher of the two capacities: HEAD and GET cost the registry about the same,
# and whichever client drove it harder is the better estimate of what it can serve.
cap = max(head, get)
print(f"preflight / registry capacity        {pf / cap * 100:6.0f} %   target ≥ 70 %  {ok(pf / cap >= 0.7)}"
      f"   (of the HEAD capacity {pf / head * 100:.0f} %, of the GET capacity {pf / get * 100:.0f} %)")
if "pb1_n" in r:
    print(f"--depth blobs requests/s / capacity  {breqs / bwall / cap * 100:6.0f} %   target ≥ 90 %  "
          f"{ok(breqs / bwall >= 0.9 * cap)}")
    print(f"--depth blobs wall / --depth manifest {bwall / wall:6.2f}×   target ≤ 2× (judged at --rtt 20)  "
          f"{ok(bwall / wall <= 2)}")
exact = all(h == n for h in heads)
print(f"manifest HEADs == {n}                {'yes' if exact else 'no':>7}    per run {', '.join(map(str, heads))}; "
      f"all requests per run {', '.join(map(str, reqs))}")
print(f"peak RSS, {n} references            {rss:5.1f} MiB")
if "big_n" in r:
    bn, bw, brss = int(r["big_n"]), f("big_wall"), int(r["big_rss_kib"]) / 1024
    print(f"peak RSS, {bn} references           {brss:5.1f} MiB   target < 64 MiB {ok(brss < 64)}   wall {bw:.2f} s, "
          f"{bn / bw:.0f} images/s, {r['big_heads']} manifest HEADs, {r['big_pullable']} pullable")
PY
