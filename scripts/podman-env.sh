# Sourced by the scripts that run podman: the project's containers.conf and the
# podman command (sudo when not root: the image and its tests run rootful).
# shellcheck shell=bash
HC_ROOT=${HC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export CONTAINERS_CONF="$HC_ROOT/deploy/podman/containers.conf"
if [ "$(id -u)" -eq 0 ]; then
    PODMAN=(podman)
else
    PODMAN=(sudo env "CONTAINERS_CONF=$CONTAINERS_CONF" podman)
fi
