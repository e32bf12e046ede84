/* hc_store: text cells, one row and one page of rows, for every service's store. */
#include "hc_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"

#define PAGE_MAX_PARAMS (HC_WHERE_MAX + 2) /* the filters' values, LIMIT and OFFSET */

int64_t hc_store_gauge(hc_db_t *db, const char *sql)
{
    int64_t n = -1;
    hc_conn_t *c = hc_db_acquire(db);
    if (hc_conn_query_i64(c, sql, HC_NOPARAMS, &n))
        n = -1;
    hc_db_release(db, c);
    return n;
}

void hc_rows_copy_text(const hc_rows_t *r, size_t row, size_t col, char *dst, size_t size)
{
    const char *s = hc_rows_text(r, row, col);
    hc_utf8_copy(dst, size, s ? s : "");
}

int hc_store_get_one(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                     hc_row_decode_cb decode, void *out)
{
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, sql, params, n, &r);
    if (!rc && hc_rows_count(r) == 0)
        rc = HC_ENOTFOUND;
    if (!rc)
        decode(r, 0, out);
    hc_rows_free(r);
    return rc;
}

/* Reads one page: "SELECT COUNT(*) FROM <from>" for *total, then "SELECT
 * <cols> FROM <from> ORDER BY <order> LIMIT ? OFFSET ?", from being w's table
 * and WHERE clause. */
static int read_page(hc_conn_t *c, const hc_list_def_t *def, const hc_where_t *w,
                     const hc_list_query_t *q, void **items, size_t *n, int64_t *total)
{
    hc_val_t params[PAGE_MAX_PARAMS];
    hc_rows_t *r = NULL;
    hc_buf_t sql;
    int rc = HC_EINVAL;
    const char *from = hc_buf_str(&w->sql);
    hc_buf_init(&sql, 4096);
    if (hc_buf_printf(&sql, "SELECT COUNT(*) FROM %s", from))
        goto out;
    if ((rc = hc_conn_query_i64(c, hc_buf_str(&sql), w->params, w->n_params, total)))
        goto out;
    hc_buf_reset(&sql);
    if ((rc = hc_buf_printf(&sql, "SELECT %s FROM %s ORDER BY %s LIMIT ? OFFSET ?", def->cols, from,
                            def->order)))
        goto out;
    memcpy(params, w->params, w->n_params * sizeof *params);
    params[w->n_params] = HC_I64(q->size);
    params[w->n_params + 1] = HC_I64(q->page * q->size);
    if ((rc = hc_conn_query(c, hc_buf_str(&sql), params, w->n_params + 2, &r)))
        goto out;
    size_t count = hc_rows_count(r);
    char *list = hc_xcalloc(count ? count : 1, def->elem_size);
    for (size_t i = 0; i < count; i++)
        def->decode(r, i, list + i * def->elem_size);
    *items = list;
    *n = count;
out:
    hc_rows_free(r);
    hc_buf_cleanup(&sql);
    return rc;
}

void hc_where_add(hc_where_t *w, const char *cond, const hc_val_t *v)
{
    if (v && w->n_params == HC_WHERE_MAX) {
        w->overflow = 1;
        return;
    }
    hc_buf_adds(&w->sql, w->n_conds++ ? " AND " : " WHERE ");
    hc_buf_adds(&w->sql, cond);
    if (v)
        w->params[w->n_params++] = *v;
}

/* Adds the condition that limits def's rows to those who may see (the SQL
 * form of hc_authz_may_see). Center ids are integers from a verified token,
 * written into the SQL as numbers: an admin's few centers, one statement. */
static void where_owner(const hc_list_def_t *def, const hc_principal_t *who, hc_where_t *w)
{
    char cond[96 + HC_TOKEN_MAX_CENTERS * 21];
    size_t len;
    switch (who->role) {
    case HC_ROLE_SUPERADMIN:
    case HC_ROLE_SERVICE:
        return;
    case HC_ROLE_CUSTOMER:
        if (def->owner_phone_col && who->sub[0]) {
            hc_val_t v = HC_TEXT(who->sub);
            snprintf(cond, sizeof cond, "%s = ?", def->owner_phone_col);
            hc_where_add(w, cond, &v);
            return;
        }
        break;
    case HC_ROLE_ADMIN:
        if (def->center_col && who->n_centers > 0) {
            len = (size_t)snprintf(cond, sizeof cond, "%s IN (", def->center_col);
            for (size_t i = 0; i < who->n_centers && i < HC_TOKEN_MAX_CENTERS; i++)
                len += (size_t)snprintf(cond + len, sizeof cond - len, "%s%lld", i ? "," : "",
                                        (long long)who->centers[i]);
            snprintf(cond + len, sizeof cond - len, ")");
            hc_where_add(w, cond, NULL);
            return;
        }
        break;
    default:
        break;
    }
    hc_where_add(w, "1 = 0", NULL); /* nobody's rows are this caller's */
}

int hc_store_list(hc_conn_t *c, const hc_list_def_t *def, const hc_list_query_t *q, void **items,
                  size_t *n, int64_t *total)
{
    hc_where_t w = {0};
    char cond[128];
    *items = NULL;
    *n = 0;
    *total = 0;
    hc_buf_init(&w.sql, 4096);
    hc_buf_adds(&w.sql, def->table);
    if (def->where)
        hc_where_add(&w, def->where, NULL);
    if (def->order_id_col && q->order_id > 0) {
        hc_val_t v = HC_I64(q->order_id);
        snprintf(cond, sizeof cond, "%s = ?", def->order_id_col);
        hc_where_add(&w, cond, &v);
    }
    if (def->phone_col && q->phone) {
        hc_val_t v = HC_TEXT(q->phone);
        snprintf(cond, sizeof cond, "%s = ?", def->phone_col);
        hc_where_add(&w, cond, &v);
    }
    if (def->where_extra && q->extra)
        def->where_extra(q->extra, &w);
    if (q->who)
        where_owner(def, q->who, &w);
    int rc = w.overflow ? HC_EINVAL : read_page(c, def, &w, q, items, n, total);
    hc_buf_cleanup(&w.sql);
    return rc;
}
