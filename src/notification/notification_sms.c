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

#define DEFAULT_BATCH 16
#define TICK_MS 1000 /* the timer pass, on top of wake-ups */

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
static int claim_row(hc_conn_t *c, const notification_msg_t *m, int64_t lease_until, int *claimed)
{
    *claimed = 0;
    int rc = hc_conn_begin_lazy(c);
    if (rc)
        return rc;
    rc = notification_store_claim(c, m->id, m->next_attempt_at, lease_until, claimed);
    if (rc) {
        hc_conn_rollback(c);
        return rc;
    }
    return hc_conn_commit(c);
}

/* Records the outcome of one attempt in a short transaction. */
static int record_outcome(hc_conn_t *c, const notification_msg_t *m, const char *provider, int sent,
                          int attempts, const char *error, int64_t next_ms)
{
    char now[32];
    hc_now_rfc3339(now);
    int rc = hc_conn_begin(c);
    if (rc)
        return rc;
    if (sent)
        rc = notification_store_mark_sent(c, m->id, provider, now);
    else
        rc = notification_store_mark_failed(c, m->id, provider, attempts, error, next_ms, now);
    if (rc) {
        hc_conn_rollback(c);
        return rc;
    }
    return hc_conn_commit(c);
}

/* Attempts one due row: claim, send outside any transaction, record. Returns
 * 1 when attempted, 0 when another sender had it, or a negative hc_err. */
static int deliver(hc_conn_t *c, const notification_sender_opts_t *o, const notification_due_t *d)
{
    const notification_msg_t *m = &d->msg;
    const notification_provider_t *p = &o->provider;
    int claimed = 0;
    int rc = claim_row(c, m, hc_now_ms() + o->lease_ms, &claimed);
    if (rc || !claimed)
        return rc;

    hc_log_ctx_set(m->trace_id[0] ? m->trace_id : NULL, m->order_id);
    char err[256] = "", masked[20];
    hc_phone_mask(d->phone, masked, sizeof masked);
    notification_sms_t sms = {
        .id = m->id,
        .order_id = m->order_id,
        .to_digits = d->phone,
        .text = m->text,
        .trace_id = m->trace_id,
    };
    int src = p->send(p, &sms, err, sizeof err);
    int attempts = m->attempts + 1;
    int64_t next_ms = 0;
    if (src == 0) {
        rc = record_outcome(c, m, p->name, 1, attempts, NULL, 0);
        if (!rc) {
            hc_info("SMS %lld (%s) sent via %s to %s", (long long)m->id, m->order_status, p->name,
                    masked);
            hc_metrics_count("hc_sms_sent_total", p->name, 1);
        }
    } else {
        if (!err[0])
            snprintf(err, sizeof err, "%s", hc_strerror(src));
        if (attempts < o->max_attempts)
            next_ms = hc_now_ms() + notification_backoff_ms(attempts);
        rc = record_outcome(c, m, p->name, 0, attempts, err, next_ms);
        if (!rc && next_ms)
            hc_warn("SMS %lld (%s) to %s failed (attempt %d of %d): %s; retrying in %lld ms",
                    (long long)m->id, m->order_status, masked, attempts, o->max_attempts, err,
                    (long long)(next_ms - hc_now_ms()));
        else if (!rc)
            hc_error("SMS %lld (%s) to %s failed for good after %d attempts: %s", (long long)m->id,
                     m->order_status, masked, attempts, err);
        hc_metrics_count("hc_sms_failed_total", p->name, 1);
    }
    if (rc)
        /* The claim expires after lease_ms and the row is tried again; after
         * a provider success that means one repeated message. */
        hc_error("cannot record the outcome of SMS %lld: %s", (long long)m->id, hc_strerror(rc));
    hc_log_ctx_clear();
    return rc ? rc : 1;
}

int notification_sender_run_once(hc_db_t *db, const notification_sender_opts_t *opts,
                                 const hc_worker_t *worker)
{
    notification_due_t *due = NULL;
    size_t n = 0;
    int attempted = 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc =
        notification_store_due(c, hc_now_ms(), opts->batch ? opts->batch : DEFAULT_BATCH, &due, &n);
    for (size_t i = 0; !rc && i < n && !hc_worker_stopping(worker); i++) {
        int r = deliver(c, opts, &due[i]);
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
    while (!hc_worker_stopping(w)) {
        int n = notification_sender_run_once(s->db, &s->opts, w);
        if (n < 0)
            hc_warn("SMS sender pass failed: %s", hc_strerror(n));
        /* A full pass may have left more due rows: go again at once. */
        if (n > 0 && (size_t)n >= (s->opts.batch ? s->opts.batch : DEFAULT_BATCH))
            continue;
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
