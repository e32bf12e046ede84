/* Checks hc_deadletter: parking (once per message), counting, marking for retry, and the
 * `healthcenter dead-letters list|retry` commands on real databases. */
#include "hc_test.h"

#include "hc_db.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"

static const hc_migration_t MIGS[] = {
    {1, HC_DEADLETTER_SCHEMA},
};

typedef struct fixture {
    char dir[256];
    char path[512];
    hc_db_t *db;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(f->path, sizeof f->path, f->dir, "svc.db");
    assert_int_equal(hc_db_open(f->path, "NORMAL", MIGS, 1, &f->db), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_db_destroy(f->db);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* Parks a message with offset and value (no parsed event) in its own
 * transaction; returns *parked. */
static int park(hc_db_t *db, int64_t offset, const char *value, const char *error)
{
    hc_bus_msg_t m = {
        .offset = offset, .key = "7", .value = (char *)value, .value_len = strlen(value)};
    int parked = -1;
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_deadletter_park(c, &m, NULL, error, &parked), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(db, c);
    return parked;
}

static int64_t q(hc_db_t *db, const char *sql)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t v = -1;
    int rc = hc_conn_query_i64(c, sql, HC_NOPARAMS, &v);
    hc_db_release(db, c);
    if (rc != 0)
        fail_msg("query \"%s\": %d (%s)", sql, rc, hc_strerror(rc));
    return v;
}

static void test_park_once_per_message(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hc_deadletter_count(f->db), 0);
    assert_int_equal(park(f->db, 10, "bad one", "not JSON"), 1);
    /* the same message again (redelivered): not a second row */
    assert_int_equal(park(f->db, 10, "bad one", "not JSON"), 0);
    /* another message at the same offset (a replaced log): a row of its own */
    assert_int_equal(park(f->db, 10, "bad two", "not JSON"), 1);
    assert_int_equal(park(f->db, 11, "bad one", "not JSON"), 1);
    assert_int_equal(hc_deadletter_count(f->db), 3);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM dead_letters WHERE msg_key = '7' AND"
                              " event_id IS NULL AND order_id IS NULL AND retries = 0"),
                     3);
}

static void test_park_records_the_event(void **state)
{
    fixture_t *f = *state;
    json_t *e = hc_event_new("Ordered", 42, NULL);
    char *text = json_dumps(e, JSON_COMPACT);
    hc_event_t ev;
    assert_int_equal(hc_event_parse(text, strlen(text), &ev), 0);
    hc_bus_msg_t m = {.offset = 5, .key = "42", .value = text, .value_len = strlen(text)};
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_deadletter_park(c, &m, &ev, "refused", NULL), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_rows_t *r = NULL;
    assert_int_equal(hc_conn_query(c,
                                   "SELECT bus_offset, event_id, event_type, order_id, payload,"
                                   " error FROM dead_letters",
                                   HC_NOPARAMS, &r),
                     0);
    hc_db_release(f->db, c);
    assert_int_equal(hc_rows_count(r), 1);
    assert_int_equal(hc_rows_i64(r, 0, 0), 5);
    assert_string_equal(hc_rows_text(r, 0, 1), ev.event_id);
    assert_string_equal(hc_rows_text(r, 0, 2), "Ordered");
    assert_int_equal(hc_rows_i64(r, 0, 3), 42);
    assert_string_equal(hc_rows_text(r, 0, 4), text);
    assert_string_equal(hc_rows_text(r, 0, 5), "refused");
    hc_rows_free(r);
    json_decref(ev.root);
    free(text);
    json_decref(e);
}

static void test_mark_one_or_all(void **state)
{
    fixture_t *f = *state;
    park(f->db, 1, "a", "x");
    park(f->db, 2, "b", "x");
    int64_t marked = -1;
    assert_int_equal(hc_deadletter_mark(f->db, 999, &marked), 0);
    assert_int_equal(marked, 0);
    assert_int_equal(hc_deadletter_mark(f->db, 2, &marked), 0);
    assert_int_equal(marked, 1);
    assert_int_equal(q(f->db, "SELECT id FROM dead_letters WHERE retry_requested = 1"), 2);
    assert_int_equal(hc_deadletter_mark(f->db, 0, &marked), 0);
    assert_int_equal(marked, 2);
    hc_conn_t *c = hc_db_acquire(f->db);
    hc_rows_t *r = NULL;
    assert_int_equal(hc_deadletter_marked(c, 1, &r), 0);
    assert_int_equal(hc_rows_count(r), 1); /* at most max, oldest first */
    assert_int_equal(hc_rows_i64(r, 0, 0), 1);
    hc_rows_free(r);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_deadletter_retry_failed(c, 1, "still bad"), 0);
    assert_int_equal(hc_deadletter_resolve(c, 2), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM dead_letters WHERE id = 1 AND retries = 1"
                              " AND retry_requested = 0 AND error = 'still bad'"),
                     1);
    assert_int_equal(hc_deadletter_count(f->db), 1);
}

/* Runs fn into two memory streams and returns what was written to out. */
static char *capture(int (*fn)(fixture_t *, FILE *, FILE *), fixture_t *f, int *code, char **err)
{
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen), *errf = open_memstream(&ebuf, &elen);
    assert_non_null(out);
    assert_non_null(errf);
    *code = fn(f, out, errf);
    fclose(out);
    fclose(errf);
    *err = ebuf;
    return obuf;
}

static int list_svc(fixture_t *f, FILE *out, FILE *err)
{
    static const char *const names[] = {"svc"};
    return hc_deadletter_cmd_list(f->dir, names, 1, out, err);
}

static int list_missing(fixture_t *f, FILE *out, FILE *err)
{
    static const char *const names[] = {"svc", "nothere"};
    return hc_deadletter_cmd_list(f->dir, names, 2, out, err);
}

static int retry_2(fixture_t *f, FILE *out, FILE *err)
{
    return hc_deadletter_cmd_retry(f->dir, "svc", 2, out, err);
}

static int retry_77(fixture_t *f, FILE *out, FILE *err)
{
    return hc_deadletter_cmd_retry(f->dir, "svc", 77, out, err);
}

static int retry_all(fixture_t *f, FILE *out, FILE *err)
{
    return hc_deadletter_cmd_retry(f->dir, "svc", 0, out, err);
}

static void test_commands(void **state)
{
    fixture_t *f = *state;
    park(f->db, 3, "{\"broken\": \"line\nbreak\"", "not JSON: something");
    park(f->db, 4, "[]", "not a JSON object");
    int code = -1;
    char *err = NULL;
    char *out = capture(list_svc, f, &code, &err);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "svc id=1 offset=3 type=- orderId=- eventId=- retries=0"));
    assert_non_null(strstr(out, "error=\"not JSON: something\""));
    assert_non_null(strstr(out, "line\\u000abreak")); /* one row, one line */
    assert_non_null(strstr(out, "svc id=2 offset=4"));
    assert_non_null(strstr(out, "2 dead letter(s)"));
    free(out);
    free(err);

    out = capture(list_missing, f, &code, &err);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err, "nothere"));
    assert_non_null(strstr(out, "2 dead letter(s)"));
    free(out);
    free(err);

    out = capture(retry_2, f, &code, &err);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "1 dead letter(s) marked for retry"));
    assert_int_equal(q(f->db, "SELECT id FROM dead_letters WHERE retry_requested = 1"), 2);
    free(out);
    free(err);

    out = capture(retry_77, f, &code, &err);
    assert_int_equal(code, 1);
    assert_non_null(strstr(err, "no dead letter with id 77"));
    free(out);
    free(err);

    out = capture(retry_all, f, &code, &err);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "2 dead letter(s) marked"));
    assert_int_equal(q(f->db, "SELECT COUNT(*) FROM dead_letters WHERE retry_requested = 1"), 2);
    free(out);
    free(err);
}

static void test_retry_without_table(void **state)
{
    fixture_t *f = *state;
    char path[512];
    hc_db_t *db = NULL;
    static const hc_migration_t none[] = {{1, "CREATE TABLE t (x INTEGER);"}};
    hc_test_path(path, sizeof path, f->dir, "old.db");
    assert_int_equal(hc_db_open(path, "NORMAL", none, 1, &db), 0);
    hc_db_destroy(db);
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen), *err = open_memstream(&ebuf, &elen);
    assert_int_equal(hc_deadletter_cmd_retry(f->dir, "old", 0, out, err), 1);
    fclose(out);
    fclose(err);
    assert_non_null(strstr(ebuf, "no dead_letters table"));
    free(obuf);
    free(ebuf);
}

int main(void)
{
    hc_log_init("test_deadletter", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_park_once_per_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_park_records_the_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_one_or_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_without_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
