#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of the test tools that
# Debian does not ship (schemathesis, selenium), pinned in tests/requirements.txt,
# at $1 (default .venv-test). Idempotent: does nothing when the pins have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-test}
req=tests/requirements.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "test-venv: installing $req into $venv"
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
echo "$want" > "$stamp"
