#!/usr/bin/env bash
# Runs the whole test suite and records every report the binary printed, per test, normalized for
# what changes between runs, into DIR. Record before and after a refactor and compare:
#   scripts/record-reports.sh /tmp/before; (change); scripts/record-reports.sh /tmp/after
#   diff -r /tmp/before /tmp/after
# JUnit test suites are ordered by registry address, which the random ports reorder: a difference
# that is only the order of <testsuite> blocks is no difference.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/record-reports.sh DIR}
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
PREFLIGHT_RECORD=$raw scripts/test.sh
rm -rf "$out"
python3 scripts/normalize-reports.py "$raw" "$out"
echo "recorded $(ls "$out" | wc -l) tests' reports in $out"
