/* fuzz_request: request lines ("METHOD /path?query") through the pure half of
 * hc_http: hc_path_split, hc_route_match over the four services' real route
 * table, and hc_paging_parse on the query's page and size. Each result is
 * checked against a plain recomputation: the segments are the path's
 * non-empty pieces, the matched route is the first whose pattern and method
 * fit, a 405's Allow lists each method of the path once in order (and a short
 * buffer keeps a terminated sub-list), paging accepts exactly the documented
 * values and leaves its outputs alone when it refuses. */
#include "fuzz.h"

#include "hc_err.h"
#include "hc_route.h"

/* The services' routes (src/<service>/<service>_api.c), plus one "*" route. */
static const char *const table_src[][2] = {
    {"POST", "/orders"},
    {"GET", "/orders"},
    {"GET", "/orders/{id}"},
    {"DELETE", "/orders/{id}"},
    {"PATCH", "/orders/{id}"},
    {"POST", "/orders/{id}/status"},
    {"GET", "/packages"},
    {"GET", "/packages/{code}"},
    {"POST", "/paymentHistories"},
    {"GET", "/paymentHistories"},
    {"GET", "/paymentHistories/{id}"},
    {"PATCH", "/paymentHistories/{id}"},
    {"POST", "/paymentHistories/{id}/cancel"},
    {"GET", "/reservations"},
    {"POST", "/reservations"},
    {"GET", "/reservations/{id}"},
    {"PATCH", "/reservations/{id}"},
    {"POST", "/reservations/{id}/confirm"},
    {"POST", "/reservations/{id}/reject"},
    {"GET", "/cancellations"},
    {"GET", "/cancellations/{id}"},
    {"GET", "/centers"},
    {"GET", "/centers/{id}"},
    {"GET", "/centers/{id}/slots"},
    {"GET", "/centers/{id}/slots/{date}"},
    {"PUT", "/centers/{id}/slots/{date}"},
    {"GET", "/mypages"},
    {"GET", "/mypages/search/findByOrderId"},
    {"GET", "/mypages/{id}"},
    {"GET", "/notifications"},
    {"GET", "/notifications/{id}"},
    {"*", "/echo/{a}/{b}/{c}/{d}/{e}/{f}/{g}"},
};
#define N_ROUTES (sizeof table_src / sizeof table_src[0])
static hc_route_t routes[N_ROUTES];
static char route_bufs[N_ROUTES][64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < N_ROUTES; i++) {
        char *segs[HC_ROUTE_MAX_SEGS + 1];
        snprintf(routes[i].method, sizeof routes[i].method, "%s", table_src[i][0]);
        routes[i].pattern = (char *)table_src[i][1];
        int n = hc_path_split(table_src[i][1], route_bufs[i], sizeof route_bufs[i], segs);
        if (n < 0 || n > HC_ROUTE_MAX_SEGS)
            abort();
        for (int k = 0; k < n; k++)
            routes[i].segs[k] = segs[k];
        routes[i].n_segs = (size_t)n;
    }
    return 0;
}

/* The non-empty '/'-separated pieces of path, recomputed: at most max of
 * them into pieces (each a malloc'd copy). Returns how many there are in all. */
static size_t pieces_of(const char *path, char **pieces, size_t max)
{
    size_t n = 0;
    while (*path) {
        while (*path == '/')
            path++;
        if (!*path)
            break;
        size_t len = strcspn(path, "/");
        if (n < max) {
            pieces[n] = malloc(len + 1);
            memcpy(pieces[n], path, len);
            pieces[n][len] = '\0';
        }
        n++;
        path += len;
    }
    return n;
}

static int pattern_fits(const hc_route_t *rt, char *const *segs, size_t n)
{
    if (rt->n_segs != n)
        return 0;
    for (size_t k = 0; k < n; k++)
        if (rt->segs[k][0] != '{' && strcmp(rt->segs[k], segs[k]) != 0)
            return 0;
    return 1;
}

/* allow lists, once each and in table order, the methods of the routes that
 * fit the path; every listed method fits in order. */
static void check_allow(const char *allow, char *const *segs, size_t n, int complete)
{
    char copy[1024];
    size_t from = 0; /* next route that may supply a listed method */
    snprintf(copy, sizeof copy, "%s", allow);
    size_t listed = 0;
    for (char *save = NULL, *m = strtok_r(copy, ", ", &save); m; m = strtok_r(NULL, ", ", &save)) {
        while (from < N_ROUTES &&
               !(pattern_fits(&routes[from], segs, n) && strcmp(routes[from].method, m) == 0))
            from++;
        FUZZ_CHECK(from < N_ROUTES);      /* a method the path has, after the previous one */
        for (size_t j = 0; j < from; j++) /* and at its first route: listed once */
            FUZZ_CHECK(!(pattern_fits(&routes[j], segs, n) && strcmp(routes[j].method, m) == 0));
        from++;
        listed++;
    }
    if (complete) {
        size_t distinct = 0;
        for (size_t i = 0; i < N_ROUTES; i++) {
            if (!pattern_fits(&routes[i], segs, n))
                continue;
            size_t j = 0;
            while (j < i && !(pattern_fits(&routes[j], segs, n) &&
                              strcmp(routes[j].method, routes[i].method) == 0))
                j++;
            distinct += j == i;
        }
        FUZZ_CHECK(listed == distinct && listed > 0);
    }
}

static void check_route(const char *method, const char *path)
{
    char buf[1024], small[32];
    char *segs[HC_ROUTE_MAX_SEGS + 1], *want[HC_ROUTE_MAX_SEGS + 1];
    int n = hc_path_split(path, buf, sizeof buf, segs);
    if (strlen(path) >= sizeof buf) {
        FUZZ_CHECK(n == HC_EINVAL);
        return;
    }
    size_t total = pieces_of(path, want, HC_ROUTE_MAX_SEGS + 1);
    size_t kept = total < HC_ROUTE_MAX_SEGS + 1 ? total : HC_ROUTE_MAX_SEGS + 1;
    FUZZ_CHECK(n >= 0 && (size_t)n == kept);
    for (size_t k = 0; k < kept; k++) {
        FUZZ_CHECK(strcmp(segs[k], want[k]) == 0);
        free(want[k]);
    }

    char allow[64 * 9];
    int i = hc_route_match(routes, N_ROUTES, method, segs, (size_t)n, allow, sizeof allow);
    int expect = HC_ROUTE_NOT_FOUND;
    for (size_t r = 0; r < N_ROUTES; r++) {
        if (!pattern_fits(&routes[r], segs, (size_t)n))
            continue;
        if (strcmp(routes[r].method, "*") == 0 || strcmp(routes[r].method, method) == 0) {
            expect = (int)r;
            break;
        }
        expect = HC_ROUTE_NO_METHOD;
    }
    FUZZ_CHECK(i == expect);
    if (i != HC_ROUTE_NO_METHOD) {
        FUZZ_CHECK(allow[0] == '\0');
        return;
    }
    check_allow(allow, segs, (size_t)n, 1);
    size_t size = strlen(path) % sizeof small + 1;
    FUZZ_CHECK(hc_route_match(routes, N_ROUTES, method, segs, (size_t)n, small, size) == i);
    FUZZ_CHECK(strlen(small) < size);
    check_allow(small, segs, (size_t)n, 0);
}

/* hc_paging_parse's answer, recomputed from its contract. */
static void check_paging(const char *page_text, const char *size_text)
{
    long long want_page = 0, want_size = HC_PAGE_SIZE_DEFAULT;
    const char *want_bad = NULL;
    if (page_text) {
        size_t n = strlen(page_text);
        int ok = fuzz_is_digits(page_text, 1, 10) && !(page_text[0] == '0' && n > 1);
        if (ok)
            want_page = strtoll(page_text, NULL, 10);
        if (!ok || want_page > HC_PAGE_MAX)
            want_bad = "page";
    }
    if (!want_bad && size_text) {
        const char *s = size_text;
        if (!fuzz_is_digits(s, 1, strlen(s) + 1)) {
            want_bad = "size";
        } else {
            while (s[0] == '0' && s[1])
                s++;
            want_size = strlen(s) > 4 ? HC_PAGE_SIZE_MAX : strtoll(s, NULL, 10);
            if (want_size > HC_PAGE_SIZE_MAX)
                want_size = HC_PAGE_SIZE_MAX;
            if (want_size < 1)
                want_bad = "size";
        }
    }
    int64_t page = -7, size = -7;
    const char *bad = NULL;
    int rc = hc_paging_parse(page_text, size_text, &page, &size, &bad);
    if (want_bad) {
        FUZZ_CHECK(rc == HC_EINVAL && bad && strcmp(bad, want_bad) == 0);
        FUZZ_CHECK(page == -7 && size == -7);
    } else {
        FUZZ_CHECK(rc == 0 && page == want_page && size == want_size);
        FUZZ_CHECK(page >= 0 && page <= HC_PAGE_MAX && size >= 1 && size <= HC_PAGE_SIZE_MAX);
    }
}

/* The value of the first key=value pair named key in query (a copy, "" for
 * a bare key), or NULL. */
static char *query_value(const char *query, const char *key)
{
    size_t klen = strlen(key);
    while (query && *query) {
        size_t len = strcspn(query, "&");
        if (len >= klen && strncmp(query, key, klen) == 0 && (len == klen || query[klen] == '=')) {
            size_t off = len == klen ? klen : klen + 1;
            char *v = malloc(len - off + 1);
            memcpy(v, query + off, len - off);
            v[len - off] = '\0';
            return v;
        }
        query += len;
        if (*query == '&')
            query++;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstr(data, size);
    line[strcspn(line, "\r\n")] = '\0';
    char *sp = strchr(line, ' ');
    const char *method = "GET";
    char *target = line;
    if (sp) {
        *sp = '\0';
        method = line;
        target = sp + 1;
    }
    char *q = strchr(target, '?');
    if (q)
        *q++ = '\0';
    check_route(method, target);

    char *page = query_value(q, "page"), *psize = query_value(q, "size");
    check_paging(page, psize);
    free(page);
    free(psize);
    free(line);
    return 0;
}
