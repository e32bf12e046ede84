/* hc_db_impl: what a storage backend (hc_db_sqlite.c, hc_db_pg.c) provides to
 * the dispatch in hc_db.c: a table of functions, the common head of its pool
 * and connection structs, and the materialised result it fills. Not for
 * services: they use hc_db.h only. */
#ifndef HC_DB_IMPL_H
#define HC_DB_IMPL_H

#include "hc_db.h"

/* One backend. Every function has the contract of the hc_db.h call of the
 * same name; begin takes lazy (hc_conn_begin_lazy) as a flag. */
typedef struct hc_db_ops {
    const char *kind; /* "SQLite" or "PostgreSQL": /actuator/health's database */
    void (*destroy)(hc_db_t *db);
    hc_conn_t *(*acquire)(hc_db_t *db);
    void (*release)(hc_db_t *db, hc_conn_t *c);
    int (*begin)(hc_conn_t *c, int lazy);
    int (*commit)(hc_conn_t *c);
    void (*rollback)(hc_conn_t *c);
    int (*exec)(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, int64_t *changes);
    int (*query)(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, hc_rows_t **out);
    /* Optional: hc_conn_insert without RETURNING (NULL: the generic way). */
    int (*insert)(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, int64_t *id);
    int (*exec_script)(hc_conn_t *c, const char *sql);
    int (*has_table)(hc_conn_t *c, const char *name, int *has);
    const char *(*path)(const hc_db_t *db);
    int (*writable)(hc_db_t *db);
    int (*write_error)(hc_db_t *db);
    int (*corrupt)(hc_db_t *db);
    int (*health)(hc_db_t *db, char *why, size_t n);
    int (*check)(hc_db_t *db, int full, char *why, size_t n);
} hc_db_ops_t;

/* The first member of every backend's pool and connection. */
struct hc_db {
    const hc_db_ops_t *ops;
};
struct hc_conn {
    const hc_db_ops_t *ops;
};

typedef struct hc_cell {
    int is_null;
    int64_t i;
    char *s; /* owned; NULL for SQL NULL */
} hc_cell_t;

struct hc_rows {
    size_t rows, cols, cap; /* cap: cells allocated */
    hc_cell_t *cells;
};

/* A new empty result of cols columns (free with hc_rows_free). */
hc_rows_t *hc_rows_new(size_t cols);
/* Appends a row of NULL cells and returns its first cell. */
hc_cell_t *hc_rows_add(hc_rows_t *r);

#endif
