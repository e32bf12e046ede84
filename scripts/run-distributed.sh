#!/usr/bin/env bash
# `make run-distributed`: the whole system on Apache Kafka and PostgreSQL, all on
# this machine: a local PostgreSQL 15 (scripts/postgres.sh, its data directory
# under $HC_DATA_DIR/postgres, run as a non-root user) and a local Kafka 3.9
# broker (scripts/kafka.sh, KRaft, its state under $HC_DATA_DIR/kafka), then
# `healthcenter up` on them with the same ports as `make run`. Ctrl-C stops
# `up` gracefully (gateway first, then each service drains), then the broker
# and the database. See docs/distributed.md.
#
# Settings (environment): HC_DATA_DIR (./data-distributed), KAFKA_PORT (9092),
# HC_PG_PORT (55432), HC_PG_DIR ($HC_DATA_DIR/postgres), and every HC_* of
# `healthcenter config`. HC_BIN: the binary (./build/healthcenter).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${HC_BIN:-$root/build/healthcenter}
[ -x "$bin" ] || { echo "run-distributed: no $bin (make build first)" >&2; exit 1; }

# Its own data directory by default: the embedded stack's ./data stays as it is.
export HC_DATA_DIR=${HC_DATA_DIR:-./data-distributed}
mkdir -p "$HC_DATA_DIR"
HC_DATA_DIR=$(cd "$HC_DATA_DIR" && pwd)
export KAFKA_PORT=${KAFKA_PORT:-9092}
export KAFKA_DIR=${KAFKA_DIR:-$HC_DATA_DIR/kafka}
export HC_PG_PORT=${HC_PG_PORT:-55432}
pg_dir=${HC_PG_DIR:-$HC_DATA_DIR/postgres}

stop_servers() {
    echo "run-distributed: stopping Kafka and PostgreSQL" >&2
    "$here/kafka.sh" stop || true
    "$here/postgres.sh" stop "$pg_dir" || true
}
trap stop_servers EXIT

# Both servers leave this terminal's process group (setsid; pg_ctl does the
# same), so Ctrl-C reaches `up` alone and the services drain while the broker
# and the database still answer.
"$here/postgres.sh" start "$pg_dir"
"$here/kafka.sh" start

export HC_BUS=kafka
export HC_KAFKA_BROKERS=${HC_KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}
export HC_DB=postgres
export HC_DB_URL=${HC_DB_URL:-postgresql://postgres@127.0.0.1:$HC_PG_PORT/healthcenter}
echo "run-distributed: HC_BUS=kafka HC_KAFKA_BROKERS=$HC_KAFKA_BROKERS HC_DB=postgres HC_DB_URL=$HC_DB_URL" >&2
# Not exec: the trap stops the servers once `up` has stopped.
"$bin" up
