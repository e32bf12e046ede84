#!/usr/bin/env bash
# Runs a single-node Apache Kafka 3.9 broker (KRaft, on 127.0.0.1) for
# development and the tests, assembled from Maven Central jars (no tarball):
#   scripts/kafka.sh start|stop|status|jars
#   scripts/kafka.sh groups ARGS...   Kafka's kafka-consumer-groups tool with these
#                      jars (--describe, --reset-offsets ...; needs no running broker
#                      of ours, any --bootstrap-server)
# Settings (environment):
#   KAFKA_PORT         client port (9092)          KAFKA_CONTROLLER_PORT  (KAFKA_PORT + 1)
#   KAFKA_DIR          state: config, pid, log, data (/tmp/hc-kafka-$KAFKA_PORT)
#   KAFKA_LIB          the jars (~/.m2/healthcenter/kafka-$KAFKA_VERSION/lib, next to Maven's
#                      repository that keeps the downloads)
#   KAFKA_HEAP         java -Xmx (512m)            KAFKA_READY_TIMEOUT  seconds (60)
#   KAFKA_WATCH_PID    when set, the broker is stopped once that process is gone
#                      (the test session's pid: no broker outlives its tests)
# start formats a fresh data dir, starts the broker in the background and returns
# once a metadata request (kcat -L) succeeds; it keeps the data dir of a broker
# that was stopped, so stop + start is a broker restart that loses nothing.
# KAFKA_FRESH=1 starts from an empty data dir.
set -euo pipefail

KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_DIR=${KAFKA_DIR:-/tmp/hc-kafka-$KAFKA_PORT}
KAFKA_LIB=${KAFKA_LIB:-$HOME/.m2/healthcenter/kafka-$KAFKA_VERSION/lib}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
KAFKA_READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-60}
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "kafka.sh: $*" >&2; exit 1; }

# The broker's jars: kafka_2.13, kafka-tools (the consumer-groups tool) and a
# logging backend (its POM leaves that out). The marker names the set, so a
# cache assembled from an older set is assembled again.
jars() {
    [ -f "$KAFKA_LIB/.complete-2" ] && return 0
    local work
    work=$(mktemp -d)
    cat > "$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>healthcenter</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId>
      <version>1.2.25</version></dependency>
  </dependencies>
</project>
EOF
    # Assembled beside the cache and moved into place whole: another
    # kafka.sh (a parallel test session) never sees a half-filled directory.
    local tmp="$KAFKA_LIB.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    echo "kafka.sh: assembling Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB" >&2
    (cd "$work" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$tmp") || { rm -rf "$tmp"; die "mvn could not fetch the broker's jars"; }
    rm -rf "$work"
    touch "$tmp/.complete-2" "$tmp/.complete" # .complete: the marker of the older set
    if [ ! -f "$KAFKA_LIB/.complete-2" ]; then
        rm -rf "$KAFKA_LIB.old.$$"
        [ -d "$KAFKA_LIB" ] && mv "$KAFKA_LIB" "$KAFKA_LIB.old.$$"
        mv "$tmp" "$KAFKA_LIB" 2>/dev/null || true
        rm -rf "$KAFKA_LIB.old.$$"
    fi
    rm -rf "$tmp"
    [ -f "$KAFKA_LIB/.complete-2" ] || die "could not put the jars in $KAFKA_LIB"
}

pid_of() {
    local pid
    pid=$(cat "$KAFKA_DIR/broker.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

ready() { kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 >/dev/null 2>&1; }

configure() {
    mkdir -p "$KAFKA_DIR/data"
    cat > "$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
    cat > "$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DIR/data
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=16777216
auto.create.topics.enable=false
EOF
}

start() {
    if pid=$(pid_of); then
        echo "kafka.sh: broker already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    # java runs the broker, kcat tells when it is ready, mvn fetches the jars.
    command -v mvn >/dev/null && command -v java >/dev/null && command -v kcat >/dev/null ||
        "$here/install-deps.sh"
    jars
    local java=(java -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -cp "$KAFKA_LIB/*")
    if [ "${KAFKA_FRESH:-0}" = 1 ] || [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
        rm -rf "$KAFKA_DIR/data"
        configure
        local id
        id=$(java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
        "${java[@]}" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" \
            >"$KAFKA_DIR/format.log" 2>&1 || die "format failed: $(tail -5 "$KAFKA_DIR/format.log")"
    fi
    # setsid: the broker leaves the caller's process group and terminal, so only
    # `stop` (or the watchdog below) ends it.
    setsid java -Xmx"$KAFKA_HEAP" "${java[@]:1}" kafka.Kafka "$KAFKA_DIR/server.properties" \
        >>"$KAFKA_DIR/broker.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" > "$KAFKA_DIR/broker.pid"
    if [ -n "${KAFKA_WATCH_PID:-}" ]; then
        # The watchdog: when the watched process is gone, the broker goes too.
        setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
                        kill -TERM "$2" 2>/dev/null
                        for _ in $(seq 1 20); do kill -0 "$2" 2>/dev/null || exit 0; sleep 0.5; done
                        kill -KILL "$2" 2>/dev/null' watchdog "$KAFKA_WATCH_PID" "$pid" \
            >/dev/null 2>&1 </dev/null &
    fi
    local deadline=$((SECONDS + KAFKA_READY_TIMEOUT))
    until ready; do
        kill -0 "$pid" 2>/dev/null || die "broker exited: $(tail -20 "$KAFKA_DIR/broker.log")"
        [ $SECONDS -lt $deadline ] || { stop; die "not ready after ${KAFKA_READY_TIMEOUT}s"; }
        sleep 0.2
    done
    echo "kafka.sh: broker ready on 127.0.0.1:$KAFKA_PORT (pid $pid, dir $KAFKA_DIR)"
}

stop() {
    local pid
    if ! pid=$(pid_of); then
        echo "kafka.sh: no broker running for $KAFKA_DIR"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { echo "kafka.sh: broker stopped"; return 0; }
        sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    echo "kafka.sh: broker killed after 30 s"
}

status() {
    local pid
    if pid=$(pid_of) && ready; then
        echo "kafka.sh: broker up (pid $pid) on 127.0.0.1:$KAFKA_PORT"
    elif pid=$(pid_of); then
        echo "kafka.sh: broker process $pid alive but not answering on 127.0.0.1:$KAFKA_PORT"
        return 1
    else
        echo "kafka.sh: broker not running"
        return 3
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
jars)
    command -v mvn >/dev/null && command -v java >/dev/null || "$here/install-deps.sh"
    jars
    ;;
groups)
    shift
    jars
    exec java -cp "$KAFKA_LIB/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
    ;;
*) die "usage: scripts/kafka.sh start|stop|status|jars|groups ARGS..." ;;
esac
