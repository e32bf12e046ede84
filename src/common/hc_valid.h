/* hc_valid: input rules shared by the services: card numbers (Luhn, masking),
 * Korean mobile numbers (normalising, masking), calendar dates in the centers'
 * time zone, and field-level validation errors. */
#ifndef HC_VALID_H
#define HC_VALID_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Normalises a card number (digits with optional spaces/dashes) into digits
 * (out, at least 20 bytes). Returns 0 when it is 12-19 digits and Luhn-valid,
 * else HC_EINVAL. */
int hc_card_normalize(const char *in, char *out, size_t outlen);

/* Writes "************1234" for the last 4 digits (out >= 17 bytes). last4 may be
 * a full number; only its last four digits are used. */
void hc_card_mask(const char *last4, char *out, size_t outlen);

/* Normalises a Korean mobile number ("010-1234-5678", spaces/dashes allowed)
 * into digits (out >= 12 bytes). Returns 0 or HC_EINVAL. */
int hc_phone_normalize(const char *in, char *out, size_t outlen);

/* Writes the masked form "010-****-5678" of normalised digits (out >= 16). */
void hc_phone_mask(const char *digits, char *out, size_t outlen);

/* Parses a strict YYYY-MM-DD calendar date (years 0001-9999, proleptic
 * Gregorian, as RFC 3339's full-date) into a day number (days since
 * 1970-01-01, negative before). Returns 0 or HC_EINVAL (wrong shape or no
 * such date). */
int hc_date_parse(const char *s, int64_t *day);

/* Formats a day number as YYYY-MM-DD (out >= 11 bytes). day is one that
 * hc_date_parse can return (1970-01-01 to 9999-12-31) or near it; the output
 * of others is unspecified. */
void hc_date_format(int64_t day, char *out, size_t outlen);

/* Today's day number in the process time zone (TZ, set from HC_TZ at start),
 * with HC_CLOCK_OFFSET_SECONDS applied. */
int64_t hc_today(void);

/* What hc_text_clean found wrong with a free-text field. */
typedef enum hc_text_verdict {
    HC_TEXT_OK = 0,
    HC_TEXT_EMPTY,    /* nothing but white space */
    HC_TEXT_TOO_LONG, /* more than max_chars characters */
    HC_TEXT_CONTROL,  /* a control or invisible formatting character */
} hc_text_verdict_t;

/* Checks a free-text field a person types (a name, a reason) that ends up in
 * SMS texts, logs and pages: at most max_chars characters (code points, as
 * sent: JSON Schema's maxLength), something besides spaces (the ASCII space
 * and Unicode's space characters), and no control characters (C0, DEL, C1,
 * line/paragraph separators) nor invisible formatting ones (zero-width and
 * bidirectional marks). in must be valid UTF-8 (jansson guarantees it for
 * JSON strings). On HC_TEXT_OK the text, trimmed of spaces at both ends, is
 * in out (outlen bytes; too small a buffer reads as too long). */
hc_text_verdict_t hc_text_clean(const char *in, size_t max_chars, char *out, size_t outlen);

/* The field error message for a verdict other than HC_TEXT_OK, mentioning
 * max_chars where it matters (static or thread-local storage). */
const char *hc_text_message(hc_text_verdict_t v, size_t max_chars);

/* The longest reason (a rejection's, a refund's) a client may give. */
#define HC_REASON_MAX_CHARS 200
#define HC_REASON_BUF (HC_REASON_MAX_CHARS * 4 + 1) /* bytes, for any UTF-8 */

/* Collects field-level errors for a 400 answer. */
typedef struct hc_fields {
    json_t *list; /* array of {"field","message"} */
} hc_fields_t;

void hc_fields_init(hc_fields_t *f);
/* Adds an error for field (printf-style message). */
void hc_fields_add(hc_fields_t *f, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Number of errors collected. */
size_t hc_fields_count(const hc_fields_t *f);
/* Hands the array to the caller (e.g. to hc_reply_error); f becomes empty. */
json_t *hc_fields_take(hc_fields_t *f);
void hc_fields_cleanup(hc_fields_t *f);

/* Adds an error to f for each key of obj that is not in known (a
 * NULL-terminated list): a misspelt field ("cardno") must not be silently
 * ignored. Returns how many there were. */
size_t hc_fields_unknown(json_t *obj, const char *const *known, hc_fields_t *f);

/* Typed getters for request objects. Each returns 1 when the key is present
 * with the right type (value in *out), 0 when absent or null, and -1 when
 * present with a wrong type (an error is added to f under key). */
int hc_get_string(json_t *obj, const char *key, const char **out, hc_fields_t *f);
/* A free-text field checked by hc_text_clean (max_chars characters, trimmed
 * into out of outlen bytes). Returns 1 when present and valid, 0 when absent
 * or null, -1 when present but wrong (an error is added to f under key). */
int hc_get_text(json_t *obj, const char *key, size_t max_chars, char *out, size_t outlen,
                hc_fields_t *f);
/* Integers; a string of digits is accepted too ("1"), as form tools send it. */
int hc_get_int(json_t *obj, const char *key, int64_t *out, hc_fields_t *f);

#endif
