/* hc_db_sqlite: the SQLite implementation of the storage interface: a pool of
 * WAL-mode connections, in-process serialised writers, cached statements and
 * versioned migrations. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"

#define STMT_CACHE 64
#define BUSY_LIMIT_MS 30000

typedef struct cached_stmt {
    const char *sql_ptr; /* the caller's pointer, checked first */
    char *sql;           /* our copy, always compared (buffers get reused) */
    uint32_t hash;
    sqlite3_stmt *stmt;
} cached_stmt_t;

struct hc_conn {
    sqlite3 *db;
    hc_db_t *pool;
    struct hc_conn *next_free;
    int in_tx; /* holds the pool's write lock */
    int lazy;  /* this transaction commits without fsync (hc_conn_begin_lazy) */
    cached_stmt_t cache[STMT_CACHE];
    size_t n_cache, next_evict;
};

struct hc_db {
    char *path;
    char sync[16];
    pthread_mutex_t mu;       /* guards free list */
    pthread_mutex_t write_mu; /* one writer at a time in this process */
    hc_conn_t *free;
    hc_conn_t **all;
    size_t n_all;
};

typedef struct cell {
    int is_null;
    int64_t i;
    char *s;
} cell_t;

struct hc_rows {
    size_t rows, cols, cap;
    cell_t *cells;
};

/* Sleeps briefly and retries while another process holds the file lock, so a
 * short cross-process wait costs microseconds, not SQLite's default steps. */
static int busy_cb(void *ud, int count)
{
    (void)ud;
    if (count * 0.2 > BUSY_LIMIT_MS)
        return 0;
    struct timespec ts = {0, count < 50 ? 50000 : 200000};
    nanosleep(&ts, NULL);
    return 1;
}

static int map_rc(sqlite3 *db, int rc, const char *sql)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_CONSTRAINT:
        return HC_ECONFLICT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        hc_warn("sqlite busy: %s", sql);
        return HC_EBUSY;
    default:
        hc_error("sqlite error %d (%s) in: %.200s", rc, sqlite3_errmsg(db), sql);
        return HC_EIO;
    }
}

static hc_conn_t *conn_open(hc_db_t *pool)
{
    hc_conn_t *c = hc_xcalloc(1, sizeof *c);
    c->pool = pool;
    int rc = sqlite3_open_v2(pool->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        hc_error("cannot open %s: %s", pool->path, c->db ? sqlite3_errmsg(c->db) : "?");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_handler(c->db, busy_cb, NULL);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             " PRAGMA temp_store=MEMORY;",
             pool->sync);
    /* Switching to WAL needs a moment of exclusive access; processes starting
     * together may collide here, so retry briefly. */
    int prc = SQLITE_BUSY;
    for (int tries = 0; tries < 200 && prc != SQLITE_OK; tries++) {
        prc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
        if (prc != SQLITE_OK && (prc & 0xff) != SQLITE_BUSY && (prc & 0xff) != SQLITE_LOCKED)
            break;
        if (prc != SQLITE_OK) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    if (prc != SQLITE_OK) {
        hc_error("cannot configure %s: %s", pool->path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_close(hc_conn_t *c)
{
    for (size_t i = 0; i < c->n_cache; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Returns a reset, cleared statement for sql from the cache, preparing it if
 * needed. Returns NULL on a prepare error (logged). */
static sqlite3_stmt *stmt_get(hc_conn_t *c, const char *sql)
{
    uint32_t h = 0;
    int hashed = 0;
    for (size_t i = 0; i < c->n_cache; i++) {
        cached_stmt_t *e = &c->cache[i];
        /* The same pointer usually means the same static string, but callers
         * that build SQL in a reused buffer pass one pointer for different
         * texts, so the text is always compared. */
        if (e->sql_ptr == sql) {
            if (strcmp(e->sql, sql) != 0)
                continue;
        } else {
            if (!hashed) {
                h = fnv1a(sql);
                hashed = 1;
            }
            if (e->hash != h || strcmp(e->sql, sql) != 0)
                continue;
        }
        sqlite3_reset(e->stmt);
        sqlite3_clear_bindings(e->stmt);
        return e->stmt;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        map_rc(c->db, rc, sql);
        return NULL;
    }
    cached_stmt_t *e;
    if (c->n_cache < STMT_CACHE) {
        e = &c->cache[c->n_cache++];
    } else {
        e = &c->cache[c->next_evict];
        c->next_evict = (c->next_evict + 1) % STMT_CACHE;
        sqlite3_finalize(e->stmt);
        free(e->sql);
    }
    e->sql_ptr = sql;
    e->sql = hc_xstrdup(sql);
    e->hash = hashed ? h : fnv1a(sql);
    e->stmt = st;
    return st;
}

static int bind_all(hc_conn_t *c, sqlite3_stmt *st, const hc_val_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        int idx = (int)i + 1;
        switch (p[i].kind) {
        case HC_VAL_I64: rc = sqlite3_bind_int64(st, idx, p[i].i); break;
        case HC_VAL_TEXT: rc = sqlite3_bind_text(st, idx, p[i].s, p[i].n < 0 ? -1 : (int)p[i].n, SQLITE_STATIC); break;
        default: rc = sqlite3_bind_null(st, idx); break;
        }
        if (rc != SQLITE_OK)
            return map_rc(c->db, rc, sqlite3_sql(st));
    }
    return 0;
}

static int run_migrations(hc_conn_t *c, const hc_migration_t *migs, size_t n)
{
    int rc = hc_conn_exec_script(c, "CREATE TABLE IF NOT EXISTS schema_version ("
                                    " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = hc_conn_begin(c);
        if (rc)
            return rc;
        int64_t have = 0;
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM schema_version WHERE version = ?",
                               HC_PARAMS(HC_I64(migs[i].version)), &have);
        if (!rc && !have) {
            rc = hc_conn_exec_script(c, migs[i].sql);
            if (!rc)
                rc = hc_conn_exec(c, "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                                  HC_PARAMS(HC_I64(migs[i].version), HC_I64(time(NULL))), NULL);
            if (!rc)
                hc_info("applied migration %d to %s", migs[i].version, c->pool->path);
        }
        if (rc) {
            hc_conn_rollback(c);
            hc_error("migration %d failed on %s", migs[i].version, c->pool->path);
            return rc;
        }
        rc = hc_conn_commit(c);
        if (rc)
            return rc;
    }
    return 0;
}

int hc_db_open(const char *path, const char *sync, const hc_migration_t *migs, size_t n_migs,
               hc_db_t **out)
{
    *out = NULL;
    hc_db_t *db = hc_xcalloc(1, sizeof *db);
    db->path = hc_xstrdup(path);
    hc_strlcpy(db->sync, sync && strcmp(sync, "NORMAL") == 0 ? "NORMAL" : "FULL", sizeof db->sync);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->write_mu, NULL);
    hc_conn_t *c = hc_db_acquire(db);
    if (!c) {
        hc_db_destroy(db);
        return HC_EIO;
    }
    int rc = run_migrations(c, migs, n_migs);
    hc_db_release(db, c);
    if (rc) {
        hc_db_destroy(db);
        return rc;
    }
    *out = db;
    return 0;
}

void hc_db_destroy(hc_db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n_all; i++)
        conn_close(db->all[i]);
    free(db->all);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->write_mu);
    free(db->path);
    free(db);
}

hc_conn_t *hc_db_acquire(hc_db_t *db)
{
    pthread_mutex_lock(&db->mu);
    hc_conn_t *c = db->free;
    if (c) {
        db->free = c->next_free;
        pthread_mutex_unlock(&db->mu);
        return c;
    }
    pthread_mutex_unlock(&db->mu);
    c = conn_open(db);
    if (!c)
        hc_fatal("cannot open a connection to %s", db->path);
    pthread_mutex_lock(&db->mu);
    db->all = hc_xrealloc(db->all, (db->n_all + 1) * sizeof *db->all);
    db->all[db->n_all++] = c;
    pthread_mutex_unlock(&db->mu);
    return c;
}

void hc_db_release(hc_db_t *db, hc_conn_t *c)
{
    if (!c)
        return;
    if (c->in_tx) {
        hc_warn("connection released inside a transaction; rolling back");
        hc_conn_rollback(c);
    }
    pthread_mutex_lock(&db->mu);
    c->next_free = db->free;
    db->free = c;
    pthread_mutex_unlock(&db->mu);
}

/* Restores the pool's durable setting after a lazy transaction ended. */
static void end_lazy(hc_conn_t *c)
{
    if (c->lazy) {
        sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        c->lazy = 0;
    }
}

int hc_conn_begin(hc_conn_t *c)
{
    pthread_mutex_lock(&c->pool->write_mu);
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&c->pool->write_mu);
        end_lazy(c);
        return map_rc(c->db, rc, "BEGIN IMMEDIATE");
    }
    c->in_tx = 1;
    return 0;
}

int hc_conn_begin_lazy(hc_conn_t *c)
{
    /* In WAL mode synchronous=NORMAL commits without an fsync; the frames
     * reach the disk with the next durable commit or checkpoint, in order.
     * SQLite allows the switch only outside a transaction. */
    if (strcmp(c->pool->sync, "NORMAL") != 0 &&
        sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) == SQLITE_OK)
        c->lazy = 1;
    return hc_conn_begin(c);
}

int hc_conn_commit(hc_conn_t *c)
{
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    int err = 0;
    if (rc != SQLITE_OK) {
        err = map_rc(c->db, rc, "COMMIT");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (c->in_tx) {
        c->in_tx = 0;
        pthread_mutex_unlock(&c->pool->write_mu);
    }
    end_lazy(c);
    return err;
}

void hc_conn_rollback(hc_conn_t *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    if (c->in_tx) {
        c->in_tx = 0;
        pthread_mutex_unlock(&c->pool->write_mu);
    }
    end_lazy(c);
}

int hc_conn_exec(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                 int64_t *changes)
{
    sqlite3_stmt *st = stmt_get(c, sql);
    if (!st)
        return HC_EIO;
    int rc = bind_all(c, st, params, n);
    if (rc)
        return rc;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        ;
    rc = map_rc(c->db, s, sql);
    if (changes)
        *changes = rc ? 0 : sqlite3_changes(c->db);
    sqlite3_reset(st);
    return rc;
}

int hc_conn_query(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                  hc_rows_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = stmt_get(c, sql);
    if (!st)
        return HC_EIO;
    int rc = bind_all(c, st, params, n);
    if (rc)
        return rc;
    hc_rows_t *r = hc_xcalloc(1, sizeof *r);
    r->cols = (size_t)sqlite3_column_count(st);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r->rows + 1) * r->cols > r->cap) {
            r->cap = r->cap ? r->cap * 2 : r->cols * 8;
            r->cells = hc_xrealloc(r->cells, r->cap * sizeof *r->cells);
        }
        cell_t *row = r->cells + r->rows * r->cols;
        for (size_t i = 0; i < r->cols; i++) {
            int col = (int)i;
            cell_t *cl = &row[i];
            cl->is_null = sqlite3_column_type(st, col) == SQLITE_NULL;
            cl->i = cl->is_null ? 0 : sqlite3_column_int64(st, col);
            const unsigned char *t = cl->is_null ? NULL : sqlite3_column_text(st, col);
            cl->s = t ? hc_xstrdup((const char *)t) : NULL;
        }
        r->rows++;
    }
    rc = map_rc(c->db, s, sql);
    sqlite3_reset(st);
    if (rc) {
        hc_rows_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int hc_conn_query_i64(hc_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                      int64_t *out)
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

int hc_conn_exec_script(hc_conn_t *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        hc_error("sqlite script failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return map_rc(c->db, rc, sql);
    }
    return 0;
}

size_t hc_rows_count(const hc_rows_t *r)
{
    return r ? r->rows : 0;
}

size_t hc_rows_cols(const hc_rows_t *r)
{
    return r ? r->cols : 0;
}

static const cell_t *cell_at(const hc_rows_t *r, size_t row, size_t col)
{
    if (!r || row >= r->rows || col >= r->cols)
        return NULL;
    return &r->cells[row * r->cols + col];
}

int64_t hc_rows_i64(const hc_rows_t *r, size_t row, size_t col)
{
    const cell_t *c = cell_at(r, row, col);
    return c ? c->i : 0;
}

const char *hc_rows_text(const hc_rows_t *r, size_t row, size_t col)
{
    const cell_t *c = cell_at(r, row, col);
    return c ? c->s : NULL;
}

int hc_rows_is_null(const hc_rows_t *r, size_t row, size_t col)
{
    const cell_t *c = cell_at(r, row, col);
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
