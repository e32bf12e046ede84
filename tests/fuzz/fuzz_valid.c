/* fuzz_valid: the string validators of hc_valid.h and hc_buf.h on raw text:
 * hc_text_clean (its verdict recomputed from the contract), hc_phone_normalize
 * and hc_card_normalize (accepted exactly when the rules say, into buffers of
 * the smallest allowed size), their masks, hc_date_parse/hc_date_format (both
 * round trips), hc_parse_i64 (canonical decimal in range, prints back the
 * same) and hc_utf8_copy (a prefix cut at a character boundary).
 * Input: byte 0 is max_chars, byte 1 a buffer size, the rest the text. */
#include "fuzz.h"

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_valid.h"

/* Bytes of the UTF-8 character that starts with lead (valid UTF-8 assumed). */
static size_t char_len(unsigned char lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/* hc_text_clean's verdict and output, recomputed from its contract. */
static void check_text_clean(const char *s, size_t max_chars, size_t outlen)
{
    char *out = malloc(outlen ? outlen : 1); /* exactly outlen bytes for ASan */
    hc_text_verdict_t v = hc_text_clean(s, max_chars, out, outlen);
    long chars = fuzz_utf8_decode(s, NULL, 0);
    if (chars >= 0) {
        unsigned *cps = malloc(sizeof *cps * ((size_t)chars + 1));
        fuzz_utf8_decode(s, cps, (size_t)chars);
        int forbidden = 0;
        size_t first = 0, end = 0, off = 0; /* byte span of the non-space text */
        int found = 0;
        for (long i = 0; i < chars; i++) {
            size_t len = char_len((unsigned char)s[off]);
            forbidden |= fuzz_is_forbidden(cps[i]);
            if (!fuzz_is_space(cps[i])) {
                if (!found)
                    first = off;
                found = 1;
                end = off + len;
            }
            off += len;
        }
        hc_text_verdict_t want;
        if (forbidden)
            want = HC_TEXT_CONTROL;
        else if (!found)
            want = (size_t)chars > max_chars ? HC_TEXT_TOO_LONG : HC_TEXT_EMPTY;
        else if ((size_t)chars > max_chars || end - first + 1 > outlen)
            want = HC_TEXT_TOO_LONG;
        else
            want = HC_TEXT_OK;
        FUZZ_CHECK(v == want);
        if (v == HC_TEXT_OK)
            FUZZ_CHECK(strlen(out) == end - first && memcmp(out, s + first, end - first) == 0);
        free(cps);
    }
    if (v != HC_TEXT_OK)
        FUZZ_CHECK(hc_text_message(v, max_chars) != NULL);
    free(out);
}

/* Phone: accepted exactly for 10-11 digits starting 010/011/016/017/018/019,
 * spaces and dashes aside; the mask keeps 3 + 4 digits. */
static void check_phone(const char *s)
{
    char *out = malloc(12), want[64], mask[16];
    long n = fuzz_digits_of(s, want, sizeof want);
    int ok = (n == 10 || n == 11) && want[0] == '0' && want[1] == '1' && strchr("016789", want[2]);
    int rc = hc_phone_normalize(s, out, 12);
    FUZZ_CHECK(rc == 0 || rc == HC_EINVAL);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok) {
        FUZZ_CHECK(strcmp(out, want) == 0);
        hc_phone_mask(out, mask, sizeof mask);
        FUZZ_CHECK(strlen(mask) == 13 && memcmp(mask, out, 3) == 0);
        FUZZ_CHECK(memcmp(mask + 3, "-****-", 6) == 0 && strcmp(mask + 9, out + n - 4) == 0);
    }
    free(out);
}

/* Card: accepted exactly for 12-19 Luhn-valid digits, spaces and dashes
 * aside; the mask shows only the last four characters. */
static void check_card(const char *s)
{
    char *out = malloc(20), want[64], mask[17];
    long n = fuzz_digits_of(s, want, sizeof want);
    int ok = n >= 12 && n <= 19 && fuzz_luhn(want);
    int rc = hc_card_normalize(s, out, 20);
    FUZZ_CHECK(rc == 0 || rc == HC_EINVAL);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok)
        FUZZ_CHECK(strcmp(out, want) == 0);
    free(out);
    size_t len = strlen(s);
    hc_card_mask(s, mask, sizeof mask);
    FUZZ_CHECK(memcmp(mask, "************", 12) == 0);
    FUZZ_CHECK(strcmp(mask + 12, len >= 4 ? s + len - 4 : "****") == 0);
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The value of the n decimal digits at s. */
static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

#define FIRST_DAY (-719162) /* 0001-01-01, the first date hc_date_parse reads */
#define LAST_DAY 2932896    /* 9999-12-31, the last */

/* Dates: YYYY-MM-DD from year 1 on (RFC 3339's full-date, proleptic
 * Gregorian), a real calendar day; parse and format are inverse both ways. */
static void check_date(const char *s, const uint8_t *data, size_t size)
{
    int shape = strlen(s) == 10 && s[4] == '-' && s[7] == '-';
    for (int i = 0; shape && i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            shape = 0;
    int ok = 0;
    if (shape) {
        int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
        ok = y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
    }
    int64_t day = -1;
    char back[11];
    int rc = hc_date_parse(s, &day);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok) {
        FUZZ_CHECK(day >= FIRST_DAY && day <= LAST_DAY);
        hc_date_format(day, back, sizeof back);
        FUZZ_CHECK(strcmp(back, s) == 0);
    }
    /* a day number from the input bytes, within the dates hc_date_parse reads */
    uint32_t raw = 0;
    memcpy(&raw, data, size < sizeof raw ? size : sizeof raw);
    int64_t d0 = FIRST_DAY + (int64_t)(raw % (LAST_DAY - FIRST_DAY + 1)), d1;
    char next[11];
    hc_date_format(d0, back, sizeof back);
    FUZZ_CHECK(hc_date_parse(back, &d1) == 0 && d1 == d0);
    if (d0 < LAST_DAY) {
        hc_date_format(d0 + 1, next, sizeof next);
        FUZZ_CHECK(strcmp(back, next) < 0);
    }
}

/* hc_parse_i64: accepted exactly for canonical decimal within int64, and
 * prints back to the same text. */
static void check_i64(const char *s)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t n = strlen(d);
    int ok = n > 0 && !(d[0] == '0' && (n > 1 || d != s)) && fuzz_is_digits(d, 1, 64);
    if (ok && n >= 19)
        ok = n == 19 && strcmp(d, d == s ? "9223372036854775807" : "9223372036854775808") <= 0;
    long long v = 0;
    char back[32];
    int rc = hc_parse_i64(s, &v);
    FUZZ_CHECK((rc == 0) == ok);
    if (ok) {
        snprintf(back, sizeof back, "%lld", v);
        FUZZ_CHECK(strcmp(back, s) == 0);
    }
}

/* hc_utf8_copy: a terminated prefix of src, whole when it fits; from valid
 * UTF-8, valid UTF-8 cut at most 3 bytes before the end of dst. */
static void check_utf8_copy(const char *s, size_t size)
{
    char *dst = malloc(size);
    size_t n = hc_utf8_copy(dst, size, s), len = strlen(s);
    FUZZ_CHECK(n == strlen(dst) && n < size && memcmp(dst, s, n) == 0);
    if (len < size)
        FUZZ_CHECK(n == len);
    if (fuzz_utf8_decode(s, NULL, 0) >= 0) {
        FUZZ_CHECK(fuzz_utf8_decode(dst, NULL, 0) >= 0);
        FUZZ_CHECK(n + 4 >= size || n == len);
    }
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_chars = data[0], bufsize = data[1];
    char *s = fuzz_cstr(data + 2, size - 2);
    check_text_clean(s, max_chars, bufsize);
    check_phone(s);
    check_card(s);
    check_date(s, data + 2, size - 2);
    check_i64(s);
    check_utf8_copy(s, bufsize + 1);
    free(s);
    return 0;
}
