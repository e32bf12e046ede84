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
#include "hc_store.h"
#include "hc_time.h"

const hc_migration_t payment_migrations[PAYMENT_N_MIGRATIONS] = {
    {1, HC_OUTBOX_SCHEMA HC_INBOX_SCHEMA "CREATE TABLE IF NOT EXISTS payments ("
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
    /* Whose a payment is, for the customer's own reads (docs/security.md);
     * payments from before it name nobody (only staff see them). */
    {3, "ALTER TABLE payments ADD COLUMN phone TEXT;"},
};

#define COLUMNS                                                                                    \
    "id, order_id, amount, pay_method, card_last4, status, center_id, checkup_date,"               \
    " reason, created_at, updated_at, phone"

/* hc_row_decode_cb: fills the payment_t at o from row of r (COLUMNS). */
static void row_to_payment(const hc_rows_t *r, size_t row, void *o)
{
    payment_t *out = o;
    memset(out, 0, sizeof *out);
    out->id = hc_rows_i64(r, row, 0);
    out->order_id = hc_rows_i64(r, row, 1);
    out->amount = hc_rows_i64(r, row, 2);
    if (payment_method_parse(hc_rows_text(r, row, 3), &out->method) != 0)
        out->method = PAYMENT_METHOD_NONE;
    hc_rows_copy_text(r, row, 4, out->card_last4, sizeof out->card_last4);
    if (payment_status_parse(hc_rows_text(r, row, 5), &out->status) != 0)
        out->status = PAYMENT_STATUS_NONE;
    out->center_id = hc_rows_i64(r, row, 6);
    hc_rows_copy_text(r, row, 7, out->checkup_date, sizeof out->checkup_date);
    hc_rows_copy_text(r, row, 8, out->reason, sizeof out->reason);
    hc_rows_copy_text(r, row, 9, out->created_at, sizeof out->created_at);
    hc_rows_copy_text(r, row, 10, out->updated_at, sizeof out->updated_at);
    hc_rows_copy_text(r, row, 11, out->phone, sizeof out->phone);
}

int payment_store_find(hc_conn_t *c, int64_t id, payment_t *out)
{
    return hc_store_get_one(c, "SELECT " COLUMNS " FROM payments WHERE id = ?",
                            HC_PARAMS(HC_I64(id)), row_to_payment, out);
}

int payment_store_find_by_order(hc_conn_t *c, int64_t order_id, payment_t *out)
{
    return hc_store_get_one(c, "SELECT " COLUMNS " FROM payments WHERE order_id = ?",
                            HC_PARAMS(HC_I64(order_id)), row_to_payment, out);
}

int payment_store_insert(hc_conn_t *c, payment_t *p)
{
    int64_t id = 0;
    int rc = hc_conn_insert(
        c,
        "INSERT INTO payments(order_id, amount, pay_method, card_last4, status, center_id,"
        " checkup_date, reason, created_at, updated_at, phone)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        HC_PARAMS(HC_I64(p->order_id), HC_I64(p->amount), HC_TEXT(payment_method_name(p->method)),
                  hc_val_text_opt(p->card_last4), HC_TEXT(payment_status_name(p->status)),
                  p->center_id > 0 ? HC_I64(p->center_id) : HC_NULLV,
                  hc_val_text_opt(p->checkup_date), hc_val_text_opt(p->reason),
                  HC_TEXT(p->created_at), HC_TEXT(p->updated_at), hc_val_text_opt(p->phone)),
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
                      HC_PARAMS(HC_TEXT(payment_status_name(PAYMENT_CANCELED)),
                                hc_val_text_opt(p->reason), HC_TEXT(p->updated_at), HC_I64(p->id),
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

static const hc_list_def_t payment_list = {.cols = COLUMNS,
                                           .table = "payments",
                                           .order = "id",
                                           .order_id_col = "order_id",
                                           .owner_phone_col = "phone",
                                           .center_col = "center_id",
                                           .decode = row_to_payment,
                                           .elem_size = sizeof(payment_t)};

int payment_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                       int64_t *total)
{
    return hc_store_list(c, &payment_list, q, items, n, total);
}
