/* hc_route: the pure half of hc_http's request handling: splitting a path into
 * segments, matching them against the route table, and reading ?page=&size=.
 * No I/O and no libmicrohttpd, so unit tests and fuzzers call them directly. */
#ifndef HC_ROUTE_H
#define HC_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_authz.h"
#include "hc_http.h"

#define HC_ROUTE_MAX_SEGS 8 /* segments of the longest pattern */

/* One registered route. hc_http owns the strings (see hc_http_route). */
typedef struct hc_route {
    char method[8];                /* "GET", ..., or "*" for any method */
    char *pattern;                 /* as registered, used as the metrics label */
    char *query;                   /* the query parameters it takes: "a,b" or "" */
    char *segs[HC_ROUTE_MAX_SEGS]; /* split pattern; "{x}" = any one segment */
    size_t n_segs;
    hc_access_t access; /* who may call it (checked before cb) */
    hc_handler_cb cb;
    void *ud;
} hc_route_t;

/* Splits path (borrowed) at '/': copies it into buf (size bytes) and points
 * segs, which has room for HC_ROUTE_MAX_SEGS + 1 entries, at its non-empty
 * pieces in order ("/a//b/" is "a", "b"). It stops after HC_ROUTE_MAX_SEGS + 1
 * pieces: a path that long matches no route, however long it is. Returns the
 * number of segments, or HC_EINVAL (buf and segs unspecified) when path does
 * not fit in buf. */
int hc_path_split(const char *path, char *buf, size_t size, char **segs);

#define HC_ROUTE_NOT_FOUND (-1) /* no route has this path: 404 */
#define HC_ROUTE_NO_METHOD (-2) /* routes have this path, none this method: 405 */

/* Finds the first of the n routes whose pattern matches the n_segs segments
 * (same count, literal segments equal, "{x}" any one) and whose method is "*"
 * or method. Returns its index, HC_ROUTE_NOT_FOUND, or HC_ROUTE_NO_METHOD with
 * allow (size >= 1 bytes) set to the methods the path has, each once, in
 * registration order, joined by ", " (RFC 9110's Allow); a method that does
 * not fit whole is left out. allow is "" unless HC_ROUTE_NO_METHOD. */
int hc_route_match(const hc_route_t *routes, size_t n, const char *method, char *const *segs,
                   size_t n_segs, char *allow, size_t size);

/* Reads the values of ?page= and ?size= (NULL when absent): page a canonical
 * integer from 0 to HC_PAGE_MAX (default 0), size a run of decimal digits
 * worth at least 1, capped at HC_PAGE_SIZE_MAX however many digits it has
 * (default HC_PAGE_SIZE_DEFAULT). Returns 0 with *page and *size set, or
 * HC_EINVAL with *bad_field the static name of the first bad one ("page",
 * then "size") and *page and *size untouched. */
int hc_paging_parse(const char *page_text, const char *size_text, int64_t *page, int64_t *size,
                    const char **bad_field);

#endif
