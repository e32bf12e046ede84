/* reservation_policy: PaymentApproved -> allocate one unit of the (center, date)
 * capacity (ReservationAccepted) or reject as full (ReservationRejected);
 * the booking's status events (order owns the status) -> the reservation
 * follows: OrderConfirmed confirms, OrderRejected rejects and OrderCanceled /
 * OrderFailed cancel (releasing the place), or leave a tombstone when the
 * order has no reservation yet. Order events apply only when newer than the
 * version the reservation last followed; every handler is idempotent on top
 * of the consumer's inbox. */
#include "reservation_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_events.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "hc_valid.h"

const char *const reservation_policy_types[] = {HC_EV_PAYMENT_APPROVED, HC_EV_ORDER_CONFIRMED,
                                                HC_EV_ORDER_REJECTED,   HC_EV_ORDER_CANCELED,
                                                HC_EV_ORDER_FAILED,     NULL};

#define REASON_CUSTOMER "canceled by customer"
#define REASON_FAILED "order failed"
#define REASON_REJECTED "booking rejected"

json_t *reservation_event_new(const char *type, const reservation_t *r, const hc_trace_t *trace)
{
    json_t *ev = hc_event_new(type, r->order_id, trace);
    json_object_set_new(ev, "reservationId", json_integer(r->id));
    json_object_set_new(ev, "centerId", json_integer(r->center_id));
    json_object_set_new(ev, "checkupDate", json_string(r->checkup_date));
    if (strcmp(type, HC_EV_RESERVATION_ACCEPTED) == 0)
        json_object_set_new(ev, "status", json_string(reservation_status_name(r->status)));
    if (strcmp(type, HC_EV_RESERVATION_REJECTED) == 0 ||
        strcmp(type, HC_EV_RESERVATION_CANCELED) == 0)
        json_object_set_new(ev, "reason", json_string(r->reason));
    return ev;
}

/* Adds a new event of type for r to the outbox in c's transaction. */
static int emit(hc_conn_t *c, const char *type, const reservation_t *r, const hc_trace_t *trace)
{
    json_t *ev = reservation_event_new(type, r, trace);
    int rc = hc_outbox_add(c, ev);
    json_decref(ev);
    return rc;
}

int reservation_change_status(hc_conn_t *c, reservation_t *r, reservation_status_t to,
                              const char *reason, const reservation_transition_t *t,
                              const hc_trace_t *trace)
{
    if (t->move != RESERVATION_MOVE_APPLY)
        return HC_EINVAL;
    reservation_status_t from = r->status;
    r->status = to;
    if (reason)
        reservation_reason_clip(reason, r->reason, sizeof r->reason);
    int rc = reservation_store_update_status(c, r);
    if (rc)
        return rc;
    if (t->releases_capacity && reservation_status_holds_capacity(from) &&
        (rc = reservation_store_slot_release(c, r->center_id, r->checkup_date)))
        return rc;
    if (t->event_type && (rc = emit(c, t->event_type, r, trace)))
        return rc;
    hc_info("reservation %lld of order %lld: %s -> %s%s%s", (long long)r->id,
            (long long)r->order_id, reservation_status_name(from), reservation_status_name(to),
            r->reason[0] ? ", reason: " : "", r->reason);
    return 0;
}

/* Reads centerId from an event: an integer, or a string of digits. Returns 1
 * with *out > 0 when usable, else 0. */
static int event_center(const hc_event_t *ev, int64_t *out)
{
    json_t *v = json_object_get(ev->root, "centerId");
    long long n = 0;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (!json_is_string(v) || hc_parse_i64(json_string_value(v), &n) != 0)
        return 0;
    if (n <= 0)
        return 0;
    *out = n;
    return 1;
}

/* Reads checkupDate from an event into out (>= 11 bytes, normalised).
 * Returns 1 when it is a valid date, else 0. */
static int event_date(const hc_event_t *ev, char *out, size_t outlen, int64_t *day)
{
    const char *s = hc_event_str(ev, "checkupDate");
    if (!s || hc_date_parse(s, day) != 0)
        return 0;
    hc_date_format(*day, out, outlen);
    return 1;
}

/* Sets r->reason from a printf format, clipped to the reason limits. */
static void set_reason(reservation_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(reservation_t *r, const char *fmt, ...)
{
    char text[RESERVATION_REASON_BUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    reservation_reason_clip(text, r->reason, sizeof r->reason);
}

/* Copies the booking's phone (digits) of ev into out (size bytes), "" when
 * the event has none (a payment from before phones were sent). */
static void event_phone(const hc_event_t *ev, char *out, size_t size)
{
    const char *s = json_string_value(json_object_get(ev->root, "phone"));
    out[0] = '\0';
    if (s && hc_phone_normalize(s, out, size) != 0)
        out[0] = '\0';
}

/* PaymentApproved: allocate or reject, once per order. */
static int on_payment_approved(hc_conn_t *c, const hc_event_t *ev)
{
    reservation_t r;
    reservation_center_t center;
    int64_t day = 0;
    int voided = 0, booked = 0;
    int rc = reservation_store_is_voided(c, ev->order_id, &voided);
    if (rc)
        return rc;
    if (voided) {
        hc_info("order %lld was canceled before its payment was approved; nothing to reserve",
                (long long)ev->order_id);
        return 0;
    }
    rc = reservation_store_get_by_order(c, ev->order_id, &r);
    if (rc == 0) {
        hc_debug("order %lld already has reservation %lld (%s)", (long long)ev->order_id,
                 (long long)r.id, reservation_status_name(r.status));
        return 0;
    }
    if (rc != HC_ENOTFOUND)
        return rc;

    memset(&r, 0, sizeof r);
    r.order_id = ev->order_id;
    event_phone(ev, r.phone, sizeof r.phone);
    if (!event_center(ev, &r.center_id) ||
        !event_date(ev, r.checkup_date, sizeof r.checkup_date, &day)) {
        hc_warn("PaymentApproved %s for order %lld has no valid centerId/checkupDate"
                " (a payment without a booking?); no reservation made",
                ev->event_id, (long long)ev->order_id);
        return 0;
    }

    rc = reservation_store_center_get(c, r.center_id, &center);
    if (rc && rc != HC_ENOTFOUND)
        return rc;
    if (rc == HC_ENOTFOUND) {
        r.status = RESERVATION_REJECTED;
        set_reason(&r, "unknown center %lld", (long long)r.center_id);
    } else if (day < hc_today()) {
        r.status = RESERVATION_REJECTED;
        set_reason(&r, "checkup date %s has already passed", r.checkup_date);
    } else {
        if ((rc = reservation_store_slot_take(c, r.center_id, r.checkup_date, &booked)))
            return rc;
        r.status = booked ? RESERVATION_REQUESTED : RESERVATION_REJECTED;
        if (!booked)
            set_reason(&r, "fully booked: no capacity left on %s at %s", r.checkup_date,
                       center.name);
    }

    /* A concurrent writer on another instance may have inserted the same
     * order meanwhile: the UNIQUE order_id answers HC_ECONFLICT, the whole
     * transaction (including the increment) rolls back and the retry finds
     * the existing reservation. */
    if ((rc = reservation_store_insert(c, &r)))
        return rc;
    if (r.status == RESERVATION_REQUESTED) {
        rc = emit(c, HC_EV_RESERVATION_ACCEPTED, &r, &ev->trace);
        if (!rc)
            hc_info("reservation %lld of order %lld: REQUESTED at center %lld on %s",
                    (long long)r.id, (long long)r.order_id, (long long)r.center_id, r.checkup_date);
    } else {
        rc = emit(c, HC_EV_RESERVATION_REJECTED, &r, &ev->trace);
        if (!rc)
            hc_info("reservation %lld of order %lld: REJECTED (%s)", (long long)r.id,
                    (long long)r.order_id, r.reason);
    }
    return rc;
}

int reservation_follow(hc_conn_t *c, reservation_t *r, const char *order_status, int64_t version,
                       const char *reason, const hc_trace_t *trace, int *applied)
{
    reservation_status_t to;
    *applied = 0;
    if (version <= r->order_version) {
        hc_debug("reservation %lld already follows version %lld of order %lld; %s v%lld is old",
                 (long long)r->id, (long long)r->order_version, (long long)r->order_id,
                 order_status, (long long)version);
        return 0;
    }
    r->order_version = version;
    reservation_transition_t t = reservation_follow_transition(r->status, order_status, &to);
    if (t.move != RESERVATION_MOVE_APPLY)
        return reservation_store_update_status(c, r);
    *applied = 1;
    if (to == RESERVATION_CANCELED && !(reason && *reason))
        reason = strcmp(order_status, "FAILED") == 0 ? REASON_FAILED : REASON_CUSTOMER;
    return reservation_change_status(c, r, to, to == RESERVATION_CONFIRMED ? NULL : reason, &t,
                                     trace);
}

/* Records the cancellation of r (a customer's cancel): listed at
 * /cancellations. */
static int record_cancellation(hc_conn_t *c, const reservation_t *r)
{
    reservation_cancellation_t x;
    memset(&x, 0, sizeof x);
    x.order_id = r->order_id;
    x.reservation_id = r->id;
    x.center_id = r->center_id;
    hc_strlcpy(x.checkup_date, r->checkup_date, sizeof x.checkup_date);
    hc_strlcpy(x.reason, r->reason, sizeof x.reason);
    hc_strlcpy(x.phone, r->phone, sizeof x.phone);
    return reservation_store_cancellation_insert(c, &x);
}

/* An order that ended (canceled, failed or rejected) before it had a
 * reservation: a tombstone so that a late PaymentApproved does not allocate,
 * and for a customer's cancel a cancellation record (reservationId null). */
static int void_order(hc_conn_t *c, const hc_event_t *ev, const char *order_status,
                      const char *reason)
{
    int inserted = 0, by_customer = strcmp(order_status, "CANCELED") == 0;
    int rc = reservation_store_void_order(c, ev->order_id, reason, &inserted);
    if (rc)
        return rc;
    hc_info("order %lld became %s before any reservation; recorded so a late payment does not"
            " allocate",
            (long long)ev->order_id, order_status);
    if (!inserted || !by_customer)
        return 0;
    reservation_cancellation_t x;
    int64_t day;
    memset(&x, 0, sizeof x);
    x.order_id = ev->order_id;
    if (!event_center(ev, &x.center_id))
        x.center_id = 0;
    if (!event_date(ev, x.checkup_date, sizeof x.checkup_date, &day))
        x.checkup_date[0] = '\0';
    hc_strlcpy(x.reason, reason, sizeof x.reason);
    return reservation_store_cancellation_insert(c, &x);
}

/* A status event of the booking: the reservation follows it. */
static int on_order_status(hc_conn_t *c, const hc_event_t *ev)
{
    reservation_t r;
    char reason[RESERVATION_REASON_BUF];
    const char *status = hc_event_str(ev, "status");
    int64_t version = hc_event_id(ev, "version");
    if (!status || !version) {
        hc_warn("%s %s has no status or version", ev->type, ev->event_id);
        return HC_EINVAL;
    }
    const char *given = hc_event_str(ev, "reason");
    const char *fallback = strcmp(status, "FAILED") == 0     ? REASON_FAILED
                           : strcmp(status, "REJECTED") == 0 ? REASON_REJECTED
                                                             : REASON_CUSTOMER;
    reservation_reason_clip(strcmp(status, "FAILED") != 0 && given && *given ? given : fallback,
                            reason, sizeof reason);
    int rc = reservation_store_get_by_order(c, ev->order_id, &r);
    if (rc == HC_ENOTFOUND) {
        if (strcmp(status, "CONFIRMED") == 0)
            return 0; /* nothing to confirm here: no place was ever taken */
        return void_order(c, ev, status, reason);
    }
    if (rc)
        return rc;
    int applied = 0;
    rc = reservation_follow(c, &r, status, version, reason, &ev->trace, &applied);
    if (!rc && applied && strcmp(status, "CANCELED") == 0)
        rc = record_cancellation(c, &r);
    return rc;
}

int reservation_policy_apply(hc_conn_t *c, const hc_event_t *ev, void *ud)
{
    (void)ud;
    hc_log_ctx_order(ev->order_id);
    if (ev->order_id <= 0) {
        hc_warn("%s %s has no valid orderId", ev->type, ev->event_id);
        return HC_EINVAL;
    }
    if (strcmp(ev->type, HC_EV_PAYMENT_APPROVED) == 0)
        return on_payment_approved(c, ev);
    return on_order_status(c, ev);
}
