/* reservation_api: the HTTP routes of the reservation service: reservations
 * (list, read, admin confirm/reject), cancellations, centers and their daily
 * slots (read, admin capacity override). */
#ifndef RESERVATION_API_H
#define RESERVATION_API_H

#include "hc_service.h"

/* Registers every route on svc->http; handlers borrow svc for the process's
 * life. Returns 0. */
int reservation_api_register(hc_service_t *svc);

#endif
