/* Checks notification_store: the SMS sender's due query reads only rows with
 * something left to try (regression: it scanned every SENT row on each pass);
 * the version read the consumer makes instead of the whole row; a history
 * taken from decoded JSON. */
#include "hc_test.h"

#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"
#include "notification/notification_store.h"

static hc_db_t *open_store(char *dir, size_t dir_size)
{
    char path[512];
    hc_test_mkdtemp(dir, dir_size);
    hc_test_path(path, sizeof path, dir, "notification.db");
    hc_db_t *db = NULL;
    assert_int_equal(
        hc_db_open(path, "NORMAL", notification_migrations, NOTIFICATION_N_MIGRATIONS, &db), 0);
    return db;
}

static void test_due_query_uses_the_pending_index(void **state)
{
    (void)state;
    char dir[256];
    hc_db_t *db = open_store(dir, sizeof dir);
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

static void test_version_reads_what_put_wrote(void **state)
{
    (void)state;
    char dir[256];
    hc_db_t *db = open_store(dir, sizeof dir);
    hc_conn_t *c = hc_db_acquire(db);
    notification_version_t v = {.version = -1, .status = "unchanged"};
    assert_int_equal(notification_store_version(c, 7, &v), HC_ENOTFOUND);
    assert_int_equal(v.version, -1);
    assert_string_equal(v.status, "unchanged");

    notification_mypage_t m;
    memset(&m, 0, sizeof m);
    m.order_id = 7;
    m.version = 2;
    snprintf(m.status, sizeof m.status, "REQUESTED");
    snprintf(m.name, sizeof m.name, "홍길동");
    m.n_history = 2;
    snprintf(m.history[0].status, sizeof m.history[0].status, "PAID");
    snprintf(m.history[1].status, sizeof m.history[1].status, "REQUESTED");
    assert_int_equal(notification_store_put(c, &m, "2026-12-02T00:00:00.000Z"), 0);
    assert_int_equal(notification_store_version(c, 7, &v), 0);
    assert_int_equal(v.version, 2);
    assert_string_equal(v.status, "REQUESTED");

    /* A refund seen before any order event: a row of version 0. */
    assert_int_equal(notification_store_set_refunded(c, 8, "2026-12-02T00:00:00.000Z"), 0);
    assert_int_equal(notification_store_version(c, 8, &v), 0);
    assert_int_equal(v.version, 0);
    assert_string_equal(v.status, "PENDING");

    hc_db_release(db, c);
    hc_db_destroy(db);
    hc_test_rmtree(dir);
}

static void test_history_take(void **state)
{
    (void)state;
    notification_mypage_t m;
    memset(&m, 0, sizeof m);
    json_t *ok = json_loads("[{\"status\":\"PAID\",\"at\":\"2026-12-02T00:00:00.000Z\"},"
                            "{\"status\":\"REQUESTED\",\"at\":\"2026-12-02T00:00:01.000Z\"}]",
                            0, NULL);
    assert_int_equal(notification_history_take(ok, &m), 0);
    assert_int_equal(m.n_history, 2);
    assert_string_equal(m.history[1].status, "REQUESTED");
    assert_string_equal(m.history[1].at, "2026-12-02T00:00:01.000Z");
    json_decref(ok);
    json_t *bad = json_loads("[{\"status\":\"PAID\"}]", 0, NULL);
    assert_int_equal(notification_history_take(bad, &m), HC_EINVAL);
    assert_int_equal(m.n_history, 0);
    json_decref(bad);
    assert_int_equal(notification_history_take(NULL, &m), HC_EINVAL);
}

int main(void)
{
    hc_log_init("test_notification_store", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_query_uses_the_pending_index),
        cmocka_unit_test(test_version_reads_what_put_wrote),
        cmocka_unit_test(test_history_take),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
