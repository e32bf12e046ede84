/* hc_buf: a growable byte buffer with a hard maximum size (after curl's dynbuf).
 * Appends past the maximum fail instead of growing without bound. */
#ifndef HC_BUF_H
#define HC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct hc_buf {
    char *data; /* NUL-terminated while len < cap */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len allowed */
} hc_buf_t;

/* Initialises an empty buffer that may grow to max bytes. */
void hc_buf_init(hc_buf_t *b, size_t max);
/* Frees the storage; the buffer may be reused after hc_buf_init. */
void hc_buf_cleanup(hc_buf_t *b);
/* Appends n bytes. Returns 0, or HC_EINVAL when max would be exceeded. */
int hc_buf_add(hc_buf_t *b, const void *p, size_t n);
/* Appends a string. */
int hc_buf_adds(hc_buf_t *b, const char *s);
/* Appends printf-formatted text. */
int hc_buf_printf(hc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hc_buf_vprintf(hc_buf_t *b, const char *fmt, va_list ap);
/* Empties the buffer, keeping its storage. */
void hc_buf_reset(hc_buf_t *b);
/* Returns the data (never NULL: "" when empty). */
const char *hc_buf_str(const hc_buf_t *b);
/* Hands the storage to the caller (free() it); the buffer becomes empty. */
char *hc_buf_take(hc_buf_t *b);

/* Allocation that aborts with a log line on failure instead of returning NULL. */
void *hc_xmalloc(size_t n);
void *hc_xcalloc(size_t n, size_t size);
void *hc_xrealloc(void *p, size_t n);
char *hc_xstrdup(const char *s);

/* Copies src into dst (size >= 1 bytes), truncating at a UTF-8 character
 * boundary so the result stays valid UTF-8. Returns the bytes copied. */
size_t hc_utf8_copy(char *dst, size_t size, const char *src);
/* Bounded copy that always terminates; returns strlen(src). */
size_t hc_strlcpy(char *dst, const char *src, size_t size);
/* Formats into dst (size bytes) like snprintf, for messages where a cut
 * (e.g. of a long path) is fine. Returns what snprintf returns. */
int hc_fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses a whole canonical decimal int64 (optional '-', no '+', spaces or
 * leading zeros, no "-0"); returns 0 or HC_EINVAL. */
int hc_parse_i64(const char *s, long long *out);

#endif
