/* Checks hc_buf (bounded growth, printf, take) and hc_strlcpy, hc_parse_i64, hc_x* allocators. */
#include "hc_test.h"

#include "hc_buf.h"
#include "hc_err.h"

static void test_empty_buffer_reads_empty_string(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 64);
    assert_non_null(hc_buf_str(&b));
    assert_string_equal(hc_buf_str(&b), "");
    assert_int_equal(b.len, 0);
    hc_buf_cleanup(&b);
}

static void test_add_and_adds(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 64);
    assert_int_equal(hc_buf_add(&b, "abc", 3), 0);
    assert_int_equal(hc_buf_adds(&b, "def"), 0);
    assert_int_equal(hc_buf_add(&b, "", 0), 0);
    assert_int_equal(b.len, 6);
    assert_string_equal(hc_buf_str(&b), "abcdef");
    hc_buf_cleanup(&b);
}

static void test_max_enforced(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 16);
    assert_int_equal(hc_buf_add(&b, "0123456789", 10), 0);
    /* 10 + 7 > 16: refused, contents unchanged */
    assert_int_equal(hc_buf_add(&b, "abcdefg", 7), HC_EINVAL);
    assert_int_equal(b.len, 10);
    assert_string_equal(hc_buf_str(&b), "0123456789");
    /* exactly up to max is allowed */
    assert_int_equal(hc_buf_adds(&b, "abcdef"), 0);
    assert_int_equal(b.len, 16);
    assert_memory_equal(hc_buf_str(&b), "0123456789abcdef", 16);
    /* one more byte is not */
    assert_int_equal(hc_buf_add(&b, "x", 1), HC_EINVAL);
    assert_int_equal(hc_buf_printf(&b, "%d", 7), HC_EINVAL);
    assert_int_equal(b.len, 16);
    assert_memory_equal(hc_buf_str(&b), "0123456789abcdef", 16);
    hc_buf_cleanup(&b);
}

static void test_printf(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 1024);
    assert_int_equal(hc_buf_printf(&b, "%s=%d", "x", 42), 0);
    assert_int_equal(hc_buf_printf(&b, ",%lld,%s", -7LL, "홍길동"), 0);
    assert_string_equal(hc_buf_str(&b), "x=42,-7,홍길동");
    assert_int_equal(b.len, strlen("x=42,-7,홍길동"));
    hc_buf_cleanup(&b);
}

static void test_printf_over_max_leaves_buffer(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 8);
    assert_int_equal(hc_buf_adds(&b, "ab"), 0);
    assert_int_equal(hc_buf_printf(&b, "%s", "0123456789"), HC_EINVAL);
    assert_int_equal(b.len, 2);
    assert_string_equal(hc_buf_str(&b), "ab");
    hc_buf_cleanup(&b);
}

static void test_large_growth(void **state)
{
    (void)state;
    hc_buf_t b;
    char chunk[1000];
    hc_buf_init(&b, 1 << 20);
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('a' + i % 26);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(hc_buf_add(&b, chunk, sizeof chunk), 0);
    assert_int_equal(b.len, 1000 * sizeof chunk);
    assert_true(b.cap >= b.len);
    for (int i = 0; i < 1000; i++)
        assert_memory_equal(b.data + (size_t)i * sizeof chunk, chunk, sizeof chunk);
    /* 1,000,000 + 48,576 = 1 MiB exactly is fine, one more is not */
    size_t left = (1u << 20) - b.len;
    char *fill = hc_xcalloc(left + 1, 1);
    assert_int_equal(hc_buf_add(&b, fill, left + 1), HC_EINVAL);
    assert_int_equal(hc_buf_add(&b, fill, left), 0);
    assert_int_equal(b.len, 1u << 20);
    free(fill);
    hc_buf_cleanup(&b);
}

static void test_take(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 64);
    assert_int_equal(hc_buf_adds(&b, "hello"), 0);
    char *s = hc_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "hello");
    free(s);
    assert_int_equal(b.len, 0);
    assert_string_equal(hc_buf_str(&b), "");
    /* still usable after take */
    assert_int_equal(hc_buf_adds(&b, "again"), 0);
    assert_string_equal(hc_buf_str(&b), "again");
    hc_buf_cleanup(&b);

    /* take of an empty buffer gives an empty, freeable string */
    hc_buf_init(&b, 64);
    s = hc_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    hc_buf_cleanup(&b);
}

static void test_reset_and_cleanup_reuse(void **state)
{
    (void)state;
    hc_buf_t b;
    hc_buf_init(&b, 16);
    assert_int_equal(hc_buf_adds(&b, "0123456789"), 0);
    hc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(hc_buf_str(&b), "");
    /* after reset the full max is available again */
    assert_int_equal(hc_buf_adds(&b, "0123456789abcdef"), 0);
    hc_buf_cleanup(&b);
    hc_buf_init(&b, 4);
    assert_int_equal(hc_buf_adds(&b, "abcd"), 0);
    assert_int_equal(hc_buf_adds(&b, "e"), HC_EINVAL);
    hc_buf_cleanup(&b);
}

/* hc_utf8_copy never splits a multi-byte character, so the result stays valid
 * UTF-8 ("홍" is 3 bytes). */
static void test_utf8_copy(void **state)
{
    (void)state;
    char dst[8];
    assert_int_equal(hc_utf8_copy(dst, sizeof dst, "abc"), 3);
    assert_string_equal(dst, "abc");
    assert_int_equal(hc_utf8_copy(dst, sizeof dst, "홍길동"), 6); /* 9 bytes: the third is cut */
    assert_string_equal(dst, "홍길");
    assert_int_equal(hc_utf8_copy(dst, sizeof dst, "a홍길동"), 7);
    assert_string_equal(dst, "a홍길");
    assert_int_equal(hc_utf8_copy(dst, 1, "abc"), 0);
    assert_string_equal(dst, "");
}

static void test_strlcpy(void **state)
{
    (void)state;
    char dst[8];
    memset(dst, 'x', sizeof dst);
    assert_int_equal(hc_strlcpy(dst, "abc", sizeof dst), 3);
    assert_string_equal(dst, "abc");
    memset(dst, 'x', sizeof dst);
    assert_int_equal(hc_strlcpy(dst, "0123456789", sizeof dst), 10);
    assert_string_equal(dst, "0123456");
    assert_int_equal(hc_strlcpy(dst, "", sizeof dst), 0);
    assert_string_equal(dst, "");
}

static void test_parse_i64(void **state)
{
    (void)state;
    long long v = -1;
    assert_int_equal(hc_parse_i64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(hc_parse_i64("123", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(hc_parse_i64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(hc_parse_i64("9223372036854775807", &v), 0);
    assert_true(v == 9223372036854775807LL);
    assert_int_equal(hc_parse_i64("-9223372036854775808", &v), 0);
    assert_true(v == (-9223372036854775807LL - 1));

    assert_int_equal(hc_parse_i64("", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("abc", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("12a", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("1.5", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("-", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("9223372036854775808", &v), HC_EINVAL);
    assert_int_equal(hc_parse_i64("99999999999999999999999", &v), HC_EINVAL);
}

/* Regression: /orders/01 and /orders/+1 answered order 1 because strtoll
 * takes a sign, leading zeros and leading spaces. */
static void test_parse_i64_is_canonical_only(void **state)
{
    (void)state;
    long long v = -1;
    const char *bad[] = {"01", "+1", " 1", "1 ", "-0", "00", "-01", "0x10", "1e3", "\t7", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(hc_parse_i64(bad[i], &v), HC_EINVAL);
    assert_int_equal(v, -1);
    assert_int_equal(hc_parse_i64(NULL, &v), HC_EINVAL);
}

static void test_xalloc(void **state)
{
    (void)state;
    char *s = hc_xstrdup("홍길동");
    assert_string_equal(s, "홍길동");
    free(s);
    int *z = hc_xcalloc(16, sizeof *z);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    z = hc_xrealloc(z, 1024 * sizeof *z);
    z[1023] = 5;
    assert_int_equal(z[0], 0);
    free(z);
    char *m = hc_xmalloc(10);
    memcpy(m, "123456789", 10);
    assert_string_equal(m, "123456789");
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_buffer_reads_empty_string),
        cmocka_unit_test(test_add_and_adds),
        cmocka_unit_test(test_max_enforced),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_printf_over_max_leaves_buffer),
        cmocka_unit_test(test_large_growth),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_reset_and_cleanup_reuse),
        cmocka_unit_test(test_utf8_copy),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_parse_i64_is_canonical_only),
        cmocka_unit_test(test_xalloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
