#!/usr/bin/env bash
# `make image`: builds the container image (Dockerfile) with podman, in docker
# format (an OCI image has no HEALTHCHECK), tagged healthcenter:<version of
# CMakeLists.txt> and healthcenter:latest, on IMAGE_BASE when set (a debian:12-slim from a registry), else on
# localhost/debian:12-slim made by scripts/base-image.sh. Prints its size.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh
version=$(sed -n 's/^project(healthcenter VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
base=${IMAGE_BASE:-}
if [ -z "$base" ]; then
    base=localhost/debian:12-slim
    scripts/base-image.sh "$base"
fi
mkdir -p build
log=build/image.log
start=$(date +%s)
"${PODMAN[@]}" build --runtime=runc --network=host --pull=missing --layers --format docker \
    --build-arg "BASE=$base" --build-arg "VERSION=$version" \
    -t "healthcenter:$version" -t healthcenter:latest -f Dockerfile . >"$log" 2>&1 || {
    tail -40 "$log"
    exit 1
}
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' healthcenter:latest)
echo "image: healthcenter:$version healthcenter:latest on $base in $(($(date +%s) - start)) s," \
    "$(numfmt --to=si "$size")B ($size bytes)"
