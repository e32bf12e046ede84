/* hc_log: structured JSON log lines, one per event, to stderr.
 * Each line carries level, service, message and, when known on the calling
 * thread, the orderId and trace id (see hc_log_ctx_set). */
#ifndef HC_LOG_H
#define HC_LOG_H

#include <stdint.h>

enum { HC_LOG_DEBUG = 0, HC_LOG_INFO = 1, HC_LOG_WARN = 2, HC_LOG_ERROR = 3 };

/* Sets the service name and minimum level ("debug".."error"). Call once. */
void hc_log_init(const char *service, const char *level);

/* Sets this thread's correlation context: trace id (32 hex chars or NULL) and
 * orderId (0 = unknown). Both are copied. */
void hc_log_ctx_set(const char *trace_id, int64_t order_id);
/* Sets only the orderId of this thread's context. */
void hc_log_ctx_order(int64_t order_id);
/* Clears this thread's correlation context. */
void hc_log_ctx_clear(void);

/* Writes one JSON line if level passes the threshold. */
void hc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hc_debug(...) hc_log(HC_LOG_DEBUG, __VA_ARGS__)
#define hc_info(...) hc_log(HC_LOG_INFO, __VA_ARGS__)
#define hc_warn(...) hc_log(HC_LOG_WARN, __VA_ARGS__)
#define hc_error(...) hc_log(HC_LOG_ERROR, __VA_ARGS__)

/* Logs and aborts: for out-of-memory and broken invariants only. */
void hc_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
