/* order_policy: the events order consumes: what reservation and payment
 * report about a booking (the seed's PolicyHandler). */
#ifndef ORDER_POLICY_H
#define ORDER_POLICY_H

#include "hc_consumer.h"

/* The event types order consumes, NULL-terminated. */
extern const char *const order_policy_types[];

/* hc_event_cb: applies a reservation or payment fact to the booking inside
 * the consumer's transaction (ReservationAccepted: REQUESTED;
 * ReservationRejected: REJECTED; PaymentCanceled: completes a cancel whose
 * answer was lost). ud is the hc_service_t. */
int order_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud);

#endif
