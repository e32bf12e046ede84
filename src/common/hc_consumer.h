/* hc_consumer: the event-applying loop of a service (the seed's PolicyHandler).
 * It polls the bus, applies each wanted event inside one transaction together
 * with its inbox record, commits, and only then commits the bus offset. What
 * it cannot apply is parked in dead_letters (hc_deadletter.h); a corrupt
 * record or an impossible offset stops it until the cause is gone. */
#ifndef HC_CONSUMER_H
#define HC_CONSUMER_H

#include "hc_bus.h"
#include "hc_db.h"
#include "hc_event.h"
#include "hc_outbox.h"

/* Applies ev inside the open transaction on c (events it emits go to the
 * outbox through c). Return 0 when applied, HC_EINVAL for an event that can
 * never be applied (its writes are undone and it is parked in dead_letters,
 * recorded as consumed), any other hc_err to retry the batch later. */
typedef int (*hc_event_cb)(hc_conn_t *c, const hc_event_t *ev, void *ud);

typedef struct hc_consumer_opts {
    const char *group;        /* consumer group, e.g. "reservation" */
    const char *const *types; /* NULL-terminated eventTypes to apply */
    hc_event_cb apply;
    void *ud;
    hc_relay_t *relay;              /* poked after commits (may be NULL) */
    void (*after_commit)(void *ud); /* optional, called after each commit */
    size_t batch;                   /* max events per transaction (default 64) */
} hc_consumer_opts_t;

typedef struct hc_consumer hc_consumer_t;

/* Starts the loop on its own thread. Returns 0 or an hc_err. */
int hc_consumer_start(hc_db_t *db, hc_bus_t *bus, const hc_consumer_opts_t *opts,
                      hc_consumer_t **out);

/* Applies one batch of messages now (the loop body; exposed for tests).
 * Messages that are not events, and events the handler refuses, are parked
 * in dead_letters in the same transaction. Returns 0 or an hc_err, in which
 * case nothing of the batch was committed. */
int hc_consumer_apply_batch(hc_db_t *db, const hc_consumer_opts_t *opts, const hc_bus_msg_t *msgs,
                            size_t n);

/* Applies the dead letters marked for retry (the loop runs this about once a
 * second; exposed for tests), each in its own transaction through the same
 * path as a polled event, inbox included: on success the row is deleted; on
 * failure it stays with retries + 1, the new error, and the mark cleared.
 * *applied and *failed (may be NULL) count the rows. Returns 0 or the hc_err
 * of reading the marked rows. */
int hc_consumer_retry_dead_letters(hc_db_t *db, const hc_consumer_opts_t *opts, size_t *applied,
                                   size_t *failed);

/* Events published but not yet committed by this consumer; -1 if unknown. */
int64_t hc_consumer_lag(hc_consumer_t *c);

/* Returns 1 while the consumer is stopped by a corrupt record or an
 * impossible offset, with one line saying why in why (n bytes); else 0.
 * Accepts NULL. Thread-safe. */
int hc_consumer_stalled(hc_consumer_t *c, char *why, size_t n);

/* Stops the loop and joins the thread. Accepts NULL. */
void hc_consumer_stop(hc_consumer_t *c);

#endif
