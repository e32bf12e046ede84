/* hc_store: text cells, one row and one page of rows, for every service's store. */
#include "hc_store.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"

#define PAGE_MAX_PARAMS 16 /* the query's own, plus LIMIT and OFFSET */

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

int hc_store_page(hc_conn_t *c, const hc_page_query_t *q, hc_row_decode_cb decode,
                  size_t elem_size, void **items, size_t *n, int64_t *total)
{
    hc_val_t params[PAGE_MAX_PARAMS];
    hc_rows_t *r = NULL;
    hc_buf_t sql;
    int rc = HC_EINVAL;
    *items = NULL;
    *n = 0;
    *total = 0;
    if (q->n_params + 2 > PAGE_MAX_PARAMS)
        return HC_EINVAL;
    hc_buf_init(&sql, 4096);
    if (hc_buf_printf(&sql, "SELECT COUNT(*) FROM %s", q->from))
        goto out;
    if ((rc = hc_conn_query_i64(c, hc_buf_str(&sql), q->params, q->n_params, total)))
        goto out;
    hc_buf_reset(&sql);
    if ((rc = hc_buf_printf(&sql, "SELECT %s FROM %s ORDER BY %s LIMIT ? OFFSET ?", q->cols,
                            q->from, q->order)))
        goto out;
    memcpy(params, q->params, q->n_params * sizeof *params);
    params[q->n_params] = HC_I64(q->size);
    params[q->n_params + 1] = HC_I64(q->page * q->size);
    if ((rc = hc_conn_query(c, hc_buf_str(&sql), params, q->n_params + 2, &r)))
        goto out;
    size_t count = hc_rows_count(r);
    char *list = hc_xcalloc(count ? count : 1, elem_size);
    for (size_t i = 0; i < count; i++)
        decode(r, i, list + i * elem_size);
    *items = list;
    *n = count;
out:
    hc_rows_free(r);
    hc_buf_cleanup(&sql);
    return rc;
}
