/* hc_store: what every service's store does the same way on top of hc_db:
 * copying a text cell, reading one row into a struct, and reading one page of
 * a list with its total. A service store keeps its SQL and its row decoder. */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_buf.h"
#include "hc_db.h"
#include "hc_token.h"

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

/* Runs sql (one integer value, no parameters: a COUNT) on a connection of
 * db's pool. Returns the value, or -1 when storage fails: for the gauges of
 * /metrics, which show -1 rather than fail. */
int64_t hc_store_gauge(hc_db_t *db, const char *sql);

/* Copies the text cell (row, col) of r into dst (size >= 1 bytes), cut to
 * fit on a UTF-8 character; a NULL cell reads as "". */
void hc_rows_copy_text(const hc_rows_t *r, size_t row, size_t col, char *dst, size_t size);

/* Runs a query expected to match at most one row (params borrowed) and
 * decodes that row into out. Returns 0, HC_ENOTFOUND (out untouched) or an
 * hc_err. */
int hc_store_get_one(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                     hc_row_decode_cb decode, void *out);

/* What a list is asked for: one page, and the filters the services'
 * collections share; a service's own filter rides in extra. */
typedef struct hc_list_query {
    int64_t page, size; /* 0-based page, rows a page (>= 1) */
    int64_t order_id;   /* ?orderId=: 0 for any */
    const char *phone;  /* ?phone= (digits): NULL for any */
    const void *extra;  /* the list's own filter (hc_list_def_t.where_extra) */
    /* Whose list it is: rows the caller may not see (hc_authz_may_see) are
     * left out in SQL, so that pages and totals count only the caller's own.
     * NULL: no scope (the service's own reads). */
    const hc_principal_t *who;
} hc_list_query_t;

/* A list's store call: a new array (caller frees; never NULL on success) of
 * *n items of the page q asks for, *total counting every match. Returns 0 or
 * an hc_err (then *items is NULL and *n 0). */
typedef int (*hc_list_cb)(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                          int64_t *total);

/* The conditions of a list's WHERE clause, built one at a time. */
#define HC_WHERE_MAX 8
typedef struct hc_where {
    hc_buf_t sql;                  /* "<table>[ WHERE a AND b ...]" */
    hc_val_t params[HC_WHERE_MAX]; /* for the placeholders, in order */
    size_t n_params;
    size_t n_conds;
    int overflow; /* more than HC_WHERE_MAX values asked */
} hc_where_t;

/* Adds cond (SQL with one "?" for *v, or none when v is NULL) to w. */
void hc_where_add(hc_where_t *w, const char *cond, const hc_val_t *v);

/* How a store lists one of its tables. The WHERE clause names only the
 * filters given, so each of the few combinations is one cached statement. */
typedef struct hc_list_def {
    const char *cols;         /* the decoder's column list */
    const char *table;        /* "payments", "notifications n" */
    const char *where;        /* always applied ("active = 1"), or NULL */
    const char *order;        /* "id", "id DESC" */
    const char *order_id_col; /* the column q->order_id filters, or NULL */
    const char *phone_col;    /* the column q->phone filters, or NULL */
    /* The columns that say whose a row is, for q->who: the owner's phone
     * (digits) and the center. NULL: the table has none, and a caller
     * scoped by it (a customer, an admin) sees no row. */
    const char *owner_phone_col;
    const char *center_col;
    /* Adds the conditions of q->extra (not NULL) to w; NULL: no extra. */
    void (*where_extra)(const void *extra, hc_where_t *w);
    hc_row_decode_cb decode;
    size_t elem_size; /* bytes of one decoded item */
} hc_list_def_t;

/* Reads the page q asks of def's table (see hc_list_cb). */
int hc_store_list(hc_conn_t *c, const hc_list_def_t *def, const hc_list_query_t *q, void **items,
                  size_t *n, int64_t *total);

#endif
