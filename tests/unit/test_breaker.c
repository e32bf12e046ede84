/* Checks hc_breaker: every state transition of the circuit breaker with the
 * issue's settings (CLOSED -> OPEN on the failure rate and on the slow-call
 * rate, never before the minimum number of calls; OPEN refusing until its
 * wait has passed; HALF_OPEN permitting exactly its trial calls and closing
 * or opening again by their outcome), the sliding window, calls from an
 * earlier state period, the health and metrics shapes, the bulkhead's limit,
 * and both under concurrent threads. The clock is the test's. */
#include "hc_test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "hc_breaker.h"
#include "hc_buf.h"
#include "hc_err.h"
#include "hc_metrics.h"

#define T0 1000000 /* the test's clock starts here, ms */
#define SLOW_MS 610
#define WAIT_MS 5000

/* The defaults: window 20, minimum 10, 50 % failures, slow calls
 * above 610 ms at 100 %, OPEN for 5 s, 3 trial calls. */
static hc_breaker_config_t defaults(void)
{
    return (hc_breaker_config_t){
        .sliding_window_size = 20,
        .minimum_number_of_calls = 10,
        .failure_rate_threshold = 50,
        .slow_call_rate_threshold = 100,
        .slow_call_duration_threshold_ms = SLOW_MS,
        .wait_duration_in_open_state_ms = WAIT_MS,
        .permitted_number_of_calls_in_half_open_state = 3,
    };
}

/* The state changes a breaker reported, in order. */
typedef struct changes {
    int n;
    hc_breaker_state_t from[16], to[16];
} changes_t;

static void note_change(void *ud, const char *name, hc_breaker_state_t from, hc_breaker_state_t to,
                        const hc_breaker_snapshot_t *snap)
{
    changes_t *c = ud;
    assert_string_equal(name, "payment");
    assert_int_equal(snap->state, to);
    if (c->n < 16) {
        c->from[c->n] = from;
        c->to[c->n] = to;
    }
    c->n++;
}

static hc_breaker_state_t state_at(hc_breaker_t *b, int64_t now)
{
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, now, &s);
    return s.state;
}

/* One call at now that takes ms and fails or not; asserts it was permitted. */
static void call(hc_breaker_t *b, int64_t now, int64_t ms, int failed)
{
    hc_breaker_permit_t p;
    assert_int_equal(hc_breaker_acquire(b, now, &p, NULL), 0);
    hc_breaker_record(b, &p, now + ms, ms, failed);
}

/* Opens b (defaults) at now with ten failures; returns when it opened. */
static int64_t open_it(hc_breaker_t *b, int64_t now)
{
    for (int i = 0; i < 10; i++)
        call(b, now, 5, 1);
    assert_int_equal(state_at(b, now + 5), HC_BREAKER_OPEN);
    return now + 5;
}

static void test_not_before_the_minimum_number_of_calls(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    for (int i = 0; i < 9; i++)
        call(b, T0, 5, 1);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    assert_int_equal(s.buffered_calls, 9);
    assert_int_equal(s.failed_calls, 9);
    assert_true(s.failure_rate == -1.0f); /* 9 of 9 failed, but below the minimum */
    call(b, T0, 5, 1);                    /* the tenth */
    hc_breaker_snapshot(b, T0 + 5, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_true(s.failure_rate == 100.0f);
    hc_breaker_destroy(b);
}

static void test_closed_to_open_on_the_failure_rate(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    changes_t ch = {0};
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, note_change, &ch);
    /* 6 answers and 4 failures: 40 %, stays CLOSED. */
    for (int i = 0; i < 10; i++)
        call(b, T0, 5, i % 5 < 2);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    assert_true(s.failure_rate == 40.0f);
    assert_int_equal(ch.n, 0);
    /* Two more failures: 6 of 12 = 50 %, at the threshold: OPEN. */
    call(b, T0, 5, 1);
    assert_int_equal(state_at(b, T0), HC_BREAKER_CLOSED); /* 5 of 11 */
    call(b, T0, 5, 1);
    hc_breaker_snapshot(b, T0 + 5, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_true(s.failure_rate == 50.0f);
    assert_int_equal(s.buffered_calls, 12);
    assert_int_equal(s.failed_calls, 6);
    assert_int_equal(ch.n, 1);
    assert_int_equal(ch.from[0], HC_BREAKER_CLOSED);
    assert_int_equal(ch.to[0], HC_BREAKER_OPEN);
    hc_breaker_destroy(b);
}

static void test_closed_to_open_on_the_slow_call_rate(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    cfg.slow_call_rate_threshold = 50;
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    /* Every call answers (no failure); exactly the threshold is not slow. */
    for (int i = 0; i < 10; i++)
        call(b, T0, i < 5 ? SLOW_MS : SLOW_MS / 2, 0);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    assert_int_equal(s.slow_calls, 0);
    assert_true(s.slow_call_rate == 0.0f);
    /* Ten slow answers: 10 of 20 slow = 50 %: OPEN, with no failure at all. */
    for (int i = 0; i < 9; i++)
        call(b, T0, SLOW_MS + 1, 0);
    assert_int_equal(state_at(b, T0), HC_BREAKER_CLOSED);
    call(b, T0, SLOW_MS + 1, 0);
    hc_breaker_snapshot(b, T0 + SLOW_MS, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_int_equal(s.failed_calls, 0);
    assert_int_equal(s.slow_calls, 10);
    assert_true(s.slow_call_rate == 50.0f);
    assert_true(s.failure_rate == 0.0f);
    hc_breaker_destroy(b);
}

static void test_slow_failures_count_as_both(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    call(b, T0, SLOW_MS + 100, 1); /* a timeout: slow and failed */
    call(b, T0, SLOW_MS + 100, 0); /* a slow answer */
    call(b, T0, 5, 1);             /* could not connect: quick and failed */
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.buffered_calls, 3);
    assert_int_equal(s.failed_calls, 2);
    assert_int_equal(s.successful_calls, 1);
    assert_int_equal(s.slow_calls, 2);
    assert_int_equal(s.slow_failed_calls, 1);
    hc_breaker_destroy(b);
}

static void test_the_window_slides(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    /* 9 failures among 20 answers would be 9 of 29 counted forever; the
     * window keeps the last 20. */
    for (int i = 0; i < 20; i++)
        call(b, T0, 5, 0);
    for (int i = 0; i < 9; i++)
        call(b, T0, 5, 1);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.buffered_calls, 20);
    assert_int_equal(s.failed_calls, 9);
    assert_true(s.failure_rate == 45.0f);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    /* The tenth failure pushes an answer out: 10 of the last 20. */
    call(b, T0, 5, 1);
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_int_equal(s.buffered_calls, 20);
    assert_true(s.failure_rate == 50.0f);
    hc_breaker_destroy(b);
}

static void test_failures_slide_out(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    for (int i = 0; i < 4; i++)
        call(b, T0, 5, 1);
    for (int i = 0; i < 16; i++)
        call(b, T0, 5, 0); /* 4 of 20 failed: 20 % */
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.failed_calls, 4);
    for (int i = 0; i < 3; i++)
        call(b, T0, 5, 0);
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.failed_calls, 1); /* the oldest three are out */
    call(b, T0, 5, 0);
    hc_breaker_snapshot(b, T0, &s);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    assert_int_equal(s.buffered_calls, 20);
    assert_int_equal(s.failed_calls, 0);
    assert_true(s.failure_rate == 0.0f);
    hc_breaker_destroy(b);
}

static void test_open_refuses_until_the_wait_has_passed(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    changes_t ch = {0};
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, note_change, &ch);
    int64_t opened = open_it(b, T0);
    hc_breaker_permit_t p;
    int64_t retry = -1;
    assert_int_equal(hc_breaker_acquire(b, opened, &p, &retry), HC_EUNAVAIL);
    assert_int_equal(retry, WAIT_MS);
    assert_int_equal(hc_breaker_acquire(b, opened + WAIT_MS - 1, &p, &retry), HC_EUNAVAIL);
    assert_int_equal(retry, 1);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, opened + 1000, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_int_equal(s.not_permitted_calls, 2);
    assert_int_equal(s.not_permitted_total, 2);
    assert_int_equal(s.retry_after_ms, WAIT_MS - 1000);
    /* The window that opened it is still shown. */
    assert_int_equal(s.buffered_calls, 10);
    assert_true(s.failure_rate == 100.0f);
    /* The wait has passed: the next call is a trial, HALF_OPEN. */
    assert_int_equal(hc_breaker_acquire(b, opened + WAIT_MS, &p, &retry), 0);
    hc_breaker_snapshot(b, opened + WAIT_MS, &s);
    assert_int_equal(s.state, HC_BREAKER_HALF_OPEN);
    assert_int_equal(s.buffered_calls, 0);
    assert_int_equal(s.not_permitted_calls, 0); /* counted per state, as Resilience4j does */
    assert_int_equal(s.not_permitted_total, 2); /* the metric never goes back */
    assert_int_equal(ch.n, 2);
    assert_int_equal(ch.to[1], HC_BREAKER_HALF_OPEN);
    hc_breaker_destroy(b);
}

static void test_open_becomes_half_open_by_itself(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    int64_t opened = open_it(b, T0);
    /* No call needed: a look at it (health, metrics) after the wait sees
     * HALF_OPEN, as with Resilience4j's automatic transition. */
    assert_int_equal(state_at(b, opened + WAIT_MS - 1), HC_BREAKER_OPEN);
    assert_int_equal(state_at(b, opened + WAIT_MS), HC_BREAKER_HALF_OPEN);
    hc_breaker_destroy(b);
}

static void test_half_open_permits_exactly_its_trial_calls(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    int64_t t = open_it(b, T0) + WAIT_MS;
    hc_breaker_permit_t p[4];
    int64_t retry = -1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(hc_breaker_acquire(b, t, &p[i], &retry), 0);
    assert_int_equal(hc_breaker_acquire(b, t, &p[3], &retry), HC_EUNAVAIL);
    assert_int_equal(retry, 0); /* no wait to announce: the trials are running */
    /* A trial that was not made gives its place back. */
    hc_breaker_release(b, &p[2]);
    assert_int_equal(hc_breaker_acquire(b, t, &p[2], NULL), 0);
    assert_int_equal(hc_breaker_acquire(b, t, &p[3], NULL), HC_EUNAVAIL);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, t, &s);
    assert_int_equal(s.state, HC_BREAKER_HALF_OPEN);
    assert_int_equal(s.not_permitted_calls, 2);
    /* Two answers: not yet a verdict (3 trials). */
    hc_breaker_record(b, &p[0], t + 5, 5, 0);
    hc_breaker_record(b, &p[1], t + 5, 5, 0);
    assert_int_equal(state_at(b, t + 5), HC_BREAKER_HALF_OPEN);
    assert_int_equal(hc_breaker_acquire(b, t + 5, &p[3], NULL), HC_EUNAVAIL);
    hc_breaker_destroy(b);
}

static void test_half_open_to_closed_when_the_trials_answer(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    changes_t ch = {0};
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, note_change, &ch);
    int64_t t = open_it(b, T0) + WAIT_MS;
    /* One failure of three is 33 %: below 50 %, CLOSED. */
    call(b, t, 5, 0);
    call(b, t, 5, 1);
    assert_int_equal(state_at(b, t), HC_BREAKER_HALF_OPEN);
    call(b, t, 5, 0);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, t + 5, &s);
    assert_int_equal(s.state, HC_BREAKER_CLOSED);
    assert_int_equal(s.buffered_calls, 0); /* a fresh window */
    assert_true(s.failure_rate == -1.0f);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.from[2], HC_BREAKER_HALF_OPEN);
    assert_int_equal(ch.to[2], HC_BREAKER_CLOSED);
    /* CLOSED again: nine failures do not open it, the tenth does. */
    for (int i = 0; i < 9; i++)
        call(b, t + 10, 5, 1);
    assert_int_equal(state_at(b, t + 20), HC_BREAKER_CLOSED);
    call(b, t + 20, 5, 1);
    assert_int_equal(state_at(b, t + 30), HC_BREAKER_OPEN);
    hc_breaker_destroy(b);
}

static void test_half_open_to_open_when_the_trials_fail(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    changes_t ch = {0};
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, note_change, &ch);
    int64_t t = open_it(b, T0) + WAIT_MS;
    /* Two of three fail (66 %): OPEN again, for a whole new wait. */
    call(b, t, SLOW_MS + 1, 1);
    call(b, t, 5, 0);
    call(b, t, SLOW_MS + 1, 1);
    int64_t reopened = t + SLOW_MS + 1;
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, reopened, &s);
    assert_int_equal(s.state, HC_BREAKER_OPEN);
    assert_int_equal(s.buffered_calls, 3); /* the trials that reopened it */
    assert_int_equal(s.failed_calls, 2);
    assert_int_equal(ch.n, 3);
    assert_int_equal(ch.from[2], HC_BREAKER_HALF_OPEN);
    assert_int_equal(ch.to[2], HC_BREAKER_OPEN);
    hc_breaker_permit_t p;
    int64_t retry = 0;
    assert_int_equal(hc_breaker_acquire(b, reopened + WAIT_MS - 1, &p, &retry), HC_EUNAVAIL);
    assert_int_equal(retry, 1);
    assert_int_equal(hc_breaker_acquire(b, reopened + WAIT_MS, &p, NULL), 0);
    assert_int_equal(state_at(b, reopened + WAIT_MS), HC_BREAKER_HALF_OPEN);
    hc_breaker_destroy(b);
}

static void test_half_open_opens_on_slow_trials(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    cfg.slow_call_rate_threshold = 50;
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    int64_t t = open_it(b, T0) + WAIT_MS;
    for (int i = 0; i < 3; i++)
        call(b, t, SLOW_MS + 1, 0); /* answered, but slowly */
    assert_int_equal(state_at(b, t + SLOW_MS + 1), HC_BREAKER_OPEN);
    hc_breaker_destroy(b);
}

static void test_a_call_from_an_earlier_state_does_not_count(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    hc_breaker_permit_t early;
    assert_int_equal(hc_breaker_acquire(b, T0, &early, NULL), 0); /* while CLOSED */
    int64_t t = open_it(b, T0) + WAIT_MS;
    /* HALF_OPEN now; the early call ends with a failure: not a trial. */
    call(b, t, 5, 0);
    hc_breaker_record(b, &early, t, WAIT_MS, 1);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, t, &s);
    assert_int_equal(s.state, HC_BREAKER_HALF_OPEN);
    assert_int_equal(s.buffered_calls, 1);
    assert_int_equal(s.failed_calls, 0);
    /* Nor does its release give back a trial call. */
    hc_breaker_release(b, &early);
    hc_breaker_permit_t p[3];
    assert_int_equal(hc_breaker_acquire(b, t, &p[0], NULL), 0);
    assert_int_equal(hc_breaker_acquire(b, t, &p[1], NULL), 0);
    assert_int_equal(hc_breaker_acquire(b, t, &p[2], NULL), HC_EUNAVAIL);
    hc_breaker_destroy(b);
}

static void test_minimum_above_the_window(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    cfg.sliding_window_size = 4;
    cfg.minimum_number_of_calls = 100; /* Resilience4j: at most the window */
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    call(b, T0, 5, 1);
    call(b, T0, 5, 0);
    call(b, T0, 5, 0);
    assert_int_equal(state_at(b, T0), HC_BREAKER_CLOSED);
    call(b, T0, 5, 1); /* 2 of 4 */
    assert_int_equal(state_at(b, T0), HC_BREAKER_OPEN);
    hc_breaker_destroy(b);
}

static void test_settings_out_of_range_are_refused(void **state)
{
    (void)state;
    hc_breaker_config_t ok = defaults(), c;
    c = ok, c.sliding_window_size = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.minimum_number_of_calls = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.failure_rate_threshold = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.failure_rate_threshold = 101;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.slow_call_rate_threshold = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.slow_call_duration_threshold_ms = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.wait_duration_in_open_state_ms = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    c = ok, c.permitted_number_of_calls_in_half_open_state = 0;
    assert_null(hc_breaker_create("payment", &c, NULL, NULL));
    assert_null(hc_bulkhead_create("payment", 0));
    hc_breaker_destroy(NULL);
    hc_bulkhead_destroy(NULL);
}

static void test_health_shows_what_resilience4j_shows(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    hc_breaker_t *b = hc_breaker_create("payment", &cfg, NULL, NULL);
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, T0, &s);
    json_t *j = hc_breaker_health_json(&s);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"bufferedCalls\":0,\"failedCalls\":0,\"failureRate\":\"-1.0%\","
                              "\"failureRateThreshold\":\"50.0%\",\"notPermittedCalls\":0,"
                              "\"slowCallRate\":\"-1.0%\",\"slowCallRateThreshold\":\"100.0%\","
                              "\"slowCalls\":0,\"slowFailedCalls\":0,\"state\":\"CLOSED\","
                              "\"status\":\"UP\"}");
    free(text);
    json_decref(j);
    int64_t opened = open_it(b, T0);
    hc_breaker_permit_t p;
    assert_int_equal(hc_breaker_acquire(b, opened, &p, NULL), HC_EUNAVAIL);
    hc_breaker_snapshot(b, opened, &s);
    j = hc_breaker_health_json(&s);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "CIRCUIT_OPEN");
    assert_string_equal(json_string_value(json_object_get(j, "state")), "OPEN");
    assert_string_equal(json_string_value(json_object_get(j, "failureRate")), "100.0%");
    assert_int_equal(json_integer_value(json_object_get(j, "bufferedCalls")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "failedCalls")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "notPermittedCalls")), 1);
    json_decref(j);
    assert_string_equal(hc_breaker_health_status(HC_BREAKER_HALF_OPEN), "CIRCUIT_HALF_OPEN");
    assert_string_equal(hc_breaker_state_name(HC_BREAKER_HALF_OPEN), "HALF_OPEN");
    hc_breaker_destroy(b);
}

/* hc_metrics_text_cb for the metrics test: the breaker and bulkhead in ud. */
typedef struct pair {
    hc_breaker_t *b;
    hc_bulkhead_t *h;
    int64_t now;
} pair_t;

static void render_pair(hc_buf_t *out, const char *service, void *ud)
{
    pair_t *p = ud;
    hc_breaker_metrics(p->b, p->now, out, service);
    hc_bulkhead_metrics(p->h, out, service);
}

static void test_metrics_have_resilience4j_names(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    /* static: the metrics registry keeps the pointer after the test */
    static pair_t p;
    p = (pair_t){hc_breaker_create("payment", &cfg, NULL, NULL), hc_bulkhead_create("payment", 3),
                 T0};
    p.now = open_it(p.b, T0);
    hc_breaker_permit_t permit;
    assert_int_equal(hc_breaker_acquire(p.b, p.now, &permit, NULL), HC_EUNAVAIL);
    assert_int_equal(hc_bulkhead_acquire(p.h), 0);
    hc_metrics_add_text(render_pair, &p);
    hc_buf_t buf;
    hc_buf_init(&buf, 1 << 20);
    hc_metrics_render(&buf, "order"); /* through the registry, as /metrics does */
    const char *t = hc_buf_str(&buf);
    static const char *const want[] = {
        "# TYPE resilience4j_circuitbreaker_state gauge\n",
        "resilience4j_circuitbreaker_state{service=\"order\",name=\"payment\",state=\"closed\"} "
        "0\n",
        "resilience4j_circuitbreaker_state{service=\"order\",name=\"payment\",state=\"open\"} 1\n",
        "resilience4j_circuitbreaker_state{service=\"order\",name=\"payment\",state=\"half_open\"} "
        "0\n",
        "# HELP resilience4j_circuitbreaker_failure_rate ",
        "resilience4j_circuitbreaker_failure_rate{service=\"order\",name=\"payment\"} 100.0\n",
        "resilience4j_circuitbreaker_slow_call_rate{service=\"order\",name=\"payment\"} 0.0\n",
        "resilience4j_circuitbreaker_buffered_calls{service=\"order\",name=\"payment\","
        "kind=\"failed\"} 10\n",
        "resilience4j_circuitbreaker_buffered_calls{service=\"order\",name=\"payment\","
        "kind=\"successful\"} 0\n",
        "# TYPE resilience4j_circuitbreaker_not_permitted_calls_total counter\n",
        "resilience4j_circuitbreaker_not_permitted_calls_total{service=\"order\",name=\"payment\","
        "kind=\"not_permitted\"} 1\n",
        "resilience4j_bulkhead_available_concurrent_calls{service=\"order\",name=\"payment\"} 2\n",
        "resilience4j_bulkhead_max_allowed_concurrent_calls{service=\"order\",name=\"payment\"} "
        "3\n",
        "hc_bulkhead_rejected_calls_total{service=\"order\",name=\"payment\"} 0\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(t, want[i]))
            fail_msg("missing from /metrics: %s\n%s", want[i], t);
    hc_buf_cleanup(&buf);
    hc_bulkhead_release(p.h);
    hc_breaker_destroy(p.b);
    hc_bulkhead_destroy(p.h);
}

static void test_bulkhead_refuses_beyond_its_places(void **state)
{
    (void)state;
    hc_bulkhead_t *h = hc_bulkhead_create("payment", 2);
    assert_int_equal(hc_bulkhead_available(h), 2);
    assert_int_equal(hc_bulkhead_acquire(h), 0);
    assert_int_equal(hc_bulkhead_acquire(h), 0);
    assert_int_equal(hc_bulkhead_available(h), 0);
    assert_int_equal(hc_bulkhead_acquire(h), HC_EBUSY); /* at once: no waiting */
    assert_int_equal(hc_bulkhead_rejected(h), 1);
    hc_bulkhead_release(h);
    assert_int_equal(hc_bulkhead_available(h), 1);
    assert_int_equal(hc_bulkhead_acquire(h), 0);
    hc_bulkhead_release(h);
    hc_bulkhead_release(h);
    hc_bulkhead_release(h); /* one too many is ignored */
    assert_int_equal(hc_bulkhead_available(h), 2);
    hc_bulkhead_destroy(h);
}

/* ---- under concurrent threads ---- */

#define THREADS 8
#define ROUNDS 2000
#define PLACES 3

typedef struct shared {
    hc_breaker_t *b;
    hc_bulkhead_t *h;
    atomic_int inside;    /* calls holding a bulkhead place now */
    atomic_int most;      /* the most seen at once */
    atomic_int permitted; /* breaker permits */
    atomic_int refused;   /* bulkhead refusals */
    atomic_int recorded;  /* outcomes recorded */
} shared_t;

static void *hammer(void *arg)
{
    shared_t *s = arg;
    for (int i = 0; i < ROUNDS; i++) {
        hc_breaker_permit_t p;
        if (hc_breaker_acquire(s->b, T0, &p, NULL) != 0)
            continue;
        atomic_fetch_add(&s->permitted, 1);
        if (hc_bulkhead_acquire(s->h) != 0) {
            atomic_fetch_add(&s->refused, 1);
            hc_breaker_release(s->b, &p);
            continue;
        }
        int n = atomic_fetch_add(&s->inside, 1) + 1;
        for (int m = atomic_load(&s->most);
             n > m && !atomic_compare_exchange_weak(&s->most, &m, n);)
            ;
        atomic_fetch_sub(&s->inside, 1);
        hc_bulkhead_release(s->h);
        hc_breaker_record(s->b, &p, T0, 1, 0);
        atomic_fetch_add(&s->recorded, 1);
    }
    return NULL;
}

static void test_concurrent_calls_keep_the_counts(void **state)
{
    (void)state;
    hc_breaker_config_t cfg = defaults();
    shared_t s = {.b = hc_breaker_create("payment", &cfg, NULL, NULL),
                  .h = hc_bulkhead_create("payment", PLACES)};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &s), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    /* Every answer succeeded: CLOSED, every call permitted, a full window. */
    hc_breaker_snapshot_t snap;
    hc_breaker_snapshot(s.b, T0, &snap);
    assert_int_equal(snap.state, HC_BREAKER_CLOSED);
    assert_int_equal(atomic_load(&s.permitted), THREADS * ROUNDS);
    assert_int_equal(atomic_load(&s.recorded) + atomic_load(&s.refused), THREADS * ROUNDS);
    assert_int_equal(snap.buffered_calls,
                     atomic_load(&s.recorded) < 20 ? atomic_load(&s.recorded) : 20);
    assert_int_equal(snap.failed_calls, 0);
    assert_true(atomic_load(&s.most) <= PLACES);
    assert_int_equal(hc_bulkhead_available(s.h), PLACES);
    assert_int_equal(hc_bulkhead_rejected(s.h), atomic_load(&s.refused));
    hc_breaker_destroy(s.b);
    hc_bulkhead_destroy(s.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_before_the_minimum_number_of_calls),
        cmocka_unit_test(test_closed_to_open_on_the_failure_rate),
        cmocka_unit_test(test_closed_to_open_on_the_slow_call_rate),
        cmocka_unit_test(test_slow_failures_count_as_both),
        cmocka_unit_test(test_the_window_slides),
        cmocka_unit_test(test_failures_slide_out),
        cmocka_unit_test(test_open_refuses_until_the_wait_has_passed),
        cmocka_unit_test(test_open_becomes_half_open_by_itself),
        cmocka_unit_test(test_half_open_permits_exactly_its_trial_calls),
        cmocka_unit_test(test_half_open_to_closed_when_the_trials_answer),
        cmocka_unit_test(test_half_open_to_open_when_the_trials_fail),
        cmocka_unit_test(test_half_open_opens_on_slow_trials),
        cmocka_unit_test(test_a_call_from_an_earlier_state_does_not_count),
        cmocka_unit_test(test_minimum_above_the_window),
        cmocka_unit_test(test_settings_out_of_range_are_refused),
        cmocka_unit_test(test_health_shows_what_resilience4j_shows),
        cmocka_unit_test(test_metrics_have_resilience4j_names),
        cmocka_unit_test(test_bulkhead_refuses_beyond_its_places),
        cmocka_unit_test(test_concurrent_calls_keep_the_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
