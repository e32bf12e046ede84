#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of the deployment
# checkers (kubernetes-validate, checkov, hadolint), pinned in
# deploy/requirements.txt, at $1 (default .venv-deploy). Idempotent: does
# nothing when the pins have not changed. Apart from .venv-test so that the
# checkers' dependencies never move the test tools' versions.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-deploy}
req=deploy/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/checkov" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "deploy-venv: installing $req into $venv"
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
echo "$want" > "$stamp"
