/* order_policy: the facts reservation and payment report by event, applied
 * to the booking they concern through the saga's order_saga_save. */
#include "order_policy.h"

#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_events.h"
#include "hc_time.h"
#include "order_saga.h"
#include "order_store.h"

const char *const order_policy_types[] = {HC_EV_RESERVATION_ACCEPTED, HC_EV_RESERVATION_REJECTED,
                                          HC_EV_PAYMENT_CANCELED, NULL};

int order_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    order_t o;
    char now[32];
    int rc = order_store_get(c, ev->order_id, &o);
    if (rc == HC_ENOTFOUND)
        return 0; /* not a booking of ours (e.g. a bus shared with others) */
    if (rc)
        return rc;
    int64_t old = o.version, old_rid = o.reservation_id;
    order_reservation_fact_t old_fact = o.reservation_fact;
    hc_now_rfc3339(now);
    const char *reason = hc_event_str(ev, "reason");
    if (strcmp(ev->type, HC_EV_RESERVATION_ACCEPTED) == 0) {
        if (!o.reservation_id)
            o.reservation_id = hc_event_id(ev, "reservationId");
        if (o.status == ORDER_PENDING)
            o.reservation_fact = ORDER_RES_ACCEPTED;
        else if (o.status == ORDER_PAID)
            order_move(&o, ORDER_REQUESTED, NULL, now);
    } else if (strcmp(ev->type, HC_EV_RESERVATION_REJECTED) == 0) {
        if (!o.reservation_id)
            o.reservation_id = hc_event_id(ev, "reservationId");
        if (o.status == ORDER_PENDING) {
            o.reservation_fact = ORDER_RES_REFUSED;
            hc_utf8_copy(o.reason, sizeof o.reason, reason ? reason : "reservation rejected");
        } else if (order_status_cancellable(o.status)) {
            order_move(&o, ORDER_REJECTED, reason ? reason : "reservation rejected", now);
        }
    } else if (strcmp(ev->type, HC_EV_PAYMENT_CANCELED) == 0) {
        /* Only a customer's cancel refunds a live booking; its answer was
         * lost (e.g. a timeout) but the refund went through. */
        if (o.cancel_requested && order_status_cancellable(o.status))
            order_move(&o, ORDER_CANCELED, ORDER_REASON_CUSTOMER, now);
    }
    if (o.version == old && o.reservation_id == old_rid && o.reservation_fact == old_fact)
        return 0;
    return order_saga_save(c, &o, old, 1, &ev->trace);
}
