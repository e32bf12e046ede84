/* notification_policy: applies booking events to the mypage view and queues
 * the SMS of each status, in the consumer's transaction. Events of one order
 * may arrive in any order across producers; see notification_decide. */
#include "notification_policy.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_valid.h"
#include "notification_domain.h"
#include "notification_store.h"

const char *const notification_consume_types[] = {
    "Ordered",
    "OrderFailed",
    "OrderCanceled",
    "PaymentApproved",
    "PaymentCanceled",
    "ReservationAccepted",
    "ReservationConfirmed",
    "ReservationRejected",
    "ReservationCanceled",
    NULL,
};

/* Copies string field key of ev into dst when present, a string and short
 * enough to keep whole (a cut could split a UTF-8 sequence); else leaves dst. */
static void take_string(const hc_event_t *ev, const char *key, char *dst, size_t size)
{
    const char *s = json_string_value(json_object_get(ev->root, key));
    if (s && *s && strlen(s) < size)
        hc_strlcpy(dst, s, size);
}

/* A positive integer field of ev (an integer, or a string of digits), else 0. */
static int64_t take_id(const hc_event_t *ev, const char *key)
{
    json_t *v = json_object_get(ev->root, key);
    long long n = 0;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (!json_is_string(v) || hc_parse_i64(json_string_value(v), &n))
        return 0;
    return n > 0 ? n : 0;
}

/* Fills f with whatever mypage fields ev carries (the payload differs by type:
 * see docs/contract.md); fields it does not carry, or carries malformed, stay
 * unknown so they never overwrite a good value. */
static void fields_from_event(const hc_event_t *ev, notification_mypage_t *f)
{
    memset(f, 0, sizeof *f);
    f->order_id = ev->order_id;
    take_string(ev, "name", f->name, sizeof f->name);
    take_string(ev, "orderType", f->order_type, sizeof f->order_type);
    const char *phone = json_string_value(json_object_get(ev->root, "phone"));
    if (phone && hc_phone_normalize(phone, f->phone, sizeof f->phone) != 0) {
        hc_warn("%s %s carries an invalid phone number; ignored", ev->type, ev->event_id);
        f->phone[0] = '\0';
    }
    int64_t day;
    take_string(ev, "checkupDate", f->checkup_date, sizeof f->checkup_date);
    if (f->checkup_date[0] && hc_date_parse(f->checkup_date, &day) != 0)
        f->checkup_date[0] = '\0';
    f->center_id = take_id(ev, "centerId");
    f->amount = take_id(ev, "amount");
    f->payment_id = take_id(ev, "paymentId");
    f->reservation_id = take_id(ev, "reservationId");
}

/* Renders the SMS text announcing status from what the mypage knows now.
 * Returns a string the caller frees (NULL for a status without template). */
static char *render_for(const notification_mypage_t *m, const char *status)
{
    const hc_package_t *pkg = m->order_type[0] ? hc_config_package(&hc_cfg, m->order_type) : NULL;
    return notification_render(status, m->name, m->checkup_date, pkg ? pkg->name : NULL,
                               m->order_type);
}

/* Brings destination and text of the order's unsent SMS up to date with the
 * mypage: a notification queued before Ordered arrived (first event from
 * payment or reservation) lacked the phone, name or package. */
static int refresh_unsent(hc_conn_t *c, const notification_mypage_t *m, const char *now)
{
    notification_msg_t *list = NULL;
    size_t n = 0;
    char to[20] = "";
    if (m->phone[0])
        hc_phone_mask(m->phone, to, sizeof to);
    int rc = notification_store_unsent(c, m->order_id, &list, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        char *text = render_for(m, list[i].order_status);
        if (text && (strcmp(text, list[i].text) != 0 || strcmp(to, list[i].to) != 0))
            rc = notification_store_set_text(c, list[i].id, to, text, now);
        free(text);
    }
    free(list);
    return rc;
}

/* Queues the SMS announcing status for mypage m (at most one per status). */
static int queue_sms(hc_conn_t *c, const hc_event_t *ev, const notification_mypage_t *m,
                     const char *status, int64_t now_ms, const char *now)
{
    char to[20] = "";
    if (m->phone[0])
        hc_phone_mask(m->phone, to, sizeof to);
    char *text = render_for(m, status);
    if (!text)
        return 0;
    int queued = 0;
    int rc = notification_store_queue(c, m->order_id, status, to, text, hc_cfg.sms_provider,
                                      ev->trace.trace_id, now_ms, now, &queued);
    if (!rc && queued)
        hc_info("SMS for %s queued%s", status, to[0] ? "" : " (waiting for the phone number)");
    free(text);
    return rc;
}

int notification_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    if (!notification_event_known(ev->type))
        return 0;
    if (ev->order_id <= 0) {
        hc_warn("%s %s has no usable orderId", ev->type, ev->event_id);
        return HC_EINVAL;
    }
    hc_log_ctx_order(ev->order_id);
    char now[32];
    hc_now_rfc3339(now);
    int64_t now_ms = hc_now_ms();
    /* The history's time is when the status was reached at its producer. */
    const char *at = ev->occurred_at && strlen(ev->occurred_at) < 32 ? ev->occurred_at : now;

    notification_mypage_t fill, m;
    fields_from_event(ev, &fill);
    int rc = notification_store_fill(c, &fill, now);
    if (!rc)
        rc = notification_store_get(c, ev->order_id, &m);
    if (rc)
        goto out;

    const char *reached = notification_status_for_event(ev->type);
    if (!reached) {
        /* PaymentCanceled: the refund after REJECTED/CANCELED/FAILED; it has
         * no status or SMS of its own. */
        rc = notification_store_set_refunded(c, ev->order_id);
        goto refresh;
    }
    notification_step_t step;
    notification_decide(m.status, reached, &step);
    if (step.changed) {
        rc = notification_store_set_status(c, ev->order_id, step.status);
        if (rc)
            goto out;
        hc_info("mypage status %s -> %s (%s)", m.status, step.status, ev->type);
        hc_strlcpy(m.status, step.status, sizeof m.status);
    } else if (!step.add_history) {
        hc_info("mypage stays %s: %s (%s) came after a final status", m.status, reached, ev->type);
    } else if (strcmp(m.status, reached) != 0) {
        hc_info("mypage stays %s: %s (%s) arrived late; history only, no SMS", m.status, reached,
                ev->type);
    }
    if (step.add_history) {
        rc = notification_store_add_history(c, ev->order_id, reached,
                                            notification_status_rank(reached), at);
        if (rc)
            goto out;
    }
    if (step.announce) {
        rc = queue_sms(c, ev, &m, reached, now_ms, now);
        if (rc)
            goto out;
    }
refresh:
    if (!rc)
        rc = refresh_unsent(c, &m, now);
out:
    if (rc)
        hc_warn("applying %s %s failed: %s", ev->type, ev->event_id, hc_strerror(rc));
    return rc;
}
