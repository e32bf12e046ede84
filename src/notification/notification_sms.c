/* notification_sms: the log and http SMS providers and the sender thread.
 *
 * Delivery guarantee: a row is claimed, the provider is called with no
 * transaction open, and the row is marked SENT right after the provider
 * accepted it. Our records therefore hold each SMS exactly once and mark it
 * SENT at most once; towards the external API delivery is at-least-once: a
 * crash (or a failed commit) between the provider's success and the SENT mark
 * leaves the claim to expire, and the message is sent again once. The http
 * provider passes the notification id so an API that deduplicates can drop
 * that repeat. */
#include "notification_sms.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hc_buf.h"
#include "hc_client.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_time.h"
#include "hc_trace.h"
#include "hc_valid.h"
#include "hc_worker.h"
#include "notification_domain.h"
#include "notification_store.h"

#define DEFAULT_BATCH 64
#define TICK_MS 1000 /* the timer pass, on top of wake-ups */
/* After a pass that sent something, the next waits until this long after its
 * start: while messages keep coming, a pass takes what some commits of the
 * consumer queued (one outcome commit, one fsync) instead of one each. */
#define LINGER_MS 10

/* ---- providers ---- */

/* Appends msg to data_dir/sms.log as one JSON line, in one write(2) on an
 * O_APPEND descriptor, so lines of concurrent senders (instances, the
 * sign-in handler) never interleave. Returns 0 or HC_EIO. */
static int sms_log_append(const hc_config_t *cfg, const notification_sms_t *msg)
{
    char path[600], at[HC_RFC3339_SIZE];
    hc_now_rfc3339(at);
    hc_fmt(path, sizeof path, "%s/%s", cfg->data_dir, NOTIFICATION_SMS_LOG);
    json_t *line = json_pack("{s:s, s:s, s:s}", "to", msg->to_digits, "text", msg->text, "at", at);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return HC_EIO;
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps' NUL becomes the line end */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int rc = fd >= 0 && write(fd, text, n + 1) == (ssize_t)(n + 1) ? 0 : HC_EIO;
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

/* The log provider: the message is "delivered" by appending it to sms.log
 * (where tests and developers read it, codes included) and writing it to the
 * service log with the destination masked (a sign-in code's text never). */
static int log_send(const notification_provider_t *p, const notification_sms_t *msg, char *err,
                    size_t errlen)
{
    char masked[20];
    if (sms_log_append(p->ud, msg) != 0) {
        snprintf(err, errlen, "cannot append to %s: %s", NOTIFICATION_SMS_LOG, strerror(errno));
        return HC_EIO;
    }
    hc_phone_mask(msg->to_digits, masked, sizeof masked);
    hc_info("SMS to %s: %s", masked, msg->secret ? "(a sign-in code)" : msg->text);
    return 0;
}

/* The http provider: POST {"to","text","orderId","notificationId"} to
 * cfg->sms_url with "Authorization: Bearer <key>"; any 2xx answer means
 * accepted. A timeout counts as a failure and is retried (see the file
 * comment on repeats). */
static int http_send(const notification_provider_t *p, const notification_sms_t *msg, char *err,
                     size_t errlen)
{
    const hc_config_t *cfg = p->ud;
    char auth[300];
    hc_trace_t parent, *trace = NULL;
    int status = 0, rc;
    json_t *body =
        json_pack("{s:s, s:s, s:I, s:I}", "to", msg->to_digits, "text", msg->text, "orderId",
                  (json_int_t)msg->order_id, "notificationId", (json_int_t)msg->id);
    if (!body) {
        snprintf(err, errlen, "the message cannot be encoded as JSON");
        rc = HC_EINVAL;
        goto out;
    }
    if (cfg->sms_api_key[0])
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->sms_api_key);
    if (msg->trace_id && strlen(msg->trace_id) == 32) {
        /* The SMS call joins the booking's trace (hc_client makes a child span). */
        memset(&parent, 0, sizeof parent);
        hc_strlcpy(parent.trace_id, msg->trace_id, sizeof parent.trace_id);
        parent.flags = 1;
        trace = &parent;
    }
    hc_call_t call = {
        .method = "POST",
        .url = cfg->sms_url,
        .body = body,
        .timeout_ms = cfg->sms_timeout_ms,
        .trace = trace,
        .extra_header = cfg->sms_api_key[0] ? auth : NULL,
    };
    rc = hc_client_call(&call, &status, NULL);
    if (rc == HC_ETIMEDOUT)
        snprintf(err, errlen, "the SMS API did not answer within %d ms", cfg->sms_timeout_ms);
    else if (rc == HC_EUNAVAIL)
        snprintf(err, errlen, "the SMS API could not be reached");
    else if (rc)
        snprintf(err, errlen, "the SMS API call failed: %s", hc_strerror(rc));
    else if (status < 200 || status > 299) {
        snprintf(err, errlen, "the SMS API answered HTTP %d", status);
        rc = HC_EPROTO;
    }
out:
    json_decref(body);
    return rc;
}

int notification_provider_init(notification_provider_t *p, const hc_config_t *cfg)
{
    memset(p, 0, sizeof *p);
    if (strcmp(cfg->sms_provider, "log") == 0) {
        p->name = "log";
        p->send = log_send;
        p->quick = 1;
    } else if (strcmp(cfg->sms_provider, "http") == 0) {
        p->name = "http";
        p->send = http_send;
    } else {
        return HC_EINVAL;
    }
    p->ud = cfg;
    return 0;
}

/* ---- one pass ---- */

/* Claims m for one attempt in a short transaction of its own. *claimed is 1
 * when we got it. Returns 0 or an hc_err (rolled back). The claim does not
 * wait for the disk: the outcome's durable commit carries it along, and a
 * power cut before that re-sends the message either way (see the top). */
/* What one attempt came to, kept until the group's outcomes are stored. */
typedef struct attempt {
    int claimed;
    int sent;
    int attempts;
    int64_t next_ms;
    char masked[20];
    char err[256];
} attempt_t;

/* Claims rows d[0..n) for one attempt each, in one transaction that need not
 * wait for the disk (a lost claim only lets a later pass try the row). */
static int claim_group(hc_conn_t *c, const notification_due_t *d, size_t n, int64_t lease_until,
                       attempt_t *a)
{
    int rc = hc_conn_begin_lazy(c);
    for (size_t i = 0; !rc && i < n; i++)
        rc = notification_store_claim(c, d[i].msg.id, d[i].msg.next_attempt_at, lease_until,
                                      &a[i].claimed);
    if (rc) {
        hc_conn_rollback(c);
        return rc;
    }
    return hc_conn_commit(c);
}

/* Stores the outcome of every attempt of the group in one durable
 * transaction. */
static int record_group(hc_conn_t *c, const notification_due_t *d, size_t n, const char *provider,
                        const attempt_t *a)
{
    char now[32];
    hc_now_rfc3339(now);
    int rc = hc_conn_begin(c);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!a[i].claimed)
            continue;
        if (a[i].sent)
            rc = notification_store_mark_sent(c, d[i].msg.id, provider, now);
        else
            rc = notification_store_mark_failed(c, d[i].msg.id, provider, a[i].attempts, a[i].err,
                                                a[i].next_ms, now);
    }
    if (rc) {
        hc_conn_rollback(c);
        return rc;
    }
    return hc_conn_commit(c);
}

/* Sends one claimed row and notes the outcome in a. */
static void attempt_one(const notification_sender_opts_t *o, const notification_due_t *d,
                        attempt_t *a)
{
    const notification_msg_t *m = &d->msg;
    const notification_provider_t *p = &o->provider;
    hc_phone_mask(d->phone, a->masked, sizeof a->masked);
    notification_sms_t sms = {
        .id = m->id,
        .order_id = m->order_id,
        .to_digits = d->phone,
        .text = m->text,
        .trace_id = m->trace_id,
    };
    a->err[0] = '\0';
    hc_log_ctx_set(m->trace_id[0] ? m->trace_id : NULL, m->order_id);
    int src = p->send(p, &sms, a->err, sizeof a->err);
    hc_log_ctx_clear();
    a->attempts = m->attempts + 1;
    a->sent = src == 0;
    a->next_ms = 0;
    if (src) {
        if (!a->err[0])
            snprintf(a->err, sizeof a->err, "%s", hc_strerror(src));
        if (a->attempts < o->max_attempts)
            a->next_ms = hc_now_ms() + notification_backoff_ms(a->attempts);
    }
}

/* Logs and counts the outcome of a claimed attempt once it is stored (rc 0),
 * or says that it could not be. */
static void report_one(const notification_sender_opts_t *o, const notification_due_t *d,
                       const attempt_t *a, int rc)
{
    const notification_msg_t *m = &d->msg;
    const char *name = o->provider.name;
    hc_log_ctx_set(m->trace_id[0] ? m->trace_id : NULL, m->order_id);
    if (rc)
        /* The claim expires after lease_ms and the row is tried again; after
         * a provider success that means one repeated message. */
        hc_error("cannot record the outcome of SMS %lld: %s", (long long)m->id, hc_strerror(rc));
    else if (a->sent)
        hc_info("SMS %lld (%s) sent via %s to %s", (long long)m->id, m->order_status, name,
                a->masked);
    else if (a->next_ms)
        hc_warn("SMS %lld (%s) to %s failed (attempt %d of %d): %s; retrying in %lld ms",
                (long long)m->id, m->order_status, a->masked, a->attempts, o->max_attempts, a->err,
                (long long)(a->next_ms - hc_now_ms()));
    else
        hc_error("SMS %lld (%s) to %s failed for good after %d attempts: %s", (long long)m->id,
                 m->order_status, a->masked, a->attempts, a->err);
    if (a->sent && !rc)
        hc_metrics_count("hc_sms_sent_total", name, 1);
    else if (!a->sent)
        hc_metrics_count("hc_sms_failed_total", name, 1);
    hc_log_ctx_clear();
}

/* Delivers the group d[0..n): claims every row in one transaction, sends the
 * claimed ones, and stores all outcomes in one durable transaction. Returns
 * the number of rows attempted, or an hc_err. */
static int deliver_group(hc_conn_t *c, const notification_sender_opts_t *o,
                         const notification_due_t *d, size_t n, const hc_worker_t *worker)
{
    attempt_t a[NOTIFICATION_SMS_GROUP_MAX];
    memset(a, 0, sizeof a);
    int rc = claim_group(c, d, n, hc_now_ms() + o->lease_ms, a);
    if (rc)
        return rc;
    int attempted = 0;
    for (size_t i = 0; i < n; i++) {
        /* A row claimed but not tried (stopping) waits for its lease. */
        if (a[i].claimed && hc_worker_stopping(worker))
            a[i].claimed = 0;
        if (!a[i].claimed)
            continue;
        attempt_one(o, &d[i], &a[i]);
        attempted++;
    }
    if (!attempted)
        return 0;
    rc = record_group(c, d, n, o->provider.name, a);
    for (size_t i = 0; i < n; i++)
        if (a[i].claimed)
            report_one(o, &d[i], &a[i], rc);
    return rc ? rc : attempted;
}

int notification_sender_run_once(hc_db_t *db, const notification_sender_opts_t *opts,
                                 const hc_worker_t *worker)
{
    notification_due_t *due = NULL;
    size_t n = 0;
    int attempted = 0;
    /* Rows claimed together must all be sent within one lease: a provider
     * that may block up to its timeout gets one row per group. */
    size_t group = opts->provider.quick ? NOTIFICATION_SMS_GROUP_MAX : 1;
    hc_conn_t *c = hc_db_acquire(db);
    int rc =
        notification_store_due(c, hc_now_ms(), opts->batch ? opts->batch : DEFAULT_BATCH, &due, &n);
    for (size_t i = 0; !rc && i < n && !hc_worker_stopping(worker); i += group) {
        size_t k = n - i < group ? n - i : group;
        int r = deliver_group(c, opts, &due[i], k, worker);
        if (r < 0)
            rc = r;
        else
            attempted += r;
    }
    hc_db_release(db, c);
    free(due);
    return rc ? rc : attempted;
}

/* ---- the thread ---- */

struct notification_sender {
    hc_db_t *db;
    notification_sender_opts_t opts;
    hc_worker_t *worker; /* woken by notification_sender_wake */
};

static void sender_main(hc_worker_t *w, void *arg)
{
    notification_sender_t *s = arg;
    int64_t linger_until = 0; /* monotonic ms */
    while (!hc_worker_stopping(w)) {
        int64_t left = linger_until - hc_mono_ms();
        if (left > 0)
            hc_sleep_ms(left);
        int64_t started = hc_mono_ms();
        int n = notification_sender_run_once(s->db, &s->opts, w);
        if (n < 0)
            hc_warn("SMS sender pass failed: %s", hc_strerror(n));
        /* A full pass may have left more due rows: go again at once. */
        linger_until = 0;
        if (n > 0 && (size_t)n >= (s->opts.batch ? s->opts.batch : DEFAULT_BATCH))
            continue;
        if (n > 0)
            linger_until = started + LINGER_MS;
        hc_worker_wait(w, TICK_MS);
    }
}

int notification_sender_start(hc_db_t *db, const notification_sender_opts_t *opts,
                              notification_sender_t **out)
{
    *out = NULL;
    if (!opts->provider.send || opts->max_attempts < 1)
        return HC_EINVAL;
    notification_sender_t *s = hc_xcalloc(1, sizeof *s);
    s->db = db;
    s->opts = *opts;
    int rc = hc_worker_start("hc-sms-sender", sender_main, s, &s->worker);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void notification_sender_wake(notification_sender_t *s)
{
    if (s)
        hc_worker_wake(s->worker);
}

void notification_sender_stop(notification_sender_t *s)
{
    if (!s)
        return;
    hc_worker_stop(s->worker);
    free(s);
}
