/* hc_log: JSON or text log lines on stderr with the thread's correlation
 * context. It needs only hc_time, so that every other module may log. */
#include "hc_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_err.h"
#include "hc_time.h"

static char log_service[32] = "healthcenter";
static int log_min = HC_LOG_INFO;
static hc_log_format_t log_format = HC_LOG_FORMAT_JSON;
static _Thread_local char ctx_trace[33];
static _Thread_local int64_t ctx_order;
static _Thread_local char ctx_request[HC_LOG_REQUEST_ID_MAX + 1];

static const char *const level_names[] = {"debug", "info", "warn", "error"};
/* The text format's level column: one width, so messages line up. */
static const char *const level_columns[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void hc_log_init(const char *service, const char *level)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, level_names[i]) == 0)
            log_min = i;
}

int hc_log_set_format(const char *name)
{
    if (name && strcmp(name, "json") == 0)
        log_format = HC_LOG_FORMAT_JSON;
    else if (name && strcmp(name, "text") == 0)
        log_format = HC_LOG_FORMAT_TEXT;
    else
        return HC_EINVAL;
    return 0;
}

void hc_log_ctx_set(const char *trace_id, int64_t order_id)
{
    snprintf(ctx_trace, sizeof ctx_trace, "%s", trace_id ? trace_id : "");
    ctx_order = order_id;
    ctx_request[0] = '\0';
}

void hc_log_ctx_order(int64_t order_id)
{
    ctx_order = order_id;
}

int hc_log_request_id_valid(const char *id)
{
    if (!id || !*id)
        return 0;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (n >= HC_LOG_REQUEST_ID_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

int hc_log_ctx_request(const char *request_id)
{
    if (!hc_log_request_id_valid(request_id)) {
        ctx_request[0] = '\0';
        return 0;
    }
    snprintf(ctx_request, sizeof ctx_request, "%s", request_id);
    return 1;
}

const char *hc_log_ctx_request_id(void)
{
    return ctx_request;
}

void hc_log_ctx_clear(void)
{
    ctx_trace[0] = '\0';
    ctx_order = 0;
    ctx_request[0] = '\0';
}

/* A bounded text line under construction (the line is cut, never overrun). */
typedef struct text_line {
    char *p;
    size_t len, cap; /* cap counts the NUL */
} text_line_t;

static void text_add(text_line_t *t, const char *s, size_t n)
{
    if (n > t->cap - 1 - t->len)
        n = t->cap - 1 - t->len;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_printf(text_line_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(text_line_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < t->cap - t->len ? (size_t)n : t->cap - 1 - t->len;
}

/* Appends s with every control character escaped: a message can never end
 * the line early or move the cursor of the terminal that shows it. */
static void text_add_escaped(text_line_t *t, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            text_add(t, "\\n", 2);
        else if (c == '\r')
            text_add(t, "\\r", 2);
        else if (c == '\t')
            text_add(t, "\\t", 2);
        else if (c < 0x20 || c == 0x7f)
            text_printf(t, "\\x%02x", c);
        else
            text_add(t, (const char *)s, 1);
    }
}

static int present(const char *s)
{
    return s && *s;
}

static char *format_text(const hc_log_line_t *l)
{
    /* Every escape is at most 4 bytes for 1; the fixed parts fit in 512. */
    size_t cap = 512 + 4 * (present(l->msg) ? strlen(l->msg) : 0) +
                 (present(l->service) ? strlen(l->service) : 0) +
                 (present(l->request_id) ? strlen(l->request_id) : 0) +
                 (present(l->trace_id) ? strlen(l->trace_id) : 0);
    text_line_t t = {malloc(cap), 0, cap};
    if (!t.p)
        abort();
    t.p[0] = '\0';
    int level = l->level >= HC_LOG_DEBUG && l->level <= HC_LOG_ERROR ? l->level : HC_LOG_ERROR;
    text_printf(&t, "%s %s %-12s ", present(l->ts) ? l->ts : "-", level_columns[level],
                present(l->service) ? l->service : "-");
    text_add_escaped(&t, present(l->msg) ? l->msg : "");
    if (l->order_id > 0)
        text_printf(&t, " orderId=%lld", (long long)l->order_id);
    if (present(l->trace_id)) {
        text_add(&t, " traceId=", 9);
        text_add_escaped(&t, l->trace_id);
    }
    if (present(l->request_id)) {
        text_add(&t, " requestId=", 11);
        text_add_escaped(&t, l->request_id);
    }
    text_add(&t, "\n", 1);
    if (t.p[t.len - 1] != '\n')
        t.p[t.len - 1] = '\n'; /* cut to fit: still one whole line */
    return t.p;
}

static char *format_json(const hc_log_line_t *l)
{
    int level = l->level >= HC_LOG_DEBUG && l->level <= HC_LOG_ERROR ? l->level : HC_LOG_ERROR;
    json_t *o = json_object();
    if (!o)
        abort();
    json_object_set_new(o, "ts", json_string(present(l->ts) ? l->ts : ""));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(present(l->service) ? l->service : ""));
    json_t *m = json_string(l->msg ? l->msg : "");
    json_object_set_new(o, "msg", m ? m : json_string("(message was not valid UTF-8)"));
    if (l->order_id > 0)
        json_object_set_new(o, "orderId", json_integer(l->order_id));
    if (present(l->trace_id))
        json_object_set_new(o, "traceId", json_string(l->trace_id));
    if (present(l->request_id))
        json_object_set_new(o, "requestId", json_string(l->request_id));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        abort();
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (!line)
        abort();
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    free(text);
    return line;
}

char *hc_log_format_line(const hc_log_line_t *line, hc_log_format_t format)
{
    return format == HC_LOG_FORMAT_TEXT ? format_text(line) : format_json(line);
}

/* Formats and writes one line; the line is built whole so concurrent writers
 * never interleave within a line (one write(2) per line). */
static void log_vwrite(int level, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    char when[HC_RFC3339_SIZE];
    hc_now_rfc3339(when);

    hc_log_line_t l = {.ts = when,
                       .level = level,
                       .service = log_service,
                       .msg = msg,
                       .order_id = ctx_order,
                       .trace_id = ctx_trace,
                       .request_id = ctx_request};
    char *line = hc_log_format_line(&l, log_format);
    fwrite(line, 1, strlen(line), stderr);
    free(line);
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
