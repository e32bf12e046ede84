/* Checks hc_trace: W3C traceparent parsing/validation, new/child/format, accept, and hc_uuid7. */
#include "hc_test.h"

#include "hc_err.h"
#include "hc_trace.h"

#define VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_parse_valid(void **state)
{
    (void)state;
    hc_trace_t t;
    memset(&t, 0x55, sizeof t);
    assert_int_equal(hc_trace_parse(VALID, &t), 0);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");
    assert_int_equal(t.flags, 1);

    assert_int_equal(hc_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &t),
                     0);
    assert_int_equal(t.flags, 0);
}

static void expect_invalid(const char *header)
{
    hc_trace_t t;
    memset(&t, 0, sizeof t);
    int rc = hc_trace_parse(header, &t);
    if (rc != HC_EINVAL)
        fail_msg("hc_trace_parse accepted (rc=%d) invalid header \"%s\"", rc, header);
}

static void test_parse_rejects_bad_version(void **state)
{
    (void)state;
    expect_invalid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect_invalid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect_invalid("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

static void test_parse_rejects_bad_lengths(void **state)
{
    (void)state;
    /* trace id 31 and 33 chars */
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01");
    /* span id 15 and 17 chars */
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01");
    /* flags 1 and 3 chars */
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011");
    /* trailing data is not allowed for version 00 */
    expect_invalid(VALID "-extra");
    expect_invalid(VALID " ");
    /* truncated, empty */
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736");
    expect_invalid("");
}

static void test_parse_rejects_bad_separators(void **state)
{
    (void)state;
    expect_invalid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01");
}

static void test_parse_rejects_uppercase(void **state)
{
    (void)state;
    expect_invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A");
}

static void test_parse_rejects_zero_ids(void **state)
{
    (void)state;
    expect_invalid("00-00000000000000000000000000000000-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01");
}

static void test_parse_rejects_non_hex(void **state)
{
    (void)state;
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x");
    expect_invalid("zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e47 6-00f067aa0ba902b7-01");
}

static void assert_valid_trace(const hc_trace_t *t)
{
    assert_true(hc_test_is_lower_hex(t->trace_id, 32));
    assert_true(hc_test_is_lower_hex(t->span_id, 16));
    assert_string_not_equal(t->trace_id, "00000000000000000000000000000000");
    assert_string_not_equal(t->span_id, "0000000000000000");
}

static void test_new_is_valid_and_parseable(void **state)
{
    (void)state;
    hc_trace_t a, b, back;
    char buf[HC_TRACEPARENT_LEN + 1];
    hc_trace_new(&a);
    hc_trace_new(&b);
    assert_valid_trace(&a);
    assert_valid_trace(&b);
    assert_int_equal(a.flags, 1);
    assert_string_not_equal(a.trace_id, b.trace_id);

    hc_trace_format(&a, buf);
    assert_int_equal(strlen(buf), HC_TRACEPARENT_LEN);
    assert_int_equal(hc_trace_parse(buf, &back), 0);
    assert_string_equal(back.trace_id, a.trace_id);
    assert_string_equal(back.span_id, a.span_id);
    assert_int_equal(back.flags, a.flags);
}

static void test_child_keeps_trace_changes_span(void **state)
{
    (void)state;
    hc_trace_t parent, child;
    assert_int_equal(hc_trace_parse(VALID, &parent), 0);
    hc_trace_child(&parent, &child);
    assert_valid_trace(&child);
    assert_string_equal(child.trace_id, parent.trace_id);
    assert_string_not_equal(child.span_id, parent.span_id);
    assert_int_equal(child.flags, parent.flags);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    hc_trace_t t;
    char buf[HC_TRACEPARENT_LEN + 1];
    assert_int_equal(hc_trace_parse(VALID, &t), 0);
    hc_trace_format(&t, buf);
    assert_string_equal(buf, VALID);

    assert_int_equal(hc_trace_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", &t),
                     0);
    hc_trace_format(&t, buf);
    assert_string_equal(buf, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
}

static void test_accept(void **state)
{
    (void)state;
    hc_trace_t t;
    hc_trace_accept(VALID, &t);
    assert_string_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(t.span_id, "00f067aa0ba902b7");

    hc_trace_accept("garbage", &t);
    assert_valid_trace(&t);
    assert_string_not_equal(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");

    /* An absent header (NULL) is the common case: a new root. */
    hc_trace_accept(NULL, &t);
    assert_valid_trace(&t);
}

/* A v7 UUID carries the given milliseconds in its first 48 bits (12 hex
 * digits), so the ids of a later millisecond sort after. */
static void test_uuid7_format_and_order(void **state)
{
    (void)state;
    char seen[64][37], later[37];
    for (int i = 0; i < 64; i++) {
        hc_uuid7(0x0123456789abLL, seen[i]);
        if (!hc_test_is_uuid(seen[i], 7))
            fail_msg("not a lowercase v7 UUID: \"%.37s\"", seen[i]);
        assert_memory_equal(seen[i], "01234567-89ab-7", 15);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    hc_uuid7(0x0123456789acLL, later);
    for (int i = 0; i < 64; i++)
        assert_true(strcmp(seen[i], later) < 0);
    hc_uuid7(1764633600000LL, later); /* 2025-12-02T00:00:00Z */
    assert_memory_equal(later, "019adc5b-e000-7", 15);
}

static void test_random_bytes_fill(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    hc_random_bytes(a, sizeof a);
    hc_random_bytes(b, sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_rejects_bad_version),
        cmocka_unit_test(test_parse_rejects_bad_lengths),
        cmocka_unit_test(test_parse_rejects_bad_separators),
        cmocka_unit_test(test_parse_rejects_uppercase),
        cmocka_unit_test(test_parse_rejects_zero_ids),
        cmocka_unit_test(test_parse_rejects_non_hex),
        cmocka_unit_test(test_new_is_valid_and_parseable),
        cmocka_unit_test(test_child_keeps_trace_changes_span),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_uuid7_format_and_order),
        cmocka_unit_test(test_random_bytes_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
