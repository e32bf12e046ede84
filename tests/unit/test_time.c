/* Checks hc_time: the wall clock against time(2), RFC 3339 formatting of given
 * and current times, the monotonic clock, deadlines, the timespec for timed
 * waits on CLOCK_MONOTONIC, and the sleeps. */
#include "hc_test.h"

#include <errno.h>
#include <pthread.h>

#include "hc_log.h"
#include "hc_time.h"

static void expect_rfc3339(int64_t ms, const char *want)
{
    char got[HC_RFC3339_SIZE];
    memset(got, 'x', sizeof got);
    hc_time_rfc3339(ms, got);
    if (strcmp(got, want) != 0)
        fail_msg("hc_time_rfc3339(%lld) = \"%s\", expected \"%s\"", (long long)ms, got, want);
}

static void test_now_ms_is_the_wall_clock(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t ms = hc_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 999;
    assert_in_range(ms, before, after);
}

static void test_rfc3339_of_given_times(void **state)
{
    (void)state;
    expect_rfc3339(0, "1970-01-01T00:00:00.000Z");
    expect_rfc3339(1764061200123, "2025-11-25T09:00:00.123Z");
    expect_rfc3339(951868799999, "2000-02-29T23:59:59.999Z"); /* a leap day */
    expect_rfc3339(-1, "1969-12-31T23:59:59.999Z");           /* floor, not truncation */
    expect_rfc3339(253402300799999, "9999-12-31T23:59:59.999Z");
    expect_rfc3339(253402300800000, "10000-01-01T00:00:00.000Z"); /* still fits */
}

/* The extremes of int64 ms still fit the buffer, terminated, ending in 'Z'. */
static void test_rfc3339_extremes_fit(void **state)
{
    (void)state;
    const int64_t extremes[] = {INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 2; i++) {
        char got[HC_RFC3339_SIZE + 1];
        memset(got, 'x', sizeof got);
        hc_time_rfc3339(extremes[i], got);
        assert_int_equal(got[HC_RFC3339_SIZE], 'x'); /* nothing written past the size */
        size_t n = strnlen(got, HC_RFC3339_SIZE);
        assert_true(n > 20 && n < HC_RFC3339_SIZE);
        assert_int_equal(got[n - 1], 'Z');
    }
}

/* hc_now_rfc3339 lies between two formatted readings of hc_now_ms (strings
 * of one format and length compare as text). */
static void test_now_rfc3339_is_now(void **state)
{
    (void)state;
    char before[HC_RFC3339_SIZE], now[HC_RFC3339_SIZE], after[HC_RFC3339_SIZE];
    hc_time_rfc3339(hc_now_ms(), before);
    hc_now_rfc3339(now);
    hc_time_rfc3339(hc_now_ms(), after);
    assert_int_equal(strlen(now), 24);
    assert_int_equal(now[23], 'Z');
    assert_true(strcmp(before, now) <= 0);
    assert_true(strcmp(now, after) <= 0);
}

static void test_mono_never_goes_back(void **state)
{
    (void)state;
    int64_t last_ms = hc_mono_ms(), last_us = hc_mono_us();
    for (int i = 0; i < 10000; i++) {
        int64_t ms = hc_mono_ms(), us = hc_mono_us();
        assert_true(ms >= last_ms);
        assert_true(us >= last_us);
        last_ms = ms;
        last_us = us;
    }
    /* one clock in two units: microseconds read after milliseconds */
    int64_t ms = hc_mono_ms(), us = hc_mono_us();
    assert_in_range(us / 1000, ms, ms + 1000);
}

static void test_deadline_left(void **state)
{
    (void)state;
    int64_t d = hc_deadline_ms(10000);
    assert_in_range(hc_deadline_left(d), 9000, 10000);
    assert_int_equal(hc_deadline_left(hc_deadline_ms(0)), 0);
    assert_int_equal(hc_deadline_left(hc_deadline_ms(-5000)), 0); /* never negative */
    assert_int_equal(hc_deadline_left(0), 0);
    d = hc_deadline_ms(30);
    while (hc_deadline_left(d) > 0)
        hc_sleep_ms(1);
    assert_true(hc_mono_ms() >= d);
}

/* The timespec is normalised and lies after_ms ahead on CLOCK_MONOTONIC. */
static void test_mono_timespec(void **state)
{
    (void)state;
    const int64_t afters[] = {-7, 0, 1, 999, 1000, 1001, 1999, 123456};
    for (size_t i = 0; i < sizeof afters / sizeof afters[0]; i++) {
        int64_t before = hc_mono_us();
        struct timespec ts;
        hc_mono_timespec(afters[i], &ts);
        int64_t after = hc_mono_us();
        assert_in_range(ts.tv_nsec, 0, 999999999);
        int64_t at_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        int64_t ahead_us = afters[i] > 0 ? afters[i] * 1000 : 0;
        assert_in_range(at_us, before + ahead_us, after + ahead_us);
    }
}

/* What the timespec is for: a timed wait on a CLOCK_MONOTONIC condition
 * variable that nobody signals ends after the time, not before. */
static void test_mono_timespec_drives_a_timed_wait(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_condattr_t ca;
    pthread_cond_t cv;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &ca);
    pthread_condattr_destroy(&ca);
    int64_t t0 = hc_mono_us();
    struct timespec until;
    hc_mono_timespec(40, &until);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (rc == 0)
        rc = pthread_cond_timedwait(&cv, &mu, &until);
    pthread_mutex_unlock(&mu);
    int64_t waited_us = hc_mono_us() - t0;
    assert_int_equal(rc, ETIMEDOUT);
    assert_in_range(waited_us, 40000, 5000000);
    pthread_cond_destroy(&cv);
}

static void test_sleeps_last_at_least_as_asked(void **state)
{
    (void)state;
    int64_t t0 = hc_mono_us();
    hc_sleep_ms(25);
    int64_t slept = hc_mono_us() - t0;
    assert_in_range(slept, 25000, 5000000);

    t0 = hc_mono_us();
    hc_sleep_us(300);
    slept = hc_mono_us() - t0;
    assert_in_range(slept, 300, 5000000);
}

static void test_sleeps_of_nothing_return_at_once(void **state)
{
    (void)state;
    int64_t t0 = hc_mono_us();
    hc_sleep_ms(0);
    hc_sleep_ms(-1000);
    hc_sleep_us(0);
    hc_sleep_us(-1000000);
    assert_in_range(hc_mono_us() - t0, 0, 500000);
}

int main(void)
{
    hc_log_init("test_time", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ms_is_the_wall_clock),
        cmocka_unit_test(test_rfc3339_of_given_times),
        cmocka_unit_test(test_rfc3339_extremes_fit),
        cmocka_unit_test(test_now_rfc3339_is_now),
        cmocka_unit_test(test_mono_never_goes_back),
        cmocka_unit_test(test_deadline_left),
        cmocka_unit_test(test_mono_timespec),
        cmocka_unit_test(test_mono_timespec_drives_a_timed_wait),
        cmocka_unit_test(test_sleeps_last_at_least_as_asked),
        cmocka_unit_test(test_sleeps_of_nothing_return_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
