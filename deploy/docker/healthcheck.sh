#!/bin/sh
# The image's HEALTHCHECK: asks the liveness probe of whatever this container
# runs (`up` or `gateway`: the gateway's port; a service: its own port), found
# from the healthcenter processes' command lines. Exit 0 when it answers 200.
mode=""
for f in /proc/[0-9]*/cmdline; do
    # shellcheck disable=SC2046 # the NUL-separated arguments, split on purpose
    set -- $(tr '\000' ' ' <"$f" 2>/dev/null)
    case "$1" in
    */healthcenter | healthcenter)
        case "$2" in
        up | gateway) mode=$2 && break ;;
        *) [ -n "$mode" ] || mode=$2 ;;
        esac
        ;;
    esac
done
case "$mode" in
order) port=${HC_ORDER_PORT:-8081} ;;
reservation) port=${HC_RESERVATION_PORT:-8082} ;;
payment) port=${HC_PAYMENT_PORT:-8083} ;;
notification) port=${HC_NOTIFICATION_PORT:-8084} ;;
*) port=${HC_GATEWAY_PORT:-8080} ;;
esac
case "${HC_BIND_ADDR:-0.0.0.0}" in
0.0.0.0 | "*" | "") host=127.0.0.1 ;;
*:*) host="[$HC_BIND_ADDR]" ;;
*) host=$HC_BIND_ADDR ;;
esac
exec curl -fsS -m 3 -o /dev/null "http://$host:$port/actuator/health/liveness"
