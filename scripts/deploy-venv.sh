#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment of the deployment
# checkers (kubernetes-validate, checkov, hadolint), pinned in
# deploy/requirements.txt, at $1 (default .venv-deploy). Idempotent: does
# nothing when the pins have not changed. Apart from .venv-test so that the
# checkers' dependencies never move the test tools' versions.
exec "$(dirname "$0")/pinned-venv.sh" deploy-venv deploy/requirements.txt "${1:-.venv-deploy}" checkov
