/* auth_api: the sign-in endpoints of notification: POST /auth/otp,
 * /auth/otp/verify and /auth/login (docs/accounts.md, docs/openapi.yaml). */
#ifndef AUTH_API_H
#define AUTH_API_H

#include "hc_service.h"

/* Registers the routes. Returns 0 or an hc_err. */
int auth_api_register(hc_service_t *svc);

/* Creates or updates the first super-admin (auth_bootstrap with
 * HC_ADMIN_USER / HC_ADMIN_PASSWORD), before the service takes requests.
 * Called once the event consumer runs: the slow password hash must not make
 * the instances of a scaled notification join their consumer group at
 * different times. Returns 0 or an hc_err. */
int auth_api_start(hc_service_t *svc);

#endif
