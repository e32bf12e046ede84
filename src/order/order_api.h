/* order_api: the order service's HTTP handlers and the events it writes. */
#ifndef ORDER_API_H
#define ORDER_API_H

#include <jansson.h>

#include "hc_service.h"
#include "order_store.h"

/* Registers every order route on svc->http. */
void order_api_register(hc_service_t *svc);

/* Builds an order event (Ordered, OrderFailed, OrderCanceled) with the payload
 * contract.md gives for its type. Caller owns the result. */
json_t *order_event(const char *type, const order_t *o, const hc_trace_t *trace);

/* Fails one order stuck in PENDING (its payment outcome is unknown) and writes
 * OrderFailed so payment refunds or voids and reservation releases. Commits
 * its own transaction. Returns 0 or an hc_err. */
int order_fail_pending(hc_service_t *svc, int64_t id, const char *reason);

#endif
