/* Checks hc_route: path splitting, route matching with the 405's Allow list,
 * and the ?page=&size= rules, without a server. */
#include "hc_test.h"

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_route.h"

/* A route table like a service's, its segments split by hc_path_split. */
typedef struct table {
    hc_route_t routes[16];
    char bufs[16][128];
    size_t n;
} table_t;

static void add(table_t *t, const char *method, const char *pattern)
{
    char *segs[HC_ROUTE_MAX_SEGS + 1];
    hc_route_t *rt = &t->routes[t->n];
    memset(rt, 0, sizeof *rt);
    hc_strlcpy(rt->method, method, sizeof rt->method);
    rt->pattern = (char *)pattern;
    int n = hc_path_split(pattern, t->bufs[t->n], sizeof t->bufs[t->n], segs);
    assert_true(n >= 0 && n <= HC_ROUTE_MAX_SEGS);
    for (int k = 0; k < n; k++)
        rt->segs[k] = segs[k];
    rt->n_segs = (size_t)n;
    t->n++;
}

static void orders_table(table_t *t)
{
    memset(t, 0, sizeof *t);
    add(t, "POST", "/orders");
    add(t, "GET", "/orders");
    add(t, "GET", "/orders/{id}");
    add(t, "DELETE", "/orders/{id}");
    add(t, "PATCH", "/orders/{id}");
    add(t, "GET", "/orders/{id}"); /* a duplicate: Allow names GET once */
    add(t, "POST", "/orders/{id}/status");
    add(t, "*", "/any/{x}");
}

/* Matches method + path against t; allow gets the Allow value. */
static int match(const table_t *t, const char *method, const char *path, char *allow, size_t size)
{
    char buf[1024];
    char *segs[HC_ROUTE_MAX_SEGS + 1];
    int n = hc_path_split(path, buf, sizeof buf, segs);
    if (n < 0)
        return HC_ROUTE_NOT_FOUND;
    return hc_route_match(t->routes, t->n, method, segs, (size_t)n, allow, size);
}

static void test_path_split(void **state)
{
    (void)state;
    char buf[64];
    char *segs[HC_ROUTE_MAX_SEGS + 1];
    assert_int_equal(hc_path_split("/orders/12/status", buf, sizeof buf, segs), 3);
    assert_string_equal(segs[0], "orders");
    assert_string_equal(segs[1], "12");
    assert_string_equal(segs[2], "status");
    /* empty pieces are skipped */
    assert_int_equal(hc_path_split("//orders///12/", buf, sizeof buf, segs), 2);
    assert_string_equal(segs[1], "12");
    assert_int_equal(hc_path_split("/", buf, sizeof buf, segs), 0);
    assert_int_equal(hc_path_split("", buf, sizeof buf, segs), 0);
    /* more pieces than any route: stops at HC_ROUTE_MAX_SEGS + 1 */
    assert_int_equal(hc_path_split("/a/b/c/d/e/f/g/h/i/j/k/l", buf, sizeof buf, segs),
                     HC_ROUTE_MAX_SEGS + 1);
    assert_string_equal(segs[HC_ROUTE_MAX_SEGS], "i");
    /* a path that does not fit */
    char small[8];
    assert_int_equal(hc_path_split("/orders/1", small, sizeof small, segs), HC_EINVAL);
    assert_int_equal(hc_path_split("/order", small, sizeof small, segs), 1);
}

static void test_route_match_first_route_wins(void **state)
{
    (void)state;
    table_t t;
    char allow[64];
    orders_table(&t);
    assert_int_equal(match(&t, "POST", "/orders", allow, sizeof allow), 0);
    assert_int_equal(match(&t, "GET", "/orders", allow, sizeof allow), 1);
    assert_int_equal(match(&t, "GET", "/orders/7", allow, sizeof allow), 2);
    assert_string_equal(allow, "");
    assert_int_equal(match(&t, "DELETE", "/orders/7/", allow, sizeof allow), 3);
    assert_int_equal(match(&t, "POST", "/orders/7/status", allow, sizeof allow), 6);
    /* "*" takes any method, even an unusual one */
    assert_int_equal(match(&t, "BREW", "/any/thing", allow, sizeof allow), 7);
}

static void test_route_match_not_found(void **state)
{
    (void)state;
    table_t t;
    char allow[64];
    orders_table(&t);
    assert_int_equal(match(&t, "GET", "/nothing", allow, sizeof allow), HC_ROUTE_NOT_FOUND);
    assert_int_equal(match(&t, "GET", "/orders/7/other", allow, sizeof allow), HC_ROUTE_NOT_FOUND);
    assert_int_equal(match(&t, "GET", "/", allow, sizeof allow), HC_ROUTE_NOT_FOUND);
    assert_int_equal(match(&t, "GET", "/a/b/c/d/e/f/g/h/i/j", allow, sizeof allow),
                     HC_ROUTE_NOT_FOUND);
    assert_string_equal(allow, "");
}

static void test_route_match_405_lists_each_method_once(void **state)
{
    (void)state;
    table_t t;
    char allow[64];
    orders_table(&t);
    assert_int_equal(match(&t, "PUT", "/orders/7", allow, sizeof allow), HC_ROUTE_NO_METHOD);
    assert_string_equal(allow, "GET, DELETE, PATCH");
    assert_int_equal(match(&t, "DELETE", "/orders", allow, sizeof allow), HC_ROUTE_NO_METHOD);
    assert_string_equal(allow, "POST, GET");
    /* a method that does not fit whole is left out, the rest stays terminated */
    char tiny[12];
    assert_int_equal(match(&t, "PUT", "/orders/7", tiny, sizeof tiny), HC_ROUTE_NO_METHOD);
    assert_string_equal(tiny, "GET, DELETE");
    char one[3];
    assert_int_equal(match(&t, "PUT", "/orders/7", one, sizeof one), HC_ROUTE_NO_METHOD);
    assert_string_equal(one, "");
}

static void expect_paging(const char *page_text, const char *size_text, int64_t page, int64_t size)
{
    int64_t p = -7, s = -7;
    const char *bad = NULL;
    int rc = hc_paging_parse(page_text, size_text, &p, &s, &bad);
    if (rc != 0 || p != page || s != size)
        fail_msg("page=%s size=%s: rc=%d page=%lld size=%lld, expected %lld %lld",
                 page_text ? page_text : "(none)", size_text ? size_text : "(none)", rc,
                 (long long)p, (long long)s, (long long)page, (long long)size);
}

static void expect_bad_paging(const char *page_text, const char *size_text, const char *field)
{
    int64_t p = -7, s = -7;
    const char *bad = NULL;
    int rc = hc_paging_parse(page_text, size_text, &p, &s, &bad);
    if (rc != HC_EINVAL || !bad || strcmp(bad, field) != 0 || p != -7 || s != -7)
        fail_msg("page=%s size=%s: rc=%d bad=%s page=%lld size=%lld, expected %s refused",
                 page_text ? page_text : "(none)", size_text ? size_text : "(none)", rc,
                 bad ? bad : "(none)", (long long)p, (long long)s, field);
}

static void test_paging_parse_accepts(void **state)
{
    (void)state;
    expect_paging(NULL, NULL, 0, HC_PAGE_SIZE_DEFAULT);
    expect_paging("0", "1", 0, 1);
    expect_paging("3", "50", 3, 50);
    expect_paging("1000000000", "1000", HC_PAGE_MAX, HC_PAGE_SIZE_MAX);
    /* size: leading zeros read as a number, anything above the maximum capped */
    expect_paging(NULL, "007", 0, 7);
    expect_paging(NULL, "1001", 0, HC_PAGE_SIZE_MAX);
    expect_paging(NULL, "99999999999999999999999999", 0, HC_PAGE_SIZE_MAX);
    expect_paging(NULL, "0000000000000000000000000000005", 0, 5);
}

static void test_paging_parse_refuses(void **state)
{
    (void)state;
    expect_bad_paging("-1", NULL, "page");
    expect_bad_paging("01", NULL, "page");
    expect_bad_paging("1000000001", NULL, "page");
    expect_bad_paging("", NULL, "page");
    expect_bad_paging("1.5", "x", "page"); /* page is named first */
    expect_bad_paging(NULL, "0", "size");
    expect_bad_paging(NULL, "000", "size");
    expect_bad_paging(NULL, "", "size");
    expect_bad_paging(NULL, "-5", "size");
    expect_bad_paging(NULL, "+5", "size");
    expect_bad_paging("2", "5x", "size");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_split),
        cmocka_unit_test(test_route_match_first_route_wins),
        cmocka_unit_test(test_route_match_not_found),
        cmocka_unit_test(test_route_match_405_lists_each_method_once),
        cmocka_unit_test(test_paging_parse_accepts),
        cmocka_unit_test(test_paging_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
