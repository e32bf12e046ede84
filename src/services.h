/* services: the four service definitions main.c can run (one folder each under
 * src/); each is started with hc_service_run(). */
#ifndef HC_SERVICES_H
#define HC_SERVICES_H

#include "common/hc_service.h"

extern const hc_service_def_t order_service_def, payment_service_def, reservation_service_def,
    notification_service_def;

#endif
