/* notification_store: SQL of the mypage view, its history and the SMS queue,
 * in the common subset of SQLite and PostgreSQL (see hc_db.h). */
#include "notification_store.h"

#include <stdlib.h>
#include <string.h>

#include "auth_store.h"
#include "hc_buf.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_inbox.h"
#include "hc_outbox.h"
#include "hc_store.h"

const hc_migration_t notification_migrations[NOTIFICATION_N_MIGRATIONS] = {
    {1, HC_OUTBOX_SCHEMA HC_INBOX_SCHEMA
     /* The view, one row per order (id = orderId). Unknown fields stay NULL
      * until an event carries them. */
     "CREATE TABLE IF NOT EXISTS mypage (order_id INTEGER PRIMARY KEY, name TEXT,"
     " phone TEXT, order_type TEXT, checkup_date TEXT, center_id INTEGER, amount INTEGER,"
     " status TEXT NOT NULL, payment_id INTEGER, reservation_id INTEGER,"
     " refunded INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,"
     " updated_at TEXT NOT NULL);"
     "CREATE INDEX IF NOT EXISTS mypage_phone ON mypage(phone, order_id);"
     /* Each status an order reached, once. */
     "CREATE TABLE IF NOT EXISTS mypage_history (order_id INTEGER NOT NULL,"
     " status TEXT NOT NULL, status_rank INTEGER NOT NULL, at TEXT NOT NULL,"
     " PRIMARY KEY (order_id, status)) WITHOUT ROWID;"
     /* One SMS per (order, announced status). next_attempt_at (ms) is NULL
      * once nothing more is to be tried (SENT, or FAILED for good). */
     "CREATE TABLE IF NOT EXISTS notifications (id INTEGER PRIMARY KEY AUTOINCREMENT,"
     " order_id INTEGER NOT NULL, order_status TEXT NOT NULL, to_masked TEXT,"
     " sms_text TEXT NOT NULL, provider TEXT NOT NULL, delivery_status TEXT NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_attempt_at INTEGER,"
     " trace_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
     " UNIQUE (order_id, order_status));"
     /* Only rows with something left to try, in id order: the sender's
      * pass reads these and never walks the SENT history. */
     "CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(id)"
     " WHERE next_attempt_at IS NOT NULL;"},
    /* The view follows order, the booking's owner: its version (0 for a row
     * only a refund has created: not shown) and its whole history, as order's
     * latest event gave them. Rows from before versions keep their history
     * and take version 1, as order's own migration gives their bookings. */
    {2, "ALTER TABLE mypage ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE mypage ADD COLUMN history TEXT NOT NULL DEFAULT '[]';"
        "UPDATE mypage SET history = COALESCE((SELECT json_group_array(json_object("
        "'status', h.status, 'at', h.at)) FROM (SELECT status, at FROM mypage_history h2"
        " WHERE h2.order_id = mypage.order_id ORDER BY status_rank, at) h), '[]');"
        "UPDATE mypage SET version = 1 WHERE status <> 'PENDING';"
        "DROP TABLE mypage_history;"
        "CREATE INDEX IF NOT EXISTS mypage_visible ON mypage(order_id) WHERE version > 0;"},
    /* Events this service cannot apply are parked, never dropped. */
    {3, HC_DEADLETTER_SCHEMA},
    /* Sign-in: admin accounts and SMS codes (auth_store.c). */
    {4, auth_store_schema},
};

#define MYPAGE_COLS                                                                                \
    "order_id, name, phone, order_type, checkup_date, center_id, amount, status,"                  \
    " payment_id, reservation_id, refunded, created_at, updated_at, version, history"

#define MSG_COLS                                                                                   \
    "n.id, n.order_id, n.order_status, n.to_masked, n.sms_text, n.provider,"                       \
    " n.delivery_status, n.attempts, n.last_error, n.next_attempt_at, n.trace_id,"                 \
    " n.created_at, n.updated_at"

/* hc_row_decode_cb: decodes row i of a MYPAGE_COLS result into the
 * notification_mypage_t at out. */
static void mypage_from_row(const hc_rows_t *r, size_t i, void *out)
{
    notification_mypage_t *m = out;
    memset(m, 0, sizeof *m);
    m->order_id = hc_rows_i64(r, i, 0);
    hc_rows_copy_text(r, i, 1, m->name, sizeof m->name);
    hc_rows_copy_text(r, i, 2, m->phone, sizeof m->phone);
    hc_rows_copy_text(r, i, 3, m->order_type, sizeof m->order_type);
    hc_rows_copy_text(r, i, 4, m->checkup_date, sizeof m->checkup_date);
    m->center_id = hc_rows_i64(r, i, 5);
    m->amount = hc_rows_i64(r, i, 6);
    hc_rows_copy_text(r, i, 7, m->status, sizeof m->status);
    m->payment_id = hc_rows_i64(r, i, 8);
    m->reservation_id = hc_rows_i64(r, i, 9);
    m->refunded = hc_rows_i64(r, i, 10) != 0;
    hc_rows_copy_text(r, i, 11, m->created_at, sizeof m->created_at);
    hc_rows_copy_text(r, i, 12, m->updated_at, sizeof m->updated_at);
    m->version = hc_rows_i64(r, i, 13);
    notification_history_parse(hc_rows_text(r, i, 14), m);
}

int notification_history_parse(const char *text, notification_mypage_t *m)
{
    json_t *arr = json_loads(text ? text : "", 0, NULL);
    int rc = notification_history_take(arr, m);
    json_decref(arr);
    return rc;
}

int notification_history_take(const json_t *arr, notification_mypage_t *m)
{
    size_t n = json_array_size(arr);
    int rc = json_is_array(arr) && n <= NOTIFICATION_MAX_HISTORY ? 0 : HC_EINVAL;
    m->n_history = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *at = json_string_value(json_object_get(e, "at"));
        if (!st || !at || strlen(st) >= sizeof m->history[0].status ||
            strlen(at) >= sizeof m->history[0].at) {
            rc = HC_EINVAL;
            break;
        }
        hc_strlcpy(m->history[i].status, st, sizeof m->history[i].status);
        hc_strlcpy(m->history[i].at, at, sizeof m->history[i].at);
        m->n_history = i + 1;
    }
    if (rc)
        m->n_history = 0;
    return rc;
}

/* The history of m as JSON text (caller frees). */
static char *history_text(const notification_mypage_t *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->n_history; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "status", m->history[i].status, "at", m->history[i].at));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* hc_row_decode_cb: decodes row i of a MSG_COLS result into the
 * notification_msg_t at out. */
static void msg_from_row(const hc_rows_t *r, size_t i, void *out)
{
    notification_msg_t *m = out;
    memset(m, 0, sizeof *m);
    m->id = hc_rows_i64(r, i, 0);
    m->order_id = hc_rows_i64(r, i, 1);
    hc_rows_copy_text(r, i, 2, m->order_status, sizeof m->order_status);
    hc_rows_copy_text(r, i, 3, m->to, sizeof m->to);
    hc_rows_copy_text(r, i, 4, m->text, sizeof m->text);
    hc_rows_copy_text(r, i, 5, m->provider, sizeof m->provider);
    hc_rows_copy_text(r, i, 6, m->delivery_status, sizeof m->delivery_status);
    m->attempts = (int)hc_rows_i64(r, i, 7);
    hc_rows_copy_text(r, i, 8, m->last_error, sizeof m->last_error);
    m->next_attempt_at = hc_rows_i64(r, i, 9);
    hc_rows_copy_text(r, i, 10, m->trace_id, sizeof m->trace_id);
    hc_rows_copy_text(r, i, 11, m->created_at, sizeof m->created_at);
    hc_rows_copy_text(r, i, 12, m->updated_at, sizeof m->updated_at);
}

int notification_store_put(hc_conn_t *c, const notification_mypage_t *m, const char *now)
{
    char *history = history_text(m);
    int rc = hc_conn_exec(
        c,
        "INSERT INTO mypage (order_id, name, phone, order_type, checkup_date, center_id, amount,"
        " status, payment_id, reservation_id, refunded, created_at, updated_at, version, history)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
        " ON CONFLICT (order_id) DO UPDATE SET name = excluded.name, phone = excluded.phone,"
        " order_type = excluded.order_type, checkup_date = excluded.checkup_date,"
        " center_id = excluded.center_id, amount = excluded.amount, status = excluded.status,"
        " payment_id = excluded.payment_id, reservation_id = excluded.reservation_id,"
        " updated_at = excluded.updated_at, version = excluded.version,"
        " history = excluded.history",
        HC_PARAMS(HC_I64(m->order_id), hc_val_text_opt(m->name), hc_val_text_opt(m->phone),
                  hc_val_text_opt(m->order_type), hc_val_text_opt(m->checkup_date),
                  hc_val_i64_opt(m->center_id), hc_val_i64_opt(m->amount), HC_TEXT(m->status),
                  hc_val_i64_opt(m->payment_id), hc_val_i64_opt(m->reservation_id), HC_TEXT(now),
                  HC_TEXT(now), HC_I64(m->version), HC_TEXT(history)),
        NULL);
    free(history);
    return rc;
}

int notification_store_get(hc_conn_t *c, int64_t order_id, notification_mypage_t *out)
{
    return hc_store_get_one(c, "SELECT " MYPAGE_COLS " FROM mypage WHERE order_id = ?",
                            HC_PARAMS(HC_I64(order_id)), mypage_from_row, out);
}

/* hc_row_decode_cb: row i of "version, status" into the
 * notification_version_t at out. */
static void version_from_row(const hc_rows_t *r, size_t i, void *out)
{
    notification_version_t *v = out;
    v->version = hc_rows_i64(r, i, 0);
    hc_rows_copy_text(r, i, 1, v->status, sizeof v->status);
}

int notification_store_version(hc_conn_t *c, int64_t order_id, notification_version_t *out)
{
    return hc_store_get_one(c, "SELECT version, status FROM mypage WHERE order_id = ?",
                            HC_PARAMS(HC_I64(order_id)), version_from_row, out);
}

int notification_store_set_refunded(hc_conn_t *c, int64_t order_id, const char *now)
{
    return hc_conn_exec(c,
                        "INSERT INTO mypage (order_id, status, refunded, created_at, updated_at)"
                        " VALUES (?, 'PENDING', 1, ?, ?) ON CONFLICT (order_id) DO UPDATE SET"
                        " refunded = 1, updated_at = excluded.updated_at",
                        HC_PARAMS(HC_I64(order_id), HC_TEXT(now), HC_TEXT(now)), NULL);
}

/* Rows without a version (only a refund seen) are not shown. */
static const hc_list_def_t mypage_list = {.cols = MYPAGE_COLS,
                                          .table = "mypage",
                                          .where = "version > 0",
                                          .order = "order_id",
                                          .phone_col = "phone",
                                          .owner_phone_col = "phone",
                                          .center_col = "center_id",
                                          .decode = mypage_from_row,
                                          .elem_size = sizeof(notification_mypage_t)};

int notification_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                            int64_t *total)
{
    return hc_store_list(c, &mypage_list, q, items, n, total);
}

int notification_store_queue(hc_conn_t *c, int64_t order_id, const char *status, const char *to,
                             const char *text, const char *provider, const char *trace_id,
                             int64_t now_ms, const char *now, int *queued)
{
    int64_t changes = 0;
    int rc = hc_conn_exec(
        c,
        "INSERT INTO notifications (order_id, order_status, to_masked, sms_text, provider,"
        " delivery_status, attempts, next_attempt_at, trace_id, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'QUEUED', 0, ?, ?, ?, ?)"
        " ON CONFLICT (order_id, order_status) DO NOTHING",
        HC_PARAMS(HC_I64(order_id), HC_TEXT(status), hc_val_text_opt(to), HC_TEXT(text),
                  HC_TEXT(provider), HC_I64(now_ms), hc_val_text_opt(trace_id), HC_TEXT(now),
                  HC_TEXT(now)),
        &changes);
    if (queued)
        *queued = !rc && changes == 1;
    return rc;
}

/* The API's view of a message: MSG_COLS and whose it is, from the mypage of
 * its order (the same database). */
#define MSG_VIEW_COLS MSG_COLS ", m.phone, m.center_id"
#define MSG_VIEW_TABLE "notifications n LEFT JOIN mypage m ON m.order_id = n.order_id"

/* hc_row_decode_cb: decodes row i of a MSG_VIEW_COLS result. */
static void msg_view_from_row(const hc_rows_t *r, size_t i, void *out)
{
    notification_msg_t *m = out;
    msg_from_row(r, i, out);
    hc_rows_copy_text(r, i, 13, m->owner_phone, sizeof m->owner_phone);
    m->owner_center = hc_rows_i64(r, i, 14);
}

int notification_store_get_msg(hc_conn_t *c, int64_t id, notification_msg_t *out)
{
    return hc_store_get_one(c, "SELECT " MSG_VIEW_COLS " FROM " MSG_VIEW_TABLE " WHERE n.id = ?",
                            HC_PARAMS(HC_I64(id)), msg_view_from_row, out);
}

static const hc_list_def_t msg_list = {.cols = MSG_VIEW_COLS,
                                       .table = MSG_VIEW_TABLE,
                                       .order = "n.id",
                                       .order_id_col = "n.order_id",
                                       .owner_phone_col = "m.phone",
                                       .center_col = "m.center_id",
                                       .decode = msg_view_from_row,
                                       .elem_size = sizeof(notification_msg_t)};

int notification_store_list_msgs(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                                 int64_t *total)
{
    return hc_store_list(c, &msg_list, q, items, n, total);
}

/* Reads the notifications_pending index, never the SENT history. */
const char notification_due_sql[] =
    "SELECT " MSG_COLS ", m.phone FROM notifications n"
    " JOIN mypage m ON m.order_id = n.order_id"
    " WHERE n.next_attempt_at IS NOT NULL AND n.next_attempt_at <= ?"
    " AND n.delivery_status <> 'SENT'"
    " AND m.phone IS NOT NULL ORDER BY n.id LIMIT ?";

int notification_store_due(hc_conn_t *c, int64_t now_ms, size_t limit, notification_due_t **items,
                           size_t *n)
{
    *items = NULL;
    *n = 0;
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, notification_due_sql,
                           HC_PARAMS(HC_I64(now_ms), HC_I64((int64_t)limit)), &r);
    if (rc)
        return rc;
    size_t count = hc_rows_count(r);
    notification_due_t *list = hc_xcalloc(count ? count : 1, sizeof *list);
    for (size_t i = 0; i < count; i++) {
        msg_from_row(r, i, &list[i].msg);
        hc_rows_copy_text(r, i, 13, list[i].phone, sizeof list[i].phone);
    }
    hc_rows_free(r);
    *items = list;
    *n = count;
    return 0;
}

int notification_store_claim(hc_conn_t *c, int64_t id, int64_t expected, int64_t lease_until_ms,
                             int *claimed)
{
    int64_t changes = 0;
    int rc =
        hc_conn_exec(c,
                     "UPDATE notifications SET next_attempt_at = ?"
                     " WHERE id = ? AND next_attempt_at = ? AND delivery_status <> 'SENT'",
                     HC_PARAMS(HC_I64(lease_until_ms), HC_I64(id), HC_I64(expected)), &changes);
    *claimed = !rc && changes == 1;
    return rc;
}

int notification_store_mark_sent(hc_conn_t *c, int64_t id, const char *provider, const char *now)
{
    return hc_conn_exec(c,
                        "UPDATE notifications SET delivery_status = 'SENT', provider = ?,"
                        " attempts = attempts + 1, next_attempt_at = NULL, updated_at = ?"
                        " WHERE id = ? AND delivery_status <> 'SENT'",
                        HC_PARAMS(HC_TEXT(provider), HC_TEXT(now), HC_I64(id)), NULL);
}

int notification_store_mark_failed(hc_conn_t *c, int64_t id, const char *provider, int attempts,
                                   const char *error, int64_t next_ms, const char *now)
{
    return hc_conn_exec(c,
                        "UPDATE notifications SET delivery_status = 'FAILED', provider = ?,"
                        " attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ?"
                        " WHERE id = ? AND delivery_status <> 'SENT'",
                        HC_PARAMS(HC_TEXT(provider), HC_I64(attempts), HC_TEXT(error),
                                  hc_val_i64_opt(next_ms), HC_TEXT(now), HC_I64(id)),
                        NULL);
}

int64_t notification_store_pending(hc_db_t *db)
{
    return hc_store_gauge(db, "SELECT COUNT(*) FROM notifications WHERE next_attempt_at IS NOT NULL"
                              " AND delivery_status <> 'SENT'");
}
