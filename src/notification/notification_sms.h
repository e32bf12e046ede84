/* notification_sms: SMS providers behind one small table of function pointers
 * (log: records and logs; http: posts to an SMS API) and the sender thread
 * that delivers queued notifications with retries and backoff. */
#ifndef NOTIFICATION_SMS_H
#define NOTIFICATION_SMS_H

#include <stddef.h>
#include <stdint.h>

#include "hc_config.h"
#include "hc_db.h"
#include "hc_worker.h"

/* One message to deliver; all strings borrowed for the call. */
typedef struct notification_sms {
    int64_t id; /* notifications row id (an idempotency hint for the API) */
    int64_t order_id;
    const char *to_digits; /* full destination number: never log it */
    const char *text;
    const char *trace_id; /* 32 hex chars, or "" */
    int secret;           /* 1: text holds a sign-in code: never log it */
} notification_sms_t;

typedef struct notification_provider notification_provider_t;

/* Delivers msg. Returns 0 when the provider accepted the message, or an hc_err
 * (HC_ETIMEDOUT, HC_EUNAVAIL, HC_EPROTO, ...) with a short reason, free of the
 * full number, written into err (errlen bytes). Runs on the sender thread,
 * outside any transaction; may block up to the provider's timeout. */
typedef int (*notification_send_cb)(const notification_provider_t *p, const notification_sms_t *msg,
                                    char *err, size_t errlen);

struct notification_provider {
    const char *name; /* stored in notifications.provider: "log", "http" */
    notification_send_cb send;
    const void *ud; /* provider settings, borrowed (http: the hc_config_t) */
    int quick;      /* 1: send returns at once (a local file), so the sender may
                       claim, send and record several rows together */
};

/* The most rows a quick provider's sender claims and records together. */
#define NOTIFICATION_SMS_GROUP_MAX 64

/* The file the log provider appends every message it sends to, one JSON
 * line {"to","text","at"} each (the full number and text, codes included),
 * in the data directory. Nothing serves it over HTTP; the http provider
 * never writes it. */
#define NOTIFICATION_SMS_LOG "sms.log"

/* Fills p with the provider cfg->sms_provider names ("log" or "http"; the
 * log one appends to cfg->data_dir/sms.log, the http one reads sms_url,
 * sms_api_key and sms_timeout_ms from cfg, which must outlive p). Returns 0
 * or HC_EINVAL for an unknown provider. */
int notification_provider_init(notification_provider_t *p, const hc_config_t *cfg);

/* How the sender works; copied by notification_sender_start. */
typedef struct notification_sender_opts {
    notification_provider_t provider;
    int max_attempts; /* attempts before a row stays FAILED for good (>= 1) */
    int64_t lease_ms; /* how long a claimed row is held before another try may
                         take it (longer than the provider's timeout) */
    size_t batch;     /* rows read per pass (default 64) */
} notification_sender_opts_t;

/* Delivers every row due now, oldest first: claims it (a short transaction
 * that does not wait for the disk), calls the provider with no transaction
 * open, then records SENT or a failed attempt with its next try after
 * notification_backoff_ms (a short durable transaction). A quick provider's
 * rows go in groups of up to NOTIFICATION_SMS_GROUP_MAX: one claim and one
 * outcome transaction per group.
 * Stops early, between rows, once worker (the sender's; may be NULL) is
 * stopping. Returns the number of rows attempted, or a negative hc_err when
 * storage failed. */
int notification_sender_run_once(hc_db_t *db, const notification_sender_opts_t *opts,
                                 const hc_worker_t *worker);

typedef struct notification_sender notification_sender_t;

/* Starts the sender thread on db (borrowed; must outlive the sender). It runs
 * a pass when woken and at least every second; after a pass that sent
 * something, the next one starts no sooner than 10 ms after it (a full pass
 * goes on at once), so that under load one outcome commit covers what several
 * consumer commits queued. Returns 0 or an hc_err; *out is NULL on failure.
 * Stop with notification_sender_stop. */
int notification_sender_start(hc_db_t *db, const notification_sender_opts_t *opts,
                              notification_sender_t **out);

/* Asks for a pass soon (after a commit that may have queued messages). Cheap;
 * never blocks on delivery. */
void notification_sender_wake(notification_sender_t *s);

/* Stops the thread after its current message, joins it and frees s. Accepts
 * NULL. */
void notification_sender_stop(notification_sender_t *s);

#endif
