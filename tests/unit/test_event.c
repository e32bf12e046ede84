/* Checks hc_event: envelope fields of hc_event_new, trace propagation, hc_event_parse round trip
 * and rejections, hc_event_explain, time helpers. */
#include "hc_test.h"

#include <jansson.h>

#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_trace.h"

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static int is_rfc3339_ms(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (s == NULL || strlen(s) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        if (pat[i] == 'd') {
            if (s[i] < '0' || s[i] > '9')
                return 0;
        } else if (s[i] != pat[i]) {
            return 0;
        }
    }
    return 1;
}

static const char *str_field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        fail_msg("field %s is not a string", name);
    return json_string_value(v);
}

static void test_new_fills_envelope(void **state)
{
    (void)state;
    hc_trace_t parent;
    assert_int_equal(
        hc_trace_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent), 0);
    json_t *ev = hc_event_new("Ordered", 42, &parent);
    assert_non_null(ev);
    assert_true(json_is_object(ev));

    assert_true(hc_test_is_uuid(str_field(ev, "eventId"), 7));
    assert_string_equal(str_field(ev, "eventType"), "Ordered");
    json_t *oid = json_object_get(ev, "orderId");
    assert_true(json_is_integer(oid));
    assert_int_equal(json_integer_value(oid), 42);
    assert_true(is_rfc3339_ms(str_field(ev, "occurredAt")));
    assert_true(str_field(ev, "source")[0] != '\0');

    /* the event's traceparent is a child of the given context */
    hc_trace_t t;
    assert_int_equal(hc_trace_parse(str_field(ev, "traceparent"), &t), 0);
    assert_string_equal(t.trace_id, parent.trace_id);
    assert_string_not_equal(t.span_id, parent.span_id);

    /* two events never share an eventId */
    json_t *ev2 = hc_event_new("Ordered", 42, &parent);
    assert_string_not_equal(str_field(ev, "eventId"), str_field(ev2, "eventId"));
    json_decref(ev2);
    json_decref(ev);
}

static void test_new_without_trace_is_new_root(void **state)
{
    (void)state;
    json_t *a = hc_event_new("PaymentApproved", 7, NULL);
    json_t *b = hc_event_new("PaymentApproved", 7, NULL);
    hc_trace_t ta, tb;
    assert_int_equal(hc_trace_parse(str_field(a, "traceparent"), &ta), 0);
    assert_int_equal(hc_trace_parse(str_field(b, "traceparent"), &tb), 0);
    assert_string_not_equal(ta.trace_id, tb.trace_id);
    json_decref(a);
    json_decref(b);
}

static void test_occurred_at_is_now(void **state)
{
    (void)state;
    char now[32];
    hc_now_rfc3339(now);
    assert_true(is_rfc3339_ms(now));
    json_t *ev = hc_event_new("Ordered", 1, NULL);
    /* same second-or-later; RFC 3339 strings of one format compare as text */
    char before[32];
    memcpy(before, now, sizeof before);
    before[19] = '\0';
    char got[32];
    snprintf(got, sizeof got, "%s", str_field(ev, "occurredAt"));
    got[19] = '\0';
    assert_true(strcmp(got, before) >= 0);
    json_decref(ev);
}

/* The ms in an eventId's first 48 bits (hex digits 0-7 and 9-12). */
static int64_t id_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return (int64_t)strtoll(hex, NULL, 16);
}

/* An eventId is a v7 UUID of the instant in occurredAt, so the ids of
 * events made later sort after: the inboxes keyed by them grow at one end. */
static void test_event_id_is_time_ordered(void **state)
{
    (void)state;
    json_t *a = hc_event_new("Ordered", 1, NULL);
    const char *ida = str_field(a, "eventId");
    assert_true(hc_test_is_uuid(ida, 7));
    char when[HC_RFC3339_SIZE];
    hc_time_rfc3339(id_ms(ida), when);
    assert_string_equal(when, str_field(a, "occurredAt"));
    /* the next millisecond, polled for (at most 2 s) */
    int64_t deadline = hc_mono_ms() + 2000;
    while (hc_now_ms() <= id_ms(ida) && hc_mono_ms() < deadline)
        ;
    json_t *b = hc_event_new("Ordered", 1, NULL);
    const char *idb = str_field(b, "eventId");
    assert_true(id_ms(idb) > id_ms(ida));
    assert_true(strcmp(ida, idb) < 0);
    json_decref(a);
    json_decref(b);
}

static void test_now_ms_matches_wall_clock(void **state)
{
    (void)state;
    int64_t ms = hc_now_ms();
    int64_t wall = (int64_t)time(NULL) * 1000;
    assert_true(ms > wall - 2000 && ms < wall + 2000);
}

static void test_source_is_service_name(void **state)
{
    (void)state;
    const char *saved = hc_event_source;
    hc_event_source = "reservation";
    json_t *ev = hc_event_new("ReservationAccepted", 3, NULL);
    assert_string_equal(str_field(ev, "source"), "reservation");
    json_decref(ev);
    hc_event_source = saved;
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    hc_trace_t parent;
    hc_trace_new(&parent);
    json_t *ev = hc_event_new("ReservationAccepted", 9007199254740993LL, &parent);
    json_object_set_new(ev, "reservationId", json_integer(5));
    json_object_set_new(ev, "name", json_string("홍길동"));
    char *text = json_dumps(ev, JSON_COMPACT);
    assert_non_null(text);

    hc_event_t pe;
    assert_int_equal(hc_event_parse(text, strlen(text), &pe), 0);
    assert_non_null(pe.root);
    assert_string_equal(pe.event_id, str_field(ev, "eventId"));
    assert_string_equal(pe.type, "ReservationAccepted");
    assert_true(pe.order_id == 9007199254740993LL);
    assert_string_equal(pe.occurred_at, str_field(ev, "occurredAt"));
    assert_string_equal(pe.source, str_field(ev, "source"));
    assert_string_equal(pe.trace.trace_id, parent.trace_id);
    hc_trace_t t;
    assert_int_equal(hc_trace_parse(str_field(ev, "traceparent"), &t), 0);
    assert_string_equal(pe.trace.span_id, t.span_id);
    /* payload fields stay reachable through root */
    assert_int_equal(json_integer_value(json_object_get(pe.root, "reservationId")), 5);
    assert_string_equal(json_string_value(json_object_get(pe.root, "name")), "홍길동");
    json_decref(pe.root);
    free(text);
    json_decref(ev);
}

static void test_parse_uses_len(void **state)
{
    (void)state;
    /* the value is not NUL-terminated at len: trailing bytes must be ignored */
    const char buf[] = "{\"eventId\":\"e1\",\"eventType\":\"Ordered\",\"orderId\":3}GARBAGE";
    size_t len = strlen(buf) - strlen("GARBAGE");
    hc_event_t ev;
    assert_int_equal(hc_event_parse(buf, len, &ev), 0);
    assert_string_equal(ev.event_id, "e1");
    assert_int_equal(ev.order_id, 3);
    json_decref(ev.root);
}

static void test_parse_without_traceparent(void **state)
{
    (void)state;
    const char *text = "{\"eventId\":\"e1\",\"eventType\":\"Ordered\",\"orderId\":3}";
    hc_event_t ev;
    assert_int_equal(hc_event_parse(text, strlen(text), &ev), 0);
    assert_string_equal(ev.trace.trace_id, "");
    json_decref(ev.root);
}

static void expect_rejected(const char *text)
{
    hc_event_t ev;
    memset(&ev, 0x5a, sizeof ev);
    int rc = hc_event_parse(text, strlen(text), &ev);
    if (rc != HC_EINVAL) {
        if (rc == 0)
            json_decref(ev.root);
        fail_msg("hc_event_parse accepted (rc=%d): %s", rc, text);
    }
}

static void test_parse_rejects(void **state)
{
    (void)state;
    expect_rejected("");
    expect_rejected("not json");
    expect_rejected("{\"eventId\":\"e1\",");
    expect_rejected("[1,2,3]");
    expect_rejected("\"Ordered\"");
    expect_rejected("{}");
    expect_rejected("{\"eventType\":\"Ordered\",\"orderId\":3}");               /* no eventId */
    expect_rejected("{\"eventId\":\"e1\",\"orderId\":3}");                      /* no eventType */
    expect_rejected("{\"eventId\":\"e1\",\"eventType\":\"Ordered\"}");          /* no orderId */
    expect_rejected("{\"eventId\":1,\"eventType\":\"Ordered\",\"orderId\":3}"); /* wrong type */
    expect_rejected("{\"eventId\":\"e1\",\"eventType\":null,\"orderId\":3}");
    expect_rejected("{\"eventId\":\"e1\",\"eventType\":\"Ordered\",\"orderId\":null}");
}

static void expect_explained(const char *text, const char *part)
{
    char why[200] = "";
    hc_event_explain(text, strlen(text), why, sizeof why);
    if (!strstr(why, part))
        fail_msg("explanation of %s is \"%s\", expected it to contain \"%s\"", text, why, part);
}

static void test_explain_says_what_is_wrong(void **state)
{
    (void)state;
    expect_explained("{not json", "not JSON: ");
    expect_explained("[1]", "not a JSON object");
    expect_explained("{\"eventType\":\"Ordered\",\"orderId\":1}",
                     "missing or invalid: eventId (string)");
    expect_explained("{\"eventId\":\"x\",\"eventType\":\"Ordered\",\"orderId\":\"1\"}",
                     "orderId (integer)");
    expect_explained("{}", "eventId (string) eventType (string) orderId (integer)");
}

/* The type is read from the start of events as hc_event_new writes them,
 * and only there; everything else is left to hc_event_parse. */
static void test_peek_type(void **state)
{
    (void)state;
    char type[40];
    json_t *ev = hc_event_new("PaymentApproved", 12, NULL);
    json_object_set_new(ev, "reason", json_string("\"eventType\":\"Ordered\""));
    char *text = json_dumps(ev, JSON_COMPACT);
    assert_int_equal(hc_event_peek_type(text, strlen(text), type, sizeof type), 1);
    assert_string_equal(type, "PaymentApproved");
    /* cut short of the type's closing quote */
    size_t upto = strstr(text, "PaymentApproved") - text + strlen("PaymentApproved");
    assert_int_equal(hc_event_peek_type(text, upto, type, sizeof type), 0);
    assert_int_equal(hc_event_peek_type(text, upto + 1, type, sizeof type), 1);
    /* too small a buffer */
    assert_int_equal(hc_event_peek_type(text, strlen(text), type, 5), 0);
    free(text);
    json_decref(ev);

    static const char *const others[] = {
        "",
        "not json",
        /* a type this system does not know, or a prefix of one */
        "{\"eventId\":\"123e4567-e89b-12d3-a456-426614174000\",\"eventType\":\"Paid\",\"orderId\":"
        "1}",
        "{\"eventId\":\"123e4567-e89b-12d3-a456-426614174000\",\"eventType\":\"OrderedX\"}",
        /* another layout: the keys in another order, spaces, an escape */
        "{\"eventType\":\"Ordered\",\"eventId\":\"123e4567-e89b-12d3-a456-426614174000\"}",
        "{ \"eventId\":\"123e4567-e89b-12d3-a456-426614174000\",\"eventType\":\"Ordered\"}",
        "{\"eventId\":\"123e4567-e89b-12d3-a456-4266141740\\\"\",\"eventType\":\"Ordered\"}",
        "{\"eventId\":\"short\",\"eventType\":\"Ordered\",\"orderId\":1}",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        assert_int_equal(hc_event_peek_type(others[i], strlen(others[i]), type, sizeof type), 0);
}

int main(void)
{
    hc_log_init("test_event", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_fills_envelope),
        cmocka_unit_test(test_new_without_trace_is_new_root),
        cmocka_unit_test(test_occurred_at_is_now),
        cmocka_unit_test(test_event_id_is_time_ordered),
        cmocka_unit_test(test_now_ms_matches_wall_clock),
        cmocka_unit_test(test_source_is_service_name),
        cmocka_unit_test(test_parse_round_trip),
        cmocka_unit_test(test_parse_uses_len),
        cmocka_unit_test(test_parse_without_traceparent),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_explain_says_what_is_wrong),
        cmocka_unit_test(test_peek_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
