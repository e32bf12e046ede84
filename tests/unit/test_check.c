/* Checks `healthcenter check` (hc_check_run): a healthy data dir passes; a bad record's
 * checksum, an offset beyond the log, a corrupt service database and a missing one fail and are
 * named; parked dead letters are a note, not a failure. */
#include "hc_test.h"

#include "hc_bus.h"
#include "hc_check.h"
#include "hc_db.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_log.h"

static const hc_migration_t MIGS[] = {
    {1, "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"},
    {2, HC_DEADLETTER_SCHEMA},
};

static const char *const SERVICES[] = {"alpha", "beta"};

typedef struct fixture {
    char dir[256];
    char bus[512];
    int64_t offs[3];
} fixture_t;

/* Opens service name's database (creating it) with a few rows. */
static void make_service_db(fixture_t *f, const char *name)
{
    char path[600], file[64];
    hc_db_t *db = NULL;
    snprintf(file, sizeof file, "%s.db", name);
    hc_test_path(path, sizeof path, f->dir, file);
    assert_int_equal(hc_db_open(path, "NORMAL", MIGS, 2, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    for (int i = 0; i < 50; i++)
        assert_int_equal(
            hc_conn_exec(c, "INSERT INTO things (name) VALUES ('a thing with a long enough name')",
                         HC_NOPARAMS, NULL),
            0);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(f->bus, sizeof f->bus, f->dir, "bus");
    make_service_db(f, "alpha");
    make_service_db(f, "beta");
    hc_bus_t *bus = NULL;
    assert_int_equal(hc_bus_log_open(f->bus, "healthcenter", "NORMAL", &bus), 0);
    hc_bus_msg_t m[3] = {{.key = "1", .value = "{\"a\":1}", .value_len = 7},
                         {.key = "2", .value = "{\"a\":2}", .value_len = 7},
                         {.key = "3", .value = "{\"a\":3}", .value_len = 7}};
    assert_int_equal(hc_bus_publish(bus, m, 3), 0);
    hc_bus_consumer_t *c = NULL;
    assert_int_equal(bus->ops->consumer_open(bus, "alpha", &c), 0);
    hc_bus_msg_t got[3];
    size_t n = 0;
    assert_int_equal(bus->ops->poll(c, got, 3, &n, 1000), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++)
        f->offs[i] = got[i].offset;
    hc_bus_msgs_free(got, n);
    assert_int_equal(bus->ops->commit(c, &(hc_bus_pos_t){0, f->offs[1]}, 1), 0);
    bus->ops->consumer_close(c);
    hc_bus_destroy(bus);
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

/* Runs the check; returns its output (caller frees) and failures in *failed. */
static char *run_check(fixture_t *f, int *failed)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    *failed = hc_check_run(f->dir, SERVICES, 2, out);
    fclose(out);
    return buf;
}

/* Runs sql on file under dir through a pool of its own. */
static void sql_on(const char *dir, const char *file, const char *sql, const hc_val_t *p, size_t n)
{
    char path[600];
    hc_db_t *db = NULL;
    hc_test_path(path, sizeof path, dir, file);
    assert_int_equal(hc_db_open_existing(path, 0, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_exec(c, sql, p, n, NULL), 0);
    hc_db_release(db, c);
    hc_db_destroy(db);
}

static void test_healthy(void **state)
{
    fixture_t *f = *state;
    int failed = -1;
    char *out = run_check(f, &failed);
    assert_int_equal(failed, 0);
    assert_null(strstr(out, "FAIL"));
    assert_non_null(strstr(out, "alpha.db: integrity_check ok"));
    assert_non_null(strstr(out, "beta.db: integrity_check ok"));
    assert_non_null(strstr(out, "events.db: 3 records, every checksum matches"));
    assert_non_null(strstr(out, "group alpha (topic healthcenter) at offset"));
    assert_non_null(strstr(out, "check: all 6 items ok"));
    free(out);
}

static void test_bad_record_named(void **state)
{
    fixture_t *f = *state;
    sql_on(f->bus, "events.db", "UPDATE events SET value = '{\"a\":9}' WHERE pos = ?",
           HC_PARAMS(HC_I64(f->offs[1])));
    int failed = -1;
    char *out = run_check(f, &failed);
    assert_int_equal(failed, 1);
    char want[800];
    snprintf(
        want, sizeof want,
        "FAIL  %s/events.db: record at offset %lld (topic healthcenter, key 2): checksum mismatch",
        f->bus, (long long)f->offs[1]);
    if (!strstr(out, want))
        fail_msg("no \"%s\" in:\n%s", want, out);
    assert_non_null(strstr(out, "check: 1 of 6 items FAILED"));
    free(out);
}

static void test_offset_beyond_end_named(void **state)
{
    fixture_t *f = *state;
    sql_on(f->bus, "offsets.db", "UPDATE consumer_offsets SET committed = 1000 WHERE grp = 'alpha'",
           HC_NOPARAMS);
    int failed = -1;
    char *out = run_check(f, &failed);
    assert_int_equal(failed, 1);
    assert_non_null(strstr(out, "FAIL  "));
    assert_non_null(strstr(
        out,
        "group alpha (topic healthcenter) committed offset 1000 is beyond the end of the log"));
    free(out);
}

static void test_corrupt_and_missing_databases(void **state)
{
    fixture_t *f = *state;
    char path[600];
    hc_test_path(path, sizeof path, f->dir, "beta.db");
    /* bytes of the things table's page overwritten (page 3 or later: past
     * the schema) */
    hc_db_t *db = NULL;
    int64_t root = 0;
    assert_int_equal(hc_db_open_existing(path, 1, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    assert_int_equal(hc_conn_query_i64(c,
                                       "SELECT rootpage FROM sqlite_master WHERE name = 'things'",
                                       HC_NOPARAMS, &root),
                     0);
    hc_db_release(db, c);
    hc_db_destroy(db);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)((root - 1) * 4096), SEEK_SET), 0);
    assert_int_equal(fwrite("\xff\xff\xff\xff\xff\xff\xff\xff", 1, 8, fp), 8);
    assert_int_equal(fclose(fp), 0);
    hc_test_path(path, sizeof path, f->dir, "alpha.db");
    assert_int_equal(unlink(path), 0);
    int failed = -1;
    char *out = run_check(f, &failed);
    assert_int_equal(failed, 2);
    assert_non_null(strstr(out, "alpha.db: cannot open: no such file"));
    assert_non_null(strstr(out, "beta.db: integrity_check: "));
    free(out);
}

static void test_dead_letters_are_a_note(void **state)
{
    fixture_t *f = *state;
    char path[600];
    hc_test_path(path, sizeof path, f->dir, "alpha.db");
    hc_db_t *db = NULL;
    assert_int_equal(hc_db_open_existing(path, 0, &db), 0);
    hc_conn_t *c = hc_db_acquire(db);
    hc_bus_msg_t m = {.offset = 2, .key = "2", .value = "nope", .value_len = 4};
    assert_int_equal(hc_deadletter_park(c, &m, NULL, "not JSON", NULL), 0);
    hc_db_release(db, c);
    hc_db_destroy(db);
    int failed = -1;
    char *out = run_check(f, &failed);
    assert_int_equal(failed, 0);
    assert_non_null(strstr(out, "note  "));
    assert_non_null(strstr(out, "1 dead letter(s) parked (healthcenter dead-letters list alpha)"));
    free(out);
}

int main(void)
{
    hc_log_init("test_check", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_beyond_end_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_and_missing_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letters_are_a_note, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
