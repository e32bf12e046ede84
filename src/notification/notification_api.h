/* notification_api: the HTTP resources of the notification service: the
 * mypage read model and the notifications (SMS) it sent. */
#ifndef NOTIFICATION_API_H
#define NOTIFICATION_API_H

#include "hc_service.h"

/* Registers GET /mypages, /mypages/{id}, /mypages/search/findByOrderId,
 * /notifications and /notifications/{id} on svc's server, served from its
 * database. Returns 0 or an hc_err. */
int notification_api_register(hc_service_t *svc);

#endif
