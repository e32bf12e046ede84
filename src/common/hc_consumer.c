/* hc_consumer: poll -> apply (with inbox, in one transaction) -> commit offset.
 * Events that cannot be applied are parked in dead_letters in that same
 * transaction; a corrupt record or an impossible offset stalls the consumer
 * (never a silent skip). See docs/outbox-inbox.md. */
#include "hc_consumer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_time.h"
#include "hc_worker.h"

#define DEFAULT_BATCH 64
#define MAX_BATCH 512
#define OFFSET_COMMIT_MS 50
#define LINGER_MS 3           /* added to event latency to gather a batch */
#define STALL_RECHECK_MS 3000 /* a stalled consumer looks again this often */
#define RETRY_SCAN_MS 1000    /* how often rows marked for retry are looked for */
#define RETRY_BATCH 64        /* marked rows taken per scan */

#define REFUSED                                                                                    \
    "the service's policy refused the event (HC_EINVAL: invalid for its payload or state)"

static const char *const STALL_REASONS[] = {HC_BUS_CORRUPT_RECORD, HC_BUS_OFFSET_BEYOND_END};

struct hc_consumer {
    hc_db_t *db;
    hc_bus_t *bus;
    hc_bus_consumer_t *bc;
    hc_consumer_opts_t opts;
    hc_worker_t *worker; /* runs consumer_main; its waits end early on stop */
    pthread_mutex_t mu;  /* guards stalled and fault (read by readiness) */
    int stalled;
    hc_bus_fault_t fault;
};

static int wanted(const hc_consumer_opts_t *o, const char *type)
{
    for (const char *const *t = o->types; t && *t; t++)
        if (strcmp(*t, type) == 0)
            return 1;
    return 0;
}

/* One message of a batch that needs the transaction: a wanted event
 * (ev.root set) or a message that is not an event at all (parked). */
typedef struct work {
    const hc_bus_msg_t *m;
    hc_event_t ev;
    char *why;  /* why it cannot be applied, once known (owned; rare) */
    int parked; /* a dead_letters row was added for it */
} work_t;

/* Sorts message m: returns 1 when it needs the transaction (filled into w),
 * 0 when it is an event this consumer does not apply. */
static int classify(const hc_consumer_opts_t *o, const hc_bus_msg_t *m, work_t *w)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    /* Most events are for other services: pass over those by their type
     * alone, without decoding them (anything unusual is decoded). */
    char type[40];
    if (hc_event_peek_type(m->value, m->value_len, type, sizeof type) && !wanted(o, type))
        return 0;
    if (hc_event_parse(m->value, m->value_len, &w->ev)) {
        char why[200];
        hc_event_explain(m->value, m->value_len, why, sizeof why);
        w->why = hc_xstrdup(why);
        return 1;
    }
    if (wanted(o, w->ev.type))
        return 1;
    json_decref(w->ev.root);
    w->ev.root = NULL;
    return 0;
}

/* Applies one wanted event: records it in the inbox and runs the handler
 * under a savepoint. Returns 0 when applied (or applied before: skipped),
 * HC_EINVAL when the handler refused it (its writes are undone; the inbox
 * record stays, so a redelivery does not run it again), or another hc_err,
 * after which the caller rolls the whole transaction back. */
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
        rc = hc_conn_exec_script(c, "ROLLBACK TO hc_event");
        if (!rc)
            rc = hc_conn_exec_script(c, "RELEASE hc_event");
        if (!rc)
            rc = HC_EINVAL;
    } else if (rc == 0) {
        rc = hc_conn_exec_script(c, "RELEASE hc_event");
        if (!rc)
            hc_metrics_count("hc_events_applied_total", ev->type, 1);
    }
out:
    hc_log_ctx_clear();
    return rc;
}

/* After the commit that parked w: the warning and the counter. */
static void report_parked(const hc_consumer_opts_t *o, const work_t *w)
{
    hc_log_ctx_set(w->ev.root && w->ev.trace.trace_id[0] ? w->ev.trace.trace_id : NULL,
                   w->ev.root ? w->ev.order_id : 0);
    hc_warn("consumer %s: parked %s %s (offset %lld) in dead_letters: %s", o->group,
            w->ev.root ? w->ev.type : "message", w->ev.root ? w->ev.event_id : "without eventId",
            (long long)w->m->offset, w->why);
    hc_log_ctx_clear();
    hc_metrics_count("hc_dead_letters_parked_total", w->ev.root ? w->ev.type : "not_an_event", 1);
}

int hc_consumer_apply_batch(hc_db_t *db, const hc_consumer_opts_t *opts, const hc_bus_msg_t *msgs,
                            size_t n)
{
    /* Most events on the shared topic are for other services: a batch with
     * nothing wanted (and nothing to park) costs no transaction at all. */
    work_t *w = hc_xcalloc(n ? n : 1, sizeof *w);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (classify(opts, &msgs[i], &w[k]))
            k++;
    if (k == 0) {
        free(w);
        return 0;
    }
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    for (size_t i = 0; !rc && i < k; i++) {
        if (w[i].ev.root) {
            rc = apply_one(c, opts, &w[i].ev);
            if (rc != HC_EINVAL)
                continue;
            w[i].why = hc_xstrdup(REFUSED);
        }
        /* Not an event, or refused: parked in this same transaction. */
        rc = hc_deadletter_park(c, w[i].m, w[i].ev.root ? &w[i].ev : NULL, w[i].why, &w[i].parked);
    }
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(db, c);
    for (size_t i = 0; i < k; i++) {
        if (!rc && w[i].parked)
            report_parked(opts, &w[i]);
        json_decref(w[i].ev.root);
        free(w[i].why);
    }
    free(w);
    if (!rc) {
        if (opts->relay)
            hc_relay_notify(opts->relay);
        if (opts->after_commit)
            opts->after_commit(opts->ud);
    }
    return rc;
}

/* Retries one marked dead letter (row i of r) in its own transaction. */
static int retry_one(hc_db_t *db, const hc_consumer_opts_t *o, const hc_rows_t *r, size_t i)
{
    int64_t id = hc_rows_i64(r, i, 0);
    const char *parked_id = hc_rows_text(r, i, 3), *payload = hc_rows_text(r, i, 4);
    char why[200] = "";
    hc_event_t ev;
    int parsed = payload && hc_event_parse(payload, strlen(payload), &ev) == 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    if (rc)
        goto out;
    if (!parsed) {
        hc_event_explain(payload ? payload : "", payload ? strlen(payload) : 0, why, sizeof why);
        rc = HC_EINVAL;
    } else if (wanted(o, ev.type)) {
        /* A refused event left its inbox record (see apply_one); only that
         * record, of this very event, is removed so it can apply again. An
         * event fixed by hand into one applied before stays skipped. */
        if (parked_id && strcmp(parked_id, ev.event_id) == 0)
            rc = hc_inbox_forget(c, ev.event_id);
        if (!rc)
            rc = apply_one(c, o, &ev);
        if (rc == HC_EINVAL)
            hc_strlcpy(why, REFUSED, sizeof why);
    }
    if (rc == 0)
        rc = hc_deadletter_resolve(c, id);
    if (rc == HC_EINVAL) {
        rc = hc_deadletter_retry_failed(c, id, why);
        if (!rc)
            rc = HC_EINVAL;
    }
    if (rc && rc != HC_EINVAL) {
        /* A storage error: nothing of the attempt is kept but the count. */
        hc_conn_rollback(c);
        snprintf(why, sizeof why, "retry failed: %s", hc_strerror(rc));
        if (hc_conn_begin(c) == 0) {
            if (hc_deadletter_retry_failed(c, id, why))
                hc_conn_rollback(c);
            else
                hc_conn_commit(c);
        }
        goto out;
    }
    int crc = hc_conn_commit(c);
    if (crc)
        rc = crc;
out:
    hc_db_release(db, c);
    if (rc == 0) {
        hc_info("consumer %s: dead letter %lld applied on retry", o->group, (long long)id);
        if (o->relay)
            hc_relay_notify(o->relay);
        if (o->after_commit)
            o->after_commit(o->ud);
    } else {
        hc_warn("consumer %s: retry of dead letter %lld failed: %s", o->group, (long long)id,
                why[0] ? why : hc_strerror(rc));
    }
    if (parsed)
        json_decref(ev.root);
    return rc;
}

int hc_consumer_retry_dead_letters(hc_db_t *db, const hc_consumer_opts_t *opts, size_t *applied,
                                   size_t *failed)
{
    size_t ok = 0, bad = 0;
    hc_conn_t *c = hc_db_acquire(db);
    hc_rows_t *r = NULL;
    int rc = hc_deadletter_marked(c, RETRY_BATCH, &r);
    hc_db_release(db, c);
    for (size_t i = 0; !rc && i < hc_rows_count(r); i++) {
        if (retry_one(db, opts, r, i) == 0)
            ok++;
        else
            bad++;
    }
    hc_rows_free(r);
    if (applied)
        *applied = ok;
    if (failed)
        *failed = bad;
    return rc;
}

/* Commits the positions in pending for k, retrying with backoff (50 ms to
 * 2 s) until it succeeds or the consumer stops (w: its worker, whose waits a
 * stop ends), then empties pending. One warning per episode, not per
 * attempt: on a full disk the log would only grow. */
static void commit_offsets(hc_consumer_t *k, hc_worker_t *w, hc_bus_offsets_t *pending)
{
    int rc, delay = 50, failures = 0;
    while ((rc = k->bus->ops->commit(k->bc, pending->pos, pending->n)) != 0 &&
           !hc_worker_stopping(w)) {
        if (failures++ == 0)
            hc_warn("consumer %s: offset commit failed (%s); retrying with backoff", k->opts.group,
                    hc_strerror(rc));
        hc_worker_wait(w, delay);
        delay = delay * 2 > 2000 ? 2000 : delay * 2;
    }
    if (failures && rc == 0)
        hc_info("consumer %s: offset committed after %d failed attempts", k->opts.group, failures);
    hc_bus_offsets_clear(pending);
}

/* Publishes k's stall state on /metrics: one hc_consumer_stalled series per
 * reason (1 for the current one) and the offset it is stopped at. */
static void stall_metrics(const hc_bus_fault_t *f)
{
    for (size_t i = 0; i < sizeof STALL_REASONS / sizeof STALL_REASONS[0]; i++)
        hc_metrics_set("hc_consumer_stalled",
                       "1 while the consumer is stopped, by reason (see /health/ready).", "reason",
                       STALL_REASONS[i], f && strcmp(f->reason, STALL_REASONS[i]) == 0);
    hc_metrics_set("hc_consumer_stalled_offset",
                   "The log offset the consumer is stopped at (0 when it is not).", NULL, NULL,
                   f ? f->offset : 0);
}

/* Records that k is stopped by f (NULL: running again). Logs a stop once,
 * when it begins or its cause changes, not on every re-check. */
static void set_stall(hc_consumer_t *k, const hc_bus_fault_t *f)
{
    pthread_mutex_lock(&k->mu);
    int was = k->stalled;
    int changed =
        f && (!was || strcmp(k->fault.reason, f->reason) != 0 || k->fault.offset != f->offset);
    hc_bus_fault_t old = k->fault;
    k->stalled = f != NULL;
    if (f)
        k->fault = *f;
    pthread_mutex_unlock(&k->mu);
    if (changed) {
        hc_error("consumer %s stalled (%s) at offset %lld: %s; it does not move past it, "
                 "reports not ready, and looks again every %d s",
                 k->opts.group, f->reason, (long long)f->offset, f->detail,
                 STALL_RECHECK_MS / 1000);
        stall_metrics(f);
    } else if (was && !f) {
        hc_info("consumer %s resumed (%s at offset %lld is gone)", k->opts.group, old.reason,
                (long long)old.offset);
        stall_metrics(NULL);
    }
}

/* Runs the dead-letter retry pass when one is due (*next_at: the monotonic
 * ms it is due at; 0 at first, so the first pass runs at once). */
static void maybe_retry(hc_consumer_t *k, int64_t *next_at)
{
    if (hc_deadline_left(*next_at) > 0)
        return;
    *next_at = hc_deadline_ms(RETRY_SCAN_MS);
    hc_consumer_retry_dead_letters(k->db, &k->opts, NULL, NULL);
}

static void consumer_main(hc_worker_t *w, void *arg)
{
    hc_consumer_t *k = arg;
    hc_bus_msg_t msgs[MAX_BATCH];
    /* Offsets are committed at most every OFFSET_COMMIT_MS under load and at
     * once when the log goes quiet: a crash redelivers at most that much,
     * which the inbox drops, and a busy consumer does not write per batch.
     * pending holds, per partition, the last offset applied and not yet
     * committed. commit_at and retry_at are monotonic deadlines; 0 means due
     * now. */
    hc_bus_offsets_t pending = {0};
    int64_t commit_at = 0, retry_at = 0;
    while (!hc_worker_stopping(w)) {
        maybe_retry(k, &retry_at);
        size_t n = 0;
        int rc = k->bus->ops->poll(k->bc, msgs, k->opts.batch, &n, pending.n ? 20 : 200);
        hc_bus_fault_t fault;
        if (rc && k->bus->ops->fault && k->bus->ops->fault(k->bc, &fault)) {
            /* Stopped before a bad record or at an impossible offset: what
             * was applied before it is committed; nothing after it is read. */
            if (pending.n) {
                commit_offsets(k, w, &pending);
                commit_at = hc_deadline_ms(OFFSET_COMMIT_MS);
            }
            set_stall(k, &fault);
            for (int slept = 0; slept < STALL_RECHECK_MS && !hc_worker_stopping(w); slept += 100) {
                hc_worker_wait(w, 100);
                maybe_retry(k, &retry_at);
            }
            continue;
        }
        if (rc) {
            hc_warn("consumer %s: poll failed: %s", k->opts.group, hc_strerror(rc));
            hc_worker_wait(w, 100);
            continue;
        }
        if (k->stalled)
            set_stall(k, NULL);
        if (n == 0) {
            if (pending.n) {
                commit_offsets(k, w, &pending);
                commit_at = hc_deadline_ms(OFFSET_COMMIT_MS);
            }
            continue;
        }
        if (n < k->opts.batch) {
            /* Linger a moment so that events arriving together share one
             * transaction (one fsync) instead of one each. A stop found by
             * this second look is met by the next poll. */
            size_t more = 0;
            hc_sleep_ms(LINGER_MS);
            if (k->bus->ops->poll(k->bc, msgs + n, k->opts.batch - n, &more, 0) == 0)
                n += more;
        }
        int backoff = 10;
        /* A failed batch is retried as is until it applies or we stop; the
         * offset is committed only after the transaction. */
        while ((rc = hc_consumer_apply_batch(k->db, &k->opts, msgs, n)) != 0 &&
               !hc_worker_stopping(w)) {
            hc_warn("consumer %s: batch of %zu failed (%s); retrying in %d ms", k->opts.group, n,
                    hc_strerror(rc), backoff);
            hc_worker_wait(w, backoff);
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
        }
        if (rc == 0) {
            for (size_t i = 0; i < n; i++)
                hc_bus_offsets_note(&pending, msgs[i].partition, msgs[i].offset);
            if (hc_deadline_left(commit_at) == 0) {
                commit_offsets(k, w, &pending);
                commit_at = hc_deadline_ms(OFFSET_COMMIT_MS);
            }
        }
        hc_bus_msgs_free(msgs, n);
    }
    if (pending.n)
        k->bus->ops->commit(k->bc, pending.pos, pending.n);
    hc_bus_offsets_cleanup(&pending);
}

int hc_consumer_start(hc_db_t *db, hc_bus_t *bus, const hc_consumer_opts_t *opts,
                      hc_consumer_t **out)
{
    *out = NULL;
    hc_metrics_describe("hc_events_applied_total", "Events this service applied, by event type.");
    hc_metrics_describe("hc_dead_letters_parked_total",
                        "Events parked in dead_letters because they could not be applied, by "
                        "event type (not_an_event: unreadable).");
    /* Parking needs the table: a service whose migrations lack it fails
     * here, at start, not at its first bad event. */
    hc_conn_t *c = hc_db_acquire(db);
    int has = 0;
    int rc = hc_conn_has_table(c, "dead_letters", &has);
    hc_db_release(db, c);
    if (rc)
        return rc;
    if (!has) {
        hc_error("consumer %s: the database has no dead_letters table; add HC_DEADLETTER_SCHEMA "
                 "(hc_deadletter.h) to the service's migrations",
                 opts->group);
        return HC_EINVAL;
    }
    hc_consumer_t *k = hc_xcalloc(1, sizeof *k);
    k->db = db;
    k->bus = bus;
    k->opts = *opts;
    if (!k->opts.batch)
        k->opts.batch = DEFAULT_BATCH;
    if (k->opts.batch > MAX_BATCH)
        k->opts.batch = MAX_BATCH;
    pthread_mutex_init(&k->mu, NULL);
    rc = bus->ops->consumer_open(bus, opts->group, &k->bc);
    if (rc) {
        pthread_mutex_destroy(&k->mu);
        free(k);
        return rc;
    }
    stall_metrics(NULL);
    rc = hc_worker_start("hc-consumer", consumer_main, k, &k->worker);
    if (rc) {
        bus->ops->consumer_close(k->bc);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int64_t hc_consumer_lag(hc_consumer_t *c)
{
    return c ? c->bus->ops->lag(c->bc) : -1;
}

int hc_consumer_stalled(hc_consumer_t *c, char *why, size_t n)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    int stalled = c->stalled;
    if (stalled)
        snprintf(why, n, "consumer %s stalled (%s) at offset %lld: %s", c->opts.group,
                 c->fault.reason, (long long)c->fault.offset, c->fault.detail);
    pthread_mutex_unlock(&c->mu);
    return stalled;
}

void hc_consumer_stop(hc_consumer_t *c)
{
    if (!c)
        return;
    hc_worker_stop(c->worker);
    c->bus->ops->consumer_close(c->bc);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
