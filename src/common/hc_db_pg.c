/* hc_db_pg: the PostgreSQL backend of the storage interface (libpq): a pool
 * of connections to one schema, prepared statements per connection, writers
 * serialised by an advisory lock, versioned migrations, reconnection after
 * the server went away, and the pool's health. docs/distributed.md
 * ("PostgreSQL") says what it guarantees. */
#include "hc_db_pg.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_db_impl.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

#define STMT_CACHE 128
#define PROBE_INTERVAL_MS 1000 /* at most one health probe write per second */
#define POOL_WAIT_MS 5000      /* then a connection beyond pool_size, never a deadlock */
#define INT8OID 20
#define BOOLOID 16

typedef struct pg_stmt {
    uint32_t hash;
    char *sql; /* the caller's text (`?` placeholders) */
    char name[16];
} pg_stmt_t;

typedef struct pg_db pg_db_t;
typedef struct pg_conn pg_conn_t;

struct pg_conn {
    struct hc_conn base; /* first: the dispatch */
    PGconn *pg;          /* NULL while not connected */
    pg_db_t *pool;
    pg_conn_t *next_free;
    int in_tx;   /* a transaction is open (BEGIN succeeded) */
    int failed;  /* the hc_err of a failed statement in the open transaction */
    int changed; /* a statement of the open transaction changed rows */
    int quiet;   /* errors are expected (the probe): do not log them */
    int probe;   /* the health probe's transaction: without the writers' lock */
    unsigned next_id;
    pg_stmt_t cache[STMT_CACHE];
    size_t n_cache, next_evict;
};

struct pg_db {
    struct hc_db base; /* first: the dispatch */
    char *url;         /* as configured (may hold a password) */
    char *shown;       /* url with its password masked, and the schema */
    char schema[64];
    long long lock_key; /* advisory lock of the schema's writers */
    int pool_size;
    atomic_int write_err;     /* 0, or the hc_err that marks writes failing */
    _Atomic int64_t probe_at; /* monotonic ms of the last probe */
    atomic_int corrupt;
    pthread_mutex_t mu; /* guards free, n_open, all */
    pthread_cond_t cv;  /* a connection came back */
    pg_conn_t *free;
    size_t n_open; /* connections handed out or free */
    pg_conn_t **all;
    size_t n_all;
};

extern const hc_db_ops_t hc_db_pg_ops;

/* ---- pure pieces (hc_db_pg.h) ---- */

/* Length of the literal, quoted identifier or comment starting at p (0 when
 * none starts there). */
static size_t skip_quoted(const char *p)
{
    const char *q = p;
    if (*p == '\'' || *p == '"') {
        char end = *p;
        for (q = p + 1; *q; q++) {
            if (*q == end) {
                if (q[1] == end) { /* doubled: an escaped quote */
                    q++;
                    continue;
                }
                return (size_t)(q + 1 - p);
            }
        }
        return (size_t)(q - p);
    }
    if (p[0] == '-' && p[1] == '-') {
        while (*q && *q != '\n')
            q++;
        return (size_t)(q - p);
    }
    if (p[0] == '/' && p[1] == '*') {
        const char *e = strstr(p + 2, "*/");
        return e ? (size_t)(e + 2 - p) : strlen(p);
    }
    return 0;
}

char *hc_pg_placeholders(const char *sql, int *n_params)
{
    hc_buf_t b;
    int n = 0;
    hc_buf_init(&b, 1 << 20);
    for (const char *p = sql; *p;) {
        size_t k = skip_quoted(p);
        if (k) {
            hc_buf_add(&b, p, k);
            p += k;
        } else if (*p == '?') {
            hc_buf_printf(&b, "$%d", ++n);
            p++;
        } else {
            hc_buf_add(&b, p, 1);
            p++;
        }
    }
    if (n_params)
        *n_params = n;
    char *out = hc_xstrdup(hc_buf_str(&b));
    hc_buf_cleanup(&b);
    return out;
}

/* Length of the word at p (letters, digits, '_'), 0 when none. */
static size_t word_len(const char *p)
{
    size_t k = 0;
    if (!isalpha((unsigned char)*p) && *p != '_')
        return 0;
    while (isalnum((unsigned char)p[k]) || p[k] == '_')
        k++;
    return k;
}

/* When the words of want (space-separated) follow p, separated by
 * whitespace, returns the length they span; else 0. */
static size_t words_at(const char *p, const char *want)
{
    const char *q = p;
    while (*want) {
        while (isspace((unsigned char)*q))
            q++;
        size_t k = word_len(q), w = strcspn(want, " ");
        if (k != w || strncasecmp(q, want, w) != 0)
            return 0;
        q += k;
        want += w;
        while (*want == ' ')
            want++;
    }
    return (size_t)(q - p);
}

/* PostgreSQL's name of SQLite's JSON function named by the k bytes at p, or
 * NULL. The results are json, which PostgreSQL stores into a TEXT column
 * as its text. */
static const char *json_function(const char *p, size_t k)
{
    static const char *const map[][2] = {{"json_array", "json_build_array"},
                                         {"json_object", "json_build_object"},
                                         {"json_group_array", "json_agg"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i][0]) == k && strncasecmp(p, map[i][0], k) == 0)
            return map[i][1];
    return NULL;
}

char *hc_pg_ddl(const char *sql)
{
    hc_buf_t b;
    hc_buf_init(&b, 1 << 20);
    for (const char *p = sql; *p;) {
        size_t k = skip_quoted(p), w;
        const char *fn;
        if (k) {
            hc_buf_add(&b, p, k);
            p += k;
            continue;
        }
        k = word_len(p);
        if (!k) {
            hc_buf_add(&b, p, 1);
            p++;
            continue;
        }
        if (k == 7 && strncasecmp(p, "INTEGER", 7) == 0) {
            if ((w = words_at(p + 7, "PRIMARY KEY AUTOINCREMENT")) ||
                (w = words_at(p + 7, "PRIMARY KEY"))) {
                hc_buf_adds(&b, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                p += 7 + w;
            } else {
                hc_buf_adds(&b, "BIGINT");
                p += 7;
            }
        } else if ((w = words_at(p, "WITHOUT ROWID"))) {
            p += w;
        } else if (p[k] == '(' && (fn = json_function(p, k))) {
            hc_buf_adds(&b, fn);
            p += k;
        } else {
            hc_buf_add(&b, p, k);
            p += k;
        }
    }
    char *out = hc_xstrdup(hc_buf_str(&b));
    hc_buf_cleanup(&b);
    return out;
}

int hc_pg_map_sqlstate(const char *st)
{
    if (!st || strlen(st) != 5)
        return HC_EUNAVAIL;
    if (strncmp(st, "23", 2) == 0)
        return HC_ECONFLICT;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0)
        return HC_EBUSY;
    if (strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 || strcmp(st, "57P02") == 0 ||
        strcmp(st, "57P03") == 0 || strcmp(st, "53300") == 0 || strcmp(st, "25006") == 0)
        return HC_EUNAVAIL;
    if (strcmp(st, "53100") == 0)
        return HC_ENOSPC;
    if (strcmp(st, "XX001") == 0 || strcmp(st, "XX002") == 0)
        return HC_ECORRUPT;
    return HC_EIO;
}

/* ---- connections ---- */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void notice_ignore(void *arg, const char *msg)
{
    (void)arg;
    (void)msg; /* "relation already exists, skipping" and the like */
}

static void stmt_cache_clear(pg_conn_t *c)
{
    for (size_t i = 0; i < c->n_cache; i++)
        free(c->cache[i].sql);
    c->n_cache = c->next_evict = 0;
}

/* Closes c's connection. An open transaction stays marked (in_tx) until the
 * caller rolls back, so that nothing after the loss runs outside it. */
static void conn_drop(pg_conn_t *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    stmt_cache_clear(c);
}

/* Marks the pool as failing writes with err (logged once). */
static void mark_failing(pg_db_t *db, int err, const char *msg)
{
    if (atomic_exchange(&db->write_err, err) == 0)
        hc_error("PostgreSQL %s: %s (%s): the service reports not ready until it answers again",
                 db->shown, hc_strerror(err), msg);
}

/* Connects c (dropping a broken connection first). Returns 0 or HC_EUNAVAIL. */
static int conn_connect(pg_conn_t *c)
{
    pg_db_t *db = c->pool;
    conn_drop(c);
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", "healthcenter", db->url, NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        if (!c->quiet)
            mark_failing(db, HC_EUNAVAIL, msg);
        conn_drop(c);
        return HC_EUNAVAIL;
    }
    PQsetNoticeProcessor(c->pg, notice_ignore, NULL);
    char set[128];
    snprintf(set, sizeof set, "SET search_path TO \"%s\"", db->schema);
    PGresult *res = PQexec(c->pg, set);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        conn_drop(c);
        return HC_EUNAVAIL;
    }
    return 0;
}

/* Makes sure c is connected; a broken connection inside a transaction is
 * not replaced (the transaction is gone). Returns 0 or HC_EUNAVAIL. */
static int conn_ensure(pg_conn_t *c)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    if (c->in_tx)
        return HC_EUNAVAIL;
    return conn_connect(c);
}

/* The hc_err of a failed result res (may be NULL) of sql, logged; marks the
 * transaction failed and the pool failing writes when the server is gone. */
static int fail(pg_conn_t *c, PGresult *res, const char *sql)
{
    pg_db_t *db = c->pool;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int lost = !c->pg || PQstatus(c->pg) != CONNECTION_OK;
    int err = lost ? HC_EUNAVAIL : hc_pg_map_sqlstate(state);
    char msg[256];
    snprintf(msg, sizeof msg, "%s",
             res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
             : c->pg                           ? PQerrorMessage(c->pg)
                                               : "not connected");
    msg[strcspn(msg, "\n")] = '\0';
    if (c->in_tx && !c->failed)
        c->failed = err;
    if (err == HC_EUNAVAIL || err == HC_ENOSPC) {
        if (!c->quiet)
            mark_failing(db, err, msg);
    } else if (err == HC_ECORRUPT) {
        if (atomic_exchange(&db->corrupt, 1) == 0)
            hc_error("PostgreSQL %s reports corrupt data: %s", db->shown, msg);
    } else if (err == HC_EBUSY) {
        if (!c->quiet)
            hc_warn("postgres busy (%s): %.200s", msg, sql);
    } else if (err != HC_ECONFLICT && !c->quiet) {
        hc_error("postgres error %s (%s) in: %.200s", state ? state : "-", msg, sql);
    }
    if (lost)
        conn_drop(c);
    return err;
}

/* The prepared statement for sql on c (preparing it when new), in *name. */
static int stmt_get(pg_conn_t *c, const char *sql, const hc_val_t *p, size_t n, const char **name)
{
    uint32_t h = fnv1a(sql);
    for (size_t i = 0; i < c->n_cache; i++) {
        if (c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0) {
            *name = c->cache[i].name;
            return 0;
        }
    }
    pg_stmt_t *e;
    if (c->n_cache < STMT_CACHE) {
        e = &c->cache[c->n_cache++];
    } else {
        e = &c->cache[c->next_evict];
        c->next_evict = (c->next_evict + 1) % STMT_CACHE;
        char dealloc[48];
        snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", e->name);
        PQclear(PQexec(c->pg, dealloc));
        free(e->sql);
    }
    e->sql = NULL;
    snprintf(e->name, sizeof e->name, "hc%u", ++c->next_id);
    /* Integers are typed; text and NULL take the type their place in the
     * statement gives them (the column they are compared with or go into). */
    Oid types[64];
    size_t nt = n < 64 ? n : 64;
    for (size_t i = 0; i < nt; i++)
        types[i] = p[i].kind == HC_VAL_I64 ? INT8OID : 0;
    char *text = hc_pg_placeholders(sql, NULL);
    PGresult *res = PQprepare(c->pg, e->name, text, (int)nt, types);
    free(text);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail(c, res, sql);
    PQclear(res);
    if (rc) {
        /* The slot stays free: the last entry moves into it. */
        if (c->n_cache && e == &c->cache[c->n_cache - 1])
            c->n_cache--;
        else if (c->n_cache)
            *e = c->cache[--c->n_cache];
        return rc;
    }
    e->sql = hc_xstrdup(sql);
    e->hash = h;
    *name = e->name;
    return 0;
}

/* Runs sql with params once; *res receives the result of a success. */
static int run_once(pg_conn_t *c, const char *sql, const hc_val_t *p, size_t n, PGresult **res)
{
    *res = NULL;
    if (c->in_tx && c->failed)
        return c->failed; /* PostgreSQL refuses every statement after a failed one */
    int rc = conn_ensure(c);
    if (rc) {
        if (c->in_tx && !c->failed)
            c->failed = rc;
        return rc;
    }
    if (n > 64)
        return HC_EINVAL;
    const char *name = NULL;
    if ((rc = stmt_get(c, sql, p, n, &name)))
        return rc;
    const char *vals[64];
    char nums[64][24];
    char *owned[64];
    for (size_t i = 0; i < n; i++) {
        owned[i] = NULL;
        switch (p[i].kind) {
        case HC_VAL_I64:
            snprintf(nums[i], sizeof nums[i], "%lld", (long long)p[i].i);
            vals[i] = nums[i];
            break;
        case HC_VAL_TEXT:
            if (p[i].n >= 0) {
                owned[i] = hc_xmalloc((size_t)p[i].n + 1);
                memcpy(owned[i], p[i].s, (size_t)p[i].n);
                owned[i][p[i].n] = '\0';
                vals[i] = owned[i];
            } else {
                vals[i] = p[i].s;
            }
            break;
        default:
            vals[i] = NULL;
            break;
        }
    }
    PGresult *r = PQexecPrepared(c->pg, name, (int)n, vals, NULL, NULL, 0);
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = fail(c, r, sql);
        PQclear(r);
        return rc;
    }
    *res = r;
    return 0;
}

/* Runs sql with params; *res receives the result of a success. Outside a
 * transaction a connection found broken (a pooled one after the server
 * restarted) is replaced and the statement sent once more. */
static int run(pg_conn_t *c, const char *sql, const hc_val_t *p, size_t n, PGresult **res)
{
    int rc = run_once(c, sql, p, n, res);
    if (rc == HC_EUNAVAIL && !c->in_tx && !c->pg)
        rc = run_once(c, sql, p, n, res);
    return rc;
}

/* Runs a parameterless script (several statements allowed). */
static int run_script(pg_conn_t *c, const char *sql)
{
    /* After a failed statement only a rollback to a savepoint (hc_consumer
     * parks an event that way) makes the transaction usable again. */
    int to_savepoint = strncasecmp(sql, "ROLLBACK TO", 11) == 0;
    if (c->in_tx && c->failed && (!to_savepoint || c->failed == HC_EUNAVAIL))
        return c->failed;
    int rc = conn_ensure(c);
    if (rc)
        return rc;
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fail(c, res, sql);
    else if (to_savepoint)
        c->failed = 0;
    PQclear(res);
    return rc;
}

/* ---- the interface ---- */

static int pg_begin(hc_conn_t *hc, int lazy)
{
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    char sql[160];
    /* One writer of the schema at a time, whatever instance it runs in: the
     * guarantees SQLite's single writer gave (capacity checked against every
     * earlier commit, outbox ids committed in order) hold as they are. */
    if (c->probe) /* the probe's row is no service state: no need to queue behind writers */
        snprintf(sql, sizeof sql, "BEGIN; SET LOCAL synchronous_commit = off");
    else
        snprintf(sql, sizeof sql, "BEGIN; %sSELECT pg_advisory_xact_lock(%lld)",
                 lazy ? "SET LOCAL synchronous_commit = off; " : "", c->pool->lock_key);
    c->failed = 0;
    c->changed = 0;
    int rc = run_script(c, sql);
    if (rc == HC_EUNAVAIL && !c->pg) /* a stale pooled connection: nothing was done */
        rc = run_script(c, sql);
    if (rc) {
        if (c->pg)
            PQclear(PQexec(c->pg, "ROLLBACK"));
        return rc;
    }
    c->in_tx = 1;
    return 0;
}

static void pg_rollback(hc_conn_t *hc)
{
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    c->in_tx = 0;
    c->failed = 0;
}

static int pg_commit(hc_conn_t *hc)
{
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    int rc = c->failed;
    if (rc) {
        pg_rollback(hc);
        return rc;
    }
    if (!c->in_tx)
        return 0;
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        rc = fail(c, NULL, "COMMIT");
        pg_rollback(hc);
        return rc;
    }
    PGresult *res = PQexec(c->pg, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail(c, res, "COMMIT");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = HC_EIO; /* the server rolled it back */
    PQclear(res);
    c->in_tx = 0;
    c->failed = 0;
    if (!rc && c->changed && atomic_load(&c->pool->write_err) &&
        atomic_exchange(&c->pool->write_err, 0) != 0)
        hc_info("PostgreSQL %s takes writes again", c->pool->shown);
    if (rc)
        pg_rollback(hc);
    return rc;
}

static int pg_exec(hc_conn_t *hc, const char *sql, const hc_val_t *p, size_t n, int64_t *changes)
{
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    PGresult *res = NULL;
    int rc = run(c, sql, p, n, &res);
    int64_t k = rc ? 0 : strtoll(PQcmdTuples(res), NULL, 10);
    if (k > 0)
        c->changed = 1;
    if (changes)
        *changes = k;
    PQclear(res);
    return rc;
}

static int pg_query(hc_conn_t *hc, const char *sql, const hc_val_t *p, size_t n, hc_rows_t **out)
{
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    PGresult *res = NULL;
    *out = NULL;
    int rc = run(c, sql, p, n, &res);
    if (rc)
        return rc;
    int rows = PQntuples(res), cols = PQnfields(res);
    hc_rows_t *r = hc_rows_new((size_t)cols);
    for (int i = 0; i < rows; i++) {
        hc_cell_t *row = hc_rows_add(r);
        for (int j = 0; j < cols; j++) {
            if (PQgetisnull(res, i, j))
                continue;
            const char *v = PQgetvalue(res, i, j);
            row[j].is_null = 0;
            row[j].s = hc_xstrdup(v);
            row[j].i = PQftype(res, j) == BOOLOID ? v[0] == 't' : strtoll(v, NULL, 10);
        }
    }
    if (strtoll(PQcmdTuples(res), NULL, 10) > 0 && PQresultStatus(res) == PGRES_TUPLES_OK &&
        strncmp(PQcmdStatus(res), "SELECT", 6) != 0)
        c->changed = 1; /* INSERT ... RETURNING */
    PQclear(res);
    *out = r;
    return 0;
}

static int pg_exec_script(hc_conn_t *hc, const char *sql)
{
    return run_script((pg_conn_t *)(void *)hc, sql);
}

static int pg_has_table(hc_conn_t *c, const char *name, int *has)
{
    int64_t n = 0;
    int rc = hc_conn_query_i64(c,
                               "SELECT COUNT(*) FROM information_schema.tables"
                               " WHERE table_schema = current_schema() AND table_name = ?",
                               HC_PARAMS(HC_TEXT(name)), &n);
    *has = !rc && n > 0;
    return rc;
}

static pg_conn_t *conn_new(pg_db_t *db)
{
    pg_conn_t *c = hc_xcalloc(1, sizeof *c);
    c->base.ops = &hc_db_pg_ops;
    c->pool = db;
    return c;
}

static hc_conn_t *pg_acquire(hc_db_t *hdb)
{
    pg_db_t *db = (pg_db_t *)(void *)hdb;
    pthread_mutex_lock(&db->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_MS / 1000;
    while (!db->free && db->n_open >= (size_t)db->pool_size) {
        if (pthread_cond_timedwait(&db->cv, &db->mu, &until) != 0) {
            hc_warn("PostgreSQL %s: all %d pooled connections stayed busy for %d ms; opening "
                    "one more (raise HC_DB_POOL_SIZE?)",
                    db->shown, db->pool_size, POOL_WAIT_MS);
            break;
        }
    }
    pg_conn_t *c = db->free;
    if (c) {
        db->free = c->next_free;
        pthread_mutex_unlock(&db->mu);
        return &c->base;
    }
    db->n_open++;
    c = conn_new(db);
    db->all = hc_xrealloc(db->all, (db->n_all + 1) * sizeof *db->all);
    db->all[db->n_all++] = c;
    pthread_mutex_unlock(&db->mu);
    conn_ensure(c); /* a failure shows in the first call on it */
    return &c->base;
}

static void pg_release(hc_db_t *hdb, hc_conn_t *hc)
{
    pg_db_t *db = (pg_db_t *)(void *)hdb;
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    if (c->in_tx) {
        hc_warn("connection released inside a transaction; rolling back");
        pg_rollback(hc);
    }
    pthread_mutex_lock(&db->mu);
    c->next_free = db->free;
    db->free = c;
    pthread_cond_signal(&db->cv);
    pthread_mutex_unlock(&db->mu);
}

static void pg_destroy(hc_db_t *hdb)
{
    pg_db_t *db = (pg_db_t *)(void *)hdb;
    for (size_t i = 0; i < db->n_all; i++) {
        conn_drop(db->all[i]);
        free(db->all[i]);
    }
    free(db->all);
    pthread_mutex_destroy(&db->mu);
    pthread_cond_destroy(&db->cv);
    free(db->url);
    free(db->shown);
    free(db);
}

static const char *pg_path(const hc_db_t *hdb)
{
    return ((const pg_db_t *)(const void *)hdb)->shown;
}

static int pg_write_error(hc_db_t *hdb)
{
    return atomic_load(&((pg_db_t *)(void *)hdb)->write_err);
}

static int pg_corrupt(hc_db_t *hdb)
{
    return atomic_load(&((pg_db_t *)(void *)hdb)->corrupt);
}

/* At most once a second (one caller at a time), a tiny write that does not
 * wait for the disk: it proves the server answers and takes writes, and its
 * commit clears a failing mark. Others see the last probe's outcome. */
static int pg_writable(hc_db_t *hdb)
{
    pg_db_t *db = (pg_db_t *)(void *)hdb;
    int64_t now = hc_mono_ms(), last = atomic_load(&db->probe_at);
    if (now - last < PROBE_INTERVAL_MS ||
        !atomic_compare_exchange_strong(&db->probe_at, &last, now))
        return !atomic_load(&db->write_err);
    hc_conn_t *hc = pg_acquire(hdb);
    pg_conn_t *c = (pg_conn_t *)(void *)hc;
    c->probe = 1;
    int rc = pg_begin(hc, 1);
    if (!rc)
        rc = pg_exec(hc,
                     "INSERT INTO hc_probe(id, at) VALUES (1, ?)"
                     " ON CONFLICT(id) DO UPDATE SET at = excluded.at",
                     HC_PARAMS(HC_I64(now)), NULL);
    if (rc)
        pg_rollback(hc);
    else
        rc = pg_commit(hc);
    c->probe = 0;
    pg_release(hdb, hc);
    return !atomic_load(&db->write_err);
}

static int pg_health(hc_db_t *hdb, char *why, size_t n)
{
    pg_db_t *db = (pg_db_t *)(void *)hdb;
    if (pg_corrupt(hdb)) {
        snprintf(why, n, "PostgreSQL %s reported corrupt data", db->shown);
        return HC_ECORRUPT;
    }
    if (!pg_writable(hdb)) {
        int err = pg_write_error(hdb);
        snprintf(why, n, "PostgreSQL %s: %s", db->shown,
                 err == HC_EUNAVAIL ? "cannot be reached"
                 : err == HC_ENOSPC ? "storage is full"
                                    : hc_strerror(err));
        return err ? err : HC_EIO;
    }
    if (n)
        why[0] = '\0';
    return 0;
}

/* PostgreSQL checks its own pages; this proves the schema is there and
 * answers (its migrations applied). */
static int pg_check(hc_db_t *hdb, int full, char *why, size_t n)
{
    (void)full;
    hc_conn_t *c = pg_acquire(hdb);
    int64_t v = 0;
    int rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM schema_version", HC_NOPARAMS, &v);
    pg_release(hdb, c);
    if (rc)
        snprintf(why, n, "cannot read schema_version: %s", hc_strerror(rc));
    else if (n)
        snprintf(why, n, "%lld migrations applied", (long long)v);
    return rc;
}

const hc_db_ops_t hc_db_pg_ops = {
    .kind = "PostgreSQL",
    .destroy = pg_destroy,
    .acquire = pg_acquire,
    .release = pg_release,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .query = pg_query,
    .exec_script = pg_exec_script,
    .has_table = pg_has_table,
    .path = pg_path,
    .writable = pg_writable,
    .write_error = pg_write_error,
    .corrupt = pg_corrupt,
    .health = pg_health,
    .check = pg_check,
};

/* ---- opening ---- */

/* Applies the pending steps of migs, one transaction each, holding the
 * schema's lock for the whole run so that instances starting together take
 * turns. */
static int run_migrations(pg_conn_t *c, const hc_migration_t *migs, size_t n)
{
    pg_db_t *db = c->pool;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT pg_advisory_lock(%lld); CREATE SCHEMA IF NOT EXISTS \"%s\";"
             " CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY,"
             " applied_at BIGINT NOT NULL);"
             " CREATE TABLE IF NOT EXISTS hc_probe (id BIGINT PRIMARY KEY, at BIGINT NOT NULL)",
             db->lock_key, db->schema);
    int rc = run_script(c, sql);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t have = 0;
        if ((rc = pg_begin(&c->base, 0)))
            break;
        rc = hc_conn_query_i64(&c->base, "SELECT COUNT(*) FROM schema_version WHERE version = ?",
                               HC_PARAMS(HC_I64(migs[i].version)), &have);
        if (!rc && !have) {
            char *text = hc_pg_ddl(migs[i].sql);
            rc = run_script(c, text);
            free(text);
            if (!rc)
                rc = pg_exec(&c->base,
                             "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)",
                             HC_PARAMS(HC_I64(migs[i].version), HC_I64(time(NULL))), NULL);
            if (!rc)
                hc_info("applied migration %d to %s", migs[i].version, db->shown);
        }
        if (rc) {
            pg_rollback(&c->base);
            hc_error("migration %d failed on %s", migs[i].version, db->shown);
            break;
        }
        rc = pg_commit(&c->base);
    }
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", db->lock_key);
    if (c->pg)
        PQclear(PQexec(c->pg, sql));
    return rc;
}

/* url with the password of "scheme://user:password@host" masked. */
static char *mask_url(const char *url, const char *schema)
{
    const char *host = strstr(url, "://");
    const char *at = host ? strchr(host + 3, '@') : NULL;
    hc_buf_t b;
    hc_buf_init(&b, 4096);
    if (at && at < host + 3 + strcspn(host + 3, "/?#")) {
        const char *colon = memchr(host + 3, ':', (size_t)(at - host - 3));
        if (colon)
            hc_buf_printf(&b, "%.*s:***%s", (int)(colon - url), url, at);
        else
            hc_buf_adds(&b, url);
    } else if (strstr(url, "password=")) {
        hc_buf_adds(&b, "(connection string with a password)");
    } else {
        hc_buf_adds(&b, url);
    }
    hc_buf_printf(&b, " schema %s", schema);
    char *out = hc_xstrdup(hc_buf_str(&b));
    hc_buf_cleanup(&b);
    return out;
}

int hc_db_open_pg(const char *url, const char *schema, int pool_size, const hc_migration_t *migs,
                  size_t n_migs, hc_db_t **out)
{
    *out = NULL;
    size_t len = strlen(schema);
    if (len == 0 || len >= 64 || strspn(schema, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
        return HC_EINVAL;
    pg_db_t *db = hc_xcalloc(1, sizeof *db);
    db->base.ops = &hc_db_pg_ops;
    db->url = hc_xstrdup(url);
    db->shown = mask_url(url, schema);
    hc_strlcpy(db->schema, schema, sizeof db->schema);
    char key[96];
    snprintf(key, sizeof key, "healthcenter:%s", schema);
    db->lock_key = (long long)fnv1a(key);
    db->pool_size = pool_size > 0 ? pool_size : 1;
    pthread_mutex_init(&db->mu, NULL);
    pthread_cond_init(&db->cv, NULL);
    hc_conn_t *c = pg_acquire(&db->base);
    pg_conn_t *pc = (pg_conn_t *)(void *)c;
    int rc = pc->pg ? run_migrations(pc, migs, n_migs) : HC_EUNAVAIL;
    pg_release(&db->base, c);
    if (rc) {
        if (rc == HC_EUNAVAIL)
            hc_error("cannot connect to PostgreSQL %s", db->shown);
        pg_destroy(&db->base);
        return rc;
    }
    atomic_store(&db->write_err, 0);
    *out = &db->base;
    return 0;
}
