/* hc_trace: W3C traceparent parsing/generation and random ids. */
#include "hc_trace.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "hc_err.h"
#include "hc_log.h"

static void fill(unsigned char *p, size_t n)
{
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0)
            hc_fatal("getrandom failed");
        p += got;
        n -= (size_t)got;
    }
}

/* Each thread draws from its own pool of kernel random bytes, refilled 256
 * at a time: a booking asks for a few ids, and one getrandom(2) then serves
 * many of them. A byte is handed out once and wiped from the pool. */
#define POOL_BYTES 256
static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local unsigned pool_left;

void hc_random_bytes(void *buf, unsigned n)
{
    unsigned char *p = buf;
    if (n > POOL_BYTES / 4) {
        fill(p, n);
        return;
    }
    if (pool_left < n) {
        fill(pool, POOL_BYTES);
        pool_left = POOL_BYTES;
    }
    unsigned char *from = pool + POOL_BYTES - pool_left;
    memcpy(p, from, n);
    memset(from, 0, n);
    pool_left -= n;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Accepts n lowercase hex digits that are not all zero. */
static int valid_hex_id(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        if (c != '0')
            nonzero = 1;
    }
    return nonzero;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int hc_trace_parse(const char *h, hc_trace_t *out)
{
    if (!h || strlen(h) != HC_TRACEPARENT_LEN)
        return HC_EINVAL;
    if (h[0] != '0' || h[1] != '0' || h[2] != '-' || h[35] != '-' || h[52] != '-')
        return HC_EINVAL;
    if (!valid_hex_id(h + 3, 32) || !valid_hex_id(h + 36, 16))
        return HC_EINVAL;
    int f1 = hexval(h[53]), f2 = hexval(h[54]);
    if (f1 < 0 || f2 < 0)
        return HC_EINVAL;
    memcpy(out->trace_id, h + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, h + 36, 16);
    out->span_id[16] = '\0';
    out->flags = (uint8_t)(f1 * 16 + f2);
    return 0;
}

void hc_trace_new(hc_trace_t *out)
{
    unsigned char b[24];
    do {
        hc_random_bytes(b, sizeof b);
        to_hex(b, 16, out->trace_id);
        to_hex(b + 16, 8, out->span_id);
    } while (!valid_hex_id(out->trace_id, 32) || !valid_hex_id(out->span_id, 16));
    out->flags = 1;
}

void hc_trace_child(const hc_trace_t *parent, hc_trace_t *out)
{
    unsigned char b[8];
    hc_trace_t t = *parent;
    do {
        hc_random_bytes(b, sizeof b);
        to_hex(b, 8, t.span_id);
    } while (!valid_hex_id(t.span_id, 16) || strcmp(t.span_id, parent->span_id) == 0);
    *out = t;
}

void hc_trace_format(const hc_trace_t *t, char *buf)
{
    snprintf(buf, HC_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", t->trace_id, t->span_id, t->flags);
}

void hc_trace_accept(const char *header, hc_trace_t *out)
{
    if (hc_trace_parse(header, out) != 0)
        hc_trace_new(out);
}

void hc_uuid7(int64_t ms, char out[37])
{
    unsigned char b[16];
    hc_random_bytes(b + 6, 10);
    uint64_t t = (uint64_t)ms;
    for (int i = 5; i >= 0; i--, t >>= 8)
        b[i] = (unsigned char)(t & 0xff);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70); /* version 7 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    char hex[33];
    to_hex(b, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}
