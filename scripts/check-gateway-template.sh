#!/bin/sh
# Keeps src/common/hc_gateway_tmpl.c (the gateway template built into the
# binary) identical to gateway/nginx.conf.tmpl. Without arguments: exits 1 and
# shows the difference when they disagree. With --fix: regenerates the C file.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tmpl="$root/gateway/nginx.conf.tmpl"
csrc="$root/src/common/hc_gateway_tmpl.c"

# Prints the C file for the template on stdout: one string literal per line,
# with backslashes, double quotes and '?' (trigraphs) escaped.
generate() {
    printf '%s\n' '/* hc_gateway_tmpl: the built-in copy of gateway/nginx.conf.tmpl, used when the'
    printf '%s\n' ' * file is not found at run time. Generated: edit the template, then run'
    printf '%s\n' ' * scripts/check-gateway-template.sh --fix. */'
    printf '%s\n' '#include "hc_supervisor.h"'
    printf '\n'
    printf '%s\n' 'const char hc_gateway_tmpl[] ='
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
        -e 's/^/    "/' -e 's/$/\\n"/' "$tmpl"
    printf '%s\n' '    "";'
}

if [ "${1:-}" = "--fix" ]; then
    generate > "$csrc.tmp"
    mv "$csrc.tmp" "$csrc"
    echo "wrote $csrc"
    exit 0
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
generate > "$tmp"
if ! diff -u "$csrc" "$tmp"; then
    echo "src/common/hc_gateway_tmpl.c is out of date: run scripts/check-gateway-template.sh --fix" >&2
    exit 1
fi
echo "gateway template: built-in copy matches gateway/nginx.conf.tmpl"
