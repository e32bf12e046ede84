/* order_state: what an order process keeps in memory beside its database:
 * the recovery worker and the guard of its payment calls (svc->state). */
#ifndef ORDER_STATE_H
#define ORDER_STATE_H

#include "hc_service.h"
#include "hc_worker.h"
#include "order_guard.h"

typedef struct order_state {
    hc_worker_t *recovery; /* NULL unless running */
    order_guard_t *guard;  /* made in init, freed in stop */
} order_state_t;

/* The guard of svc's payment calls; NULL before init (then every call goes
 * through unguarded). */
static inline order_guard_t *order_guard_of(const hc_service_t *svc)
{
    const order_state_t *st = svc->state;
    return st ? st->guard : NULL;
}

#endif
