/* reservation_store: SQL and migrations of the reservation service. The slot
 * usage counter (booked = REQUESTED + CONFIRMED) changes only inside the same
 * transaction as the reservation status it counts. */
#include "reservation_store.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "hc_store.h"
#include "hc_time.h"
#include "hc_valid.h"

const hc_migration_t reservation_migrations[RESERVATION_N_MIGRATIONS] = {
    {1, HC_OUTBOX_SCHEMA HC_INBOX_SCHEMA
     /* Centers mirror the configuration; active = 0 once a center is
      * dropped from it (its reservations keep pointing at the row). */
     "CREATE TABLE IF NOT EXISTS centers (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
     " daily_capacity INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1,"
     " updated_at TEXT NOT NULL);"
     /* Admin capacity per (center, date); the center default applies otherwise. */
     "CREATE TABLE IF NOT EXISTS slot_overrides (center_id INTEGER NOT NULL,"
     " date TEXT NOT NULL, capacity INTEGER NOT NULL, updated_at TEXT NOT NULL,"
     " PRIMARY KEY (center_id, date));"
     /* booked = REQUESTED + CONFIRMED reservations of (center, date). */
     "CREATE TABLE IF NOT EXISTS slot_usage (center_id INTEGER NOT NULL,"
     " date TEXT NOT NULL, booked INTEGER NOT NULL DEFAULT 0,"
     " PRIMARY KEY (center_id, date));"
     "CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " order_id INTEGER NOT NULL UNIQUE, center_id INTEGER NOT NULL,"
     " checkup_date TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
     "CREATE INDEX IF NOT EXISTS reservations_slot"
     " ON reservations(center_id, checkup_date, status);"
     "CREATE INDEX IF NOT EXISTS reservations_status ON reservations(status, id);"
     "CREATE TABLE IF NOT EXISTS cancellations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " order_id INTEGER NOT NULL, reservation_id INTEGER, center_id INTEGER,"
     " checkup_date TEXT, reason TEXT, created_at TEXT NOT NULL);"
     "CREATE INDEX IF NOT EXISTS cancellations_order ON cancellations(order_id, id);"
     /* Orders canceled or failed before a reservation existed: a late
      * PaymentApproved for them must not allocate. */
     "CREATE TABLE IF NOT EXISTS voided_orders (order_id INTEGER PRIMARY KEY,"
     " reason TEXT, created_at TEXT NOT NULL);"},
    /* The version of the booking (order's) the reservation last followed:
     * an order event applies only when it is newer. */
    {2, "ALTER TABLE reservations ADD COLUMN order_version INTEGER NOT NULL DEFAULT 0;"},
    /* Events this service cannot apply are parked, never dropped. */
    {3, HC_DEADLETTER_SCHEMA},
    /* Whose a reservation is (PaymentApproved carries the booking's phone),
     * for the customer's own reads; older rows name nobody (staff see them). */
    {4, "ALTER TABLE reservations ADD COLUMN phone TEXT;"
        "ALTER TABLE cancellations ADD COLUMN phone TEXT;"},
};

#define RES_COLS                                                                                   \
    "id, order_id, center_id, checkup_date, status, reason, created_at, updated_at, "              \
    "order_version,"                                                                               \
    " phone"
#define CAN_COLS "id, order_id, reservation_id, center_id, checkup_date, reason, created_at, phone"

/* hc_row_decode_cb: reads row i of a SELECT RES_COLS result into the
 * reservation_t at o. */
static void row_to_reservation(const hc_rows_t *r, size_t i, void *o)
{
    reservation_t *out = o;
    memset(out, 0, sizeof *out);
    out->id = hc_rows_i64(r, i, 0);
    out->order_id = hc_rows_i64(r, i, 1);
    out->center_id = hc_rows_i64(r, i, 2);
    hc_rows_copy_text(r, i, 3, out->checkup_date, sizeof out->checkup_date);
    if (reservation_status_parse(hc_rows_text(r, i, 4), &out->status) != 0) {
        hc_warn("reservation %lld has an unknown status \"%s\"; shown as REJECTED",
                (long long)out->id, hc_rows_text(r, i, 4) ? hc_rows_text(r, i, 4) : "");
        out->status = RESERVATION_REJECTED;
    }
    hc_rows_copy_text(r, i, 5, out->reason, sizeof out->reason);
    hc_rows_copy_text(r, i, 6, out->created_at, sizeof out->created_at);
    hc_rows_copy_text(r, i, 7, out->updated_at, sizeof out->updated_at);
    out->order_version = hc_rows_i64(r, i, 8);
    hc_rows_copy_text(r, i, 9, out->phone, sizeof out->phone);
}

/* hc_row_decode_cb: reads row i of a SELECT CAN_COLS result into the
 * reservation_cancellation_t at o. */
static void row_to_cancellation(const hc_rows_t *r, size_t i, void *o)
{
    reservation_cancellation_t *out = o;
    memset(out, 0, sizeof *out);
    out->id = hc_rows_i64(r, i, 0);
    out->order_id = hc_rows_i64(r, i, 1);
    out->reservation_id = hc_rows_i64(r, i, 2);
    out->center_id = hc_rows_i64(r, i, 3);
    hc_rows_copy_text(r, i, 4, out->checkup_date, sizeof out->checkup_date);
    hc_rows_copy_text(r, i, 5, out->reason, sizeof out->reason);
    hc_rows_copy_text(r, i, 6, out->created_at, sizeof out->created_at);
    hc_rows_copy_text(r, i, 7, out->phone, sizeof out->phone);
}

int reservation_store_sync_centers(hc_conn_t *c, const hc_center_cfg_t *centers, size_t n)
{
    char now[32];
    hc_now_rfc3339(now);
    int rc = hc_conn_exec(c, "UPDATE centers SET active = 0", HC_NOPARAMS, NULL);
    for (size_t i = 0; !rc && i < n; i++)
        rc = hc_conn_exec(c,
                          "INSERT INTO centers(id, name, daily_capacity, active, updated_at)"
                          " VALUES (?, ?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET"
                          " name = excluded.name, daily_capacity = excluded.daily_capacity,"
                          " active = 1, updated_at = excluded.updated_at",
                          HC_PARAMS(HC_I64(centers[i].id), HC_TEXT(centers[i].name),
                                    HC_I64(centers[i].capacity), HC_TEXT(now)),
                          NULL);
    return rc;
}

#define CENTER_COLS "id, name, daily_capacity"

/* hc_row_decode_cb: reads row i of a SELECT CENTER_COLS result into the
 * reservation_center_t at o. */
static void row_to_center(const hc_rows_t *r, size_t i, void *o)
{
    reservation_center_t *out = o;
    memset(out, 0, sizeof *out);
    out->id = hc_rows_i64(r, i, 0);
    hc_rows_copy_text(r, i, 1, out->name, sizeof out->name);
    out->daily_capacity = hc_rows_i64(r, i, 2);
}

int reservation_store_center_get(hc_conn_t *c, int64_t id, reservation_center_t *out)
{
    return hc_store_get_one(c, "SELECT " CENTER_COLS " FROM centers WHERE id = ? AND active = 1",
                            HC_PARAMS(HC_I64(id)), row_to_center, out);
}

static const hc_list_def_t center_list = {.cols = CENTER_COLS,
                                          .table = "centers",
                                          .where = "active = 1",
                                          .order = "id",
                                          .decode = row_to_center,
                                          .elem_size = sizeof(reservation_center_t)};

int reservation_store_center_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                                  int64_t *total)
{
    return hc_store_list(c, &center_list, q, items, n, total);
}

int reservation_store_slots(hc_conn_t *c, int64_t center_id, int64_t default_capacity,
                            int64_t from_day, size_t n_days, reservation_slot_t *out)
{
    hc_rows_t *ov = NULL, *use = NULL;
    char from[11], to[11];
    hc_date_format(from_day, from, sizeof from);
    hc_date_format(from_day + (int64_t)n_days - 1, to, sizeof to);
    for (size_t i = 0; i < n_days; i++) {
        out[i].day = from_day + (int64_t)i;
        out[i].capacity = default_capacity;
        out[i].booked = 0;
    }
    int rc = hc_conn_query(c,
                           "SELECT date, capacity FROM slot_overrides"
                           " WHERE center_id = ? AND date >= ? AND date <= ?",
                           HC_PARAMS(HC_I64(center_id), HC_TEXT(from), HC_TEXT(to)), &ov);
    if (rc)
        goto out;
    rc = hc_conn_query(c,
                       "SELECT date, booked FROM slot_usage"
                       " WHERE center_id = ? AND date >= ? AND date <= ?",
                       HC_PARAMS(HC_I64(center_id), HC_TEXT(from), HC_TEXT(to)), &use);
    if (rc)
        goto out;
    for (size_t i = 0; i < hc_rows_count(ov); i++) {
        int64_t day;
        if (hc_date_parse(hc_rows_text(ov, i, 0), &day) == 0 && day >= from_day &&
            day < from_day + (int64_t)n_days)
            out[day - from_day].capacity = hc_rows_i64(ov, i, 1);
    }
    for (size_t i = 0; i < hc_rows_count(use); i++) {
        int64_t day;
        if (hc_date_parse(hc_rows_text(use, i, 0), &day) == 0 && day >= from_day &&
            day < from_day + (int64_t)n_days)
            out[day - from_day].booked = hc_rows_i64(use, i, 1);
    }
out:
    hc_rows_free(ov);
    hc_rows_free(use);
    return rc;
}

int reservation_store_set_override(hc_conn_t *c, int64_t center_id, int64_t day, int64_t capacity)
{
    char date[11], now[32];
    hc_date_format(day, date, sizeof date);
    hc_now_rfc3339(now);
    return hc_conn_exec(c,
                        "INSERT INTO slot_overrides(center_id, date, capacity, updated_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT(center_id, date) DO UPDATE SET"
                        " capacity = excluded.capacity, updated_at = excluded.updated_at",
                        HC_PARAMS(HC_I64(center_id), HC_TEXT(date), HC_I64(capacity), HC_TEXT(now)),
                        NULL);
}

int reservation_store_slot_take(hc_conn_t *c, int64_t center_id, const char *date, int *booked)
{
    int64_t changes = 0;
    *booked = 0;
    int rc = hc_conn_exec(c,
                          "INSERT INTO slot_usage(center_id, date, booked) VALUES (?, ?, 0)"
                          " ON CONFLICT(center_id, date) DO NOTHING",
                          HC_PARAMS(HC_I64(center_id), HC_TEXT(date)), NULL);
    if (rc)
        return rc;
    /* The capacity is read inside the same statement as the increment: with
     * any number of writers, booked can only pass a row whose check held. */
    rc = hc_conn_exec(c,
                      "UPDATE slot_usage SET booked = booked + 1"
                      " WHERE center_id = ? AND date = ? AND booked < COALESCE("
                      "(SELECT capacity FROM slot_overrides WHERE center_id = ? AND date = ?),"
                      " (SELECT daily_capacity FROM centers WHERE id = ?), 0)",
                      HC_PARAMS(HC_I64(center_id), HC_TEXT(date), HC_I64(center_id), HC_TEXT(date),
                                HC_I64(center_id)),
                      &changes);
    if (rc)
        return rc;
    *booked = changes == 1;
    return 0;
}

int reservation_store_slot_release(hc_conn_t *c, int64_t center_id, const char *date)
{
    int64_t changes = 0;
    int rc = hc_conn_exec(c,
                          "UPDATE slot_usage SET booked = booked - 1"
                          " WHERE center_id = ? AND date = ? AND booked > 0",
                          HC_PARAMS(HC_I64(center_id), HC_TEXT(date)), &changes);
    if (!rc && changes != 1)
        hc_warn("slot usage of center %lld on %s was already 0 on release", (long long)center_id,
                date);
    return rc;
}

int reservation_store_insert(hc_conn_t *c, reservation_t *r)
{
    hc_now_rfc3339(r->created_at);
    hc_strlcpy(r->updated_at, r->created_at, sizeof r->updated_at);
    return hc_conn_insert(
        c,
        "INSERT INTO reservations(order_id, center_id, checkup_date, status, reason,"
        " created_at, updated_at, phone) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        HC_PARAMS(HC_I64(r->order_id), HC_I64(r->center_id), HC_TEXT(r->checkup_date),
                  HC_TEXT(reservation_status_name(r->status)),
                  r->reason[0] ? HC_TEXT(r->reason) : HC_NULLV, HC_TEXT(r->created_at),
                  HC_TEXT(r->updated_at), hc_val_text_opt(r->phone)),
        &r->id);
}

int reservation_store_get(hc_conn_t *c, int64_t id, reservation_t *out)
{
    return hc_store_get_one(c, "SELECT " RES_COLS " FROM reservations WHERE id = ?",
                            HC_PARAMS(HC_I64(id)), row_to_reservation, out);
}

int reservation_store_get_by_order(hc_conn_t *c, int64_t order_id, reservation_t *out)
{
    return hc_store_get_one(c, "SELECT " RES_COLS " FROM reservations WHERE order_id = ?",
                            HC_PARAMS(HC_I64(order_id)), row_to_reservation, out);
}

int reservation_store_update_status(hc_conn_t *c, reservation_t *r)
{
    hc_now_rfc3339(r->updated_at);
    return hc_conn_exec(c,
                        "UPDATE reservations SET status = ?, reason = ?, order_version = ?,"
                        " updated_at = ? WHERE id = ?",
                        HC_PARAMS(HC_TEXT(reservation_status_name(r->status)),
                                  r->reason[0] ? HC_TEXT(r->reason) : HC_NULLV,
                                  HC_I64(r->order_version), HC_TEXT(r->updated_at), HC_I64(r->id)),
                        NULL);
}

/* The conditions of a reservation_filter_t. */
static void reservation_where(const void *extra, hc_where_t *w)
{
    const reservation_filter_t *f = extra;
    hc_val_t center = HC_I64(f->center_id), date = HC_TEXT(f->date);
    hc_val_t status = HC_TEXT(f->status >= 0 ? reservation_status_name(f->status) : "");
    if (f->center_id > 0)
        hc_where_add(w, "center_id = ?", &center);
    if (f->status >= 0)
        hc_where_add(w, "status = ?", &status);
    if (f->date)
        hc_where_add(w, "checkup_date = ?", &date);
}

static const hc_list_def_t reservation_list = {.cols = RES_COLS,
                                               .table = "reservations",
                                               .order = "id",
                                               .order_id_col = "order_id",
                                               .owner_phone_col = "phone",
                                               .center_col = "center_id",
                                               .where_extra = reservation_where,
                                               .decode = row_to_reservation,
                                               .elem_size = sizeof(reservation_t)};

int reservation_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                           int64_t *total)
{
    return hc_store_list(c, &reservation_list, q, items, n, total);
}

int reservation_store_cancellation_insert(hc_conn_t *c, reservation_cancellation_t *x)
{
    hc_now_rfc3339(x->created_at);
    return hc_conn_insert(
        c,
        "INSERT INTO cancellations(order_id, reservation_id, center_id, checkup_date, reason,"
        " created_at, phone) VALUES (?, ?, ?, ?, ?, ?, ?)",
        HC_PARAMS(HC_I64(x->order_id), x->reservation_id > 0 ? HC_I64(x->reservation_id) : HC_NULLV,
                  x->center_id > 0 ? HC_I64(x->center_id) : HC_NULLV,
                  x->checkup_date[0] ? HC_TEXT(x->checkup_date) : HC_NULLV,
                  x->reason[0] ? HC_TEXT(x->reason) : HC_NULLV, HC_TEXT(x->created_at),
                  hc_val_text_opt(x->phone)),
        &x->id);
}

int reservation_store_cancellation_get(hc_conn_t *c, int64_t id, reservation_cancellation_t *out)
{
    return hc_store_get_one(c, "SELECT " CAN_COLS " FROM cancellations WHERE id = ?",
                            HC_PARAMS(HC_I64(id)), row_to_cancellation, out);
}

static const hc_list_def_t cancellation_list = {.cols = CAN_COLS,
                                                .table = "cancellations",
                                                .order = "id",
                                                .order_id_col = "order_id",
                                                .owner_phone_col = "phone",
                                                .center_col = "center_id",
                                                .decode = row_to_cancellation,
                                                .elem_size = sizeof(reservation_cancellation_t)};

int reservation_store_cancellation_list(hc_conn_t *c, const hc_list_query_t *q, void **items,
                                        size_t *n, int64_t *total)
{
    return hc_store_list(c, &cancellation_list, q, items, n, total);
}

int reservation_store_void_order(hc_conn_t *c, int64_t order_id, const char *reason, int *inserted)
{
    char now[32];
    int64_t changes = 0;
    hc_now_rfc3339(now);
    *inserted = 0;
    int rc = hc_conn_exec(c,
                          "INSERT INTO voided_orders(order_id, reason, created_at) VALUES (?, ?, ?)"
                          " ON CONFLICT(order_id) DO NOTHING",
                          HC_PARAMS(HC_I64(order_id), HC_TEXT(reason), HC_TEXT(now)), &changes);
    if (!rc)
        *inserted = changes == 1;
    return rc;
}

int reservation_store_is_voided(hc_conn_t *c, int64_t order_id, int *voided)
{
    int64_t n = 0;
    int rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM voided_orders WHERE order_id = ?",
                               HC_PARAMS(HC_I64(order_id)), &n);
    *voided = !rc && n > 0;
    return rc;
}
