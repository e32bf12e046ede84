/* kafka_member: a test harness for the Kafka bus's consumer groups
 * (tests/e2e/test_kafka.py). Two modes:
 *   kafka_member consume DB BROKERS TOPIC GROUP   applies "Probe" events into
 *       DB's applied table through hc_consumer (inbox, manual commits) until
 *       SIGTERM; several processes on one DB are instances of one service.
 *   kafka_member produce DB BROKERS TOPIC FIRST N  publishes Probe events for
 *       orderIds FIRST..FIRST+N-1 (keyed by orderId), acknowledged by the broker.
 * HC_TEST_APPLY_DELAY_MS slows each apply, so that a burst is still being
 * consumed while members join and leave. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_bus.h"
#include "hc_consumer.h"
#include "hc_db.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_log.h"
#include "hc_time.h"

static const hc_migration_t migrations[] = {
    {1, HC_INBOX_SCHEMA HC_OUTBOX_SCHEMA
        "CREATE TABLE IF NOT EXISTS applied (event_id TEXT NOT NULL, order_id INTEGER NOT NULL,"
        " pid INTEGER NOT NULL, at INTEGER NOT NULL);"},
    {2, HC_DEADLETTER_SCHEMA},
};

static int apply_delay_ms;

/* Records the event with this process's pid: a second apply of one eventId
 * would show as a second row. */
static int apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    if (apply_delay_ms)
        hc_sleep_ms(apply_delay_ms);
    return hc_conn_exec(c, "INSERT INTO applied(event_id, order_id, pid, at) VALUES (?, ?, ?, ?)",
                        HC_PARAMS(HC_TEXT(ev->event_id), HC_I64(ev->order_id),
                                  HC_I64((int64_t)getpid()), HC_I64(hc_now_ms())),
                        NULL);
}

int main(int argc, char **argv)
{
    if (argc < 6 || (strcmp(argv[1], "consume") != 0 && strcmp(argv[1], "produce") != 0) ||
        (strcmp(argv[1], "produce") == 0 && argc < 7)) {
        fprintf(stderr, "usage: kafka_member consume DB BROKERS TOPIC GROUP\n"
                        "       kafka_member produce DB BROKERS TOPIC FIRST N\n");
        return 2;
    }
    int produce = strcmp(argv[1], "produce") == 0;
    hc_log_init(produce ? "producer" : "member", "info");
    hc_event_source = "kafka_member";
    const char *d = getenv("HC_TEST_APPLY_DELAY_MS");
    apply_delay_ms = d ? atoi(d) : 0;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    hc_bus_kafka_opts_t o = {
        .brokers = argv[3],
        .topic = argv[4],
        .group_prefix = "",
        .partitions = 6,
        .replication_factor = -1,
        .delivery_timeout_ms = 5000,
        .session_timeout_ms = 6000,
        .extra = "",
    };
    hc_bus_t *bus = NULL;
    hc_db_t *db = NULL;
    int rc = hc_bus_kafka_open(&o, &bus);
    if (!rc && !produce)
        rc = hc_db_open(argv[2], "NORMAL", migrations, 2, &db);
    if (rc) {
        fprintf(stderr, "kafka_member: open: %s\n", hc_strerror(rc));
        return 1;
    }
    if (produce) {
        long long first = atoll(argv[5]), n = atoll(argv[6]);
        for (long long i = 0; !rc && i < n; i++) {
            json_t *ev = hc_event_new("Probe", first + i, NULL);
            char *text = json_dumps(ev, JSON_COMPACT), key[32];
            snprintf(key, sizeof key, "%lld", first + i);
            hc_bus_msg_t m = {.key = key, .value = text, .value_len = strlen(text)};
            rc = hc_bus_publish(bus, &m, 1);
            free(text);
            json_decref(ev);
        }
        hc_bus_destroy(bus);
        return rc ? 1 : 0;
    }
    static const char *const types[] = {"Probe", NULL};
    hc_consumer_opts_t opts = {.group = argv[5], .types = types, .apply = apply, .batch = 16};
    hc_consumer_t *k = NULL;
    rc = hc_consumer_start(db, bus, &opts, &k);
    if (rc) {
        fprintf(stderr, "kafka_member: consumer: %s\n", hc_strerror(rc));
        return 1;
    }
    hc_info("member %d consuming", (int)getpid());
    int sig = 0;
    sigwait(&stop, &sig);
    hc_consumer_stop(k); /* commits, then leaves the group */
    hc_bus_destroy(bus);
    hc_db_destroy(db);
    hc_info("member %d stopped", (int)getpid());
    return 0;
}
