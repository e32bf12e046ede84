/* reservation_service: the reservation service definition (centers, daily
 * capacity, reservations, cancellations), run by `healthcenter reservation`. */
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_service.h"
#include "reservation_api.h"
#include "reservation_policy.h"
#include "reservation_store.h"
#include "services.h"

/* Mirrors the configured centers into the database, then registers the
 * routes. Returns 0 or an hc_err. */
static int reservation_init(hc_service_t *svc)
{
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = hc_conn_begin(c);
    if (rc)
        goto out;
    rc = reservation_store_sync_centers(c, hc_cfg.centers, hc_cfg.n_centers);
    if (rc) {
        hc_conn_rollback(c);
        goto out;
    }
    if ((rc = hc_conn_commit(c)))
        goto out;
    hc_info("%zu center(s) configured", hc_cfg.n_centers);
    rc = reservation_api_register(svc);
out:
    if (rc)
        hc_error("cannot set up the centers: %s", hc_strerror(rc));
    hc_db_release(svc->db, c);
    return rc;
}

const hc_service_def_t reservation_service_def = {
    .name = "reservation",
    .port = 0,
    .migrations = reservation_migrations,
    .n_migrations = RESERVATION_N_MIGRATIONS,
    .init = reservation_init,
    .consume_types = reservation_policy_types,
    .apply = reservation_policy_apply,
};
