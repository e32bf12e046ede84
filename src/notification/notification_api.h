/* notification_api: the HTTP resources of the notification service: the
 * mypage read model and the notifications (SMS) it sent. */
#ifndef NOTIFICATION_API_H
#define NOTIFICATION_API_H

#include "hc_db.h"
#include "hc_http.h"

/* Registers GET /mypages, /mypages/{id}, /mypages/search/findByOrderId,
 * /notifications and /notifications/{id} on h, served from db (borrowed; must
 * outlive the server). */
void notification_api_register(hc_http_t *h, hc_db_t *db);

#endif
