/* hc_db: the storage interface every service uses. SQL is written with `?`
 * placeholders in the common subset of SQLite and PostgreSQL; results come
 * back materialised as hc_rows_t. Backends: hc_db_sqlite.c (a file) and
 * hc_db_pg.c (a schema of a PostgreSQL database); hc_db.c dispatches. */
#ifndef HC_DB_H
#define HC_DB_H

#include <stddef.h>
#include <stdint.h>

typedef enum { HC_VAL_NULL = 0, HC_VAL_I64, HC_VAL_TEXT } hc_val_kind_t;

/* One bound parameter. Text is borrowed for the duration of the call. */
typedef struct hc_val {
    hc_val_kind_t kind;
    int64_t i;
    const char *s;
    int64_t n; /* text length in bytes; -1 = up to the NUL */
} hc_val_t;

#define HC_I64(x) ((hc_val_t){.kind = HC_VAL_I64, .i = (int64_t)(x)})
/* Text parameter; a NULL pointer binds SQL NULL. */
static inline hc_val_t hc_val_text(const char *s)
{
    return (hc_val_t){.kind = s ? HC_VAL_TEXT : HC_VAL_NULL, .s = s, .n = -1};
}
/* Text parameter of exactly n bytes (need not be NUL-terminated). */
static inline hc_val_t hc_val_textn(const char *s, size_t n)
{
    return (hc_val_t){.kind = s ? HC_VAL_TEXT : HC_VAL_NULL, .s = s, .n = (int64_t)n};
}
#define HC_TEXTN(x, n) hc_val_textn((x), (n))
#define HC_TEXT(x) hc_val_text(x)
#define HC_NULLV ((hc_val_t){.kind = HC_VAL_NULL})
/* Expands to "array, count" for the params arguments below. */
#define HC_PARAMS(...)                                                                             \
    (const hc_val_t[]){__VA_ARGS__}, sizeof((const hc_val_t[]){__VA_ARGS__}) / sizeof(hc_val_t)
#define HC_NOPARAMS NULL, 0

typedef struct hc_db hc_db_t;     /* a pool of connections to one database */
typedef struct hc_conn hc_conn_t; /* one connection, used by one thread at a time */
typedef struct hc_rows hc_rows_t; /* a materialised result */

/* One schema step. Migrations run in order inside one transaction each, and the
 * applied version is kept in the table schema_version. */
typedef struct hc_migration {
    int version;
    const char *sql; /* may hold several statements; PostgreSQL runs it as
                      * hc_pg_ddl (hc_db_pg.h) translates it */
} hc_migration_t;

/* Opens (creating if needed) the database at path, applies pending migrations
 * and returns a pool in *out. sync is "FULL" or "NORMAL". Returns 0 or an
 * hc_err; on failure *out is NULL. Destroy with hc_db_destroy. */
int hc_db_open(const char *path, const char *sync, const hc_migration_t *migs, size_t n_migs,
               hc_db_t **out);

/* Opens a pool of at most pool_size connections to the PostgreSQL server at
 * url (a libpq URI or key=value string), in schema (created if needed;
 * letters, digits and '_' only), applies pending migrations there (one
 * instance at a time: a session advisory lock) and returns it in *out.
 * The server need not be up later: calls fail with HC_EUNAVAIL while it is
 * gone and connections come back by themselves. Returns 0, HC_EUNAVAIL
 * (cannot connect now), HC_EINVAL (bad schema) or another hc_err. */
int hc_db_open_pg(const char *url, const char *schema, int pool_size, const hc_migration_t *migs,
                  size_t n_migs, hc_db_t **out);

/* Opens the existing database at path as it is: no file is created and no
 * migration runs (for tools such as `healthcenter check`). readonly=1 opens
 * it for reading only, which is safe while services use it. Returns 0,
 * HC_ENOTFOUND when there is no such file, or HC_EIO. */
int hc_db_open_existing(const char *path, int readonly, hc_db_t **out);

/* "SQLite" or "PostgreSQL" (a static string). */
const char *hc_db_kind(const hc_db_t *db);

/* Closes every connection. Accepts NULL. No connection may be in use. */
void hc_db_destroy(hc_db_t *db);

/* Borrows a connection from the pool (opening one if none is free; on
 * PostgreSQL waiting while pool_size are in use). Never NULL; give it back
 * with hc_db_release. */
hc_conn_t *hc_db_acquire(hc_db_t *db);
void hc_db_release(hc_db_t *db, hc_conn_t *c);

/* Starts a write transaction. Writers of one database are serialised: on
 * SQLite by the file lock (in-process first, so they never spin on it), on
 * PostgreSQL by a transaction advisory lock on the schema, across every
 * instance of the service; each statement then sees every earlier commit.
 * On PostgreSQL a failed statement aborts the transaction: roll back after
 * any error. Pair with hc_conn_commit or _rollback. */
int hc_conn_begin(hc_conn_t *c);
/* Commits; on failure the transaction is rolled back and an hc_err returned. */
int hc_conn_commit(hc_conn_t *c);
/* Starts a write transaction whose commit does not wait for the disk: a crash
 * of the process loses nothing, a power loss may lose this commit but never
 * keeps it while losing an earlier one. For writes that are safe to repeat
 * (outbox marks, consumer offsets). Otherwise as hc_conn_begin. */
int hc_conn_begin_lazy(hc_conn_t *c);
/* Rolls back; safe to call when no transaction is open. */
void hc_conn_rollback(hc_conn_t *c);

/* Runs sql, one INSERT of one row into a table whose key is an integer
 * column called id, written without a RETURNING clause, and sets *id to the
 * new row's id. SQLite reads it from the connection (its RETURNING builds a
 * temporary table per statement); PostgreSQL adds "RETURNING id". Returns
 * as hc_conn_exec, or HC_ENOTFOUND when no row was inserted. */
int hc_conn_insert(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, int64_t *id);

/* Runs a statement that returns no rows. *changes (may be NULL) receives the
 * number of rows changed. Returns 0, HC_ECONFLICT on a uniqueness violation,
 * HC_EBUSY or HC_EIO. */
int hc_conn_exec(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, int64_t *changes);

/* Runs a query (or INSERT ... RETURNING) and materialises the result in *out
 * (caller frees with hc_rows_free). Returns as hc_conn_exec. */
int hc_conn_query(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n, hc_rows_t **out);

/* Runs a query expected to return one integer (e.g. COUNT, RETURNING id).
 * Returns 0 with *out set, HC_ENOTFOUND for no row, or another hc_err. */
int hc_conn_query_i64(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                      int64_t *out);

/* Runs one or more statements without parameters (schema, pragmas). */
int hc_conn_exec_script(hc_conn_t *c, const char *sql);

/* Sets *has to 1 when the database has a table called name. Returns 0 or an
 * hc_err. */
int hc_conn_has_table(hc_conn_t *c, const char *name, int *has);

/* Errors of every call above: HC_ENOSPC when the disk (or quota) is full,
 * HC_ECORRUPT when SQLite finds the file corrupt (PostgreSQL: data
 * corrupted), HC_EUNAVAIL when the PostgreSQL server cannot be reached or
 * the connection broke (nothing of an open transaction was kept), HC_EIO
 * for other storage or SQL failures. */

/* ---- the pool's health (readiness) ---- */

/* The file the pool opened, or the PostgreSQL URL (password masked) and
 * schema (owned by db). */
const char *hc_db_path(const hc_db_t *db);

/* Returns 1 while writes succeed. A storage failure of a write or commit
 * (HC_ENOSPC, HC_EIO) marks the pool as failing writes; the next commit that
 * changes rows clears the mark. While marked, this call performs a tiny probe
 * write (table hc_probe, not waiting for the disk) at most once a second, so
 * that the pool recovers by itself when space returns without traffic.
 * Returns 0 while marked and the probe fails too. Thread-safe. */
int hc_db_writable(hc_db_t *db);

/* The error that marked the pool as failing writes (HC_ENOSPC or HC_EIO), 0
 * when not marked. Never probes. */
int hc_db_write_error(hc_db_t *db);

/* Makes the transactions of db's threads share commits (SQLite with sync
 * FULL; nothing otherwise): each runs on one writer connection as a
 * SAVEPOINT inside a batch that stays open while other threads wait to
 * write, and the last of them commits it with one fdatasync for all. A
 * commit still returns only once it is on disk, and other connections see
 * it only then; a batch that fails fails for all its members (each gets the
 * error). Call once, before the pool is used by several threads. */
void hc_db_batch_commits(hc_db_t *db);

/* For tests: threads queued to begin a transaction on a batching SQLite
 * pool, batches ended, and transactions committed in them. */
void hc_db_sqlite_batch_stats(hc_db_t *db, int *queued, uint64_t *batches, uint64_t *members);

/* Returns 1 once SQLite reported the database corrupt (SQLITE_CORRUPT,
 * SQLITE_NOTADB) or hc_db_check found a problem; it stays set for the life of
 * the pool (a corrupt file does not heal; restart after repairing it). */
int hc_db_corrupt(hc_db_t *db);

/* Returns 0 when db is healthy (not corrupt, writable; may probe), else
 * HC_ECORRUPT, HC_ENOSPC or HC_EIO with one line saying why in why (n bytes). */
int hc_db_health(hc_db_t *db, char *why, size_t n);

/* Runs PRAGMA quick_check (full=0: cheap, for start-up) or integrity_check
 * (full=1). Returns 0 when it answers ok; HC_ECORRUPT with the first problems
 * in why (and marks the pool corrupt); another hc_err when it cannot run. */
int hc_db_check(hc_db_t *db, int full, char *why, size_t n);

size_t hc_rows_count(const hc_rows_t *r);
size_t hc_rows_cols(const hc_rows_t *r);
/* Column value of row i; NULL values read as 0 / NULL. Text is owned by r. */
int64_t hc_rows_i64(const hc_rows_t *r, size_t row, size_t col);
const char *hc_rows_text(const hc_rows_t *r, size_t row, size_t col);
int hc_rows_is_null(const hc_rows_t *r, size_t row, size_t col);
/* Frees a result. Accepts NULL. */
void hc_rows_free(hc_rows_t *r);

#endif
