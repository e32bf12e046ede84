/* payment_store: SQL for payment histories. The UNIQUE orderId column is what
 * makes a charge idempotent per order, even if two writers ever raced. */
#include "payment_store.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_inbox.h"
#include "hc_outbox.h"

const hc_migration_t payment_migrations[PAYMENT_N_MIGRATIONS] = {
    {1, HC_OUTBOX_SCHEMA HC_INBOX_SCHEMA
        "CREATE TABLE IF NOT EXISTS payments ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " order_id INTEGER NOT NULL UNIQUE,"
        " amount INTEGER NOT NULL,"
        " pay_method TEXT NOT NULL,"
        " card_last4 TEXT,"
        " status TEXT NOT NULL,"
        " center_id INTEGER,"
        " checkup_date TEXT,"
        " reason TEXT,"
        " created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL);"},
    {2, HC_DEADLETTER_SCHEMA},
};

#define COLUMNS                                                                          \
    "id, order_id, amount, pay_method, card_last4, status, center_id, checkup_date,"     \
    " reason, created_at, updated_at"

/* Copies nullable text column col of row into dst (size bytes), "" for NULL. */
static void text_col(const hc_rows_t *r, size_t row, size_t col, char *dst, size_t size)
{
    const char *s = hc_rows_text(r, row, col);
    hc_utf8_copy(dst, size, s ? s : "");
}

/* Fills out from row of r (selected with COLUMNS). */
static void row_to_payment(const hc_rows_t *r, size_t row, payment_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = hc_rows_i64(r, row, 0);
    out->order_id = hc_rows_i64(r, row, 1);
    out->amount = hc_rows_i64(r, row, 2);
    if (payment_method_parse(hc_rows_text(r, row, 3), &out->method) != 0)
        out->method = PAYMENT_METHOD_NONE;
    text_col(r, row, 4, out->card_last4, sizeof out->card_last4);
    if (payment_status_parse(hc_rows_text(r, row, 5), &out->status) != 0)
        out->status = PAYMENT_STATUS_NONE;
    out->center_id = hc_rows_i64(r, row, 6);
    text_col(r, row, 7, out->checkup_date, sizeof out->checkup_date);
    text_col(r, row, 8, out->reason, sizeof out->reason);
    text_col(r, row, 9, out->created_at, sizeof out->created_at);
    text_col(r, row, 10, out->updated_at, sizeof out->updated_at);
}

/* Runs a one-row select with one integer parameter into *out. */
static int find_one(hc_conn_t *c, const char *sql, int64_t key, payment_t *out)
{
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, sql, HC_PARAMS(HC_I64(key)), &r);
    if (rc)
        goto out;
    if (hc_rows_count(r) == 0) {
        rc = HC_ENOTFOUND;
        goto out;
    }
    row_to_payment(r, 0, out);
out:
    hc_rows_free(r);
    return rc;
}

int payment_store_find(hc_conn_t *c, int64_t id, payment_t *out)
{
    return find_one(c, "SELECT " COLUMNS " FROM payments WHERE id = ?", id, out);
}

int payment_store_find_by_order(hc_conn_t *c, int64_t order_id, payment_t *out)
{
    return find_one(c, "SELECT " COLUMNS " FROM payments WHERE order_id = ?", order_id, out);
}

/* Text parameter for an optional string: NULL when empty. */
static hc_val_t opt_text(const char *s)
{
    return s && *s ? HC_TEXT(s) : HC_NULLV;
}

int payment_store_insert(hc_conn_t *c, payment_t *p)
{
    int64_t id = 0;
    int rc = hc_conn_query_i64(
        c,
        "INSERT INTO payments(order_id, amount, pay_method, card_last4, status, center_id,"
        " checkup_date, reason, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        HC_PARAMS(HC_I64(p->order_id), HC_I64(p->amount), HC_TEXT(payment_method_name(p->method)),
                  opt_text(p->card_last4), HC_TEXT(payment_status_name(p->status)),
                  p->center_id > 0 ? HC_I64(p->center_id) : HC_NULLV, opt_text(p->checkup_date),
                  opt_text(p->reason), HC_TEXT(p->created_at), HC_TEXT(p->updated_at)),
        &id);
    if (rc == 0)
        p->id = id;
    return rc;
}

int payment_store_cancel(hc_conn_t *c, payment_t *p, const char *reason, const hc_trace_t *trace)
{
    char now[32];
    int64_t changes = 0;
    json_t *ev = NULL;
    hc_now_rfc3339(now);
    int rc = payment_cancel(p, reason, now);
    if (rc)
        goto out;
    /* The status guard keeps a stale in-memory record from cancelling twice. */
    rc = hc_conn_exec(c,
                      "UPDATE payments SET status = ?, reason = ?, updated_at = ?"
                      " WHERE id = ? AND status = ?",
                      HC_PARAMS(HC_TEXT(payment_status_name(PAYMENT_CANCELED)), opt_text(p->reason),
                                HC_TEXT(p->updated_at), HC_I64(p->id),
                                HC_TEXT(payment_status_name(PAYMENT_APPROVED))),
                      &changes);
    if (rc)
        goto out;
    if (changes != 1) {
        rc = HC_ECONFLICT;
        goto out;
    }
    ev = payment_event_canceled(p, trace);
    rc = hc_outbox_add(c, ev);
out:
    json_decref(ev);
    return rc;
}

int payment_store_list(hc_conn_t *c, int64_t order_id, int64_t page, int64_t size,
                       payment_t **items, size_t *n, int64_t *total)
{
    hc_rows_t *r = NULL;
    int rc;
    *items = NULL;
    *n = 0;
    *total = 0;
    if (order_id > 0)
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM payments WHERE order_id = ?",
                               HC_PARAMS(HC_I64(order_id)), total);
    else
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM payments", HC_NOPARAMS, total);
    if (rc)
        goto out;
    if (order_id > 0)
        rc = hc_conn_query(c,
                           "SELECT " COLUMNS " FROM payments WHERE order_id = ?"
                           " ORDER BY id LIMIT ? OFFSET ?",
                           HC_PARAMS(HC_I64(order_id), HC_I64(size), HC_I64(page * size)), &r);
    else
        rc = hc_conn_query(c, "SELECT " COLUMNS " FROM payments ORDER BY id LIMIT ? OFFSET ?",
                           HC_PARAMS(HC_I64(size), HC_I64(page * size)), &r);
    if (rc)
        goto out;
    size_t count = hc_rows_count(r);
    if (count) {
        *items = hc_xcalloc(count, sizeof **items);
        for (size_t i = 0; i < count; i++)
            row_to_payment(r, i, &(*items)[i]);
    }
    *n = count;
out:
    hc_rows_free(r);
    return rc;
}
