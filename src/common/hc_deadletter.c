/* hc_deadletter: the dead_letters table: park, count, mark, retry records. */
#include "hc_deadletter.h"

#include "hc_err.h"
#include "hc_event.h"

int hc_deadletter_park(hc_conn_t *c, const hc_bus_msg_t *m, const hc_event_t *ev,
                       const char *error, int *parked)
{
    int64_t now = hc_now_ms(), changed = 0;
    int rc = hc_conn_exec(
        c,
        "INSERT INTO dead_letters(bus_offset, msg_key, event_id, event_type, order_id, payload,"
        " error, created_at, updated_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM dead_letters WHERE bus_offset = ? AND payload = ?)",
        HC_PARAMS(HC_I64(m->offset), HC_TEXT(m->key), HC_TEXT(ev ? ev->event_id : NULL),
                  HC_TEXT(ev ? ev->type : NULL), ev ? HC_I64(ev->order_id) : HC_NULLV,
                  HC_TEXTN(m->value, m->value_len), HC_TEXT(error), HC_I64(now), HC_I64(now),
                  HC_I64(m->offset), HC_TEXTN(m->value, m->value_len)),
        &changed);
    if (parked)
        *parked = !rc && changed == 1;
    return rc;
}

int64_t hc_deadletter_count(hc_db_t *db)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t n = -1;
    if (hc_conn_query_i64(c, "SELECT COUNT(*) FROM dead_letters", HC_NOPARAMS, &n))
        n = -1;
    hc_db_release(db, c);
    return n;
}

int hc_deadletter_mark(hc_db_t *db, int64_t id, int64_t *marked)
{
    hc_conn_t *c = hc_db_acquire(db);
    int64_t changed = 0;
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = hc_conn_exec(c,
                          "UPDATE dead_letters SET retry_requested = 1, updated_at = ?"
                          " WHERE ? = 0 OR id = ?",
                          HC_PARAMS(HC_I64(hc_now_ms()), HC_I64(id), HC_I64(id)), &changed);
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(db, c);
    if (marked)
        *marked = rc ? 0 : changed;
    return rc;
}

int hc_deadletter_marked(hc_conn_t *c, size_t max, hc_rows_t **out)
{
    return hc_conn_query(c,
                         "SELECT id, bus_offset, msg_key, event_id, payload FROM dead_letters"
                         " WHERE retry_requested = 1 ORDER BY id LIMIT ?",
                         HC_PARAMS(HC_I64(max)), out);
}

int hc_deadletter_resolve(hc_conn_t *c, int64_t id)
{
    return hc_conn_exec(c, "DELETE FROM dead_letters WHERE id = ?", HC_PARAMS(HC_I64(id)), NULL);
}

int hc_deadletter_retry_failed(hc_conn_t *c, int64_t id, const char *error)
{
    return hc_conn_exec(c,
                        "UPDATE dead_letters SET retries = retries + 1, error = ?,"
                        " retry_requested = 0, updated_at = ? WHERE id = ?",
                        HC_PARAMS(HC_TEXT(error), HC_I64(hc_now_ms()), HC_I64(id)), NULL);
}
