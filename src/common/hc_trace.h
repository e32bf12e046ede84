/* hc_trace: W3C trace context (`traceparent: 00-<trace>-<span>-<flags>`),
 * parsed from requests, generated when absent, propagated on calls and events. */
#ifndef HC_TRACE_H
#define HC_TRACE_H

#include <stdint.h>

#define HC_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

typedef struct hc_trace {
    char trace_id[33]; /* 32 lowercase hex, NUL-terminated */
    char span_id[17];  /* 16 lowercase hex */
    uint8_t flags;
} hc_trace_t;

/* Parses a traceparent header. Returns 0, or HC_EINVAL when the value is not
 * a valid version-00 header (all-zero ids are invalid too). */
int hc_trace_parse(const char *header, hc_trace_t *out);

/* Makes a new root context with random ids (flags = 01). */
void hc_trace_new(hc_trace_t *out);

/* Makes a child context: same trace id, new span id. */
void hc_trace_child(const hc_trace_t *parent, hc_trace_t *out);

/* Writes the header value into buf (at least HC_TRACEPARENT_LEN + 1 bytes). */
void hc_trace_format(const hc_trace_t *t, char *buf);

/* Parses header if valid, else makes a new root: the per-request rule. */
void hc_trace_accept(const char *header, hc_trace_t *out);

/* Fills buf with n random bytes from the kernel (getrandom), through a small
 * per-thread pool for short requests (ids). Not for use across fork without
 * exec. */
void hc_random_bytes(void *buf, unsigned n);

/* Writes an RFC 9562 version-7 UUID string (37 bytes with NUL): ms (Unix
 * milliseconds, the wall clock's for an id made now) in its first 48 bits,
 * then 74 random bits. Ids of later milliseconds sort after, so a B-tree
 * keyed by them (the consumers' inboxes) grows at its right edge instead of
 * writing a random page per insert. */
void hc_uuid7(int64_t ms, char out[37]);

#endif
