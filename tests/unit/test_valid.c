/* Checks hc_valid: card Luhn/normalise/mask, Korean mobile normalise/mask, strict dates, today,
 * field errors and typed getters. */
#include "hc_test.h"

#include <jansson.h>

#include "hc_config.h"
#include "hc_err.h"
#include "hc_valid.h"

static void test_card_normalize(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(hc_card_normalize("4111111111111111", out, sizeof out), 0);
    assert_string_equal(out, "4111111111111111");
    assert_int_equal(hc_card_normalize("4111 1111 1111 1111", out, sizeof out), 0);
    assert_string_equal(out, "4111111111111111");
    assert_int_equal(hc_card_normalize("4111-1111-1111-1111", out, sizeof out), 0);
    assert_string_equal(out, "4111111111111111");
    /* the declined test card is still a valid number */
    assert_int_equal(hc_card_normalize("4000000000000002", out, sizeof out), 0);
    /* 12 and 19 digits, Luhn-valid */
    assert_int_equal(hc_card_normalize("000000000000", out, sizeof out), 0);
    assert_int_equal(hc_card_normalize("4000000000000000006", out, sizeof out), 0);
    assert_string_equal(out, "4000000000000000006");
}

static void test_card_rejects(void **state)
{
    (void)state;
    char out[32];
    static const char *const bad[] = {
        "4111111111111112",     /* Luhn fails */
        "00000000000",          /* 11 digits */
        "40000000000000000006", /* 20 digits */
        "4111x111111111111",    /* letter */
        "",                     /* empty */
        "----",                 /* no digits */
        "4111.1111.1111.1111",  /* other separator */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = hc_card_normalize(bad[i], out, sizeof out);
        if (rc != HC_EINVAL)
            fail_msg("card \"%s\" accepted (rc=%d)", bad[i], rc);
    }
}

static void test_card_mask(void **state)
{
    (void)state;
    char out[32];
    hc_card_mask("1111", out, sizeof out);
    assert_string_equal(out, "************1111");
    hc_card_mask("4000000000000002", out, sizeof out);
    assert_string_equal(out, "************0002");
    /* never more than the last four digits */
    assert_null(strstr(out, "4000"));
}

static void test_phone_normalize(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(hc_phone_normalize("010-1234-5678", out, sizeof out), 0);
    assert_string_equal(out, "01012345678");
    assert_int_equal(hc_phone_normalize("010 1234 5678", out, sizeof out), 0);
    assert_string_equal(out, "01012345678");
    assert_int_equal(hc_phone_normalize("01012345678", out, sizeof out), 0);
    assert_string_equal(out, "01012345678");
    /* older prefixes with 7 digits */
    assert_int_equal(hc_phone_normalize("011-123-4567", out, sizeof out), 0);
    assert_string_equal(out, "0111234567");
    assert_int_equal(hc_phone_normalize("019-9876-5432", out, sizeof out), 0);
    assert_string_equal(out, "01998765432");

    static const char *const bad[] = {
        "012-1234-5678",  /* no such prefix */
        "02-1234-5678",   /* landline */
        "010-123-456",    /* 6 digits */
        "010-1234-56789", /* 9 digits */
        "010-abcd-5678",  /* letters */
        "",               /* empty */
        "+82-10-1234-5678",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = hc_phone_normalize(bad[i], out, sizeof out);
        if (rc != HC_EINVAL)
            fail_msg("phone \"%s\" accepted (rc=%d)", bad[i], rc);
    }
}

static void test_phone_mask(void **state)
{
    (void)state;
    char out[32];
    hc_phone_mask("01012345678", out, sizeof out);
    assert_string_equal(out, "010-****-5678");
    hc_phone_mask("01998765432", out, sizeof out);
    assert_string_equal(out, "019-****-5432");
}

static void test_date_parse(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_int_equal(hc_date_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(hc_date_parse("2000-01-01", &d), 0);
    assert_int_equal(d, 10957);
    assert_int_equal(hc_date_parse("2024-02-29", &d), 0); /* leap year */
    assert_int_equal(d, 19782);
    assert_int_equal(hc_date_parse("2000-02-29", &d), 0); /* divisible by 400 */
    assert_int_equal(hc_date_parse("2026-12-31", &d), 0);
    assert_int_equal(d, 20818);

    static const char *const bad[] = {
        "2023-02-29",
        "1900-02-29",
        "2026-04-31",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "2026-01-32",
        "2026-1-01",
        "2026-01-1",
        "26-01-01",
        "2026/01/01",
        "2026-01-01x",
        "2026-01-01T00:00:00Z",
        " 2026-01-01",
        "",
        "abcd-ef-gh",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = hc_date_parse(bad[i], &d);
        if (rc != HC_EINVAL)
            fail_msg("date \"%s\" accepted (rc=%d)", bad[i], rc);
    }
}

static void test_date_format_round_trip(void **state)
{
    (void)state;
    char out[16];
    hc_date_format(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01");
    hc_date_format(19782, out, sizeof out);
    assert_string_equal(out, "2024-02-29");
    for (int64_t day = 10957; day < 10957 + 3 * 366 + 400; day += 1) {
        int64_t back = -1;
        hc_date_format(day, out, sizeof out);
        assert_int_equal(hc_date_parse(out, &back), 0);
        assert_int_equal(back, day);
    }
}

static void test_today_follows_clock_and_offset(void **state)
{
    (void)state;
    char *old_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "UTC", 1);
    tzset();
    int64_t saved = hc_cfg.clock_offset_s;

    hc_cfg.clock_offset_s = 0;
    int64_t before = (int64_t)time(NULL) / 86400;
    int64_t today = hc_today();
    int64_t after = (int64_t)time(NULL) / 86400;
    assert_true(today == before || today == after);

    hc_cfg.clock_offset_s = 3 * 86400;
    before = (int64_t)time(NULL) / 86400 + 3;
    today = hc_today();
    after = (int64_t)time(NULL) / 86400 + 3;
    assert_true(today == before || today == after);

    /* Asia/Seoul is UTC+9: its day starts 9 hours earlier */
    setenv("TZ", "Asia/Seoul", 1);
    tzset();
    hc_cfg.clock_offset_s = 0;
    before = ((int64_t)time(NULL) + 9 * 3600) / 86400;
    today = hc_today();
    after = ((int64_t)time(NULL) + 9 * 3600) / 86400;
    assert_true(today == before || today == after);

    hc_cfg.clock_offset_s = saved;
    if (old_tz) {
        setenv("TZ", old_tz, 1);
        free(old_tz);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

static void test_fields(void **state)
{
    (void)state;
    hc_fields_t f;
    hc_fields_init(&f);
    assert_int_equal(hc_fields_count(&f), 0);
    hc_fields_add(&f, "phone", "must be a Korean mobile number, got %d digits", 6);
    hc_fields_add(&f, "name", "필수 항목입니다");
    assert_int_equal(hc_fields_count(&f), 2);
    json_t *list = hc_fields_take(&f);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 2);
    json_t *e0 = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(e0, "field")), "phone");
    assert_string_equal(json_string_value(json_object_get(e0, "message")),
                        "must be a Korean mobile number, got 6 digits");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "message")),
                        "필수 항목입니다");
    json_decref(list);
    assert_int_equal(hc_fields_count(&f), 0);
    hc_fields_cleanup(&f);

    /* cleanup without take frees what was collected (checked by ASan/LSan) */
    hc_fields_init(&f);
    hc_fields_add(&f, "x", "y");
    hc_fields_cleanup(&f);
}

static void test_get_string(void **state)
{
    (void)state;
    json_t *o =
        json_pack("{s:s, s:n, s:i, s:s}", "name", "홍길동", "nothing", "num", 5, "empty", "");
    hc_fields_t f;
    const char *s = NULL;
    hc_fields_init(&f);
    assert_int_equal(hc_get_string(o, "name", &s, &f), 1);
    assert_string_equal(s, "홍길동");
    assert_int_equal(hc_get_string(o, "empty", &s, &f), 1);
    assert_string_equal(s, "");
    assert_int_equal(hc_get_string(o, "absent", &s, &f), 0);
    assert_int_equal(hc_get_string(o, "nothing", &s, &f), 0);
    assert_int_equal(hc_fields_count(&f), 0);
    assert_int_equal(hc_get_string(o, "num", &s, &f), -1);
    assert_int_equal(hc_fields_count(&f), 1);
    json_t *list = hc_fields_take(&f);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "field")),
                        "num");
    json_decref(list);
    hc_fields_cleanup(&f);
    json_decref(o);
}

/* The rule of every free-text field (names, reasons). */
static void test_text_clean(void **state)
{
    (void)state;
    char out[HC_REASON_BUF], text[HC_REASON_BUF + 16];
    assert_int_equal(hc_text_clean(NULL, 200, out, sizeof out), HC_TEXT_EMPTY);
    assert_int_equal(hc_text_clean("", 200, out, sizeof out), HC_TEXT_EMPTY);
    assert_int_equal(hc_text_clean("   \u3000 ", 200, out, sizeof out), HC_TEXT_EMPTY);
    assert_int_equal(hc_text_clean("  의사 부재로 취소  ", 200, out, sizeof out), HC_TEXT_OK);
    assert_string_equal(out, "의사 부재로 취소");
    assert_int_equal(hc_text_clean("x", 200, out, sizeof out), HC_TEXT_OK);
    assert_string_equal(out, "x");
    /* Controls anywhere, including white-space controls at the ends. */
    const char *bad[] = {" \t\n",
                         "a\tb",
                         "a\nb",
                         "ab\r",
                         "\x07",
                         "\x1b[2J",
                         "\x7f",
                         "\xc2\x85",
                         "a\xe2\x80\xa8"
                         "b",
                         "a\xe2\x80\xae"
                         "b",
                         "\xe2\x80\x8b",
                         "\xef\xbb\xbfx",
                         NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(hc_text_clean(bad[i], 200, out, sizeof out), HC_TEXT_CONTROL);
    /* 200 characters, counted as characters: ASCII and 3-byte Korean. */
    memset(text, 'x', 201);
    text[201] = '\0';
    assert_int_equal(hc_text_clean(text, 200, out, sizeof out), HC_TEXT_TOO_LONG);
    text[200] = '\0';
    assert_int_equal(hc_text_clean(text, 200, out, sizeof out), HC_TEXT_OK);
    text[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(text, "검");
    assert_int_equal(hc_text_clean(text, 200, out, sizeof out), HC_TEXT_OK);
    assert_int_equal(strlen(out), 600);
    /* Spaces count as sent (JSON Schema's maxLength); a buffer too small
     * reads as too long. */
    strcat(text, " ");
    assert_int_equal(hc_text_clean(text, 200, out, sizeof out), HC_TEXT_TOO_LONG);
    assert_int_equal(hc_text_clean("  ab  ", 6, out, sizeof out), HC_TEXT_OK);
    assert_string_equal(out, "ab");
    assert_int_equal(hc_text_clean("  ab  ", 5, out, sizeof out), HC_TEXT_TOO_LONG);
    assert_int_equal(hc_text_clean("abcdef", 10, out, 4), HC_TEXT_TOO_LONG);
    assert_string_equal(hc_text_message(HC_TEXT_TOO_LONG, 50), "must be 1-50 characters");
    assert_non_null(strstr(hc_text_message(HC_TEXT_CONTROL, 50), "control"));
}

static void test_get_text(void **state)
{
    (void)state;
    hc_fields_t f;
    char out[64];
    hc_fields_init(&f);
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:n}", "ok", " 홍길동 ", "bad", "a\x07", "num", 7, "nul");
    assert_int_equal(hc_get_text(o, "ok", 50, out, sizeof out, &f), 1);
    assert_string_equal(out, "홍길동");
    assert_int_equal(hc_get_text(o, "missing", 50, out, sizeof out, &f), 0);
    assert_int_equal(hc_get_text(o, "nul", 50, out, sizeof out, &f), 0);
    assert_int_equal(hc_fields_count(&f), 0);
    assert_int_equal(hc_get_text(o, "bad", 50, out, sizeof out, &f), -1);
    assert_int_equal(hc_get_text(o, "num", 50, out, sizeof out, &f), -1);
    assert_int_equal(hc_fields_count(&f), 2);
    json_decref(o);
    hc_fields_cleanup(&f);
}

static void test_get_int(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:I, s:s, s:s, s:f, s:n, s:b}", "id", (json_int_t)42, "text", "17",
                          "bad", "17a", "real", 1.5, "nothing", "flag", 1);
    hc_fields_t f;
    int64_t v = 0;
    hc_fields_init(&f);
    assert_int_equal(hc_get_int(o, "id", &v, &f), 1);
    assert_int_equal(v, 42);
    assert_int_equal(hc_get_int(o, "text", &v, &f), 1);
    assert_int_equal(v, 17);
    assert_int_equal(hc_get_int(o, "absent", &v, &f), 0);
    assert_int_equal(hc_get_int(o, "nothing", &v, &f), 0);
    assert_int_equal(hc_fields_count(&f), 0);
    assert_int_equal(hc_get_int(o, "bad", &v, &f), -1);
    assert_int_equal(hc_get_int(o, "real", &v, &f), -1);
    assert_int_equal(hc_get_int(o, "flag", &v, &f), -1);
    assert_int_equal(hc_fields_count(&f), 3);
    hc_fields_cleanup(&f);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_card_normalize),
        cmocka_unit_test(test_card_rejects),
        cmocka_unit_test(test_card_mask),
        cmocka_unit_test(test_phone_normalize),
        cmocka_unit_test(test_phone_mask),
        cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_date_format_round_trip),
        cmocka_unit_test(test_today_follows_clock_and_offset),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_get_string),
        cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_text_clean),
        cmocka_unit_test(test_get_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
