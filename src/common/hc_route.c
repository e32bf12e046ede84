/* hc_route: path splitting, route matching (with the 405's Allow list) and
 * paging parameters, taken out of hc_http.c so that they can be tested alone. */
#include "hc_route.h"

#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"

int hc_path_split(const char *path, char *buf, size_t size, char **segs)
{
    if (hc_strlcpy(buf, path, size) >= size)
        return HC_EINVAL;
    int n = 0;
    char *save = NULL;
    for (char *s = strtok_r(buf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (n > HC_ROUTE_MAX_SEGS)
            break;
        segs[n++] = s;
    }
    return n;
}

/* 1 when rt's pattern matches the n segments. */
static int path_matches(const hc_route_t *rt, char *const *segs, size_t n)
{
    if (rt->n_segs != n)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (rt->segs[k][0] != '{' && strcmp(rt->segs[k], segs[k]) != 0)
            return 0;
    return 1;
}

/* 1 when rt answers method. */
static int method_matches(const hc_route_t *rt, const char *method)
{
    return strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0;
}

int hc_route_match(const hc_route_t *routes, size_t n, const char *method, char *const *segs,
                   size_t n_segs, char *allow, size_t size)
{
    int path_matched = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (!path_matches(&routes[i], segs, n_segs))
            continue;
        path_matched = 1;
        if (method_matches(&routes[i], method))
            return (int)i;
    }
    if (!path_matched)
        return HC_ROUTE_NOT_FOUND;
    /* Every route with this path has another method: list each method once. */
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!path_matches(&routes[i], segs, n_segs))
            continue;
        size_t j = 0;
        while (j < i && !(path_matches(&routes[j], segs, n_segs) &&
                          strcmp(routes[j].method, routes[i].method) == 0))
            j++;
        if (j < i)
            continue;
        const char *sep = len ? ", " : "";
        if (len + strlen(sep) + strlen(routes[i].method) >= size)
            continue;
        len += (size_t)snprintf(allow + len, size - len, "%s%s", sep, routes[i].method);
    }
    return HC_ROUTE_NO_METHOD;
}

/* Reads a page size: a run of decimal digits, of any length; anything above
 * HC_PAGE_SIZE_MAX (however many digits) is capped. Returns 0 with *out set,
 * or HC_EINVAL for anything else (a sign, a fraction, 0). */
static int parse_size(const char *s, long long *out)
{
    if (!*s)
        return HC_EINVAL;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return HC_EINVAL;
    while (s[0] == '0' && s[1])
        s++;
    long long v = HC_PAGE_SIZE_MAX;
    if (strlen(s) < 8 && hc_parse_i64(s, &v) == 0 && v > HC_PAGE_SIZE_MAX)
        v = HC_PAGE_SIZE_MAX;
    *out = v;
    return v >= 1 ? 0 : HC_EINVAL;
}

int hc_paging_parse(const char *page_text, const char *size_text, int64_t *page, int64_t *size,
                    const char **bad_field)
{
    long long p = 0, s = HC_PAGE_SIZE_DEFAULT;
    if (page_text && (hc_parse_i64(page_text, &p) || p < 0 || p > HC_PAGE_MAX)) {
        *bad_field = "page";
        return HC_EINVAL;
    }
    if (size_text && parse_size(size_text, &s)) {
        *bad_field = "size";
        return HC_EINVAL;
    }
    *page = p;
    *size = s;
    return 0;
}
