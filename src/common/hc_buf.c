/* hc_buf: bounded growable buffers and the aborting allocation helpers. */
#include "hc_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_err.h"
#include "hc_log.h"

const char *hc_strerror(int err)
{
    switch (err) {
    case HC_OK:
        return "ok";
    case HC_EINVAL:
        return "invalid argument";
    case HC_ENOMEM:
        return "out of memory";
    case HC_EIO:
        return "i/o error";
    case HC_ENOTFOUND:
        return "not found";
    case HC_EBUSY:
        return "busy";
    case HC_ETIMEDOUT:
        return "timed out";
    case HC_EUNAVAIL:
        return "unavailable";
    case HC_ECONFLICT:
        return "conflict";
    case HC_EPROTO:
        return "protocol error";
    case HC_ECLOSED:
        return "closed";
    case HC_ENOSPC:
        return "storage full";
    case HC_ECORRUPT:
        return "corrupt data";
    default:
        return "unknown error";
    }
}

void *hc_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        hc_fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *hc_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        hc_fatal("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *hc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        hc_fatal("out of memory reallocating %zu bytes", n);
    return q;
}

char *hc_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = hc_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

size_t hc_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int hc_fmt(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return n;
}

size_t hc_utf8_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        /* Never split a multi-byte sequence: back off to a lead byte. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

int hc_parse_i64(const char *s, long long *out)
{
    /* Canonical decimal only: an optional '-', then "0" or digits without a
     * leading zero. strtoll alone would also take " 1", "+1" and "01", so
     * that /orders/01 would name order 1. */
    if (!s)
        return HC_EINVAL;
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9' || (d[0] == '0' && d[1] != '\0') || (s[0] == '-' && d[0] == '0'))
        return HC_EINVAL;
    for (const char *p = d; *p; p++)
        if (*p < '0' || *p > '9')
            return HC_EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end != '\0')
        return HC_EINVAL;
    *out = v;
    return 0;
}

void hc_buf_init(hc_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hc_buf_cleanup(hc_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Makes room for n more bytes plus a terminator. */
static int buf_reserve(hc_buf_t *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return HC_EINVAL;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = hc_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int hc_buf_add(hc_buf_t *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return HC_EINVAL;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hc_buf_adds(hc_buf_t *b, const char *s)
{
    return hc_buf_add(b, s, strlen(s));
}

int hc_buf_vprintf(hc_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return HC_EINVAL;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int hc_buf_printf(hc_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = hc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void hc_buf_reset(hc_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

const char *hc_buf_str(const hc_buf_t *b)
{
    return b->data ? b->data : "";
}

char *hc_buf_take(hc_buf_t *b)
{
    char *d = b->data ? b->data : hc_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}
