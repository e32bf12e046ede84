/* Checks the embedded log bus: order, commit/resume, redelivery, groups, timeouts, lag, wake-up;
 * integrity: record checksums (a bad record stops the consumer, never skipped), rows from before
 * checksums, impossible offsets (at open, when idle, after the log grew), storage health. */
#include "hc_test.h"

#include <pthread.h>
#include <sys/wait.h>

#include "hc_bus.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_time.h"

#define TOPIC "healthcenter"

typedef struct fixture {
    char dir[256];
    hc_bus_t *bus;
} fixture_t;

static void bus_open(fixture_t *f)
{
    f->bus = NULL;
    int rc = hc_bus_log_open(f->dir, TOPIC, "NORMAL", &f->bus);
    if (rc != 0)
        fail_msg("hc_bus_log_open: %d (%s)", rc, hc_strerror(rc));
    assert_non_null(f->bus);
    assert_non_null(f->bus->ops);
}

static void bus_close(fixture_t *f)
{
    hc_bus_destroy(f->bus);
    f->bus = NULL;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    bus_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->bus != NULL)
        hc_bus_destroy(f->bus);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* The messages the tests publish: key i+1 (orderIds repeat), distinct values. */
#define N_MSGS 5
static const char *const KEYS[N_MSGS] = {"101", "102", "101", "103", "102"};
static const char *const VALUES[N_MSGS] = {
    "{\"eventType\":\"Ordered\",\"n\":0,\"name\":\"홍길동\"}",
    "{\"eventType\":\"Ordered\",\"n\":1}",
    "{\"eventType\":\"PaymentApproved\",\"n\":2}",
    "{\"eventType\":\"Ordered\",\"n\":3,\"text\":\"예약이 확정되었습니다\"}",
    "{\"eventType\":\"OrderCanceled\",\"n\":4}",
};

static void publish_range(hc_bus_t *bus, size_t from, size_t to)
{
    hc_bus_msg_t msgs[N_MSGS];
    memset(msgs, 0, sizeof msgs);
    for (size_t i = from; i < to; i++) {
        msgs[i - from].key = (char *)KEYS[i];
        msgs[i - from].value = (char *)VALUES[i];
        msgs[i - from].value_len = strlen(VALUES[i]);
    }
    int rc = hc_bus_publish(bus, msgs, to - from);
    if (rc != 0)
        fail_msg("publish: %d (%s)", rc, hc_strerror(rc));
}

static hc_bus_consumer_t *consumer(hc_bus_t *bus, const char *group)
{
    hc_bus_consumer_t *c = NULL;
    int rc = bus->ops->consumer_open(bus, group, &c);
    if (rc != 0)
        fail_msg("consumer_open(%s): %d (%s)", group, rc, hc_strerror(rc));
    assert_non_null(c);
    return c;
}

/* Polls until want messages arrived (each poll bounded by 1 s, at most 20
 * polls), asserting they are VALUES[first..first+want) with increasing
 * offsets. Returns the offsets through offs (may be NULL). */
static void poll_expect(hc_bus_t *bus, hc_bus_consumer_t *c, size_t first, size_t want,
                        int64_t *offs)
{
    size_t got = 0;
    int64_t last = INT64_MIN;
    for (int round = 0; round < 20 && got < want; round++) {
        hc_bus_msg_t msgs[N_MSGS];
        size_t n = 0;
        memset(msgs, 0, sizeof msgs);
        int rc = bus->ops->poll(c, msgs, want - got, &n, 1000);
        if (rc != 0)
            fail_msg("poll: %d (%s)", rc, hc_strerror(rc));
        assert_true(n <= want - got);
        for (size_t i = 0; i < n; i++) {
            size_t k = first + got + i;
            assert_non_null(msgs[i].key);
            assert_non_null(msgs[i].value);
            assert_string_equal(msgs[i].key, KEYS[k]);
            assert_int_equal(msgs[i].value_len, strlen(VALUES[k]));
            assert_memory_equal(msgs[i].value, VALUES[k], msgs[i].value_len);
            if (msgs[i].offset <= last)
                fail_msg("offset %lld after %lld", (long long)msgs[i].offset, (long long)last);
            last = msgs[i].offset;
            if (offs != NULL)
                offs[got + i] = msgs[i].offset;
        }
        got += n;
        hc_bus_msgs_free(msgs, n);
    }
    if (got != want)
        fail_msg("received %zu of %zu messages", got, want);
}

/* Asserts a poll with a short timeout returns nothing. */
static void poll_expect_none(hc_bus_t *bus, hc_bus_consumer_t *c)
{
    hc_bus_msg_t msgs[N_MSGS];
    size_t n = 99;
    memset(msgs, 0, sizeof msgs);
    assert_int_equal(bus->ops->poll(c, msgs, N_MSGS, &n, 50), 0);
    if (n != 0) {
        hc_bus_msgs_free(msgs, n);
        fail_msg("expected no message, got %zu", n);
    }
}

static void test_poll_in_order(void **state)
{
    fixture_t *f = *state;
    publish_range(f->bus, 0, 2);
    publish_range(f->bus, 2, N_MSGS);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    int64_t offs[N_MSGS];
    poll_expect(f->bus, c, 0, N_MSGS, offs);
    for (size_t i = 1; i < N_MSGS; i++)
        assert_true(offs[i] > offs[i - 1]);
    /* the position advanced in memory: nothing more to read */
    poll_expect_none(f->bus, c);
    f->bus->ops->consumer_close(c);
}

static void test_poll_respects_max(void **state)
{
    fixture_t *f = *state;
    publish_range(f->bus, 0, N_MSGS);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    hc_bus_msg_t msgs[2];
    size_t n = 0;
    memset(msgs, 0, sizeof msgs);
    assert_int_equal(f->bus->ops->poll(c, msgs, 2, &n, 1000), 0);
    assert_true(n >= 1 && n <= 2);
    assert_string_equal(msgs[0].key, KEYS[0]);
    size_t first = n;
    hc_bus_msgs_free(msgs, n);
    /* the next poll continues where the last one stopped */
    poll_expect(f->bus, c, first, N_MSGS - first, NULL);
    f->bus->ops->consumer_close(c);
}

static void test_commit_resume_after_reopen(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, N_MSGS);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, N_MSGS, offs);
    /* only the first three are done */
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[2]}, 1), 0);
    f->bus->ops->consumer_close(c);
    bus_close(f);

    /* restart: the same group resumes after the committed offset, and the
     * two uncommitted messages are delivered again */
    bus_open(f);
    c = consumer(f->bus, "g1");
    int64_t again[2];
    poll_expect(f->bus, c, 3, 2, again);
    assert_true(again[0] == offs[3]);
    assert_true(again[1] == offs[4]);
    poll_expect_none(f->bus, c);
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, again[1]}, 1), 0);
    f->bus->ops->consumer_close(c);
    bus_close(f);

    /* after committing everything, a restart delivers nothing */
    bus_open(f);
    c = consumer(f->bus, "g1");
    poll_expect_none(f->bus, c);
    /* new messages after the restart are delivered */
    publish_range(f->bus, 0, 1);
    poll_expect(f->bus, c, 0, 1, NULL);
    f->bus->ops->consumer_close(c);
}

static void test_uncommitted_redelivered_to_new_consumer(void **state)
{
    fixture_t *f = *state;
    publish_range(f->bus, 0, N_MSGS);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, N_MSGS, NULL);
    /* nothing committed: everything comes again after a restart */
    f->bus->ops->consumer_close(c);
    bus_close(f);
    bus_open(f);
    c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, N_MSGS, NULL);
    f->bus->ops->consumer_close(c);
}

static void test_groups_independent(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, N_MSGS);
    hc_bus_consumer_t *a = consumer(f->bus, "order");
    hc_bus_consumer_t *b = consumer(f->bus, "reservation");
    poll_expect(f->bus, a, 0, N_MSGS, offs);
    assert_int_equal(f->bus->ops->commit(a, &(hc_bus_pos_t){0, offs[N_MSGS - 1]}, 1), 0);
    /* b still sees everything although a committed all */
    poll_expect(f->bus, b, 0, 2, NULL);
    assert_int_equal(f->bus->ops->commit(b, &(hc_bus_pos_t){0, offs[0]}, 1), 0);
    f->bus->ops->consumer_close(a);
    f->bus->ops->consumer_close(b);
    bus_close(f);

    bus_open(f);
    a = consumer(f->bus, "order");
    b = consumer(f->bus, "reservation");
    poll_expect_none(f->bus, a);
    poll_expect(f->bus, b, 1, N_MSGS - 1, NULL);
    /* a third group starts from the beginning */
    hc_bus_consumer_t *g = consumer(f->bus, "notification");
    poll_expect(f->bus, g, 0, N_MSGS, NULL);
    f->bus->ops->consumer_close(g);
    f->bus->ops->consumer_close(a);
    f->bus->ops->consumer_close(b);
}

static void test_poll_timeout_when_empty(void **state)
{
    fixture_t *f = *state;
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    int64_t t0 = hc_test_mono_ms();
    poll_expect_none(f->bus, c);
    int64_t waited = hc_test_mono_ms() - t0;
    /* it waited (no busy loop) but not much past the timeout */
    assert_true(waited >= 40);
    assert_true(waited < 1000);

    /* timeout 0 returns at once */
    hc_bus_msg_t msgs[1];
    size_t n = 99;
    t0 = hc_test_mono_ms();
    assert_int_equal(f->bus->ops->poll(c, msgs, 1, &n, 0), 0);
    assert_int_equal(n, 0);
    assert_true(hc_test_mono_ms() - t0 < 500);
    f->bus->ops->consumer_close(c);
}

static void test_lag(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    assert_int_equal(f->bus->ops->lag(c), 0);
    publish_range(f->bus, 0, N_MSGS);
    assert_int_equal(f->bus->ops->lag(c), N_MSGS);
    poll_expect(f->bus, c, 0, N_MSGS, offs);
    /* polled but not committed still counts */
    assert_int_equal(f->bus->ops->lag(c), N_MSGS);
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[1]}, 1), 0);
    assert_int_equal(f->bus->ops->lag(c), N_MSGS - 2);
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[N_MSGS - 1]}, 1), 0);
    assert_int_equal(f->bus->ops->lag(c), 0);
    /* another group's lag is its own */
    hc_bus_consumer_t *other = consumer(f->bus, "g2");
    assert_int_equal(f->bus->ops->lag(other), N_MSGS);
    f->bus->ops->consumer_close(other);
    f->bus->ops->consumer_close(c);
}

/* A publisher thread that waits (through an empty bounded poll of its own
 * group, the API under test) and then publishes one message. */
typedef struct late_pub {
    hc_bus_t *bus;
    hc_bus_consumer_t *idle;
    int64_t published_at;
    int rc;
} late_pub_t;

static void *late_publisher(void *p)
{
    late_pub_t *lp = p;
    hc_bus_msg_t none[1];
    size_t n = 0;
    lp->rc = lp->bus->ops->poll(lp->idle, none, 1, &n, 100);
    if (lp->rc == 0 && n == 0) {
        hc_bus_msg_t m = {
            .key = (char *)KEYS[0], .value = (char *)VALUES[0], .value_len = strlen(VALUES[0])};
        lp->rc = hc_bus_publish(lp->bus, &m, 1);
        lp->published_at = hc_test_mono_ms();
    } else if (lp->rc == 0) {
        hc_bus_msgs_free(none, n);
        lp->rc = HC_EPROTO;
    }
    return NULL;
}

/* Runs fn(arg) on a thread of its own while c polls for one message (up to
 * timeout_ms), then joins it. Expects KEYS[0] as that message; returns when
 * the poll returned (monotonic ms), and the ms it waited in *waited. */
static int64_t poll_one_beside(fixture_t *f, hc_bus_consumer_t *c, void *(*fn)(void *), void *arg,
                               int timeout_ms, int64_t *waited)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
    hc_bus_msg_t msgs[1];
    size_t n = 0;
    int64_t t0 = hc_test_mono_ms();
    int rc = f->bus->ops->poll(c, msgs, 1, &n, timeout_ms);
    int64_t t1 = hc_test_mono_ms();
    pthread_join(th, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    assert_string_equal(msgs[0].key, KEYS[0]);
    hc_bus_msgs_free(msgs, n);
    *waited = t1 - t0;
    return t1;
}

static void test_poll_wakes_on_publish(void **state)
{
    fixture_t *f = *state;
    late_pub_t lp = {.bus = f->bus, .idle = consumer(f->bus, "idle")};
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    int64_t waited = 0, t1 = poll_one_beside(f, c, late_publisher, &lp, 3000, &waited);
    assert_int_equal(lp.rc, 0);
    /* woken by the publish, not by the 3 s timeout */
    assert_true(waited < 2000);
    assert_true(t1 - lp.published_at < 500);
    f->bus->ops->consumer_close(c);
    f->bus->ops->consumer_close(lp.idle);
}

static void test_publish_honours_value_len(void **state)
{
    fixture_t *f = *state;
    /* value_len is the message length; the bytes after it are not part of it */
    const char buf[] = "{\"n\":1}TRAILING";
    hc_bus_msg_t m = {.key = "7", .value = (char *)buf, .value_len = strlen("{\"n\":1}")};
    assert_int_equal(hc_bus_publish(f->bus, &m, 1), 0);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    hc_bus_msg_t got[1];
    size_t n = 0;
    assert_int_equal(f->bus->ops->poll(c, got, 1, &n, 1000), 0);
    assert_int_equal(n, 1);
    assert_string_equal(got[0].key, "7");
    if (got[0].value_len != m.value_len || memcmp(got[0].value, buf, m.value_len) != 0)
        fail_msg("published %zu bytes \"%.*s\", polled %zu bytes \"%.*s\"", m.value_len,
                 (int)m.value_len, buf, got[0].value_len, (int)got[0].value_len, got[0].value);
    hc_bus_msgs_free(got, n);
    f->bus->ops->consumer_close(c);
}

static void test_topics_independent(void **state)
{
    fixture_t *f = *state;
    hc_bus_t *other = NULL;
    assert_int_equal(hc_bus_log_open(f->dir, "other-topic", "NORMAL", &other), 0);
    publish_range(f->bus, 0, 2);
    publish_range(other, 0, N_MSGS);
    publish_range(f->bus, 2, 3);

    /* each topic's consumers see only that topic, in order */
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    hc_bus_consumer_t *o = consumer(other, "g1");
    assert_int_equal(f->bus->ops->lag(c), 3);
    assert_int_equal(other->ops->lag(o), N_MSGS);
    int64_t offs[3];
    poll_expect(f->bus, c, 0, 3, offs);
    poll_expect_none(f->bus, c);
    poll_expect(other, o, 0, N_MSGS, NULL);
    /* committing in one topic leaves the other's lag alone */
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[2]}, 1), 0);
    assert_int_equal(f->bus->ops->lag(c), 0);
    assert_int_equal(other->ops->lag(o), N_MSGS);
    other->ops->consumer_close(o);
    f->bus->ops->consumer_close(c);
    hc_bus_destroy(other);
}

/* The log is shared by the processes of one host: a consumer in this process
 * wakes when another process appends. */
static void test_other_process_publish_wakes_poll(void **state)
{
    fixture_t *f = *state;
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* child: its own bus; an empty bounded poll delays the append */
        hc_bus_t *bus = NULL;
        hc_bus_consumer_t *idle = NULL;
        hc_bus_msg_t none[1];
        size_t n = 0;
        if (hc_bus_log_open(f->dir, TOPIC, "NORMAL", &bus) != 0)
            _exit(2);
        if (bus->ops->consumer_open(bus, "child-idle", &idle) != 0)
            _exit(3);
        if (bus->ops->poll(idle, none, 1, &n, 150) != 0 || n != 0)
            _exit(4);
        bus->ops->consumer_close(idle);
        hc_bus_msg_t m = {
            .key = (char *)KEYS[0], .value = (char *)VALUES[0], .value_len = strlen(VALUES[0])};
        if (hc_bus_publish(bus, &m, 1) != 0)
            _exit(5);
        hc_bus_destroy(bus);
        _exit(0);
    }
    hc_bus_msg_t msgs[1];
    size_t n = 0;
    int64_t t0 = hc_test_mono_ms();
    int rc = f->bus->ops->poll(c, msgs, 1, &n, 5000);
    int64_t waited = hc_test_mono_ms() - t0;
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(rc, 0);
    /* "*n may be 0 on timeout": an empty return long before the timeout
     * (say, woken by the other process opening the log) breaks that promise */
    if (n == 0)
        fail_msg("poll(timeout 5000 ms) returned no message after %lld ms", (long long)waited);
    assert_int_equal(n, 1);
    assert_string_equal(msgs[0].key, KEYS[0]);
    hc_bus_msgs_free(msgs, n);
    /* woken by the append (~150 ms after the fork), not by the 5 s timeout */
    if (waited >= 2000)
        fail_msg("poll returned after %lld ms", (long long)waited);
    f->bus->ops->consumer_close(c);
}

/* Runs one statement on file (events.db or offsets.db) of the log at dir
 * through a pool of its own, as another process (or an operator) would. */
static void sql_on(const char *dir, const char *file, const char *sql, const hc_val_t *p, size_t n)
{
    char path[600];
    hc_db_t *db = NULL;
    hc_test_path(path, sizeof path, dir, file);
    assert_int_equal(hc_db_open_existing(path, 0, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_exec(c, sql, p, n, NULL);
    hc_db_release(db, c);
    hc_db_destroy(db);
    if (rc != 0)
        fail_msg("%s: %d (%s)", sql, rc, hc_strerror(rc));
}

/* Appenders write a byte to events.lock after each commit, and that wakes
 * the consumers: the WAL's own writes do not (they come before the commit is
 * visible). A record added to events.db without that byte, as a tool might,
 * is still read, at the poll's timeout. */
typedef struct raw_append {
    fixture_t *f;
    hc_bus_consumer_t *idle;
} raw_append_t;

static void *raw_appender(void *p)
{
    raw_append_t *ra = p;
    hc_bus_msg_t none[1];
    size_t n = 0;
    /* an empty bounded poll delays the append */
    if (ra->f->bus->ops->poll(ra->idle, none, 1, &n, 100) == 0 && n > 0)
        hc_bus_msgs_free(none, n);
    sql_on(
        ra->f->dir, "events.db",
        "INSERT INTO events(topic, msg_key, value, appended_at, crc) VALUES (?, ?, ?, ?, ?)",
        HC_PARAMS(HC_TEXT(TOPIC), HC_TEXT(KEYS[0]), HC_TEXT(VALUES[0]), HC_I64(hc_now_ms()),
                  HC_I64(hc_bus_log_crc(KEYS[0], strlen(KEYS[0]), VALUES[0], strlen(VALUES[0])))));
    return NULL;
}

static void test_wakes_on_commit_tick_not_wal_writes(void **state)
{
    fixture_t *f = *state;
    raw_append_t ra = {.f = f, .idle = consumer(f->bus, "idle")};
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    int64_t waited = 0;
    poll_one_beside(f, c, raw_appender, &ra, 800, &waited);
    /* not woken by the raw append's writes: read when the 800 ms passed */
    if (waited < 750)
        fail_msg("poll returned the untold append after %lld ms, before its timeout",
                 (long long)waited);
    /* a publish (commit, then the byte) wakes it at once (the publisher's
     * idle consumer first reads the raw record, so that its wait is empty) */
    hc_bus_msg_t msgs[1];
    size_t n = 0;
    assert_int_equal(f->bus->ops->poll(ra.idle, msgs, 1, &n, 0), 0);
    assert_int_equal(n, 1);
    hc_bus_msgs_free(msgs, n);
    late_pub_t lp = {.bus = f->bus, .idle = ra.idle};
    poll_one_beside(f, c, late_publisher, &lp, 3000, &waited);
    assert_int_equal(lp.rc, 0);
    assert_true(waited < 2000);
    f->bus->ops->consumer_close(c);
    f->bus->ops->consumer_close(ra.idle);
}

/* An integer from events.db of the log at dir. */
static int64_t events_i64(const char *dir, const char *sql, const hc_val_t *p, size_t n)
{
    char path[600];
    hc_db_t *db = NULL;
    int64_t v = -1;
    hc_test_path(path, sizeof path, dir, "events.db");
    assert_int_equal(hc_db_open_existing(path, 1, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_query_i64(c, sql, p, n, &v);
    hc_db_release(db, c);
    hc_db_destroy(db);
    if (rc != 0)
        fail_msg("%s: %d (%s)", sql, rc, hc_strerror(rc));
    return v;
}

/* Asserts the next poll stops with reason at offset, returning nothing. */
static void poll_expect_fault(hc_bus_t *bus, hc_bus_consumer_t *c, const char *reason,
                              int64_t offset, const char *detail_part)
{
    hc_bus_msg_t msgs[N_MSGS];
    size_t n = 99;
    int rc = bus->ops->poll(c, msgs, N_MSGS, &n, 50);
    if (rc == 0)
        hc_bus_msgs_free(msgs, n);
    if (rc != HC_ECORRUPT)
        fail_msg("poll: %d (%s) with %zu messages, expected HC_ECORRUPT", rc, hc_strerror(rc), n);
    assert_int_equal(n, 0);
    hc_bus_fault_t fault;
    assert_int_equal(bus->ops->fault(c, &fault), 1);
    assert_string_equal(fault.reason, reason);
    assert_int_equal(fault.offset, offset);
    if (detail_part && !strstr(fault.detail, detail_part))
        fail_msg("fault detail \"%s\" lacks \"%s\"", fault.detail, detail_part);
}

static void test_records_carry_checksum(void **state)
{
    fixture_t *f = *state;
    publish_range(f->bus, 0, N_MSGS);
    for (size_t i = 0; i < N_MSGS; i++) {
        int64_t crc = events_i64(f->dir, "SELECT crc FROM events WHERE msg_key = ? AND value = ?",
                                 HC_PARAMS(HC_TEXT(KEYS[i]), HC_TEXT(VALUES[i])));
        assert_int_equal(
            crc, (int64_t)hc_bus_log_crc(KEYS[i], strlen(KEYS[i]), VALUES[i], strlen(VALUES[i])));
    }
    /* key and value both count, and where one ends */
    assert_int_not_equal(hc_bus_log_crc("1", 1, "23", 2), hc_bus_log_crc("12", 2, "3", 1));
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    hc_bus_fault_t fault;
    assert_int_equal(f->bus->ops->fault(c, &fault), 0);
    f->bus->ops->consumer_close(c);
}

static void test_checksum_mismatch_stops_without_skipping(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, N_MSGS);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, 1, offs);
    /* one byte of record 3's value changes on disk; its checksum stays */
    hc_bus_consumer_t *probe = consumer(f->bus, "probe");
    poll_expect(f->bus, probe, 0, N_MSGS, offs);
    f->bus->ops->consumer_close(probe);
    sql_on(f->dir, "events.db",
           "UPDATE events SET value = replace(value, '\"n\":2', '\"n\":3') WHERE pos = ?",
           HC_PARAMS(HC_I64(offs[2])));

    /* the good record before it is handed out, then the consumer stops at it,
     * poll after poll: never past it */
    poll_expect(f->bus, c, 1, 1, NULL);
    for (int i = 0; i < 3; i++)
        poll_expect_fault(f->bus, c, HC_BUS_CORRUPT_RECORD, offs[2], "checksum mismatch");
    /* a consumer opened now stops at the same record */
    hc_bus_consumer_t *late = consumer(f->bus, "g2");
    poll_expect(f->bus, late, 0, 2, NULL);
    poll_expect_fault(f->bus, late, HC_BUS_CORRUPT_RECORD, offs[2], "checksum mismatch");

    /* the record reads right again: both go on from exactly there */
    sql_on(f->dir, "events.db", "UPDATE events SET value = ? WHERE pos = ?",
           HC_PARAMS(HC_TEXT(VALUES[2]), HC_I64(offs[2])));
    poll_expect(f->bus, c, 2, N_MSGS - 2, NULL);
    hc_bus_fault_t fault;
    assert_int_equal(f->bus->ops->fault(c, &fault), 0);
    poll_expect(f->bus, late, 2, N_MSGS - 2, NULL);
    f->bus->ops->consumer_close(late);
    f->bus->ops->consumer_close(c);
}

static void test_corrupt_key_detected(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, 2);
    hc_bus_consumer_t *c = consumer(f->bus, "probe");
    poll_expect(f->bus, c, 0, 2, offs);
    f->bus->ops->consumer_close(c);
    sql_on(f->dir, "events.db", "UPDATE events SET msg_key = '999' WHERE pos = ?",
           HC_PARAMS(HC_I64(offs[0])));
    c = consumer(f->bus, "g1");
    poll_expect_fault(f->bus, c, HC_BUS_CORRUPT_RECORD, offs[0], "checksum");
    f->bus->ops->consumer_close(c);
}

/* The first schema of events.db, before records had checksums. */
static const hc_migration_t V1[] = {
    {1, "CREATE TABLE IF NOT EXISTS events (pos INTEGER PRIMARY KEY AUTOINCREMENT,"
        " topic TEXT NOT NULL, msg_key TEXT NOT NULL, value TEXT NOT NULL,"
        " appended_at INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS events_topic_pos ON events(topic, pos);"},
};

static void test_rows_from_before_checksums_are_read(void **state)
{
    fixture_t *f = *state;
    char dir[512], path[600];
    hc_test_path(dir, sizeof dir, f->dir, "old");
    assert_int_equal(mkdir(dir, 0700), 0);
    hc_test_path(path, sizeof path, dir, "events.db");
    hc_db_t *db = NULL;
    assert_int_equal(hc_db_open(path, "NORMAL", V1, 1, &db), 0);
    hc_conn_t *conn = hc_db_acquire(db);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(hc_conn_exec(conn,
                                      "INSERT INTO events(topic, msg_key, value, appended_at)"
                                      " VALUES (?, ?, ?, ?)",
                                      HC_PARAMS(HC_TEXT(TOPIC), HC_TEXT(KEYS[i]),
                                                HC_TEXT(VALUES[i]), HC_I64(hc_now_ms())),
                                      NULL),
                         0);
    hc_db_release(db, conn);
    hc_db_destroy(db);

    /* the upgrade adds the column; the old rows are read unverified */
    hc_bus_t *bus = NULL;
    assert_int_equal(hc_bus_log_open(dir, TOPIC, "NORMAL", &bus), 0);
    assert_int_equal(events_i64(dir, "SELECT MAX(version) FROM schema_version", HC_NOPARAMS), 2);
    assert_int_equal(events_i64(dir, "SELECT COUNT(*) FROM events WHERE crc IS NULL", HC_NOPARAMS),
                     2);
    publish_range(bus, 2, 3);
    assert_int_equal(events_i64(dir, "SELECT COUNT(*) FROM events WHERE crc IS NULL", HC_NOPARAMS),
                     2);
    hc_bus_consumer_t *c = consumer(bus, "g1");
    poll_expect(bus, c, 0, 3, NULL);
    poll_expect_none(bus, c);
    bus->ops->consumer_close(c);
    hc_bus_destroy(bus);
}

static void test_offset_beyond_end_at_open(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, 3);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, 3, offs);
    /* the committed offset says 100 events were done; the log holds 3 */
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[2] + 97}, 1), 0);
    f->bus->ops->consumer_close(c);
    c = consumer(f->bus, "g1");
    for (int i = 0; i < 2; i++)
        poll_expect_fault(f->bus, c, HC_BUS_OFFSET_BEYOND_END, offs[2] + 97, "log ends at");
    assert_int_equal(f->bus->ops->lag(c), 0);

    /* an operator sets the offset back into the log: reading goes on from
     * there, nothing after it skipped */
    sql_on(f->dir, "offsets.db", "UPDATE consumer_offsets SET committed = ? WHERE grp = 'g1'",
           HC_PARAMS(HC_I64(offs[0])));
    poll_expect(f->bus, c, 1, 2, NULL);
    poll_expect_none(f->bus, c);
    f->bus->ops->consumer_close(c);
}

static void test_offset_beyond_end_stays_stopped_when_log_grows(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, 2);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, 2, offs);
    int64_t beyond = offs[1] + 3;
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, beyond}, 1), 0);
    f->bus->ops->consumer_close(c);
    c = consumer(f->bus, "g1");
    poll_expect_fault(f->bus, c, HC_BUS_OFFSET_BEYOND_END, beyond, NULL);
    /* new appends reach the offset: resuming at it would skip them */
    publish_range(f->bus, 0, N_MSGS);
    for (int i = 0; i < 2; i++)
        poll_expect_fault(f->bus, c, HC_BUS_OFFSET_BEYOND_END, beyond, "grown");
    /* reset to the last good offset: everything after it comes, in order */
    sql_on(f->dir, "offsets.db", "UPDATE consumer_offsets SET committed = ? WHERE grp = 'g1'",
           HC_PARAMS(HC_I64(offs[1])));
    poll_expect(f->bus, c, 0, N_MSGS, NULL);
    f->bus->ops->consumer_close(c);
}

static void test_replaced_log_found_when_idle_and_restored(void **state)
{
    fixture_t *f = *state;
    int64_t offs[N_MSGS];
    publish_range(f->bus, 0, 3);
    hc_bus_consumer_t *c = consumer(f->bus, "g1");
    poll_expect(f->bus, c, 0, 3, offs);
    assert_int_equal(f->bus->ops->commit(c, &(hc_bus_pos_t){0, offs[2]}, 1), 0);
    poll_expect_none(f->bus, c);
    int64_t appended = events_i64(f->dir, "SELECT appended_at FROM events WHERE pos = ?",
                                  HC_PARAMS(HC_I64(offs[2])));
    /* the log's records vanish under the running consumer (events.db replaced) */
    sql_on(f->dir, "events.db", "DELETE FROM events", HC_NOPARAMS);
    /* found by the idle check within a few seconds */
    int rc = 0;
    int64_t t0 = hc_test_mono_ms();
    while (rc == 0 && hc_test_mono_ms() - t0 < 8000) {
        hc_bus_msg_t msgs[1];
        size_t n = 0;
        rc = f->bus->ops->poll(c, msgs, 1, &n, 100);
        if (rc == 0)
            assert_int_equal(n, 0);
    }
    assert_int_equal(rc, HC_ECORRUPT);
    hc_bus_fault_t fault;
    assert_int_equal(f->bus->ops->fault(c, &fault), 1);
    assert_string_equal(fault.reason, HC_BUS_OFFSET_BEYOND_END);
    assert_int_equal(fault.offset, offs[2]);

    /* the old file comes back (same records, appended before the stop) */
    for (size_t i = 0; i < 3; i++)
        sql_on(f->dir, "events.db",
               "INSERT INTO events(pos, topic, msg_key, value, appended_at, crc) VALUES (?, ?, ?, "
               "?, ?, ?)",
               HC_PARAMS(
                   HC_I64(offs[i]), HC_TEXT(TOPIC), HC_TEXT(KEYS[i]), HC_TEXT(VALUES[i]),
                   HC_I64(appended),
                   HC_I64(hc_bus_log_crc(KEYS[i], strlen(KEYS[i]), VALUES[i], strlen(VALUES[i])))));
    poll_expect_none(f->bus, c);
    assert_int_equal(f->bus->ops->fault(c, &fault), 0);
    publish_range(f->bus, 3, 4);
    poll_expect(f->bus, c, 3, 1, NULL);
    f->bus->ops->consumer_close(c);
}

static void test_health_of_a_fresh_log(void **state)
{
    fixture_t *f = *state;
    char why[256] = "unset";
    assert_int_equal(hc_bus_health(f->bus, why, sizeof why), 0);
    assert_string_equal(why, "");
}

static void test_bus_open_by_kind(void **state)
{
    fixture_t *f = *state;
    hc_bus_t *bus = NULL;
    char sub[512];
    hc_test_path(sub, sizeof sub, f->dir, "data");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(hc_bus_open("log", sub, TOPIC, "NORMAL", &bus), 0);
    assert_non_null(bus);
    assert_string_equal(bus->topic, TOPIC);
    hc_bus_destroy(bus);
    bus = NULL;
    assert_true(hc_bus_open("carrier-pigeon", sub, TOPIC, "NORMAL", &bus) < 0);
    hc_bus_destroy(NULL);
}

int main(void)
{
    hc_log_init("test_bus_log", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_poll_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_respects_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_resume_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_redelivered_to_new_consumer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_groups_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_timeout_when_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_wakes_on_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_honours_value_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topics_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_process_publish_wakes_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wakes_on_commit_tick_not_wal_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_open_by_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_carry_checksum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksum_mismatch_stops_without_skipping, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_key_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_from_before_checksums_are_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_beyond_end_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_beyond_end_stays_stopped_when_log_grows, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replaced_log_found_when_idle_and_restored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_of_a_fresh_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
