/* Checks hc_worker: a wake-up before the wait, wake-ups coalescing, a wake-up
 * during the wait and from the worker itself, the timed wait expiring on the
 * monotonic clock, the stop ending a long wait, stop of NULL, the thread's
 * name, and many start/stop cycles (leaks show under the ASan run). */
#include "hc_test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_worker.h"

#define LONG_WAIT_MS 60000 /* a wait the test never lets run out */
#define BOUND_MS 5000      /* generous upper bound for "at once" on a busy machine */

/* What the test and the body share. The test releases the body with go; the
 * body publishes its results and then sets done. */
typedef struct probe {
    hc_worker_t *worker;  /* set by hc_worker_start before the body runs */
    atomic_int go;        /* the test allows the body to go on */
    atomic_int waiting;   /* the body is about to wait */
    atomic_int done;      /* the body's results are in */
    atomic_int passes;    /* loop bodies: passes made */
    int results[4];       /* hc_worker_wait return values, in order */
    int64_t waited_us[4]; /* how long each took, on the monotonic clock */
    int stopping_after;   /* hc_worker_stopping after the last wait */
    int saw_own_worker;   /* the body's w equalled probe->worker */
    char name[32];        /* the thread's name, as the kernel has it */
} probe_t;

/* Polls flag until it is non-zero or BOUND_MS pass; returns its value. */
static int await(atomic_int *flag)
{
    int64_t deadline = hc_deadline_ms(BOUND_MS);
    while (!atomic_load(flag) && hc_deadline_left(deadline) > 0)
        hc_sleep_ms(1);
    return atomic_load(flag);
}

static int timed_wait(hc_worker_t *w, int64_t ms, int64_t *waited_us)
{
    int64_t t0 = hc_mono_us();
    int r = hc_worker_wait(w, ms);
    *waited_us = hc_mono_us() - t0;
    return r;
}

/* Waits for go, then waits once for LONG_WAIT_MS. */
static void body_one_long_wait(hc_worker_t *w, void *ud)
{
    probe_t *p = ud;
    await(&p->go);
    atomic_store(&p->waiting, 1);
    p->results[0] = timed_wait(w, LONG_WAIT_MS, &p->waited_us[0]);
    p->stopping_after = hc_worker_stopping(w);
    atomic_store(&p->done, 1);
}

static void test_wake_before_wait_ends_it_at_once(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_one_long_wait, &p, &p.worker), 0);
    hc_worker_wake(p.worker); /* the body is not waiting yet */
    atomic_store(&p.go, 1);
    assert_true(await(&p.done));
    assert_int_equal(p.results[0], 1);
    assert_in_range(p.waited_us[0], 0, BOUND_MS * 1000);
    assert_int_equal(p.stopping_after, 0);
    hc_worker_stop(p.worker);
}

static void test_wake_during_wait_ends_it(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_one_long_wait, &p, &p.worker), 0);
    atomic_store(&p.go, 1);
    assert_true(await(&p.waiting));
    /* The body may or may not be asleep yet; either way this wait ends. */
    hc_worker_wake(p.worker);
    assert_true(await(&p.done));
    assert_int_equal(p.results[0], 1);
    assert_in_range(p.waited_us[0], 0, BOUND_MS * 1000);
    hc_worker_stop(p.worker);
}

/* Waits for go, then: a long wait, a 100 ms wait, a 0 ms wait. */
static void body_three_waits(hc_worker_t *w, void *ud)
{
    probe_t *p = ud;
    await(&p->go);
    p->results[0] = timed_wait(w, LONG_WAIT_MS, &p->waited_us[0]);
    p->results[1] = timed_wait(w, 100, &p->waited_us[1]);
    p->results[2] = timed_wait(w, 0, &p->waited_us[2]);
    atomic_store(&p->done, 1);
}

/* Three wake-ups before the waits end the first wait only: the second runs
 * its full time. */
static void test_wakes_coalesce(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_three_waits, &p, &p.worker), 0);
    hc_worker_wake(p.worker);
    hc_worker_wake(p.worker);
    hc_worker_wake(p.worker);
    atomic_store(&p.go, 1);
    assert_true(await(&p.done));
    assert_int_equal(p.results[0], 1);
    assert_in_range(p.waited_us[0], 0, BOUND_MS * 1000);
    assert_int_equal(p.results[1], 0); /* timed out: nothing left to consume */
    assert_in_range(p.waited_us[1], 100000, BOUND_MS * 1000);
    assert_int_equal(p.results[2], 0); /* 0 ms: no block, no wake-up */
    hc_worker_stop(p.worker);
}

/* Waits 50 ms with nobody waking it, then 0 ms after waking itself. */
static void body_expiry(hc_worker_t *w, void *ud)
{
    probe_t *p = ud;
    p->results[0] = timed_wait(w, 50, &p->waited_us[0]);
    hc_worker_wake(w); /* from its own thread */
    p->results[1] = timed_wait(w, 0, &p->waited_us[1]);
    hc_worker_wake(w);
    p->results[2] = timed_wait(w, LONG_WAIT_MS, &p->waited_us[2]);
    p->saw_own_worker = w == p->worker;
    atomic_store(&p->done, 1);
}

static void test_wait_expires_on_the_monotonic_clock(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_expiry, &p, &p.worker), 0);
    assert_true(await(&p.done));
    assert_int_equal(p.results[0], 0);
    assert_in_range(p.waited_us[0], 50000, BOUND_MS * 1000);
    assert_int_equal(p.results[1], 1); /* a pending wake-up is seen without blocking */
    assert_int_equal(p.results[2], 1);
    assert_in_range(p.waited_us[2], 0, BOUND_MS * 1000);
    assert_int_equal(p.saw_own_worker, 1); /* *out was set before the body ran */
    hc_worker_stop(p.worker);
}

static void test_stop_ends_a_long_wait(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_one_long_wait, &p, &p.worker), 0);
    atomic_store(&p.go, 1);
    assert_true(await(&p.waiting));
    int64_t t0 = hc_mono_ms();
    hc_worker_stop(p.worker); /* joins: the body has returned after this */
    assert_in_range(hc_mono_ms() - t0, 0, BOUND_MS);
    assert_int_equal(atomic_load(&p.done), 1);
    assert_int_equal(p.results[0], 1);
    assert_int_equal(p.stopping_after, 1);
}

/* Loops until stopped, counting passes; waits return at once once stopping. */
static void body_loop(hc_worker_t *w, void *ud)
{
    probe_t *p = ud;
    while (!hc_worker_stopping(w)) {
        atomic_fetch_add(&p->passes, 1);
        hc_worker_wait(w, LONG_WAIT_MS);
    }
    p->results[0] = hc_worker_wait(w, LONG_WAIT_MS); /* stopping: at once */
    atomic_store(&p->done, 1);
}

/* Each wake-up the loop has served gives one more pass; stop ends it. */
static void test_loop_passes_follow_wakes(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-test", body_loop, &p, &p.worker), 0);
    int64_t deadline = hc_deadline_ms(BOUND_MS);
    while (atomic_load(&p.passes) < 5 && hc_deadline_left(deadline) > 0) {
        int before = atomic_load(&p.passes);
        hc_worker_wake(p.worker);
        while (atomic_load(&p.passes) == before && hc_deadline_left(deadline) > 0)
            hc_sleep_ms(1);
    }
    assert_true(atomic_load(&p.passes) >= 5);
    hc_worker_stop(p.worker);
    assert_int_equal(p.done, 1);
    assert_int_equal(p.results[0], 1);
}

static void test_stop_and_wake_of_null(void **state)
{
    (void)state;
    hc_worker_stop(NULL);
    hc_worker_wake(NULL);
    assert_int_equal(hc_worker_stopping(NULL), 0);
}

static void body_name(hc_worker_t *w, void *ud)
{
    (void)w;
    probe_t *p = ud;
    pthread_getname_np(pthread_self(), p->name, sizeof p->name);
    atomic_store(&p->done, 1);
}

/* The thread carries the name, cut to the kernel's 15 bytes. */
static void test_thread_is_named(void **state)
{
    (void)state;
    probe_t p = {0};
    assert_int_equal(hc_worker_start("hc-a-rather-long-name", body_name, &p, &p.worker), 0);
    assert_true(await(&p.done));
    assert_string_equal(p.name, "hc-a-rather-lon");
    hc_worker_stop(p.worker); /* the body returned long ago: stop still joins and frees */
}

static void body_return(hc_worker_t *w, void *ud)
{
    (void)w;
    atomic_fetch_add((atomic_int *)ud, 1);
}

/* Many workers, started and stopped at once or after their body returned;
 * ASan's leak check (the asan run) sees anything not freed. */
static void test_many_start_stop_cycles(void **state)
{
    (void)state;
    atomic_int ran = 0;
    for (int i = 0; i < 200; i++) {
        hc_worker_t *w = NULL;
        assert_int_equal(hc_worker_start("hc-test", body_return, &ran, &w), 0);
        assert_non_null(w);
        if (i % 2)
            hc_worker_wake(w);
        hc_worker_stop(w);
    }
    assert_int_equal(atomic_load(&ran), 200);

    probe_t p[8];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 8; i++)
        assert_int_equal(hc_worker_start("hc-test", body_loop, &p[i], &p[i].worker), 0);
    for (int i = 0; i < 8; i++)
        hc_worker_stop(p[i].worker);
    for (int i = 0; i < 8; i++)
        assert_int_equal(p[i].done, 1);
}

int main(void)
{
    hc_log_init("test_worker", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wake_before_wait_ends_it_at_once),
        cmocka_unit_test(test_wake_during_wait_ends_it),
        cmocka_unit_test(test_wakes_coalesce),
        cmocka_unit_test(test_wait_expires_on_the_monotonic_clock),
        cmocka_unit_test(test_stop_ends_a_long_wait),
        cmocka_unit_test(test_loop_passes_follow_wakes),
        cmocka_unit_test(test_stop_and_wake_of_null),
        cmocka_unit_test(test_thread_is_named),
        cmocka_unit_test(test_many_start_stop_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
