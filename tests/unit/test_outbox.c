/* Checks hc_outbox: committed events publish once in id order, rolled-back ones never, failed
 * publishes retry in order exactly once. */
#include "hc_test.h"

#include <jansson.h>
#include <pthread.h>

#include "hc_buf.h"
#include "hc_bus.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_outbox.h"

/* A recording test double of the bus interface: keeps copies of every message
 * it accepted; publish fails while fail_next > 0. The relay calls it from its
 * own thread, so it signals cv under mu after each accepted publish. */
#define FAKE_MAX 1024
typedef struct fake_bus {
    hc_bus_t base; /* first, so hc_bus_t * casts back */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_next;
    int calls;
    size_t n;
    int64_t last_publish_ms; /* monotonic time of the last accepted publish */
    char *keys[FAKE_MAX];
    char *values[FAKE_MAX];
} fake_bus_t;

static int fake_publish(hc_bus_t *bus, const hc_bus_msg_t *msgs, size_t n)
{
    fake_bus_t *fb = (fake_bus_t *)bus;
    int rc = 0;
    pthread_mutex_lock(&fb->mu);
    fb->calls++;
    if (fb->fail_next > 0) {
        fb->fail_next--;
        rc = HC_EIO;
    } else if (fb->n + n > FAKE_MAX) {
        rc = HC_EIO;
    } else {
        for (size_t i = 0; i < n; i++) {
            fb->keys[fb->n] = strdup(msgs[i].key ? msgs[i].key : "(null)");
            fb->values[fb->n] = strndup(msgs[i].value, msgs[i].value_len);
            fb->n++;
        }
        fb->last_publish_ms = hc_test_mono_ms();
        pthread_cond_broadcast(&fb->cv);
    }
    pthread_mutex_unlock(&fb->mu);
    return rc;
}

static void fake_destroy(hc_bus_t *bus)
{
    fake_bus_t *fb = (fake_bus_t *)bus;
    for (size_t i = 0; i < fb->n; i++) {
        free(fb->keys[i]);
        free(fb->values[i]);
    }
    fb->n = 0;
    pthread_cond_destroy(&fb->cv);
    pthread_mutex_destroy(&fb->mu);
}

static const hc_bus_ops_t FAKE_OPS = {
    .publish = fake_publish,
    .destroy = fake_destroy,
};

static void fake_init(fake_bus_t *fb)
{
    memset(fb, 0, sizeof *fb);
    pthread_mutex_init(&fb->mu, NULL);
    pthread_cond_init(&fb->cv, NULL);
    fb->base.ops = &FAKE_OPS;
    hc_strlcpy(fb->base.topic, "healthcenter", sizeof fb->base.topic);
}

typedef struct fixture {
    char dir[256];
    hc_db_t *db;
    fake_bus_t bus;
} fixture_t;

static const hc_migration_t MIGS[] = {{1, HC_OUTBOX_SCHEMA}};

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char path[512];
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(path, sizeof path, f->dir, "outbox.db");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 1, &f->db), 0);
    fake_init(&f->bus);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    fake_destroy(&f->bus.base);
    hc_db_destroy(f->db);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Adds one event per (order, seq) pair in a single transaction; commits or
 * rolls back. seq goes into the payload so the order can be checked. */
static void add_events(hc_db_t *db, const int64_t *orders, const int *seqs, size_t n, int commit)
{
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin(c), 0);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = hc_event_new("Ordered", orders[i], NULL);
        assert_non_null(ev);
        json_object_set_new(ev, "seq", json_integer(seqs[i]));
        assert_int_equal(hc_outbox_add(c, ev), 0);
        json_decref(ev);
    }
    if (commit)
        assert_int_equal(hc_conn_commit(c), 0);
    else
        hc_conn_rollback(c);
    hc_db_release(db, c);
}

/* Asserts the fake bus received exactly seqs (in order) with orders as keys. */
static void expect_published(const fake_bus_t *fb, const int64_t *orders, const int *seqs, size_t n)
{
    if (fb->n != n)
        fail_msg("published %zu messages, expected %zu", fb->n, n);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)orders[i]);
        assert_string_equal(fb->keys[i], key);
        json_error_t jerr;
        json_t *v = json_loads(fb->values[i], 0, &jerr);
        if (v == NULL)
            fail_msg("payload %zu is not JSON: %s", i, fb->values[i]);
        assert_int_equal(json_integer_value(json_object_get(v, "seq")), seqs[i]);
        assert_int_equal(json_integer_value(json_object_get(v, "orderId")), orders[i]);
        assert_string_equal(json_string_value(json_object_get(v, "eventType")), "Ordered");
        assert_non_null(json_string_value(json_object_get(v, "eventId")));
        json_decref(v);
    }
}

static void test_flush_publishes_in_order_once(void **state)
{
    fixture_t *f = *state;
    const int64_t orders[] = {11, 12, 11, 13, 12};
    const int seqs[] = {1, 2, 3, 4, 5};
    add_events(f->db, orders, seqs, 3, 1);
    add_events(f->db, orders + 3, seqs + 3, 2, 1);
    assert_int_equal(hc_outbox_backlog(f->db), 5);

    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 5);
    expect_published(&f->bus, orders, seqs, 5);
    assert_int_equal(hc_outbox_backlog(f->db), 0);

    /* a second flush publishes nothing */
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 0);
    assert_int_equal(f->bus.n, 5);
    assert_int_equal(hc_outbox_backlog(f->db), 0);

    /* rows are kept, marked sent */
    hc_conn_t *c = hc_db_acquire(f->db);
    int64_t sent = -1;
    assert_int_equal(hc_conn_query_i64(c, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
                                       HC_NOPARAMS, &sent),
                     0);
    hc_db_release(f->db, c);
    assert_int_equal(sent, 5);

    /* later events follow the earlier ones */
    const int64_t more_orders[] = {14};
    const int more_seqs[] = {6};
    add_events(f->db, more_orders, more_seqs, 1, 1);
    assert_int_equal(hc_outbox_backlog(f->db), 1);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 1);
    assert_int_equal(f->bus.n, 6);
    assert_string_equal(f->bus.keys[5], "14");
    assert_int_equal(hc_outbox_backlog(f->db), 0);
}

static void test_empty_flush(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hc_outbox_backlog(f->db), 0);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 0);
    assert_int_equal(f->bus.n, 0);
}

static void test_rolled_back_events_never_published(void **state)
{
    fixture_t *f = *state;
    const int64_t orders[] = {21, 22, 23};
    const int seqs[] = {1, 2, 3};
    add_events(f->db, orders, seqs, 1, 1);         /* committed: seq 1 */
    add_events(f->db, orders + 1, seqs + 1, 1, 0); /* rolled back: seq 2 */
    add_events(f->db, orders + 2, seqs + 2, 1, 1); /* committed: seq 3 */
    assert_int_equal(hc_outbox_backlog(f->db), 2);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 2);
    const int64_t want_orders[] = {21, 23};
    const int want_seqs[] = {1, 3};
    expect_published(&f->bus, want_orders, want_seqs, 2);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 0);
    assert_int_equal(f->bus.n, 2);
}

static void test_failed_publish_retries_in_order_once(void **state)
{
    fixture_t *f = *state;
    const int64_t orders[] = {31, 32, 33, 31};
    const int seqs[] = {1, 2, 3, 4};
    add_events(f->db, orders, seqs, 4, 1);

    f->bus.fail_next = 1;
    int rc = hc_outbox_flush(f->db, &f->bus.base);
    /* the failure is reported, not counted as published */
    if (rc >= 0)
        fail_msg("flush returned %d although the bus refused the publish", rc);
    assert_int_equal(f->bus.n, 0);
    assert_int_equal(hc_outbox_backlog(f->db), 4);

    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 4);
    expect_published(&f->bus, orders, seqs, 4);
    assert_int_equal(hc_outbox_backlog(f->db), 0);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 0);
    assert_int_equal(f->bus.n, 4);
}

static void test_failed_publish_keeps_rows_across_reopen(void **state)
{
    fixture_t *f = *state;
    char path[512];
    const int64_t orders[] = {41, 42};
    const int seqs[] = {1, 2};
    add_events(f->db, orders, seqs, 2, 1);
    f->bus.fail_next = 1;
    assert_true(hc_outbox_flush(f->db, &f->bus.base) < 0);

    /* restart: the unsent rows are still there and go out in order */
    hc_db_destroy(f->db);
    f->db = NULL;
    hc_test_path(path, sizeof path, f->dir, "outbox.db");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 1, &f->db), 0);
    assert_int_equal(hc_outbox_backlog(f->db), 2);
    assert_int_equal(hc_outbox_flush(f->db, &f->bus.base), 2);
    expect_published(&f->bus, orders, seqs, 2);
}

/* hc_outbox_flush publishes everything unsent, however long the backlog. */
static void test_flush_publishes_whole_backlog(void **state)
{
    fixture_t *f = *state;
    enum { MANY = 600 };
    static int64_t orders[MANY];
    static int seqs[MANY];
    for (int i = 0; i < MANY; i++) {
        orders[i] = 1000 + i % 7;
        seqs[i] = i + 1;
    }
    add_events(f->db, orders, seqs, MANY, 1);
    assert_int_equal(hc_outbox_backlog(f->db), MANY);
    int rc = hc_outbox_flush(f->db, &f->bus.base);
    if (rc != MANY)
        fail_msg("one flush published %d of %d unsent rows (backlog left: %lld)", rc, MANY,
                 (long long)hc_outbox_backlog(f->db));
    expect_published(&f->bus, orders, seqs, MANY);
    assert_int_equal(hc_outbox_backlog(f->db), 0);
}

/* Waits (bounded by ms) until the fake bus holds want messages. */
static size_t wait_published(fake_bus_t *fb, size_t want, int ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fb->mu);
    while (fb->n < want && pthread_cond_timedwait(&fb->cv, &fb->mu, &deadline) == 0)
        ;
    size_t n = fb->n;
    pthread_mutex_unlock(&fb->mu);
    return n;
}

/* The relay is woken by a notify (after a commit), not by slow polling. */
static void test_relay_wakes_on_notify(void **state)
{
    fixture_t *f = *state;
    hc_relay_t *relay = NULL;
    const int64_t orders[] = {61, 62, 63};
    const int seqs[] = {1, 2, 3};
    /* a row left from before the start is published without a notify */
    add_events(f->db, orders, seqs, 1, 1);
    assert_int_equal(hc_relay_start(f->db, &f->bus.base, &relay), 0);
    assert_int_equal(wait_published(&f->bus, 1, 5000), 1);

    add_events(f->db, orders + 1, seqs + 1, 2, 1);
    int64_t t0 = hc_test_mono_ms();
    hc_relay_notify(relay);
    assert_int_equal(wait_published(&f->bus, 3, 5000), 3);
    pthread_mutex_lock(&f->bus.mu);
    int64_t delay = f->bus.last_publish_ms - t0;
    pthread_mutex_unlock(&f->bus.mu);
    if (delay > 300)
        fail_msg("relay published %lld ms after the notify", (long long)delay);
    hc_relay_stop(relay);
    expect_published(&f->bus, orders, seqs, 3);
    assert_int_equal(hc_outbox_backlog(f->db), 0);
}

/* The relay thread publishes after a notify and on stop, without a flush call. */
static void test_relay_publishes_after_notify(void **state)
{
    fixture_t *f = *state;
    hc_relay_t *relay = NULL;
    assert_int_equal(hc_relay_start(f->db, &f->bus.base, &relay), 0);
    assert_non_null(relay);
    const int64_t orders[] = {51, 52};
    const int seqs[] = {1, 2};
    add_events(f->db, orders, seqs, 2, 1);
    hc_relay_notify(relay);
    /* hc_relay_stop does a last flush, so after it everything is out. */
    hc_relay_stop(relay);
    expect_published(&f->bus, orders, seqs, 2);
    assert_int_equal(hc_outbox_backlog(f->db), 0);
    hc_relay_stop(NULL);
}

/* Polls (bounded by ms) until db's backlog is 0; returns the last backlog. */
static int64_t wait_backlog_empty(hc_db_t *db, int ms)
{
    int64_t deadline = hc_test_mono_ms() + ms, left;
    while ((left = hc_outbox_backlog(db)) != 0 && hc_test_mono_ms() < deadline)
        usleep(2000);
    return left;
}

/* The relay marks what it published while it runs (gathered over a few ms,
 * not only at stop), never publishes a row twice across bursts, notifies and
 * a failed publish, and publishes rows committed while earlier ones wait for
 * their mark. */
static void test_relay_marks_what_it_published(void **state)
{
    fixture_t *f = *state;
    hc_relay_t *relay = NULL;
    enum { BURSTS = 5, PER = 7 };
    static int64_t orders[BURSTS * PER];
    static int seqs[BURSTS * PER];
    for (int i = 0; i < BURSTS * PER; i++) {
        orders[i] = 70 + i % 3;
        seqs[i] = i + 1;
    }
    assert_int_equal(hc_relay_start(f->db, &f->bus.base, &relay), 0);
    for (int b = 0; b < BURSTS; b++) {
        if (b == 2)
            f->bus.fail_next = 1; /* this burst's first publish fails */
        for (int i = 0; i < PER; i++) {
            add_events(f->db, orders + b * PER + i, seqs + b * PER + i, 1, 1);
            hc_relay_notify(relay);
        }
        size_t want = (size_t)(b + 1) * PER;
        assert_int_equal(wait_published(&f->bus, want, 5000), want);
    }
    assert_int_equal(wait_backlog_empty(f->db, 5000), 0);
    hc_relay_stop(relay);
    expect_published(&f->bus, orders, seqs, BURSTS * PER);
    assert_int_equal(hc_outbox_backlog(f->db), 0);
}

int main(void)
{
    hc_log_init("test_outbox", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flush_publishes_in_order_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_events_never_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_publish_retries_in_order_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_publish_keeps_rows_across_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_flush_publishes_whole_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_wakes_on_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_publishes_after_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relay_marks_what_it_published, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
