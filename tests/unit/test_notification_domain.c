/* Checks notification_domain: which statuses are announced, the Korean SMS
 * text of each (and its fallbacks for what is not known), the retry backoff. */
#include "hc_test.h"

#include <limits.h>

#include "notification/notification_domain.h"

#define FALLBACK_PAID "[건강검진] 고객님, 건강검진 결제가 완료되었습니다."

/* Renders and compares with want (NULL: no text), freeing the result. */
static void assert_render(const char *status, const char *name, const char *date,
                          const char *package, const char *type, const char *want)
{
    char *got = notification_render(status, name, date, package, type);
    if (!want) {
        if (got)
            fail_msg("%s: want no text, got \"%s\"", status ? status : "(null)", got);
        return;
    }
    if (!got)
        fail_msg("%s: no text, want \"%s\"", status, want);
    if (strcmp(got, want) != 0)
        fail_msg("got  \"%s\"\nwant \"%s\"", got, want);
    free(got);
}

static void test_announced_statuses(void **state)
{
    (void)state;
    const char *yes[] = {"PAID", "REQUESTED", "CONFIRMED", "REJECTED", "CANCELED", "FAILED"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(notification_status_valid(yes[i]));
    const char *no[] = {"PENDING", NULL,      "",          "paid", "Paid",     " PAID",
                        "PAID ",   "UNKNOWN", "CANCELLED", "DONE", "APPROVED", "PAIDX"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(notification_status_valid(no[i]));
}

static void test_each_status_has_its_korean_text(void **state)
{
    (void)state;
    static const struct {
        const char *status, *text;
    } want[] = {
        {"PAID", "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 결제가 완료되었습니다."},
        {"REQUESTED",
         "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 예약 신청이 검진센터에 접수되었습니다."},
        {"CONFIRMED", "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 예약이 확정되었습니다."},
        {"REJECTED",
         "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 예약이 반려되었습니다. 결제는 취소됩니다."},
        {"CANCELED",
         "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 예약이 취소되었습니다. 결제가 환불됩니다."},
        {"FAILED", "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 예약이 처리되지 않았습니다."},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_render(want[i].status, "홍길동", "2026-12-01", "기본 건강검진", "basic",
                      want[i].text);
}

static void test_unannounced_statuses_have_no_text(void **state)
{
    (void)state;
    const char *no[] = {"PENDING", NULL, "", "paid", "UNKNOWN"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_render(no[i], "홍길동", "2026-12-01", "기본 건강검진", "basic", NULL);
}

static void test_what_is_not_known_is_left_out(void **state)
{
    (void)state;
    /* No name: "고객님". */
    assert_render("PAID", NULL, "2026-12-01", "기본 건강검진", "basic",
                  "[건강검진] 고객님, 2026-12-01 기본 건강검진 결제가 완료되었습니다.");
    assert_render("PAID", "", "2026-12-01", "기본 건강검진", "basic",
                  "[건강검진] 고객님, 2026-12-01 기본 건강검진 결제가 완료되었습니다.");
    /* No date: left out. */
    assert_render("CONFIRMED", "홍길동", NULL, "기본 건강검진", "basic",
                  "[건강검진] 홍길동님, 기본 건강검진 예약이 확정되었습니다.");
    assert_render("CONFIRMED", "홍길동", "", "기본 건강검진", "basic",
                  "[건강검진] 홍길동님, 기본 건강검진 예약이 확정되었습니다.");
    /* The catalog's name wins; without it the package code; without both "건강검진". */
    assert_render("CONFIRMED", "홍길동", "2026-12-01", NULL, "prime",
                  "[건강검진] 홍길동님, 2026-12-01 prime 검진 예약이 확정되었습니다.");
    assert_render("CONFIRMED", "홍길동", "2026-12-01", "", "prime",
                  "[건강검진] 홍길동님, 2026-12-01 prime 검진 예약이 확정되었습니다.");
    assert_render("CONFIRMED", "홍길동", "2026-12-01", NULL, NULL,
                  "[건강검진] 홍길동님, 2026-12-01 건강검진 예약이 확정되었습니다.");
    assert_render("CONFIRMED", "홍길동", "2026-12-01", "", "",
                  "[건강검진] 홍길동님, 2026-12-01 건강검진 예약이 확정되었습니다.");
    /* Nothing known at all. */
    assert_render("FAILED", NULL, NULL, NULL, NULL,
                  "[건강검진] 고객님, 건강검진 예약이 처리되지 않았습니다.");
    assert_render("PAID", "", "", "", "", FALLBACK_PAID);
}

static void test_a_name_is_text_not_a_format(void **state)
{
    (void)state;
    assert_render("PAID", "%s%n%d", NULL, NULL, NULL,
                  "[건강검진] %s%n%d님, 건강검진 결제가 완료되었습니다.");
}

static void test_the_longest_valid_name_is_rendered_whole(void **state)
{
    (void)state;
    /* A name is at most 50 characters: 50 Hangul are 150 bytes. */
    char name[200] = "";
    for (int i = 0; i < 50; i++)
        strncat(name, "가", sizeof name - strlen(name) - 1);
    char want[400];
    snprintf(want, sizeof want, "[건강검진] %s님, 2026-12-01 종합 건강검진 예약이 확정되었습니다.",
             name);
    assert_render("CONFIRMED", name, "2026-12-01", "종합 건강검진", "prime", want);
}

static void test_an_absurdly_long_name_falls_back_to_the_bare_notice(void **state)
{
    (void)state;
    size_t n = 100000;
    char *name = malloc(n + 1);
    assert_non_null(name);
    memset(name, 'a', n);
    name[n] = '\0';
    assert_render("PAID", name, "2026-12-01", "기본 건강검진", "basic", FALLBACK_PAID);
    assert_render("CANCELED", name, NULL, NULL, NULL,
                  "[건강검진] 고객님, 건강검진 예약이 취소되었습니다. 결제가 환불됩니다.");
    assert_render("PENDING", name, NULL, NULL, NULL, NULL);

    /* Growing the name byte by byte: the text is whole (and holds the name)
     * until it is the bare notice, and stays that from then on; never cut. */
    int fell_back = 0;
    for (n = 0; n <= 1200; n++) {
        name[n] = '\0';
        char *got = notification_render("REQUESTED", name, "2026-12-01", "기본 건강검진", "basic");
        assert_non_null(got);
        if (strcmp(got, "[건강검진] 고객님, 건강검진 예약 신청이 검진센터에 접수되었습니다.") ==
            0) {
            fell_back = 1;
        } else {
            assert_false(fell_back);
            char want[1400];
            snprintf(
                want, sizeof want,
                "[건강검진] %s님, 2026-12-01 기본 건강검진 예약 신청이 검진센터에 접수되었습니다.",
                n ? name : "고객");
            assert_string_equal(got, want);
        }
        free(got);
        name[n] = 'a';
    }
    assert_true(fell_back);
    free(name);
}

static void test_backoff_doubles_from_one_second(void **state)
{
    (void)state;
    static const int64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000};
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
        assert_int_equal(notification_backoff_ms(i + 1), want[i]);
}

static void test_backoff_is_capped_at_five_minutes(void **state)
{
    (void)state;
    assert_int_equal(NOTIFICATION_BACKOFF_MAX_MS, 300000);
    assert_int_equal(notification_backoff_ms(10), 300000); /* 512 s, capped */
    assert_int_equal(notification_backoff_ms(11), 300000);
    assert_int_equal(notification_backoff_ms(64), 300000);
    assert_int_equal(notification_backoff_ms(1000), 300000);
    assert_int_equal(notification_backoff_ms(INT_MAX), 300000);
    /* Never decreasing, never above the cap. */
    int64_t prev = 0;
    for (int a = 1; a <= 100; a++) {
        int64_t ms = notification_backoff_ms(a);
        assert_true(ms >= prev);
        assert_true(ms <= NOTIFICATION_BACKOFF_MAX_MS);
        prev = ms;
    }
}

static void test_backoff_reads_fewer_than_one_attempt_as_one(void **state)
{
    (void)state;
    assert_int_equal(notification_backoff_ms(0), 1000);
    assert_int_equal(notification_backoff_ms(-1), 1000);
    assert_int_equal(notification_backoff_ms(INT_MIN), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announced_statuses),
        cmocka_unit_test(test_each_status_has_its_korean_text),
        cmocka_unit_test(test_unannounced_statuses_have_no_text),
        cmocka_unit_test(test_what_is_not_known_is_left_out),
        cmocka_unit_test(test_a_name_is_text_not_a_format),
        cmocka_unit_test(test_the_longest_valid_name_is_rendered_whole),
        cmocka_unit_test(test_an_absurdly_long_name_falls_back_to_the_bare_notice),
        cmocka_unit_test(test_backoff_doubles_from_one_second),
        cmocka_unit_test(test_backoff_is_capped_at_five_minutes),
        cmocka_unit_test(test_backoff_reads_fewer_than_one_attempt_as_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
