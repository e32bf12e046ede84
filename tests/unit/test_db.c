/* Checks hc_db on SQLite: migrations and schema_version, parameters (int, UTF-8 text, NULL),
 * conflicts, rollback, RETURNING, serialised writers; health: a full disk (HC_ENOSPC, not
 * writable, probe recovery), SQL errors that are not storage failures, corruption, read-only opens.
 */
#include "hc_test.h"

#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>

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

/* 1 while the second round runs every test on a pool with batched commits
 * (hc_db_batch_commits, sync FULL), as the services open theirs. */
static int g_batching;

static hc_db_t *open_db(const fixture_t *f, const hc_migration_t *migs, size_t n)
{
    hc_db_t *db = NULL;
    int rc = hc_db_open(f->path, g_batching ? "FULL" : "NORMAL", migs, n, &db);
    if (rc != 0)
        fail_msg("hc_db_open: %d (%s)", rc, hc_strerror(rc));
    assert_non_null(db);
    if (g_batching)
        hc_db_batch_commits(db);
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
    assert_int_equal(
        hc_conn_query(c, "SELECT id, name, qty, note FROM item ORDER BY id", HC_NOPARAMS, &r), 0);
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
    assert_int_equal(
        hc_conn_query(c, "SELECT id FROM item WHERE qty = ?", HC_PARAMS(HC_I64(999)), &r), 0);
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
    assert_int_equal(
        hc_conn_exec(c, "INSERT INTO item (name) VALUES (?)", HC_PARAMS(HC_TEXT("seed")), NULL),
        HC_ECONFLICT);
    /* inside a transaction too */
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(
        hc_conn_exec(c, "INSERT INTO item (name) VALUES (?)", HC_PARAMS(HC_TEXT("seed")), NULL),
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
    assert_int_equal(
        hc_conn_exec(c, "INSERT INTO item (name, qty) VALUES ('gone', 1)", HC_NOPARAMS, NULL), 0);
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
    assert_int_equal(
        hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?", HC_PARAMS(HC_I64(id2)), &qty), 0);
    assert_int_equal(qty, 20);
    assert_int_equal(hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?",
                                       HC_PARAMS(HC_I64(id2 + 100)), &qty),
                     HC_ENOTFOUND);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

/* Ends c's transaction: commits when rc is 0, else rolls back. Returns the
 * final rc. */
static int end_tx(hc_conn_t *c, int rc)
{
    if (rc == 0)
        return hc_conn_commit(c);
    hc_conn_rollback(c);
    return rc;
}

/* Runs fn on four threads at once, thread i on element i of args (elem_size
 * bytes each), and waits for them. */
static void run_four(void *(*fn)(void *), void *args, size_t elem_size)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * elem_size), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
}

/* hc_conn_insert: the new row's id without RETURNING, in and out of a
 * transaction; nothing inserted is HC_ENOTFOUND, a duplicate HC_ECONFLICT. */
static void test_insert_id(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t id1 = 0, id2 = 0, id3 = 0;
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_insert(c, "INSERT INTO item (name, qty) VALUES (?, ?)",
                                    HC_PARAMS(HC_TEXT("i1"), HC_I64(10)), &id1),
                     0);
    assert_int_equal(hc_conn_insert(c, "INSERT INTO item (name, qty) VALUES (?, ?)",
                                    HC_PARAMS(HC_TEXT("i2"), HC_I64(20)), &id2),
                     0);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_int_equal(hc_conn_insert(c, "INSERT INTO item (name, qty) VALUES (?, ?)",
                                    HC_PARAMS(HC_TEXT("i3"), HC_I64(30)), &id3),
                     0);
    assert_true(id1 > 1); /* the seed row holds id 1 */
    assert_int_equal(id2, id1 + 1);
    assert_int_equal(id3, id2 + 1);
    int64_t qty = 0;
    assert_int_equal(
        hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?", HC_PARAMS(HC_I64(id2)), &qty), 0);
    assert_int_equal(qty, 20);
    assert_int_equal(
        hc_conn_query_i64(c, "SELECT qty FROM item WHERE id = ?", HC_PARAMS(HC_I64(id3)), &qty), 0);
    assert_int_equal(qty, 30);

    int64_t id = -7;
    assert_int_equal(hc_conn_insert(c, "INSERT OR IGNORE INTO item (name, qty) VALUES (?, ?)",
                                    HC_PARAMS(HC_TEXT("i1"), HC_I64(99)), &id),
                     HC_ENOTFOUND);
    assert_int_equal(id, -7);
    assert_int_equal(hc_conn_insert(c, "INSERT INTO item (name, qty) VALUES (?, ?)",
                                    HC_PARAMS(HC_TEXT("i1"), HC_I64(99)), &id),
                     HC_ECONFLICT);
    assert_int_equal(id, -7);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 4);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

#define INSERT_ROUNDS 40

typedef struct inserter_arg {
    hc_db_t *db;
    int n;
    int wrong; /* ids that named another row */
} inserter_arg_t;

/* Inserts INSERT_ROUNDS rows named after itself and checks, inside its
 * transaction, that each id it got is its own row's. */
static void *inserter_main(void *p)
{
    inserter_arg_t *a = p;
    for (int i = 0; i < INSERT_ROUNDS; i++) {
        char name[32], got[32] = "";
        snprintf(name, sizeof name, "t%d-%d", a->n, i);
        hc_conn_t *c = hc_db_acquire(a->db);
        int64_t id = 0;
        hc_rows_t *r = NULL;
        int rc = hc_conn_begin(c);
        if (!rc)
            rc = hc_conn_insert(c, "INSERT INTO item (name) VALUES (?)", HC_PARAMS(HC_TEXT(name)),
                                &id);
        if (!rc)
            rc = hc_conn_query(c, "SELECT name FROM item WHERE id = ?", HC_PARAMS(HC_I64(id)), &r);
        const char *t = !rc && hc_rows_count(r) == 1 ? hc_rows_text(r, 0, 0) : NULL;
        if (t)
            snprintf(got, sizeof got, "%s", t);
        hc_rows_free(r);
        rc = end_tx(c, rc);
        if (rc || strcmp(got, name) != 0)
            a->wrong++;
        hc_db_release(a->db, c);
    }
    return NULL;
}

/* Threads inserting at once (members of one batch when batching) each get
 * their own row's id. */
static void test_insert_id_concurrent(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    inserter_arg_t args[4];
    for (int i = 0; i < 4; i++)
        args[i] = (inserter_arg_t){.db = db, .n = i};
    run_four(inserter_main, args, sizeof args[0]);
    for (int i = 0; i < 4; i++)
        assert_int_equal(args[i].wrong, 0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1 + 4 * INSERT_ROUNDS);
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
        if (end_tx(c, rc) != 0)
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
    for (int i = 0; i < 4; i++)
        args[i] = (writer_arg_t){.db = db};
    run_four(writer_main, args, sizeof args[0]);
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

/* Sets a per-connection pragma on the connection transactions run on: c's
 * own, or with batched commits the pool's writer. */
static void tx_pragma(hc_conn_t *c, const char *pragma)
{
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec_script(c, pragma), 0);
    assert_int_equal(hc_conn_commit(c), 0);
}

/* Fills the database until SQLite reports it full: max_page_count stands in
 * for a full disk (same SQLITE_FULL). Returns the error of the failing write. */
static int fill_until_full(hc_db_t *db)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t pages = count(c, "PRAGMA page_count");
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA max_page_count = %lld", (long long)pages + 2);
    tx_pragma(c, pragma);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof name, "filler-%d", i);
        rc = hc_conn_begin(c);
        if (rc == 0)
            rc = hc_conn_exec(c, "INSERT INTO item (name, note) VALUES (?, ?)",
                              HC_PARAMS(HC_TEXT(name), HC_TEXT(big)), NULL);
        if (rc == 0)
            rc = hc_conn_commit(c);
        else
            hc_conn_rollback(c);
    }
    hc_db_release(db, c);
    return rc;
}

/* Lets the pool write again (the "disk" has room). */
static void make_room(hc_db_t *db)
{
    hc_conn_t *c = hc_db_acquire(db);
    tx_pragma(c, "PRAGMA max_page_count = 1000000");
    hc_db_release(db, c);
}

static void test_full_disk_is_enospc_and_marks_not_writable(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    assert_int_equal(hc_db_writable(db), 1);
    assert_int_equal(hc_db_write_error(db), 0);
    char why[256];
    assert_int_equal(hc_db_health(db, why, sizeof why), 0);

    assert_int_equal(fill_until_full(db), HC_ENOSPC);
    assert_int_equal(hc_db_write_error(db), HC_ENOSPC);
    /* the probe (a write needing a fresh page) fails too: still not writable */
    assert_int_equal(hc_db_writable(db), 0);
    assert_int_equal(hc_db_health(db, why, sizeof why), HC_ENOSPC);
    assert_non_null(strstr(why, "full"));
    assert_non_null(strstr(why, f->path));
    /* what was committed before is all there, nothing half-written */
    hc_conn_t *c = hc_db_acquire(db);
    int64_t rows = count(c, "SELECT COUNT(*) FROM item");
    assert_true(rows >= 1);
    hc_db_release(db, c);

    /* space returns with no traffic: the probe, at most once a second,
     * finds out by itself */
    make_room(db);
    int64_t t0 = hc_test_mono_ms();
    while (!hc_db_writable(db) && hc_test_mono_ms() - t0 < 5000) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(hc_db_writable(db), 1);
    assert_int_equal(hc_db_write_error(db), 0);
    assert_int_equal(hc_db_health(db, why, sizeof why), 0);
    c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), rows);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_commit_with_changes_clears_the_mark(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    assert_int_equal(fill_until_full(db), HC_ENOSPC);
    make_room(db);
    hc_conn_t *c = hc_db_acquire(db);
    /* a transaction that changes nothing proves nothing */
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item") > 0, 1);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_int_equal(hc_db_write_error(db), HC_ENOSPC);
    /* one that wrote rows does */
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(
        hc_conn_exec(c, "UPDATE item SET qty = 7 WHERE name = 'seed'", HC_NOPARAMS, NULL), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_int_equal(hc_db_write_error(db), 0);
    hc_db_release(db, c);
    assert_int_equal(hc_db_writable(db), 1);
    hc_db_destroy(db);
}

static void test_sql_errors_do_not_mark_storage(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO no_such_table VALUES (1)", HC_NOPARAMS, NULL),
                     HC_EIO);
    hc_conn_rollback(c);
    hc_db_release(db, c);
    assert_int_equal(hc_db_write_error(db), 0);
    assert_int_equal(hc_db_writable(db), 1);
    assert_int_equal(hc_db_corrupt(db), 0);
    hc_db_destroy(db);
}

/* Overwrites the first bytes of the b-tree page of table (its root) in the
 * closed database at path: a page header SQLite rejects. */
static void corrupt_table_page(const char *path, const char *table)
{
    hc_db_t *db = NULL;
    assert_int_equal(hc_db_open_existing(path, 1, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    int64_t root = -1, page_size = 0;
    assert_int_equal(hc_conn_query_i64(c, "SELECT rootpage FROM sqlite_master WHERE name = ?",
                                       HC_PARAMS(HC_TEXT(table)), &root),
                     0);
    page_size = count(c, "PRAGMA page_size");
    hc_db_release(db, c);
    hc_db_destroy(db); /* the last connection: the WAL is checkpointed into the file */
    assert_true(root > 1);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)((root - 1) * page_size), SEEK_SET), 0);
    const unsigned char junk[16] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
                                    0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00};
    assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    assert_int_equal(fclose(fp), 0);
}

static void test_corruption_found_by_check_and_at_run_time(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    char why[512];
    assert_int_equal(hc_db_check(db, 0, why, sizeof why), 0);
    assert_int_equal(hc_db_check(db, 1, why, sizeof why), 0);
    hc_db_destroy(db);
    corrupt_table_page(f->path, "item");

    /* at start: quick_check says so, and the pool reports it */
    db = open_db(f, MIGS, 2);
    assert_int_equal(hc_db_corrupt(db), 0);
    assert_int_equal(hc_db_check(db, 0, why, sizeof why), HC_ECORRUPT);
    assert_true(strlen(why) > 0);
    assert_int_equal(hc_db_corrupt(db), 1);
    assert_int_equal(hc_db_health(db, why, sizeof why), HC_ECORRUPT);
    assert_non_null(strstr(why, "corrupt"));
    hc_db_destroy(db);

    /* at run time: a query that meets the bad page marks a fresh pool */
    db = open_db(f, MIGS, 2);
    hc_conn_t *c = hc_db_acquire(db);
    hc_rows_t *r = NULL;
    assert_int_equal(hc_conn_query(c, "SELECT * FROM item", HC_NOPARAMS, &r), HC_ECORRUPT);
    hc_db_release(db, c);
    assert_int_equal(hc_db_corrupt(db), 1);
    /* a corrupt database is not the same as a full disk */
    assert_int_equal(hc_db_write_error(db), 0);
    hc_db_destroy(db);
}

static void test_open_existing(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = NULL;
    /* no such file: not created */
    assert_int_equal(hc_db_open_existing(f->path, 1, &db), HC_ENOTFOUND);
    assert_null(db);
    assert_int_equal(access(f->path, F_OK), -1);

    db = open_db(f, MIGS, 2);
    hc_db_destroy(db);
    /* read-only: reads work, writes are refused, no migration runs */
    assert_int_equal(hc_db_open_existing(f->path, 1, &db), 0);
    assert_string_equal(hc_db_path(db), f->path);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    assert_true(hc_conn_exec(c, "DELETE FROM item", HC_NOPARAMS, NULL) < 0);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 1);
    hc_db_release(db, c);
    hc_db_destroy(db);
    /* read-write: writes work */
    assert_int_equal(hc_db_open_existing(f->path, 0, &db), 0);
    c = hc_db_acquire(db);
    assert_int_equal(hc_conn_exec(c, "DELETE FROM item", HC_NOPARAMS, NULL), 0);
    assert_int_equal(count(c, "SELECT COUNT(*) FROM item"), 0);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

/* ---- batched commits (hc_db_batch_commits) ---- */

typedef struct member {
    hc_db_t *db;
    const char *name; /* the row it inserts */
    int rollback;     /* 1: rolls back instead of committing */
    int end_batch;    /* 1: ends the SQLite transaction under it (a fatal error) */
    sem_t inside;     /* posted once its row is inserted */
    sem_t go;         /* waited for before it ends */
    int rc;           /* what its commit returned */
    atomic_int done;
} member_t;

static void member_init(member_t *m, hc_db_t *db, const char *name)
{
    memset(m, 0, sizeof *m);
    m->db = db;
    m->name = name;
    sem_init(&m->inside, 0, 0);
    sem_init(&m->go, 0, 0);
}

static void *member_main(void *arg)
{
    member_t *m = arg;
    hc_conn_t *c = hc_db_acquire(m->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name, qty) VALUES (?, 1)",
                                  HC_PARAMS(HC_TEXT(m->name)), NULL),
                     0);
    sem_post(&m->inside);
    sem_wait(&m->go);
    if (m->end_batch)
        hc_conn_exec_script(c, "ROLLBACK");
    if (m->rollback || m->end_batch) {
        hc_conn_rollback(c);
    } else {
        m->rc = hc_conn_commit(c);
    }
    atomic_store(&m->done, 1);
    hc_db_release(m->db, c);
    return NULL;
}

/* Waits (up to 10 s) until n threads are queued to begin a transaction. */
static void wait_queued(hc_db_t *db, int n)
{
    int queued = 0;
    uint64_t b, m;
    int64_t t0 = hc_test_mono_ms();
    while (hc_db_sqlite_batch_stats(db, &queued, &b, &m), queued < n) {
        if (hc_test_mono_ms() - t0 > 10000)
            fail_msg("%d threads queued, not %d", queued, n);
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int64_t rows_named(hc_db_t *db, const char *name)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t v = -1;
    assert_int_equal(hc_conn_query_i64(c, "SELECT COUNT(*) FROM item WHERE name = ?",
                                       HC_PARAMS(HC_TEXT(name)), &v),
                     0);
    hc_db_release(db, c);
    return v;
}

static void batch_counts(hc_db_t *db, uint64_t *batches, uint64_t *members)
{
    int queued;
    hc_db_sqlite_batch_stats(db, &queued, batches, members);
}

/* Runs a and b as members of one batch: a begins and inserts, b queues
 * behind it, a commits (b being queued, the batch stays open and a waits),
 * b inserts; then `during` (may be NULL) looks while both are pending, b
 * ends as it was told, and both are joined. */
static void two_members(hc_db_t *db, member_t *a, member_t *b,
                        void (*during)(hc_db_t *, member_t *))
{
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, member_main, a), 0);
    sem_wait(&a->inside);
    assert_int_equal(pthread_create(&tb, NULL, member_main, b), 0);
    wait_queued(db, 1); /* b waits to begin */
    sem_post(&a->go);
    sem_wait(&b->inside);
    if (during)
        during(db, a);
    sem_post(&b->go);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
}

/* While b runs, a's commit has not returned and no other connection sees
 * either row. */
static void nothing_shows_yet(hc_db_t *db, member_t *a)
{
    assert_int_equal(atomic_load(&a->done), 0);
    assert_int_equal(rows_named(db, "a"), 0);
    assert_int_equal(rows_named(db, "b"), 0);
}

/* Two transactions, the second queued while the first ran: one batch, one
 * commit for both; neither commit returns, and no other connection sees
 * either row, until the batch is committed. */
static void test_batch_shares_one_commit_and_shows_nothing_before(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    uint64_t b0, m0, b1, m1;
    batch_counts(db, &b0, &m0);
    member_t a, b;
    member_init(&a, db, "a");
    member_init(&b, db, "b");
    two_members(db, &a, &b, nothing_shows_yet);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(rows_named(db, "a"), 1);
    assert_int_equal(rows_named(db, "b"), 1);
    batch_counts(db, &b1, &m1);
    assert_int_equal(b1 - b0, 1);
    assert_int_equal(m1 - m0, 2);
    hc_db_destroy(db);
}

/* A member that rolls back takes only its own work with it. */
static void test_batch_member_rollback_is_its_own(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    member_t a, b;
    member_init(&a, db, "a");
    member_init(&b, db, "b");
    b.rollback = 1;
    two_members(db, &a, &b, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(rows_named(db, "a"), 1);
    assert_int_equal(rows_named(db, "b"), 0);
    hc_db_destroy(db);
}

/* When the batch's SQLite transaction is lost (an error ended it), every
 * member already released into it gets an error: a commit that returned 0
 * is always there. */
static void test_lost_batch_fails_every_member(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    member_t a, b;
    member_init(&a, db, "a");
    member_init(&b, db, "b");
    b.end_batch = 1;
    two_members(db, &a, &b, NULL);
    assert_int_not_equal(a.rc, 0);
    assert_int_equal(rows_named(db, "a"), 0);
    assert_int_equal(rows_named(db, "b"), 0);
    /* the pool goes on */
    member_t c;
    member_init(&c, db, "c");
    sem_post(&c.go);
    member_main(&c);
    assert_int_equal(c.rc, 0);
    assert_int_equal(rows_named(db, "c"), 1);
    hc_db_destroy(db);
}

/* A lazy transaction alone commits on its own (without waiting for the
 * disk); a durable one after it ends that batch and commits in its own. */
static void test_lazy_member(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    uint64_t b0, m0, b1, m1;
    batch_counts(db, &b0, &m0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin_lazy(c), 0);
    assert_int_equal(hc_conn_exec(c, "INSERT INTO item (name) VALUES ('lazy')", HC_NOPARAMS, NULL),
                     0);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_int_equal(rows_named(db, "lazy"), 1);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(
        hc_conn_exec(c, "INSERT INTO item (name) VALUES ('durable')", HC_NOPARAMS, NULL), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    assert_int_equal(rows_named(db, "durable"), 1);
    hc_db_release(db, c);
    batch_counts(db, &b1, &m1);
    assert_int_equal(b1 - b0, 2);
    assert_int_equal(m1 - m0, 2);
    hc_db_destroy(db);
}

/* The connection's page cache size (PRAGMA cache_size: negative, KiB). */
static int64_t cache_size(hc_conn_t *c)
{
    int64_t v = 0;
    assert_int_equal(hc_conn_query_i64(c, "PRAGMA cache_size", HC_NOPARAMS, &v), 0);
    return v;
}

/* SQLite keeps no allocation statistics here: they take one process-wide
 * mutex on every allocation of every connection. Were they kept, the memory
 * in use after opening a pool and querying it could not be 0. And every
 * connection's page cache is 1,000 KiB, half SQLite's default, in a
 * transaction (the writer) and out of one. */
static void test_connection_settings(void **state)
{
    fixture_t *f = *state;
    hc_db_t *db = open_db(f, MIGS, 2);
    assert_int_equal(rows_named(db, "x"), 0);
    assert_int_equal(sqlite3_memory_used(), 0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(cache_size(c), -1000);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(cache_size(c), -1000);
    hc_conn_rollback(c);
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
        cmocka_unit_test_setup_teardown(test_insert_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_id_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_script, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_serialised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_sql_buffer_is_not_confused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_disk_is_enospc_and_marks_not_writable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_with_changes_clears_the_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sql_errors_do_not_mark_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption_found_by_check_and_at_run_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_settings, setup, teardown),
        cmocka_unit_test(test_destroy_null),
    };
    const struct CMUnitTest batching[] = {
        cmocka_unit_test_setup_teardown(test_batch_shares_one_commit_and_shows_nothing_before,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_member_rollback_is_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_batch_fails_every_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_member, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    /* Everything again on a pool with batched commits, as the services run. */
    g_batching = 1;
    failed += cmocka_run_group_tests_name("sqlite, batched commits", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("batched commits", batching, NULL, NULL);
    return failed;
}
