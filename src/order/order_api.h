/* order_api: the order service's HTTP handlers. */
#ifndef ORDER_API_H
#define ORDER_API_H

#include "hc_service.h"

/* Registers every order route on svc->http. Returns 0 or an hc_err. */
int order_api_register(hc_service_t *svc);

#endif
