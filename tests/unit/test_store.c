/* Checks hc_store, the store layer every service lists and reads through:
 * text cells (NULL, cut on a UTF-8 character), one row (found, not found),
 * and hc_store_list (pages and totals, the shared orderId and phone filters,
 * a fixed WHERE, a service's own conditions, order, too many values, and the
 * caller's scope: a customer's phone, an admin's centers, nobody's rows). */
#include "hc_test.h"

#include "hc_db.h"
#include "hc_err.h"
#include "hc_store.h"

typedef struct item {
    int64_t id;
    int64_t order_id;
    char phone[16];
    char name[8];
} item_t;

typedef struct fixture {
    char dir[256];
    char path[512];
    hc_db_t *db;
    hc_conn_t *c;
} fixture_t;

static const hc_migration_t MIGS[] = {
    {1, "CREATE TABLE item (id INTEGER PRIMARY KEY, order_id INTEGER, phone TEXT, name TEXT,"
        " active INTEGER NOT NULL);"
        /* ids 1..10: order_id = id % 3 + 1, phone alternates, 9 and 10 inactive */
        "INSERT INTO item VALUES (1, 2, '01011112222', 'a', 1), (2, 3, '01033334444', 'b', 1),"
        " (3, 1, '01011112222', 'c', 1), (4, 2, '01033334444', 'd', 1),"
        " (5, 3, '01011112222', 'e', 1), (6, 1, '01033334444', 'f', 1),"
        " (7, 2, '01011112222', 'g', 1), (8, 3, '01033334444', NULL, 1),"
        " (9, 1, '01011112222', 'i', 0), (10, 2, '01033334444', 'j', 0);"},
};

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(f->path, sizeof f->path, f->dir, "store.db");
    assert_int_equal(hc_db_open(f->path, "NORMAL", MIGS, 1, &f->db), 0);
    f->c = hc_db_acquire(f->db);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_db_release(f->db, f->c);
    hc_db_destroy(f->db);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

#define COLS "id, order_id, phone, name"

static void decode(const hc_rows_t *r, size_t row, void *out)
{
    item_t *it = out;
    it->id = hc_rows_i64(r, row, 0);
    it->order_id = hc_rows_i64(r, row, 1);
    hc_rows_copy_text(r, row, 2, it->phone, sizeof it->phone);
    hc_rows_copy_text(r, row, 3, it->name, sizeof it->name);
}

/* Extra filter: names greater than the given one. */
static void name_after(const void *extra, hc_where_t *w)
{
    hc_val_t v = HC_TEXT((const char *)extra);
    hc_where_add(w, "name > ?", &v);
}

/* Adds more conditions with values than a WHERE may hold. */
static void too_many(const void *extra, hc_where_t *w)
{
    (void)extra;
    for (int i = 0; i <= HC_WHERE_MAX; i++) {
        hc_val_t v = HC_I64(i);
        hc_where_add(w, "id <> ?", &v);
    }
}

static const hc_list_def_t ITEMS = {.cols = COLS,
                                    .table = "item",
                                    .where = "active = 1",
                                    .order = "id",
                                    .order_id_col = "order_id",
                                    .phone_col = "phone",
                                    .where_extra = name_after,
                                    .decode = decode,
                                    .elem_size = sizeof(item_t)};

/* Lists q of def and checks the ids in order and the total. */
static void expect_ids(fixture_t *f, const hc_list_def_t *def, const hc_list_query_t *q,
                       int64_t total, size_t n, const int64_t *ids)
{
    void *items = NULL;
    size_t got = 99;
    int64_t t = -1;
    assert_int_equal(hc_store_list(f->c, def, q, &items, &got, &t), 0);
    assert_non_null(items);
    assert_int_equal(t, total);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(((item_t *)items)[i].id, ids[i]);
    free(items);
}

static void test_pages_count_every_match_and_keep_the_order(void **state)
{
    fixture_t *f = *state;
    hc_list_query_t q = {.page = 0, .size = 3};
    expect_ids(f, &ITEMS, &q, 8, 3, (const int64_t[]){1, 2, 3});
    q.page = 2;
    expect_ids(f, &ITEMS, &q, 8, 2, (const int64_t[]){7, 8});
    q.page = 5; /* past the end: empty, not an error, items still allocated */
    expect_ids(f, &ITEMS, &q, 8, 0, NULL);
    hc_list_def_t desc = ITEMS;
    desc.order = "id DESC";
    q.page = 0;
    expect_ids(f, &desc, &q, 8, 3, (const int64_t[]){8, 7, 6});
}

static void test_the_shared_filters_apply_only_when_given(void **state)
{
    fixture_t *f = *state;
    hc_list_query_t q = {.page = 0, .size = 20, .order_id = 2};
    expect_ids(f, &ITEMS, &q, 3, 3, (const int64_t[]){1, 4, 7}); /* 10 is inactive */
    q.phone = "01011112222";
    expect_ids(f, &ITEMS, &q, 2, 2, (const int64_t[]){1, 7});
    q.order_id = 0;
    expect_ids(f, &ITEMS, &q, 4, 4, (const int64_t[]){1, 3, 5, 7});
}

static void test_a_list_without_a_filter_column_ignores_that_filter(void **state)
{
    fixture_t *f = *state;
    hc_list_def_t all = {.cols = COLS,
                         .table = "item",
                         .order = "id",
                         .decode = decode,
                         .elem_size = sizeof(item_t)};
    hc_list_query_t q = {.page = 0, .size = 20, .order_id = 2, .phone = "01011112222"};
    expect_ids(f, &all, &q, 10, 10, (const int64_t[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

static void test_a_services_own_conditions_join_the_others(void **state)
{
    fixture_t *f = *state;
    hc_list_query_t q = {.page = 0, .size = 20, .phone = "01033334444", .extra = "b"};
    expect_ids(f, &ITEMS, &q, 2, 2, (const int64_t[]){4, 6}); /* 8's name is NULL */
    q.extra = NULL; /* no extra: where_extra is not called */
    expect_ids(f, &ITEMS, &q, 4, 4, (const int64_t[]){2, 4, 6, 8});
}

/* The caller's scope (hc_list_query_t.who) over ITEMS with order_id playing
 * the center: only the rows hc_authz_may_see would show, counted as such. */
static void test_a_callers_scope_limits_rows_and_totals(void **state)
{
    fixture_t *f = *state;
    hc_list_def_t def = ITEMS;
    def.where_extra = NULL;
    def.owner_phone_col = "phone";
    def.center_col = "order_id";
    hc_principal_t who = {.role = HC_ROLE_CUSTOMER, .sub = "01011112222"};
    hc_list_query_t q = {.page = 0, .size = 20, .who = &who};
    expect_ids(f, &def, &q, 4, 4, (const int64_t[]){1, 3, 5, 7});
    q.phone = "01033334444"; /* another's phone: nothing, however asked */
    expect_ids(f, &def, &q, 0, 0, NULL);
    q.phone = NULL;
    who = (hc_principal_t){.role = HC_ROLE_ADMIN, .sub = "a", .centers = {2, 3}, .n_centers = 2};
    expect_ids(f, &def, &q, 6, 6, (const int64_t[]){1, 2, 4, 5, 7, 8});
    who.n_centers = 0;
    expect_ids(f, &def, &q, 0, 0, NULL);
    who = (hc_principal_t){.role = HC_ROLE_SUPERADMIN, .sub = "root"};
    expect_ids(f, &def, &q, 8, 8, (const int64_t[]){1, 2, 3, 4, 5, 6, 7, 8});
    who = (hc_principal_t){.role = HC_ROLE_NONE};
    expect_ids(f, &def, &q, 0, 0, NULL);
    /* A table that names no owner shows a customer nothing. */
    who = (hc_principal_t){.role = HC_ROLE_CUSTOMER, .sub = "01011112222"};
    def.owner_phone_col = NULL;
    expect_ids(f, &def, &q, 0, 0, NULL);
}

static void test_too_many_values_are_refused_without_a_query(void **state)
{
    fixture_t *f = *state;
    hc_list_def_t def = ITEMS;
    def.where_extra = too_many;
    hc_list_query_t q = {.page = 0, .size = 5, .extra = ""};
    void *items = (void *)1;
    size_t n = 7;
    int64_t total = 7;
    assert_int_equal(hc_store_list(f->c, &def, &q, &items, &n, &total), HC_EINVAL);
    assert_null(items);
    assert_int_equal(n, 0);
    assert_int_equal(total, 0);
}

static void test_get_one_decodes_a_row_or_says_not_found(void **state)
{
    fixture_t *f = *state;
    item_t it;
    memset(&it, 0x5a, sizeof it);
    assert_int_equal(hc_store_get_one(f->c, "SELECT " COLS " FROM item WHERE id = ?",
                                      HC_PARAMS(HC_I64(8)), decode, &it),
                     0);
    assert_int_equal(it.id, 8);
    assert_string_equal(it.phone, "01033334444");
    assert_string_equal(it.name, ""); /* a NULL cell reads as "" */
    item_t before = it;
    assert_int_equal(hc_store_get_one(f->c, "SELECT " COLS " FROM item WHERE id = ?",
                                      HC_PARAMS(HC_I64(42)), decode, &it),
                     HC_ENOTFOUND);
    assert_memory_equal(&it, &before, sizeof it); /* untouched */
}

static void test_copy_text_cuts_on_a_character(void **state)
{
    fixture_t *f = *state;
    hc_rows_t *r = NULL;
    char out[5];
    /* "가나" is 6 bytes: 4 bytes of room keep one character, never half of one */
    assert_int_equal(hc_conn_query(f->c, "SELECT '가나', 'abcdefgh'", HC_NOPARAMS, &r), 0);
    hc_rows_copy_text(r, 0, 0, out, sizeof out);
    assert_string_equal(out, "가");
    hc_rows_copy_text(r, 0, 1, out, sizeof out);
    assert_string_equal(out, "abcd");
    hc_rows_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pages_count_every_match_and_keep_the_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_shared_filters_apply_only_when_given, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_list_without_a_filter_column_ignores_that_filter,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_services_own_conditions_join_the_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_callers_scope_limits_rows_and_totals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_many_values_are_refused_without_a_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_one_decodes_a_row_or_says_not_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_copy_text_cuts_on_a_character, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
