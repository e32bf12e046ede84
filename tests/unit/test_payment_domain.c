/* Checks payment_domain: status and method names, the decline list, every rule
 * of a charge request, the records a charge and a void create, the answer,
 * refund and void decisions, the cancel, reason texts, the JSON and events. */
#include "hc_test.h"

#include "hc_err.h"
#include "hc_event.h"
#include "hc_trace.h"
#include "hc_valid.h"
#include "payment/payment_domain.h"

#define NOW "2026-12-01T10:00:00.000Z"
#define LATER "2026-12-02T11:30:00.500Z"
#define DECLINES "4000000000000002"
#define VISA "4111111111111111"

/* ---- helpers ---- */

/* Returns 1 when s is well-formed UTF-8 (no stray or cut sequences). */
static int utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = *p < 0x80             ? 1
                     : (*p & 0xE0) == 0xC0 ? 2
                     : (*p & 0xF0) == 0xE0 ? 3
                     : (*p & 0xF8) == 0xF0 ? 4
                                           : 0;
        if (len == 0)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((p[k] & 0xC0) != 0x80)
                return 0;
        p += len;
    }
    return 1;
}

/* Returns 1 when the n bytes at mem hold the string needle anywhere. */
static int mem_holds(const void *mem, size_t n, const char *needle)
{
    return memmem(mem, n, needle, strlen(needle)) != NULL;
}

/* Parses text against decline (may be NULL) into *out. Writes the names of the
 * fields in error, joined by ',', into fields, and the whole error list as
 * JSON into dump (when not NULL, dump_size bytes). Returns the parse's rc. */
static int parse_full(const char *text, const char *decline, payment_request_t *out, char *fields,
                      size_t size, char *dump, size_t dump_size)
{
    hc_fields_t f;
    hc_fields_init(&f);
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = payment_request_parse(body, decline, out, &f);
    json_t *list = hc_fields_take(&f);
    fields[0] = '\0';
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (i)
            strncat(fields, ",", size - strlen(fields) - 1);
        strncat(fields, json_string_value(json_object_get(json_array_get(list, i), "field")),
                size - strlen(fields) - 1);
    }
    if (dump) {
        char *text_list = json_dumps(list, JSON_COMPACT);
        snprintf(dump, dump_size, "%s", text_list);
        free(text_list);
    }
    json_decref(list);
    json_decref(body);
    hc_fields_cleanup(&f);
    return rc;
}

static int parse(const char *text, payment_request_t *out, char *fields, size_t size)
{
    return parse_full(text, DECLINES, out, fields, size, NULL, 0);
}

/* Asserts that text is refused naming exactly want (comma-joined). */
static void assert_refused(const char *text, const char *want)
{
    payment_request_t r;
    char fields[200];
    if (parse(text, &r, fields, sizeof fields) != HC_EINVAL || strcmp(fields, want) != 0)
        fail_msg("%s: got fields \"%s\", want \"%s\"", text, fields, want);
}

/* Asserts that text is accepted and returns what it parsed to. */
static payment_request_t accepted(const char *text)
{
    payment_request_t r;
    char fields[200];
    if (parse(text, &r, fields, sizeof fields) != 0)
        fail_msg("%s: refused with fields \"%s\"", text, fields);
    return r;
}

/* An APPROVED card payment with every field set. */
static payment_t approved(void)
{
    payment_t p;
    memset(&p, 0, sizeof p);
    p.id = 7;
    p.order_id = 42;
    p.amount = 50000;
    p.method = PAYMENT_CARD;
    snprintf(p.card_last4, sizeof p.card_last4, "1111");
    p.status = PAYMENT_APPROVED;
    p.center_id = 2;
    snprintf(p.checkup_date, sizeof p.checkup_date, "2026-12-10");
    snprintf(p.created_at, sizeof p.created_at, NOW);
    snprintf(p.updated_at, sizeof p.updated_at, NOW);
    return p;
}

static const char *str_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static json_int_t int_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

/* Asserts that o has exactly the keys of the NULL-terminated list. */
static void assert_keys(json_t *o, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n]; n++)
        if (!json_object_get(o, keys[n]))
            fail_msg("key %s is missing", keys[n]);
    assert_int_equal(json_object_size(o), n);
}

/* ---- statuses and methods ---- */

static void test_status_names_round_trip(void **state)
{
    (void)state;
    static const struct {
        payment_status_t s;
        const char *name;
    } all[] = {
        {PAYMENT_APPROVED, "APPROVED"},
        {PAYMENT_DECLINED, "DECLINED"},
        {PAYMENT_CANCELED, "CANCELED"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        payment_status_t s = PAYMENT_STATUS_NONE;
        assert_string_equal(payment_status_name(all[i].s), all[i].name);
        assert_int_equal(payment_status_parse(all[i].name, &s), 0);
        assert_int_equal(s, all[i].s);
    }
    assert_string_equal(payment_status_name(PAYMENT_STATUS_NONE), "UNKNOWN");
    assert_string_equal(payment_status_name((payment_status_t)99), "UNKNOWN");
    assert_string_equal(payment_status_name((payment_status_t)-1), "UNKNOWN");
}

static void test_status_parse_is_exact_and_leaves_out_on_failure(void **state)
{
    (void)state;
    const char *bad[] = {"approved",  "Approved", " APPROVED", "APPROVED ", "",
                         "CANCELLED", "UNKNOWN",  "NONE",      "APPROVEDX", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        payment_status_t s = PAYMENT_DECLINED;
        assert_int_equal(payment_status_parse(bad[i], &s), HC_EINVAL);
        assert_int_equal(s, PAYMENT_DECLINED);
    }
}

static void test_method_names_round_trip_and_parse_ignores_case(void **state)
{
    (void)state;
    payment_method_t m = PAYMENT_METHOD_NONE;
    assert_string_equal(payment_method_name(PAYMENT_CARD), "card");
    assert_string_equal(payment_method_name(PAYMENT_CASH), "cash");
    assert_string_equal(payment_method_name(PAYMENT_METHOD_NONE), "unknown");
    assert_string_equal(payment_method_name((payment_method_t)9), "unknown");
    assert_int_equal(payment_method_parse("card", &m), 0);
    assert_int_equal(m, PAYMENT_CARD);
    assert_int_equal(payment_method_parse("cash", &m), 0);
    assert_int_equal(m, PAYMENT_CASH);
    assert_int_equal(payment_method_parse("CARD", &m), 0);
    assert_int_equal(m, PAYMENT_CARD);
    assert_int_equal(payment_method_parse("Cash", &m), 0);
    assert_int_equal(m, PAYMENT_CASH);
    const char *bad[] = {"bank", "", " card", "card ", "cards", "unknown", "카드", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = PAYMENT_CASH;
        assert_int_equal(payment_method_parse(bad[i], &m), HC_EINVAL);
        assert_int_equal(m, PAYMENT_CASH);
    }
}

/* ---- the decline list ---- */

static void test_decline_list_matches_whole_entries(void **state)
{
    (void)state;
    assert_true(payment_card_is_declined("4000000000000002", "4000000000000002"));
    assert_true(payment_card_is_declined(VISA, "4000000000000002," VISA));
    assert_true(payment_card_is_declined(VISA, VISA ",4000000000000002"));
    /* Spaces and dashes inside and around entries are ignored. */
    assert_true(payment_card_is_declined(VISA, "4000000000000002 , 4111 1111 1111 1111 "));
    assert_true(payment_card_is_declined(VISA, "4000-0000-0000-0002,4111-1111-1111-1111"));
    assert_true(payment_card_is_declined(VISA, ",," VISA ",,"));
    /* A prefix, a suffix or a longer number is another card. */
    assert_false(payment_card_is_declined(VISA, "411111111111111"));
    assert_false(payment_card_is_declined(VISA, "41111111111111111"));
    assert_false(payment_card_is_declined(VISA, "111111111111111"));
    assert_false(payment_card_is_declined("411111111111", VISA));
    /* Entries are separated by commas only: a space joins two numbers into one. */
    assert_false(payment_card_is_declined(VISA, "4000000000000002 " VISA));
    /* The longest card (19 digits) still matches; longer entries never match,
     * not even by their first digits. */
    assert_true(payment_card_is_declined("1234567890123456785", "1234567890123456785"));
    assert_false(payment_card_is_declined("1234567890123456785", "12345678901234567850"));
    assert_false(payment_card_is_declined("1234567890123456785",
                                          "1234567890123456785000000000000000000000"));
    assert_true(payment_card_is_declined(VISA, "1234567890123456785000000000000000000000," VISA));
}

static void test_decline_list_empty_or_absent_declines_nothing(void **state)
{
    (void)state;
    assert_false(payment_card_is_declined(VISA, ""));
    assert_false(payment_card_is_declined(VISA, NULL));
    assert_false(payment_card_is_declined(VISA, ","));
    assert_false(payment_card_is_declined(VISA, " , - ,"));
    assert_false(payment_card_is_declined("", ""));
    assert_false(payment_card_is_declined("", ","));
    assert_false(payment_card_is_declined(NULL, VISA));
}

/* ---- the charge request ---- */

static void test_a_valid_request_is_filled_in(void **state)
{
    (void)state;
    payment_request_t r =
        accepted("{\"orderId\":42,\"amount\":50000,\"payMethod\":\"card\",\"cardNo\":\"" VISA
                 "\",\"centerId\":2,\"checkupDate\":\"2026-12-10\"}");
    assert_int_equal(r.order_id, 42);
    assert_int_equal(r.amount, 50000);
    assert_int_equal(r.method, PAYMENT_CARD);
    assert_string_equal(r.card_last4, "1111");
    assert_int_equal(r.declined, 0);
    assert_int_equal(r.center_id, 2);
    assert_string_equal(r.checkup_date, "2026-12-10");
}

static void test_optional_fields_default(void **state)
{
    (void)state;
    /* No payMethod means card; no centerId and no date stay unset. */
    payment_request_t r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.method, PAYMENT_CARD);
    assert_int_equal(r.center_id, 0);
    assert_string_equal(r.checkup_date, "");
    /* null reads as absent. */
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"" VISA
                 "\",\"payMethod\":null,\"centerId\":null,\"checkupDate\":null,\"price\":null}");
    assert_int_equal(r.method, PAYMENT_CARD);
    assert_int_equal(r.center_id, 0);
    assert_string_equal(r.checkup_date, "");
    assert_int_equal(r.amount, 1);
}

static void test_order_id_must_be_a_positive_integer(void **state)
{
    (void)state;
    assert_refused("{\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":null,\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":0,\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":-5,\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":1.5,\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":true,\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":\"012\",\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    assert_refused("{\"orderId\":\"x\",\"amount\":1,\"cardNo\":\"" VISA "\"}", "orderId");
    /* A string of digits is read as form tools send it. */
    payment_request_t r = accepted("{\"orderId\":\"12\",\"amount\":1,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.order_id, 12);
    r = accepted("{\"orderId\":9007199254740993,\"amount\":1,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.order_id, 9007199254740993LL);
}

static void test_amount_or_its_alias_price(void **state)
{
    (void)state;
    payment_request_t r;
    r = accepted("{\"orderId\":1,\"amount\":50000,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, 50000);
    r = accepted("{\"orderId\":1,\"price\":70000,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, 70000);
    r = accepted("{\"orderId\":1,\"amount\":80000,\"price\":80000,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, 80000);
    r = accepted("{\"orderId\":1,\"amount\":null,\"price\":3,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, 3);
    r = accepted("{\"orderId\":1,\"amount\":\"50000\",\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, 50000);
    /* Both given: they must agree, and the mismatch is named on price. */
    assert_refused("{\"orderId\":1,\"amount\":50000,\"price\":50001,\"cardNo\":\"" VISA "\"}",
                   "price");
    assert_refused("{\"orderId\":1,\"amount\":50000,\"price\":0,\"cardNo\":\"" VISA "\"}", "price");
    /* Neither: named on amount. */
    assert_refused("{\"orderId\":1,\"cardNo\":\"" VISA "\"}", "amount");
    assert_refused("{\"orderId\":1,\"amount\":null,\"price\":null,\"cardNo\":\"" VISA "\"}",
                   "amount");
    /* Wrong types, each named once. */
    assert_refused("{\"orderId\":1,\"amount\":1.5,\"cardNo\":\"" VISA "\"}", "amount");
    assert_refused("{\"orderId\":1,\"amount\":\"5만원\",\"cardNo\":\"" VISA "\"}", "amount");
    assert_refused("{\"orderId\":1,\"amount\":\"x\",\"price\":5,\"cardNo\":\"" VISA "\"}",
                   "amount");
    assert_refused("{\"orderId\":1,\"amount\":[],\"price\":{},\"cardNo\":\"" VISA "\"}",
                   "amount,price");
}

static void test_amount_bounds(void **state)
{
    (void)state;
    char text[200];
    payment_request_t r =
        accepted("{\"orderId\":1,\"amount\":1000000000000,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.amount, PAYMENT_AMOUNT_MAX);
    snprintf(text, sizeof text, "{\"orderId\":1,\"amount\":%lld,\"cardNo\":\"" VISA "\"}",
             PAYMENT_AMOUNT_MAX + 1);
    assert_refused(text, "amount");
    snprintf(text, sizeof text, "{\"orderId\":1,\"price\":%lld,\"cardNo\":\"" VISA "\"}",
             PAYMENT_AMOUNT_MAX + 1);
    assert_refused(text, "price");
    assert_refused("{\"orderId\":1,\"amount\":0,\"cardNo\":\"" VISA "\"}", "amount");
    assert_refused("{\"orderId\":1,\"amount\":-50000,\"cardNo\":\"" VISA "\"}", "amount");
    assert_refused("{\"orderId\":1,\"price\":-1,\"cardNo\":\"" VISA "\"}", "price");
    assert_refused("{\"orderId\":1,\"amount\":9223372036854775807,\"cardNo\":\"" VISA "\"}",
                   "amount");
    /* Equal but out of bounds: one error, on amount. */
    assert_refused("{\"orderId\":1,\"amount\":0,\"price\":0,\"cardNo\":\"" VISA "\"}", "amount");
}

static void test_pay_method_card_or_cash_in_any_case(void **state)
{
    (void)state;
    payment_request_t r;
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\"}");
    assert_int_equal(r.method, PAYMENT_CASH);
    assert_string_equal(r.card_last4, "");
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"CASH\"}");
    assert_int_equal(r.method, PAYMENT_CASH);
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"Card\",\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.method, PAYMENT_CARD);
    /* An unknown method is named alone: whether a card is needed is unknown. */
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"bank\"}", "payMethod");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"\"}", "payMethod");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"bank\",\"cardNo\":\"x\"}",
                   "payMethod");
}

/* Regression: a payMethod of the wrong type (a number, an object) was read as
 * card, so a request without cardNo was also told "cardNo is required when
 * payMethod is card" (and a bad cardNo was named too), unlike an unknown
 * method name and unlike order's booking request. */
static void test_a_pay_method_of_the_wrong_type_asks_for_no_card(void **state)
{
    (void)state;
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":5}", "payMethod");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":{}}", "payMethod");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":true,\"cardNo\":\"x\"}", "payMethod");
}

static void test_card_number_rules(void **state)
{
    (void)state;
    payment_request_t r;
    /* Spaces and dashes allowed; 12 to 19 digits. */
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"4111 1111-1111 1111\"}");
    assert_string_equal(r.card_last4, "1111");
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"5555555555554444\"}");
    assert_string_equal(r.card_last4, "4444");
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"123456789015\"}");
    assert_string_equal(r.card_last4, "9015");
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"1234567890123456785\"}");
    assert_string_equal(r.card_last4, "6785");
    /* Refused: too short (11, Luhn-valid), too long (20, Luhn-valid), a bad
     * check digit, letters, empty, only separators, longer than any buffer. */
    const char *bad[] = {
        "\"41111111112\"",
        "\"12345678901234567894\"",
        "\"4111111111111112\"",
        "\"4111x11111111111\"",
        "\"4111.1111.1111.1111\"",
        "\"\"",
        "\"- - -\"",
        "\"4111111111111111                                                                   \"",
        "1.5",
        "true",
        "[\"" VISA "\"]",
        "{}",
        "0",
        "41111111112",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[300];
        snprintf(text, sizeof text, "{\"orderId\":1,\"amount\":1,\"cardNo\":%s}", bad[i]);
        assert_refused(text, "cardNo");
    }
    /* Required for card, null reads as absent. */
    assert_refused("{\"orderId\":1,\"amount\":1}", "cardNo");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"card\",\"cardNo\":null}", "cardNo");
}

static void test_card_number_as_an_integer(void **state)
{
    (void)state;
    /* The seed's Long cardNo. */
    payment_request_t r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":4111111111111111}");
    assert_string_equal(r.card_last4, "1111");
    assert_int_equal(r.declined, 0);
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":4000000000000002}");
    assert_string_equal(r.card_last4, "0002");
    assert_int_equal(r.declined, 1);
    assert_refused("{\"orderId\":1,\"amount\":1,\"cardNo\":4111111111111112}", "cardNo");
}

/* Regression: a negative JSON integer was printed as "-4111111111111111",
 * whose leading '-' passed for a separator, so -4111111111111111 was taken as
 * card 4111111111111111 (order's booking request refuses it). */
static void test_a_negative_integer_card_number_is_refused(void **state)
{
    (void)state;
    assert_refused("{\"orderId\":1,\"amount\":1,\"cardNo\":-4111111111111111}", "cardNo");
    assert_refused("{\"orderId\":1,\"amount\":1,\"cardNo\":-4000000000000002}", "cardNo");
}

static void test_cash_ignores_a_card(void **state)
{
    (void)state;
    payment_request_t r;
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"cardNo\":\"" VISA "\"}");
    assert_string_equal(r.card_last4, "");
    assert_int_equal(r.declined, 0);
    /* Not even checked: a junk or declined number changes nothing. */
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"cardNo\":\"junk\"}");
    assert_string_equal(r.card_last4, "");
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"cardNo\":[1]}");
    assert_string_equal(r.card_last4, "");
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\","
                 "\"cardNo\":\"4000000000000002\"}");
    assert_int_equal(r.declined, 0);
    assert_string_equal(r.card_last4, "");
}

static void test_a_card_on_the_decline_list_is_flagged(void **state)
{
    (void)state;
    payment_request_t r;
    char fields[200];
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"4000-0000-0000-0002\"}");
    assert_int_equal(r.declined, 1);
    assert_string_equal(r.card_last4, "0002");
    r = accepted("{\"orderId\":1,\"amount\":1,\"cardNo\":\"" VISA "\"}");
    assert_int_equal(r.declined, 0);
    /* The list is the caller's: an empty or absent one declines nothing. */
    const char *body = "{\"orderId\":1,\"amount\":1,\"cardNo\":\"4000000000000002\"}";
    assert_int_equal(parse_full(body, "", &r, fields, sizeof fields, NULL, 0), 0);
    assert_int_equal(r.declined, 0);
    assert_int_equal(parse_full(body, NULL, &r, fields, sizeof fields, NULL, 0), 0);
    assert_int_equal(r.declined, 0);
    assert_int_equal(parse_full("{\"orderId\":1,\"amount\":1,\"cardNo\":\"" VISA "\"}",
                                "4000000000000002, 4111-1111-1111-1111", &r, fields, sizeof fields,
                                NULL, 0),
                     0);
    assert_int_equal(r.declined, 1);
}

static void test_center_and_checkup_date(void **state)
{
    (void)state;
    payment_request_t r;
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"centerId\":\"3\","
                 "\"checkupDate\":\"2028-02-29\"}");
    assert_int_equal(r.center_id, 3);
    assert_string_equal(r.checkup_date, "2028-02-29");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"centerId\":0}",
                   "centerId");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"centerId\":-2}",
                   "centerId");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"centerId\":\"a\"}",
                   "centerId");
    const char *bad_dates[] = {"\"2026-02-29\"", "\"2026-2-3\"",   "\"2026-12-10T00:00:00Z\"",
                               "\"\"",           "\"2026-13-01\"", "20261210",
                               "\"10/12/2026\""};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        char text[200];
        snprintf(text, sizeof text,
                 "{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"checkupDate\":%s}",
                 bad_dates[i]);
        assert_refused(text, "checkupDate");
    }
}

/* The booking's phone says whose the payment is: kept as digits, also in the
 * record a charge creates and in PaymentApproved; a bad one is named. */
static void test_phone_is_kept_as_digits(void **state)
{
    (void)state;
    payment_request_t r;
    payment_t p;
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\","
                 "\"phone\":\"010-1234-5678\"}");
    assert_string_equal(r.phone, "01012345678");
    payment_from_request(&r, "2026-01-01T00:00:00.000Z", &p);
    assert_string_equal(p.phone, "01012345678");
    json_t *ev = payment_event_approved(&p, NULL);
    assert_string_equal(json_string_value(json_object_get(ev, "phone")), "01012345678");
    json_decref(ev);
    r = accepted("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\"}");
    assert_string_equal(r.phone, "");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"phone\":\"12\"}", "phone");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"phone\":5}", "phone");
}

static void test_unknown_fields_are_refused(void **state)
{
    (void)state;
    /* A misspelt cardNo is named, and the card is still missing. */
    assert_refused("{\"orderId\":1,\"amount\":1,\"cardno\":\"" VISA "\"}", "cardno,cardNo");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"status\":\"APPROVED\"}",
                   "status");
    assert_refused("{\"orderId\":1,\"amount\":1,\"payMethod\":\"cash\",\"id\":5,\"reason\":\"x\"}",
                   "id,reason");
}

static void test_every_bad_field_is_named(void **state)
{
    (void)state;
    assert_refused("{}", "orderId,amount,cardNo");
    assert_refused("{\"orderId\":0,\"amount\":0,\"payMethod\":\"bank\",\"centerId\":0,"
                   "\"checkupDate\":\"x\",\"extra\":1}",
                   "extra,orderId,amount,payMethod,centerId,checkupDate");
    assert_refused("{\"orderId\":-1,\"price\":-1,\"cardNo\":\"1\",\"centerId\":-1}",
                   "orderId,price,cardNo,centerId");
}

static void test_a_refused_request_leaves_out_zeroed(void **state)
{
    (void)state;
    payment_request_t r, zero;
    char fields[200];
    memset(&zero, 0, sizeof zero);
    /* Every field good but one: nothing parsed is left behind. */
    memset(&r, 0xAB, sizeof r);
    assert_int_equal(parse("{\"orderId\":42,\"amount\":50000,\"cardNo\":\"4000000000000002\","
                           "\"centerId\":2,\"checkupDate\":\"2026-12-10\",\"extra\":1}",
                           &r, fields, sizeof fields),
                     HC_EINVAL);
    assert_memory_equal(&r, &zero, sizeof r);
    memset(&r, 0xAB, sizeof r);
    assert_int_equal(parse("{\"orderId\":42,\"amount\":50000,\"cardNo\":\"" VISA "\","
                           "\"centerId\":2,\"checkupDate\":\"2026-02-30\"}",
                           &r, fields, sizeof fields),
                     HC_EINVAL);
    assert_memory_equal(&r, &zero, sizeof r);
}

static void test_errors_already_in_the_list_do_not_refuse_a_good_request(void **state)
{
    (void)state;
    hc_fields_t f;
    payment_request_t r;
    hc_fields_init(&f);
    hc_fields_add(&f, "other", "from an earlier check");
    json_t *body = json_loads("{\"orderId\":1,\"amount\":1,\"cardNo\":\"" VISA "\"}", 0, NULL);
    assert_int_equal(payment_request_parse(body, DECLINES, &r, &f), 0);
    assert_int_equal(hc_fields_count(&f), 1);
    assert_string_equal(r.card_last4, "1111");
    json_decref(body);
    hc_fields_cleanup(&f);
}

static void test_the_full_card_number_is_kept_nowhere(void **state)
{
    (void)state;
    payment_request_t r;
    char fields[200], dump[2000];
    /* Accepted: only the last four digits remain in what the caller gets. */
    assert_int_equal(parse_full("{\"orderId\":1,\"amount\":1,\"cardNo\":\"4111-1111-1111-1111\"}",
                                DECLINES, &r, fields, sizeof fields, dump, sizeof dump),
                     0);
    assert_false(mem_holds(&r, sizeof r, "41111111"));
    assert_false(mem_holds(&r, sizeof r, "11111"));
    /* Refused (bad check digit, too long, on the decline list next to a bad
     * field): the error messages never echo the number. */
    const char *bodies[] = {
        "{\"orderId\":1,\"amount\":1,\"cardNo\":\"4111111111111112\"}",
        "{\"orderId\":1,\"amount\":1,\"cardNo\":\"41111111111111111111\"}",
        "{\"orderId\":1,\"amount\":1,\"cardNo\":4111111111111112}",
        "{\"orderId\":0,\"amount\":1,\"cardNo\":\"4000000000000002\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_int_equal(
            parse_full(bodies[i], DECLINES, &r, fields, sizeof fields, dump, sizeof dump),
            HC_EINVAL);
        assert_false(mem_holds(dump, strlen(dump), "4111111111"));
        assert_false(mem_holds(dump, strlen(dump), "4000000000"));
        assert_false(mem_holds(&r, sizeof r, "0002"));
    }
}

/* ---- records ---- */

static void test_a_charge_record_is_approved_or_declined(void **state)
{
    (void)state;
    payment_request_t r = accepted("{\"orderId\":42,\"price\":50000,\"cardNo\":\"" VISA
                                   "\",\"centerId\":2,\"checkupDate\":\"2026-12-10\"}");
    payment_t p;
    memset(&p, 0xAB, sizeof p);
    payment_from_request(&r, NOW, &p);
    assert_int_equal(p.id, 0);
    assert_int_equal(p.order_id, 42);
    assert_int_equal(p.amount, 50000);
    assert_int_equal(p.method, PAYMENT_CARD);
    assert_string_equal(p.card_last4, "1111");
    assert_int_equal(p.status, PAYMENT_APPROVED);
    assert_int_equal(p.center_id, 2);
    assert_string_equal(p.checkup_date, "2026-12-10");
    assert_string_equal(p.reason, "");
    assert_string_equal(p.created_at, NOW);
    assert_string_equal(p.updated_at, NOW);

    r = accepted("{\"orderId\":43,\"amount\":9,\"cardNo\":\"4000000000000002\"}");
    payment_from_request(&r, LATER, &p);
    assert_int_equal(p.status, PAYMENT_DECLINED);
    assert_string_equal(p.card_last4, "0002");
    assert_string_equal(p.reason, "card declined by the provider");
    assert_int_equal(p.center_id, 0);
    assert_string_equal(p.checkup_date, "");
    assert_string_equal(p.created_at, LATER);

    r = accepted("{\"orderId\":44,\"amount\":9,\"payMethod\":\"cash\"}");
    payment_from_request(&r, NOW, &p);
    assert_int_equal(p.status, PAYMENT_APPROVED);
    assert_int_equal(p.method, PAYMENT_CASH);
    assert_string_equal(p.card_last4, "");
}

static void test_a_void_record_cancels_the_order_id_ahead(void **state)
{
    (void)state;
    payment_t p;
    memset(&p, 0xAB, sizeof p);
    payment_void_record(42, 50000, PAYMENT_CASH, 2, "2026-12-10", NOW, &p);
    assert_int_equal(p.id, 0);
    assert_int_equal(p.order_id, 42);
    assert_int_equal(p.amount, 50000);
    assert_int_equal(p.method, PAYMENT_CASH);
    assert_string_equal(p.card_last4, "");
    assert_int_equal(p.status, PAYMENT_CANCELED);
    assert_int_equal(p.center_id, 2);
    assert_string_equal(p.checkup_date, "2026-12-10");
    assert_string_equal(p.reason, PAYMENT_VOID_REASON);
    assert_string_equal(p.created_at, NOW);
    assert_string_equal(p.updated_at, NOW);
    /* What the event did not carry, or carried wrong, is left unset. */
    payment_void_record(43, -1, PAYMENT_METHOD_NONE, -3, NULL, NOW, &p);
    assert_int_equal(p.amount, 0);
    assert_int_equal(p.method, PAYMENT_CARD);
    assert_int_equal(p.center_id, 0);
    assert_string_equal(p.checkup_date, "");
    const char *bad_dates[] = {"", "2026-02-30", "junk", "2026-12-10T09:00:00Z"};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        payment_void_record(44, 1, PAYMENT_CARD, 1, bad_dates[i], NOW, &p);
        assert_string_equal(p.checkup_date, "");
    }
    payment_void_record(45, 1, (payment_method_t)7, 0, NULL, NOW, &p);
    assert_int_equal(p.method, PAYMENT_CARD);
}

/* ---- decisions ---- */

static void test_charge_answer_for_every_status(void **state)
{
    (void)state;
    static const struct {
        payment_status_t status;
        const char *reason;
        int created;
        int http;
        const char *error;
        const char *message;
    } want[] = {
        {PAYMENT_APPROVED, "", 1, 201, NULL, NULL},
        {PAYMENT_APPROVED, "", 0, 200, NULL, NULL},
        {PAYMENT_DECLINED, "card declined by the provider", 1, 402, "payment_declined",
         "the card was declined; use another card or pay by cash"},
        {PAYMENT_DECLINED, "card declined by the provider", 0, 402, "payment_declined",
         "the card was declined; use another card or pay by cash"},
        {PAYMENT_CANCELED, "refund requested", 1, 409, "invalid_state",
         "this order's payment was canceled (refunded)"},
        {PAYMENT_CANCELED, "", 0, 409, "invalid_state",
         "this order's payment was canceled (refunded)"},
        {PAYMENT_CANCELED, PAYMENT_VOID_REASON, 1, 409, "invalid_state",
         "this order's payment was voided because the order failed"},
        {PAYMENT_CANCELED, PAYMENT_VOID_REASON, 0, 409, "invalid_state",
         "this order's payment was voided because the order failed"},
        {PAYMENT_STATUS_NONE, "", 1, 500, "internal", "the stored payment has an unknown status"},
        {PAYMENT_STATUS_NONE, "", 0, 500, "internal", "the stored payment has an unknown status"},
        {(payment_status_t)9, "", 0, 500, "internal", "the stored payment has an unknown status"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        payment_t p = approved();
        payment_answer_t a;
        p.status = want[i].status;
        snprintf(p.reason, sizeof p.reason, "%s", want[i].reason);
        memset(&a, 0xAB, sizeof a);
        payment_charge_answer(&p, want[i].created, &a);
        assert_int_equal(a.http_status, want[i].http);
        if (want[i].error) {
            assert_string_equal(a.error, want[i].error);
            assert_string_equal(a.message, want[i].message);
        } else {
            assert_null(a.error);
            assert_null(a.message);
        }
    }
}

static void test_refund_decision_for_every_status(void **state)
{
    (void)state;
    assert_int_equal(payment_refund_decide(PAYMENT_APPROVED), PAYMENT_REFUND_APPLY);
    assert_int_equal(payment_refund_decide(PAYMENT_CANCELED), PAYMENT_REFUND_NOOP);
    assert_int_equal(payment_refund_decide(PAYMENT_DECLINED), PAYMENT_REFUND_REFUSE);
    assert_int_equal(payment_refund_decide(PAYMENT_STATUS_NONE), PAYMENT_REFUND_REFUSE);
    assert_int_equal(payment_refund_decide((payment_status_t)9), PAYMENT_REFUND_REFUSE);
}

static void test_order_failed_action_for_every_status(void **state)
{
    (void)state;
    payment_t p = approved();
    assert_int_equal(payment_order_failed_action(NULL), PAYMENT_VOID_TOMBSTONE);
    assert_int_equal(payment_order_failed_action(&p), PAYMENT_VOID_REFUND);
    p.status = PAYMENT_DECLINED;
    assert_int_equal(payment_order_failed_action(&p), PAYMENT_VOID_NONE);
    p.status = PAYMENT_CANCELED;
    assert_int_equal(payment_order_failed_action(&p), PAYMENT_VOID_NONE);
    p.status = PAYMENT_STATUS_NONE;
    assert_int_equal(payment_order_failed_action(&p), PAYMENT_VOID_NONE);
}

/* ---- the cancel ---- */

static void test_cancel_refunds_an_approved_payment(void **state)
{
    (void)state;
    payment_t p = approved();
    assert_int_equal(payment_cancel(&p, "canceled by customer", LATER), 0);
    assert_int_equal(p.status, PAYMENT_CANCELED);
    assert_string_equal(p.reason, "canceled by customer");
    assert_string_equal(p.updated_at, LATER);
    assert_string_equal(p.created_at, NOW);
    assert_int_equal(p.amount, 50000);
    assert_string_equal(p.card_last4, "1111");
    /* Once canceled, a second cancel is refused and changes nothing. */
    payment_t before = p;
    assert_int_equal(payment_cancel(&p, "again", "2027-01-01T00:00:00.000Z"), HC_ECONFLICT);
    assert_memory_equal(&p, &before, sizeof p);

    p = approved();
    snprintf(p.reason, sizeof p.reason, "old");
    assert_int_equal(payment_cancel(&p, NULL, LATER), 0);
    assert_string_equal(p.reason, "");
}

static void test_cancel_cuts_a_long_reason_on_a_character(void **state)
{
    (void)state;
    char reason[400] = "";
    for (int i = 0; i < 100; i++) /* 300 bytes of Hangul */
        strncat(reason, "환", sizeof reason - strlen(reason) - 1);
    payment_t p = approved();
    assert_int_equal(payment_cancel(&p, reason, LATER), 0);
    assert_int_equal(strlen(p.reason), 255); /* 85 whole characters */
    assert_true(utf8_valid(p.reason));
    assert_int_equal(strncmp(p.reason, reason, 255), 0);
}

static void test_cancel_refuses_what_is_not_approved(void **state)
{
    (void)state;
    payment_status_t others[] = {PAYMENT_DECLINED, PAYMENT_CANCELED, PAYMENT_STATUS_NONE};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        payment_t p = approved();
        p.status = others[i];
        snprintf(p.reason, sizeof p.reason, "kept");
        payment_t before = p;
        assert_int_equal(payment_cancel(&p, "refund", LATER), HC_ECONFLICT);
        assert_memory_equal(&p, &before, sizeof p);
    }
}

/* ---- reason texts ---- */

static void test_reason_format_joins_prefix_and_detail(void **state)
{
    (void)state;
    char dst[PAYMENT_REASON_MAX];
    payment_reason_format(dst, sizeof dst, "booking rejected", "fully booked");
    assert_string_equal(dst, "booking rejected: fully booked");
    payment_reason_format(dst, sizeof dst, "order failed", NULL);
    assert_string_equal(dst, "order failed");
    payment_reason_format(dst, sizeof dst, "order failed", "");
    assert_string_equal(dst, "order failed");
    payment_reason_format(dst, sizeof dst, "예약 반려", "정원 초과");
    assert_string_equal(dst, "예약 반려: 정원 초과");
}

static void test_reason_format_cuts_on_a_character(void **state)
{
    (void)state;
    /* "prefix: " then Hangul (3 bytes each). */
    char dst[16];
    payment_reason_format(dst, sizeof dst, "prefix", "가나다라");
    assert_string_equal(dst, "prefix: 가나"); /* 14 bytes; a third would need 17 */
    /* No room for the separator and a byte of detail: the prefix alone. */
    payment_reason_format(dst, 9, "prefix", "detail");
    assert_string_equal(dst, "prefix");
    payment_reason_format(dst, 10, "prefix", "detail");
    assert_string_equal(dst, "prefix: d");
    /* A long prefix is cut on a character too, and no detail follows. */
    payment_reason_format(dst, sizeof dst, "반려된예약입니다", "detail");
    assert_string_equal(dst, "반려된예약");
    payment_reason_format(dst, 1, "prefix", "detail");
    assert_string_equal(dst, "");

    /* At every size: a prefix of the whole text, whole characters, in bounds. */
    const char *prefixes[] = {"booking rejected", "예약 반려", ""};
    const char *details[] = {"센터 정원이 모두 찼습니다 (full)", "x", "é€𝄞"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        for (size_t j = 0; j < sizeof details / sizeof details[0]; j++) {
            char full[200], out[200];
            snprintf(full, sizeof full, "%s: %s", prefixes[i], details[j]);
            for (size_t size = 1; size <= strlen(full) + 2; size++) {
                memset(out, 'Z', sizeof out);
                payment_reason_format(out, size, prefixes[i], details[j]);
                assert_true(strlen(out) < size);
                assert_true(utf8_valid(out));
                assert_int_equal(strncmp(out, full, strlen(out)), 0);
                assert_int_equal(out[size], 'Z'); /* nothing written past size */
                if (size > strlen(full))
                    assert_string_equal(out, full);
            }
        }
}

/* ---- JSON and events ---- */

static void test_to_json_has_every_field_with_the_card_masked(void **state)
{
    (void)state;
    payment_t p = approved();
    json_t *o = payment_to_json(&p);
    static const char *const keys[] = {"id",        "orderId",   "amount",   "payMethod",
                                       "cardNo",    "status",    "centerId", "checkupDate",
                                       "createdAt", "updatedAt", NULL};
    assert_keys(o, keys);
    assert_int_equal(int_field(o, "id"), 7);
    assert_int_equal(int_field(o, "orderId"), 42);
    assert_int_equal(int_field(o, "amount"), 50000);
    assert_string_equal(str_field(o, "payMethod"), "card");
    assert_string_equal(str_field(o, "cardNo"), "************1111");
    assert_string_equal(str_field(o, "status"), "APPROVED");
    assert_int_equal(int_field(o, "centerId"), 2);
    assert_string_equal(str_field(o, "checkupDate"), "2026-12-10");
    assert_string_equal(str_field(o, "createdAt"), NOW);
    assert_string_equal(str_field(o, "updatedAt"), NOW);
    json_decref(o);

    /* A refund's reason appears; unknown center and date are null. */
    assert_int_equal(payment_cancel(&p, "canceled by customer", LATER), 0);
    p.center_id = 0;
    p.checkup_date[0] = '\0';
    o = payment_to_json(&p);
    static const char *const keys_reason[] = {"id",          "orderId",   "amount",    "payMethod",
                                              "cardNo",      "status",    "reason",    "centerId",
                                              "checkupDate", "createdAt", "updatedAt", NULL};
    assert_keys(o, keys_reason);
    assert_string_equal(str_field(o, "status"), "CANCELED");
    assert_string_equal(str_field(o, "reason"), "canceled by customer");
    assert_true(json_is_null(json_object_get(o, "centerId")));
    assert_true(json_is_null(json_object_get(o, "checkupDate")));
    assert_string_equal(str_field(o, "updatedAt"), LATER);
    json_decref(o);
}

static void test_to_json_of_cash_and_voids_has_no_card(void **state)
{
    (void)state;
    payment_t p = approved();
    p.method = PAYMENT_CASH;
    p.card_last4[0] = '\0';
    json_t *o = payment_to_json(&p);
    assert_string_equal(str_field(o, "payMethod"), "cash");
    assert_true(json_is_null(json_object_get(o, "cardNo")));
    json_decref(o);

    payment_void_record(42, 0, PAYMENT_CARD, 0, NULL, NOW, &p);
    o = payment_to_json(&p);
    assert_int_equal(int_field(o, "id"), 0);
    assert_string_equal(str_field(o, "payMethod"), "card");
    assert_true(json_is_null(json_object_get(o, "cardNo")));
    assert_string_equal(str_field(o, "status"), "CANCELED");
    assert_string_equal(str_field(o, "reason"), PAYMENT_VOID_REASON);
    json_decref(o);
}

/* Asserts the envelope of a payment event: type, orderId, source and, when
 * parent is given, its trace id. */
static void assert_envelope(json_t *ev, const char *type, int64_t order_id,
                            const hc_trace_t *parent)
{
    assert_string_equal(str_field(ev, "eventType"), type);
    assert_int_equal(int_field(ev, "orderId"), order_id);
    assert_string_equal(str_field(ev, "source"), "payment");
    assert_true(hc_test_is_uuid(str_field(ev, "eventId"), 7));
    assert_int_equal(strlen(str_field(ev, "occurredAt")), 24);
    hc_trace_t t;
    assert_int_equal(hc_trace_parse(str_field(ev, "traceparent"), &t), 0);
    if (parent) {
        assert_string_equal(t.trace_id, parent->trace_id);
        assert_string_not_equal(t.span_id, parent->span_id);
    }
}

static void test_payment_approved_event(void **state)
{
    (void)state;
    const char *saved = hc_event_source;
    hc_event_source = "payment";
    hc_trace_t parent;
    hc_trace_new(&parent);
    payment_t p = approved();
    json_t *ev = payment_event_approved(&p, &parent);
    static const char *const keys[] = {"eventId",   "eventType",   "orderId",     "occurredAt",
                                       "source",    "traceparent", "paymentId",   "amount",
                                       "payMethod", "centerId",    "checkupDate", NULL};
    assert_keys(ev, keys);
    assert_envelope(ev, "PaymentApproved", 42, &parent);
    assert_int_equal(int_field(ev, "paymentId"), 7);
    assert_int_equal(int_field(ev, "amount"), 50000);
    assert_string_equal(str_field(ev, "payMethod"), "card");
    assert_int_equal(int_field(ev, "centerId"), 2);
    assert_string_equal(str_field(ev, "checkupDate"), "2026-12-10");
    json_decref(ev);

    /* Without a trace: a new root. Unknown center and date are null. */
    p.method = PAYMENT_CASH;
    p.center_id = 0;
    p.checkup_date[0] = '\0';
    ev = payment_event_approved(&p, NULL);
    assert_keys(ev, keys);
    assert_envelope(ev, "PaymentApproved", 42, NULL);
    assert_string_equal(str_field(ev, "payMethod"), "cash");
    assert_true(json_is_null(json_object_get(ev, "centerId")));
    assert_true(json_is_null(json_object_get(ev, "checkupDate")));
    json_decref(ev);
    hc_event_source = saved;
}

static void test_payment_canceled_event(void **state)
{
    (void)state;
    const char *saved = hc_event_source;
    hc_event_source = "payment";
    hc_trace_t parent;
    hc_trace_new(&parent);
    payment_t p = approved();
    assert_int_equal(payment_cancel(&p, "booking rejected: fully booked", LATER), 0);
    json_t *ev = payment_event_canceled(&p, &parent);
    static const char *const keys[] = {"eventId", "eventType",   "orderId",   "occurredAt",
                                       "source",  "traceparent", "paymentId", "amount",
                                       "reason",  NULL};
    assert_keys(ev, keys);
    assert_envelope(ev, "PaymentCanceled", 42, &parent);
    assert_int_equal(int_field(ev, "paymentId"), 7);
    assert_int_equal(int_field(ev, "amount"), 50000);
    assert_string_equal(str_field(ev, "reason"), "booking rejected: fully booked");
    json_decref(ev);

    /* A refund without a reason carries "". */
    p = approved();
    assert_int_equal(payment_cancel(&p, NULL, LATER), 0);
    ev = payment_event_canceled(&p, NULL);
    assert_envelope(ev, "PaymentCanceled", 42, NULL);
    assert_string_equal(str_field(ev, "reason"), "");
    json_decref(ev);
    hc_event_source = saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_round_trip),
        cmocka_unit_test(test_status_parse_is_exact_and_leaves_out_on_failure),
        cmocka_unit_test(test_method_names_round_trip_and_parse_ignores_case),
        cmocka_unit_test(test_decline_list_matches_whole_entries),
        cmocka_unit_test(test_decline_list_empty_or_absent_declines_nothing),
        cmocka_unit_test(test_a_valid_request_is_filled_in),
        cmocka_unit_test(test_optional_fields_default),
        cmocka_unit_test(test_order_id_must_be_a_positive_integer),
        cmocka_unit_test(test_amount_or_its_alias_price),
        cmocka_unit_test(test_amount_bounds),
        cmocka_unit_test(test_pay_method_card_or_cash_in_any_case),
        cmocka_unit_test(test_a_pay_method_of_the_wrong_type_asks_for_no_card),
        cmocka_unit_test(test_card_number_rules),
        cmocka_unit_test(test_card_number_as_an_integer),
        cmocka_unit_test(test_a_negative_integer_card_number_is_refused),
        cmocka_unit_test(test_cash_ignores_a_card),
        cmocka_unit_test(test_a_card_on_the_decline_list_is_flagged),
        cmocka_unit_test(test_center_and_checkup_date),
        cmocka_unit_test(test_phone_is_kept_as_digits),
        cmocka_unit_test(test_unknown_fields_are_refused),
        cmocka_unit_test(test_every_bad_field_is_named),
        cmocka_unit_test(test_a_refused_request_leaves_out_zeroed),
        cmocka_unit_test(test_errors_already_in_the_list_do_not_refuse_a_good_request),
        cmocka_unit_test(test_the_full_card_number_is_kept_nowhere),
        cmocka_unit_test(test_a_charge_record_is_approved_or_declined),
        cmocka_unit_test(test_a_void_record_cancels_the_order_id_ahead),
        cmocka_unit_test(test_charge_answer_for_every_status),
        cmocka_unit_test(test_refund_decision_for_every_status),
        cmocka_unit_test(test_order_failed_action_for_every_status),
        cmocka_unit_test(test_cancel_refunds_an_approved_payment),
        cmocka_unit_test(test_cancel_cuts_a_long_reason_on_a_character),
        cmocka_unit_test(test_cancel_refuses_what_is_not_approved),
        cmocka_unit_test(test_reason_format_joins_prefix_and_detail),
        cmocka_unit_test(test_reason_format_cuts_on_a_character),
        cmocka_unit_test(test_to_json_has_every_field_with_the_card_masked),
        cmocka_unit_test(test_to_json_of_cash_and_voids_has_no_card),
        cmocka_unit_test(test_payment_approved_event),
        cmocka_unit_test(test_payment_canceled_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
