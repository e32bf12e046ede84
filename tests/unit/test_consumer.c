/* Checks hc_consumer: batches apply each wanted event once (inbox), skip unwanted types, park
 * what cannot be applied in dead_letters (same transaction), roll back on errors; marked dead
 * letters are retried through the same path; the loop commits offsets and stalls (never skips)
 * at a corrupt record. */
#include "hc_test.h"

#include <jansson.h>
#include <pthread.h>

#include "hc_buf.h"
#include "hc_bus.h"
#include "hc_consumer.h"
#include "hc_db.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_log.h"
#include "hc_outbox.h"

static const hc_migration_t MIGS[] = {
    {1, "CREATE TABLE applied (event_id TEXT NOT NULL, order_id INTEGER NOT NULL,"
        " seq INTEGER NOT NULL);"},
    {2, HC_INBOX_SCHEMA},
    {3, HC_OUTBOX_SCHEMA},
    {4, HC_DEADLETTER_SCHEMA},
};

/* What the handler saw; written by whichever thread runs the handler and read
 * by the test after the batch returned (or under the lock for the loop test). */
typedef struct handler_state {
    int calls;
    int poison_calls;
    int fail_calls;
    int commits;      /* after_commit calls */
    int refuse_flaky; /* "Flaky" events are refused (HC_EINVAL) while set */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} handler_state_t;

/* Wanted: records the event (and emits one outbox event). Poison: writes, then
 * asks to be dropped (its write must not survive). Fail: transient error. */
static int handler(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    handler_state_t *hs = ud;
    int64_t seq = json_integer_value(json_object_get(ev->root, "seq"));
    pthread_mutex_lock(&hs->mu);
    hs->calls++;
    pthread_mutex_unlock(&hs->mu);
    if (strcmp(ev->type, "Fail") == 0) {
        pthread_mutex_lock(&hs->mu);
        hs->fail_calls++;
        pthread_mutex_unlock(&hs->mu);
        return HC_EIO;
    }
    int rc =
        hc_conn_exec(c, "INSERT INTO applied (event_id, order_id, seq) VALUES (?, ?, ?)",
                     HC_PARAMS(HC_TEXT(ev->event_id), HC_I64(ev->order_id), HC_I64(seq)), NULL);
    if (rc != 0)
        return rc;
    if (strcmp(ev->type, "Flaky") == 0) {
        pthread_mutex_lock(&hs->mu);
        int refuse = hs->refuse_flaky;
        pthread_mutex_unlock(&hs->mu);
        if (refuse)
            return HC_EINVAL;
    }
    if (strcmp(ev->type, "Poison") == 0) {
        pthread_mutex_lock(&hs->mu);
        hs->poison_calls++;
        pthread_mutex_unlock(&hs->mu);
        return HC_EINVAL;
    }
    json_t *out = hc_event_new("Followed", ev->order_id, &ev->trace);
    rc = hc_outbox_add(c, out);
    json_decref(out);
    return rc;
}

static void after_commit(void *ud)
{
    handler_state_t *hs = ud;
    pthread_mutex_lock(&hs->mu);
    hs->commits++;
    pthread_cond_broadcast(&hs->cv);
    pthread_mutex_unlock(&hs->mu);
}

static const char *const TYPES[] = {"Wanted", "Poison", "Fail", "Flaky", NULL};

typedef struct fixture {
    char dir[256];
    hc_db_t *db;
    handler_state_t hs;
    hc_consumer_opts_t opts;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char path[512];
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(path, sizeof path, f->dir, "svc.db");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 4, &f->db), 0);
    pthread_mutex_init(&f->hs.mu, NULL);
    pthread_cond_init(&f->hs.cv, NULL);
    f->opts.group = "testsvc";
    f->opts.types = TYPES;
    f->opts.apply = handler;
    f->opts.ud = &f->hs;
    f->opts.after_commit = after_commit;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_db_destroy(f->db);
    pthread_cond_destroy(&f->hs.cv);
    pthread_mutex_destroy(&f->hs.mu);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* A batch of bus messages built from events; owns its strings. */
#define MAX_MSGS 16
typedef struct batch {
    hc_bus_msg_t msgs[MAX_MSGS];
    char ids[MAX_MSGS][64];
    size_t n;
} batch_t;

/* Appends an event of type for order with payload seq; returns its index.
 * reuse_id (may be NULL) gives it an existing eventId (a redelivery). */
static size_t batch_add(batch_t *b, const char *type, int64_t order, int seq, const char *reuse_id)
{
    assert_true(b->n < MAX_MSGS);
    json_t *ev = hc_event_new(type, order, NULL);
    assert_non_null(ev);
    json_object_set_new(ev, "seq", json_integer(seq));
    if (reuse_id != NULL)
        json_object_set_new(ev, "eventId", json_string(reuse_id));
    hc_bus_msg_t *m = &b->msgs[b->n];
    m->offset = (int64_t)b->n + 1;
    m->key = malloc(32);
    snprintf(m->key, 32, "%lld", (long long)order);
    m->value = json_dumps(ev, JSON_COMPACT);
    assert_non_null(m->value);
    m->value_len = strlen(m->value);
    hc_strlcpy(b->ids[b->n], json_string_value(json_object_get(ev, "eventId")), sizeof b->ids[0]);
    json_decref(ev);
    return b->n++;
}

/* Appends a raw message value (for malformed input). */
static void batch_add_raw(batch_t *b, const char *value)
{
    assert_true(b->n < MAX_MSGS);
    hc_bus_msg_t *m = &b->msgs[b->n];
    m->offset = (int64_t)b->n + 1;
    m->key = strdup("0");
    m->value = strdup(value);
    m->value_len = strlen(value);
    b->ids[b->n][0] = '\0';
    b->n++;
}

static void batch_free(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->msgs[i].key);
        free(b->msgs[i].value);
    }
    memset(b, 0, sizeof *b);
}

static int64_t q(hc_db_t *db, const char *sql)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t v = -1;
    int rc = hc_conn_query_i64(c, sql, HC_NOPARAMS, &v);
    hc_db_release(db, c);
    if (rc != 0)
        fail_msg("query \"%s\": %d (%s)", sql, rc, hc_strerror(rc));
    return v;
}

static int64_t applied_count(hc_db_t *db)
{
    return q(db, "SELECT COUNT(*) FROM applied");
}

/* Dead letters matching where (with one text parameter arg). */
static int64_t dl_count(hc_db_t *db, const char *where, const char *arg)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM dead_letters WHERE %s", where);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t v = -1;
    int rc = hc_conn_query_i64(c, sql, HC_PARAMS(HC_TEXT(arg)), &v);
    hc_db_release(db, c);
    if (rc != 0)
        fail_msg("query \"%s\": %d (%s)", sql, rc, hc_strerror(rc));
    return v;
}

static void test_applies_each_once_in_order(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add(&b, "Wanted", 2, 2, NULL);
    batch_add(&b, "Wanted", 1, 3, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 3);
    assert_int_equal(f->hs.calls, 3);
    /* applied in message order */
    hc_conn_t *c = hc_db_acquire(f->db);
    hc_rows_t *r = NULL;
    assert_int_equal(hc_conn_query(c, "SELECT seq FROM applied ORDER BY rowid", HC_NOPARAMS, &r),
                     0);
    assert_int_equal(hc_rows_count(r), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(hc_rows_i64(r, i, 0), (int64_t)i + 1);
    hc_rows_free(r);
    hc_db_release(f->db, c);
    /* inbox and outbox rows committed with the change */
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM inbox"), 3);
    assert_int_equal(hc_outbox_backlog(f->db), 3);
    assert_int_equal(f->hs.commits, 1);
    batch_free(&b);
}

static void test_duplicate_within_batch(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    size_t first = batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add(&b, "Wanted", 1, 2, NULL);
    batch_add(&b, "Wanted", 1, 3, b.ids[first]); /* redelivery of the first */
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 2);
    assert_int_equal(f->hs.calls, 2);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM applied WHERE seq = 3"), 0);
    batch_free(&b);
}

static void test_duplicate_across_batches(void **state)
{
    fixture_t *f = *state;
    batch_t b1 = {0}, b2 = {0};
    batch_add(&b1, "Wanted", 1, 1, NULL);
    batch_add(&b1, "Wanted", 2, 2, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b1.msgs, b1.n), 0);
    /* the whole first batch again (a redelivery after a crash) plus a new one */
    batch_add(&b2, "Wanted", 1, 1, b1.ids[0]);
    batch_add(&b2, "Wanted", 2, 2, b1.ids[1]);
    batch_add(&b2, "Wanted", 3, 3, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b2.msgs, b2.n), 0);
    assert_int_equal(applied_count(f->db), 3);
    assert_int_equal(f->hs.calls, 3);
    assert_int_equal(hc_outbox_backlog(f->db), 3);
    /* and the very same messages a third time */
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b2.msgs, b2.n), 0);
    assert_int_equal(applied_count(f->db), 3);
    assert_int_equal(f->hs.calls, 3);
    batch_free(&b1);
    batch_free(&b2);
}

static void test_ignores_unwanted_types(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Ordered", 1, 1, NULL);
    batch_add(&b, "Wanted", 1, 2, NULL);
    batch_add(&b, "wanted", 1, 3, NULL); /* types match exactly */
    batch_add(&b, "ReservationAccepted", 1, 4, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(f->hs.calls, 1);
    assert_int_equal(applied_count(f->db), 1);
    assert_int_equal(q(f->db, "SELECT seq FROM applied"), 2);
    batch_free(&b);
}

static void test_poison_dropped_others_applied(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    size_t poison = batch_add(&b, "Poison", 1, 2, NULL);
    batch_add(&b, "Wanted", 1, 3, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(f->hs.poison_calls, 1);
    /* the others applied; the poison handler's own write was discarded */
    assert_int_equal(applied_count(f->db), 2);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM applied WHERE seq = 2"), 0);
    assert_int_equal(q(f->db, "SELECT SUM(seq) FROM applied"), 4);
    /* parked with what is needed to understand and retry it */
    assert_int_equal(hc_deadletter_count(f->db), 1);
    assert_int_equal(dl_count(f->db, "event_id = ?", b.ids[poison]), 1);
    assert_int_equal(dl_count(f->db,
                              "event_type = 'Poison' AND order_id = 1 AND bus_offset = 2"
                              " AND retries = 0 AND retry_requested = 0 AND payload = ?",
                              b.msgs[poison].value),
                     1);
    assert_int_equal(dl_count(f->db, "error LIKE ? AND created_at > 0", "%refused%"), 1);

    /* the poison event counts as consumed: a redelivery is not retried */
    batch_t again = {0};
    batch_add(&again, "Poison", 1, 2, b.ids[poison]);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, again.msgs, again.n), 0);
    assert_int_equal(f->hs.poison_calls, 1);
    assert_int_equal(applied_count(f->db), 2);
    assert_int_equal(hc_deadletter_count(f->db), 1);
    batch_free(&again);
    batch_free(&b);
}

static void test_malformed_message_does_not_block(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add_raw(&b, "this is not an event");
    batch_add_raw(&b, "{\"eventType\":\"Wanted\",\"orderId\":1}");
    batch_add(&b, "Wanted", 1, 2, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 2);
    /* neither is dropped: both are parked, with what was wrong */
    assert_int_equal(hc_deadletter_count(f->db), 2);
    assert_int_equal(
        dl_count(f->db, "bus_offset = 2 AND event_id IS NULL AND error LIKE ?", "not JSON%"), 1);
    assert_int_equal(
        dl_count(f->db, "bus_offset = 3 AND event_id IS NULL AND error LIKE ?", "%eventId%"), 1);
    assert_int_equal(dl_count(f->db, "payload = ?", "this is not an event"), 1);
    /* delivered again (a crash before the offset commit): not parked twice */
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(hc_deadletter_count(f->db), 2);
    assert_int_equal(applied_count(f->db), 2);
    batch_free(&b);
}

static void test_batch_of_only_bad_messages_parks_them(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Ordered", 1, 1, NULL); /* not wanted here */
    batch_add_raw(&b, "[1, 2, 3]");
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(hc_deadletter_count(f->db), 1);
    assert_int_equal(dl_count(f->db, "error = ?", "not a JSON object"), 1);
    assert_int_equal(f->hs.commits, 1);
    batch_free(&b);
}

static void test_park_rolls_back_with_the_batch(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add_raw(&b, "garbage");
    batch_add(&b, "Poison", 1, 1, NULL);
    batch_add(&b, "Fail", 1, 2, NULL);
    assert_true(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n) < 0);
    /* the batch is retried as a whole: nothing of it, parks included, stays */
    assert_int_equal(hc_deadletter_count(f->db), 0);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM inbox"), 0);
    batch_free(&b);
}

/* Marks every dead letter for retry and runs one retry pass. */
static void retry_all(fixture_t *f, size_t want_applied, size_t want_failed)
{
    int64_t marked = 0;
    size_t applied = 99, failed = 99;
    assert_int_equal(hc_deadletter_mark(f->db, 0, &marked), 0);
    assert_int_equal(hc_consumer_retry_dead_letters(f->db, &f->opts, &applied, &failed), 0);
    assert_int_equal(applied, want_applied);
    assert_int_equal(failed, want_failed);
}

static void test_retry_applies_once_refusal_is_gone(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    f->hs.refuse_flaky = 1;
    batch_add(&b, "Flaky", 5, 7, NULL);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 0);
    assert_int_equal(hc_deadletter_count(f->db), 1);
    int commits = f->hs.commits;

    /* still refused: the row stays, counted, with the mark cleared */
    retry_all(f, 0, 1);
    assert_int_equal(
        dl_count(f->db, "retries = 1 AND retry_requested = 0 AND error LIKE ?", "%refused%"), 1);
    assert_int_equal(applied_count(f->db), 0);
    /* not retried again until marked again */
    size_t applied = 99, failed = 99;
    assert_int_equal(hc_consumer_retry_dead_letters(f->db, &f->opts, &applied, &failed), 0);
    assert_int_equal(applied + failed, 0);

    /* the cause is gone: the retry applies it through the inbox, the row goes */
    f->hs.refuse_flaky = 0;
    retry_all(f, 1, 0);
    assert_int_equal(hc_deadletter_count(f->db), 0);
    assert_int_equal(applied_count(f->db), 1);
    assert_int_equal(q(f->db, "SELECT seq FROM applied"), 7);
    assert_int_equal(hc_outbox_backlog(f->db), 1);
    assert_true(f->hs.commits > commits);
    /* a later redelivery of the same event is a duplicate */
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 1);
    assert_int_equal(hc_deadletter_count(f->db), 0);
    batch_free(&b);
}

static void test_retry_of_fixed_payload(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0}, fixed = {0};
    batch_add_raw(&b, "{\"eventType\":\"Wanted\",\"orderId\":9,\"seq\":42}");
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(hc_deadletter_count(f->db), 1);
    retry_all(f, 0, 1); /* still not an event */
    assert_int_equal(dl_count(f->db, "retries = 1 AND error LIKE ?", "%eventId%"), 1);

    /* an operator repairs the payload; the retry applies it */
    batch_add(&fixed, "Wanted", 9, 42, NULL);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_exec(c, "UPDATE dead_letters SET payload = ?",
                                  HC_PARAMS(HC_TEXT(fixed.msgs[0].value)), NULL),
                     0);
    hc_db_release(f->db, c);
    retry_all(f, 1, 0);
    assert_int_equal(hc_deadletter_count(f->db), 0);
    assert_int_equal(q(f->db, "SELECT seq FROM applied WHERE order_id = 9"), 42);
    batch_free(&fixed);
    batch_free(&b);
}

static void test_retry_never_applies_twice(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    size_t good = batch_add(&b, "Wanted", 3, 1, NULL);
    batch_add_raw(&b, "{broken");
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    assert_int_equal(applied_count(f->db), 1);
    /* the broken message is "fixed" into a copy of the applied event: the
     * inbox still knows it, so the retry resolves the row without applying */
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_exec(c, "UPDATE dead_letters SET payload = ?",
                                  HC_PARAMS(HC_TEXT(b.msgs[good].value)), NULL),
                     0);
    hc_db_release(f->db, c);
    retry_all(f, 1, 0);
    assert_int_equal(applied_count(f->db), 1);
    assert_int_equal(f->hs.calls, 1);
    assert_int_equal(hc_deadletter_count(f->db), 0);
    batch_free(&b);
}

static void test_retry_of_unwanted_event_resolves(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0}, other = {0};
    batch_add_raw(&b, "{}");
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n), 0);
    batch_add(&other, "Ordered", 1, 1, NULL);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_exec(c, "UPDATE dead_letters SET payload = ?",
                                  HC_PARAMS(HC_TEXT(other.msgs[0].value)), NULL),
                     0);
    hc_db_release(f->db, c);
    /* an event for other services: nothing to apply here, the row goes */
    retry_all(f, 1, 0);
    assert_int_equal(hc_deadletter_count(f->db), 0);
    assert_int_equal(f->hs.calls, 0);
    batch_free(&other);
    batch_free(&b);
}

static void test_start_needs_dead_letters_table(void **state)
{
    fixture_t *f = *state;
    char path[512], busdir[512];
    hc_db_t *db = NULL;
    hc_bus_t *bus = NULL;
    hc_consumer_t *k = NULL;
    hc_test_path(path, sizeof path, f->dir, "old.db");
    hc_test_path(busdir, sizeof busdir, f->dir, "bus");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 3, &db), 0);
    assert_int_equal(hc_bus_log_open(busdir, "healthcenter", "NORMAL", &bus), 0);
    assert_int_equal(hc_consumer_start(db, bus, &f->opts, &k), HC_EINVAL);
    assert_null(k);
    hc_bus_destroy(bus);
    hc_db_destroy(db);
}

static void test_error_commits_nothing(void **state)
{
    fixture_t *f = *state;
    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add(&b, "Wanted", 2, 2, NULL);
    batch_add(&b, "Fail", 3, 3, NULL);
    batch_add(&b, "Wanted", 4, 4, NULL);
    int rc = hc_consumer_apply_batch(f->db, &f->opts, b.msgs, b.n);
    assert_true(rc < 0);
    assert_int_not_equal(rc, HC_EINVAL);
    assert_int_equal(f->hs.fail_calls, 1);
    assert_int_equal(f->hs.commits, 0);
    /* nothing of the batch: no changes, no inbox claims, no outbox rows */
    assert_int_equal(applied_count(f->db), 0);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM inbox"), 0);
    assert_int_equal(hc_outbox_backlog(f->db), 0);

    /* the retry without the failing event applies the others exactly once */
    batch_t retry = {0};
    batch_add(&retry, "Wanted", 1, 1, b.ids[0]);
    batch_add(&retry, "Wanted", 2, 2, b.ids[1]);
    batch_add(&retry, "Wanted", 4, 4, b.ids[3]);
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, retry.msgs, retry.n), 0);
    assert_int_equal(applied_count(f->db), 3);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM inbox"), 3);
    assert_int_equal(f->hs.commits, 1);
    batch_free(&retry);
    batch_free(&b);
}

static void test_empty_batch(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hc_consumer_apply_batch(f->db, &f->opts, NULL, 0), 0);
    assert_int_equal(applied_count(f->db), 0);
}

/* Waits until the handler's commits made applied reach want rows, or 10 s
 * pass (a bounded wait on a condition signalled by after_commit). */
static int64_t wait_applied(fixture_t *f, int64_t want)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    for (;;) {
        pthread_mutex_lock(&f->hs.mu);
        int seen = f->hs.commits;
        pthread_mutex_unlock(&f->hs.mu);
        int64_t n = applied_count(f->db);
        if (n >= want)
            return n;
        pthread_mutex_lock(&f->hs.mu);
        int rc = 0;
        while (f->hs.commits == seen && rc == 0)
            rc = pthread_cond_timedwait(&f->hs.cv, &f->hs.mu, &deadline);
        pthread_mutex_unlock(&f->hs.mu);
        if (rc != 0)
            return applied_count(f->db);
    }
}

/* The loop: events published on the embedded log are applied by the consumer
 * thread, and its offset is committed (the group's lag drops to 0). */
static void test_loop_applies_and_commits(void **state)
{
    fixture_t *f = *state;
    char busdir[512];
    hc_bus_t *bus = NULL;
    hc_test_path(busdir, sizeof busdir, f->dir, "bus");
    assert_int_equal(hc_bus_log_open(busdir, "healthcenter", "NORMAL", &bus), 0);

    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add(&b, "Ordered", 1, 2, NULL);
    batch_add(&b, "Wanted", 2, 3, NULL);
    batch_add(&b, "Wanted", 1, 4, b.ids[0]); /* duplicate */
    assert_int_equal(hc_bus_publish(bus, b.msgs, b.n), 0);

    /* A consumer of another group, drained, whose empty polls serve as the
     * bounded wait between lag checks. */
    hc_bus_consumer_t *ticker = NULL;
    assert_int_equal(bus->ops->consumer_open(bus, "ticker", &ticker), 0);
    for (size_t drained = 0; drained < b.n;) {
        hc_bus_msg_t msgs[MAX_MSGS];
        size_t got = 0;
        assert_int_equal(bus->ops->poll(ticker, msgs, MAX_MSGS, &got, 1000), 0);
        assert_true(got > 0);
        hc_bus_msgs_free(msgs, got);
        drained += got;
    }

    hc_consumer_t *k = NULL;
    assert_int_equal(hc_consumer_start(f->db, bus, &f->opts, &k), 0);
    assert_non_null(k);
    assert_int_equal(wait_applied(f, 2), 2);

    int64_t lag = -1;
    for (int i = 0; i < 200; i++) {
        lag = hc_consumer_lag(k);
        if (lag == 0)
            break;
        hc_bus_msg_t none[1];
        size_t got = 0;
        assert_int_equal(bus->ops->poll(ticker, none, 1, &got, 25), 0);
        assert_int_equal(got, 0);
    }
    assert_int_equal(lag, 0);
    hc_consumer_stop(k);
    hc_consumer_stop(NULL);
    bus->ops->consumer_close(ticker);
    assert_int_equal(applied_count(f->db), 2);
    assert_int_equal(f->hs.calls, 2);

    /* restart: the group resumes after its commit, nothing is applied twice */
    hc_bus_destroy(bus);
    bus = NULL;
    assert_int_equal(hc_bus_log_open(busdir, "healthcenter", "NORMAL", &bus), 0);
    hc_bus_consumer_t *bc = NULL;
    assert_int_equal(bus->ops->consumer_open(bus, "testsvc", &bc), 0);
    assert_int_equal(bus->ops->lag(bc), 0);
    bus->ops->consumer_close(bc);
    hc_bus_destroy(bus);
    batch_free(&b);
}

/* Waits up to ms for hc_consumer_stalled(k) to equal want; returns it. */
static int wait_stalled(hc_consumer_t *k, int want, char *why, size_t n, int ms)
{
    int64_t t0 = hc_test_mono_ms();
    int got;
    while ((got = hc_consumer_stalled(k, why, n)) != want && hc_test_mono_ms() - t0 < ms) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return got;
}

/* The loop meets a record whose bytes changed: it applies what came before,
 * commits up to there, stops (stalled, reason and offset), never applies
 * what comes after; once the record reads right again it goes on. */
static void test_loop_stalls_at_corrupt_record(void **state)
{
    fixture_t *f = *state;
    char busdir[512], events[600];
    hc_bus_t *bus = NULL;
    hc_test_path(busdir, sizeof busdir, f->dir, "bus");
    hc_test_path(events, sizeof events, busdir, "events.db");
    assert_int_equal(hc_bus_log_open(busdir, "healthcenter", "NORMAL", &bus), 0);
    batch_t b = {0};
    batch_add(&b, "Wanted", 1, 1, NULL);
    batch_add(&b, "Wanted", 2, 2, NULL);
    batch_add(&b, "Wanted", 3, 3, NULL);
    assert_int_equal(hc_bus_publish(bus, b.msgs, b.n), 0);
    hc_db_t *edb = NULL;
    assert_int_equal(hc_db_open_existing(events, 0, &edb), 0);
    hc_conn_t *c = hc_db_acquire(edb);
    assert_int_equal(
        hc_conn_exec(c,
                     "UPDATE events SET value = replace(value, '\"seq\":2', '\"seq\":9')"
                     " WHERE msg_key = '2'",
                     HC_NOPARAMS, NULL),
        0);
    int64_t bad = -1;
    assert_int_equal(
        hc_conn_query_i64(c, "SELECT pos FROM events WHERE msg_key = '2'", HC_NOPARAMS, &bad), 0);
    hc_db_release(edb, c);

    hc_consumer_t *k = NULL;
    char why[512];
    assert_int_equal(hc_consumer_start(f->db, bus, &f->opts, &k), 0);
    assert_int_equal(wait_stalled(k, 1, why, sizeof why, 5000), 1);
    assert_non_null(strstr(why, HC_BUS_CORRUPT_RECORD));
    assert_non_null(strstr(why, "checksum mismatch"));
    char at[32];
    snprintf(at, sizeof at, "offset %lld", (long long)bad);
    assert_non_null(strstr(why, at));
    assert_int_equal(wait_applied(f, 1), 1);
    /* it stays stopped: the later event is not applied, the offset not past */
    assert_int_equal(wait_stalled(k, 0, why, sizeof why, 500), 1);
    assert_int_equal(applied_count(f->db), 1);
    assert_int_equal(hc_consumer_lag(k), 2);

    /* repaired: within a re-check it resumes and applies the rest */
    c = hc_db_acquire(edb);
    assert_int_equal(hc_conn_exec(c, "UPDATE events SET value = ? WHERE pos = ?",
                                  HC_PARAMS(HC_TEXT(b.msgs[1].value), HC_I64(bad)), NULL),
                     0);
    hc_db_release(edb, c);
    assert_int_equal(wait_stalled(k, 0, why, sizeof why, 8000), 0);
    assert_int_equal(wait_applied(f, 3), 3);
    hc_consumer_stop(k);
    hc_db_destroy(edb);
    hc_bus_destroy(bus);
    batch_free(&b);
}

/* Waits up to ms for db to hold want dead letters; returns the count. */
static int64_t wait_dead_letters(hc_db_t *db, int64_t want, int ms)
{
    int64_t t0 = hc_test_mono_ms(), n;
    while ((n = hc_deadletter_count(db)) != want && hc_test_mono_ms() - t0 < ms) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return n;
}

/* The running loop applies rows marked for retry within about a second. */
static void test_loop_retries_marked_dead_letters(void **state)
{
    fixture_t *f = *state;
    char busdir[512];
    hc_bus_t *bus = NULL;
    hc_test_path(busdir, sizeof busdir, f->dir, "bus");
    assert_int_equal(hc_bus_log_open(busdir, "healthcenter", "NORMAL", &bus), 0);
    pthread_mutex_lock(&f->hs.mu);
    f->hs.refuse_flaky = 1;
    pthread_mutex_unlock(&f->hs.mu);
    batch_t b = {0};
    batch_add(&b, "Flaky", 4, 4, NULL);
    assert_int_equal(hc_bus_publish(bus, b.msgs, b.n), 0);
    hc_consumer_t *k = NULL;
    assert_int_equal(hc_consumer_start(f->db, bus, &f->opts, &k), 0);
    assert_int_equal(wait_dead_letters(f->db, 1, 5000), 1);
    pthread_mutex_lock(&f->hs.mu);
    f->hs.refuse_flaky = 0;
    pthread_mutex_unlock(&f->hs.mu);
    int64_t t0 = hc_test_mono_ms();
    assert_int_equal(hc_deadletter_mark(f->db, 0, NULL), 0);
    assert_int_equal(wait_dead_letters(f->db, 0, 5000), 0);
    assert_true(hc_test_mono_ms() - t0 < 3000);
    assert_int_equal(wait_applied(f, 1), 1);
    char why[256];
    assert_int_equal(hc_consumer_stalled(k, why, sizeof why), 0);
    hc_consumer_stop(k);
    hc_bus_destroy(bus);
    batch_free(&b);
}

int main(void)
{
    hc_log_init("test_consumer", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_applies_each_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_within_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_across_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignores_unwanted_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poison_dropped_others_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_message_does_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_commits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_applies_and_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_of_only_bad_messages_parks_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_park_rolls_back_with_the_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_applies_once_refusal_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_of_fixed_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_never_applies_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_of_unwanted_event_resolves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_needs_dead_letters_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_stalls_at_corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_retries_marked_dead_letters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
