/* hc_db: the storage interface's dispatch to its backend (SQLite or
 * PostgreSQL, hc_db_impl.h) and the materialised results both fill. */
#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_db_impl.h"
#include "hc_err.h"

void hc_db_destroy(hc_db_t *db)
{
    if (db)
        db->ops->destroy(db);
}

const char *hc_db_kind(const hc_db_t *db)
{
    return db->ops->kind;
}

hc_conn_t *hc_db_acquire(hc_db_t *db)
{
    return db->ops->acquire(db);
}

void hc_db_release(hc_db_t *db, hc_conn_t *c)
{
    if (c)
        db->ops->release(db, c);
}

int hc_conn_begin(hc_conn_t *c)
{
    return c->ops->begin(c, 0);
}

int hc_conn_begin_lazy(hc_conn_t *c)
{
    return c->ops->begin(c, 1);
}

int hc_conn_commit(hc_conn_t *c)
{
    return c->ops->commit(c);
}

void hc_conn_rollback(hc_conn_t *c)
{
    c->ops->rollback(c);
}

int hc_conn_exec(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, int64_t *changes)
{
    return c->ops->exec(c, sql, params, n, changes);
}

int hc_conn_query(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, hc_rows_t **out)
{
    return c->ops->query(c, sql, params, n, out);
}

int hc_conn_query_i64(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, int64_t *out)
{
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(c, sql, params, n, &r);
    if (rc)
        return rc;
    if (hc_rows_count(r) == 0)
        rc = HC_ENOTFOUND;
    else
        *out = hc_rows_i64(r, 0, 0);
    hc_rows_free(r);
    return rc;
}

int hc_conn_insert(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, int64_t *id)
{
    if (c->ops->insert)
        return c->ops->insert(c, sql, params, n, id);
    static const char returning[] = " RETURNING id";
    size_t len = strlen(sql);
    char *q = hc_xmalloc(len + sizeof returning);
    memcpy(q, sql, len);
    memcpy(q + len, returning, sizeof returning);
    int rc = hc_conn_query_i64(c, q, params, n, id);
    free(q);
    return rc;
}

int hc_conn_exec_script(hc_conn_t *c, const char *sql)
{
    return c->ops->exec_script(c, sql);
}

int hc_conn_has_table(hc_conn_t *c, const char *name, int *has)
{
    *has = 0;
    return c->ops->has_table(c, name, has);
}

const char *hc_db_path(const hc_db_t *db)
{
    return db->ops->path(db);
}

int hc_db_writable(hc_db_t *db)
{
    return db->ops->writable(db);
}

int hc_db_write_error(hc_db_t *db)
{
    return db->ops->write_error(db);
}

int hc_db_corrupt(hc_db_t *db)
{
    return db->ops->corrupt(db);
}

int hc_db_health(hc_db_t *db, char *why, size_t n)
{
    return db->ops->health(db, why, n);
}

int hc_db_check(hc_db_t *db, int full, char *why, size_t n)
{
    return db->ops->check(db, full, why, n);
}

/* ---- results ---- */

hc_rows_t *hc_rows_new(size_t cols)
{
    hc_rows_t *r = hc_xcalloc(1, sizeof *r);
    r->cols = cols;
    return r;
}

hc_cell_t *hc_rows_add(hc_rows_t *r)
{
    if ((r->rows + 1) * r->cols > r->cap) {
        r->cap = r->cap ? r->cap * 2 : r->cols * 8;
        r->cells = hc_xrealloc(r->cells, r->cap * sizeof *r->cells);
    }
    hc_cell_t *row = r->cells + r->rows * r->cols;
    for (size_t i = 0; i < r->cols; i++)
        row[i] = (hc_cell_t){.is_null = 1};
    r->rows++;
    return row;
}

size_t hc_rows_count(const hc_rows_t *r)
{
    return r ? r->rows : 0;
}

size_t hc_rows_cols(const hc_rows_t *r)
{
    return r ? r->cols : 0;
}

static const hc_cell_t *cell_at(const hc_rows_t *r, size_t row, size_t col)
{
    if (!r || row >= r->rows || col >= r->cols)
        return NULL;
    return &r->cells[row * r->cols + col];
}

int64_t hc_rows_i64(const hc_rows_t *r, size_t row, size_t col)
{
    const hc_cell_t *c = cell_at(r, row, col);
    return c ? c->i : 0;
}

const char *hc_rows_text(const hc_rows_t *r, size_t row, size_t col)
{
    const hc_cell_t *c = cell_at(r, row, col);
    return c ? c->s : NULL;
}

int hc_rows_is_null(const hc_rows_t *r, size_t row, size_t col)
{
    const hc_cell_t *c = cell_at(r, row, col);
    return !c || c->is_null;
}

void hc_rows_free(hc_rows_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->rows * r->cols; i++)
        free(r->cells[i].s);
    free(r->cells);
    free(r);
}
