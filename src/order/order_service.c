/* order_service: wires the order service together: routes, policies, the
 * guard of its payment calls (breaker and bulkhead) and the recovery of
 * bookings left PENDING by a crash during the payment call. */
#include <stdlib.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_worker.h"
#include "order_api.h"
#include "order_policy.h"
#include "order_saga.h"
#include "order_state.h"
#include "order_store.h"
#include "services.h"

static order_state_t order_state;

/* Periodically fails PENDING orders older than HC_PENDING_RECOVERY_MS: their
 * request died with a crashed process, so the payment outcome is unknown. */
static void recovery_main(hc_worker_t *w, void *arg)
{
    hc_service_t *svc = arg;
    int period_ms = hc_cfg.pending_recovery_ms / 4 < 1000 ? hc_cfg.pending_recovery_ms / 4 : 1000;
    for (;;) {
        int64_t ids[64];
        size_t n = 0;
        hc_conn_t *c = hc_db_acquire(svc->db);
        int rc =
            order_store_stale_pending(c, hc_now_ms() - hc_cfg.pending_recovery_ms, ids, 64, &n);
        hc_db_release(svc->db, c);
        for (size_t i = 0; !rc && i < n; i++)
            order_fail_pending(svc, ids[i],
                               "interrupted during payment; outcome unknown, compensated");
        hc_worker_wait(w, period_ms);
        if (hc_worker_stopping(w))
            break;
    }
}

static int order_init(hc_service_t *svc)
{
    if (hc_cfg.pending_recovery_ms <= hc_cfg.payment_timeout_ms) {
        hc_error("HC_PENDING_RECOVERY_MS (%d) must exceed HC_PAYMENT_TIMEOUT_MS (%d)",
                 hc_cfg.pending_recovery_ms, hc_cfg.payment_timeout_ms);
        return HC_EINVAL;
    }
    int rc = order_guard_create(&hc_cfg, &order_state.guard);
    if (rc)
        return rc;
    svc->state = &order_state;
    order_guard_register(order_state.guard, svc->http);
    return order_api_register(svc);
}

static int order_start(hc_service_t *svc)
{
    order_state_t *st = svc->state;
    return hc_worker_start("hc-recovery", recovery_main, svc, &st->recovery);
}

static void order_stop(hc_service_t *svc)
{
    order_state_t *st = svc->state;
    if (!st)
        return;
    hc_worker_stop(st->recovery);
    st->recovery = NULL;
    /* The server is gone (hc_service stops it first): no request uses the
     * guard any more. */
    order_guard_destroy(st->guard);
    st->guard = NULL;
}

const hc_service_def_t order_service_def = {
    .name = "order",
    .port = 0,
    .migrations = order_migrations,
    .n_migrations = ORDER_N_MIGRATIONS,
    .init = order_init,
    .consume_types = order_policy_types,
    .apply = order_policy_apply,
    .start = order_start,
    .stop = order_stop,
};
