#!/usr/bin/env bash
# `make deploy-check`: validates what ships, offline, with the pinned tools of
# .venv-deploy (scripts/deploy-venv.sh) and actionlint (scripts/actionlint.sh):
#   1. renders every kustomization of deploy/k8s (base, overlays/*) with
#      deploy/k8s/render.py, and where kubectl is installed checks that
#      `kubectl kustomize` renders the same resources;
#   2. kubernetes-validate --strict: every rendered resource and
#      deploy/k8s/secret.example.yaml against the Kubernetes schemas it bundles;
#   3. checkov: the rendered manifests, the Dockerfile, the workflow and
#      secrets, with the exceptions (and reasons) of deploy/checkov.yaml;
#   4. hadolint on the Dockerfile (deploy/hadolint.yaml);
#   5. actionlint on .github/workflows/*.yml.
# Exit 0 when all pass; the first failure stops it, naming the tool.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${DEPLOY_VENV:-.venv-deploy}
out=${DEPLOY_CHECK_OUT:-build/deploy-check}
py="$venv/bin/python"
rm -rf "$out"
mkdir -p "$out"

step() { printf 'deploy-check: %s\n' "$*"; }

rendered=()
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    "$py" deploy/k8s/render.py "$dir" "$out/$name.yaml"
    rendered+=("$out/$name.yaml")
    if command -v kubectl >/dev/null 2>&1; then
        kubectl kustomize "$dir" > "$out/$name.kubectl.yaml"
        "$py" - "$out/$name.yaml" "$out/$name.kubectl.yaml" <<'PY'
import sys, yaml
def load(p):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(p)) if d}
a, b = load(sys.argv[1]), load(sys.argv[2])
diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
if diff:
    sys.exit("render.py and kubectl kustomize differ on %s" % diff)
PY
        step "rendered $dir ($(grep -c '^kind:' "$out/$name.yaml") resources; same as kubectl kustomize)"
    else
        step "rendered $dir ($(grep -c '^kind:' "$out/$name.yaml") resources; no kubectl to compare with)"
    fi
done

step "kubernetes-validate --strict"
"$venv/bin/kubernetes-validate" --strict --quiet "${rendered[@]}" deploy/k8s/secret.example.yaml

step "checkov (exceptions: deploy/checkov.yaml)"
files=()
for f in "${rendered[@]}" deploy/k8s/secret.example.yaml Dockerfile .github/workflows/*.yml; do
    files+=(-f "$f")
done
"$venv/bin/checkov" --config-file deploy/checkov.yaml "${files[@]}" > "$out/checkov.txt" 2>&1 || {
    cat "$out/checkov.txt"
    exit 1
}
grep -A2 "scan results" "$out/checkov.txt" | grep "Passed checks" | sed 's/^/  /'

step "hadolint Dockerfile"
"$venv/bin/hadolint" --config deploy/hadolint.yaml Dockerfile

step "actionlint .github/workflows"
scripts/actionlint.sh .github/workflows/*.yml
step "all passed"
