/* reservation_policy: the reservation service's event handlers (the seed's
 * PolicyHandler): PaymentApproved allocates capacity; the booking's status
 * events (OrderConfirmed, OrderRejected, OrderCanceled, OrderFailed) are
 * followed; plus the status changes shared with the admin API. */
#ifndef RESERVATION_POLICY_H
#define RESERVATION_POLICY_H

#include <jansson.h>

#include "hc_consumer.h"
#include "hc_db.h"
#include "hc_event.h"
#include "reservation_store.h"

/* The event types the service consumes (NULL-terminated). */
extern const char *const reservation_policy_types[];

/* Applies one consumed event inside the consumer's open transaction on c
 * (hc_event_cb). Returns 0 when applied or when nothing was to be done,
 * HC_EINVAL for an event that can never apply, another hc_err to retry. */
int reservation_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud);

/* Builds a reservation event of type for r (envelope plus the payload pinned
 * in docs/contract.md), as a child of trace. Caller owns the result. */
json_t *reservation_event_new(const char *type, const reservation_t *r, const hc_trace_t *trace);

/* Moves r to status `to` inside c's open transaction, as transition t (an
 * APPLY from the domain tables) says: stores status and reason (NULL keeps
 * none), gives the slot's unit back when t releases capacity, adds t's event
 * to the outbox and logs the change. r is updated in place. Returns 0 or an
 * hc_err (the caller rolls back). */
int reservation_change_status(hc_conn_t *c, reservation_t *r, reservation_status_t to,
                              const char *reason, const reservation_transition_t *t,
                              const hc_trace_t *trace);

/* Makes r follow the booking's status order_status at version (order's):
 * nothing when version is not newer than r->order_version; else the
 * transition reservation_follow_transition gives, applied with
 * reservation_change_status (reason for REJECTED and CANCELED), and the new
 * order_version stored. *applied is 1 when r's status changed. Returns 0 or
 * an hc_err (the caller rolls back). */
int reservation_follow(hc_conn_t *c, reservation_t *r, const char *order_status, int64_t version,
                       const char *reason, const hc_trace_t *trace, int *applied);

#endif
