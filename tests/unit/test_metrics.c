/* Checks hc_metrics: set gauges with and without a label render as Prometheus samples, one TYPE
 * line per name, the latest value wins; counters keep their type label. */
#include "hc_test.h"

#include "hc_buf.h"
#include "hc_metrics.h"

/* Renders every metric for service "svc" (caller frees). */
static char *render(void)
{
    hc_buf_t b;
    hc_buf_init(&b, 1 << 20);
    hc_metrics_render(&b, "svc");
    return hc_buf_take(&b);
}

static int occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_set_gauges(void **state)
{
    (void)state;
    hc_metrics_set("hc_test_stalled", "Stalled by reason.", "reason", "corrupt_record", 0);
    hc_metrics_set("hc_test_stalled", "Stalled by reason.", "reason", "offset_beyond_end", 0);
    hc_metrics_set("hc_test_stalled_offset", "Offset.", NULL, NULL, 0);
    hc_metrics_set("hc_test_stalled", "Stalled by reason.", "reason", "corrupt_record", 1);
    hc_metrics_set("hc_test_stalled_offset", "Offset.", NULL, NULL, 17);
    char *text = render();
    assert_non_null(strstr(text, "hc_test_stalled{service=\"svc\",reason=\"corrupt_record\"} 1\n"));
    assert_non_null(
        strstr(text, "hc_test_stalled{service=\"svc\",reason=\"offset_beyond_end\"} 0\n"));
    assert_non_null(strstr(text, "hc_test_stalled_offset{service=\"svc\"} 17\n"));
    assert_int_equal(occurrences(text, "# TYPE hc_test_stalled gauge\n"), 1);
    assert_int_equal(occurrences(text, "# TYPE hc_test_stalled_offset gauge\n"), 1);
    assert_int_equal(occurrences(text, "hc_test_stalled{"), 2);
    free(text);
}

static void test_counters_keep_type_label(void **state)
{
    (void)state;
    hc_metrics_count("hc_test_parked_total", "Ordered", 1);
    hc_metrics_count("hc_test_parked_total", "Ordered", 2);
    char *text = render();
    assert_non_null(strstr(text, "hc_test_parked_total{service=\"svc\",type=\"Ordered\"} 3\n"));
    assert_non_null(strstr(text, "# TYPE hc_test_parked_total counter\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_gauges),
        cmocka_unit_test(test_counters_keep_type_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
