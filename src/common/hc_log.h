/* hc_log: log lines, one per event, to stderr: JSON (for machines) or text
 * (for a person at a terminal). Each line carries time, level, service,
 * message and, when known on the calling thread, the orderId, the trace id
 * and the gateway's request id (see hc_log_ctx_set, hc_log_ctx_request). */
#ifndef HC_LOG_H
#define HC_LOG_H

#include <stdint.h>

enum { HC_LOG_DEBUG = 0, HC_LOG_INFO = 1, HC_LOG_WARN = 2, HC_LOG_ERROR = 3 };

/* Line formats: one JSON object, or one readable line of text. */
typedef enum { HC_LOG_FORMAT_JSON = 0, HC_LOG_FORMAT_TEXT = 1 } hc_log_format_t;

/* Longest request id taken (the gateway's rule: 1 to 128 characters). */
#define HC_LOG_REQUEST_ID_MAX 128

/* Sets the service name and minimum level ("debug".."error"). Call once. */
void hc_log_init(const char *service, const char *level);

/* Sets the line format: "json" or "text". Returns 0, or HC_EINVAL (and
 * keeps the format) for any other name. The default is JSON. Call before threads start. */
int hc_log_set_format(const char *name);

/* Sets this thread's correlation context: trace id (32 hex chars or NULL) and
 * orderId (0 = unknown). Both are copied. The request id is cleared: set it
 * after this call with hc_log_ctx_request. */
void hc_log_ctx_set(const char *trace_id, int64_t order_id);
/* Sets only the orderId of this thread's context. */
void hc_log_ctx_order(int64_t order_id);
/* Sets this thread's request id (copied) when hc_log_request_id_valid says
 * it is one; clears it otherwise (NULL included). Returns 1 when set. */
int hc_log_ctx_request(const char *request_id);
/* This thread's request id, "" when it has none. Owned by the thread; valid
 * until its context changes. */
const char *hc_log_ctx_request_id(void);
/* Clears this thread's correlation context. */
void hc_log_ctx_clear(void);

/* Returns 1 when id can be a request id: 1 to HC_LOG_REQUEST_ID_MAX
 * characters, each a letter, a digit or one of "._:-" (nginx's own ids are
 * 32 hex digits). Anything else (NULL, spaces, quotes, control characters,
 * non-ASCII) could forge or break a log line and is not taken. */
int hc_log_request_id_valid(const char *id);

/* One log line's parts. Strings are borrowed; NULL or "" means absent. */
typedef struct hc_log_line {
    const char *ts; /* RFC 3339 time */
    int level;      /* HC_LOG_DEBUG..HC_LOG_ERROR */
    const char *service;
    const char *msg;      /* UTF-8 expected; JSON replaces an invalid one */
    int64_t order_id;     /* 0: absent */
    const char *trace_id; /* 32 hex chars */
    const char *request_id;
} hc_log_line_t;

/* Formats one line, '\n' included, as format says. Text is "ts LEVEL
 * service msg orderId=.. traceId=.. requestId=.." with the level and the
 * service in fixed-width columns and every control character of the message
 * escaped (\n, \t, \xNN), so that a line stays one line. Returns a
 * NUL-terminated string the caller frees; aborts when out of memory. */
char *hc_log_format_line(const hc_log_line_t *line, hc_log_format_t format);

/* Writes one line if level passes the threshold. */
void hc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hc_debug(...) hc_log(HC_LOG_DEBUG, __VA_ARGS__)
#define hc_info(...) hc_log(HC_LOG_INFO, __VA_ARGS__)
#define hc_warn(...) hc_log(HC_LOG_WARN, __VA_ARGS__)
#define hc_error(...) hc_log(HC_LOG_ERROR, __VA_ARGS__)

/* Logs and aborts: for out-of-memory and broken invariants only. */
void hc_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
