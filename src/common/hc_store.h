/* hc_store: what every service's store does the same way on top of hc_db:
 * copying a text cell, reading one row into a struct, and reading one page of
 * a list with its total. A service store keeps its SQL and its row decoder. */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"

/* Fills the element at out (a struct of the store's) from row `row` of r. */
typedef void (*hc_row_decode_cb)(const hc_rows_t *r, size_t row, void *out);

/* A text parameter for an optional value: SQL NULL when s is NULL or "". */
static inline hc_val_t hc_val_text_opt(const char *s)
{
    return s && *s ? HC_TEXT(s) : HC_NULLV;
}

/* An integer parameter for an optional value: SQL NULL when v is 0. */
static inline hc_val_t hc_val_i64_opt(int64_t v)
{
    return v ? HC_I64(v) : HC_NULLV;
}

/* Copies the text cell (row, col) of r into dst (size >= 1 bytes), cut to
 * fit on a UTF-8 character; a NULL cell reads as "". */
void hc_rows_copy_text(const hc_rows_t *r, size_t row, size_t col, char *dst, size_t size);

/* Runs a query expected to match at most one row (params borrowed) and
 * decodes that row into out. Returns 0, HC_ENOTFOUND (out untouched) or an
 * hc_err. */
int hc_store_get_one(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                     hc_row_decode_cb decode, void *out);

/* One page of a list. The statements are "SELECT COUNT(*) FROM <from>" and
 * "SELECT <cols> FROM <from> ORDER BY <order> LIMIT ? OFFSET ?", so <from>
 * holds the table and its WHERE clause, with params for its placeholders. */
typedef struct hc_page_query {
    const char *cols;       /* the decoder's column list */
    const char *from;       /* "payments WHERE order_id = ?" */
    const char *order;      /* "id", "id DESC" */
    const hc_val_t *params; /* for the placeholders of from (borrowed) */
    size_t n_params;        /* at most 14 */
    int64_t page, size;     /* 0-based page, rows a page (>= 1) */
} hc_page_query_t;

/* Reads the page q names: *total gets the count of every matching row,
 * *items a new array (caller frees; never NULL on success) of *n elements
 * of elem_size bytes, each zeroed and then decoded. Returns 0 or an hc_err
 * (then *items is NULL and *n 0). */
int hc_store_page(hc_conn_t *c, const hc_page_query_t *q, hc_row_decode_cb decode,
                  size_t elem_size, void **items, size_t *n, int64_t *total);

#endif
