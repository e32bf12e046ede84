/* auth_api: the sign-in endpoints of notification: POST /auth/otp,
 * /auth/otp/verify and /auth/login (docs/accounts.md, docs/openapi.yaml). */
#ifndef AUTH_API_H
#define AUTH_API_H

#include "hc_service.h"

/* Registers the routes. Returns 0 or an hc_err. */
int auth_api_register(hc_service_t *svc);

/* Creates or updates the first super-admin (auth_bootstrap with
 * HC_ADMIN_USER / HC_ADMIN_PASSWORD): checks the settings and writes a
 * generated password's file before the service takes requests, and leaves
 * the slow Argon2id hash or check to a thread of its own, so that it does
 * not hold up readiness; POST /auth/login waits for that thread. Called once
 * the event consumer runs. Returns 0 or an hc_err (bad settings, the file). */
int auth_api_start(hc_service_t *svc);

/* Stops the bootstrap thread's retries and waits for it. Safe when none. */
void auth_api_stop(void);

#endif
