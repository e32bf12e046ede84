#!/usr/bin/env bash
# Installs actionlint (the GitHub Actions workflow linter, a Go module) at the
# pinned version into .tools/bin, with the Go toolchain found in PATH or at
# /usr/local/go/bin/go, then runs it with the arguments given. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.7.12
bin=.tools/bin/actionlint
if ! [ -x "$bin" ] || [ "$("$bin" -version 2>/dev/null | head -1)" != "$version" ]; then
    go=$(command -v go || echo /usr/local/go/bin/go)
    [ -x "$go" ] || { echo "actionlint.sh: no Go toolchain (go in PATH or /usr/local/go/bin/go)" >&2; exit 1; }
    echo "actionlint.sh: go install github.com/rhysd/actionlint/cmd/actionlint@$version"
    GOBIN="$PWD/.tools/bin" GOFLAGS=-mod=mod "$go" install "github.com/rhysd/actionlint/cmd/actionlint@$version"
fi
exec "$bin" "$@"
