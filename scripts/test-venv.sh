#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of the test tools that
# Debian does not ship (schemathesis, selenium), pinned in tests/requirements.txt,
# at $1 (default .venv-test). Idempotent: does nothing when the pins have not changed.
exec "$(dirname "$0")/pinned-venv.sh" test-venv tests/requirements.txt "${1:-.venv-test}" schemathesis
