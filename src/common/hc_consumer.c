/* hc_consumer: poll -> apply (with inbox, in one transaction) -> commit offset.
 * See docs/outbox-inbox.md. */
#include "hc_consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_log.h"
#include "hc_metrics.h"

#define DEFAULT_BATCH 64
#define MAX_BATCH 512
#define OFFSET_COMMIT_MS 50
#define LINGER_MS 3 /* added to event latency to gather a batch */

struct hc_consumer {
    hc_db_t *db;
    hc_bus_t *bus;
    hc_bus_consumer_t *bc;
    hc_consumer_opts_t opts;
    pthread_t thread;
    atomic_int stop;
};

static int wanted(const hc_consumer_opts_t *o, const char *type)
{
    for (const char *const *t = o->types; t && *t; t++)
        if (strcmp(*t, type) == 0)
            return 1;
    return 0;
}

/* Parses message m into *ev. Returns 1 when it is an event this consumer
 * wants (then the caller releases ev->root), 0 when it is to be skipped. */
static int parse_wanted(const hc_consumer_opts_t *o, const hc_bus_msg_t *m, hc_event_t *ev)
{
    if (hc_event_parse(m->value, m->value_len, ev)) {
        hc_error("consumer %s: dropping malformed message at offset %lld", o->group,
                 (long long)m->offset);
        return 0;
    }
    if (wanted(o, ev->type))
        return 1;
    json_decref(ev->root);
    return 0;
}

/* Applies one wanted event under a savepoint so a poison event can be dropped
 * without losing the rest of the batch. */
static int apply_one(hc_conn_t *c, const hc_consumer_opts_t *o, const hc_event_t *ev)
{
    hc_log_ctx_set(ev->trace.trace_id[0] ? ev->trace.trace_id : NULL, ev->order_id);
    int rc = hc_inbox_claim(c, ev->event_id, ev->type);
    if (rc == 0) {
        hc_debug("consumer %s: %s %s already applied, skipped", o->group, ev->type, ev->event_id);
        goto out;
    }
    if (rc < 0)
        goto out;
    rc = hc_conn_exec_script(c, "SAVEPOINT hc_event");
    if (rc)
        goto out;
    rc = o->apply(c, ev, o->ud);
    if (rc == HC_EINVAL) {
        hc_error("consumer %s: dropping %s %s that cannot be applied", o->group, ev->type,
                 ev->event_id);
        rc = hc_conn_exec_script(c, "ROLLBACK TO hc_event; RELEASE hc_event");
    } else if (rc == 0) {
        rc = hc_conn_exec_script(c, "RELEASE hc_event");
        hc_metrics_count("hc_events_applied_total", ev->type, 1);
    }
out:
    hc_log_ctx_clear();
    return rc;
}

int hc_consumer_apply_batch(hc_db_t *db, const hc_consumer_opts_t *opts, const hc_bus_msg_t *msgs,
                            size_t n)
{
    /* Most events on the shared topic are for other services: a batch with
     * nothing wanted costs no transaction at all. */
    hc_event_t *evs = hc_xcalloc(n ? n : 1, sizeof *evs);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (parse_wanted(opts, &msgs[i], &evs[k]))
            k++;
    if (k == 0) {
        free(evs);
        return 0;
    }
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    for (size_t i = 0; !rc && i < k; i++)
        rc = apply_one(c, opts, &evs[i]);
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(db, c);
    for (size_t i = 0; i < k; i++)
        json_decref(evs[i].root);
    free(evs);
    if (!rc) {
        if (opts->relay)
            hc_relay_notify(opts->relay);
        if (opts->after_commit)
            opts->after_commit(opts->ud);
    }
    return rc;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Commits offset for k, retrying until it succeeds or the consumer stops. */
static void commit_offset(hc_consumer_t *k, int64_t offset)
{
    int rc;
    while ((rc = k->bus->ops->commit(k->bc, offset)) != 0 && !atomic_load(&k->stop)) {
        hc_warn("consumer %s: offset commit failed: %s", k->opts.group, hc_strerror(rc));
        sleep_ms(50);
    }
}

static void *consumer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "hc-consumer");
    hc_consumer_t *k = arg;
    hc_bus_msg_t msgs[MAX_BATCH];
    /* Offsets are committed at most every OFFSET_COMMIT_MS under load and at
     * once when the log goes quiet: a crash redelivers at most that much,
     * which the inbox drops, and a busy consumer does not write per batch. */
    int64_t pending = -1, last_commit = 0;
    while (!atomic_load(&k->stop)) {
        size_t n = 0;
        int rc = k->bus->ops->poll(k->bc, msgs, k->opts.batch, &n, pending >= 0 ? 20 : 200);
        if (rc) {
            hc_warn("consumer %s: poll failed: %s", k->opts.group, hc_strerror(rc));
            sleep_ms(100);
            continue;
        }
        if (n == 0) {
            if (pending >= 0) {
                commit_offset(k, pending);
                pending = -1;
                last_commit = hc_now_ms();
            }
            continue;
        }
        if (n < k->opts.batch) {
            /* Linger a moment so that events arriving together share one
             * transaction (one fsync) instead of one each. */
            size_t more = 0;
            sleep_ms(LINGER_MS);
            if (k->bus->ops->poll(k->bc, msgs + n, k->opts.batch - n, &more, 0) == 0)
                n += more;
        }
        int backoff = 10;
        /* A failed batch is retried as is until it applies or we stop; the
         * offset is committed only after the transaction. */
        while ((rc = hc_consumer_apply_batch(k->db, &k->opts, msgs, n)) != 0 &&
               !atomic_load(&k->stop)) {
            hc_warn("consumer %s: batch of %zu failed (%s); retrying in %d ms", k->opts.group, n,
                    hc_strerror(rc), backoff);
            sleep_ms(backoff);
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
        }
        if (rc == 0) {
            pending = msgs[n - 1].offset;
            if (hc_now_ms() - last_commit >= OFFSET_COMMIT_MS) {
                commit_offset(k, pending);
                pending = -1;
                last_commit = hc_now_ms();
            }
        }
        hc_bus_msgs_free(msgs, n);
    }
    if (pending >= 0)
        k->bus->ops->commit(k->bc, pending);
    return NULL;
}

int hc_consumer_start(hc_db_t *db, hc_bus_t *bus, const hc_consumer_opts_t *opts,
                      hc_consumer_t **out)
{
    *out = NULL;
    hc_consumer_t *k = hc_xcalloc(1, sizeof *k);
    k->db = db;
    k->bus = bus;
    k->opts = *opts;
    if (!k->opts.batch)
        k->opts.batch = DEFAULT_BATCH;
    if (k->opts.batch > MAX_BATCH)
        k->opts.batch = MAX_BATCH;
    int rc = bus->ops->consumer_open(bus, opts->group, &k->bc);
    if (rc) {
        free(k);
        return rc;
    }
    if (pthread_create(&k->thread, NULL, consumer_main, k) != 0) {
        bus->ops->consumer_close(k->bc);
        free(k);
        return HC_EIO;
    }
    *out = k;
    return 0;
}

int64_t hc_consumer_lag(hc_consumer_t *c)
{
    return c ? c->bus->ops->lag(c->bc) : -1;
}

void hc_consumer_stop(hc_consumer_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    c->bus->ops->consumer_close(c->bc);
    free(c);
}
