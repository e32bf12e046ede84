/* Checks the order's transition table, its versioned history, the status
 * events, the cancellation window and the booking request's rules. */
#include "hc_test.h"

#include "hc_err.h"
#include "order/order_domain.h"

#define N_ ORDER_STATUS_COUNT

static void names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i < N_; i++) {
        order_status_t s;
        assert_int_equal(order_status_parse(order_status_name((order_status_t)i), &s), 0);
        assert_int_equal(s, i);
    }
    order_status_t s;
    assert_int_equal(order_status_parse("paid", &s), HC_EINVAL);
    assert_int_equal(order_status_parse(NULL, &s), HC_EINVAL);
    assert_string_equal(order_status_name((order_status_t)99), "UNKNOWN");
}

static void the_table_allows_exactly_the_booking_paths(void **state)
{
    (void)state;
    /* Every allowed change, and nothing else. */
    static const struct {
        order_status_t from, to;
    } allowed[] = {
        {ORDER_PENDING, ORDER_PAID},       {ORDER_PENDING, ORDER_FAILED},
        {ORDER_PAID, ORDER_REQUESTED},     {ORDER_PAID, ORDER_REJECTED},
        {ORDER_PAID, ORDER_CANCELED},      {ORDER_REQUESTED, ORDER_CONFIRMED},
        {ORDER_REQUESTED, ORDER_REJECTED}, {ORDER_REQUESTED, ORDER_CANCELED},
        {ORDER_CONFIRMED, ORDER_REJECTED}, {ORDER_CONFIRMED, ORDER_CANCELED},
    };
    for (int from = 0; from < N_; from++)
        for (int to = 0; to < N_; to++) {
            order_move_t want = from == to ? ORDER_MOVE_NOOP : ORDER_MOVE_INVALID;
            for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
                if (allowed[k].from == (order_status_t)from && allowed[k].to == (order_status_t)to)
                    want = ORDER_MOVE_APPLY;
            assert_int_equal(order_transition((order_status_t)from, (order_status_t)to), want);
        }
    assert_int_equal(order_transition((order_status_t)-1, ORDER_PAID), ORDER_MOVE_INVALID);
    assert_int_equal(order_transition(ORDER_PAID, (order_status_t)N_), ORDER_MOVE_INVALID);
}

static void final_and_cancellable(void **state)
{
    (void)state;
    assert_true(order_status_is_final(ORDER_REJECTED));
    assert_true(order_status_is_final(ORDER_CANCELED));
    assert_true(order_status_is_final(ORDER_FAILED));
    assert_false(order_status_is_final(ORDER_CONFIRMED));
    assert_true(order_status_cancellable(ORDER_PAID));
    assert_true(order_status_cancellable(ORDER_REQUESTED));
    assert_true(order_status_cancellable(ORDER_CONFIRMED));
    assert_false(order_status_cancellable(ORDER_PENDING));
    assert_false(order_status_cancellable(ORDER_CANCELED));
    assert_false(order_status_cancellable(ORDER_REJECTED));
    assert_false(order_status_cancellable(ORDER_FAILED));
}

static void moves_append_history_with_versions_and_monotone_times(void **state)
{
    (void)state;
    order_t o;
    memset(&o, 0, sizeof o);
    assert_int_equal(order_move(&o, ORDER_PAID, NULL, "2026-12-01T10:00:00.000Z"),
                     ORDER_MOVE_APPLY);
    /* The clock went back: the entry keeps the previous time. */
    assert_int_equal(order_move(&o, ORDER_REQUESTED, NULL, "2026-12-01T09:59:59.000Z"),
                     ORDER_MOVE_APPLY);
    assert_int_equal(order_move(&o, ORDER_REQUESTED, NULL, "2026-12-01T10:00:01.000Z"),
                     ORDER_MOVE_NOOP);
    assert_int_equal(order_move(&o, ORDER_PAID, NULL, "2026-12-01T10:00:01.000Z"),
                     ORDER_MOVE_INVALID);
    assert_int_equal(
        order_move(&o, ORDER_CANCELED, "canceled by customer", "2026-12-01T10:00:02.000Z"),
        ORDER_MOVE_APPLY);
    /* Nothing leaves a final status: the rejection that lost the race. */
    assert_int_equal(order_move(&o, ORDER_REJECTED, "full", "2026-12-01T10:00:03.000Z"),
                     ORDER_MOVE_INVALID);
    assert_int_equal(o.version, 3);
    assert_int_equal(o.status, ORDER_CANCELED);
    assert_string_equal(o.reason, "canceled by customer");
    assert_int_equal(o.history[0].status, ORDER_PAID);
    assert_int_equal(o.history[1].status, ORDER_REQUESTED);
    assert_int_equal(o.history[2].status, ORDER_CANCELED);
    assert_string_equal(o.history[1].at, "2026-12-01T10:00:00.000Z");
    assert_string_equal(o.history[2].at, "2026-12-01T10:00:02.000Z");
    assert_string_equal(o.updated_at, "2026-12-01T10:00:02.000Z");
}

static void history_json_round_trips(void **state)
{
    (void)state;
    order_t o, back;
    memset(&o, 0, sizeof o);
    memset(&back, 0, sizeof back);
    order_move(&o, ORDER_PAID, NULL, "2026-12-01T10:00:00.000Z");
    order_move(&o, ORDER_REQUESTED, NULL, "2026-12-01T10:00:01.000Z");
    json_t *h = order_history_json(&o, o.version);
    char *text = json_dumps(h, JSON_COMPACT);
    assert_string_equal(text, "[{\"status\":\"PAID\",\"at\":\"2026-12-01T10:00:00.000Z\"},"
                              "{\"status\":\"REQUESTED\",\"at\":\"2026-12-01T10:00:01.000Z\"}]");
    assert_int_equal(order_history_parse(text, &back), 0);
    assert_int_equal(back.version, 2);
    assert_int_equal(back.history[1].status, ORDER_REQUESTED);
    free(text);
    json_decref(h);
    assert_int_equal(order_history_parse("[{\"status\":\"NOPE\",\"at\":\"x\"}]", &back), HC_EINVAL);
    assert_int_equal(back.version, 0);
    assert_int_equal(order_history_parse("{}", &back), HC_EINVAL);
    assert_int_equal(order_history_parse(NULL, &back), HC_EINVAL);
}

/* Regression (found by fuzz_event): an "at" longer than the field was cut in
 * the middle of a UTF-8 character, so order_history_json could not encode that
 * entry and dropped it: the history came out shorter than the version. */
static void history_parse_cuts_a_long_at_on_a_character(void **state)
{
    (void)state;
    order_t o, back;
    memset(&o, 0, sizeof o);
    memset(&back, 0, sizeof back);
    /* 30 ASCII bytes, then "é" (2 bytes) across the end of the 32-byte field */
    assert_int_equal(order_history_parse("[{\"status\":\"PAID\",\"at\":"
                                         "\"2026-12-01T10:00:00.000Z------\u00e9-tail\"},"
                                         "{\"status\":\"REQUESTED\",\"at\":\"x\"}]",
                                         &o),
                     0);
    assert_int_equal(o.version, 2);
    assert_string_equal(o.history[0].at, "2026-12-01T10:00:00.000Z------");
    json_t *h = order_history_json(&o, o.version);
    assert_int_equal(json_array_size(h), 2);
    char *text = json_dumps(h, JSON_COMPACT);
    assert_int_equal(order_history_parse(text, &back), 0);
    assert_int_equal(back.version, 2);
    assert_string_equal(back.history[0].at, o.history[0].at);
    free(text);
    json_decref(h);
}

static void each_version_has_its_event(void **state)
{
    (void)state;
    order_t o;
    memset(&o, 0, sizeof o);
    o.id = 42;
    strcpy(o.name, "홍길동");
    strcpy(o.phone, "01012345678");
    strcpy(o.order_type, "basic");
    strcpy(o.checkup_date, "2026-12-10");
    strcpy(o.pay_method, "card");
    o.center_id = 1;
    o.amount = 50000;
    o.payment_id = 7;
    order_move(&o, ORDER_PAID, NULL, "2026-12-01T10:00:00.000Z");
    order_move(&o, ORDER_REJECTED, "fully booked", "2026-12-01T10:00:01.000Z");
    json_t *e1 = order_event(&o, 1, NULL), *e2 = order_event(&o, 2, NULL);
    assert_string_equal(json_string_value(json_object_get(e1, "eventType")), "Ordered");
    assert_int_equal(json_integer_value(json_object_get(e1, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(e1, "status")), "PAID");
    assert_int_equal(json_array_size(json_object_get(e1, "history")), 1);
    assert_null(json_object_get(e1, "reason"));
    assert_string_equal(json_string_value(json_object_get(e1, "occurredAt")),
                        "2026-12-01T10:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(e2, "eventType")), "OrderRejected");
    assert_int_equal(json_integer_value(json_object_get(e2, "version")), 2);
    assert_int_equal(json_array_size(json_object_get(e2, "history")), 2);
    assert_string_equal(json_string_value(json_object_get(e2, "reason")), "fully booked");
    assert_int_equal(json_integer_value(json_object_get(e2, "orderId")), 42);
    assert_int_equal(json_integer_value(json_object_get(e2, "amount")), 50000);
    assert_string_equal(json_string_value(json_object_get(e2, "phone")), "01012345678");
    json_decref(e1);
    json_decref(e2);
    assert_null(order_event_type(ORDER_PENDING));
    assert_string_equal(order_event_type(ORDER_REQUESTED), "OrderRequested");
    assert_string_equal(order_event_type(ORDER_CONFIRMED), "OrderConfirmed");
    assert_string_equal(order_event_type(ORDER_CANCELED), "OrderCanceled");
    assert_string_equal(order_event_type(ORDER_FAILED), "OrderFailed");
}

static void cancel_window_ends_with_the_day_before(void **state)
{
    (void)state;
    /* checkup on day 100, cutoff 1 day: allowed through day 99 */
    assert_true(order_cancel_in_time(98, 100, 1));
    assert_true(order_cancel_in_time(99, 100, 1));
    assert_false(order_cancel_in_time(100, 100, 1));
    assert_false(order_cancel_in_time(101, 100, 1));
    /* cutoff 0: allowed on the checkup day itself */
    assert_true(order_cancel_in_time(100, 100, 0));
    assert_false(order_cancel_in_time(101, 100, 0));
}

/* ---- the booking request ---- */

static hc_config_t cfg;
static const int64_t TODAY = 20000; /* 2024-10-04 */

static int setup_cfg(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.tz, "Asia/Seoul");
    cfg.horizon_days = 90;
    assert_int_equal(hc_config_parse_packages(&cfg, "basic:기본:50000,prime:종합:150000"), 0);
    assert_int_equal(hc_config_parse_centers(&cfg, "1:서울:20,2:부산:10"), 0);
    return 0;
}

/* Parses text; returns the sorted names of the fields in error, joined by ','. */
static int parse(const char *text, order_t *o, char *fields, size_t size)
{
    char card[24];
    hc_fields_t f;
    hc_fields_init(&f);
    memset(o, 0, sizeof *o);
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = order_booking_parse(body, &cfg, TODAY, o, card, sizeof card, &f);
    fields[0] = '\0';
    json_t *list = hc_fields_take(&f);
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (i)
            strncat(fields, ",", size - strlen(fields) - 1);
        strncat(fields, json_string_value(json_object_get(json_array_get(list, i), "field")),
                size - strlen(fields) - 1);
    }
    json_decref(list);
    json_decref(body);
    hc_fields_cleanup(&f);
    return rc;
}

#define GOOD_REST                                                                                  \
    "\"phone\":\"010-1234-5678\",\"orderType\":\"basic\",\"checkupDate\":\"2024-10-10\","          \
    "\"cardNo\":\"4111111111111111\""

static void a_valid_booking_is_filled_in(void **state)
{
    (void)state;
    order_t o;
    char fields[200];
    assert_int_equal(
        parse("{\"name\":\"  홍길동 \"," GOOD_REST ",\"centerId\":2}", &o, fields, sizeof fields),
        0);
    assert_string_equal(o.name, "홍길동"); /* trimmed */
    assert_string_equal(o.phone, "01012345678");
    assert_string_equal(o.order_type, "basic");
    assert_int_equal(o.amount, 50000);
    assert_int_equal(o.center_id, 2);
    assert_string_equal(o.pay_method, "card");
    assert_string_equal(o.card_last4, "1111");
}

/* Regression: control characters reached the SMS text, and a name of only
 * spaces was accepted. */
static void names_with_controls_or_only_spaces_are_refused(void **state)
{
    (void)state;
    order_t o;
    char fields[200];
    const char *bad[] = {
        "{\"name\":\"Kim\\u0007\"," GOOD_REST "}",    /* BEL */
        "{\"name\":\"Kim\\u001b[2J\"," GOOD_REST "}", /* ESC */
        "{\"name\":\"Kim\\nLee\"," GOOD_REST "}",     /* newline inside */
        "{\"name\":\"   \"," GOOD_REST "}",           /* only spaces */
        "{\"name\":\"\\u3000\"," GOOD_REST "}",       /* ideographic space only */
        "{\"name\":\"ab\\u202ecd\"," GOOD_REST "}",   /* right-to-left override */
        "{\"name\":\"a\\u200bb\"," GOOD_REST "}",     /* zero-width space */
        "{\"name\":\"\"," GOOD_REST "}",
        "{\"name\":\"123456789012345678901234567890123456789012345678901\"," GOOD_REST "}",
        "{\"name\":7," GOOD_REST "}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], &o, fields, sizeof fields), HC_EINVAL);
        assert_string_equal(fields, "name");
    }
    /* 50 Hangul characters (150 bytes) are fine. */
    char text[600];
    snprintf(text, sizeof text, "{\"name\":\"%s\"," GOOD_REST "}",
             "가나다라마바사아자차가나다라마바사아자차가나다라마바사아자차가나다라마바사아자차가나"
             "다라마바사아자차");
    assert_int_equal(parse(text, &o, fields, sizeof fields), 0);
}

static void every_bad_field_is_named(void **state)
{
    (void)state;
    order_t o;
    char fields[200];
    assert_int_equal(parse("{}", &o, fields, sizeof fields), HC_EINVAL);
    assert_string_equal(fields, "name,phone,orderType,checkupDate,cardNo");
    assert_int_equal(parse("{\"name\":\"a\",\"phone\":\"02-123-4567\",\"orderType\":\"gold\","
                           "\"checkupDate\":\"2024-10-04\",\"centerId\":9,\"payMethod\":\"bank\"}",
                           &o, fields, sizeof fields),
                     HC_EINVAL);
    assert_string_equal(fields, "phone,orderType,checkupDate,centerId,payMethod");
    /* The horizon and a bad card number; cash needs no card. */
    assert_int_equal(parse("{\"name\":\"a\",\"phone\":\"01012345678\",\"orderType\":\"prime\","
                           "\"checkupDate\":\"2025-01-03\",\"cardNo\":\"4111111111111112\"}",
                           &o, fields, sizeof fields),
                     HC_EINVAL);
    assert_string_equal(fields, "checkupDate,cardNo");
    assert_int_equal(parse("{\"name\":\"a\",\"phone\":\"01012345678\",\"orderType\":\"prime\","
                           "\"checkupDate\":\"2025-01-02\",\"payMethod\":\"cash\"}",
                           &o, fields, sizeof fields),
                     0);
    assert_int_equal(o.amount, 150000);
    assert_string_equal(o.card_last4, "");
    /* The seed's Long cardNo. */
    assert_int_equal(parse("{\"name\":\"a\",\"phone\":\"01012345678\",\"orderType\":\"basic\","
                           "\"checkupDate\":\"2024-10-05\",\"cardNo\":4111111111111111}",
                           &o, fields, sizeof fields),
                     0);
    assert_string_equal(o.card_last4, "1111");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_round_trip),
        cmocka_unit_test(the_table_allows_exactly_the_booking_paths),
        cmocka_unit_test(final_and_cancellable),
        cmocka_unit_test(moves_append_history_with_versions_and_monotone_times),
        cmocka_unit_test(history_json_round_trips),
        cmocka_unit_test(history_parse_cuts_a_long_at_on_a_character),
        cmocka_unit_test(each_version_has_its_event),
        cmocka_unit_test(cancel_window_ends_with_the_day_before),
        cmocka_unit_test_setup(a_valid_booking_is_filled_in, setup_cfg),
        cmocka_unit_test_setup(names_with_controls_or_only_spaces_are_refused, setup_cfg),
        cmocka_unit_test_setup(every_bad_field_is_named, setup_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
