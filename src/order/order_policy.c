/* order_policy: order status follows the reservation and payment events. */
#include "order_policy.h"

#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "order_api.h"
#include "order_domain.h"
#include "order_store.h"

const char *const order_policy_types[] = {"ReservationAccepted", "ReservationConfirmed",
                                          "ReservationRejected", "ReservationCanceled",
                                          "PaymentCanceled", NULL};

int order_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    order_t o;
    int rc = order_store_get(c, ev->order_id, &o);
    if (rc == HC_ENOTFOUND)
        return 0; /* e.g. a payment made directly, not through an order */
    if (rc)
        return rc;

    const char *to = order_status_for_event(ev->type);
    if (to) {
        const char *reason = strcmp(to, "REJECTED") == 0
                                 ? json_string_value(json_object_get(ev->root, "reason"))
                                 : NULL;
        int moved = 0;
        rc = order_store_move(c, o.id, to, reason, 0, &o, &moved);
        if (!rc && moved)
            hc_info("order %lld is now %s (%s)", (long long)o.id, to, ev->type);
        return rc;
    }
    if (strcmp(ev->type, "PaymentCanceled") == 0 && order_status_cancellable(o.status)) {
        /* Either the customer's refund went through but its answer was lost
         * (e.g. a timeout): complete the cancel the customer asked for; or
         * the payment was refunded directly at payment: the booking is no
         * longer paid, so it is canceled and its place released. */
        char reason[256];
        if (o.cancel_requested) {
            snprintf(reason, sizeof reason, "canceled by customer");
        } else {
            /* At most 200 bytes of the refund's reason, whole characters. */
            const char *why = json_string_value(json_object_get(ev->root, "reason"));
            char detail[201];
            hc_utf8_copy(detail, sizeof detail, why ? why : "");
            snprintf(reason, sizeof reason, "payment refunded%s%s", detail[0] ? ": " : "", detail);
        }
        int moved = 0;
        rc = order_store_move(c, o.id, "CANCELED", reason, 0, &o, &moved);
        if (!rc && moved) {
            json_t *out = order_event("OrderCanceled", &o, &ev->trace);
            rc = hc_outbox_add(c, out);
            json_decref(out);
            hc_info("order %lld canceled after %s", (long long)o.id,
                    o.cancel_requested ? "its refund was confirmed by event"
                                       : "its payment was refunded at payment");
        }
        return rc;
    }
    return 0; /* ReservationCanceled follows our own cancel/failure: nothing to do */
}
