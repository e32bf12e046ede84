/* fuzz_event: bus message values through hc_event_parse, and status
 * histories (the input itself, and an event's "history" member) through
 * order_history_parse. Checks that a parsed event's views agree with its JSON,
 * its trace is either valid (and formats back to what was sent) or zeroed,
 * and a refused one leaves the whole hc_event_t zeroed; that an accepted
 * history has at most ORDER_MAX_HISTORY known statuses and survives the round
 * trip order_history_json -> text -> order_history_parse unchanged, and a
 * refused one leaves version 0. */
#include "fuzz.h"

#include <jansson.h>

#include "hc_err.h"
#include "hc_event.h"
#include "order/order_domain.h"

static void check_event(const uint8_t *data, size_t size)
{
    hc_event_t ev;
    memset(&ev, 0x5A, sizeof ev);
    int rc = hc_event_parse((const char *)data, size, &ev);
    if (rc != 0) {
        FUZZ_CHECK(rc == HC_EINVAL && fuzz_all_zero(&ev, sizeof ev));
        return;
    }
    json_t *root = ev.root;
    FUZZ_CHECK(json_is_object(root));
    FUZZ_CHECK(ev.event_id && ev.event_id == json_string_value(json_object_get(root, "eventId")));
    FUZZ_CHECK(ev.type && ev.type == json_string_value(json_object_get(root, "eventType")));
    FUZZ_CHECK(ev.order_id == json_integer_value(json_object_get(root, "orderId")));
    FUZZ_CHECK(ev.occurred_at == json_string_value(json_object_get(root, "occurredAt")));
    FUZZ_CHECK(ev.source == json_string_value(json_object_get(root, "source")));
    const char *tp = json_string_value(json_object_get(root, "traceparent"));
    if (ev.trace.trace_id[0]) {
        char back[HC_TRACEPARENT_LEN + 1];
        hc_trace_format(&ev.trace, back);
        FUZZ_CHECK(tp && strcmp(back, tp) == 0);
    } else {
        FUZZ_CHECK(fuzz_all_zero(&ev.trace, sizeof ev.trace));
    }
    json_decref(root);
}

/* order_history_parse on text; an accepted history goes round the loop. */
static void check_history(const char *text)
{
    order_t o, again;
    memset(&o, 0x5A, sizeof o);
    int rc = order_history_parse(text, &o);
    if (rc != 0) {
        FUZZ_CHECK(rc == HC_EINVAL && o.version == 0);
        return;
    }
    FUZZ_CHECK(o.version >= 0 && o.version <= ORDER_MAX_HISTORY);
    for (int64_t i = 0; i < o.version; i++) {
        FUZZ_CHECK((unsigned)o.history[i].status < ORDER_STATUS_COUNT);
        FUZZ_CHECK(memchr(o.history[i].at, '\0', sizeof o.history[i].at) != NULL);
    }
    json_t *arr = order_history_json(&o, o.version);
    FUZZ_CHECK(json_array_size(arr) == (size_t)o.version);
    char *back = json_dumps(arr, JSON_COMPACT);
    FUZZ_CHECK(back != NULL);
    memset(&again, 0, sizeof again);
    FUZZ_CHECK(order_history_parse(back, &again) == 0);
    FUZZ_CHECK(again.version == o.version);
    for (int64_t i = 0; i < o.version; i++) {
        FUZZ_CHECK(again.history[i].status == o.history[i].status);
        FUZZ_CHECK(strcmp(again.history[i].at, o.history[i].at) == 0);
    }
    free(back);
    json_decref(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_event(data, size);

    char *text = fuzz_cstr(data, size);
    check_history(text);
    free(text);

    /* an event's history member, as the services carry it */
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    json_t *h = json_object_get(root, "history");
    if (h) {
        char *ht = json_dumps(h, JSON_COMPACT | JSON_ENCODE_ANY);
        if (ht)
            check_history(ht);
        free(ht);
    }
    json_decref(root);
    return 0;
}
