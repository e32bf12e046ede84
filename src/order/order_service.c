/* order_service: wires the order service together: routes, policies and the
 * recovery of bookings left PENDING by a crash during the payment call. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "order_api.h"
#include "order_policy.h"
#include "order_saga.h"
#include "order_store.h"
#include "services.h"

typedef struct order_state {
    pthread_t recovery;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int started; /* the recovery thread is running */
} order_state_t;

static order_state_t order_state;

/* Periodically fails PENDING orders older than HC_PENDING_RECOVERY_MS: their
 * request died with a crashed process, so the payment outcome is unknown. */
static void *recovery_main(void *arg)
{
    hc_service_t *svc = arg;
    pthread_setname_np(pthread_self(), "hc-recovery");
    order_state_t *st = svc->state;
    int period_ms = hc_cfg.pending_recovery_ms / 4 < 1000 ? hc_cfg.pending_recovery_ms / 4 : 1000;
    for (;;) {
        int64_t ids[64];
        size_t n = 0;
        hc_conn_t *c = hc_db_acquire(svc->db);
        int rc = order_store_stale_pending(c, hc_now_ms() - hc_cfg.pending_recovery_ms, ids, 64, &n);
        hc_db_release(svc->db, c);
        for (size_t i = 0; !rc && i < n; i++)
            order_fail_pending(svc, ids[i], "interrupted during payment; outcome unknown, compensated");

        pthread_mutex_lock(&st->mu);
        if (!st->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += period_ms / 1000;
            ts.tv_nsec += (long)(period_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        }
        int stop = st->stop;
        pthread_mutex_unlock(&st->mu);
        if (stop)
            break;
    }
    return NULL;
}

static int order_init(hc_service_t *svc)
{
    if (hc_cfg.pending_recovery_ms <= hc_cfg.payment_timeout_ms) {
        hc_error("HC_PENDING_RECOVERY_MS (%d) must exceed HC_PAYMENT_TIMEOUT_MS (%d)",
                 hc_cfg.pending_recovery_ms, hc_cfg.payment_timeout_ms);
        return HC_EINVAL;
    }
    svc->state = &order_state;
    return order_api_register(svc);
}

static int order_start(hc_service_t *svc)
{
    order_state_t *st = svc->state;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->stop = 0;
    if (pthread_create(&st->recovery, NULL, recovery_main, svc) != 0)
        return HC_EIO;
    st->started = 1;
    return 0;
}

static void order_stop(hc_service_t *svc)
{
    order_state_t *st = svc->state;
    if (!st || !st->started)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->recovery, NULL);
    st->started = 0;
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
