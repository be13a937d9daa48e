#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each, one after another, and prints
# one line per target: executions, corpus size, and whether anything was found.
#
#   scripts/fuzz.sh              # 20 s per target (.ci/run runs 15, the GitLab job 30)
#   scripts/fuzz.sh 600          # 10 minutes per target, the release bar
#   scripts/fuzz.sh 600 reference k8s_manifests
#
# Needs the nightly toolchain (libFuzzer's instrumentation); installs cargo-fuzz when missing.
# The corpus grows in fuzz/corpus/TARGET (not committed), seeded from fuzz/seeds/TARGET. A crash is
# saved in fuzz/artifacts/TARGET and fails the run; turn it into a regression test before fixing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

# All in one function, called on the script's last line: bash has then read the whole file, so
# editing it during a long run cannot change or break the run.
main() {
    seconds="${1:-20}"
    shift || true
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        echo "error: fuzzing needs the nightly toolchain (rustup toolchain list shows none)" >&2
        exit 2
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "installing cargo-fuzz" >&2
        cargo install cargo-fuzz --locked --quiet
    fi

    targets=("$@")
    if [ ${#targets[@]} -eq 0 ]; then
        mapfile -t targets < <(cargo +nightly fuzz list)
    fi
    # Default profile: optimized, with debug assertions and overflow checks, under AddressSanitizer.
    cargo +nightly fuzz build
    # Run the built binaries directly, so editing the sources during a long run changes nothing.
    bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

    failed=0
    summary=()
    for target in "${targets[@]}"; do
        mkdir -p "corpus/$target" "artifacts/$target"
        log="$(mktemp)"
        # -rss_limit_mb: a memory blow-up is a finding; -timeout: one input taking 10 s is a hang.
        if "$bin_dir/$target" "corpus/$target" "seeds/$target" \
            -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -max_len=65536 \
            -artifact_prefix="artifacts/$target/" \
            -print_final_stats=1 >"$log" 2>&1; then
            verdict=ok
        else
            verdict=FOUND
            failed=1
            tail -n 60 "$log" >&2
        fi
        execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
        corpus="$(find "corpus/$target" -type f | wc -l)"
        summary+=("$(printf '%-18s %-5s %12s execs in %ss, corpus %s' "$target" "$verdict" "$execs" "$seconds" "$corpus")")
        echo "${summary[-1]}" >&2
        rm -f "$log"
    done
    printf '%s\n' "${summary[@]}"
    return "$failed"
}

main "$@"; exit $?
