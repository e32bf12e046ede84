/* payment_api: HTTP handlers for /paymentHistories. Each state change and the
 * event it causes commit in one transaction; card numbers appear only masked. */
#include "payment_api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hc_api.h"
#include "hc_buf.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "hc_time.h"
#include "hc_valid.h"
#include "payment_domain.h"
#include "payment_store.h"

#define DEFAULT_REFUND_REASON "refund requested"

/* The resource JSON of the payment_t at item with its _links. Caller owns the
 * result. */
static json_t *payment_resource(hc_req_t *req, const void *item)
{
    const payment_t *p = item;
    char path[64];
    json_t *o = payment_to_json(p);
    snprintf(path, sizeof path, "/paymentHistories/%lld", (long long)p->id);
    hc_hal_self(req, o, "paymentHistory", path);
    return o;
}

static int get_payment(hc_conn_t *c, int64_t id, void *out)
{
    return payment_store_find(c, id, out);
}

/* hc_resource_t.owner: the booking's phone and center, as order gave them. */
static void payment_owner(const void *item, const char **phone, int64_t *center_id)
{
    const payment_t *p = item;
    *phone = p->phone;
    *center_id = p->center_id;
}

static const hc_resource_t payment_resource_def = {
    .what = "payment history",
    .collection = "paymentHistories",
    .size = sizeof(payment_t),
    .get = get_payment,
    .to_json = payment_resource,
    .list = payment_store_list,
    .owner = payment_owner,
};

/* Answers a refund of a declined payment: 409, nothing was charged. */
static void reply_declined_refund(hc_req_t *req, const payment_t *p)
{
    json_t *body = json_pack("{s:s, s:s, s:[]}", "error", "invalid_state", "message",
                             "this payment was declined; there is nothing to refund", "fields");
    json_object_set_new(body, "payment", payment_resource(req, p));
    hc_reply_json(req, 409, body);
}

/* Answers a charge request whose record is p (created: stored by this request). */
static void reply_charge(hc_req_t *req, const payment_t *p, int created)
{
    payment_answer_t a;
    payment_charge_answer(p, created, &a);
    if (!a.error) {
        if (created) {
            char loc[700];
            snprintf(loc, sizeof loc, "%s/paymentHistories/%lld", hc_req_base_url(req),
                     (long long)p->id);
            hc_reply_header(req, "Location", loc);
        }
        hc_reply_json(req, a.http_status, payment_resource(req, p));
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:[]}", "error", a.error, "message", a.message, "fields");
    json_object_set_new(body, "payment", payment_resource(req, p));
    hc_reply_json(req, a.http_status, body);
}

/* Finds or creates the record for in inside one transaction on c. Sets *p and
 * *created (1 when this call stored it). Returns 0 or an hc_err (rolled back). */
static int charge(hc_service_t *svc, hc_conn_t *c, const hc_trace_t *trace,
                  const payment_request_t *in, payment_t *p, int *created)
{
    char now[32];
    json_t *ev = NULL;
    *created = 0;
    int rc = hc_conn_begin(c);
    if (rc)
        return rc;
    /* Writers are serialised (BEGIN IMMEDIATE), so check-then-insert cannot
     * race; the UNIQUE orderId column backs it up regardless. */
    rc = payment_store_find_by_order(c, in->order_id, p);
    if (rc != HC_ENOTFOUND)
        goto out; /* found (0: answer it) or failed */
    hc_now_rfc3339(now);
    payment_from_request(in, now, p);
    rc = payment_store_insert(c, p);
    if (rc)
        goto out;
    if (p->status == PAYMENT_APPROVED) {
        ev = payment_event_approved(p, trace);
        rc = hc_outbox_add(c, ev);
        if (rc)
            goto out;
    }
    rc = hc_service_commit(svc, c);
    if (rc == 0)
        *created = 1;
out:
    if (!*created)
        hc_conn_rollback(c); /* nothing to keep; safe after a failed commit */
    json_decref(ev);
    if (rc == HC_ECONFLICT)
        rc = payment_store_find_by_order(c, in->order_id, p); /* stored by a racing writer */
    return rc;
}

/* Logs the outcome of a charge request; the card appears masked only. */
static void log_charge(const payment_t *p, int created)
{
    char masked[32] = "-";
    if (p->card_last4[0])
        hc_card_mask(p->card_last4, masked, sizeof masked);
    if (!created)
        hc_info("charge repeated for payment %lld: answered the existing %s record",
                (long long)p->id, payment_status_name(p->status));
    else if (p->status == PAYMENT_APPROVED)
        hc_info("payment %lld approved: %lld KRW by %s %s", (long long)p->id, (long long)p->amount,
                payment_method_name(p->method), masked);
    else
        hc_info("payment %lld declined: %lld KRW by card %s", (long long)p->id,
                (long long)p->amount, masked);
}

/* POST /paymentHistories: charges an order once. */
static void api_create(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    json_t *body = NULL;
    hc_conn_t *c = NULL;
    payment_request_t in;
    payment_t p;
    hc_fields_t f;
    int created = 0, rc;
    hc_fields_init(&f);
    const char *caller = hc_req_caller(req);
    if (!caller || strcmp(caller, "order") != 0) {
        /* A charge is part of a booking: only order makes it, for an order
         * it stored, at that order's price. */
        hc_reply_error(req, 403, "forbidden",
                       "payments are made by booking: POST /orders charges the order's price",
                       NULL);
        goto out;
    }
    if (hc_req_json(req, &body))
        goto out; /* answered */
    if (payment_request_parse(body, hc_cfg.decline_cards, &in, &f)) {
        hc_reply_invalid(req, "the payment request has invalid fields", &f);
        goto out;
    }
    hc_log_ctx_order(in.order_id);
    c = hc_db_acquire(svc->db);
    rc = charge(svc, c, hc_req_trace(req), &in, &p, &created);
    if (rc) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    log_charge(&p, created);
    reply_charge(req, &p, created);
out:
    if (c)
        hc_db_release(svc->db, c);
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* GET /paymentHistories/{id} */
static void api_get(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &payment_resource_def);
}

/* GET /paymentHistories?orderId=&page=&size= */
static void api_list(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &payment_resource_def, NULL);
}

/* Reads the optional "reason" of a refund body into out (size bytes). Returns 0
 * or HC_EINVAL with an error added to f. */
static int read_reason(json_t *body, char *out, size_t size, hc_fields_t *f)
{
    char text[HC_REASON_BUF];
    int has = hc_get_text(body, "reason", HC_REASON_MAX_CHARS, text, sizeof text, f);
    if (has < 0)
        return HC_EINVAL;
    hc_utf8_copy(out, size, has > 0 ? text : DEFAULT_REFUND_REASON);
    return 0;
}

/* Refunds the payment with id for reason (a call from order: the booking's
 * rules were applied there) and answers: 200 with the record (also when it
 * was already canceled), 404, or 409 for a declined one. */
static void refund(hc_service_t *svc, hc_req_t *req, int64_t id, const char *reason)
{
    payment_t p;
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = hc_conn_begin(c);
    if (rc)
        goto fail;
    rc = payment_store_find(c, id, &p);
    if (rc == HC_ENOTFOUND) {
        hc_conn_rollback(c);
        hc_reply_not_found(req, "payment history");
        goto out;
    }
    if (rc)
        goto fail;
    hc_log_ctx_order(p.order_id);
    switch (payment_refund_decide(p.status)) {
    case PAYMENT_REFUND_APPLY:
        rc = payment_store_cancel(c, &p, reason, hc_req_trace(req));
        if (rc)
            goto fail;
        rc = hc_service_commit(svc, c);
        if (rc)
            goto fail;
        hc_info("payment %lld refunded: %lld KRW (%s)", (long long)p.id, (long long)p.amount,
                p.reason);
        hc_reply_json(req, 200, payment_resource(req, &p));
        break;
    case PAYMENT_REFUND_NOOP:
        hc_conn_rollback(c);
        hc_info("payment %lld already canceled; refund request answered as is", (long long)p.id);
        hc_reply_json(req, 200, payment_resource(req, &p));
        break;
    default:
        hc_conn_rollback(c);
        reply_declined_refund(req, &p);
        break;
    }
    goto out;
fail:
    hc_conn_rollback(c);
    hc_reply_storage_error(req, rc);
out:
    hc_db_release(svc->db, c);
}

/* A refund asked by anyone but order: a refund of a booking follows the
 * booking's rules (state, cancel deadline), so it is a cancel of the order,
 * asked of order, which then refunds through refund() above. Answers the
 * refunded record, or order's refusal as it gave it. */
static void refund_through_order(hc_service_t *svc, hc_req_t *req, int64_t id)
{
    payment_t p;
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = payment_store_find(c, id, &p);
    hc_db_release(svc->db, c);
    if (rc == HC_ENOTFOUND) {
        hc_reply_not_found(req, "payment history");
        return;
    }
    if (rc) {
        hc_reply_storage_error(req, rc);
        return;
    }
    hc_log_ctx_order(p.order_id);
    if (p.status == PAYMENT_CANCELED) {
        hc_reply_json(req, 200, payment_resource(req, &p));
        return;
    }
    if (p.status == PAYMENT_DECLINED) {
        reply_declined_refund(req, &p);
        return;
    }
    char url[400], idem[260];
    const char *key = hc_req_header(req, "Idempotency-Key");
    snprintf(url, sizeof url, "%s/orders/%lld", hc_cfg.order_url, (long long)p.order_id);
    if (key && strlen(key) <= 200)
        snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
    hc_call_t call = {.method = "DELETE",
                      .url = url,
                      .trace = hc_req_trace(req),
                      .timeout_ms = hc_cfg.order_timeout_ms,
                      .caller = svc->def->name,
                      .extra_header = key && strlen(key) <= 200 ? idem : NULL};
    int status = 0;
    json_t *resp = NULL;
    int crc = hc_client_call(&call, &status, &resp);
    if (crc || status == 0 || status >= 500) {
        hc_warn("refund of payment %lld: order could not cancel the booking (%s, status %d)",
                (long long)id, hc_strerror(crc), status);
        hc_reply_header(req, "Retry-After", "2");
        hc_reply_error(req, 503, "order_unavailable",
                       "the booking's cancel could not be made right now; nothing was refunded by"
                       " this request. Please try again a little later.",
                       NULL);
    } else if (status == 200) {
        c = hc_db_acquire(svc->db);
        rc = payment_store_find(c, id, &p);
        hc_db_release(svc->db, c);
        if (rc)
            hc_reply_storage_error(req, rc);
        else
            hc_reply_json(req, 200, payment_resource(req, &p));
    } else {
        /* Order refused (e.g. 409 cancel_deadline_passed): its words. */
        const char *code = json_string_value(json_object_get(resp, "error"));
        const char *msg = json_string_value(json_object_get(resp, "message"));
        char text[400];
        snprintf(text, sizeof text, "the booking (order %lld) refuses the refund: %s",
                 (long long)p.order_id, msg ? msg : "refused");
        hc_reply_error(req, status == 404 ? 409 : status,
                       status == 404 ? "invalid_state"
                       : code        ? code
                                     : "invalid_state",
                       text, NULL);
    }
    json_decref(resp);
}

/* Refunds payment id: directly for order, through order for anyone else. */
static void refund_request(hc_service_t *svc, hc_req_t *req, int64_t id, const char *reason)
{
    const char *caller = hc_req_caller(req);
    if (caller && strcmp(caller, "order") == 0)
        refund(svc, req, id, reason);
    else
        refund_through_order(svc, req, id);
}

/* POST /paymentHistories/{id}/cancel with an optional {"reason": ...} body. */
static void api_cancel(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    json_t *body = NULL;
    char reason[PAYMENT_REASON_MAX];
    hc_fields_t f;
    size_t len = 0;
    hc_fields_init(&f);
    int64_t id = hc_req_param_id(req, 0);
    if (id <= 0) {
        hc_reply_not_found(req, "payment history");
        goto out;
    }
    static const char *const known[] = {"reason", NULL};
    hc_req_body(req, &len);
    if (len > 0 && hc_req_json(req, &body))
        goto out; /* answered */
    if (read_reason(body, reason, sizeof reason, &f) || hc_fields_unknown(body, known, &f)) {
        hc_reply_invalid(req, "the refund request has invalid fields", &f);
        goto out;
    }
    refund_request(svc, req, id, reason);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* PATCH /paymentHistories/{id} with {"status":"CANCELED"} (optional reason):
 * the seed's cancel-by-update. Any other status is a 400. */
static void api_patch(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    json_t *body = NULL;
    char reason[PAYMENT_REASON_MAX];
    const char *status = NULL;
    hc_fields_t f;
    hc_fields_init(&f);
    int64_t id = hc_req_param_id(req, 0);
    if (id <= 0) {
        hc_reply_not_found(req, "payment history");
        goto out;
    }
    static const char *const known[] = {"status", "reason", NULL};
    if (hc_req_json(req, &body))
        goto out; /* answered */
    hc_fields_unknown(body, known, &f);
    int has = hc_get_string(body, "status", &status, &f);
    if (has == 0)
        hc_fields_add(&f, "status", "is required; only CANCELED can be set");
    else if (has > 0 && strcasecmp(status, "CANCELED") != 0)
        hc_fields_add(&f, "status", "only CANCELED can be set (a refund)");
    read_reason(body, reason, sizeof reason, &f);
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the update has invalid fields", &f);
        goto out;
    }
    refund_request(svc, req, id, reason);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

int payment_api_register(hc_service_t *svc)
{
    /* Writes are the services' (order charges and refunds) and the
     * super-admin's; the handlers then require order's signature for a
     * charge or a direct refund (docs/contract.md "Service calls"). */
    hc_http_route_as(svc->http, HC_ACCESS_OPS, "POST", "/paymentHistories", NULL, api_create, svc);
    hc_http_route(svc->http, "GET", "/paymentHistories", "orderId,page,size", api_list, svc);
    hc_http_route(svc->http, "GET", "/paymentHistories/{id}", NULL, api_get, svc);
    hc_http_route_as(svc->http, HC_ACCESS_OPS, "PATCH", "/paymentHistories/{id}", NULL, api_patch,
                     svc);
    hc_http_route_as(svc->http, HC_ACCESS_OPS, "POST", "/paymentHistories/{id}/cancel", NULL,
                     api_cancel, svc);
    return 0;
}
