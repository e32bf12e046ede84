/* hc_log: JSON log lines on stderr with the thread's correlation context.
 * It needs only hc_time, so that every other module may log. */
#include "hc_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_time.h"

static char log_service[32] = "healthcenter";
static int log_min = HC_LOG_INFO;
static _Thread_local char ctx_trace[33];
static _Thread_local int64_t ctx_order;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void hc_log_init(const char *service, const char *level)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, level_names[i]) == 0)
            log_min = i;
}

void hc_log_ctx_set(const char *trace_id, int64_t order_id)
{
    snprintf(ctx_trace, sizeof ctx_trace, "%s", trace_id ? trace_id : "");
    ctx_order = order_id;
}

void hc_log_ctx_order(int64_t order_id)
{
    ctx_order = order_id;
}

void hc_log_ctx_clear(void)
{
    ctx_trace[0] = '\0';
    ctx_order = 0;
}

/* Formats and writes one line; the line is built whole so concurrent writers
 * never interleave within a line (one write(2) per line). */
static void log_vwrite(int level, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    char when[HC_RFC3339_SIZE];
    hc_now_rfc3339(when);

    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(when));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(log_service));
    json_t *m = json_string(msg);
    json_object_set_new(o, "msg", m ? m : json_string("(message was not valid UTF-8)"));
    if (ctx_order > 0)
        json_object_set_new(o, "orderId", json_integer(ctx_order));
    if (ctx_trace[0])
        json_object_set_new(o, "traceId", json_string(ctx_trace));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (line) {
        size_t n = strlen(line);
        line[n] = '\n';
        fwrite(line, 1, n + 1, stderr);
        free(line);
    }
}

void hc_log(int level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void hc_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(HC_LOG_ERROR, fmt, ap);
    va_end(ap);
    abort();
}
