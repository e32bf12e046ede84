/* order_saga: booking, cancelling, the admin's decisions and the facts of
 * reservation and payment, each decided in one transaction of the order
 * database. See docs/contract.md ("One history per booking"). */
#include "order_saga.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "hc_time.h"
#include "order_guard.h"
#include "order_state.h"
#include "order_store.h"

#define RETRY_AFTER_S 2

/* ---- results ---- */

static void set_error(order_result_t *res, int http, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_error(order_result_t *res, int http, const char *code, const char *fmt, ...)
{
    va_list ap;
    res->http = http;
    res->error = code;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
    if (http == 503 && !res->retry_after)
        res->retry_after = RETRY_AFTER_S;
}

/* A storage failure: 503 when it should pass (busy, disk full, database
 * unreachable), else 500;
 * the same answers as hc_reply_storage_error. */
static void set_store_error(order_result_t *res, int rc, const char *what)
{
    hc_error("%s failed: %s", what, hc_strerror(rc));
    if (rc == HC_ENOSPC) {
        res->retry_after = 5;
        set_error(res, 503, "storage_unavailable",
                  "storage is full or unavailable; nothing was changed; retry later");
    } else if (rc == HC_EBUSY) {
        res->retry_after = 1;
        set_error(res, 503, "storage_unavailable",
                  "storage is busy; nothing was changed; retry in a moment");
    } else if (rc == HC_EUNAVAIL) {
        res->retry_after = 2;
        set_error(res, 503, "storage_unavailable",
                  "the database cannot be reached; nothing was changed; retry later");
    } else {
        set_error(res, 500, "internal", "%s failed; nothing was changed", what);
    }
}

static void set_order(order_result_t *res, int http, const order_t *o)
{
    res->http = http;
    res->error = NULL;
    res->has_order = 1;
    res->order = *o;
}

/* ---- idempotency, inside the deciding transaction ---- */

static int idem_finish(hc_conn_t *c, const order_request_t *rq, const order_result_t *res)
{
    if (!rq->idem_key)
        return 0;
    json_t *body = rq->render(res->has_order ? &res->order : NULL, res->http, res->error,
                              res->message, rq->render_ud);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = order_idem_finish(c, rq->idem_scope, rq->idem_key, res->http, text);
    free(text);
    return rc;
}

static int idem_forget(hc_conn_t *c, const order_request_t *rq)
{
    return rq->idem_key ? order_idem_forget(c, rq->idem_scope, rq->idem_key) : 0;
}

/* ---- saving ---- */

int order_saga_save(hc_conn_t *c, order_t *o, int64_t old_version, int emit,
                    const hc_trace_t *trace)
{
    int rc = 0;
    for (int64_t v = old_version + 1; emit && !rc && v <= o->version; v++) {
        json_t *ev = order_event(o, v, trace);
        rc = hc_outbox_add(c, ev);
        json_decref(ev);
        if (!rc)
            hc_info("order %lld is now %s (version %lld)", (long long)o->id,
                    order_status_name(o->history[v - 1].status), (long long)v);
    }
    return rc ? rc : order_store_update(c, o, old_version);
}

/* Commits c's transaction (rolling back on a failed rc) and records a
 * storage failure in res. Returns the final rc. */
static int finish_tx(const order_request_t *rq, hc_conn_t *c, int rc, order_result_t *res,
                     const char *what)
{
    if (!rc)
        rc = hc_service_commit(rq->svc, c);
    else
        hc_conn_rollback(c);
    if (rc)
        set_store_error(res, rc, what);
    return rc;
}

/* Begins a transaction on c and reads booking id into o. Returns 0, or an
 * hc_err with the transaction rolled back and res set (404, or the storage
 * failure). */
static int begin_with_order(const order_request_t *rq, hc_conn_t *c, int64_t id, order_t *o,
                            order_result_t *res)
{
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = order_store_get(c, id, o);
    if (rc == HC_ENOTFOUND) {
        hc_conn_rollback(c);
        set_error(res, 404, "not_found", "no order with id %lld", (long long)id);
    } else if (rc) {
        finish_tx(rq, c, rc, res, "reading the order");
    } else {
        hc_log_ctx_order(id);
    }
    return rc;
}

/* ---- the payment calls ---- */

typedef enum pay_verdict {
    PAY_DONE,      /* approved (a charge) or refunded (a refund) */
    PAY_DECLINED,  /* the card was declined: nothing charged */
    PAY_NOT_ACTED, /* payment provably did nothing */
    PAY_UNKNOWN,   /* payment may have acted: compensate or wait for its event */
} pay_verdict_t;

/* The verdict of an answered call that was not a success: a 4xx or the 500 /
 * 503 of a failed storage transaction means payment changed nothing. */
static pay_verdict_t answered_verdict(int status)
{
    if (status >= 400 && status < 500 && status != 408)
        return PAY_NOT_ACTED;
    if (status == 500 || status == 503)
        return PAY_NOT_ACTED;
    return PAY_UNKNOWN;
}

/* Makes call to payment for the held ticket t and ends the ticket with the
 * outcome the breaker counts: a failure when no answer came (could not
 * connect, timeout, reset) or payment answered 5xx. Returns what
 * hc_client_call returns. */
static int pay_call(const order_request_t *rq, order_guard_ticket_t *t, const hc_call_t *call,
                    int *status, json_t **resp)
{
    int64_t t0 = hc_mono_us();
    int crc = hc_client_call(call, status, resp);
    /* Rounded up: a call is slow when it took longer than the threshold's
     * whole milliseconds, so a call cut at the timeout (the threshold by
     * default) is slow, whichever side of a millisecond its ends fell. */
    int64_t took_ms = (hc_mono_us() - t0 + 999) / 1000;
    order_guard_leave(order_guard_of(rq->svc), t, took_ms, crc != 0 || *status >= 500);
    return crc;
}

/* Lets a payment call through the guard, or sets res to the 503 a refused
 * one answers (message, and Retry-After until the breaker tries payment
 * again). Returns 1 when t is held. */
static int pay_allowed(const order_request_t *rq, order_guard_ticket_t *t, order_result_t *res,
                       const char *message)
{
    int retry = 0;
    int rc = order_guard_enter(order_guard_of(rq->svc), t, &retry);
    if (rc == 0)
        return 1;
    res->retry_after = retry;
    set_error(res, 503, "payment_unavailable", "%s", message);
    return 0;
}

#define MSG_PAY_LATER                                                                              \
    "payment is busy or unavailable; nothing was charged. Please pay a little later."
#define MSG_REFUND_LATER                                                                           \
    "the refund could not be made right now; the booking is unchanged. Please try again a little"  \
    " later."

/* Charges o through payment on the held ticket t. *pid receives the payment
 * id when approved; *why a text for the order's reason otherwise. */
static pay_verdict_t charge(const order_request_t *rq, order_guard_ticket_t *t, const order_t *o,
                            const char *card, int64_t *pid, const char **why)
{
    char url[400];
    json_t *resp = NULL;
    int status = 0;
    snprintf(url, sizeof url, "%s/paymentHistories", hc_cfg.payment_url);
    json_t *body =
        json_pack("{s:I, s:I, s:s, s:I, s:s, s:s}", "orderId", (json_int_t)o->id, "amount",
                  (json_int_t)o->amount, "payMethod", o->pay_method, "centerId",
                  (json_int_t)o->center_id, "checkupDate", o->checkup_date, "phone", o->phone);
    if (card && card[0])
        json_object_set_new(body, "cardNo", json_string(card));
    hc_call_t call = {.method = "POST",
                      .url = url,
                      .body = body,
                      .trace = rq->trace,
                      .timeout_ms = hc_cfg.payment_timeout_ms,
                      .caller = rq->svc->def->name};
    int crc = pay_call(rq, t, &call, &status, &resp);
    json_decref(body);

    pay_verdict_t v;
    const char *st = json_string_value(json_object_get(resp, "status"));
    json_t *declined = json_object_get(resp, "payment");
    if (crc == HC_EUNAVAIL) {
        v = PAY_NOT_ACTED;
        *why = "payment service unavailable";
    } else if (crc) {
        v = PAY_UNKNOWN;
        *why = "payment timed out; outcome unknown, compensated";
    } else if ((status == 200 || status == 201) && st && strcmp(st, "APPROVED") == 0 &&
               json_integer_value(json_object_get(resp, "orderId")) == o->id &&
               json_integer_value(json_object_get(resp, "amount")) == o->amount &&
               json_integer_value(json_object_get(resp, "id")) > 0) {
        v = PAY_DONE;
        *pid = json_integer_value(json_object_get(resp, "id"));
    } else if (status == 200 || status == 201) {
        /* An approval that is not of this booking at its price: never
         * accept it; failing the order makes payment refund what it holds. */
        hc_error("payment answered %d for order %lld but not with an approval of %lld KRW for it",
                 status, (long long)o->id, (long long)o->amount);
        v = PAY_UNKNOWN;
        *why = "payment answered for another order or amount; compensated";
    } else if (status == 402 && json_integer_value(json_object_get(declined, "orderId")) == o->id) {
        v = PAY_DECLINED;
        *why = "payment declined";
    } else {
        v = answered_verdict(status);
        *why = v == PAY_NOT_ACTED ? "payment refused the charge; nothing was charged"
                                  : "payment answered unexpectedly; compensated";
        hc_warn("charge for order %lld answered %d", (long long)o->id, status);
    }
    json_decref(resp);
    return v;
}

/* Refunds the payment of o through payment (a customer's cancel) on the
 * held ticket t. */
static pay_verdict_t refund(const order_request_t *rq, order_guard_ticket_t *t, const order_t *o)
{
    char url[400];
    json_t *resp = NULL;
    int status = 0;
    snprintf(url, sizeof url, "%s/paymentHistories/%lld/cancel", hc_cfg.payment_url,
             (long long)o->payment_id);
    json_t *body = json_pack("{s:s}", "reason", ORDER_REASON_CUSTOMER);
    hc_call_t call = {.method = "POST",
                      .url = url,
                      .body = body,
                      .trace = rq->trace,
                      .timeout_ms = hc_cfg.payment_timeout_ms,
                      .caller = rq->svc->def->name,
                      /* a refund asked at payment: payment waits on us */
                      .fresh = rq->caller != NULL};
    int crc = pay_call(rq, t, &call, &status, &resp);
    json_decref(body);
    const char *st = json_string_value(json_object_get(resp, "status"));
    pay_verdict_t v = crc == HC_EUNAVAIL ? PAY_NOT_ACTED
                      : crc              ? PAY_UNKNOWN
                      : status == 200 && st && strcmp(st, "CANCELED") == 0
                          ? PAY_DONE
                          : answered_verdict(status);
    if (v != PAY_DONE)
        hc_warn("refund for order %lld failed (%s, status %d)", (long long)o->id, hc_strerror(crc),
                status);
    json_decref(resp);
    return v;
}

/* ---- booking ---- */

void order_book(const order_request_t *rq, order_t *o, const char *card, order_result_t *res)
{
    char now[32];
    const char *why = "";
    int64_t pid = 0;
    order_guard_ticket_t ticket;
    memset(res, 0, sizeof *res);
    /* 0. The breaker and the bulkhead decide before anything is stored: a
     * refused booking leaves no order, no event and no charge. */
    if (!pay_allowed(rq, &ticket, res, MSG_PAY_LATER))
        return;
    hc_conn_t *c = hc_db_acquire(rq->svc->db);

    /* 1. Store the booking PENDING before money moves, so that a crash
     * during the payment call leaves a trace that recovery compensates. */
    o->status = ORDER_PENDING;
    o->version = 0;
    hc_strlcpy(o->trace_id, rq->trace->trace_id, sizeof o->trace_id);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = order_store_insert(c, o);
    if (!rc && rq->idem_key)
        rc = order_idem_claim(c, rq->idem_scope, rq->idem_key, rq->idem_digest, o->id);
    if (rc == HC_ECONFLICT && rq->idem_key) {
        hc_conn_rollback(c);
        res->key_taken = 1;
        goto out;
    }
    if (finish_tx(rq, c, rc, res, "storing the booking"))
        goto out;
    hc_log_ctx_order(o->id);

    /* 2. The synchronous payment (the seed's Req/Resp). */
    pay_verdict_t v = charge(rq, &ticket, o, card, &pid, &why);

    /* 3. The outcome, with its events, in one transaction. */
    order_t cur;
    if ((rc = begin_with_order(rq, c, o->id, &cur, res)))
        goto out;
    int64_t old = cur.version;
    hc_now_rfc3339(now);
    if (v == PAY_DONE) {
        cur.payment_id = pid;
        if (order_move(&cur, ORDER_PAID, NULL, now) == ORDER_MOVE_APPLY) {
            hc_info("order %lld paid (payment %lld, %lld KRW)", (long long)cur.id, (long long)pid,
                    (long long)cur.amount);
            set_order(res, 201, &cur); /* answered as of the payment */
            /* Reservation may have reported before the payment answered. */
            if (cur.reservation_fact == ORDER_RES_ACCEPTED)
                order_move(&cur, ORDER_REQUESTED, NULL, now);
            else if (cur.reservation_fact == ORDER_RES_REFUSED)
                order_move(&cur, ORDER_REJECTED, NULL, now);
            if (order_status_is_final(cur.status))
                set_order(res, 201, &cur);
        } else {
            /* Recovery failed it meanwhile; its OrderFailed refunds. */
            set_error(res, 503, "payment_unavailable",
                      "payment took too long; the booking was canceled and nothing stays charged."
                      " Please book again a little later.");
        }
    } else if (v == PAY_DECLINED) {
        order_move(&cur, ORDER_FAILED, why, now);
        set_error(res, 402, "payment_declined", "the card was declined; no charge was made");
        res->has_order = 1;
        res->order = cur;
        hc_info("order %lld failed: payment declined", (long long)cur.id);
    } else {
        order_move(&cur, ORDER_FAILED, why, now);
        set_error(res, 503, "payment_unavailable", MSG_PAY_LATER);
        hc_warn("order %lld failed: %s", (long long)cur.id, why);
    }
    /* Payment that provably never acted leaves nothing to compensate or
     * announce: no event, so no mypage entry and no SMS for an attempt that
     * never became a booking. */
    rc = order_saga_save(c, &cur, old, v != PAY_NOT_ACTED, rq->trace);
    if (!rc)
        rc = res->http == 503 ? idem_forget(c, rq) : idem_finish(c, rq, res);
    if (finish_tx(rq, c, rc, res, "storing the payment outcome") == 0)
        *o = cur;
out:
    order_guard_cancel(order_guard_of(rq->svc), &ticket); /* the charge was never made */
    hc_db_release(rq->svc->db, c);
}

int order_fail_pending(hc_service_t *svc, int64_t id, const char *reason)
{
    hc_conn_t *c = hc_db_acquire(svc->db);
    order_t o;
    hc_trace_t t, *tp = NULL;
    char now[32];
    memset(&t, 0, sizeof t);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = order_store_get(c, id, &o);
    if (!rc && o.status == ORDER_PENDING) {
        if (o.trace_id[0]) {
            hc_strlcpy(t.trace_id, o.trace_id, sizeof t.trace_id);
            hc_strlcpy(t.span_id, "00f067aa0ba902b7", sizeof t.span_id);
            t.flags = 1;
            tp = &t;
        }
        hc_log_ctx_set(o.trace_id, id);
        hc_now_rfc3339(now);
        order_move(&o, ORDER_FAILED, reason, now);
        rc = order_saga_save(c, &o, 0, 1, tp);
        if (!rc)
            hc_warn("order %lld was still PENDING; failed it and asked for compensation",
                    (long long)id);
    }
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_service_commit(svc, c);
    hc_db_release(svc->db, c);
    hc_log_ctx_clear();
    return rc;
}

/* ---- cancelling ---- */

/* Checks that booking o may be canceled today; sets the 409 otherwise. */
static int cancel_allowed(const order_t *o, order_result_t *res)
{
    int64_t day = 0;
    if (!order_status_cancellable(o->status)) {
        set_error(res, 409, "invalid_state", "the booking is %s and cannot be canceled",
                  order_status_name(o->status));
        return 0;
    }
    if (hc_date_parse(o->checkup_date, &day) == 0 &&
        !order_cancel_in_time(hc_today(), day, hc_cfg.cancel_cutoff_days)) {
        set_error(res, 409, "cancel_deadline_passed",
                  "bookings can be canceled until the end of the day %d day(s) before the checkup",
                  hc_cfg.cancel_cutoff_days);
        return 0;
    }
    return 1;
}

void order_cancel(const order_request_t *rq, int64_t id, order_result_t *res)
{
    order_t o;
    char now[32];
    order_guard_ticket_t ticket = {.held = 0};
    memset(res, 0, sizeof *res);
    hc_conn_t *c = hc_db_acquire(rq->svc->db);

    /* 1. Check, and remember the refund request: if its answer is lost, the
     * PaymentCanceled event still completes the cancel. The breaker and the
     * bulkhead decide after the checks (a canceled booking still answers
     * 409) and before anything changes. */
    int rc = begin_with_order(rq, c, id, &o, res);
    if (rc)
        goto out;
    if (!cancel_allowed(&o, res) ||
        (o.payment_id && !pay_allowed(rq, &ticket, res, MSG_REFUND_LATER))) {
        hc_conn_rollback(c);
        goto out;
    }
    o.cancel_requested = 1;
    rc = order_saga_save(c, &o, o.version, 0, NULL);
    if (!rc && rq->idem_key)
        rc = order_idem_claim(c, rq->idem_scope, rq->idem_key, rq->idem_digest, id);
    if (rc == HC_ECONFLICT && rq->idem_key) {
        hc_conn_rollback(c);
        res->key_taken = 1;
        goto out;
    }
    if (finish_tx(rq, c, rc, res, "recording the cancel request"))
        goto out;

    /* 2. The synchronous refund. */
    pay_verdict_t v = o.payment_id ? refund(rq, &ticket, &o) : PAY_DONE;

    /* 3. The outcome. */
    if (begin_with_order(rq, c, id, &o, res))
        goto out;
    int64_t old = o.version;
    if (v == PAY_DONE) {
        hc_now_rfc3339(now);
        if (order_move(&o, ORDER_CANCELED, ORDER_REASON_CUSTOMER, now) == ORDER_MOVE_INVALID) {
            /* Rejected by the center while the refund ran: the rejection's
             * own refund and ours are the same one. */
            set_error(res, 409, "invalid_state",
                      "the booking became %s meanwhile; its payment is refunded",
                      order_status_name(o.status));
            res->has_order = 1;
            res->order = o;
        } else {
            set_order(res, 200, &o); /* NOOP: our refund's event completed it */
            hc_info("order %lld canceled and refunded", (long long)id);
        }
        rc = order_saga_save(c, &o, old, 1, rq->trace);
        if (!rc)
            rc = idem_finish(c, rq, res);
    } else {
        if (v == PAY_NOT_ACTED)
            o.cancel_requested = 0;
        set_error(res, 503, "payment_unavailable", "%s",
                  v == PAY_NOT_ACTED
                      ? MSG_REFUND_LATER
                      : "the refund's outcome is not known yet; if it went through, the booking"
                        " shows CANCELED shortly. Please check it or try again a little later.");
        rc = order_saga_save(c, &o, old, 0, NULL);
        if (!rc)
            rc = idem_forget(c, rq);
    }
    finish_tx(rq, c, rc, res, "recording the cancellation");
out:
    order_guard_cancel(order_guard_of(rq->svc), &ticket); /* the refund was never asked */
    hc_db_release(rq->svc->db, c);
}

/* ---- the admin's decisions, asked by reservation ---- */

void order_decide(const order_request_t *rq, int64_t id, order_status_t to, const char *reason,
                  int64_t reservation_id, order_result_t *res)
{
    order_t o;
    char now[32];
    memset(res, 0, sizeof *res);
    hc_conn_t *c = hc_db_acquire(rq->svc->db);
    int rc = begin_with_order(rq, c, id, &o, res);
    if (rc)
        goto out;
    int64_t old = o.version;
    hc_now_rfc3339(now);
    if (o.status == ORDER_PENDING) {
        hc_conn_rollback(c);
        set_error(res, 409, "invalid_state",
                  "the booking is still being paid; try again in a moment");
        goto out;
    }
    /* An admin's decision may reach us before reservation's
     * ReservationAccepted did: the admin saw the request, so the booking was
     * REQUESTED first, whichever message came first. */
    if (o.status == ORDER_PAID)
        order_move(&o, ORDER_REQUESTED, NULL, now);
    if (order_move(&o, to, to == ORDER_REJECTED ? reason : NULL, now) == ORDER_MOVE_INVALID) {
        hc_conn_rollback(c);
        set_error(res, 409, "invalid_state", "the booking is %s and cannot become %s",
                  order_status_name(o.status), order_status_name(to));
        res->has_order = 1;
        res->order = o;
        goto out;
    }
    if (reservation_id > 0 && !o.reservation_id)
        o.reservation_id = reservation_id;
    rc = order_saga_save(c, &o, old, 1, rq->trace);
    if (finish_tx(rq, c, rc, res, "recording the decision") == 0)
        set_order(res, 200, &o);
out:
    hc_db_release(rq->svc->db, c);
}
