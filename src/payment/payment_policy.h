/* payment_policy: how payment reacts to other services' events (the seed's
 * PolicyHandler): OrderRejected refunds, OrderFailed refunds or voids. */
#ifndef PAYMENT_POLICY_H
#define PAYMENT_POLICY_H

#include "hc_consumer.h"

/* The event types payment consumes, NULL-terminated. */
extern const char *const payment_policy_types[];

/* Applies ev inside the consumer's open transaction on c (hc_event_cb; ud is
 * unused). Events payment emits go to the outbox through c. Returns 0 when
 * applied or when nothing is needed, HC_EINVAL for an event that can never
 * apply (no orderId), another hc_err to retry. */
int payment_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud);

#endif
