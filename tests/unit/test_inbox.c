/* Checks hc_inbox_claim: a new eventId claims once, a repeat is refused, a rolled-back claim does
 * not count; hc_inbox_forget lets exactly that event be claimed again. */
#include "hc_test.h"

#include "hc_db.h"
#include "hc_err.h"
#include "hc_inbox.h"
#include "hc_log.h"

typedef struct fixture {
    char dir[256];
    hc_db_t *db;
} fixture_t;

static const hc_migration_t MIGS[] = {{1, HC_INBOX_SCHEMA}};

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char path[512];
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(path, sizeof path, f->dir, "inbox.db");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 1, &f->db), 0);
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

/* Claims event_id in its own transaction and commits (or rolls back). */
static int claim_tx(hc_db_t *db, const char *event_id, int commit)
{
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_begin(c), 0);
    int r = hc_inbox_claim(c, event_id, "Ordered");
    if (commit)
        assert_int_equal(hc_conn_commit(c), 0);
    else
        hc_conn_rollback(c);
    hc_db_release(db, c);
    return r;
}

static int64_t inbox_rows(hc_db_t *db)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t n = -1;
    assert_int_equal(hc_conn_query_i64(c, "SELECT COUNT(*) FROM inbox", HC_NOPARAMS, &n), 0);
    hc_db_release(db, c);
    return n;
}

static void test_new_then_repeat(void **state)
{
    fixture_t *f = *state;
    const char *id = "6f1c1a52-93a8-4d6e-9c1f-0a4b2f8e7d11";
    assert_int_equal(claim_tx(f->db, id, 1), 1);
    assert_int_equal(claim_tx(f->db, id, 1), 0);
    assert_int_equal(claim_tx(f->db, id, 1), 0);
    /* a different id is new */
    assert_int_equal(claim_tx(f->db, "7a2d2b63-04b9-4e7f-8d20-1b5c3f9f8e22", 1), 1);
    assert_int_equal(inbox_rows(f->db), 2);
}

static void test_repeat_in_same_transaction(void **state)
{
    fixture_t *f = *state;
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_inbox_claim(c, "evt-same-tx", "Ordered"), 1);
    assert_int_equal(hc_inbox_claim(c, "evt-same-tx", "Ordered"), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    assert_int_equal(inbox_rows(f->db), 1);
}

static void test_rolled_back_claim_does_not_count(void **state)
{
    fixture_t *f = *state;
    const char *id = "8b3e3c74-15ca-4f80-9e31-2c6d4a0a9f33";
    assert_int_equal(claim_tx(f->db, id, 0), 1);
    assert_int_equal(inbox_rows(f->db), 0);
    /* the redelivery after the rollback is still new */
    assert_int_equal(claim_tx(f->db, id, 0), 1);
    assert_int_equal(claim_tx(f->db, id, 1), 1);
    assert_int_equal(claim_tx(f->db, id, 1), 0);
    assert_int_equal(inbox_rows(f->db), 1);
}

static void test_claim_survives_reopen(void **state)
{
    fixture_t *f = *state;
    char path[512];
    const char *id = "9c4f4d85-26db-4091-8f42-3d7e5b1b0a44";
    assert_int_equal(claim_tx(f->db, id, 1), 1);
    hc_db_destroy(f->db);
    f->db = NULL;
    hc_test_path(path, sizeof path, f->dir, "inbox.db");
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 1, &f->db), 0);
    assert_int_equal(claim_tx(f->db, id, 1), 0);
}

static void test_forget_allows_one_claim_again(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(claim_tx(f->db, "e-1", 1), 1);
    assert_int_equal(claim_tx(f->db, "e-2", 1), 1);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(hc_inbox_forget(c, "e-1"), 0);
    assert_int_equal(hc_inbox_forget(c, "never-seen"), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    assert_int_equal(inbox_rows(f->db), 1);
    assert_int_equal(claim_tx(f->db, "e-1", 1), 1);
    assert_int_equal(claim_tx(f->db, "e-2", 1), 0);
}

int main(void)
{
    hc_log_init("test_inbox", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_then_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_in_same_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_claim_does_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_allows_one_claim_again, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
