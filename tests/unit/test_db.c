/* Checks hc_db on SQLite: migrations and schema_version, parameters (int, UTF-8 text, NULL), conflicts, rollback, RETURNING, serialised writers. */
#include "hc_test.h"

#include <pthread.h>

#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"

typedef struct fixture {
    char dir[256];
    char path[512];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(f->path, sizeof f->path, f->dir, "test.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

static const hc_migration_t MIGS[] = {
    {1, "CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
        " qty INTEGER, note TEXT);"},
    {2, "INSERT INTO item (name, qty) VALUES ('seed', 1);"},
};

static hc_db_t *open_db(const fixture_t *f, const hc_migration_t *migs, size_t n)
{
    hc_db_t *db = NULL;
    int rc = hc_db_open(f->path, "NORMAL", migs, n, &db);
    if (rc != 0)
        fail_msg("hc_db_open: %d (%s)", rc, hc_strerror(rc));
    assert_non_null(db);
    return db;
}

static int64_t count(hc_conn_t *c, const char *sql)
{
    int64_t v = -1;
    int rc = hc_conn_query_i64(c, sql, HC_NOPARAMS, &v);
    if (rc != 0)
        fail_msg("query \"%s\": %d (%s)", sql, rc, hc_strerror(rc));
    return v;
}

static void test_migrations_create_schema_version(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_non_null(c);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
                              " AND name = 'schema_version'"),
                     1);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_reopen_applies_only_pending(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_db_destroy(db);

    /* Reopen with the same list: migration 1 would fail and 2 would add a row
     * if they ran again. */
    db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);

    /* Reopen with one more migration: only it runs. */
    const hc_migration_t more[] = {
        MIGS[0],
        MIGS[1],
        {3, "ALTER TABLE item ADD COLUMN extra INTEGER NOT NULL DEFAULT 7;"
            "INSERT INTO item (name, qty) VALUES ('third', 3);"},
    };
    db = open_db(f, more, 3);
    c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 2);
    assert_int_equal(count(c, "SELECT SUM(extra) FROM item"), 14);
    hc_db_release(db, c);
    hc_db_destroy(db);

    db = open_db(f, more, 3);
    c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 2);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_failed_migration_rolls_back(void **state)
{
    fixture_t *f = *state;
    const hc_migration_t bad[] = {
        MIGS[0],
        {2, "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);"},
    };
    hc_db_t *db = (hc_db_t *)0x1;
    int rc = hc_db_open(f->path, "NORMAL", bad, 2, &db);
    assert_true(rc < 0);
    assert_null(db);

    /* The failed step left nothing behind (else CREATE TABLE half fails now),
     * and step 1 is not re-run (else CREATE TABLE item fails). */
    const hc_migration_t good[] = {
        MIGS[0],
        {2, "CREATE TABLE half (x INTEGER); INSERT INTO half VALUES (1);"},
    };
    db = open_db(f, good, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM half"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_params_round_trip(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 1);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t changes = -1;
    const char *korean = "홍길동 — 기본검진 ✓";
    const char *null_text = NULL;

    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name, qty, note) VALUES (?, ?, ?)",
                                  HC_PARAMS(HC_TEXT(korean), HC_I64(-5), HC_NULLV), &changes),
                     0);
    assert_int_equal(changes, 1);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name, qty, note) VALUES (?, ?, ?)",
                                  HC_PARAMS(HC_TEXT("big"), HC_I64(INT64_MAX), HC_TEXT(null_text)),
                                  NULL),
                     0);
    assert_int_equal(hc_conn_commit(c), 0);

    hc_rows_t *r = NULL;
    assert_int_equal(hc_conn_query(c, "SELECT id, name, qty, note FROM item ORDER BY id",
                                   HC_NOPARAMS, &r),
                     0);
    assert_non_null(r);
    assert_int_equal(hc_rows_count(r), 2);
    assert_int_equal(hc_rows_cols(r), 4);
    assert_string_equal(hc_rows_text(r, 0, 1), korean);
    assert_int_equal(hc_rows_i64(r, 0, 2), -5);
    assert_true(hc_rows_is_null(r, 0, 3));
    assert_null(hc_rows_text(r, 0, 3));
    assert_int_equal(hc_rows_i64(r, 0, 3), 0);
    assert_false(hc_rows_is_null(r, 0, 1));
    assert_string_equal(hc_rows_text(r, 1, 1), "big");
    assert_true(hc_rows_i64(r, 1, 2) == INT64_MAX);
    assert_true(hc_rows_is_null(r, 1, 3));
    hc_rows_free(r);

    /* text parameter in a WHERE clause matches the stored UTF-8 bytes */
    int64_t qty = 0;
    assert_int_equal(hc_conn_query_i64(c, "SELECT qty FROM item WHERE name = ?",
                                       HC_PARAMS(HC_TEXT(korean)), &qty),
                     0);
    assert_int_equal(qty, -5);

    /* NULL parameter binds SQL NULL */
    assert_int_equal(hc_conn_query_i64(c, "SELECT COUNT(*) FROM item WHERE ? IS NULL",
                                       HC_PARAMS(HC_NULLV), &qty),
                     0);
    assert_int_equal(qty, 2);

    /* an empty result */
    r = NULL;
    assert_int_equal(hc_conn_query(c, "SELECT id FROM item WHERE qty = ?", HC_PARAMS(HC_I64(999)),
                                   &r),
                     0);
    assert_non_null(r);
    assert_int_equal(hc_rows_count(r), 0);
    hc_rows_free(r);
    hc_rows_free(NULL);

    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_exec_changes_count(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t changes = -1;
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name, qty) VALUES ('a', 1), ('b', 1)",
                                  HC_NOPARAMS, &changes),
                     0);
    assert_int_equal(changes, 2);
    assert_int_equal(hc_conn_exec(c, "UPDATE item SET qty = qty + 1 WHERE qty = ?",
                                  HC_PARAMS(HC_I64(1)), &changes),
                     0);
    assert_int_equal(changes, 3);
    assert_int_equal(hc_conn_exec(c, "UPDATE item SET qty = 0 WHERE name = ?",
                                  HC_PARAMS(HC_TEXT("none")), &changes),
                     0);
    assert_int_equal(changes, 0);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_unique_violation_is_conflict(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name) VALUES (?)", HC_PARAMS(HC_TEXT("seed")),
                                  NULL),
                     HC_ECONFLICT);
    /* inside a transaction too */
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name) VALUES (?)", HC_PARAMS(HC_TEXT("seed")),
                                  NULL),
                     HC_ECONFLICT);
    hc_conn_rollback(c);
    int64_t id = 0;
    assert_int_equal(hc_conn_query_i64(c, "INSERT INTO item (name) VALUES (?) RETURNING id",
                                       HC_PARAMS(HC_TEXT("seed")), &id),
                     HC_ECONFLICT);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_bad_sql_is_error(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 1);
    hc_conn_t *c = hc_db_acquire(db);
    hc_rows_t *r = NULL;
    assert_true(hc_conn_exec(c, "INSERT INTO nope VALUES (1)", HC_NOPARAMS, NULL) < 0);
    assert_true(hc_conn_query(c, "SELEC 1", HC_NOPARAMS, &r) < 0);
    hc_rows_free(r);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_rollback_discards(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name, qty) VALUES ('gone', 1)", HC_NOPARAMS,
                                  NULL),
                     0);
    assert_int_equal(hc_conn_exec(c, "DELETE FROM item WHERE name = 'seed'", HC_NOPARAMS, NULL), 0);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item WHERE name = 'gone'"), 1);
    hc_conn_rollback(c);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item WHERE name = 'gone'"), 0);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item WHERE name = 'seed'"), 1);
    /* rollback without an open transaction is harmless */
    hc_conn_rollback(c);
    hc_db_release(db, c);

    /* and it stays discarded after a reopen */
    hc_db_destroy(db);
    db = open_db(f, MIGS, 2);
    c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_commit_visible_to_other_connection(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 1);
    hc_conn_t *a = hc_db_acquire(db);
    hc_conn_t *b = hc_db_acquire(db);
    assert_ptr_not_equal(a, b);
    assert_int_equal(hc_conn_begin(a), 0);
    assert_int_equal(hc_conn_exec(a, "INSERT INTO item (name) VALUES ('x')", HC_NOPARAMS, NULL), 0);
    /* b does not see a's uncommitted row */
    assert_int_equal(count(b, "SELECT COUNT(*) FROM item"), 0);
    assert_int_equal(hc_conn_commit(a), 0);
    assert_int_equal(count(b, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, b);
    hc_db_release(db, a);
    hc_db_destroy(db);
}

static void test_returning_id(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t id1 = 0, id2 = 0;
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_query_i64(c, "INSERT INTO item (name, qty) VALUES (?, ?) RETURNING id",
                                       HC_PARAMS(HC_TEXT("r1"), HC_I64(10)), &id1),
                     0);
    assert_int_equal(hc_conn_query_i64(c, "INSERT INTO item (name, qty) VALUES (?, ?) RETURNING id",
                                       HC_PARAMS(HC_TEXT("r2"), HC_I64(20)), &id2),
                     0);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_true(id1 > 1); /* the seed row holds id 1 */
    assert_true(id2 > id1);
    int64_t qty = 0;
    assert_int_equal(hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?", HC_PARAMS(HC_I64(id2)),
                                       &qty),
                     0);
    assert_int_equal(qty, 20);
    assert_int_equal(hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?",
                                       HC_PARAMS(HC_I64(id2 + 100)), &qty),
                     HC_ENOTFOUND);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_exec_script(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 1);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_exec_script(c, "CREATE TABLE s (v INTEGER);"
                                            "INSERT INTO s VALUES (1); INSERT INTO s VALUES (2);"),
                     0);
    assert_int_equal(count(c, "SELECT SUM(v) FROM s"), 3);
    assert_true(hc_conn_exec_script(c, "INSERT INTO s VALUES (3); BOGUS;") < 0);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

/* Writers of one pool must be serialised in-process: concurrent read-modify-
 * write transactions never fail with HC_EBUSY and never lose an update. */
typedef struct writer_arg {
    hc_db_t *db;
    int failures;
} writer_arg_t;

#define WRITER_ROUNDS 150

static void *writer_main(void *p)
{
    writer_arg_t *w = p;
    for (int i = 0; i < WRITER_ROUNDS; i++) {
        hc_conn_t *c = hc_db_acquire(w->db);
        int64_t v = 0;
        int rc = hc_conn_begin(c);
        if (rc == 0)
            rc = hc_conn_query_i64(c, "SELECT qty FROM item WHERE name = 'seed'", HC_NOPARAMS, &v);
        if (rc == 0)
            rc = hc_conn_exec(c, "UPDATE item SET qty = ? WHERE name = 'seed'",
                              HC_PARAMS(HC_I64(v + 1)), NULL);
        if (rc == 0)
            rc = hc_conn_commit(c);
        else
            hc_conn_rollback(c);
        if (rc != 0)
            w->failures++;
        hc_db_release(w->db, c);
    }
    return NULL;
}

static void test_concurrent_writers_serialised(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    writer_arg_t args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i].db = db;
        args[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(args[i].failures, 0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT qty FROM item WHERE name = 'seed'"), 1 + 4 * WRITER_ROUNDS);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

/* Regression: the statement cache matched on the caller's pointer alone, so
 * two different texts built in one reused buffer ran the first statement
 * ("column index out of range" when the second had more parameters). */
static void test_reused_sql_buffer_is_not_confused(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    char sql[128];
    int64_t v = -1;
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM item");
    assert_int_equal(hc_conn_query_i64(c, sql, HC_NOPARAMS, &v), 0);
    assert_int_equal(v, 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM item WHERE name = ?");
    assert_int_equal(hc_conn_query_i64(c, sql, HC_PARAMS(HC_TEXT("nothing")), &v), 0);
    assert_int_equal(v, 0);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM item");
    assert_int_equal(hc_conn_query_i64(c, sql, HC_NOPARAMS, &v), 0);
    assert_int_equal(v, 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_destroy_null(void **state)
{
    (void)state;
    hc_db_destroy(NULL);
}

int main(void)
{
    hc_log_init("test_db", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_create_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_applies_only_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_params_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_changes_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_violation_is_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sql_is_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_visible_to_other_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_returning_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_script, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_serialised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_sql_buffer_is_not_confused, setup, teardown),
        cmocka_unit_test(test_destroy_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
