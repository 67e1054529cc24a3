#!/usr/bin/env bash
# Offline checks of the deployment: the Containerfile and the Kubernetes manifests.
# Needs no cluster, no container engine and no network beyond the package index for
# the first install. Usage: bash deploy/check.sh   (exit status non-zero on any failure)
#
#  1. .venv-deploy from deploy/requirements.txt (re-installed when that file changes)
#  2. yamllint
#  3. hadolint and checkov (dockerfile) on the Containerfile
#  4. kubectl kustomize of every overlay
#  5. strict schema validation of the rendered output (kubernetes-validate; CRD kinds
#     against their own schemas: a kind without a schema is a failure)
#  6. checkov (kubernetes framework) with zero failed checks
#  7. pytest tests/deploy (residency of every pod template, the admission policy's CEL,
#     the monitoring manifests: promtool on the alerting rules and their unit tests)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-deploy"
PYTHON="${PYTHON:-python3}"
# The oldest Kubernetes minor we support (ValidatingAdmissionPolicy v1 is GA since
# 1.30) and the newest one kubernetes-validate knows.
K8S_VERSIONS=(1.32.0 1.37.0)

step() { printf '\n== %s\n' "$*"; }

step "environment (.venv-deploy)"
stamp="$(cat deploy/requirements.txt <("$PYTHON" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$stamp" ]]; then
  echo "installing deploy/requirements.txt into .venv-deploy"
  rm -f "$VENV/.requirements.sha256"
  "$PYTHON" -m venv "$VENV"
  # Keep the environment out of git without touching the project's .gitignore.
  echo '*' > "$VENV/.gitignore"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r deploy/requirements.txt
  echo "$stamp" > "$VENV/.requirements.sha256"
else
  echo "up to date"
fi
export PATH="$VENV/bin:$PATH"

step "promtool (Debian's prometheus package: checks and unit-tests the alerting rules)"
if ! command -v promtool >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing prometheus (for promtool) with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing: apt-get install prometheus (as root), then run this again" >&2
    exit 1
  fi
fi
promtool --version 2>&1 | head -1

step "yamllint"
yamllint --strict -c deploy/.yamllint.yaml deploy tests/deploy

RENDERED="$(mktemp -d)"
trap 'rm -rf "$RENDERED"' EXIT

step "Containerfile: hadolint, checkov"
hadolint --config deploy/.hadolint.yaml Containerfile
# checkov recognizes the file by its Docker name only.
mkdir "$RENDERED/image" && cp Containerfile "$RENDERED/image/Dockerfile"
checkov --framework dockerfile --skip-download --compact --quiet -d "$RENDERED/image"
rm -rf "$RENDERED/image"
step "kustomize (kubectl $(kubectl version --client -o json | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'))"
overlays=()
for dir in deploy/k8s/overlays/*/; do
  name="$(basename "$dir")"
  overlays+=("$name")
  kubectl kustomize "$dir" > "$RENDERED/$name.yaml"
  echo "$name: $(grep -c '^kind:' "$RENDERED/$name.yaml") resources"
done

step "schema validation (strict)"
validate_args=()
for v in "${K8S_VERSIONS[@]}"; do validate_args+=(-k "$v"); done
"$VENV/bin/python" deploy/validate_rendered.py "${validate_args[@]}" "$RENDERED"/*.yaml

step "checkov"
checkov --config-file deploy/.checkov.yaml -d "$RENDERED"

step "pytest tests/deploy"
"$VENV/bin/python" -m pytest -c tests/deploy/pytest.ini --rootdir tests/deploy -q tests/deploy

step "deploy checks passed (${overlays[*]})"
