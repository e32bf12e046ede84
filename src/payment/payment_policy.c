/* payment_policy: refunds when a booking is rejected, refunds or voids
 * when an order fails, so a booking that does not go ahead is never charged. */
#include "payment_policy.h"

#include <string.h>

#include "hc_err.h"
#include "hc_event.h"
#include "hc_events.h"
#include "hc_log.h"
#include "hc_time.h"
#include "payment_domain.h"
#include "payment_store.h"

const char *const payment_policy_types[] = {HC_EV_ORDER_REJECTED, HC_EV_ORDER_FAILED, NULL};

/* Refunds the APPROVED p for reason (prefix plus the event's reason), emitting
 * PaymentCanceled on ev's trace. Returns 0 or an hc_err. */
static int refund(hc_conn_t *c, const hc_event_t *ev, payment_t *p, const char *prefix)
{
    char reason[PAYMENT_REASON_MAX];
    payment_reason_format(reason, sizeof reason, prefix, hc_event_str(ev, "reason"));
    int rc = payment_store_cancel(c, p, reason, &ev->trace);
    if (rc == 0)
        hc_info("payment %lld refunded after %s: %lld KRW (%s)", (long long)p->id, ev->type,
                (long long)p->amount, p->reason);
    return rc;
}

/* OrderRejected: order decided that the center does not take the booking
 * (full, or its admin said no); refund it. */
static int on_order_rejected(hc_conn_t *c, const hc_event_t *ev)
{
    payment_t p;
    int rc = payment_store_find_by_order(c, ev->order_id, &p);
    if (rc == HC_ENOTFOUND) {
        hc_info("%s: no payment for this order; nothing to refund", ev->type);
        return 0;
    }
    if (rc)
        return rc;
    if (payment_refund_decide(p.status) != PAYMENT_REFUND_APPLY) {
        hc_info("%s: payment %lld is %s; nothing to refund", ev->type, (long long)p.id,
                payment_status_name(p.status));
        return 0;
    }
    return refund(c, ev, &p, "booking rejected");
}

/* OrderFailed: order gave up on the booking. Refund an approved charge, or
 * void the orderId so that a charge still in flight is refused (409). */
static int on_order_failed(hc_conn_t *c, const hc_event_t *ev)
{
    payment_t p, *existing = &p;
    char now[32];
    int rc = payment_store_find_by_order(c, ev->order_id, &p);
    if (rc == HC_ENOTFOUND)
        existing = NULL;
    else if (rc)
        return rc;
    switch (payment_order_failed_action(existing)) {
    case PAYMENT_VOID_REFUND:
        return refund(c, ev, &p, "order failed");
    case PAYMENT_VOID_TOMBSTONE: {
        payment_method_t method = PAYMENT_CARD;
        if (payment_method_parse(hc_event_str(ev, "payMethod"), &method) != 0)
            method = PAYMENT_CARD;
        hc_now_rfc3339(now);
        payment_void_record(ev->order_id, hc_event_id(ev, "amount"), method,
                            hc_event_id(ev, "centerId"), hc_event_str(ev, "checkupDate"), now, &p);
        rc = payment_store_insert(c, &p);
        if (rc == 0)
            hc_info("%s: no payment yet; order voided (payment %lld CANCELED, nothing charged)",
                    ev->type, (long long)p.id);
        return rc;
    }
    default:
        hc_info("%s: payment %lld is %s; nothing to do", ev->type, (long long)p.id,
                payment_status_name(p.status));
        return 0;
    }
}

int payment_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    if (ev->order_id <= 0)
        return HC_EINVAL;
    hc_log_ctx_order(ev->order_id);
    if (strcmp(ev->type, HC_EV_ORDER_REJECTED) == 0)
        return on_order_rejected(c, ev);
    if (strcmp(ev->type, HC_EV_ORDER_FAILED) == 0)
        return on_order_failed(c, ev);
    return 0;
}
