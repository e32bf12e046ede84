/* payment_service: the payment service's definition for hc_service_run:
 * its database, routes and the events it consumes. */
#include "payment_api.h"
#include "payment_policy.h"
#include "payment_store.h"
#include "services.h"

/* Registers the routes; payment keeps no other state. */
static int payment_init(hc_service_t *svc)
{
    return payment_api_register(svc);
}

const hc_service_def_t payment_service_def = {
    .name = "payment",
    .port = 0, /* HC_PAYMENT_PORT */
    .migrations = payment_migrations,
    .n_migrations = PAYMENT_N_MIGRATIONS,
    .init = payment_init,
    .consume_types = payment_policy_types,
    .apply = payment_policy_apply,
};
