/* hc_event: the event envelope (eventId, eventType, orderId, occurredAt,
 * source, traceparent) plus payload fields, as one flat JSON object. */
#ifndef HC_EVENT_H
#define HC_EVENT_H

#include <jansson.h>
#include <stdint.h>

#include "hc_trace.h"

/* Builds a new event object with the envelope filled: a fresh eventId (a
 * version-7 UUID of the current time, hc_uuid7), that time as occurredAt,
 * the process's service as source and a child of trace (a new
 * root when trace is NULL). Caller owns the result and adds payload fields. */
json_t *hc_event_new(const char *type, int64_t order_id, const hc_trace_t *trace);

/* A parsed event: borrowed views into root, valid while root lives. */
typedef struct hc_event {
    json_t *root;
    const char *event_id;
    const char *type;
    int64_t order_id;
    const char *occurred_at;
    const char *source;
    hc_trace_t trace; /* zeroed trace_id when the event carried none */
} hc_event_t;

/* Parses a bus message value. Returns 0, or HC_EINVAL with *ev zeroed when it
 * is not an event (not JSON, or eventId/eventType/orderId missing). On success
 * the caller releases ev->root with json_decref. */
int hc_event_parse(const char *text, size_t len, hc_event_t *ev);

/* ev's string field key, or NULL when absent or not a string. */
const char *hc_event_str(const hc_event_t *ev, const char *key);

/* ev's field key when it is a positive integer (an id, an amount, a
 * version), else 0. */
int64_t hc_event_id(const hc_event_t *ev, const char *key);

/* The type of the event in text without parsing it, when text begins the way
 * hc_event_new's events are written (compact, {"eventId":"<uuid>",
 * "eventType":"...") and the type is one this system knows: copies it into
 * type (cap bytes) and returns 1. Returns 0 for anything else, which
 * hc_event_parse must then judge. Lets a consumer pass over events it does
 * not want without decoding them. */
int hc_event_peek_type(const char *text, size_t len, char *type, size_t cap);

/* Says in why (n bytes) why text is not an event for hc_event_parse: not
 * JSON (with the parser's message), not an object, or which envelope fields
 * are missing or of the wrong type. */
void hc_event_explain(const char *text, size_t len, char *why, size_t n);

/* The "source" written into new events (the service name); set once at start. */
extern const char *hc_event_source;

#endif
