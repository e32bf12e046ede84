/* hc_bus_log: the embedded durable event log. An SQLite file in WAL mode
 * (dir/events.db) shared by the processes of one host holds the messages, a
 * second one (dir/offsets.db) the committed offset per consumer group;
 * consumers sleep on inotify and wake as soon as any process has committed an
 * append (the appender then writes a byte to dir/events.lock). Every
 * record carries a CRC-32 checked on every read; a bad record or an
 * impossible offset stops the consumer. See docs/embedded-log.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hc_buf.h"
#include "hc_bus.h"
#include "hc_check.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

#define RECHECK_FIRST_MS 1 /* after a wake-up that found no committed append yet */
#define END_CHECK_MS 3000  /* while idle, how often the group's offset is checked */
#define VERIFY_PAGE 1000   /* records per query when `check` verifies the log */

typedef struct log_bus {
    hc_bus_t base;
    hc_db_t *db;      /* events.db: the messages */
    hc_db_t *offsets; /* offsets.db: committed offset per group */
    int lock_fd;      /* events.lock, or -1: appenders of all processes queue on it */
    char dir[512];
    char lock_path[600]; /* dir/events.lock: also the consumers' wake-up (ticks) */
} log_bus_t;

struct hc_bus_consumer {
    log_bus_t *bus;
    char group[64];
    int64_t position; /* last offset handed out by poll */
    int ino_fd;       /* inotify on events.lock (or the directory), -1 if unavailable */
    int ticks;        /* ino_fd watches events.lock: a wake-up follows a commit */
    int faulted;      /* poll answers HC_ECORRUPT until the fault is gone */
    hc_bus_fault_t fault;
    int64_t fault_committed; /* offset_beyond_end: the committed offset then */
    int64_t fault_at_ms;     /* offset_beyond_end: wall-clock ms when found */
    int64_t end_checked_ms;  /* monotonic ms of the last idle offset check */
};

static const hc_migration_t log_migrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS events (pos INTEGER PRIMARY KEY AUTOINCREMENT,"
        " topic TEXT NOT NULL, msg_key TEXT NOT NULL, value TEXT NOT NULL,"
        " appended_at INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS events_topic_pos ON events(topic, pos);"},
    /* The record checksum (hc_bus_log_crc). Rows appended before this step
     * keep NULL and are read unverified. */
    {2, "ALTER TABLE events ADD COLUMN crc INTEGER;"},
};

/* Offsets live in their own file so that committing one neither wakes the
 * consumers (they watch events.db) nor waits for the disk: a lost offset only
 * redelivers events that consumers already drop as duplicates (inbox). */
static const hc_migration_t offset_migrations[] = {
    {1, "CREATE TABLE IF NOT EXISTS consumer_offsets (grp TEXT NOT NULL, topic TEXT NOT NULL,"
        " committed INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (grp, topic));"},
};

/* flock(2), retried when a signal interrupts the wait. */
static int flock_retry(int fd, int op)
{
    int r;
    while ((r = flock(fd, op)) != 0 && errno == EINTR)
        ;
    return r;
}

uint32_t hc_bus_log_crc(const char *key, size_t key_len, const char *value, size_t value_len)
{
    uLong crc = crc32_z(0L, Z_NULL, 0);
    crc = crc32_z(crc, (const Bytef *)key, key_len);
    crc = crc32_z(crc, (const Bytef *)"", 1); /* the NUL between key and value */
    crc = crc32_z(crc, (const Bytef *)value, value_len);
    return (uint32_t)crc;
}

static int log_publish(hc_bus_t *b, const hc_bus_msg_t *msgs, size_t n)
{
    log_bus_t *lb = (log_bus_t *)b;
    if (n == 0)
        return 0;
    /* The appenders of every process (one relay each) take turns on a
     * blocking file lock: a waiting one sleeps until the holder is done,
     * instead of retrying SQLite's lock every 50 us while an fsync runs.
     * (Without the file, SQLite's busy handler still serialises them.) */
    int locked = lb->lock_fd >= 0 && flock_retry(lb->lock_fd, LOCK_EX) == 0;
    hc_conn_t *c = hc_db_acquire(lb->db);
    int rc = hc_conn_begin(c);
    int64_t now = hc_now_ms();
    for (size_t i = 0; !rc && i < n; i++) {
        const char *key = msgs[i].key ? msgs[i].key : "";
        uint32_t crc = hc_bus_log_crc(key, strlen(key), msgs[i].value, msgs[i].value_len);
        rc = hc_conn_exec(c,
                          "INSERT INTO events(topic, msg_key, value, appended_at, crc)"
                          " VALUES (?, ?, ?, ?, ?)",
                          HC_PARAMS(HC_TEXT(b->topic), HC_TEXT(key),
                                    HC_TEXTN(msgs[i].value, msgs[i].value_len), HC_I64(now),
                                    HC_I64(crc)),
                          NULL);
    }
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_conn_commit(c);
    hc_db_release(lb->db, c);
    /* The commit is visible now: one byte written to the lock file wakes
     * the consumers (inotify), which read exactly once per append. */
    if (!rc && lb->lock_fd >= 0 && pwrite(lb->lock_fd, "\n", 1, 0) != 1)
        hc_debug("cannot write %s: %s", lb->lock_path, strerror(errno));
    if (locked)
        flock_retry(lb->lock_fd, LOCK_UN);
    return rc;
}

/* Reads group's committed offset into *out; HC_ENOTFOUND when it has none. */
static int read_committed(log_bus_t *lb, const char *group, int64_t *out)
{
    hc_conn_t *conn = hc_db_acquire(lb->offsets);
    int rc = hc_conn_query_i64(conn,
                               "SELECT committed FROM consumer_offsets WHERE grp = ? AND topic = ?",
                               HC_PARAMS(HC_TEXT(group), HC_TEXT(lb->base.topic)), out);
    hc_db_release(lb->offsets, conn);
    return rc;
}

/* Stops consumer c: poll answers HC_ECORRUPT until the cause is gone. */
static void set_fault(hc_bus_consumer_t *c, const char *reason, int64_t offset, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static void set_fault(hc_bus_consumer_t *c, const char *reason, int64_t offset, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    c->faulted = 1;
    c->fault.reason = reason;
    c->fault.offset = offset;
    vsnprintf(c->fault.detail, sizeof c->fault.detail, fmt, ap);
    va_end(ap);
}

/* The last offset of c's topic into *out (0 for an empty log). */
static int read_end(log_bus_t *lb, int64_t *out)
{
    hc_conn_t *conn = hc_db_acquire(lb->db);
    int rc = hc_conn_query_i64(conn, "SELECT COALESCE(MAX(pos), 0) FROM events WHERE topic = ?",
                               HC_PARAMS(HC_TEXT(lb->base.topic)), out);
    hc_db_release(lb->db, conn);
    return rc;
}

/* Checks that the group's committed offset and c's position lie within the
 * log (a replaced or truncated events.db leaves them past its end, and
 * reading on would silently skip what is appended up to there). Returns 0,
 * or HC_ECORRUPT with the fault set. The committed offset is read before the
 * end so that a concurrent append cannot make a good offset look bad. */
static int check_end(hc_bus_consumer_t *c)
{
    int64_t committed = 0, end = 0;
    int rc = read_committed(c->bus, c->group, &committed);
    if (rc == HC_ENOTFOUND)
        committed = 0;
    else if (rc)
        return 0; /* unknown now; checked again later */
    if (read_end(c->bus, &end))
        return 0;
    int64_t want = committed > c->position ? committed : c->position;
    if (want <= end)
        return 0;
    set_fault(c, HC_BUS_OFFSET_BEYOND_END, want,
              "group %s is at offset %lld but the log ends at %lld (events.db replaced or "
              "truncated?); reading on would skip what is appended up to there",
              c->group, (long long)want, (long long)end);
    c->fault_committed = committed;
    c->fault_at_ms = hc_now_ms();
    return HC_ECORRUPT;
}

/* While stopped at an impossible offset: resumes (returns 0) when an
 * operator moved the group's committed offset into the log (reading goes on
 * from there), or when the log again holds the record at the offset and it
 * was appended before the stop (the log was restored). A record appended
 * since then means the log has merely grown up to the offset: resuming would
 * skip everything in between, so it stays stopped. Returns HC_ECORRUPT while
 * stopped. */
static int recheck_end(hc_bus_consumer_t *c)
{
    int64_t committed = 0, end = 0, at = 0;
    int rc = read_committed(c->bus, c->group, &committed);
    if (rc && rc != HC_ENOTFOUND)
        return HC_ECORRUPT;
    if (rc == HC_ENOTFOUND)
        committed = 0;
    if (read_end(c->bus, &end))
        return HC_ECORRUPT;
    if (committed != c->fault_committed) {
        if (committed > end) {
            c->fault_committed = committed;
            c->fault.offset = committed;
            return HC_ECORRUPT;
        }
        hc_info("consumer %s: committed offset set to %lld (log ends at %lld); reading from there",
                c->group, (long long)committed, (long long)end);
        c->position = committed;
        c->faulted = 0;
        return 0;
    }
    int64_t want = c->fault.offset;
    if (want > end)
        return HC_ECORRUPT;
    hc_conn_t *conn = hc_db_acquire(c->bus->db);
    rc = hc_conn_query_i64(conn, "SELECT appended_at FROM events WHERE topic = ? AND pos = ?",
                           HC_PARAMS(HC_TEXT(c->bus->base.topic), HC_I64(want)), &at);
    hc_db_release(c->bus->db, conn);
    if (rc == 0 && at < c->fault_at_ms) {
        hc_info("consumer %s: the log holds offset %lld again (restored); resuming", c->group,
                (long long)want);
        c->faulted = 0;
        return 0;
    }
    snprintf(c->fault.detail, sizeof c->fault.detail,
             "group %s was at offset %lld past the end of the log; the log has grown up to it "
             "since, and resuming would skip those events: set the group's committed offset "
             "(docs/embedded-log.md)",
             c->group, (long long)want);
    return HC_ECORRUPT;
}

static int log_consumer_open(hc_bus_t *b, const char *group, hc_bus_consumer_t **out)
{
    log_bus_t *lb = (log_bus_t *)b;
    *out = NULL;
    if (!group || !*group || strlen(group) >= 64)
        return HC_EINVAL;
    hc_bus_consumer_t *c = hc_xcalloc(1, sizeof *c);
    c->bus = lb;
    hc_strlcpy(c->group, group, sizeof c->group);
    /* The watch is set before the first read, so no append can slip between a
     * read that found nothing and the wait that follows it. Appenders write
     * to events.lock after each commit; without that file (it could not be
     * made), the directory is watched and the WAL's writes wake. */
    c->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->ino_fd >= 0 && lb->lock_fd >= 0 &&
        inotify_add_watch(c->ino_fd, lb->lock_path, IN_MODIFY) >= 0)
        c->ticks = 1;
    else if (c->ino_fd >= 0 && inotify_add_watch(c->ino_fd, lb->dir, IN_MODIFY | IN_CREATE) < 0) {
        close(c->ino_fd);
        c->ino_fd = -1;
    }
    if (c->ino_fd < 0)
        hc_warn("inotify unavailable on %s; falling back to polling", lb->dir);
    int64_t committed = 0;
    int rc = read_committed(lb, group, &committed);
    if (rc && rc != HC_ENOTFOUND) {
        if (c->ino_fd >= 0)
            close(c->ino_fd);
        free(c);
        return rc;
    }
    c->position = committed;
    check_end(c);
    *out = c;
    return 0;
}

/* Checks one read row: returns 1 when it is whole and its checksum matches
 * (or it predates checksums), else 0 with why (n bytes) filled. */
static int row_ok(const hc_rows_t *r, size_t i, char *why, size_t n)
{
    const char *key = hc_rows_text(r, i, 1), *value = hc_rows_text(r, i, 2);
    if (!key || !value) {
        snprintf(why, n, "the record has no %s", key ? "value" : "key");
        return 0;
    }
    if (hc_rows_is_null(r, i, 3))
        return 1; /* appended before checksums existed: accepted unverified */
    uint32_t stored = (uint32_t)hc_rows_i64(r, i, 3);
    uint32_t computed = hc_bus_log_crc(key, strlen(key), value, strlen(value));
    if (stored == computed)
        return 1;
    snprintf(why, n, "checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")", stored,
             computed);
    return 0;
}

/* Reads up to max messages after the consumer's position, verifying each.
 * Stops before a bad record; when the first one is bad, sets the fault and
 * returns HC_ECORRUPT. */
static int log_read(hc_bus_consumer_t *c, hc_bus_msg_t *msgs, size_t max, size_t *n)
{
    hc_conn_t *conn = hc_db_acquire(c->bus->db);
    hc_rows_t *r = NULL;
    /* The rows after the position straight from the table (+topic keeps the
     * planner off the (topic, pos) index): a log holds one topic, and the
     * index walk plus a table lookup per row cost a fifth of this read. */
    int rc =
        hc_conn_query(conn,
                      "SELECT pos, msg_key, value, crc FROM events WHERE pos > ? AND +topic = ?"
                      " ORDER BY pos LIMIT ?",
                      HC_PARAMS(HC_I64(c->position), HC_TEXT(c->bus->base.topic), HC_I64(max)), &r);
    hc_db_release(c->bus->db, conn);
    if (rc == HC_ECORRUPT) {
        set_fault(c, HC_BUS_CORRUPT_RECORD, c->position + 1,
                  "the log database cannot be read after offset %lld: SQLite reports it corrupt",
                  (long long)c->position);
        return rc;
    }
    if (rc)
        return rc;
    size_t k = hc_rows_count(r);
    char why[160];
    for (size_t i = 0; i < k; i++) {
        if (!row_ok(r, i, why, sizeof why)) {
            if (i == 0) {
                int64_t pos = hc_rows_i64(r, 0, 0);
                set_fault(c, HC_BUS_CORRUPT_RECORD, pos, "record at offset %lld: %s",
                          (long long)pos, why);
                hc_rows_free(r);
                return HC_ECORRUPT;
            }
            k = i; /* hand out the good ones; the next poll stops at this one */
            break;
        }
        msgs[i].partition = 0;
        msgs[i].offset = hc_rows_i64(r, i, 0);
        msgs[i].key = hc_xstrdup(hc_rows_text(r, i, 1));
        msgs[i].value = hc_xstrdup(hc_rows_text(r, i, 2));
        msgs[i].value_len = strlen(msgs[i].value);
    }
    if (k)
        c->position = msgs[k - 1].offset;
    hc_rows_free(r);
    c->faulted = 0;
    *n = k;
    return 0;
}

/* Reads pending inotify records; returns 1 when one is about an append: any
 * record of a watch on events.lock (ticks), else one about events.db or its
 * WAL, which only appends change (offsets and SQLite's shared-memory file
 * change too, and must not wake every consumer). */
static int drain_is_append(int fd, int ticks)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int hit = 0;
    ssize_t len;
    while ((len = read(fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if (ticks || (e->len && strncmp(e->name, "events.db", 9) == 0 &&
                          strcmp(e->name, "events.db-shm") != 0))
                hit = 1;
            p += sizeof *e + e->len;
        }
    }
    return hit;
}

/* Sleeps until an append is seen (returns 1) or timeout_ms passed (0). */
static int wait_for_append(int fd, int ticks, int timeout_ms)
{
    int64_t deadline = hc_deadline_ms(timeout_ms);
    for (int64_t left = timeout_ms; left > 0; left = hc_deadline_left(deadline)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0)
            return 0;
        if (drain_is_append(fd, ticks))
            return 1;
    }
    return 0;
}

static int log_poll(hc_bus_consumer_t *c, hc_bus_msg_t *msgs, size_t max, size_t *n, int timeout_ms)
{
    *n = 0;
    if (c->faulted && strcmp(c->fault.reason, HC_BUS_OFFSET_BEYOND_END) == 0 && recheck_end(c))
        return HC_ECORRUPT;
    int rc = log_read(c, msgs, max, n);
    if (rc || *n)
        return rc;
    /* Idle: a cheap look, every few seconds, that the group's offset still
     * lies within the log. */
    if (hc_mono_ms() - c->end_checked_ms >= END_CHECK_MS) {
        c->end_checked_ms = hc_mono_ms();
        if (check_end(c))
            return HC_ECORRUPT;
    }
    if (timeout_ms <= 0)
        return 0;
    /* With ticks, a wake-up comes after an appender's commit, and one read
     * finds it. Watching the directory instead, a wake-up comes with the
     * appender's writes to the WAL; its commit becomes visible a moment later
     * (after the appender's fsync; the shared-memory index, which inotify
     * does not see, is updated last). After such a wake that found nothing,
     * look again after 1, 2, 4, ... ms, so that a commit is seen soon after
     * its fsync however long that takes, with a few reads per wake-up. An
     * empty answer means the timeout passed. */
    int64_t deadline = hc_deadline_ms(timeout_ms);
    int64_t recheck = 0; /* ms until the next look; 0: wait for a wake-up */
    for (int64_t left = timeout_ms; left > 0; left = hc_deadline_left(deadline)) {
        int64_t step = recheck && left > recheck ? recheck : left;
        if (c->ino_fd >= 0) {
            if (wait_for_append(c->ino_fd, c->ticks, (int)step))
                recheck = c->ticks ? 0 : RECHECK_FIRST_MS;
            else if (recheck)
                recheck *= 2;
        } else {
            hc_sleep_ms(step < 20 ? step : 20);
        }
        rc = log_read(c, msgs, max, n);
        if (rc || *n)
            return rc;
    }
    return 0;
}

static int log_fault(hc_bus_consumer_t *c, hc_bus_fault_t *out)
{
    if (!c->faulted)
        return 0;
    *out = c->fault;
    return 1;
}

static int log_health(hc_bus_t *b, char *why, size_t n)
{
    log_bus_t *lb = (log_bus_t *)b;
    int rc = hc_db_health(lb->db, why, n);
    return rc ? rc : hc_db_health(lb->offsets, why, n);
}

static int log_commit(hc_bus_consumer_t *c, const hc_bus_pos_t *pos, size_t n)
{
    /* One partition (0): its position is the highest offset named. */
    int64_t offset = -1;
    for (size_t i = 0; i < n; i++)
        if (pos[i].partition == 0 && pos[i].offset > offset)
            offset = pos[i].offset;
    if (offset < 0)
        return 0;
    hc_conn_t *conn = hc_db_acquire(c->bus->offsets);
    int rc = hc_conn_begin_lazy(conn);
    if (!rc)
        rc = hc_conn_exec(
            conn,
            "INSERT INTO consumer_offsets(grp, topic, committed, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(grp, topic) DO UPDATE SET committed = excluded.committed,"
            " updated_at = excluded.updated_at WHERE excluded.committed > committed",
            HC_PARAMS(HC_TEXT(c->group), HC_TEXT(c->bus->base.topic), HC_I64(offset),
                      HC_I64(hc_now_ms())),
            NULL);
    if (rc)
        hc_conn_rollback(conn);
    else
        rc = hc_conn_commit(conn);
    hc_db_release(c->bus->offsets, conn);
    return rc;
}

static int64_t log_lag(hc_bus_consumer_t *c)
{
    int64_t committed = 0, n = -1;
    int rc = read_committed(c->bus, c->group, &committed);
    if (rc && rc != HC_ENOTFOUND)
        return -1;
    hc_conn_t *conn = hc_db_acquire(c->bus->db);
    rc = hc_conn_query_i64(conn, "SELECT COUNT(*) FROM events WHERE topic = ? AND pos > ?",
                           HC_PARAMS(HC_TEXT(c->bus->base.topic), HC_I64(committed)), &n);
    hc_db_release(c->bus->db, conn);
    return rc ? -1 : n;
}

static void log_consumer_close(hc_bus_consumer_t *c)
{
    if (!c)
        return;
    if (c->ino_fd >= 0)
        close(c->ino_fd);
    free(c);
}

static void log_destroy(hc_bus_t *b)
{
    log_bus_t *lb = (log_bus_t *)b;
    hc_db_destroy(lb->db);
    hc_db_destroy(lb->offsets);
    if (lb->lock_fd >= 0)
        close(lb->lock_fd);
    free(lb);
}

static const hc_bus_ops_t log_ops = {
    .publish = log_publish,
    .consumer_open = log_consumer_open,
    .poll = log_poll,
    .fault = log_fault,
    .health = log_health,
    .commit = log_commit,
    .lag = log_lag,
    .consumer_close = log_consumer_close,
    .destroy = log_destroy,
};

int hc_bus_log_open(const char *dir, const char *topic, const char *sync, hc_bus_t **out)
{
    *out = NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        hc_error("cannot create %s: %s", dir, strerror(errno));
        return HC_EIO;
    }
    log_bus_t *lb = hc_xcalloc(1, sizeof *lb);
    lb->base.ops = &log_ops;
    lb->base.kind = "log";
    hc_strlcpy(lb->base.topic, topic, sizeof lb->base.topic);
    hc_strlcpy(lb->dir, dir, sizeof lb->dir);
    snprintf(lb->lock_path, sizeof lb->lock_path, "%s/events.lock", dir);
    lb->lock_fd = open(lb->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lb->lock_fd < 0)
        hc_warn("cannot open %s (%s); appends wait on SQLite's lock instead", lb->lock_path,
                strerror(errno));
    char path[600];
    snprintf(path, sizeof path, "%s/events.db", dir);
    int rc = hc_db_open(path, sync, log_migrations,
                        sizeof log_migrations / sizeof log_migrations[0], &lb->db);
    if (!rc) {
        snprintf(path, sizeof path, "%s/offsets.db", dir);
        rc = hc_db_open(path, sync, offset_migrations, 1, &lb->offsets);
    }
    if (rc) {
        hc_db_destroy(lb->db);
        if (lb->lock_fd >= 0)
            close(lb->lock_fd);
        free(lb);
        return rc;
    }
    *out = &lb->base;
    return 0;
}

/* ---- `healthcenter check` ---- */

#define MAX_BAD_LINES 20 /* bad records listed one by one; the rest are counted */

/* Verifies the checksum of every record of events.db (db) page by page. */
static void verify_records(hc_db_t *db, const char *path, hc_check_t *k)
{
    int64_t after = 0, total = 0, unverified = 0, bad = 0;
    char why[160];
    for (;;) {
        hc_conn_t *conn = hc_db_acquire(db);
        hc_rows_t *r = NULL;
        int rc = hc_conn_query(conn,
                               "SELECT pos, msg_key, value, crc, topic FROM events WHERE pos > ?"
                               " ORDER BY pos LIMIT ?",
                               HC_PARAMS(HC_I64(after), HC_I64(VERIFY_PAGE)), &r);
        hc_db_release(db, conn);
        if (rc) {
            hc_check_report(k, 0, "%s: records after offset %lld cannot be read: %s", path,
                            (long long)after, hc_strerror(rc));
            return;
        }
        size_t n = hc_rows_count(r);
        for (size_t i = 0; i < n; i++) {
            total++;
            unverified += hc_rows_is_null(r, i, 3);
            if (row_ok(r, i, why, sizeof why))
                continue;
            if (++bad <= MAX_BAD_LINES)
                hc_check_report(k, 0, "%s: record at offset %lld (topic %s, key %s): %s", path,
                                (long long)hc_rows_i64(r, i, 0),
                                hc_rows_text(r, i, 4) ? hc_rows_text(r, i, 4) : "?",
                                hc_rows_text(r, i, 1) ? hc_rows_text(r, i, 1) : "?", why);
        }
        if (n)
            after = hc_rows_i64(r, n - 1, 0);
        hc_rows_free(r);
        if (n < VERIFY_PAGE)
            break;
    }
    if (bad > MAX_BAD_LINES)
        hc_check_report(k, 0, "%s: %lld more bad records not listed", path,
                        (long long)(bad - MAX_BAD_LINES));
    if (!bad)
        hc_check_report(k, 1,
                        "%s: %lld records, every checksum matches (%lld from before "
                        "checksums, unverified)",
                        path, (long long)total, (long long)unverified);
}

/* Checks every group's committed offset against the end of its topic. */
static void verify_offsets(hc_db_t *offsets, hc_db_t *events, const char *path, hc_check_t *k)
{
    hc_conn_t *conn = hc_db_acquire(offsets);
    hc_rows_t *r = NULL;
    int rc = hc_conn_query(conn,
                           "SELECT grp, topic, committed FROM consumer_offsets ORDER BY grp, topic",
                           HC_NOPARAMS, &r);
    hc_db_release(offsets, conn);
    if (rc) {
        hc_check_report(k, 0, "%s: committed offsets cannot be read: %s", path, hc_strerror(rc));
        return;
    }
    for (size_t i = 0; i < hc_rows_count(r); i++) {
        const char *grp = hc_rows_text(r, i, 0), *topic = hc_rows_text(r, i, 1);
        int64_t committed = hc_rows_i64(r, i, 2), end = -1;
        if (events) {
            conn = hc_db_acquire(events);
            if (hc_conn_query_i64(conn, "SELECT COALESCE(MAX(pos), 0) FROM events WHERE topic = ?",
                                  HC_PARAMS(HC_TEXT(topic)), &end))
                end = -1;
            hc_db_release(events, conn);
        }
        if (end < 0)
            hc_check_report(k, 0,
                            "%s: group %s (topic %s) at offset %lld: the end of the log "
                            "is unknown",
                            path, grp ? grp : "?", topic ? topic : "?", (long long)committed);
        else if (committed > end)
            hc_check_report(k, 0,
                            "%s: group %s (topic %s) committed offset %lld is beyond the "
                            "end of the log (last record %lld)",
                            path, grp ? grp : "?", topic ? topic : "?", (long long)committed,
                            (long long)end);
        else
            hc_check_report(k, 1, "%s: group %s (topic %s) at offset %lld of %lld", path,
                            grp ? grp : "?", topic ? topic : "?", (long long)committed,
                            (long long)end);
    }
    hc_rows_free(r);
}

/* Opens path read-only and runs integrity_check; returns the pool or NULL
 * (reported). */
static hc_db_t *verify_open(const char *path, hc_check_t *k)
{
    hc_db_t *db = NULL;
    char why[512];
    int rc = hc_db_open_existing(path, 1, &db);
    if (rc) {
        hc_check_report(k, 0, "%s: cannot open: %s", path,
                        rc == HC_ENOTFOUND ? "no such file" : hc_strerror(rc));
        return NULL;
    }
    rc = hc_db_check(db, 1, why, sizeof why);
    if (rc)
        hc_check_report(k, 0, "%s: integrity_check: %s", path, why);
    else
        hc_check_report(k, 1, "%s: integrity_check ok", path);
    return db;
}

void hc_bus_log_verify(const char *dir, hc_check_t *k)
{
    char path[600], opath[600];
    snprintf(path, sizeof path, "%s/events.db", dir);
    snprintf(opath, sizeof opath, "%s/offsets.db", dir);
    hc_db_t *events = verify_open(path, k);
    if (events)
        verify_records(events, path, k);
    hc_db_t *offsets = verify_open(opath, k);
    if (offsets)
        verify_offsets(offsets, events, opath, k);
    hc_db_destroy(offsets);
    hc_db_destroy(events);
}
