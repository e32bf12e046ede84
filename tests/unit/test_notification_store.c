/* Checks notification_store: the SMS sender's due query reads only rows with
 * something left to try (regression: it scanned every SENT row on each pass). */
#include "hc_test.h"

#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"
#include "notification/notification_store.h"

static void test_due_query_uses_the_pending_index(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "notification.db");
    hc_db_t *db = NULL;
    assert_int_equal(
        hc_db_open(path, "NORMAL", notification_migrations, NOTIFICATION_N_MIGRATIONS, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);

    char sql[2048];
    int n = snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", notification_due_sql);
    assert_true(n > 0 && (size_t)n < sizeof sql);
    hc_rows_t *r = NULL;
    assert_int_equal(hc_conn_query(c, sql, HC_PARAMS(HC_I64(0), HC_I64(16)), &r), 0);
    int on_index = 0;
    for (size_t i = 0; i < hc_rows_count(r); i++) {
        const char *detail = hc_rows_text(r, i, 3);
        assert_non_null(detail);
        if (strstr(detail, "notifications_pending"))
            on_index = 1;
        /* A bare "SCAN n" walks the whole table, SENT rows included. */
        if (strncmp(detail, "SCAN n", 6) == 0 && !strstr(detail, "USING"))
            fail_msg("due query scans the whole notifications table: %s", detail);
    }
    assert_true(on_index);
    hc_rows_free(r);

    hc_db_release(db, c);
    hc_db_destroy(db);
    hc_test_rmtree(dir);
}

int main(void)
{
    hc_log_init("test_notification_store", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_query_uses_the_pending_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
