/* order_store: SQL for orders and idempotency keys, with migrations. */
#include "order_store.h"

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
#include "order_domain.h"

const hc_migration_t order_migrations[ORDER_N_MIGRATIONS] = {
    {1, HC_OUTBOX_SCHEMA HC_INBOX_SCHEMA
     "CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
     " phone TEXT NOT NULL, order_type TEXT NOT NULL, checkup_date TEXT NOT NULL,"
     " center_id INTEGER NOT NULL, pay_method TEXT NOT NULL, card_last4 TEXT,"
     " amount INTEGER NOT NULL, payment_id INTEGER, status TEXT NOT NULL, reason TEXT,"
     " cancel_requested INTEGER NOT NULL DEFAULT 0, trace_id TEXT,"
     " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, created_ms INTEGER NOT NULL);"
     "CREATE INDEX orders_phone ON orders(phone, id);"
     /* Only PENDING orders are ever looked up by status (recovery), so
      * later status changes do not rewrite this index. */
     "CREATE INDEX orders_pending ON orders(id) WHERE status = 'PENDING';"
     "CREATE TABLE idempotency (scope TEXT NOT NULL, idem_key TEXT NOT NULL,"
     " order_id INTEGER, status INTEGER NOT NULL DEFAULT 0, body TEXT,"
     " created_ms INTEGER NOT NULL, PRIMARY KEY (scope, idem_key));"},
    /* Order owns the booking's status: its versioned history lives with it
     * (a JSON array of {status, at}; version = its length), with what
     * reservation reported while the order was still PENDING. Idempotency
     * keys remember a digest of the request they answered. */
    {2, "ALTER TABLE orders ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE orders ADD COLUMN history TEXT NOT NULL DEFAULT '[]';"
        "ALTER TABLE orders ADD COLUMN reservation_id INTEGER;"
        "ALTER TABLE orders ADD COLUMN reservation_fact INTEGER NOT NULL DEFAULT 0;"
        /* A booking from before versions gets its current status as history. */
        "UPDATE orders SET version = 1, history = json_array(json_object('status', status,"
        " 'at', updated_at)) WHERE status <> 'PENDING';"
        "ALTER TABLE idempotency ADD COLUMN digest TEXT;"},
    /* Events this service cannot apply are parked, never dropped. */
    {3, HC_DEADLETTER_SCHEMA},
};

#define ORDER_COLS                                                                                 \
    "id, name, phone, order_type, checkup_date, center_id, pay_method, card_last4, amount,"        \
    " payment_id, status, reason, cancel_requested, trace_id, created_at, updated_at,"             \
    " created_ms, version, history, reservation_id, reservation_fact"

/* hc_row_decode_cb: fills the order_t at out from row i of r (ORDER_COLS). */
static void row_to_order(const hc_rows_t *r, size_t i, void *out)
{
    order_t *o = out;
    memset(o, 0, sizeof *o);
    o->id = hc_rows_i64(r, i, 0);
    hc_rows_copy_text(r, i, 1, o->name, sizeof o->name);
    hc_rows_copy_text(r, i, 2, o->phone, sizeof o->phone);
    hc_rows_copy_text(r, i, 3, o->order_type, sizeof o->order_type);
    hc_rows_copy_text(r, i, 4, o->checkup_date, sizeof o->checkup_date);
    o->center_id = hc_rows_i64(r, i, 5);
    hc_rows_copy_text(r, i, 6, o->pay_method, sizeof o->pay_method);
    hc_rows_copy_text(r, i, 7, o->card_last4, sizeof o->card_last4);
    o->amount = hc_rows_i64(r, i, 8);
    o->payment_id = hc_rows_i64(r, i, 9);
    if (order_status_parse(hc_rows_text(r, i, 10), &o->status) != 0)
        o->status = ORDER_FAILED; /* unreadable: never act on it as live */
    hc_rows_copy_text(r, i, 11, o->reason, sizeof o->reason);
    o->cancel_requested = (int)hc_rows_i64(r, i, 12);
    hc_rows_copy_text(r, i, 13, o->trace_id, sizeof o->trace_id);
    hc_rows_copy_text(r, i, 14, o->created_at, sizeof o->created_at);
    hc_rows_copy_text(r, i, 15, o->updated_at, sizeof o->updated_at);
    o->created_ms = hc_rows_i64(r, i, 16);
    order_history_parse(hc_rows_text(r, i, 18), o);
    if (o->version != hc_rows_i64(r, i, 17))
        hc_warn("order %lld: stored version %lld and history length %lld differ", (long long)o->id,
                (long long)hc_rows_i64(r, i, 17), (long long)o->version);
    o->reservation_id = hc_rows_i64(r, i, 19);
    o->reservation_fact = (order_reservation_fact_t)hc_rows_i64(r, i, 20);
}

/* The history column's text for o (caller frees). */
static char *history_text(const order_t *o)
{
    json_t *h = order_history_json(o, o->version);
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    return text;
}

int order_store_insert(hc_conn_t *c, order_t *o)
{
    hc_now_rfc3339(o->created_at);
    memcpy(o->updated_at, o->created_at, sizeof o->updated_at);
    o->created_ms = hc_now_ms();
    char *history = history_text(o);
    int rc = hc_conn_insert(
        c,
        "INSERT INTO orders(name, phone, order_type, checkup_date, center_id, pay_method,"
        " card_last4, amount, payment_id, status, reason, trace_id, created_at, updated_at,"
        " created_ms, version, history) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        HC_PARAMS(HC_TEXT(o->name), HC_TEXT(o->phone), HC_TEXT(o->order_type),
                  HC_TEXT(o->checkup_date), HC_I64(o->center_id), HC_TEXT(o->pay_method),
                  o->card_last4[0] ? HC_TEXT(o->card_last4) : HC_NULLV, HC_I64(o->amount),
                  o->payment_id ? HC_I64(o->payment_id) : HC_NULLV,
                  HC_TEXT(order_status_name(o->status)),
                  o->reason[0] ? HC_TEXT(o->reason) : HC_NULLV, HC_TEXT(o->trace_id),
                  HC_TEXT(o->created_at), HC_TEXT(o->updated_at), HC_I64(o->created_ms),
                  HC_I64(o->version), HC_TEXT(history)),
        &o->id);
    free(history);
    return rc;
}

int order_store_get(hc_conn_t *c, int64_t id, order_t *out)
{
    return hc_store_get_one(c, "SELECT " ORDER_COLS " FROM orders WHERE id = ?",
                            HC_PARAMS(HC_I64(id)), row_to_order, out);
}

int order_store_update(hc_conn_t *c, const order_t *o, int64_t expected_version)
{
    char now[32];
    hc_now_rfc3339(now);
    char *history = history_text(o);
    int64_t changed = 0;
    int rc = hc_conn_exec(
        c,
        "UPDATE orders SET status = ?, version = ?, history = ?, reason = ?, payment_id = ?,"
        " reservation_id = ?, reservation_fact = ?, cancel_requested = ?, updated_at = ?"
        " WHERE id = ? AND version = ?",
        HC_PARAMS(HC_TEXT(order_status_name(o->status)), HC_I64(o->version), HC_TEXT(history),
                  o->reason[0] ? HC_TEXT(o->reason) : HC_NULLV,
                  o->payment_id ? HC_I64(o->payment_id) : HC_NULLV,
                  o->reservation_id ? HC_I64(o->reservation_id) : HC_NULLV,
                  HC_I64(o->reservation_fact), HC_I64(o->cancel_requested),
                  HC_TEXT(o->version > expected_version ? o->updated_at : now), HC_I64(o->id),
                  HC_I64(expected_version)),
        &changed);
    free(history);
    if (!rc && changed == 0)
        rc = HC_ECONFLICT;
    return rc;
}

static const hc_list_def_t order_list = {.cols = ORDER_COLS,
                                         .table = "orders",
                                         .order = "id DESC",
                                         .phone_col = "phone",
                                         .owner_phone_col = "phone",
                                         .center_col = "center_id",
                                         .decode = row_to_order,
                                         .elem_size = sizeof(order_t)};

int order_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                     int64_t *total)
{
    return hc_store_list(c, &order_list, q, items, n, total);
}

int order_store_stale_pending(hc_conn_t *c, int64_t before_ms, int64_t *ids, size_t max, size_t *n)
{
    hc_rows_t *r = NULL;
    *n = 0;
    int rc = hc_conn_query(
        c, "SELECT id FROM orders WHERE status = 'PENDING' AND created_ms < ? ORDER BY id LIMIT ?",
        HC_PARAMS(HC_I64(before_ms), HC_I64(max)), &r);
    for (size_t i = 0; !rc && i < hc_rows_count(r); i++)
        ids[(*n)++] = hc_rows_i64(r, i, 0);
    hc_rows_free(r);
    return rc;
}

int order_idem_get(hc_conn_t *c, const char *scope, const char *key, order_idem_t *out)
{
    hc_rows_t *r = NULL;
    memset(out, 0, sizeof *out);
    int rc = hc_conn_query(c,
                           "SELECT order_id, status, body, digest FROM idempotency"
                           " WHERE scope = ? AND idem_key = ?",
                           HC_PARAMS(HC_TEXT(scope), HC_TEXT(key)), &r);
    if (!rc && hc_rows_count(r) == 0)
        rc = HC_ENOTFOUND;
    if (!rc) {
        out->order_id = hc_rows_i64(r, 0, 0);
        out->status = (int)hc_rows_i64(r, 0, 1);
        const char *b = hc_rows_text(r, 0, 2);
        out->body = b ? hc_xstrdup(b) : NULL;
        hc_rows_copy_text(r, 0, 3, out->digest, sizeof out->digest);
    }
    hc_rows_free(r);
    return rc;
}

int order_idem_claim(hc_conn_t *c, const char *scope, const char *key, const char *digest,
                     int64_t order_id)
{
    return hc_conn_exec(c,
                        "INSERT INTO idempotency(scope, idem_key, digest, order_id, created_ms)"
                        " VALUES (?, ?, ?, ?, ?)",
                        HC_PARAMS(HC_TEXT(scope), HC_TEXT(key), HC_TEXT(digest), HC_I64(order_id),
                                  HC_I64(hc_now_ms())),
                        NULL);
}

int order_idem_finish(hc_conn_t *c, const char *scope, const char *key, int status,
                      const char *body)
{
    return hc_conn_exec(
        c, "UPDATE idempotency SET status = ?, body = ? WHERE scope = ? AND idem_key = ?",
        HC_PARAMS(HC_I64(status), HC_TEXT(body), HC_TEXT(scope), HC_TEXT(key)), NULL);
}

int order_idem_forget(hc_conn_t *c, const char *scope, const char *key)
{
    return hc_conn_exec(c, "DELETE FROM idempotency WHERE scope = ? AND idem_key = ?",
                        HC_PARAMS(HC_TEXT(scope), HC_TEXT(key)), NULL);
}
