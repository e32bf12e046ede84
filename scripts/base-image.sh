#!/usr/bin/env bash
# Makes the image localhost/debian:12-slim from Debian's own packages, for a
# host that reaches Debian's mirror but no container registry: debootstrap
# (minbase variant) of bookworm from the mirror this host's apt uses, trimmed
# like the registry's slim image (no docs, man pages, locales or package
# lists; dpkg keeps excluding them), imported into podman. Idempotent: does
# nothing when the image exists (FORCE=1 makes it again). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh
name=${1:-localhost/debian:12-slim}
if [ "${FORCE:-0}" != 1 ] && "${PODMAN[@]}" image exists "$name"; then
    exit 0
fi
# The first Debian mirror of this host's apt sources (deb822 or one-line).
mirror=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    head -1 | awk '{print $2}' || true)
if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+/debian/?[[:space:]]+bookworm' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 |
        awk '{print $(NF-1)}' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=$(grep -hoE '^URIs:[[:space:]]*[^[:space:]]+/debian-security/?$' /etc/apt/sources.list.d/*.sources \
    2>/dev/null | head -1 | awk '{print $2}' || true)
security=${security:-http://deb.debian.org/debian-security}
dir=$(mktemp -d /var/tmp/hc-base.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "base-image: debootstrap --variant=minbase bookworm from $mirror"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO debootstrap --variant=minbase bookworm "$dir/root" "$mirror" > "$dir/debootstrap.log" 2>&1 || {
    tail -30 "$dir/debootstrap.log"
    exit 1
}
# As the registry's debian:12-slim: dpkg leaves these out of every later
# install, and what debootstrap put there goes now.
$SUDO sh -c "cat > '$dir/root/etc/dpkg/dpkg.cfg.d/slim'" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
# Updates and security fixes too, as the registry's image has them.
$SUDO sh -c "cat > '$dir/root/etc/apt/sources.list'" <<CFG
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
CFG
$SUDO sh -c "cat > '$dir/root/etc/apt/apt.conf.d/slim'" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
CFG
$SUDO sh -c "cd '$dir/root' && find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete &&
    rm -rf usr/share/man/* usr/share/info/* var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/log/* &&
    find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +"
$SUDO tar -C "$dir/root" -c . | "${PODMAN[@]}" import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' - "$name" >/dev/null
echo "base-image: $name ($("${PODMAN[@]}" image inspect --format '{{.Size}}' "$name" | numfmt --to=si)B)"
