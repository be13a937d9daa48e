#!/usr/bin/env bash
# Validates the project's pipeline and the CI/CD component users include against GitLab's CI
# schema (check-jsonschema from PyPI). A component file holds two YAML documents — its `spec:`
# header and its jobs — and the validator reads one, so each is checked on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
# Run as a module: a freshly installed console script may not be on PATH yet (pyenv, --user).
if ! python3 -m check_jsonschema --version >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore check-jsonschema
fi
validate() { python3 -m check_jsonschema --builtin-schema vendor.gitlab-ci "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
validate .gitlab-ci.yml
for component in templates/*.yml; do
    name=$(basename "$component" .yml)
    python3 - "$component" "$work/$name" <<'PY'
import sys
text = open(sys.argv[1]).read()
header, sep, jobs = text.partition("\n---\n")
if not sep:
    sys.exit(f"{sys.argv[1]}: a component needs a spec header, then ---, then its jobs")
open(sys.argv[2] + "-spec.yml", "w").write(header + "\n")
open(sys.argv[2] + "-jobs.yml", "w").write(jobs)
PY
    validate "$work/$name-spec.yml" "$work/$name-jobs.yml"
done
