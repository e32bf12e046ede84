/* Checks hc_log: the request-id rule, the thread's correlation context, the JSON and text
 * line formats (fields, escapes, one line each) and what hc_log writes to stderr. */
#include "hc_test.h"

#include <fcntl.h>
#include <jansson.h>

#include "hc_err.h"
#include "hc_log.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define RID "85acae02ed4f6d2deffc9321b88da886"

static void test_request_id_rule(void **state)
{
    (void)state;
    char longest[HC_LOG_REQUEST_ID_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[HC_LOG_REQUEST_ID_MAX] = '\0';
    static const char *const good[] = {RID, "a", "Z", "req-1.2_3:4", "0"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!hc_log_request_id_valid(good[i]))
            fail_msg("refused \"%s\"", good[i]);
    assert_true(hc_log_request_id_valid(longest));
    longest[HC_LOG_REQUEST_ID_MAX] = 'a';
    longest[HC_LOG_REQUEST_ID_MAX + 1] = '\0';
    assert_false(hc_log_request_id_valid(longest)); /* 129 characters */
    static const char *const bad[] = {"",     "a b",  "a\"b", "a\nb", "a\\b",     "a/b",
                                      "{x}",  "a=b",  "a,b",  "a;b",  "\xc3\xa9", "a\tb",
                                      "a\rb", "<id>", "a'b",  "a%b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hc_log_request_id_valid(bad[i]))
            fail_msg("took \"%s\"", bad[i]);
    assert_false(hc_log_request_id_valid(NULL));
}

static void test_context(void **state)
{
    (void)state;
    hc_log_ctx_clear();
    assert_string_equal(hc_log_ctx_request_id(), "");
    assert_int_equal(hc_log_ctx_request(RID), 1);
    assert_string_equal(hc_log_ctx_request_id(), RID);
    /* a bad id replaces a good one with none, never keeps the old */
    assert_int_equal(hc_log_ctx_request("bad id"), 0);
    assert_string_equal(hc_log_ctx_request_id(), "");
    assert_int_equal(hc_log_ctx_request(RID), 1);
    assert_int_equal(hc_log_ctx_request(NULL), 0);
    assert_string_equal(hc_log_ctx_request_id(), "");
    /* a new context (an event, a request) starts without a request id */
    hc_log_ctx_request(RID);
    hc_log_ctx_set(TRACE, 7);
    assert_string_equal(hc_log_ctx_request_id(), "");
    hc_log_ctx_request(RID);
    hc_log_ctx_clear();
    assert_string_equal(hc_log_ctx_request_id(), "");
}

static const hc_log_line_t full = {.ts = "2026-11-25T09:00:00.123Z",
                                   .level = HC_LOG_WARN,
                                   .service = "order",
                                   .msg = "order 12 paid",
                                   .order_id = 12,
                                   .trace_id = TRACE,
                                   .request_id = RID};

static void test_text_line(void **state)
{
    (void)state;
    char *line = hc_log_format_line(&full, HC_LOG_FORMAT_TEXT);
    assert_string_equal(line, "2026-11-25T09:00:00.123Z WARN  order        order 12 paid "
                              "orderId=12 traceId=" TRACE " requestId=" RID "\n");
    free(line);

    /* absent parts are left out; the columns stay */
    hc_log_line_t l = {.ts = "2026-11-25T09:00:00.123Z",
                       .level = HC_LOG_ERROR,
                       .service = "notification",
                       .msg = "disk full"};
    line = hc_log_format_line(&l, HC_LOG_FORMAT_TEXT);
    assert_string_equal(line, "2026-11-25T09:00:00.123Z ERROR notification disk full\n");
    free(line);
    l.level = HC_LOG_INFO;
    l.service = "payment";
    l.request_id = "";
    l.trace_id = NULL;
    line = hc_log_format_line(&l, HC_LOG_FORMAT_TEXT);
    assert_string_equal(line, "2026-11-25T09:00:00.123Z INFO  payment      disk full\n");
    free(line);
}

/* A message cannot break the line or reach the terminal's controls. */
static void test_text_line_escapes_controls(void **state)
{
    (void)state;
    hc_log_line_t l = full;
    l.msg = "two\nlines\r\tand \x1b[31mred\x7f, 한글 stays";
    l.order_id = 0;
    l.trace_id = NULL;
    l.request_id = NULL;
    char *line = hc_log_format_line(&l, HC_LOG_FORMAT_TEXT);
    assert_string_equal(line, "2026-11-25T09:00:00.123Z WARN  order        "
                              "two\\nlines\\r\\tand \\x1b[31mred\\x7f, 한글 stays\n");
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
    free(line);

    /* a long message is kept whole */
    char big[2048];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    l.msg = big;
    line = hc_log_format_line(&l, HC_LOG_FORMAT_TEXT);
    assert_int_equal(strlen(line), strlen("2026-11-25T09:00:00.123Z WARN  order        ") +
                                       2 * (sizeof big - 1) + 1);
    assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
    free(line);
}

static void test_json_line(void **state)
{
    (void)state;
    char *line = hc_log_format_line(&full, HC_LOG_FORMAT_JSON);
    size_t n = strlen(line);
    assert_true(n > 1 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "ts")), full.ts);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    assert_string_equal(json_string_value(json_object_get(o, "service")), "order");
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "order 12 paid");
    assert_int_equal(json_integer_value(json_object_get(o, "orderId")), 12);
    assert_string_equal(json_string_value(json_object_get(o, "traceId")), TRACE);
    assert_string_equal(json_string_value(json_object_get(o, "requestId")), RID);
    json_decref(o);
    free(line);

    hc_log_line_t l = {.ts = full.ts, .level = HC_LOG_INFO, .service = "order", .msg = "\xff"};
    line = hc_log_format_line(&l, HC_LOG_FORMAT_JSON);
    o = json_loads(line, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "(message was not valid UTF-8)");
    assert_null(json_object_get(o, "orderId"));
    assert_null(json_object_get(o, "traceId"));
    assert_null(json_object_get(o, "requestId"));
    json_decref(o);
    free(line);
}

static void test_set_format(void **state)
{
    (void)state;
    assert_int_equal(hc_log_set_format("text"), 0);
    assert_int_equal(hc_log_set_format("json"), 0);
    assert_int_equal(hc_log_set_format("xml"), HC_EINVAL);
    assert_int_equal(hc_log_set_format("JSON"), HC_EINVAL);
    assert_int_equal(hc_log_set_format(NULL), HC_EINVAL);
}

/* Runs fn with stderr sent to a file and returns what it wrote (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char dir[256], path[300];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "stderr");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 8192);
    assert_non_null(text);
    size_t n = fread(text, 1, 8191, f);
    text[n] = '\0';
    fclose(f);
    hc_test_rmtree(dir);
    return text;
}

static void log_in_a_request(void)
{
    hc_log_ctx_set(TRACE, 0);
    hc_log_ctx_request(RID);
    hc_log_ctx_order(5);
    hc_info("payment %d approved", 5);
    hc_debug("below the level: not written");
    hc_log_ctx_clear();
    hc_warn("outside any request");
}

static void test_lines_written(void **state)
{
    (void)state;
    hc_log_init("payment", "info");
    assert_int_equal(hc_log_set_format("text"), 0);
    char *text = capture_stderr(log_in_a_request);
    char *second = strchr(text, '\n');
    assert_non_null(second);
    *second++ = '\0';
    /* "<ts> INFO  payment      payment 5 approved orderId=5 traceId=.. requestId=.." */
    assert_non_null(strstr(text, " INFO  payment      payment 5 approved orderId=5 traceId=" TRACE
                                 " requestId=" RID));
    assert_non_null(strstr(second, " WARN  payment      outside any request\n"));
    assert_null(strstr(second, "requestId"));
    assert_null(strstr(second, "not written"));
    free(text);

    assert_int_equal(hc_log_set_format("json"), 0);
    text = capture_stderr(log_in_a_request);
    json_error_t e;
    json_t *o = json_loadb(text, strcspn(text, "\n"), 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "requestId")), RID);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "payment 5 approved");
    json_decref(o);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id_rule), cmocka_unit_test(test_context),
        cmocka_unit_test(test_text_line),       cmocka_unit_test(test_text_line_escapes_controls),
        cmocka_unit_test(test_json_line),       cmocka_unit_test(test_set_format),
        cmocka_unit_test(test_lines_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
