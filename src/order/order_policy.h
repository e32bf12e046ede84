/* order_policy: how the order follows reservation and payment events (the
 * seed's updateStatus policy). */
#ifndef ORDER_POLICY_H
#define ORDER_POLICY_H

#include "hc_consumer.h"

/* The event types the order service consumes. */
extern const char *const order_policy_types[];

/* hc_event_cb: applies one event inside the consumer's transaction. ud is the
 * hc_service_t. */
int order_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud);

#endif
