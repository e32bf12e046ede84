/* notification_policy: the event handler of the notification service (the
 * seed's ViewHandler): every booking event updates the mypage view, its status
 * history and queues the SMS announcing each status the booking reaches. */
#ifndef NOTIFICATION_POLICY_H
#define NOTIFICATION_POLICY_H

#include "hc_consumer.h"
#include "hc_db.h"
#include "hc_event.h"

/* The nine event types this service consumes (NULL-terminated). */
extern const char *const notification_policy_types[];

/* Applies ev inside the consumer's open transaction on c (never begins or
 * commits; the inbox already dropped redeliveries). Creates the mypage on the
 * first event of any type, fills fields still unknown, moves the status by the
 * rules of notification_decide, records history and queues at most one SMS
 * per (order, status). ud is unused. Returns 0 when applied (or nothing to
 * do), HC_EINVAL for an event that can never apply (no usable orderId), or
 * another hc_err (storage) to have the batch retried. */
int notification_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud);

#endif
