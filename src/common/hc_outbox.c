/* hc_outbox: transactional outbox rows and the relay thread that publishes
 * them, in order, to the bus. See docs/outbox-inbox.md. */
#include "hc_outbox.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_time.h"
#include "hc_worker.h"

#define RELAY_BATCH 256
#define SENT_RETENTION_MS (3600 * 1000)
#define RELAY_TICK_MS 1000 /* the timer pass, on top of wake-ups */
#define PRUNE_EVERY_MS 60000
/* While events keep coming (the last pass published less than BUSY_MS ago),
 * a wake-up waits LINGER_MS before publishing, so that a few commits share
 * one append (one fsync of the log) instead of one each. */
#define RELAY_LINGER_MS 2
#define RELAY_BUSY_MS 20
#define RELAY_MARK_MS 50 /* published rows are marked sent within this */

int hc_outbox_add(hc_conn_t *c, json_t *event)
{
    char key[32];
    snprintf(key, sizeof key, "%lld",
             (long long)json_integer_value(json_object_get(event, "orderId")));
    char *text = json_dumps(event, JSON_COMPACT);
    if (!text)
        return HC_EINVAL;
    int rc = hc_conn_exec(c, "INSERT INTO outbox(msg_key, payload, created_at) VALUES (?, ?, ?)",
                          HC_PARAMS(HC_TEXT(key), HC_TEXT(text), HC_I64(hc_now_ms())), NULL);
    free(text);
    return rc;
}

/* Publishes one batch of up to RELAY_BATCH unsent rows with ids above after,
 * in id order; *lo and *hi receive the first and last id published. Returns
 * the number published (0: nothing unsent) or an hc_err. */
static int publish_batch(hc_db_t *db, hc_bus_t *bus, int64_t after, int64_t *lo, int64_t *hi)
{
    hc_conn_t *c = hc_db_acquire(db);
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c,
                           "SELECT id, msg_key, payload FROM outbox WHERE sent_at IS NULL"
                           " AND id > ? ORDER BY id LIMIT ?",
                           HC_PARAMS(HC_I64(after), HC_I64(RELAY_BATCH)), &r);
    hc_db_release(db, c);
    size_t n = hc_rows_count(r);
    if (rc || n == 0)
        goto out;
    hc_bus_msg_t msgs[RELAY_BATCH];
    for (size_t i = 0; i < n; i++) {
        msgs[i].offset = 0;
        msgs[i].key = (char *)hc_rows_text(r, i, 1);
        msgs[i].value = (char *)hc_rows_text(r, i, 2);
        msgs[i].value_len = strlen(msgs[i].value);
    }
    rc = hc_bus_publish(bus, msgs, n);
    if (rc) {
        hc_warn("outbox relay: publish of %zu events failed: %s", n, hc_strerror(rc));
        goto out;
    }
    *lo = hc_rows_i64(r, 0, 0);
    *hi = hc_rows_i64(r, n - 1, 0);
out:
    hc_rows_free(r);
    return rc ? rc : (int)n;
}

/* Marks the published rows lo..hi sent. Writers of one database are
 * serialised, so ids commit in increasing order and the published rows are
 * exactly the unsent ones in this range. A lost mark only republishes
 * (consumers drop duplicates), so it need not wait for the disk. */
static int mark_sent(hc_db_t *db, int64_t lo, int64_t hi)
{
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin_lazy(c);
    if (!rc)
        rc = hc_conn_exec(
            c, "UPDATE outbox SET sent_at = ? WHERE id >= ? AND id <= ? AND sent_at IS NULL",
            HC_PARAMS(HC_I64(hc_now_ms()), HC_I64(lo), HC_I64(hi)), NULL);
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(db, c);
    return rc;
}

int hc_outbox_flush(hc_db_t *db, hc_bus_t *bus)
{
    int total = 0, n;
    int64_t lo = 0, hi = 0;
    while ((n = publish_batch(db, bus, 0, &lo, &hi)) > 0) {
        int rc = mark_sent(db, lo, hi);
        if (rc)
            return rc;
        total += n;
    }
    return n < 0 ? n : total;
}

int64_t hc_outbox_backlog(hc_db_t *db)
{
    return hc_store_gauge(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL");
}

/* Deletes rows published more than an hour ago, keeping the table small. */
static void outbox_prune(hc_db_t *db)
{
    hc_conn_t *c = hc_db_acquire(db);
    if (hc_conn_begin(c) == 0) {
        if (hc_conn_exec(c, "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?",
                         HC_PARAMS(HC_I64(hc_now_ms() - SENT_RETENTION_MS)), NULL))
            hc_conn_rollback(c);
        else
            hc_conn_commit(c);
    }
    hc_db_release(db, c);
}

struct hc_relay {
    hc_db_t *db;
    hc_bus_t *bus;
    hc_worker_t *worker; /* woken by hc_relay_notify */
    int64_t lo, hi;      /* published rows not yet marked sent (hi 0: none) */
    int64_t mark_at;     /* monotonic ms by which they are marked */
    int64_t mark_ms;     /* RELAY_MARK_MS, or 0: marked after every pass */
};

/* The relay's pass: publishes what is unsent beyond the rows already
 * published, batch after batch; a batch that is not full ends it without
 * another look (a row committed since the look woke the relay, so its next
 * wait returns at once). Returns the number published or an hc_err. */
static int relay_pass(hc_relay_t *r)
{
    int total = 0, n;
    int64_t lo = 0, hi = 0;
    while ((n = publish_batch(r->db, r->bus, r->hi, &lo, &hi)) > 0) {
        if (!r->hi) {
            r->lo = lo;
            r->mark_at = hc_mono_ms() + r->mark_ms;
        }
        r->hi = hi;
        total += n;
        if (n < RELAY_BATCH)
            break;
    }
    return n < 0 ? n : total;
}

/* Marks the published rows sent: on SQLite, marks are gathered for up to
 * RELAY_MARK_MS (one write per burst instead of one per pass), and made at
 * once when the relay is idle, stopping or about to prune. On PostgreSQL,
 * where several instances of a service share one outbox and each runs a
 * relay, every pass marks at once: a mark held back would let the other
 * instances' relays publish the same rows again. While rows are published but
 * unmarked, the outbox keeps them (prune deletes marked rows only), so new
 * rows get higher ids and the pass's "id > hi" passes over no new row. */
static void relay_mark(hc_relay_t *r)
{
    if (!r->hi)
        return;
    int rc = mark_sent(r->db, r->lo, r->hi);
    if (rc) {
        hc_warn("outbox relay: marking rows %lld..%lld sent failed: %s; retrying", (long long)r->lo,
                (long long)r->hi, hc_strerror(rc));
        r->mark_at = hc_mono_ms() + RELAY_MARK_MS;
        return;
    }
    r->lo = r->hi = 0;
}

/* The relay's loop: publish, then wait for a commit's wake-up. The first
 * pass publishes what an earlier run left; the pass after the stop is the
 * last one, and its rows are marked before the thread ends. */
static void relay_main(hc_worker_t *w, void *arg)
{
    hc_relay_t *r = arg;
    int backoff_ms = 0;
    int64_t prune_at = hc_deadline_ms(PRUNE_EVERY_MS);
    int64_t busy_until = 0; /* monotonic ms */
    for (;;) {
        int stopping = hc_worker_stopping(w);
        if (!stopping && hc_mono_ms() < busy_until)
            hc_sleep_ms(RELAY_LINGER_MS);
        int n = relay_pass(r);
        if (n > 0)
            busy_until = hc_mono_ms() + RELAY_BUSY_MS;
        backoff_ms =
            n < 0 ? (backoff_ms ? (backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2) : 50) : 0;
        int prune = hc_deadline_left(prune_at) == 0;
        if (n == 0 || stopping || prune || hc_mono_ms() >= r->mark_at)
            relay_mark(r);
        if (prune) {
            if (!r->hi)
                outbox_prune(r->db);
            prune_at = hc_deadline_ms(PRUNE_EVERY_MS);
        }
        if (stopping)
            break;
        /* Woken by commits; the timeout only catches rows left by a
         * previous run or a failed publish, or marks what was published. */
        int64_t wait_ms = backoff_ms ? backoff_ms : RELAY_TICK_MS;
        if (r->hi) {
            int64_t left = r->mark_at - hc_mono_ms();
            wait_ms = left < 1 ? 1 : left < wait_ms ? left : wait_ms;
        }
        hc_worker_wait(w, wait_ms);
    }
}

int hc_relay_start(hc_db_t *db, hc_bus_t *bus, hc_relay_t **out)
{
    hc_relay_t *r = hc_xcalloc(1, sizeof *r);
    r->db = db;
    r->bus = bus;
    r->mark_ms = strcmp(hc_db_kind(db), "SQLite") == 0 ? RELAY_MARK_MS : 0;
    int rc = hc_worker_start("hc-relay", relay_main, r, &r->worker);
    if (rc) {
        free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

void hc_relay_notify(hc_relay_t *r)
{
    if (r)
        hc_worker_wake(r->worker);
}

void hc_relay_stop(hc_relay_t *r)
{
    if (!r)
        return;
    hc_worker_stop(r->worker);
    free(r);
}
