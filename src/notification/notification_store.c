/* notification_store: SQL of the mypage view, its history and the SMS queue,
 * in the common subset of SQLite and PostgreSQL (see hc_db.h). */
#include "notification_store.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_inbox.h"
#include "hc_outbox.h"

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
};

#define MYPAGE_COLS                                                                       \
    "order_id, name, phone, order_type, checkup_date, center_id, amount, status,"        \
    " payment_id, reservation_id, refunded, created_at, updated_at, version, history"

#define MSG_COLS                                                                          \
    "n.id, n.order_id, n.order_status, n.to_masked, n.sms_text, n.provider,"             \
    " n.delivery_status, n.attempts, n.last_error, n.next_attempt_at, n.trace_id,"       \
    " n.created_at, n.updated_at"

/* A text parameter that is NULL when s is empty (unknown). */
static hc_val_t text_or_null(const char *s)
{
    return s && *s ? HC_TEXT(s) : HC_NULLV;
}

/* An integer parameter that is NULL when v is 0 (unknown). */
static hc_val_t i64_or_null(int64_t v)
{
    return v ? HC_I64(v) : HC_NULLV;
}

/* Copies text cell (row, col) into dst; NULL becomes "". */
static void copy_cell(char *dst, size_t size, const hc_rows_t *r, size_t row, size_t col)
{
    const char *s = hc_rows_text(r, row, col);
    hc_strlcpy(dst, s ? s : "", size);
}

/* Decodes row i of a MYPAGE_COLS result into m (history left empty). */
static void mypage_from_row(const hc_rows_t *r, size_t i, notification_mypage_t *m)
{
    memset(m, 0, sizeof *m);
    m->order_id = hc_rows_i64(r, i, 0);
    copy_cell(m->name, sizeof m->name, r, i, 1);
    copy_cell(m->phone, sizeof m->phone, r, i, 2);
    copy_cell(m->order_type, sizeof m->order_type, r, i, 3);
    copy_cell(m->checkup_date, sizeof m->checkup_date, r, i, 4);
    m->center_id = hc_rows_i64(r, i, 5);
    m->amount = hc_rows_i64(r, i, 6);
    copy_cell(m->status, sizeof m->status, r, i, 7);
    m->payment_id = hc_rows_i64(r, i, 8);
    m->reservation_id = hc_rows_i64(r, i, 9);
    m->refunded = hc_rows_i64(r, i, 10) != 0;
    copy_cell(m->created_at, sizeof m->created_at, r, i, 11);
    copy_cell(m->updated_at, sizeof m->updated_at, r, i, 12);
    m->version = hc_rows_i64(r, i, 13);
    notification_history_parse(hc_rows_text(r, i, 14), m);
}

int notification_history_parse(const char *text, notification_mypage_t *m)
{
    json_t *arr = json_loads(text ? text : "", 0, NULL);
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
    json_decref(arr);
    return rc;
}

/* The history of m as JSON text (caller frees). */
static char *history_text(const notification_mypage_t *m)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < m->n_history; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "status", m->history[i].status, "at",
                                             m->history[i].at));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* Decodes row i of a MSG_COLS result into m. */
static void msg_from_row(const hc_rows_t *r, size_t i, notification_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->id = hc_rows_i64(r, i, 0);
    m->order_id = hc_rows_i64(r, i, 1);
    copy_cell(m->order_status, sizeof m->order_status, r, i, 2);
    copy_cell(m->to, sizeof m->to, r, i, 3);
    copy_cell(m->text, sizeof m->text, r, i, 4);
    copy_cell(m->provider, sizeof m->provider, r, i, 5);
    copy_cell(m->delivery_status, sizeof m->delivery_status, r, i, 6);
    m->attempts = (int)hc_rows_i64(r, i, 7);
    copy_cell(m->last_error, sizeof m->last_error, r, i, 8);
    m->next_attempt_at = hc_rows_i64(r, i, 9);
    copy_cell(m->trace_id, sizeof m->trace_id, r, i, 10);
    copy_cell(m->created_at, sizeof m->created_at, r, i, 11);
    copy_cell(m->updated_at, sizeof m->updated_at, r, i, 12);
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
        HC_PARAMS(HC_I64(m->order_id), text_or_null(m->name), text_or_null(m->phone),
                  text_or_null(m->order_type), text_or_null(m->checkup_date),
                  i64_or_null(m->center_id), i64_or_null(m->amount), HC_TEXT(m->status),
                  i64_or_null(m->payment_id), i64_or_null(m->reservation_id), HC_TEXT(now),
                  HC_TEXT(now), HC_I64(m->version), HC_TEXT(history)),
        NULL);
    free(history);
    return rc;
}

int notification_store_get(hc_conn_t *c, int64_t order_id, notification_mypage_t *out)
{
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, "SELECT " MYPAGE_COLS " FROM mypage WHERE order_id = ?",
                           HC_PARAMS(HC_I64(order_id)), &r);
    if (!rc && hc_rows_count(r) == 0)
        rc = HC_ENOTFOUND;
    if (!rc)
        mypage_from_row(r, 0, out);
    hc_rows_free(r);
    return rc;
}

int notification_store_set_refunded(hc_conn_t *c, int64_t order_id, const char *now)
{
    return hc_conn_exec(c,
                        "INSERT INTO mypage (order_id, status, refunded, created_at, updated_at)"
                        " VALUES (?, 'PENDING', 1, ?, ?) ON CONFLICT (order_id) DO UPDATE SET"
                        " refunded = 1, updated_at = excluded.updated_at",
                        HC_PARAMS(HC_I64(order_id), HC_TEXT(now), HC_TEXT(now)), NULL);
}

int notification_store_list(hc_conn_t *c, const char *phone, int64_t page, int64_t size,
                            notification_mypage_t **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    hc_rows_t *r = NULL;
    int64_t offset = page * size;
    int rc;
    /* Separate statements per filter: PostgreSQL cannot type "? IS NULL".
     * Rows without a version (only a refund seen) are not shown. */
    if (phone) {
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM mypage WHERE phone = ? AND version > 0",
                               HC_PARAMS(HC_TEXT(phone)), total);
        if (!rc)
            rc = hc_conn_query(c,
                               "SELECT " MYPAGE_COLS " FROM mypage WHERE phone = ? AND version > 0"
                               " ORDER BY order_id LIMIT ? OFFSET ?",
                               HC_PARAMS(HC_TEXT(phone), HC_I64(size), HC_I64(offset)), &r);
    } else {
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM mypage WHERE version > 0", HC_NOPARAMS,
                               total);
        if (!rc)
            rc = hc_conn_query(c,
                               "SELECT " MYPAGE_COLS " FROM mypage WHERE version > 0"
                               " ORDER BY order_id LIMIT ? OFFSET ?",
                               HC_PARAMS(HC_I64(size), HC_I64(offset)), &r);
    }
    if (rc)
        goto out;
    size_t count = hc_rows_count(r);
    notification_mypage_t *list = hc_xcalloc(count ? count : 1, sizeof *list);
    for (size_t i = 0; i < count; i++)
        mypage_from_row(r, i, &list[i]);
    *items = list;
    *n = count;
out:
    hc_rows_free(r);
    return rc;
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
        HC_PARAMS(HC_I64(order_id), HC_TEXT(status), text_or_null(to), HC_TEXT(text),
                  HC_TEXT(provider), HC_I64(now_ms), text_or_null(trace_id), HC_TEXT(now),
                  HC_TEXT(now)),
        &changes);
    if (queued)
        *queued = !rc && changes == 1;
    return rc;
}

/* Runs a MSG_COLS query and decodes every row into a new array. */
static int query_msgs(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t np,
                      notification_msg_t **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, sql, params, np, &r);
    if (rc)
        return rc;
    size_t count = hc_rows_count(r);
    notification_msg_t *list = hc_xcalloc(count ? count : 1, sizeof *list);
    for (size_t i = 0; i < count; i++)
        msg_from_row(r, i, &list[i]);
    hc_rows_free(r);
    *items = list;
    *n = count;
    return 0;
}

int notification_store_get_msg(hc_conn_t *c, int64_t id, notification_msg_t *out)
{
    notification_msg_t *list = NULL;
    size_t n = 0;
    int rc = query_msgs(c, "SELECT " MSG_COLS " FROM notifications n WHERE n.id = ?",
                        HC_PARAMS(HC_I64(id)), &list, &n);
    if (!rc && n == 0)
        rc = HC_ENOTFOUND;
    if (!rc)
        *out = list[0];
    free(list);
    return rc;
}

int notification_store_list_msgs(hc_conn_t *c, int64_t order_id, int64_t page, int64_t size,
                                 notification_msg_t **items, size_t *n, int64_t *total)
{
    *items = NULL;
    *n = 0;
    *total = 0;
    int64_t offset = page * size;
    int rc;
    if (order_id > 0) {
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM notifications WHERE order_id = ?",
                               HC_PARAMS(HC_I64(order_id)), total);
        if (!rc)
            rc = query_msgs(c,
                            "SELECT " MSG_COLS " FROM notifications n WHERE n.order_id = ?"
                            " ORDER BY n.id LIMIT ? OFFSET ?",
                            HC_PARAMS(HC_I64(order_id), HC_I64(size), HC_I64(offset)), items, n);
    } else {
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM notifications", HC_NOPARAMS, total);
        if (!rc)
            rc = query_msgs(c,
                            "SELECT " MSG_COLS " FROM notifications n"
                            " ORDER BY n.id LIMIT ? OFFSET ?",
                            HC_PARAMS(HC_I64(size), HC_I64(offset)), items, n);
    }
    return rc;
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
        copy_cell(list[i].phone, sizeof list[i].phone, r, i, 13);
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
    int rc = hc_conn_exec(c,
                          "UPDATE notifications SET next_attempt_at = ?"
                          " WHERE id = ? AND next_attempt_at = ? AND delivery_status <> 'SENT'",
                          HC_PARAMS(HC_I64(lease_until_ms), HC_I64(id), HC_I64(expected)),
                          &changes);
    *claimed = !rc && changes == 1;
    return rc;
}

int notification_store_mark_sent(hc_conn_t *c, int64_t id, const char *provider,
                                 const char *now)
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
                                  i64_or_null(next_ms), HC_TEXT(now), HC_I64(id)),
                        NULL);
}

int notification_store_count_pending(hc_conn_t *c, int64_t *out)
{
    return hc_conn_query_i64(c,
                             "SELECT COUNT(*) FROM notifications WHERE next_attempt_at IS NOT NULL"
                             " AND delivery_status <> 'SENT'",
                             HC_NOPARAMS, out);
}
