/* hc_db_sqlite: the SQLite backend of the storage interface: a pool of
 * WAL-mode connections, in-process serialised writers, cached statements,
 * versioned migrations, and the pool's health (writes failing, corruption). */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_db_impl.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

#define STMT_CACHE 64
#define BUSY_LIMIT_MS 30000
#define PROBE_INTERVAL_MS 1000 /* while writes fail, at most one probe write per second */
#define BATCH_MAX 32           /* transactions in one commit at most (hc_db_batch_commits) */
/* Each connection's page cache, KiB (SQLite's default is 2,000): the pages a
 * service's writer keeps touching (the right edges of its tables and indexes)
 * fit in far less, and a reader's cache is emptied whenever another
 * connection commits. With 2,000 the caches were a quarter of the system's
 * memory after the benchmark; 1,000 took 4-5 MB off and no measurable CPU
 * (docs/benchmark.md); 256 cost 7-10 % more CPU per booking. */
#define CACHE_KIB "1000"

typedef struct cached_stmt {
    const char *sql_ptr; /* the caller's pointer, checked first */
    char *sql;           /* our copy, always compared (buffers get reused) */
    uint32_t hash;
    sqlite3_stmt *stmt;
} cached_stmt_t;

typedef struct sq_db sq_db_t;
typedef struct sq_conn sq_conn_t;

/* A transaction released into the open batch, waiting for its end (on the
 * member's stack). Each member sleeps on its own semaphore, posted once by
 * the batch's end: waking them one by one spares them a shared mutex to
 * take again in turn after a broadcast. */
typedef struct sq_member {
    struct sq_member *next;
    int err; /* the batch's outcome: 0 when it is on disk (set before done) */
    sem_t done;
} sq_member_t;

struct sq_conn {
    struct hc_conn base; /* first: the dispatch */
    sqlite3 *db;
    sq_db_t *pool;
    struct sq_conn *next_free;
    struct sq_conn *tx;   /* a handed-out connection in a transaction: the pool's writer */
    int member_changes;   /* the writer's sqlite3_total_changes when its member began */
    int in_tx;            /* holds the pool's write lock */
    int lazy;             /* this transaction commits without fsync (sq_conn_begin_lazy) */
    int quiet;            /* errors are expected (the write probe): do not log them */
    int changes_at_begin; /* sqlite3_total_changes when the transaction began */
    char last_err[256];   /* SQLite's message for the last failed call */
    cached_stmt_t cache[STMT_CACHE];
    size_t n_cache, next_evict;
};

struct sq_db {
    struct hc_db base; /* first: the dispatch */
    char *path;
    char sync[16];
    int readonly; /* opened by hc_db_open_existing for reading only */
    int create;   /* the file may be created (hc_db_open) */
    /* 0 while writes succeed; else the hc_err of the last failed write
     * (HC_ENOSPC or HC_EIO), until a commit that changed rows succeeds. */
    atomic_int write_err;
    _Atomic int64_t probe_at; /* monotonic ms of the last write probe */
    atomic_int corrupt;       /* SQLite reported corruption, or a check failed */
    pthread_mutex_t mu;       /* guards free list */
    pthread_mutex_t write_mu; /* one writer at a time in this process */
    /* Batched commits (hc_db_batch_commits): every transaction begun
     * through the dispatch runs on the writer, under write_mu, as a
     * SAVEPOINT inside one SQLite transaction (the batch) that stays open
     * while other threads queue for write_mu; the last of them (or the
     * BATCH_MAX-th) commits it, with one fdatasync, for all. A member's
     * commit returns only once the batch is on disk, and other connections
     * see nothing of it before: what FULL promises, at one fsync per batch. */
    int batching;
    sq_conn_t *writer;         /* opened at the first transaction */
    atomic_int queued;         /* threads waiting for write_mu to begin one */
    int batch_open;            /* BEGIN issued on the writer, not yet ended (write_mu) */
    int batch_lazy;            /* opened by a lazy transaction: commits without fsync */
    int batch_changed;         /* a member of it changed rows (write_mu) */
    size_t batch_n;            /* members begun in it (write_mu) */
    struct sq_member *waiting; /* those released into it, waiting for its end (write_mu) */
    uint64_t batches, members; /* ended, and members committed (batch_mu; for tests) */
    pthread_mutex_t batch_mu;  /* guards the two counts above */
    sq_conn_t *free;
    sq_conn_t **all;
    size_t n_all;
};

/* Sleeps briefly and retries while another process holds the file lock, so a
 * short cross-process wait costs microseconds, not SQLite's default steps. */
static int busy_cb(void *ud, int count)
{
    (void)ud;
    if (count * 0.2 > BUSY_LIMIT_MS)
        return 0;
    hc_sleep_us(count < 50 ? 50 : 200);
    return 1;
}

/* Marks the pool corrupt (once logged): readiness reports it until restart. */
static void mark_corrupt(sq_db_t *pool, const char *why)
{
    if (atomic_exchange(&pool->corrupt, 1) == 0)
        hc_error("database %s is corrupt: %s", pool->path, why);
}

/* Maps an SQLite result to an hc_err. writing says the call was part of a
 * write (a statement that changes data, or anything inside a transaction):
 * a storage failure there (full disk, I/O error) marks the pool as failing
 * writes until a later commit succeeds. SQL errors (syntax, no such table)
 * are programming errors, not storage failures, and mark nothing. */
static int map_rc(sq_conn_t *c, int rc, const char *sql, int writing)
{
    int err;
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_CONSTRAINT:
        return HC_ECONFLICT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        if (!c->quiet)
            hc_warn("sqlite busy: %s", sql);
        return HC_EBUSY;
    case SQLITE_FULL:
        err = HC_ENOSPC;
        break;
    case SQLITE_IOERR: {
        /* A write past a full disk or quota often surfaces as an I/O error;
         * the OS error tells them apart. */
        int e = sqlite3_system_errno(c->db);
        err = e == ENOSPC || e == EDQUOT ? HC_ENOSPC : HC_EIO;
        break;
    }
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
        err = HC_EIO;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        err = HC_ECORRUPT;
        break;
    default:
        snprintf(c->last_err, sizeof c->last_err, "%s", sqlite3_errmsg(c->db));
        hc_error("sqlite error %d (%s) in: %.200s", rc, c->last_err, sql);
        return HC_EIO;
    }
    snprintf(c->last_err, sizeof c->last_err, "%s", sqlite3_errmsg(c->db));
    if (!c->quiet)
        hc_error("sqlite error %d (%s) in: %.200s", rc, c->last_err, sql);
    if (err == HC_ECORRUPT)
        mark_corrupt(c->pool, c->last_err);
    else if (writing && !c->pool->readonly && atomic_exchange(&c->pool->write_err, err) == 0)
        hc_error("writes to %s are failing (%s): the service reports not ready until one "
                 "succeeds again",
                 c->pool->path, hc_strerror(err));
    return err;
}

extern const hc_db_ops_t hc_db_sqlite_ops;

static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

/* Before SQLite's first use in the process: no allocation statistics
 * (sqlite3_memory_used() and the like, which nothing here reads). Keeping
 * them takes one process-wide mutex around every allocation and free of
 * every connection, which the request threads, relay and consumer of a
 * service contend for (docs/benchmark.md). */
static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static sq_conn_t *conn_open(sq_db_t *pool)
{
    pthread_once(&sqlite_once, sqlite_configure);
    sq_conn_t *c = hc_xcalloc(1, sizeof *c);
    c->base.ops = &hc_db_sqlite_ops;
    c->pool = pool;
    int flags = SQLITE_OPEN_NOMUTEX |
                (pool->readonly ? SQLITE_OPEN_READONLY
                                : SQLITE_OPEN_READWRITE | (pool->create ? SQLITE_OPEN_CREATE : 0));
    int rc = sqlite3_open_v2(pool->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        hc_error("cannot open %s: %s", pool->path, c->db ? sqlite3_errmsg(c->db) : "?");
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    sqlite3_busy_handler(c->db, busy_cb, NULL);
    char pragmas[256];
    if (pool->readonly)
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA query_only=1; PRAGMA temp_store=MEMORY;"
                 " PRAGMA cache_size=-" CACHE_KIB ";");
    else
        snprintf(pragmas, sizeof pragmas,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
                 " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-" CACHE_KIB ";",
                 pool->sync);
    /* Switching to WAL needs a moment of exclusive access; processes starting
     * together may collide here, so retry briefly. */
    int prc = SQLITE_BUSY;
    for (int tries = 0; tries < 200 && prc != SQLITE_OK; tries++) {
        prc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
        if (prc != SQLITE_OK && (prc & 0xff) != SQLITE_BUSY && (prc & 0xff) != SQLITE_LOCKED)
            break;
        if (prc != SQLITE_OK)
            hc_sleep_ms(10);
    }
    if (prc != SQLITE_OK) {
        hc_error("cannot configure %s: %s", pool->path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    return c;
}

static void conn_close(sq_conn_t *c)
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
static sqlite3_stmt *stmt_get(sq_conn_t *c, const char *sql)
{
    cached_stmt_t *hit = NULL;
    /* The same pointer usually means the same static string: looked for
     * first, with no hashing. Callers that build SQL in a reused buffer pass
     * one pointer for different texts, so the text is always compared. */
    for (size_t i = 0; i < c->n_cache && !hit; i++)
        if (c->cache[i].sql_ptr == sql && strcmp(c->cache[i].sql, sql) == 0)
            hit = &c->cache[i];
    uint32_t h = hit ? 0 : fnv1a(sql);
    for (size_t i = 0; i < c->n_cache && !hit; i++)
        if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0)
            hit = &c->cache[i];
    if (hit) {
        sqlite3_reset(hit->stmt);
        sqlite3_clear_bindings(hit->stmt);
        return hit->stmt;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        map_rc(c, rc, sql, 0);
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
    e->hash = h;
    e->stmt = st;
    return st;
}

static int bind_all(sq_conn_t *c, sqlite3_stmt *st, const hc_val_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        int idx = (int)i + 1;
        switch (p[i].kind) {
        case HC_VAL_I64:
            rc = sqlite3_bind_int64(st, idx, p[i].i);
            break;
        case HC_VAL_TEXT:
            rc = sqlite3_bind_text(st, idx, p[i].s, p[i].n < 0 ? -1 : (int)p[i].n, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(st, idx);
            break;
        }
        if (rc != SQLITE_OK)
            return map_rc(c, rc, sqlite3_sql(st), 0);
    }
    return 0;
}

static void sq_db_destroy(sq_db_t *db);
static void sq_db_release(sq_db_t *db, sq_conn_t *c);
static int sq_conn_begin(sq_conn_t *c);
static int sq_conn_commit(sq_conn_t *c);
static void sq_conn_rollback(sq_conn_t *c);
static int sq_conn_exec(sq_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                        int64_t *changes);
static int sq_conn_query(sq_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                         hc_rows_t **out);
static int sq_conn_exec_script(sq_conn_t *c, const char *sql);
extern const hc_db_ops_t hc_db_sqlite_ops;

static int op_begin(hc_conn_t *c, int lazy);
static int op_commit(hc_conn_t *c);
static void op_rollback(hc_conn_t *c);
static int op_exec(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, int64_t *changes);
static int op_exec_script(hc_conn_t *c, const char *sql);

static int sq_conn_query_i64(sq_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                             int64_t *out)
{
    return hc_conn_query_i64(&c->base, sql, params, n, out);
}

static int run_migrations(sq_conn_t *c, const hc_migration_t *migs, size_t n)
{
    int rc = sq_conn_exec_script(c, "CREATE TABLE IF NOT EXISTS schema_version ("
                                    " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = sq_conn_begin(c);
        if (rc)
            return rc;
        int64_t have = 0;
        rc = sq_conn_query_i64(c, "SELECT COUNT(*) FROM schema_version WHERE version = ?",
                               HC_PARAMS(HC_I64(migs[i].version)), &have);
        if (!rc && !have) {
            rc = sq_conn_exec_script(c, migs[i].sql);
            if (!rc)
                rc =
                    sq_conn_exec(c, "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                                 HC_PARAMS(HC_I64(migs[i].version), HC_I64(time(NULL))), NULL);
            if (!rc)
                hc_info("applied migration %d to %s", migs[i].version, c->pool->path);
        }
        if (rc) {
            sq_conn_rollback(c);
            hc_error("migration %d failed on %s", migs[i].version, c->pool->path);
            return rc;
        }
        rc = sq_conn_commit(c);
        if (rc)
            return rc;
    }
    return 0;
}

/* A new pool for path (no connection yet). */
static sq_db_t *pool_new(const char *path, const char *sync, int readonly, int create)
{
    sq_db_t *db = hc_xcalloc(1, sizeof *db);
    db->base.ops = &hc_db_sqlite_ops;
    db->path = hc_xstrdup(path);
    hc_strlcpy(db->sync, sync && strcmp(sync, "NORMAL") == 0 ? "NORMAL" : "FULL", sizeof db->sync);
    db->readonly = readonly;
    db->create = create;
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->write_mu, NULL);
    pthread_mutex_init(&db->batch_mu, NULL);
    return db;
}

/* Opens the pool's first connection and hands it out (so that a file SQLite
 * cannot open is an error here, not a fatal one in sq_db_acquire). */
/* Adds c to the connections db closes at destroy. Under db->mu once other
 * threads may use db. */
static void pool_track(sq_db_t *db, sq_conn_t *c)
{
    db->all = hc_xrealloc(db->all, (db->n_all + 1) * sizeof *db->all);
    db->all[db->n_all++] = c;
}

static sq_conn_t *pool_first(sq_db_t *db)
{
    sq_conn_t *c = conn_open(db);
    if (c)
        pool_track(db, c);
    return c;
}

int hc_db_open(const char *path, const char *sync, const hc_migration_t *migs, size_t n_migs,
               hc_db_t **out)
{
    *out = NULL;
    sq_db_t *db = pool_new(path, sync, 0, 1);
    sq_conn_t *c = pool_first(db);
    if (!c) {
        sq_db_destroy(db);
        return HC_EIO;
    }
    int rc = run_migrations(c, migs, n_migs);
    sq_db_release(db, c);
    if (rc) {
        sq_db_destroy(db);
        return rc;
    }
    *out = &db->base;
    return 0;
}

static void sq_db_destroy(sq_db_t *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n_all; i++)
        conn_close(db->all[i]);
    free(db->all);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->batch_mu);
    free(db->path);
    free(db);
}

static sq_conn_t *sq_db_acquire(sq_db_t *db)
{
    pthread_mutex_lock(&db->mu);
    sq_conn_t *c = db->free;
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
    pool_track(db, c);
    pthread_mutex_unlock(&db->mu);
    return c;
}

static void sq_db_release(sq_db_t *db, sq_conn_t *c)
{
    if (!c)
        return;
    if (c->tx || c->in_tx) {
        hc_warn("connection released inside a transaction; rolling back");
        hc_conn_rollback(&c->base);
    }
    pthread_mutex_lock(&db->mu);
    c->next_free = db->free;
    db->free = c;
    pthread_mutex_unlock(&db->mu);
}

/* Runs sql, a statement without parameters or rows (BEGIN, COMMIT, a
 * PRAGMA that sets), from the statement cache: every transaction runs a few
 * of these, and sqlite3_exec would parse them each time. */
static int exec_cached(sq_conn_t *c, const char *sql)
{
    sqlite3_stmt *st = stmt_get(c, sql);
    if (!st)
        return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Restores the pool's durable setting after a lazy transaction ended. */
static void end_lazy(sq_conn_t *c)
{
    if (c->lazy) {
        exec_cached(c, "PRAGMA synchronous=FULL");
        c->lazy = 0;
    }
}

static int sq_conn_begin(sq_conn_t *c)
{
    pthread_mutex_lock(&c->pool->write_mu);
    int rc = exec_cached(c, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&c->pool->write_mu);
        end_lazy(c);
        return map_rc(c, rc, "BEGIN IMMEDIATE", 1);
    }
    c->in_tx = 1;
    c->changes_at_begin = sqlite3_total_changes(c->db);
    return 0;
}

static int sq_conn_begin_lazy(sq_conn_t *c)
{
    /* In WAL mode synchronous=NORMAL commits without an fsync; the frames
     * reach the disk with the next durable commit or checkpoint, in order.
     * SQLite allows the switch only outside a transaction. */
    if (strcmp(c->pool->sync, "NORMAL") != 0 &&
        exec_cached(c, "PRAGMA synchronous=NORMAL") == SQLITE_OK)
        c->lazy = 1;
    return sq_conn_begin(c);
}

/* A commit that changed rows succeeded: rows reached the file, so writes
 * work again (a transaction that changed nothing proves nothing). */
static void writes_work(sq_db_t *db)
{
    if (atomic_load(&db->write_err) && atomic_exchange(&db->write_err, 0) != 0)
        hc_info("writes to %s succeed again", db->path);
}

static int sq_conn_commit(sq_conn_t *c)
{
    int rc = exec_cached(c, "COMMIT");
    int err = 0;
    if (rc != SQLITE_OK) {
        err = map_rc(c, rc, "COMMIT", 1);
        if (!sqlite3_get_autocommit(c->db))
            exec_cached(c, "ROLLBACK");
    } else if (sqlite3_total_changes(c->db) != c->changes_at_begin) {
        writes_work(c->pool);
    }
    if (c->in_tx) {
        c->in_tx = 0;
        pthread_mutex_unlock(&c->pool->write_mu);
    }
    end_lazy(c);
    return err;
}

static void sq_conn_rollback(sq_conn_t *c)
{
    if (!sqlite3_get_autocommit(c->db))
        exec_cached(c, "ROLLBACK");
    if (c->in_tx) {
        c->in_tx = 0;
        pthread_mutex_unlock(&c->pool->write_mu);
    }
    end_lazy(c);
}

static int sq_conn_exec(sq_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
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
    rc = map_rc(c, s, sql, c->in_tx || !sqlite3_stmt_readonly(st));
    if (changes)
        *changes = rc ? 0 : sqlite3_changes(c->db);
    sqlite3_reset(st);
    return rc;
}

static int sq_conn_query(sq_conn_t *c, const char *sql, const hc_val_t *params, size_t n,
                         hc_rows_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = stmt_get(c, sql);
    if (!st)
        return HC_EIO;
    int rc = bind_all(c, st, params, n);
    if (rc)
        return rc;
    hc_rows_t *r = hc_rows_new((size_t)sqlite3_column_count(st));
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        hc_cell_t *row = hc_rows_add(r);
        for (size_t i = 0; i < r->cols; i++) {
            int col = (int)i;
            hc_cell_t *cl = &row[i];
            cl->is_null = sqlite3_column_type(st, col) == SQLITE_NULL;
            cl->i = cl->is_null ? 0 : sqlite3_column_int64(st, col);
            const unsigned char *t = cl->is_null ? NULL : sqlite3_column_text(st, col);
            cl->s = t ? hc_xstrdup((const char *)t) : NULL;
        }
    }
    rc = map_rc(c, s, sql, c->in_tx || !sqlite3_stmt_readonly(st));
    sqlite3_reset(st);
    if (rc) {
        hc_rows_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int sq_conn_exec_script(sq_conn_t *c, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        if (!c->quiet)
            hc_error("sqlite script failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return map_rc(c, rc, sql, 1);
    }
    return 0;
}

/* ---- the pool's health ---- */

int hc_db_open_existing(const char *path, int readonly, hc_db_t **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? HC_ENOTFOUND : HC_EIO;
    sq_db_t *db = pool_new(path, "FULL", readonly, 0);
    sq_conn_t *c = pool_first(db);
    if (!c) {
        sq_db_destroy(db);
        return HC_EIO;
    }
    sq_db_release(db, c);
    *out = &db->base;
    return 0;
}

void hc_db_sqlite_batch_stats(hc_db_t *d, int *queued, uint64_t *batches, uint64_t *members)
{
    sq_db_t *db = (sq_db_t *)(void *)d;
    *queued = atomic_load(&db->queued);
    pthread_mutex_lock(&db->batch_mu);
    *batches = db->batches;
    *members = db->members;
    pthread_mutex_unlock(&db->batch_mu);
}

void hc_db_batch_commits(hc_db_t *d)
{
    if (d->ops != &hc_db_sqlite_ops)
        return;
    sq_db_t *db = (sq_db_t *)(void *)d;
    if (!db->readonly && strcmp(db->sync, "FULL") == 0)
        db->batching = 1;
}

static const char *sq_db_path(const sq_db_t *db)
{
    return db->path;
}

static int sq_db_corrupt(sq_db_t *db)
{
    return atomic_load(&db->corrupt);
}

static int sq_db_write_error(sq_db_t *db)
{
    return atomic_load(&db->write_err);
}

static int sq_db_writable(sq_db_t *db)
{
    if (!atomic_load(&db->write_err))
        return 1;
    /* One caller probes at a time, at most once per PROBE_INTERVAL_MS; the
     * others report the state of the last probe. */
    int64_t now = hc_mono_ms(), last = atomic_load(&db->probe_at);
    if (now - last < PROBE_INTERVAL_MS ||
        !atomic_compare_exchange_strong(&db->probe_at, &last, now))
        return !atomic_load(&db->write_err);
    /* A tiny write that needs fresh space in the WAL like any other: its
     * commit clears the flag (writes_work) once space is back. A lost
     * probe row means nothing, so it does not wait for the disk. */
    sq_conn_t *h = sq_db_acquire(db);
    hc_conn_t *c = &h->base; /* through the dispatch: on the writer, as every write */
    h->quiet = 1;
    int rc = op_begin(c, 1);
    if (!rc)
        rc = op_exec_script(c, "CREATE TABLE IF NOT EXISTS hc_probe (id INTEGER PRIMARY KEY,"
                               " at INTEGER NOT NULL)");
    if (!rc)
        rc = op_exec(c,
                     "INSERT INTO hc_probe(id, at) VALUES (1, ?)"
                     " ON CONFLICT(id) DO UPDATE SET at = excluded.at",
                     HC_PARAMS(HC_I64(now)), NULL);
    if (rc)
        op_rollback(c);
    else
        op_commit(c);
    h->quiet = 0;
    sq_db_release(db, h);
    return !atomic_load(&db->write_err);
}

static int sq_db_health(sq_db_t *db, char *why, size_t n)
{
    if (sq_db_corrupt(db)) {
        snprintf(why, n, "database %s is corrupt (run `healthcenter check`)", db->path);
        return HC_ECORRUPT;
    }
    if (!sq_db_writable(db)) {
        int err = sq_db_write_error(db);
        snprintf(why, n, "writes to %s are failing: %s", db->path,
                 err == HC_ENOSPC ? "storage is full" : hc_strerror(err));
        return err ? err : HC_EIO;
    }
    if (n)
        why[0] = '\0';
    return 0;
}

static int sq_db_check(sq_db_t *db, int full, char *why, size_t n)
{
    sq_conn_t *c = sq_db_acquire(db);
    hc_rows_t *r = NULL;
    if (n)
        why[0] = '\0';
    /* Up to 10 problems are listed; one is enough to know. */
    int rc = sq_conn_query(c, full ? "PRAGMA integrity_check(10)" : "PRAGMA quick_check(10)",
                           HC_NOPARAMS, &r);
    if (rc == HC_ECORRUPT) {
        snprintf(why, n, "%s", c->last_err);
    } else if (!rc) {
        const char *first = hc_rows_text(r, 0, 0);
        if (!first || strcmp(first, "ok") != 0) {
            size_t used = 0;
            for (size_t i = 0; i < hc_rows_count(r) && used + 1 < n; i++) {
                int k = snprintf(why + used, n - used, "%s%s", i ? "; " : "",
                                 hc_rows_text(r, i, 0) ? hc_rows_text(r, i, 0) : "?");
                used += k > 0 ? (size_t)k : 0;
            }
            rc = HC_ECORRUPT;
            mark_corrupt(db, why);
        }
    } else {
        snprintf(why, n, "%s", c->last_err[0] ? c->last_err : hc_strerror(rc));
    }
    hc_rows_free(r);
    sq_db_release(db, c);
    return rc;
}

static int sq_conn_has_table(sq_conn_t *c, const char *name, int *has)
{
    int64_t n = 0;
    int rc =
        sq_conn_query_i64(c, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                          HC_PARAMS(HC_TEXT(name)), &n);
    *has = !rc && n > 0;
    return rc;
}

/* ---- the dispatch table (hc_db.c) ---- */

#define DB(d) ((sq_db_t *)(void *)(d))
#define CONN(c) ((sq_conn_t *)(void *)(c))

static void op_destroy(hc_db_t *db)
{
    sq_db_destroy(DB(db));
}
static hc_conn_t *op_acquire(hc_db_t *db)
{
    return &sq_db_acquire(DB(db))->base;
}
static void op_release(hc_db_t *db, hc_conn_t *c)
{
    sq_db_release(DB(db), CONN(c));
}
/* The connection a call on the handed-out c runs on: the pool's writer while
 * c is in a transaction, else c itself. */
static sq_conn_t *on(hc_conn_t *c)
{
    sq_conn_t *h = CONN(c);
    if (!h->tx)
        return h;
    h->tx->quiet = h->quiet; /* under the write lock */
    return h->tx;
}
/* Ends the open batch, under write_mu: COMMIT (FULL: one fdatasync for all
 * its members) when err is 0, else ROLLBACK; then hands every waiting member
 * the outcome. Returns it. */
static int batch_end(sq_db_t *db, int err)
{
    sq_conn_t *w = db->writer;
    if (!err) {
        int rc = exec_cached(w, "COMMIT");
        if (rc != SQLITE_OK)
            err = map_rc(w, rc, "COMMIT", 1);
        else if (db->batch_changed)
            writes_work(db);
    }
    if (err && !sqlite3_get_autocommit(w->db))
        exec_cached(w, "ROLLBACK");
    if (db->batch_lazy)
        exec_cached(w, "PRAGMA synchronous=FULL");
    db->batch_open = 0;
    db->batch_lazy = 0;
    db->batch_changed = 0;
    db->batch_n = 0;
    uint64_t n = 0;
    for (sq_member_t *m = db->waiting, *next; m; m = next) {
        next = m->next; /* m is gone once posted */
        m->err = err;
        n++;
        sem_post(&m->done);
    }
    db->waiting = NULL;
    pthread_mutex_lock(&db->batch_mu);
    db->batches++;
    db->members += err ? 0 : n;
    pthread_mutex_unlock(&db->batch_mu);
    return err;
}

/* Lets write_mu go after a member ended: the open batch is left to the
 * threads queued for write_mu (the last of them ends it), or ended now when
 * none is queued or it is full, so that a batch never waits for a thread
 * that is not coming. A batch the writer's SQLite transaction no longer
 * holds (an error rolled it back) fails for all its members. */
static void batch_leave(sq_db_t *db)
{
    sq_conn_t *w = db->writer;
    w->in_tx = 0;
    if (db->batch_open && sqlite3_get_autocommit(w->db))
        batch_end(db, HC_EIO);
    else if (db->batch_open && (atomic_load(&db->queued) == 0 || db->batch_n >= BATCH_MAX))
        batch_end(db, 0);
    pthread_mutex_unlock(&db->write_mu);
}

/* The pool's writer, opened at the first call; NULL if it cannot be. */
static sq_conn_t *writer_of(sq_db_t *db)
{
    pthread_mutex_lock(&db->mu);
    if (!db->writer && (db->writer = conn_open(db)) != NULL)
        pool_track(db, db->writer);
    sq_conn_t *w = db->writer;
    pthread_mutex_unlock(&db->mu);
    return w;
}

/* Begins h's transaction as a member of the open batch, or opens one. A
 * lazy transaction that finds none opens a lazy batch (committed without
 * fsync, as sq_conn_begin_lazy does), which a durable one ends before it
 * opens its own; a lazy one that finds a durable batch joins it. */
static int member_begin(sq_conn_t *h, int lazy)
{
    sq_db_t *db = h->pool;
    sq_conn_t *w = writer_of(db);
    if (!w)
        return HC_EIO;
    atomic_fetch_add(&db->queued, 1);
    pthread_mutex_lock(&db->write_mu);
    atomic_fetch_sub(&db->queued, 1);
    w->quiet = h->quiet;
    if (db->batch_open && db->batch_lazy && !lazy)
        batch_end(db, 0);
    int rc = SQLITE_OK;
    if (!db->batch_open) {
        if (lazy && exec_cached(w, "PRAGMA synchronous=NORMAL") == SQLITE_OK)
            db->batch_lazy = 1;
        rc = exec_cached(w, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK)
            db->batch_open = 1;
        else if (db->batch_lazy && exec_cached(w, "PRAGMA synchronous=FULL") == SQLITE_OK)
            db->batch_lazy = 0;
    }
    if (rc == SQLITE_OK)
        rc = exec_cached(w, "SAVEPOINT hc_member");
    if (rc != SQLITE_OK) {
        int err = map_rc(w, rc, "BEGIN IMMEDIATE / SAVEPOINT", 1);
        batch_leave(db);
        return err;
    }
    db->batch_n++;
    w->in_tx = 1;
    h->tx = w;
    h->member_changes = sqlite3_total_changes(w->db);
    return 0;
}

/* Ends h's member: RELEASE into the batch and wait for the batch's end
 * (commit), or, on rollback, undo it alone. */
static int member_end(sq_conn_t *h, int commit)
{
    sq_db_t *db = h->pool;
    sq_conn_t *w = h->tx;
    h->tx = NULL;
    int err = 0;
    if (commit) {
        int rc = exec_cached(w, "RELEASE hc_member");
        if (rc != SQLITE_OK) {
            err = map_rc(w, rc, "RELEASE", 1);
            commit = 0;
        }
    }
    if (!commit) {
        if (!sqlite3_get_autocommit(w->db) && exec_cached(w, "ROLLBACK TO hc_member") == SQLITE_OK)
            exec_cached(w, "RELEASE hc_member");
        batch_leave(db);
        return err;
    }
    sq_member_t me = {.next = db->waiting};
    sem_init(&me.done, 0, 0);
    db->waiting = &me;
    if (sqlite3_total_changes(w->db) != h->member_changes)
        db->batch_changed = 1;
    batch_leave(db);
    while (sem_wait(&me.done) != 0)
        ; /* EINTR */
    sem_destroy(&me.done);
    return me.err;
}

static int op_begin(hc_conn_t *c, int lazy)
{
    sq_conn_t *h = CONN(c);
    if (h->pool->batching)
        return member_begin(h, lazy);
    return lazy ? sq_conn_begin_lazy(h) : sq_conn_begin(h);
}
static int op_commit(hc_conn_t *c)
{
    sq_conn_t *h = CONN(c);
    return h->tx ? member_end(h, 1) : sq_conn_commit(h);
}
static void op_rollback(hc_conn_t *c)
{
    sq_conn_t *h = CONN(c);
    if (h->tx)
        member_end(h, 0);
    else
        sq_conn_rollback(h);
}
static int op_exec(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, int64_t *changes)
{
    return sq_conn_exec(on(c), sql, p, n, changes);
}
/* hc_conn_insert: the rowid of the row the INSERT made, read from the
 * connection it ran on (under the write lock when in a transaction), where
 * RETURNING would build and read back a temporary table. */
static int op_insert(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, int64_t *id)
{
    sq_conn_t *h = on(c);
    int64_t changes = 0;
    int rc = sq_conn_exec(h, sql, p, n, &changes);
    if (!rc && changes != 1)
        rc = HC_ENOTFOUND;
    if (!rc)
        *id = sqlite3_last_insert_rowid(h->db);
    return rc;
}
static int op_query(hc_conn_t *c, const char *sql, const hc_val_t *p, size_t n, hc_rows_t **out)
{
    return sq_conn_query(on(c), sql, p, n, out);
}
static int op_exec_script(hc_conn_t *c, const char *sql)
{
    /* A single short statement (a consumer's SAVEPOINT and RELEASE around
     * every event) runs from the statement cache; scripts are parsed. */
    sq_conn_t *x = on(c);
    if (strlen(sql) < 64 && !strchr(sql, ';')) {
        int rc = exec_cached(x, sql);
        if (rc == SQLITE_OK)
            return 0;
        if (!x->quiet)
            hc_error("sqlite statement failed: %s: %s", sql, sqlite3_errmsg(x->db));
        return map_rc(x, rc, sql, 1);
    }
    return sq_conn_exec_script(x, sql);
}
static int op_has_table(hc_conn_t *c, const char *name, int *has)
{
    return sq_conn_has_table(on(c), name, has);
}
static const char *op_path(const hc_db_t *db)
{
    return sq_db_path((const sq_db_t *)(const void *)db);
}
static int op_writable(hc_db_t *db)
{
    return sq_db_writable(DB(db));
}
static int op_write_error(hc_db_t *db)
{
    return sq_db_write_error(DB(db));
}
static int op_corrupt(hc_db_t *db)
{
    return sq_db_corrupt(DB(db));
}
static int op_health(hc_db_t *db, char *why, size_t n)
{
    return sq_db_health(DB(db), why, n);
}
static int op_check(hc_db_t *db, int full, char *why, size_t n)
{
    return sq_db_check(DB(db), full, why, n);
}

const hc_db_ops_t hc_db_sqlite_ops = {
    .kind = "SQLite",
    .destroy = op_destroy,
    .acquire = op_acquire,
    .release = op_release,
    .begin = op_begin,
    .commit = op_commit,
    .rollback = op_rollback,
    .exec = op_exec,
    .query = op_query,
    .insert = op_insert,
    .exec_script = op_exec_script,
    .has_table = op_has_table,
    .path = op_path,
    .writable = op_writable,
    .write_error = op_write_error,
    .corrupt = op_corrupt,
    .health = op_health,
    .check = op_check,
};
