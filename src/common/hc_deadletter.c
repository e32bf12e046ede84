/* hc_deadletter: the dead_letters table: park, count, mark, retry records, and
 * the `healthcenter dead-letters` commands. */
#include "hc_deadletter.h"

#include <string.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_store.h"
#include "hc_time.h"

int hc_deadletter_park(hc_conn_t *c, const hc_bus_msg_t *m, const hc_event_t *ev, const char *error,
                       int *parked)
{
    int64_t now = hc_now_ms(), changed = 0;
    int rc = hc_conn_exec(
        c,
        "INSERT INTO dead_letters(bus_offset, msg_key, event_id, event_type, order_id, payload,"
        " error, created_at, updated_at) SELECT ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, ?, ?"
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
    return hc_store_gauge(db, "SELECT COUNT(*) FROM dead_letters");
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

/* ---- the commands ---- */

/* Opens service's database under data_dir (read-only or not). Returns 0, or
 * a message on err and an hc_err; HC_ENOTFOUND also when it has no
 * dead_letters table (a database from before the table existed). */
static int open_service_db(const char *data_dir, const char *service, int readonly, hc_db_t **out,
                           FILE *err)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.db", data_dir, service);
    const char *url = hc_config_db_url(&hc_cfg, service);
    int rc = url ? hc_db_open_pg(url, service, 1, NULL, 0, out)
                 : hc_db_open_existing(path, readonly, out);
    if (!rc && url)
        hc_strlcpy(path, hc_db_path(*out), sizeof path);
    if (rc) {
        fprintf(err, "%s: cannot open %s: %s\n", service, path,
                rc == HC_ENOTFOUND ? "no such file (has the service ever run?)" : hc_strerror(rc));
        return rc;
    }
    hc_conn_t *c = hc_db_acquire(*out);
    int has = 0;
    rc = hc_conn_has_table(c, "dead_letters", &has);
    hc_db_release(*out, c);
    if (!rc && !has)
        rc = HC_ENOTFOUND;
    if (rc) {
        fprintf(err, "%s: %s has no dead_letters table%s\n", service, path,
                rc == HC_ENOTFOUND ? " (start the service once to migrate it)" : "");
        hc_db_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* Prints text (may be NULL) as one JSON-ish quoted field, control characters
 * escaped and long text cut, so that one row stays on one line. */
static void print_quoted(FILE *out, const char *text, size_t max)
{
    fputc('"', out);
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    for (; *p && i < max; p++, i++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputs(text && strlen(text) > max ? "...\"" : "\"", out);
}

int hc_deadletter_cmd_list(const char *data_dir, const char *const *services, size_t n, FILE *out,
                           FILE *err)
{
    int code = 0;
    int64_t total = 0;
    for (size_t s = 0; s < n; s++) {
        hc_db_t *db = NULL;
        if (open_service_db(data_dir, services[s], 1, &db, err)) {
            code = 1;
            continue;
        }
        hc_conn_t *c = hc_db_acquire(db);
        hc_rows_t *r = NULL;
        int rc = hc_conn_query(c,
                               "SELECT id, bus_offset, event_type, order_id, event_id, retries,"
                               " retry_requested, created_at, error, payload FROM dead_letters"
                               " ORDER BY id",
                               HC_NOPARAMS, &r);
        hc_db_release(db, c);
        if (rc) {
            fprintf(err, "%s: cannot read dead_letters: %s\n", services[s], hc_strerror(rc));
            code = 1;
        }
        for (size_t i = 0; i < hc_rows_count(r); i++) {
            char oid[24] = "-";
            if (!hc_rows_is_null(r, i, 3))
                snprintf(oid, sizeof oid, "%lld", (long long)hc_rows_i64(r, i, 3));
            fprintf(out,
                    "%s id=%lld offset=%lld type=%s orderId=%s eventId=%s retries=%lld%s"
                    " createdAt=%lld error=",
                    services[s], (long long)hc_rows_i64(r, i, 0), (long long)hc_rows_i64(r, i, 1),
                    hc_rows_text(r, i, 2) ? hc_rows_text(r, i, 2) : "-", oid,
                    hc_rows_text(r, i, 4) ? hc_rows_text(r, i, 4) : "-",
                    (long long)hc_rows_i64(r, i, 5), hc_rows_i64(r, i, 6) ? " retry=requested" : "",
                    (long long)hc_rows_i64(r, i, 7));
            print_quoted(out, hc_rows_text(r, i, 8), 300);
            fputs(" payload=", out);
            print_quoted(out, hc_rows_text(r, i, 9), 500);
            fputc('\n', out);
            total++;
        }
        hc_rows_free(r);
        hc_db_destroy(db);
    }
    fprintf(out, "%lld dead letter(s)\n", (long long)total);
    return code;
}

int hc_deadletter_cmd_retry(const char *data_dir, const char *service, int64_t id, FILE *out,
                            FILE *err)
{
    hc_db_t *db = NULL;
    if (open_service_db(data_dir, service, 0, &db, err))
        return 1;
    int64_t marked = 0;
    int rc = hc_deadletter_mark(db, id, &marked);
    hc_db_destroy(db);
    if (rc) {
        fprintf(err, "%s: cannot mark dead letters for retry: %s\n", service, hc_strerror(rc));
        return 1;
    }
    if (marked == 0) {
        if (id)
            fprintf(err, "%s: no dead letter with id %lld\n", service, (long long)id);
        else
            fprintf(out, "%s: no dead letters to retry\n", service);
        return id ? 1 : 0;
    }
    fprintf(out,
            "%s: %lld dead letter(s) marked for retry; the running %s service applies them "
            "within a second (or when it next starts)\n",
            service, (long long)marked, service);
    return 0;
}
