/* auth_api: the sign-in endpoints of notification: POST /auth/otp,
 * /auth/otp/verify and /auth/login (docs/accounts.md, docs/openapi.yaml). */
#ifndef AUTH_API_H
#define AUTH_API_H

#include "hc_service.h"

/* Registers the routes and creates the first super-admin (auth_bootstrap
 * with HC_ADMIN_USER / HC_ADMIN_PASSWORD). Returns 0 or an hc_err. */
int auth_api_register(hc_service_t *svc);

#endif
