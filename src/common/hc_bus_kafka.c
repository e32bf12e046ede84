/* hc_bus_kafka: the event bus on Apache Kafka through librdkafka. An
 * idempotent producer (acks=all) whose publish returns only once the brokers
 * acknowledged every message; per consumer a member of the group (the service's
 * name) with manual offset commits and cooperative-sticky rebalancing. The
 * topic is created when missing. See docs/distributed.md ("Kafka"). */
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_bus.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_time.h"
#include "hc_worker.h"

#define TOPIC_TIMEOUT_MS 5000 /* one metadata or CreateTopics request */
#define LAG_TIMEOUT_MS 1000   /* one request of the group's lag (group_lag) */
#define FLUSH_SLACK_MS 2000   /* flush waits message.timeout.ms plus this */
#define POLL_TICK_MS 200      /* the producer's housekeeping: stats, late reports */
#define ERRORS "hc_bus_producer_errors_total"

typedef struct kafka_bus {
    hc_bus_t base;
    hc_bus_kafka_opts_t o; /* strings point into the copies below */
    char brokers[512], group_prefix[64], extra[1024];
    pthread_mutex_t mu; /* guards producer use: publish, the poller, recreation */
    rd_kafka_t *producer;
    hc_worker_t *poller; /* serves the producer's callbacks between publishes */
    /* The state shown by health, guarded by st_mu. */
    pthread_mutex_t st_mu;
    int topic_ready;      /* the topic exists (found or created) */
    int topic_partitions; /* its partitions, 0 while unknown */
    int brokers_up;       /* brokers in state UP (stats / metadata); -1 unknown */
    int64_t producer_errors;
    char last_error[256];
    int64_t last_error_ms; /* wall clock */
} kafka_bus_t;

/* The messages of one publish awaiting their delivery reports. Freed by
 * publish, or, when publish gave up waiting, by the last report. */
typedef struct batch {
    size_t outstanding; /* reports still to come */
    size_t failed;
    int abandoned; /* publish returned; the last report frees the batch */
} batch_t;

struct hc_bus_consumer {
    kafka_bus_t *bus;
    rd_kafka_t *rk;
    /* Asks the broker for end offsets and metadata (the lag gauge). Not rk:
     * the broker answers one connection's requests in order, so on rk a
     * query waits behind the pending fetch, up to fetch.wait.max.ms (500 ms)
     * per request on an idle topic, and a /metrics scrape took seconds. */
    rd_kafka_t *query;
    char group[128];
    pthread_mutex_t mu;         /* guards assigned and committed (read by lag) */
    hc_bus_offsets_t assigned;  /* partitions owned now (offset unused) */
    hc_bus_offsets_t committed; /* last offset committed per owned partition */
    hc_bus_offsets_t deferred;  /* done, but a rebalance refused their commit: poll
                                   commits them for the partitions still owned */
};

/* Records err as the bus's last error (for health) and logs it once per
 * change, not once per retry. */
static void note_error(kafka_bus_t *kb, const char *what, const char *err)
{
    char line[256];
    snprintf(line, sizeof line, "%s: %s", what, err);
    pthread_mutex_lock(&kb->st_mu);
    int changed = strcmp(kb->last_error, line) != 0;
    hc_strlcpy(kb->last_error, line, sizeof kb->last_error);
    kb->last_error_ms = hc_now_ms();
    pthread_mutex_unlock(&kb->st_mu);
    if (changed)
        hc_warn("kafka %s", line);
}

static void count_producer_error(kafka_bus_t *kb, const char *type, size_t n)
{
    pthread_mutex_lock(&kb->st_mu);
    kb->producer_errors += (int64_t)n;
    pthread_mutex_unlock(&kb->st_mu);
    hc_metrics_count(ERRORS, type, (int64_t)n);
}

/* librdkafka's own log lines go to ours (its default writes to stderr). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 4)
        hc_warn("librdkafka %s: %s", fac, buf);
    else
        hc_debug("librdkafka %s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kafka_bus_t *kb = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        pthread_mutex_lock(&kb->st_mu);
        kb->brokers_up = 0;
        pthread_mutex_unlock(&kb->st_mu);
    }
    note_error(kb, rd_kafka_err2name(err), reason);
}

/* The statistics (every second): counts the brokers in state UP, the
 * bootstrap entries (nodeid -1) left out. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    kafka_bus_t *kb = opaque;
    (void)rk;
    json_t *root = json_loadb(json, len, 0, NULL), *b;
    const char *name;
    int up = 0;
    json_object_foreach(json_object_get(root, "brokers"), name, b)
    {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (json_integer_value(json_object_get(b, "nodeid")) >= 0 && state &&
            strcmp(state, "UP") == 0)
            up++;
    }
    if (root) {
        pthread_mutex_lock(&kb->st_mu);
        kb->brokers_up = up;
        pthread_mutex_unlock(&kb->st_mu);
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_bus_t *kb = opaque;
    batch_t *b = m->_private;
    (void)rk;
    if (m->err) {
        b->failed++;
        note_error(kb, "delivery failed", rd_kafka_err2str(m->err));
        count_producer_error(kb, "delivery", 1);
    }
    if (--b->outstanding == 0 && b->abandoned)
        free(b);
}

/* Sets name=value on conf; HC_EINVAL (logged) when librdkafka refuses it. */
static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) == RD_KAFKA_CONF_OK)
        return 0;
    hc_error("kafka setting %s=%s: %s", name, value, err);
    return HC_EINVAL;
}

/* A client configuration: the extra properties first, then the fixed ones,
 * which win. NULL (logged) when a setting is refused. */
static rd_kafka_conf_t *base_conf(kafka_bus_t *kb)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    char extra[sizeof kb->extra], *save = NULL;
    hc_strlcpy(extra, kb->extra, sizeof extra);
    for (char *kv = strtok_r(extra, ",", &save); !rc && kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            hc_error("HC_KAFKA_CONFIG: \"%s\" is not key=value", kv);
            rc = HC_EINVAL;
            break;
        }
        *eq = '\0';
        rc = conf_set(conf, kv, eq + 1);
    }
    if (!rc)
        rc = conf_set(conf, "bootstrap.servers", kb->brokers);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, kb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* A new idempotent producer, or NULL (logged). */
static rd_kafka_t *producer_new(kafka_bus_t *kb)
{
    rd_kafka_conf_t *conf = base_conf(kb);
    if (!conf)
        return NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", kb->o.delivery_timeout_ms);
    /* Idempotence keeps each partition's order through retries and writes
     * no duplicate of a retried message; acks=all waits for every in-sync
     * replica, so an acknowledged event survives a broker's loss. */
    if (conf_set(conf, "enable.idempotence", "true") || conf_set(conf, "acks", "all") ||
        conf_set(conf, "message.timeout.ms", timeout) || conf_set(conf, "linger.ms", "2") ||
        conf_set(conf, "statistics.interval.ms", "1000")) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_stats_cb(conf, stats_cb);
    char err[256];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p) {
        hc_error("kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
    }
    return p;
}

/* Looks the topic up and creates it when missing. Returns 0 once it exists
 * (kb->topic_ready set), else an hc_err (the last error noted). */
static int ensure_topic(kafka_bus_t *kb)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(kb->producer, kb->base.topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(kb->producer, 0, t, &md, TOPIC_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (err) {
        pthread_mutex_lock(&kb->st_mu);
        kb->brokers_up = 0; /* none answered in TOPIC_TIMEOUT_MS */
        pthread_mutex_unlock(&kb->st_mu);
        note_error(kb, "metadata", rd_kafka_err2str(err));
        return HC_EUNAVAIL;
    }
    int brokers = md->broker_cnt, parts = 0;
    rd_kafka_resp_err_t terr = md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    if (!terr)
        parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    pthread_mutex_lock(&kb->st_mu);
    kb->brokers_up = brokers;
    pthread_mutex_unlock(&kb->st_mu);
    if (terr && terr != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
        terr != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        note_error(kb, "topic metadata", rd_kafka_err2str(terr));
        return HC_EUNAVAIL;
    }
    if (terr) {
        char errstr[256];
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
            kb->base.topic, kb->o.partitions, kb->o.replication_factor, errstr, sizeof errstr);
        if (!nt) {
            note_error(kb, "topic", errstr);
            return HC_EINVAL;
        }
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(kb->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(ao, TOPIC_TIMEOUT_MS, errstr, sizeof errstr);
        rd_kafka_AdminOptions_set_operation_timeout(ao, TOPIC_TIMEOUT_MS, errstr, sizeof errstr);
        rd_kafka_queue_t *q = rd_kafka_queue_new(kb->producer);
        rd_kafka_CreateTopics(kb->producer, &nt, 1, ao, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TOPIC_TIMEOUT_MS + 1000);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        const char *why = ev && err ? rd_kafka_event_error_string(ev) : rd_kafka_err2str(err);
        if (!err) {
            size_t cnt = 0;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            err = cnt ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
            why = cnt && rd_kafka_topic_result_error_string(res[0])
                      ? rd_kafka_topic_result_error_string(res[0])
                      : rd_kafka_err2str(err);
        }
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            note_error(kb, "create topic", why);
        else if (!err)
            hc_info("kafka: created topic %s with %d partitions", kb->base.topic, kb->o.partitions);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_NewTopic_destroy(nt);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            return HC_EUNAVAIL;
        parts = err ? 0 : kb->o.partitions;
    }
    pthread_mutex_lock(&kb->st_mu);
    kb->topic_ready = 1;
    kb->topic_partitions = parts;
    pthread_mutex_unlock(&kb->st_mu);
    return 0;
}

/* Replaces a producer that met a fatal error (an idempotence guarantee it
 * can no longer keep); its undelivered messages are failed, so their rows
 * stay unsent and go out again with the new one. Called with kb->mu held. */
static void recover_fatal(kafka_bus_t *kb)
{
    char why[256];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(kb->producer, why, sizeof why);
    if (!err)
        return;
    hc_error("kafka producer fatal error (%s): %s; starting a new producer", rd_kafka_err2name(err),
             why);
    count_producer_error(kb, "fatal", 1);
    rd_kafka_purge(kb->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(kb->producer, 1000);
    rd_kafka_t *fresh = producer_new(kb);
    if (!fresh)
        return;
    rd_kafka_destroy(kb->producer);
    kb->producer = fresh;
}

static int kafka_publish(hc_bus_t *b, const hc_bus_msg_t *msgs, size_t n)
{
    kafka_bus_t *kb = (kafka_bus_t *)b;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&kb->mu);
    recover_fatal(kb);
    int rc = 0;
    pthread_mutex_lock(&kb->st_mu);
    int ready = kb->topic_ready;
    pthread_mutex_unlock(&kb->st_mu);
    if (!ready && (rc = ensure_topic(kb)) != 0) {
        count_producer_error(kb, "topic", n);
        pthread_mutex_unlock(&kb->mu);
        return rc;
    }
    batch_t *bt = hc_xcalloc(1, sizeof *bt);
    for (size_t i = 0; i < n; i++) {
        const char *key = msgs[i].key ? msgs[i].key : "";
        rd_kafka_resp_err_t err;
        for (;;) {
            err = rd_kafka_producev(
                kb->producer, RD_KAFKA_V_TOPIC(b->topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                RD_KAFKA_V_VALUE((void *)msgs[i].value, msgs[i].value_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(bt), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(kb->producer, 50); /* room is made as reports arrive */
        }
        if (err) {
            /* Not queued, so no report will come; the messages after it are
             * not sent either, to keep the key's order. */
            note_error(kb, "produce", rd_kafka_err2str(err));
            count_producer_error(kb, "produce", n - i);
            bt->failed += n - i;
            break;
        }
        bt->outstanding++;
    }
    /* Every queued message gets its report within message.timeout.ms. */
    rd_kafka_flush(kb->producer, kb->o.delivery_timeout_ms + FLUSH_SLACK_MS);
    if (bt->outstanding) {
        note_error(kb, "publish", "delivery reports still missing after the timeout");
        count_producer_error(kb, "timeout", 1);
        bt->abandoned = 1; /* the last report frees it */
        rc = HC_ETIMEDOUT;
    } else {
        rc = bt->failed ? HC_EUNAVAIL : 0;
        free(bt);
    }
    pthread_mutex_unlock(&kb->mu);
    return rc;
}

/* Serves the producer's callbacks (statistics, reports of abandoned batches)
 * while no publish runs, so health stays current on a quiet system. */
static void poller_main(hc_worker_t *w, void *arg)
{
    kafka_bus_t *kb = arg;
    while (!hc_worker_stopping(w)) {
        pthread_mutex_lock(&kb->mu);
        rd_kafka_poll(kb->producer, 0);
        pthread_mutex_unlock(&kb->mu);
        hc_worker_wait(w, POLL_TICK_MS);
    }
}

/* ---- consumer ---- */

static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    hc_bus_consumer_t *c = opaque;
    (void)rk;
    note_error(c->bus, rd_kafka_err2name(err), reason);
}

/* A rebalance: cooperative-sticky moves only the partitions that change
 * hands, adding or removing them from the assignment; eager (a group still
 * on the old protocol) replaces all. A revoked partition's applied but
 * uncommitted offsets are left to its next owner, which the inbox keeps from
 * applying them twice. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    hc_bus_consumer_t *c = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t aerr = 0;
    pthread_mutex_lock(&c->mu);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (cooperative)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        for (int i = 0; i < parts->cnt; i++)
            hc_bus_offsets_note(&c->assigned, parts->elems[i].partition, 0);
    } else {
        if (cooperative)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        for (int i = 0; i < parts->cnt; i++) {
            hc_bus_offsets_forget(&c->assigned, parts->elems[i].partition);
            hc_bus_offsets_forget(&c->committed, parts->elems[i].partition);
        }
    }
    pthread_mutex_unlock(&c->mu);
    char list[200] = "";
    size_t used = 0;
    for (int i = 0; i < parts->cnt && used + 8 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", i ? "," : "",
                                 (int)parts->elems[i].partition);
    hc_info("kafka group %s: %s partitions [%s]%s", c->group,
            err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked", list,
            err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && rd_kafka_assignment_lost(rk) ? " (lost)"
                                                                                        : "");
    if (e) {
        note_error(c->bus, "rebalance", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    } else if (aerr) {
        note_error(c->bus, "rebalance", rd_kafka_err2str(aerr));
    }
}

static int kafka_consumer_open(hc_bus_t *b, const char *group, hc_bus_consumer_t **out)
{
    kafka_bus_t *kb = (kafka_bus_t *)b;
    *out = NULL;
    if (!group || !*group)
        return HC_EINVAL;
    hc_bus_consumer_t *c = hc_xcalloc(1, sizeof *c);
    c->bus = kb;
    snprintf(c->group, sizeof c->group, "%s%s", kb->group_prefix, group);
    pthread_mutex_init(&c->mu, NULL);
    rd_kafka_conf_t *conf = base_conf(kb);
    char session[16], heartbeat[16];
    snprintf(session, sizeof session, "%d", kb->o.session_timeout_ms);
    snprintf(heartbeat, sizeof heartbeat, "%d",
             kb->o.session_timeout_ms / 3 < 3000 ? kb->o.session_timeout_ms / 3 : 3000);
    /* Offsets are committed by hc_consumer only after the inbox transaction
     * (never automatically); a new group starts at the topic's beginning. */
    if (!conf || conf_set(conf, "group.id", c->group) ||
        conf_set(conf, "enable.auto.commit", "false") ||
        conf_set(conf, "enable.auto.offset.store", "false") ||
        conf_set(conf, "auto.offset.reset", "earliest") ||
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky") ||
        conf_set(conf, "session.timeout.ms", session) ||
        conf_set(conf, "heartbeat.interval.ms", heartbeat) ||
        conf_set(conf, "enable.partition.eof", "false") ||
        conf_set(conf, "topic.metadata.refresh.interval.ms", "5000")) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return HC_EINVAL;
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    char err[256];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c->rk) {
        hc_error("kafka consumer %s: %s", c->group, err);
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return HC_EINVAL;
    }
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_conf_t *qconf = base_conf(kb);
    if (qconf && !(c->query = rd_kafka_new(RD_KAFKA_PRODUCER, qconf, err, sizeof err))) {
        hc_warn("kafka consumer %s: no query client (%s); the lag asks through the consumer",
                c->group, err);
        rd_kafka_conf_destroy(qconf);
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, b->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (serr) {
        hc_error("kafka consumer %s: subscribe to %s: %s", c->group, b->topic,
                 rd_kafka_err2str(serr));
        rd_kafka_destroy(c->rk);
        if (c->query)
            rd_kafka_destroy(c->query);
        pthread_mutex_destroy(&c->mu);
        free(c);
        return HC_EINVAL;
    }
    *out = c;
    return 0;
}

/* A NUL-terminated copy of the n bytes at p (aborts when out of memory). */
static char *copy_bytes(const void *p, size_t n)
{
    char *s = hc_xcalloc(1, n + 1);
    memcpy(s, p, n);
    return s;
}

/* Copies one fetched message into m; returns 1, or 0 for an error event
 * (noted, nothing filled). */
static int take(hc_bus_consumer_t *c, rd_kafka_message_t *km, hc_bus_msg_t *m)
{
    if (km->err) {
        if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            note_error(c->bus, "consume", rd_kafka_message_errstr(km));
        return 0;
    }
    m->partition = km->partition;
    m->offset = km->offset;
    m->key = km->key ? copy_bytes(km->key, km->key_len) : hc_xstrdup("");
    m->value = km->payload ? copy_bytes(km->payload, km->len) : hc_xstrdup("");
    m->value_len = km->payload ? km->len : 0;
    return 1;
}

static int kafka_commit(hc_bus_consumer_t *c, const hc_bus_pos_t *pos, size_t n);

/* Commits what a rebalance kept kafka_commit from committing, for the
 * partitions this member still owns; the rest belongs to their new owner. A
 * rebalance still running keeps them for the next poll. */
static void commit_deferred(hc_bus_consumer_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = 0;
    hc_bus_pos_t *pos = c->deferred.n ? hc_xcalloc(c->deferred.n, sizeof *pos) : NULL;
    for (size_t i = 0; i < c->deferred.n; i++) {
        int64_t done;
        /* a later commit went past it: committing it now would move back */
        if (!hc_bus_offsets_get(&c->committed, c->deferred.pos[i].partition, &done) ||
            done < c->deferred.pos[i].offset)
            pos[n++] = c->deferred.pos[i];
    }
    hc_bus_offsets_clear(&c->deferred);
    pthread_mutex_unlock(&c->mu);
    if (n && kafka_commit(c, pos, n) != 0) {
        pthread_mutex_lock(&c->mu); /* the broker failed: try again next poll */
        for (size_t i = 0; i < n; i++)
            hc_bus_offsets_note(&c->deferred, pos[i].partition, pos[i].offset);
        pthread_mutex_unlock(&c->mu);
    }
    free(pos);
}

static int kafka_poll(hc_bus_consumer_t *c, hc_bus_msg_t *msgs, size_t max, size_t *n,
                      int timeout_ms)
{
    *n = 0;
    commit_deferred(c);
    int64_t deadline = hc_deadline_ms(timeout_ms > 0 ? timeout_ms : 0);
    /* The first message is waited for; the rest are what is fetched already. */
    while (*n < max) {
        int wait = *n ? 0 : (int)hc_deadline_left(deadline);
        rd_kafka_message_t *km = rd_kafka_consumer_poll(c->rk, wait);
        if (!km)
            break;
        if (take(c, km, &msgs[*n]))
            (*n)++;
        rd_kafka_message_destroy(km);
    }
    return 0;
}

/* Kafka reports no corrupt records to stop at: librdkafka verifies each
 * batch's CRC (check.crcs) and refetches. */
static int kafka_fault(hc_bus_consumer_t *c, hc_bus_fault_t *out)
{
    (void)c;
    (void)out;
    return 0;
}

static int kafka_commit(hc_bus_consumer_t *c, const hc_bus_pos_t *pos, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(n ? n : 1));
    int64_t unused;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++)
        if (hc_bus_offsets_get(&c->assigned, pos[i].partition, &unused))
            rd_kafka_topic_partition_list_add(l, c->bus->base.topic, pos[i].partition)->offset =
                pos[i].offset + 1; /* Kafka's committed offset is the next to read */
    pthread_mutex_unlock(&c->mu);
    int rc = 0;
    if (l->cnt) {
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 0);
        switch (err) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            pthread_mutex_lock(&c->mu);
            for (int i = 0; i < l->cnt; i++)
                if (hc_bus_offsets_get(&c->assigned, l->elems[i].partition, &unused))
                    hc_bus_offsets_note(&c->committed, l->elems[i].partition,
                                        l->elems[i].offset - 1);
            pthread_mutex_unlock(&c->mu);
            break;
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
        case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
        case RD_KAFKA_RESP_ERR__NO_OFFSET:
            /* The partitions are changing hands: the new owner of one resumes
             * from the last commit and the inbox drops what it sees again.
             * A cooperative rebalance leaves most of them here, though: poll
             * commits those once it is over (not now: the rebalance itself
             * completes only through poll). */
            hc_info("kafka group %s: offsets not committed (%s); committed after the rebalance "
                    "for the partitions this member keeps",
                    c->group, rd_kafka_err2name(err));
            pthread_mutex_lock(&c->mu);
            for (int i = 0; i < l->cnt; i++)
                hc_bus_offsets_note(&c->deferred, l->elems[i].partition, l->elems[i].offset - 1);
            pthread_mutex_unlock(&c->mu);
            break;
        default:
            note_error(c->bus, "commit", rd_kafka_err2str(err));
            rc = HC_EUNAVAIL;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* A partition just assigned to this instance, from which it has consumed
 * nothing yet (an idle partition moved here by a rebalance: scale-out, a
 * restart), has neither a commit of ours nor a position; its lag would count
 * from the low watermark. Asks the group coordinator for the group's
 * committed offsets of such partitions of l (at most 1 s) and notes them, so
 * the lag counts from where the group stands. */
static void kafka_learn_committed(hc_bus_consumer_t *c, const rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_topic_partition_list_t *ask = rd_kafka_topic_partition_list_new(l->cnt + 1);
    int64_t at;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset < 0 &&
            !hc_bus_offsets_get(&c->committed, l->elems[i].partition, &at))
            rd_kafka_topic_partition_list_add(ask, c->bus->base.topic, l->elems[i].partition);
    pthread_mutex_unlock(&c->mu);
    if (ask->cnt && rd_kafka_committed(c->rk, ask, 1000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&c->mu);
        for (int i = 0; i < ask->cnt; i++)
            if (!ask->elems[i].err && ask->elems[i].offset >= 0 &&
                hc_bus_offsets_get(&c->assigned, ask->elems[i].partition, &at) &&
                !hc_bus_offsets_get(&c->committed, ask->elems[i].partition, &at))
                hc_bus_offsets_note(&c->committed, ask->elems[i].partition,
                                    ask->elems[i].offset - 1);
        pthread_mutex_unlock(&c->mu);
    }
    rd_kafka_topic_partition_list_destroy(ask);
}

/* The group's lag over the partitions of the topic this instance does not
 * own, asked of the broker (metadata, committed offsets, end offsets; each
 * request waits at most LAG_TIMEOUT_MS). -1 (unknown) when the broker does
 * not answer: never 0, which would read as "nothing waits" while this
 * instance cannot tell. */
static int64_t group_lag(hc_bus_consumer_t *c)
{
    const char *topic = c->bus->base.topic;
    rd_kafka_t *q = c->query ? c->query : c->rk;
    rd_kafka_topic_t *t = rd_kafka_topic_new(q, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int64_t lag = 0;
    if (t && rd_kafka_metadata(q, 0, t, &md, LAG_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        rd_kafka_metadata_destroy(md); /* no topic yet: no event either */
        rd_kafka_topic_destroy(t);
        return 0;
    }
    if (!t || !md || md->topic_cnt != 1 || md->topics[0].err) {
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
        return -1;
    }
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts > 0 ? parts : 1);
    int64_t unused;
    pthread_mutex_lock(&c->mu);
    for (int p = 0; p < parts; p++)
        if (!hc_bus_offsets_get(&c->assigned, p, &unused))
            rd_kafka_topic_partition_list_add(l, topic, p);
    pthread_mutex_unlock(&c->mu);
    if (l->cnt > 0 && rd_kafka_committed(c->rk, l, LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        lag = -1;
    else if (l->cnt > 0) {
        for (int i = 0; i < l->cnt && lag >= 0; i++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(q, topic, l->elems[i].partition, &lo, &hi,
                                                 LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                lag = -1;
                break;
            }
            int64_t done = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
            if (hi > done)
                lag += hi - done;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
}

/* The events this service's group has not applied, as this instance sees
 * them: over the partitions it owns, the events after its own committed
 * offsets; over the others, the group's committed offsets (group_lag).
 * The others count because "not mine" is not "nothing left": a killed
 * member holds its partitions until its session expires, and no one else
 * reports them meanwhile (with only its own partitions, a restarted
 * instance owning half of them read 0 while the other half waited). With
 * several instances each reports the whole group: take the max, not the
 * sum. -1 while the broker does not answer for the others. */
static int64_t kafka_lag(hc_bus_consumer_t *c)
{
    int64_t lag = group_lag(c);
    if (lag < 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->assigned.n + 1);
    for (size_t i = 0; i < c->assigned.n; i++)
        rd_kafka_topic_partition_list_add(l, c->bus->base.topic, c->assigned.pos[i].partition);
    pthread_mutex_unlock(&c->mu);
    rd_kafka_position(c->rk, l);
    kafka_learn_committed(c, l);
    /* The end offsets are asked of the broker: the ones librdkafka caches
     * from its last fetch miss an event published since, which would read
     * as "nothing left" between the producer's outbox mark and this
     * consumer's next fetch. While the broker does not answer, the cached
     * ones (and no more waits) are used. */
    int ask_broker = 1;
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo = 0, hi = 0, done = -1, at;
        int32_t p = l->elems[i].partition;
        if (ask_broker && rd_kafka_query_watermark_offsets(
                              c->query ? c->query : c->rk, c->bus->base.topic, p, &lo, &hi,
                              LAG_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
            ask_broker = 0;
        if (!ask_broker && rd_kafka_get_watermark_offsets(c->rk, c->bus->base.topic, p, &lo, &hi) !=
                               RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        pthread_mutex_lock(&c->mu);
        if (hc_bus_offsets_get(&c->committed, l->elems[i].partition, &at))
            done = at + 1;
        pthread_mutex_unlock(&c->mu);
        if (done < 0)
            done = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
        if (hi > done)
            lag += hi - done;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
}

static void kafka_consumer_close(hc_bus_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk); /* leaves the group: its partitions move at once */
    rd_kafka_destroy(c->rk);
    if (c->query)
        rd_kafka_destroy(c->query);
    hc_bus_offsets_cleanup(&c->assigned);
    hc_bus_offsets_cleanup(&c->committed);
    hc_bus_offsets_cleanup(&c->deferred);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int kafka_describe(hc_bus_t *b, json_t *details)
{
    kafka_bus_t *kb = (kafka_bus_t *)b;
    pthread_mutex_lock(&kb->st_mu);
    int up = kb->brokers_up;
    json_object_set_new(details, "brokers", json_string(kb->brokers));
    json_object_set_new(details, "brokersUp", up >= 0 ? json_integer(up) : json_null());
    json_object_set_new(details, "topicReady", json_boolean(kb->topic_ready));
    json_object_set_new(details, "partitions", json_integer(kb->topic_partitions));
    json_object_set_new(details, "producerErrors", json_integer(kb->producer_errors));
    if (kb->last_error[0]) {
        json_object_set_new(details, "lastError", json_string(kb->last_error));
        json_object_set_new(details, "lastErrorAt", json_integer(kb->last_error_ms));
    }
    pthread_mutex_unlock(&kb->st_mu);
    return up != 0;
}

static int64_t gauge_brokers_up(void *ud)
{
    kafka_bus_t *kb = ud;
    pthread_mutex_lock(&kb->st_mu);
    int up = kb->brokers_up;
    pthread_mutex_unlock(&kb->st_mu);
    return up;
}

static void kafka_destroy(hc_bus_t *b)
{
    kafka_bus_t *kb = (kafka_bus_t *)b;
    hc_worker_stop(kb->poller);
    if (kb->producer) {
        rd_kafka_flush(kb->producer, 2000);
        rd_kafka_destroy(kb->producer);
    }
    pthread_mutex_destroy(&kb->mu);
    pthread_mutex_destroy(&kb->st_mu);
    free(kb);
}

static const hc_bus_ops_t kafka_ops = {
    .publish = kafka_publish,
    .consumer_open = kafka_consumer_open,
    .poll = kafka_poll,
    .fault = kafka_fault,
    .health = NULL,
    .describe = kafka_describe,
    .commit = kafka_commit,
    .lag = kafka_lag,
    .consumer_close = kafka_consumer_close,
    .destroy = kafka_destroy,
};

int hc_bus_kafka_open(const hc_bus_kafka_opts_t *o, hc_bus_t **out)
{
    *out = NULL;
    kafka_bus_t *kb = hc_xcalloc(1, sizeof *kb);
    kb->base.ops = &kafka_ops;
    kb->base.kind = "kafka";
    hc_strlcpy(kb->base.topic, o->topic, sizeof kb->base.topic);
    kb->o = *o;
    hc_strlcpy(kb->brokers, o->brokers, sizeof kb->brokers);
    hc_strlcpy(kb->group_prefix, o->group_prefix ? o->group_prefix : "", sizeof kb->group_prefix);
    hc_strlcpy(kb->extra, o->extra ? o->extra : "", sizeof kb->extra);
    kb->brokers_up = -1;
    pthread_mutex_init(&kb->mu, NULL);
    pthread_mutex_init(&kb->st_mu, NULL);
    hc_metrics_describe(ERRORS, "Events the Kafka producer failed to deliver, by type (delivery: "
                                "refused or timed out; produce: not queued; topic: the topic "
                                "could not be created; timeout: reports missing; fatal: producer "
                                "replaced). Their outbox rows stay unsent and go out again.");
    kb->producer = producer_new(kb);
    if (!kb->producer) {
        kafka_destroy(&kb->base);
        return HC_EINVAL;
    }
    /* A broker not reachable yet is no error: publish creates the topic
     * later, and the service still takes bookings meanwhile. */
    if (ensure_topic(kb))
        hc_warn("kafka: topic %s not confirmed at start (brokers %s); publishing retries",
                kb->base.topic, kb->brokers);
    hc_metrics_gauge("hc_bus_brokers_up", "Kafka brokers this service's producer is connected to.",
                     gauge_brokers_up, kb);
    if (hc_worker_start("hc-kafka", poller_main, kb, &kb->poller)) {
        kafka_destroy(&kb->base);
        return HC_EIO;
    }
    *out = &kb->base;
    return 0;
}
