/* Checks reservation_policy on a real database: allocation up to capacity and
 * rejection beyond it, idempotency, cancel/fail before and after allocation,
 * and no overbooking with concurrent writers from separate connection pools. */
#include "hc_test.h"

#include <jansson.h>
#include <pthread.h>

#include "hc_config.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_valid.h"
#include "reservation/reservation_policy.h"
#include "reservation/reservation_store.h"

typedef struct fixture {
    char dir[256];
    char path[512];
    hc_db_t *db;
    char date[11]; /* a bookable day: today + 10 */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(f->path, sizeof f->path, f->dir, "reservation.db");
    assert_int_equal(
        hc_db_open(f->path, "NORMAL", reservation_migrations, RESERVATION_N_MIGRATIONS, &f->db), 0);
    assert_int_equal(hc_config_parse_centers(&hc_cfg, "1:서울중앙검진센터:2,2:부산검진센터:10"), 0);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(reservation_store_sync_centers(c, hc_cfg.centers, hc_cfg.n_centers), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    hc_date_format(hc_today() + 10, f->date, sizeof f->date);
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

/* The status an order event announces, NULL for other events. */
static const char *order_status_of(const char *type)
{
    static const char *const map[][2] = {{"OrderConfirmed", "CONFIRMED"},
                                         {"OrderRejected", "REJECTED"},
                                         {"OrderCanceled", "CANCELED"},
                                         {"OrderFailed", "FAILED"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], type) == 0)
            return map[i][1];
    return NULL;
}

/* Versions given to order events: always newer than any before. */
static int64_t next_version = 1;

/* Applies one event of type for order (centerId, checkupDate and reason in
 * the payload; center <= 0 or NULL leaves a field out; an order event gets
 * its status and version, 0 meaning the next one) inside its own transaction
 * on db, as the consumer would. Returns apply's result. */
static int apply_version(hc_db_t *db, const char *type, int64_t order, int64_t center,
                         const char *date, const char *reason, int64_t version)
{
    json_t *ev = hc_event_new(type, order, NULL);
    if (order_status_of(type)) {
        json_object_set_new(ev, "status", json_string(order_status_of(type)));
        json_object_set_new(ev, "version", json_integer(version ? version : next_version++));
    }
    if (center > 0)
        json_object_set_new(ev, "centerId", json_integer(center));
    if (date)
        json_object_set_new(ev, "checkupDate", json_string(date));
    if (reason)
        json_object_set_new(ev, "reason", json_string(reason));
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    hc_event_t parsed;
    assert_int_equal(hc_event_parse(text, strlen(text), &parsed), 0);
    free(text);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = reservation_policy_apply(c, &parsed, NULL);
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(db, c);
    json_decref(parsed.root);
    return rc;
}

static int apply_on(hc_db_t *db, const char *type, int64_t order, int64_t center, const char *date,
                    const char *reason)
{
    return apply_version(db, type, order, center, date, reason, 0);
}

static int apply(fixture_t *f, const char *type, int64_t order, int64_t center, const char *date,
                 const char *reason)
{
    return apply_on(f->db, type, order, center, date, reason);
}

/* Reads the reservation of order; asserts it exists. */
static reservation_t get_res(fixture_t *f, int64_t order)
{
    reservation_t r;
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(reservation_store_get_by_order(c, order, &r), 0);
    hc_db_release(f->db, c);
    return r;
}

/* Runs a COUNT-style query with optional one text parameter. */
static int64_t count(fixture_t *f, const char *sql, const char *param)
{
    int64_t n = -1;
    hc_conn_t *c = hc_db_acquire(f->db);
    int rc = param ? hc_conn_query_i64(c, sql, HC_PARAMS(HC_TEXT(param)), &n)
                   : hc_conn_query_i64(c, sql, HC_NOPARAMS, &n);
    assert_int_equal(rc, 0);
    hc_db_release(f->db, c);
    return n;
}

static int64_t booked(fixture_t *f, int64_t center, const char *date)
{
    reservation_slot_t s;
    int64_t day;
    assert_int_equal(hc_date_parse(date, &day), 0);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(reservation_store_slots(c, center, 0, day, 1, &s), 0);
    hc_db_release(f->db, c);
    return s.booked;
}

static int64_t events_of(fixture_t *f, const char *type)
{
    char like[96];
    snprintf(like, sizeof like, "%%\"eventType\":\"%s\"%%", type);
    return count(f, "SELECT COUNT(*) FROM outbox WHERE payload LIKE ?", like);
}

static void test_allocates_up_to_capacity_then_rejects(void **state)
{
    fixture_t *f = *state;
    for (int64_t o = 1; o <= 5; o++)
        assert_int_equal(apply(f, "PaymentApproved", o, 1, f->date, NULL), 0);
    assert_int_equal(get_res(f, 1).status, RESERVATION_REQUESTED);
    assert_int_equal(get_res(f, 2).status, RESERVATION_REQUESTED);
    for (int64_t o = 3; o <= 5; o++) {
        reservation_t r = get_res(f, o);
        assert_int_equal(r.status, RESERVATION_REJECTED);
        assert_non_null(strstr(r.reason, "fully booked"));
        assert_non_null(strstr(r.reason, f->date));
    }
    assert_int_equal(booked(f, 1, f->date), 2);
    assert_int_equal(events_of(f, "ReservationAccepted"), 2);
    assert_int_equal(events_of(f, "ReservationRejected"), 3);
    /* Another center's day is independent. */
    assert_int_equal(apply(f, "PaymentApproved", 6, 2, f->date, NULL), 0);
    assert_int_equal(get_res(f, 6).status, RESERVATION_REQUESTED);
}

static void test_override_changes_capacity(void **state)
{
    fixture_t *f = *state;
    int64_t day;
    assert_int_equal(hc_date_parse(f->date, &day), 0);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(reservation_store_set_override(c, 1, day, 3), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    for (int64_t o = 1; o <= 4; o++)
        assert_int_equal(apply(f, "PaymentApproved", o, 1, f->date, NULL), 0);
    assert_int_equal(get_res(f, 3).status, RESERVATION_REQUESTED);
    assert_int_equal(get_res(f, 4).status, RESERVATION_REJECTED);
    /* Lowered below the bookings: existing ones stay, no new ones. */
    c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(reservation_store_set_override(c, 1, day, 1), 0);
    assert_int_equal(hc_conn_commit(c), 0);
    hc_db_release(f->db, c);
    assert_int_equal(apply(f, "OrderCanceled", 1, 0, NULL, NULL), 0);
    assert_int_equal(booked(f, 1, f->date), 2);
    assert_int_equal(apply(f, "PaymentApproved", 5, 1, f->date, NULL), 0);
    assert_int_equal(get_res(f, 5).status, RESERVATION_REJECTED);
}

static void test_repeated_approval_is_idempotent(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "PaymentApproved", 7, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 7, 1, f->date, NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations", NULL), 1);
    assert_int_equal(booked(f, 1, f->date), 1);
    assert_int_equal(events_of(f, "ReservationAccepted"), 1);
}

static void test_cancel_releases_and_records(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "PaymentApproved", 1, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 2, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "OrderCanceled", 1, 1, f->date, "고객 요청"), 0);
    reservation_t r = get_res(f, 1);
    assert_int_equal(r.status, RESERVATION_CANCELED);
    assert_string_equal(r.reason, "고객 요청");
    assert_int_equal(booked(f, 1, f->date), 1);
    assert_int_equal(events_of(f, "ReservationCanceled"), 1);
    assert_int_equal(
        count(f, "SELECT COUNT(*) FROM cancellations WHERE reservation_id IS NOT NULL", NULL), 1);
    /* The freed unit is bookable again; a second cancel changes nothing. */
    assert_int_equal(apply(f, "PaymentApproved", 3, 1, f->date, NULL), 0);
    assert_int_equal(get_res(f, 3).status, RESERVATION_REQUESTED);
    assert_int_equal(apply(f, "OrderCanceled", 1, 1, f->date, NULL), 0);
    assert_int_equal(booked(f, 1, f->date), 2);
    assert_int_equal(events_of(f, "ReservationCanceled"), 1);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM cancellations", NULL), 1);
}

static void test_cancel_of_rejected_changes_nothing(void **state)
{
    fixture_t *f = *state;
    for (int64_t o = 1; o <= 3; o++)
        assert_int_equal(apply(f, "PaymentApproved", o, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "OrderCanceled", 3, 1, f->date, NULL), 0);
    assert_int_equal(get_res(f, 3).status, RESERVATION_REJECTED);
    assert_int_equal(booked(f, 1, f->date), 2);
    assert_int_equal(events_of(f, "ReservationCanceled"), 0);
}

static void test_cancel_before_payment_leaves_tombstone(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "OrderCanceled", 9, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 9, 1, f->date, NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations", NULL), 0);
    assert_int_equal(booked(f, 1, f->date), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM outbox", NULL), 0);
    /* The customer's cancel is listed, without a reservation. */
    assert_int_equal(count(f,
                           "SELECT COUNT(*) FROM cancellations WHERE order_id = 9"
                           " AND reservation_id IS NULL AND reason = ?",
                           "canceled by customer"),
                     1);
    /* A second OrderCanceled does not add a second record. */
    assert_int_equal(apply(f, "OrderCanceled", 9, 1, f->date, NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM cancellations", NULL), 1);
}

static void test_order_failed_releases_or_voids(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "PaymentApproved", 1, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "OrderFailed", 1, 0, NULL, "timeout"), 0);
    reservation_t r = get_res(f, 1);
    assert_int_equal(r.status, RESERVATION_CANCELED);
    assert_string_equal(r.reason, "order failed");
    assert_int_equal(booked(f, 1, f->date), 0);
    assert_int_equal(events_of(f, "ReservationCanceled"), 1);
    /* Failed before the approval arrived: nothing is ever allocated. */
    assert_int_equal(apply(f, "OrderFailed", 2, 0, NULL, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 2, 1, f->date, NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations WHERE order_id = 2", NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM cancellations", NULL), 0);
}

/* The reservation follows the booking's decisions (order owns them), and
 * only newer versions: a late confirm never follows a cancel. */
static void test_follows_order_decisions_by_version(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "PaymentApproved", 1, 1, f->date, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 2, 1, f->date, NULL), 0);
    assert_int_equal(apply_version(f->db, "OrderConfirmed", 1, 0, NULL, NULL, 3), 0);
    reservation_t r = get_res(f, 1);
    assert_int_equal(r.status, RESERVATION_CONFIRMED);
    assert_int_equal(r.order_version, 3);
    assert_int_equal(events_of(f, "ReservationConfirmed"), 1);
    /* A repeat of the same version changes nothing. */
    assert_int_equal(apply_version(f->db, "OrderConfirmed", 1, 0, NULL, NULL, 3), 0);
    assert_int_equal(events_of(f, "ReservationConfirmed"), 1);
    assert_int_equal(apply_version(f->db, "OrderCanceled", 1, 1, f->date, NULL, 4), 0);
    assert_int_equal(get_res(f, 1).status, RESERVATION_CANCELED);
    assert_int_equal(booked(f, 1, f->date), 1);
    /* Regression: a confirm arriving after the cancel (replayed, or parked
     * and retried) never brings the reservation back. */
    assert_int_equal(apply_version(f->db, "OrderConfirmed", 1, 0, NULL, NULL, 3), 0);
    assert_int_equal(get_res(f, 1).status, RESERVATION_CANCELED);
    assert_int_equal(booked(f, 1, f->date), 1);
    /* A rejection decided by order releases the place. */
    assert_int_equal(apply_version(f->db, "OrderRejected", 2, 0, NULL, "장비 점검", 3), 0);
    r = get_res(f, 2);
    assert_int_equal(r.status, RESERVATION_REJECTED);
    assert_string_equal(r.reason, "장비 점검");
    assert_int_equal(booked(f, 1, f->date), 0);
    assert_int_equal(events_of(f, "ReservationRejected"), 1);
    /* An order event without status or version cannot be applied. */
    json_t *bad = hc_event_new("OrderCanceled", 2, NULL);
    char *text = json_dumps(bad, JSON_COMPACT);
    hc_event_t parsed;
    assert_int_equal(hc_event_parse(text, strlen(text), &parsed), 0);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(hc_conn_begin(c), 0);
    assert_int_equal(reservation_policy_apply(c, &parsed, NULL), HC_EINVAL);
    hc_conn_rollback(c);
    hc_db_release(f->db, c);
    json_decref(parsed.root);
    json_decref(bad);
    free(text);
}

static void test_approval_without_booking_data_is_ignored(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(apply(f, "PaymentApproved", 1, 0, NULL, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 2, 1, "2026-02-30", NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 3, 0, f->date, NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations", NULL), 0);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM outbox", NULL), 0);
}

static void test_unknown_center_and_past_date_are_rejected(void **state)
{
    fixture_t *f = *state;
    char past[11];
    hc_date_format(hc_today() - 1, past, sizeof past);
    assert_int_equal(apply(f, "PaymentApproved", 1, 99, f->date, NULL), 0);
    assert_int_equal(apply(f, "PaymentApproved", 2, 1, past, NULL), 0);
    assert_int_equal(get_res(f, 1).status, RESERVATION_REJECTED);
    assert_int_equal(get_res(f, 2).status, RESERVATION_REJECTED);
    assert_int_equal(events_of(f, "ReservationRejected"), 2);
    assert_int_equal(booked(f, 1, past), 0);
}

/* ---- concurrency ---- */

#define WRITERS 8
#define PER_WRITER 25

typedef struct writer {
    hc_db_t *db; /* each writer its own pool: like separate processes */
    int64_t first_order;
    const char *date;
    int failures;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < PER_WRITER; i++) {
        int rc;
        /* Retry as the consumer would on a transient error. */
        for (int tries = 0;
             (rc = apply_on(w->db, "PaymentApproved", w->first_order + i, 2, w->date, NULL)) != 0 &&
             tries < 50;
             tries++)
            ;
        if (rc)
            w->failures++;
    }
    return NULL;
}

static void test_no_overbooking_under_concurrency(void **state)
{
    fixture_t *f = *state;
    pthread_t th[WRITERS];
    writer_t w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer_t){.first_order = 1000 + i * PER_WRITER, .date = f->date};
        assert_int_equal(hc_db_open(f->path, "NORMAL", reservation_migrations,
                                    RESERVATION_N_MIGRATIONS, &w[i].db),
                         0);
    }
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
        hc_db_destroy(w[i].db);
    }
    /* Center 2 takes 10 a day. */
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations", NULL), WRITERS * PER_WRITER);
    assert_int_equal(count(f, "SELECT COUNT(*) FROM reservations WHERE status = ?", "REQUESTED"),
                     10);
    assert_int_equal(booked(f, 2, f->date), 10);
    assert_int_equal(events_of(f, "ReservationAccepted"), 10);
    assert_int_equal(events_of(f, "ReservationRejected"), WRITERS * PER_WRITER - 10);
}

int main(void)
{
    hc_log_init("test_reservation_policy", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allocates_up_to_capacity_then_rejects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_override_changes_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_approval_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_releases_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_of_rejected_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_payment_leaves_tombstone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_order_failed_releases_or_voids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follows_order_decisions_by_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approval_without_booking_data_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unknown_center_and_past_date_are_rejected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_overbooking_under_concurrency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
