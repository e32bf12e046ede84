/* hc_event: building and parsing event envelopes. */
#include "hc_event.h"

#include <stdio.h>
#include <string.h>

#include "hc_err.h"
#include "hc_events.h"
#include "hc_time.h"

/* The service name events carry as "source"; set by hc_service_run. */
const char *hc_event_source = "healthcenter";

json_t *hc_event_new(const char *type, int64_t order_id, const hc_trace_t *trace)
{
    char id[37], when[HC_RFC3339_SIZE], tp[HC_TRACEPARENT_LEN + 1];
    hc_trace_t t;
    /* One instant for both: the id's first 48 bits are occurredAt's ms. */
    int64_t now = hc_now_ms();
    hc_uuid7(now, id);
    hc_time_rfc3339(now, when);
    if (trace && trace->trace_id[0])
        hc_trace_child(trace, &t);
    else
        hc_trace_new(&t);
    hc_trace_format(&t, tp);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "eventId", id, "eventType", type, "orderId",
                     (json_int_t)order_id, "occurredAt", when, "source", hc_event_source,
                     "traceparent", tp);
}

int hc_event_parse(const char *text, size_t len, hc_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root))
        goto bad;
    json_t *id = json_object_get(root, "eventId"), *type = json_object_get(root, "eventType"),
           *oid = json_object_get(root, "orderId");
    if (!json_is_string(id) || !json_is_string(type) || !json_is_integer(oid))
        goto bad;
    ev->root = root;
    ev->event_id = json_string_value(id);
    ev->type = json_string_value(type);
    ev->order_id = json_integer_value(oid);
    ev->occurred_at = json_string_value(json_object_get(root, "occurredAt"));
    ev->source = json_string_value(json_object_get(root, "source"));
    if (hc_trace_parse(json_string_value(json_object_get(root, "traceparent")), &ev->trace))
        memset(&ev->trace, 0, sizeof ev->trace);
    return 0;
bad:
    json_decref(root);
    memset(ev, 0, sizeof *ev);
    return HC_EINVAL;
}

static const char *const known_types[] = {
    HC_EV_ORDERED,
    HC_EV_ORDER_REQUESTED,
    HC_EV_ORDER_CONFIRMED,
    HC_EV_ORDER_REJECTED,
    HC_EV_ORDER_CANCELED,
    HC_EV_ORDER_FAILED,
    HC_EV_PAYMENT_APPROVED,
    HC_EV_PAYMENT_CANCELED,
    HC_EV_RESERVATION_ACCEPTED,
    HC_EV_RESERVATION_CONFIRMED,
    HC_EV_RESERVATION_REJECTED,
    HC_EV_RESERVATION_CANCELED,
};

int hc_event_peek_type(const char *text, size_t len, char *type, size_t cap)
{
    static const char head[] = "{\"eventId\":\"";
    static const char mid[] = "\",\"eventType\":\"";
    const size_t uuid_len = 36, h = sizeof head - 1, m = sizeof mid - 1;
    if (!text || len < h + uuid_len + m || memcmp(text, head, h) != 0 ||
        memcmp(text + h + uuid_len, mid, m) != 0)
        return 0;
    for (size_t i = h; i < h + uuid_len; i++)
        if (text[i] == '"' || text[i] == '\\')
            return 0;
    const char *t = text + h + uuid_len + m, *end = text + len;
    for (size_t i = 0; i < sizeof known_types / sizeof known_types[0]; i++) {
        size_t n = strlen(known_types[i]);
        if (n < cap && (size_t)(end - t) > n && memcmp(t, known_types[i], n) == 0 && t[n] == '"') {
            memcpy(type, t, n + 1);
            type[n] = '\0';
            return 1;
        }
    }
    return 0;
}

void hc_event_explain(const char *text, size_t len, char *why, size_t n)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        snprintf(why, n, "not JSON: %s (line %d column %d)", err.text, err.line, err.column);
        return;
    }
    if (!json_is_object(root)) {
        snprintf(why, n, "not a JSON object");
    } else {
        int id = json_is_string(json_object_get(root, "eventId"));
        int type = json_is_string(json_object_get(root, "eventType"));
        int oid = json_is_integer(json_object_get(root, "orderId"));
        snprintf(why, n, "envelope field%s missing or invalid:%s%s%s",
                 id + type + oid == 2 ? "" : "s", id ? "" : " eventId (string)",
                 type ? "" : " eventType (string)", oid ? "" : " orderId (integer)");
        if (id && type && oid)
            snprintf(why, n, "not an event");
    }
    json_decref(root);
}

const char *hc_event_str(const hc_event_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev->root, key));
}

int64_t hc_event_id(const hc_event_t *ev, const char *key)
{
    json_t *v = json_object_get(ev->root, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}
