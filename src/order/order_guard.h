/* order_guard: the circuit breaker and the bulkhead around every call order
 * makes to payment (the charge of a booking, the refund of a cancel), set by
 * the HC_PAYMENT_CB_* and HC_PAYMENT_BULKHEAD_* variables and shown on
 * /actuator/health (component circuitBreakers) and /metrics. A refused call
 * is decided before anything is stored. See docs/breaker.md. */
#ifndef ORDER_GUARD_H
#define ORDER_GUARD_H

#include <stdint.h>

#include "hc_breaker.h"
#include "hc_config.h"
#include "hc_http.h"

typedef struct order_guard order_guard_t;

/* One payment call let through: from order_guard_enter to order_guard_leave
 * (the call was made) or order_guard_cancel (it was not). */
typedef struct order_guard_ticket {
    hc_breaker_permit_t permit;
    int held; /* 1 while the ticket holds a permit and a bulkhead place */
} order_guard_ticket_t;

/* Makes the guard from cfg (the payment breaker and bulkhead, both named
 * "payment"). Returns 0 with *out (destroy with order_guard_destroy), or
 * HC_EINVAL with a log line when a setting is out of range. */
int order_guard_create(const hc_config_t *cfg, order_guard_t **out);

/* Frees g. Accepts NULL. No request may be using it any more. */
void order_guard_destroy(order_guard_t *g);

/* Adds the circuitBreakers component to http's /actuator/health and the
 * breaker's and bulkhead's series to /metrics (before hc_http_start; g must
 * outlive the server). */
void order_guard_register(order_guard_t *g, hc_http_t *http);

/* Asks to call payment now. Returns 0 with *t held; or, without holding
 * anything, HC_EUNAVAIL (the breaker is open or its trial calls are taken)
 * or HC_EBUSY (the bulkhead is full), with *retry_after_s the seconds a
 * client should wait (at least 1: until the breaker tries payment again).
 * A NULL g lets every call through. */
int order_guard_enter(order_guard_t *g, order_guard_ticket_t *t, int *retry_after_s);

/* Ends the call of a held ticket that took duration_ms: failed when payment
 * gave no usable answer (could not connect, timeout, reset) or answered 5xx;
 * a 4xx such as a decline is an answer. Does nothing unless t is held. */
void order_guard_leave(order_guard_t *g, order_guard_ticket_t *t, int64_t duration_ms, int failed);

/* Gives back a held ticket whose call was not made. Does nothing unless t
 * is held, so it can end every path. */
void order_guard_cancel(order_guard_t *g, order_guard_ticket_t *t);

#endif
