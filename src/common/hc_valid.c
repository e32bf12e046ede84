/* hc_valid: shared input rules (cards, phones, dates, field errors). */
#include "hc_valid.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"

/* Copies the digits of in to out, skipping spaces and dashes; fails on any
 * other character or when more than max digits appear. */
static int digits_only(const char *in, char *out, size_t outlen, size_t max)
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p < '0' || *p > '9' || n >= max || n + 1 >= outlen)
            return -1;
        out[n++] = *p;
    }
    out[n] = '\0';
    return (int)n;
}

int hc_card_normalize(const char *in, char *out, size_t outlen)
{
    int n = in ? digits_only(in, out, outlen, 19) : -1;
    if (n < 12)
        return HC_EINVAL;
    int sum = 0;
    for (int i = n - 1, dbl = 0; i >= 0; i--, dbl = !dbl) {
        int d = out[i] - '0';
        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0 ? 0 : HC_EINVAL;
}

void hc_card_mask(const char *last4, char *out, size_t outlen)
{
    size_t n = last4 ? strlen(last4) : 0;
    snprintf(out, outlen, "************%s", n >= 4 ? last4 + n - 4 : "****");
}

/* Decodes the UTF-8 character at p into *cp; returns its length in bytes (1
 * for a stray byte, decoded as itself). */
static size_t utf8_next(const unsigned char *p, unsigned *cp)
{
    size_t len = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
    unsigned v = len == 1 ? *p : *p & (0x3Fu >> (len - 1));
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            *cp = *p;
            return 1;
        }
        v = (v << 6) | (p[k] & 0x3Fu);
    }
    *cp = v;
    return len;
}

/* Spaces trimmed from the ends of a text (controls such as tab or newline
 * are refused wherever they are, not trimmed). */
static int text_space(unsigned cp)
{
    return cp == ' ' || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Characters no name or reason may hold: controls, separators that break a
 * line, and marks that are invisible or reorder text. */
static int text_forbidden(unsigned cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
           cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

hc_text_verdict_t hc_text_clean(const char *in, size_t max_chars, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    const unsigned char *start = NULL, *end = NULL;
    size_t chars = 0;
    unsigned cp;
    hc_text_verdict_t v = HC_TEXT_OK;
    if (outlen)
        out[0] = '\0';
    /* Characters are counted as sent, spaces at the ends included, as JSON
     * Schema's maxLength counts them. */
    for (; *p; chars++) {
        size_t len = utf8_next(p, &cp);
        if (!text_space(cp)) {
            if (text_forbidden(cp))
                v = HC_TEXT_CONTROL;
            if (!start)
                start = p;
            end = p + len;
        }
        p += len;
    }
    if (v != HC_TEXT_OK)
        return v;
    if (!start)
        return chars > max_chars ? HC_TEXT_TOO_LONG : HC_TEXT_EMPTY;
    size_t n = (size_t)(end - start);
    if (chars > max_chars || n + 1 > outlen)
        return HC_TEXT_TOO_LONG;
    memcpy(out, start, n);
    out[n] = '\0';
    return HC_TEXT_OK;
}

const char *hc_text_message(hc_text_verdict_t v, size_t max_chars)
{
    static _Thread_local char msg[96];
    switch (v) {
    case HC_TEXT_EMPTY:
        return "must not be empty or only white space";
    case HC_TEXT_CONTROL:
        return "must not contain control or invisible formatting characters";
    default:
        snprintf(msg, sizeof msg, "must be 1-%zu characters", max_chars);
        return msg;
    }
}

int hc_phone_normalize(const char *in, char *out, size_t outlen)
{
    int n = in ? digits_only(in, out, outlen, 11) : -1;
    if (n != 10 && n != 11)
        return HC_EINVAL;
    if (out[0] != '0' || out[1] != '1' || !strchr("016789", out[2]))
        return HC_EINVAL;
    return 0;
}

void hc_phone_mask(const char *d, char *out, size_t outlen)
{
    size_t n = d ? strlen(d) : 0;
    if (n < 10) {
        snprintf(out, outlen, "***");
        return;
    }
    snprintf(out, outlen, "%.3s-****-%s", d, d + n - 4);
}

/* Days from civil date (Howard Hinnant's algorithm), proleptic Gregorian. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

int hc_date_parse(const char *s, int64_t *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return HC_EINVAL;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return HC_EINVAL;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31)
        return HC_EINVAL;
    int64_t z = days_from_civil(y, (unsigned)m, (unsigned)d);
    int yy, mm, dd;
    civil_from_days(z, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return HC_EINVAL; /* e.g. 2026-02-30 */
    *day = z;
    return 0;
}

void hc_date_format(int64_t day, char *out, size_t outlen)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, outlen, "%04d-%02d-%02d", y, m, d);
}

int64_t hc_today(void)
{
    time_t now = time(NULL) + (time_t)hc_cfg.clock_offset_s;
    struct tm tm;
    localtime_r(&now, &tm);
    return days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

void hc_fields_init(hc_fields_t *f)
{
    f->list = json_array();
}

void hc_fields_add(hc_fields_t *f, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One error per field is enough for a client to act on. */
    size_t i;
    json_t *e;
    json_array_foreach(f->list, i, e) if (strcmp(json_string_value(json_object_get(e, "field")),
                                                 field) == 0) return;
    json_array_append_new(f->list, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

size_t hc_fields_count(const hc_fields_t *f)
{
    return json_array_size(f->list);
}

json_t *hc_fields_take(hc_fields_t *f)
{
    json_t *l = f->list;
    f->list = json_array();
    return l;
}

void hc_fields_cleanup(hc_fields_t *f)
{
    json_decref(f->list);
    f->list = NULL;
}

int hc_get_string(json_t *obj, const char *key, const char **out, hc_fields_t *f)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        hc_fields_add(f, key, "must be a string");
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

size_t hc_fields_unknown(json_t *obj, const char *const *known, hc_fields_t *f)
{
    const char *key;
    json_t *v;
    size_t n = 0;
    json_object_foreach(obj, key, v)
    {
        const char *const *k = known;
        while (*k && strcmp(*k, key) != 0)
            k++;
        if (*k)
            continue;
        char name[64];
        hc_utf8_copy(name, sizeof name, key);
        hc_fields_add(f, name, "is not a field of this request");
        n++;
    }
    (void)v;
    return n;
}

int hc_get_text(json_t *obj, const char *key, size_t max_chars, char *out, size_t outlen,
                hc_fields_t *f)
{
    const char *s = NULL;
    int has = hc_get_string(obj, key, &s, f);
    if (has <= 0)
        return has;
    hc_text_verdict_t v = hc_text_clean(s, max_chars, out, outlen);
    if (v == HC_TEXT_OK)
        return 1;
    hc_fields_add(f, key, "%s", hc_text_message(v, max_chars));
    return -1;
}

int hc_get_int(json_t *obj, const char *key, int64_t *out, hc_fields_t *f)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 1;
    }
    long long n;
    if (json_is_string(v) && hc_parse_i64(json_string_value(v), &n) == 0) {
        *out = n;
        return 1;
    }
    hc_fields_add(f, key, "must be an integer");
    return -1;
}
