/* notification_service: wires the notification service (mypage read model +
 * SMS) into the shared runtime: migrations, routes, the event consumer of all
 * nine booking events, and the SMS sender thread. */
#include <pthread.h>
#include <stddef.h>

#include "auth_api.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_service.h"
#include "notification_api.h"
#include "notification_policy.h"
#include "notification_sms.h"
#include "notification_store.h"
#include "services.h"

/* Extra time a claimed SMS is held beyond the provider's timeout before
 * another pass may try it again, ms. */
#define LEASE_MARGIN_MS 10000

/* The running sender. The consumer may still call after_commit while the
 * runtime stops this service, so the pointer is read and cleared under a lock
 * instead of living in svc->state. */
static pthread_mutex_t sender_mu = PTHREAD_MUTEX_INITIALIZER;
static notification_sender_t *sender;

/* Registers the routes (sign-in's too). Returns 0 or an hc_err. */
static int notification_init(hc_service_t *svc)
{
    int rc = notification_api_register(svc);
    return rc ? rc : auth_api_register(svc);
}

/* Samples the SMS backlog for /metrics (-1 when storage fails). Not named
 * "backlog": the tests' idle check waits for outboxes and consumers only, and
 * an SMS API that is down must not count as a busy system. */
static int64_t gauge_sms_pending(void *ud)
{
    return notification_store_pending(ud);
}

/* Starts the SMS sender with the configured provider. Returns 0 or an hc_err. */
static int notification_start(hc_service_t *svc)
{
    notification_sender_opts_t opts = {
        .max_attempts = hc_cfg.sms_max_attempts,
        .lease_ms = (int64_t)hc_cfg.sms_timeout_ms + LEASE_MARGIN_MS,
    };
    int rc = notification_provider_init(&opts.provider, &hc_cfg);
    if (rc) {
        hc_error("unknown SMS provider \"%s\"", hc_cfg.sms_provider);
        return rc;
    }
    notification_sender_t *s = NULL;
    rc = notification_sender_start(svc->db, &opts, &s);
    if (rc)
        return rc;
    pthread_mutex_lock(&sender_mu);
    sender = s;
    pthread_mutex_unlock(&sender_mu);
    hc_metrics_gauge("hc_sms_pending", "SMS queued or waiting for a retry.", gauge_sms_pending,
                     svc->db);
    hc_metrics_describe("hc_sms_sent_total", "SMS delivered, by provider (label type).");
    hc_metrics_describe("hc_sms_failed_total",
                        "SMS given up after HC_SMS_MAX_ATTEMPTS, by provider (label type).");
    hc_info("SMS provider: %s", opts.provider.name);
    /* The first super-admin, once the consumer has joined its group. */
    return auth_api_start(svc);
}

/* Stops the sender (after its current message). Safe when never started. */
static void notification_stop(hc_service_t *svc)
{
    (void)svc;
    auth_api_stop();
    pthread_mutex_lock(&sender_mu);
    notification_sender_t *s = sender;
    sender = NULL;
    pthread_mutex_unlock(&sender_mu);
    notification_sender_stop(s);
}

/* Wakes the sender after each consumer commit: new SMS may be queued, or a
 * phone number may have arrived for messages that waited for it. */
static void notification_after_commit(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&sender_mu);
    notification_sender_wake(sender);
    pthread_mutex_unlock(&sender_mu);
}

const hc_service_def_t notification_service_def = {
    .name = "notification",
    .port = 0, /* HC_NOTIFICATION_PORT */
    .migrations = notification_migrations,
    .n_migrations = NOTIFICATION_N_MIGRATIONS,
    .init = notification_init,
    .consume_types = notification_policy_types,
    .apply = notification_policy_apply,
    .after_commit = notification_after_commit,
    .start = notification_start,
    .stop = notification_stop,
};
