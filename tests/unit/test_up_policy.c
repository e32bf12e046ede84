/* Checks up_policy: exponential back-off with its cap and reset, the
 * crash-loop limit over a sliding window, and liveness failure counting. */
#include "hc_test.h"

#include "up/up_policy.h"

static const up_policy_t P = {
    .backoff_min_ms = 100,
    .backoff_max_ms = 1000,
    .stable_ms = 10000,
    .loop_restarts = 5,
    .loop_window_ms = 60000,
    .probe_failures = 3,
};

static void test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run(void **state)
{
    (void)state;
    up_history_t h;
    up_history_init(&h, &P);
    up_policy_t p = P;
    p.loop_restarts = 100;
    int64_t t = 0;
    int want[] = {100, 200, 400, 800, 1000, 1000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(up_policy_on_exit(&p, &h, t, t + 50), want[i]);
        t += 2000;
    }
    /* Ran 10 s: the minimum again. */
    assert_int_equal(up_policy_on_exit(&p, &h, t, t + 10000), 100);
    assert_int_equal(up_policy_on_exit(&p, &h, t + 10000, t + 10010), 200);
}

static void test_crash_loop_limit_gives_up_then_forgets_old_restarts(void **state)
{
    (void)state;
    up_history_t h;
    up_history_init(&h, &P);
    for (int i = 0; i < 5; i++)
        assert_true(up_policy_on_exit(&P, &h, i * 1000, i * 1000 + 10) >= 0);
    /* The sixth exit within the minute: a crash loop, nothing recorded. */
    assert_int_equal(up_policy_on_exit(&P, &h, 5000, 5010), -1);
    assert_int_equal(h.n, 5);
    /* A minute after the first restart, it has left the window. */
    assert_true(up_policy_on_exit(&P, &h, 60000, 60011) >= 0);
}

static void test_probe_failures_in_a_row_mean_it_hangs(void **state)
{
    (void)state;
    up_history_t h;
    up_history_init(&h, &P);
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 0);
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 0);
    assert_int_equal(up_policy_on_probe(&P, &h, 1), 0); /* resets */
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 0);
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 0);
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 1);
    /* A restart starts the count afresh. */
    assert_true(up_policy_on_exit(&P, &h, 0, 10) >= 0);
    assert_int_equal(up_policy_on_probe(&P, &h, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run),
        cmocka_unit_test(test_crash_loop_limit_gives_up_then_forgets_old_restarts),
        cmocka_unit_test(test_probe_failures_in_a_row_mean_it_hangs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
