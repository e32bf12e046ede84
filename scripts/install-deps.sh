#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the system and the tests need.
# Idempotent: does nothing when everything is present; uses sudo when not root.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
      libsqlite3-dev sqlite3 libsodium-dev zlib1g-dev libcmocka-dev nginx python3 python3-pytest
      # bearer tokens (src/common/hc_token.c): HS256 JSON Web Tokens
      libjwt-dev
      python3-yaml python3-venv curl wrk
      # README's "When things fail" reads pids and states from /actuator/health with it
      jq
      # promtool (tests/e2e/test_promtool.py checks every /metrics with it);
      # only its binary is used, never the prometheus server
      prometheus
      # make bench-breaker: the original's load tool
      siege
      # HC_DB=postgres (libpq) and its tests: scripts/postgres.sh runs a server
      # of its own from the package's binaries; the package's cluster never runs
      postgresql-15 libpq-dev
      # make format / format-check
      clang-format
      # the fuzz build (tests/fuzz): clang, its libFuzzer and sanitizer runtimes,
      # and llvm-symbolizer for readable crash reports
      clang libclang-rt-14-dev llvm
      # HC_BUS=kafka: librdkafka; scripts/kafka.sh (the test broker): kcat, maven, java
      librdkafka-dev kcat maven default-jre-headless
      # the container image and its tests (make image, image-test, kube-test):
      # podman with runc (crun fails on some kernels' cgroups), catatonit for
      # `podman kube play`'s pods, debootstrap for the local debian:12-slim base
      # (scripts/base-image.sh); man-db renders healthcenter(1) in test_install
      podman runc catatonit debootstrap man-db
      # the browser tests of the web app (tests/browser): headless Chromium driven
      # by Selenium through chromedriver; Korean glyphs for its screenshots
      chromium chromium-driver fonts-noto-cjk)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx is only ever run by `healthcenter up` with its own config, of the
# prometheus package only promtool is used, and of postgresql-15 only the
# binaries (scripts/postgres.sh): keep the packages' services from starting
# (their postinst would start them: prometheus on :9090, PostgreSQL's main
# cluster on :5432).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    $SUDO sh -c "printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d"
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Under systemd the postinst also enables prometheus at boot: undo that for a
# package installed here, so a workstation does not gain a server.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now postgresql.service >/dev/null 2>&1 || true
fi
