/* fuzz_trace: traceparent header values through hc_trace_parse,
 * hc_trace_accept, hc_trace_child and hc_trace_format. Checks that parse
 * accepts exactly the W3C version-00 shape (lowercase hex, ids not all zero)
 * and that formatting an accepted value gives back the same text; that
 * accept always yields a valid context (the sent one when valid); and that a
 * child keeps the trace id with a new valid span id. */
#include "fuzz.h"

#include "hc_err.h"
#include "hc_trace.h"

/* n lowercase hex digits at s, not all zero when nonzero is set. */
static int hex(const char *s, size_t n, int nonzero)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
        any |= s[i] != '0';
    }
    return any || !nonzero;
}

/* The W3C traceparent rule for version 00, from the specification. */
static int valid_header(const char *h)
{
    return strlen(h) == HC_TRACEPARENT_LEN && memcmp(h, "00-", 3) == 0 && hex(h + 3, 32, 1) &&
           h[35] == '-' && hex(h + 36, 16, 1) && h[52] == '-' && hex(h + 53, 2, 0);
}

/* t formats to a header that parses back to t. */
static void check_valid(const hc_trace_t *t)
{
    char buf[HC_TRACEPARENT_LEN + 1];
    hc_trace_t back;
    hc_trace_format(t, buf);
    FUZZ_CHECK(valid_header(buf));
    FUZZ_CHECK(hc_trace_parse(buf, &back) == 0);
    FUZZ_CHECK(memcmp(&back, t, sizeof back) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = fuzz_cstr(data, size);
    hc_trace_t t, acc, child;
    char buf[HC_TRACEPARENT_LEN + 1];
    memset(&t, 0, sizeof t);
    int rc = hc_trace_parse(h, &t);
    FUZZ_CHECK(rc == 0 || rc == HC_EINVAL);
    FUZZ_CHECK((rc == 0) == valid_header(h));
    if (rc == 0) {
        hc_trace_format(&t, buf);
        FUZZ_CHECK(strcmp(buf, h) == 0);
        check_valid(&t);
    }

    memset(&acc, 0, sizeof acc);
    hc_trace_accept(h, &acc);
    check_valid(&acc);
    if (rc == 0)
        FUZZ_CHECK(memcmp(&acc, &t, sizeof t) == 0);

    hc_trace_child(&acc, &child);
    check_valid(&child);
    FUZZ_CHECK(strcmp(child.trace_id, acc.trace_id) == 0);
    FUZZ_CHECK(strcmp(child.span_id, acc.span_id) != 0 && child.flags == acc.flags);
    free(h);
    return 0;
}
