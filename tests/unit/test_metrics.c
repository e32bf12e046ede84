/* Checks hc_metrics: set gauges with and without a label render as Prometheus samples, one TYPE
 * line per name, the latest value wins; counters keep their type label; every family has HELP
 * and TYPE; the build and the process's resource use are there. */
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

/* The family a sample line belongs to: its name up to '{' or ' ', less a
 * histogram's _bucket/_sum/_count when that family is a histogram. */
static void family_of(const char *text, const char *line, char *fam, size_t size)
{
    size_t n = strcspn(line, "{ ");
    snprintf(fam, size, "%.*s", (int)n, line);
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t k = strlen(parts[i]), len = strlen(fam);
        if (len > k && strcmp(fam + len - k, parts[i]) == 0) {
            char type[200];
            snprintf(type, sizeof type, "# TYPE %.*s histogram\n", (int)(len - k), fam);
            if (strstr(text, type))
                fam[len - k] = '\0';
        }
    }
}

/* Regression: counters had TYPE and no HELP (promtool check metrics:
 * "hc_events_applied_total no help text"). Every family has both, once. */
static void test_every_family_has_help_and_type(void **state)
{
    (void)state;
    hc_metrics_request("/orders", "GET", 200, 0.002);
    hc_metrics_count("hc_test_described_total", "Ordered", 1);
    hc_metrics_describe("hc_test_described_total", "Things described, by type.");
    hc_metrics_count("hc_test_undescribed_total", "x", 1);
    hc_metrics_set("hc_test_gauge", "A gauge.", NULL, NULL, 3);
    char *text = render();
    assert_non_null(strstr(text, "# HELP hc_test_described_total Things described, by type.\n"
                                 "# TYPE hc_test_described_total counter\n"));
    assert_non_null(strstr(text, "# HELP hc_test_undescribed_total "));
    int samples = 0;
    for (char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (*line != '#') {
            char fam[160], help[200], type[200];
            family_of(text, line, fam, sizeof fam);
            snprintf(help, sizeof help, "# HELP %s ", fam);
            snprintf(type, sizeof type, "# TYPE %s ", fam);
            if (occurrences(text, help) != 1 || occurrences(text, type) != 1)
                fail_msg("family %s: %d HELP, %d TYPE lines", fam, occurrences(text, help),
                         occurrences(text, type));
            samples++;
        }
        assert_non_null(strchr(line, '\n'));
    }
    assert_true(samples > 10);
    free(text);
}

static void test_build_and_process(void **state)
{
    (void)state;
    char *text = render();
    assert_non_null(strstr(text, "# TYPE healthcenter_build_info gauge\n"
                                 "healthcenter_build_info{version=\"" HC_VERSION
                                 "\",service=\"svc\"} 1\n"));
    static const char *const gauges[] = {
        "process_resident_memory_bytes", "process_virtual_memory_bytes",
        "process_start_time_seconds", "process_open_fds", "process_max_fds"};
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++) {
        char want[120];
        snprintf(want, sizeof want, "# TYPE %s gauge\n%s ", gauges[i], gauges[i]);
        if (!strstr(text, want))
            fail_msg("no %s", gauges[i]);
    }
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    const char *rss = strstr(text, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    assert_true(strtod(rss + strlen("\nprocess_resident_memory_bytes "), NULL) > 1e5);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_gauges),
        cmocka_unit_test(test_counters_keep_type_label),
        cmocka_unit_test(test_every_family_has_help_and_type),
        cmocka_unit_test(test_build_and_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
