#!/usr/bin/env bash
# A local PostgreSQL 15 for healthcenter (HC_DB=postgres) and its tests: its
# own data directory, listening on 127.0.0.1 only with trust authentication,
# run as a non-root user (postgres, else nobody) even when called as root.
# The Debian package's own cluster is never touched.
#
# usage: scripts/postgres.sh start|stop|status [DIR]
#   DIR            data directory (default: $HC_PG_DIR, else $HC_DATA_DIR/postgres,
#                  else ./data/postgres)
#   HC_PG_PORT     port (default 55432)
#   HC_PG_DATABASES databases to create (default: healthcenter)
#   HC_PG_OPTIONS  more server settings, e.g. "-c fsync=off" (the e2e tests'
#                  server: they kill processes, never the machine, and a
#                  database per test is created 5-10x faster without fsync)
# After start, it prints the URL to use:
#   HC_DB=postgres HC_DB_URL=postgresql://postgres@127.0.0.1:55432/healthcenter
set -euo pipefail

cmd=${1:-}
dir=${2:-${HC_PG_DIR:-${HC_DATA_DIR:-./data}/postgres}}
port=${HC_PG_PORT:-55432}
dbs=${HC_PG_DATABASES:-healthcenter}
bin=${HC_PG_BIN:-/usr/lib/postgresql/15/bin}

usage() {
    echo "usage: $0 start|stop|status [DIR]" >&2
    exit 2
}
[ -n "$cmd" ] || usage
[ -x "$bin/pg_ctl" ] || {
    echo "postgres.sh: no $bin/pg_ctl (scripts/install-deps.sh installs postgresql-15)" >&2
    exit 1
}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The user the server runs as: PostgreSQL refuses to run as root.
as_user() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id -u "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$dir"
    chmod 700 "$dir"
    # Every directory above must be searchable by that user.
    d=$(dirname "$dir")
    while [ "$d" != "/" ]; do
        perm=$(stat -c %A "$d")
        if [ "${perm:9:1}" != "x" ] && [ "${perm:9:1}" != "t" ]; then
            chmod o+x "$d"
            echo "postgres.sh: made $d searchable by others (o+x, not readable) so that user $user reaches $dir; set HC_PG_DIR elsewhere to avoid this" >&2
        fi
        d=$(dirname "$d")
    done
    as_user() { runuser -u "$user" -- "$@"; }
fi

case "$cmd" in
start)
    if [ ! -f "$dir/PG_VERSION" ]; then
        log=$(mktemp)
        if ! as_user "$bin/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-locale >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            exit 1
        fi
        rm -f "$log"
    fi
    if as_user "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
        echo "postgres.sh: already running on $dir"
    else
        as_user "$bin/pg_ctl" start -D "$dir" -w -t 60 -l "$dir/server.log" \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=${HC_PG_MAX_CONNECTIONS:-300} ${HC_PG_OPTIONS:-}" >/dev/null
    fi
    for db in $dbs; do
        exists=$(as_user "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc \
            "SELECT 1 FROM pg_database WHERE datname = '$db'")
        [ "$exists" = "1" ] || as_user "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -qc "CREATE DATABASE \"$db\"" >/dev/null
    done
    echo "postgres.sh: PostgreSQL 15 on 127.0.0.1:$port, data $dir"
    for db in $dbs; do
        echo "HC_DB_URL=postgresql://postgres@127.0.0.1:$port/$db"
    done
    ;;
stop)
    if [ -f "$dir/PG_VERSION" ] && as_user "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
        as_user "$bin/pg_ctl" stop -D "$dir" -m fast -w -t 60 >/dev/null
        echo "postgres.sh: stopped ($dir)"
    else
        echo "postgres.sh: not running ($dir)"
    fi
    ;;
status)
    if [ -f "$dir/PG_VERSION" ] && as_user "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
        echo "postgres.sh: running on $dir (port $port)"
    else
        echo "postgres.sh: not running ($dir)"
        exit 3
    fi
    ;;
*)
    usage
    ;;
esac
