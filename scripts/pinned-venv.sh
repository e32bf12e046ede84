#!/usr/bin/env bash
# pinned-venv.sh LABEL REQUIREMENTS VENV PROBE: creates (or refreshes) the
# Python virtual environment VENV from the pinned REQUIREMENTS file.
# Idempotent: does nothing when VENV/bin/PROBE exists and the pins have not
# changed (a sha256 of REQUIREMENTS kept in the venv). LABEL prefixes the
# message printed when it installs. Used by test-venv.sh and deploy-venv.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1 req=$2 venv=$3 probe=$4
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/$probe" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "$label: installing $req into $venv"
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
echo "$want" > "$stamp"
