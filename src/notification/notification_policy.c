/* notification_policy: the mypage view follows order, the booking's owner:
 * each of order's status events carries the booking's version and whole
 * history, and applies only when newer than what the view shows, so a late,
 * repeated or replayed event never moves mypage back nor announces a status
 * twice. Each new history entry queues one SMS, in the consumer's
 * transaction. PaymentCanceled marks the refund. */
#include "notification_policy.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_events.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_valid.h"
#include "notification_domain.h"
#include "notification_store.h"

const char *const notification_policy_types[] = {
    HC_EV_ORDERED,        HC_EV_ORDER_REQUESTED, HC_EV_ORDER_CONFIRMED,  HC_EV_ORDER_REJECTED,
    HC_EV_ORDER_CANCELED, HC_EV_ORDER_FAILED,    HC_EV_PAYMENT_CANCELED, NULL,
};

/* Copies string field key of ev into dst when it is a string that fits;
 * returns 1 then, else 0. */
static int take_string(const hc_event_t *ev, const char *key, char *dst, size_t size)
{
    const char *s = hc_event_str(ev, key);
    if (!s || strlen(s) >= size)
        return 0;
    hc_strlcpy(dst, s, size);
    return 1;
}

/* Reads the booking an order event describes into m. Returns 0, or HC_EINVAL
 * naming the first missing or malformed field in *bad: such an event is never
 * half applied (it is parked for an operator instead). */
static int booking_from_event(const hc_event_t *ev, notification_mypage_t *m, const char **bad)
{
    int64_t day;
    char phone[32];
    memset(m, 0, sizeof *m);
    m->order_id = ev->order_id;
    m->version = hc_event_id(ev, "version");
    json_t *history = json_object_get(ev->root, "history");
    int hrc = json_is_array(history) ? notification_history_take(history, m) : HC_EINVAL;
    *bad = !m->version ? "version"
           : !take_string(ev, "status", m->status, sizeof m->status) ||
                   !notification_status_valid(m->status)
               ? "status"
           : hrc || (int64_t)m->n_history != m->version ||
                   strcmp(m->history[m->n_history - 1].status, m->status) != 0
               ? "history"
           : !take_string(ev, "name", m->name, sizeof m->name) || !m->name[0] ? "name"
           : !take_string(ev, "phone", phone, sizeof phone) ||
                   hc_phone_normalize(phone, m->phone, sizeof m->phone)
               ? "phone"
           : !take_string(ev, "orderType", m->order_type, sizeof m->order_type) ? "orderType"
           : !take_string(ev, "checkupDate", m->checkup_date, sizeof m->checkup_date) ||
                   hc_date_parse(m->checkup_date, &day)
               ? "checkupDate"
           : !(m->center_id = hc_event_id(ev, "centerId")) ? "centerId"
           : !(m->amount = hc_event_id(ev, "amount"))      ? "amount"
                                                           : NULL;
    m->payment_id = hc_event_id(ev, "paymentId");
    m->reservation_id = hc_event_id(ev, "reservationId");
    return *bad ? HC_EINVAL : 0;
}

/* Queues the SMS announcing status for mypage m (at most one per status). */
static int queue_sms(hc_conn_t *c, const hc_event_t *ev, const notification_mypage_t *m,
                     const char *status, int64_t now_ms, const char *now)
{
    char to[20];
    hc_phone_mask(m->phone, to, sizeof to);
    const hc_package_t *pkg = hc_config_package(&hc_cfg, m->order_type);
    char *text = notification_render(status, m->name, m->checkup_date, pkg ? pkg->name : NULL,
                                     m->order_type);
    if (!text)
        return 0;
    int queued = 0;
    int rc = notification_store_queue(c, m->order_id, status, to, text, hc_cfg.sms_provider,
                                      ev->trace.trace_id, now_ms, now, &queued);
    if (!rc && queued)
        hc_info("SMS for %s queued", status);
    free(text);
    return rc;
}

/* An order status event: the view takes the booking as the event shows it,
 * if it is newer, and each history entry it had not shown yet is announced. */
static int on_order_status(hc_conn_t *c, const hc_event_t *ev, const char *now, int64_t now_ms)
{
    notification_mypage_t next;
    const char *bad = NULL;
    if (booking_from_event(ev, &next, &bad)) {
        hc_warn("%s %s has no valid %s; not applied", ev->type, ev->event_id, bad);
        return HC_EINVAL;
    }
    /* Only the stored version and status matter here, not the whole row. */
    notification_version_t cur = {0};
    int rc = notification_store_version(c, ev->order_id, &cur);
    if (rc == HC_ENOTFOUND)
        rc = 0;
    if (rc)
        return rc;
    if (next.version <= cur.version) {
        hc_info("mypage stays at version %lld (%s): %s version %lld is not newer",
                (long long)cur.version, cur.status, ev->type, (long long)next.version);
        return 0;
    }
    if ((rc = notification_store_put(c, &next, now)))
        return rc;
    hc_info("mypage %s -> %s (version %lld)", cur.version ? cur.status : "(none)", next.status,
            (long long)next.version);
    for (size_t i = (size_t)cur.version; !rc && i < next.n_history; i++)
        rc = queue_sms(c, ev, &next, next.history[i].status, now_ms, now);
    return rc;
}

int notification_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    if (ev->order_id <= 0) {
        hc_warn("%s %s has no usable orderId", ev->type, ev->event_id);
        return HC_EINVAL;
    }
    hc_log_ctx_order(ev->order_id);
    char now[32];
    hc_now_rfc3339(now);
    int rc = strcmp(ev->type, HC_EV_PAYMENT_CANCELED) == 0
                 ? notification_store_set_refunded(c, ev->order_id, now)
                 : on_order_status(c, ev, now, hc_now_ms());
    if (rc && rc != HC_EINVAL)
        hc_warn("applying %s %s failed: %s", ev->type, ev->event_id, hc_strerror(rc));
    return rc;
}
