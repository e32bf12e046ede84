/* payment_api: the HTTP routes of the payment service (/paymentHistories):
 * charge (idempotent per orderId), refund, read and list. */
#ifndef PAYMENT_API_H
#define PAYMENT_API_H

#include "hc_service.h"

/* Registers every route on svc->http; handlers borrow svc for the server's
 * life. Returns 0. */
int payment_api_register(hc_service_t *svc);

#endif
