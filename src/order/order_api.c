/* order_api: booking, reading, listing and cancelling orders; the catalog. */
#include "order_api.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_log.h"
#include "hc_outbox.h"
#include "hc_valid.h"
#include "order_domain.h"

#define MAX_IDEM_KEY 200
#define RETRY_AFTER_S "2"

/* ---- representation ---- */

/* The order as a resource (masked phone and card). Caller owns the result. */
static json_t *order_json(hc_req_t *req, const order_t *o)
{
    char phone[24], card[24], path[64];
    hc_phone_mask(o->phone, phone, sizeof phone);
    hc_card_mask(o->card_last4, card, sizeof card);
    json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "id",
                          (json_int_t)o->id, "name", o->name, "phone", phone, "orderType",
                          o->order_type, "checkupDate", o->checkup_date, "centerId",
                          (json_int_t)o->center_id, "payMethod", o->pay_method, "amount",
                          (json_int_t)o->amount, "status", o->status, "createdAt", o->created_at,
                          "updatedAt", o->updated_at);
    json_object_set_new(j, "cardNo", o->card_last4[0] ? json_string(card) : json_null());
    json_object_set_new(j, "paymentId", o->payment_id ? json_integer(o->payment_id) : json_null());
    if (o->reason[0])
        json_object_set_new(j, "reason", json_string(o->reason));
    snprintf(path, sizeof path, "/orders/%lld", (long long)o->id);
    hc_hal_self(req, j, "order", path);
    return j;
}

json_t *order_event(const char *type, const order_t *o, const hc_trace_t *trace)
{
    json_t *ev = hc_event_new(type, o->id, trace);
    json_object_set_new(ev, "centerId", json_integer(o->center_id));
    json_object_set_new(ev, "checkupDate", json_string(o->checkup_date));
    json_object_set_new(ev, "paymentId", o->payment_id ? json_integer(o->payment_id) : json_null());
    if (strcmp(type, "OrderCanceled") != 0) {
        json_object_set_new(ev, "name", json_string(o->name));
        json_object_set_new(ev, "phone", json_string(o->phone));
        json_object_set_new(ev, "orderType", json_string(o->order_type));
        json_object_set_new(ev, "amount", json_integer(o->amount));
        json_object_set_new(ev, "payMethod", json_string(o->pay_method));
        json_object_set_new(ev, "status", json_string(o->status));
    }
    if (o->reason[0])
        json_object_set_new(ev, "reason", json_string(o->reason));
    return ev;
}

/* ---- idempotency ---- */

/* Replays the stored answer for key, if any. Returns 1 when it answered. */
static int idem_replay(hc_service_t *svc, hc_req_t *req, const char *scope, const char *key)
{
    hc_conn_t *c = hc_db_acquire(svc->db);
    order_idem_t rec;
    int rc = order_idem_get(c, scope, key, &rec);
    hc_db_release(svc->db, c);
    if (rc == HC_ENOTFOUND)
        return 0;
    if (rc) {
        hc_reply_error(req, 500, "internal", "could not read the idempotency record", NULL);
        return 1;
    }
    if (!rec.status || !rec.body) {
        free(rec.body);
        hc_reply_error(req, 409, "in_progress",
                       "a request with this Idempotency-Key is still being processed; retry shortly", NULL);
        return 1;
    }
    json_t *body = json_loads(rec.body, 0, NULL);
    free(rec.body);
    hc_reply_header(req, "Idempotent-Replayed", "true");
    if (rec.status == 201 && rec.order_id) {
        char loc[400];
        snprintf(loc, sizeof loc, "%s/orders/%lld", hc_req_base_url(req), (long long)rec.order_id);
        hc_reply_header(req, "Location", loc);
    }
    hc_reply_json(req, rec.status, body);
    return 1;
}

/* Reads and checks the Idempotency-Key header. Returns 0 (key or NULL in
 * *key) or answers 400 and returns HC_EINVAL. */
static int idem_key(hc_req_t *req, const char **key)
{
    *key = hc_req_header(req, "Idempotency-Key");
    if (*key && (!**key || strlen(*key) > MAX_IDEM_KEY)) {
        hc_reply_error(req, 400, "validation_failed", "Idempotency-Key must be 1-200 characters",
                       json_pack("[{s:s, s:s}]", "field", "Idempotency-Key", "message", "1-200 characters"));
        return HC_EINVAL;
    }
    return 0;
}

/* ---- booking ---- */

/* Validates a booking request into o and card (full digits, for the payment
 * call only). Adds field errors to f. */
static void parse_booking(json_t *body, order_t *o, char *card, size_t cardlen, hc_fields_t *f)
{
    const char *name = NULL, *phone = NULL, *type = NULL, *date = NULL, *method = NULL, *cardno = NULL;
    int64_t center = 1;

    if (hc_get_string(body, "name", &name, f) == 0)
        hc_fields_add(f, "name", "is required");
    else if (name && (strlen(name) == 0 || strlen(name) > 200 || json_string_length(json_object_get(body, "name")) == 0))
        hc_fields_add(f, "name", "must be 1-50 characters");
    if (name) {
        /* Count UTF-8 code points, not bytes. */
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            chars += (*p & 0xC0) != 0x80;
        if (chars == 0 || chars > 50)
            hc_fields_add(f, "name", "must be 1-50 characters");
        else
            hc_strlcpy(o->name, name, sizeof o->name);
    }

    if (hc_get_string(body, "phone", &phone, f) == 0)
        hc_fields_add(f, "phone", "is required");
    else if (phone && hc_phone_normalize(phone, o->phone, sizeof o->phone))
        hc_fields_add(f, "phone", "must be a Korean mobile number such as 010-1234-5678");

    if (hc_get_string(body, "orderType", &type, f) == 0)
        hc_fields_add(f, "orderType", "is required");
    else if (type) {
        const hc_package_t *pk = hc_config_package(&hc_cfg, type);
        if (!pk) {
            hc_fields_add(f, "orderType", "unknown package \"%.40s\"; see GET /packages", type);
        } else {
            hc_strlcpy(o->order_type, pk->code, sizeof o->order_type);
            o->amount = pk->price;
        }
    }

    int64_t day;
    if (hc_get_string(body, "checkupDate", &date, f) == 0)
        hc_fields_add(f, "checkupDate", "is required");
    else if (date && hc_date_parse(date, &day))
        hc_fields_add(f, "checkupDate", "must be a date as YYYY-MM-DD");
    else if (date) {
        int64_t today = hc_today();
        if (day <= today)
            hc_fields_add(f, "checkupDate", "must be tomorrow or later (%s time)", hc_cfg.tz);
        else if (day > today + hc_cfg.horizon_days)
            hc_fields_add(f, "checkupDate", "must be within %d days from today", hc_cfg.horizon_days);
        else
            hc_strlcpy(o->checkup_date, date, sizeof o->checkup_date);
    }

    int gc = hc_get_int(body, "centerId", &center, f);
    if (gc >= 0) {
        size_t i;
        for (i = 0; i < hc_cfg.n_centers; i++)
            if (hc_cfg.centers[i].id == center)
                break;
        if (i == hc_cfg.n_centers)
            hc_fields_add(f, "centerId", "unknown center %lld; see GET /centers", (long long)center);
        else
            o->center_id = center;
    }

    int gm = hc_get_string(body, "payMethod", &method, f);
    if (gm == 0)
        method = "card";
    if (method && strcmp(method, "card") != 0 && strcmp(method, "cash") != 0)
        hc_fields_add(f, "payMethod", "must be \"card\" or \"cash\"");
    else if (method)
        hc_strlcpy(o->pay_method, method, sizeof o->pay_method);

    /* The seed's Order has `Long cardNo`: a JSON integer is accepted too. */
    char cardtext[24] = "";
    json_t *cv = json_object_get(body, "cardNo");
    int gcard;
    if (json_is_integer(cv) && json_integer_value(cv) > 0) {
        snprintf(cardtext, sizeof cardtext, "%lld", (long long)json_integer_value(cv));
        cardno = cardtext;
        gcard = 1;
    } else {
        gcard = hc_get_string(body, "cardNo", &cardno, f);
    }
    if (method && strcmp(method, "card") == 0) {
        if (gcard == 0)
            hc_fields_add(f, "cardNo", "is required when payMethod is card");
        else if (cardno && hc_card_normalize(cardno, card, cardlen))
            hc_fields_add(f, "cardNo", "is not a valid card number");
        else if (cardno)
            hc_strlcpy(o->card_last4, card + strlen(card) - 4, sizeof o->card_last4);
    }
    explicit_bzero(cardtext, sizeof cardtext);
}

/* Answers with o and stores the answer for the idempotency key, committing the
 * transaction open on c. Returns 0 or an hc_err (then nothing was answered). */
static int finish_and_reply(hc_service_t *svc, hc_conn_t *c, hc_req_t *req, const order_t *o,
                            int status, const char *scope, const char *key)
{
    json_t *j = order_json(req, o);
    int rc = 0;
    if (key) {
        char *text = json_dumps(j, JSON_COMPACT);
        rc = order_idem_finish(c, scope, key, status, text);
        free(text);
    }
    if (!rc)
        rc = hc_service_commit(svc, c);
    else
        hc_conn_rollback(c);
    if (rc) {
        json_decref(j);
        return rc;
    }
    if (status == 201) {
        char loc[400];
        snprintf(loc, sizeof loc, "%s/orders/%lld", hc_req_base_url(req), (long long)o->id);
        hc_reply_header(req, "Location", loc);
    }
    hc_reply_json(req, status, j);
    return 0;
}

/* Moves order id to FAILED with reason and writes OrderFailed (when emit),
 * inside the open transaction on c; o receives the order. */
static int fail_order(hc_conn_t *c, int64_t id, const char *reason, int emit, const hc_trace_t *trace,
                      order_t *o)
{
    int moved = 0;
    int rc = order_store_move(c, id, "FAILED", reason, 0, o, &moved);
    if (!rc && moved && emit) {
        json_t *ev = order_event("OrderFailed", o, trace);
        rc = hc_outbox_add(c, ev);
        json_decref(ev);
    }
    return rc;
}

int order_fail_pending(hc_service_t *svc, int64_t id, const char *reason)
{
    hc_conn_t *c = hc_db_acquire(svc->db);
    order_t o;
    hc_trace_t t;
    memset(&t, 0, sizeof t);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = order_store_get(c, id, &o);
    if (!rc && strcmp(o.status, "PENDING") == 0) {
        hc_strlcpy(t.trace_id, o.trace_id, sizeof t.trace_id);
        hc_strlcpy(t.span_id, "00f067aa0ba902b7", sizeof t.span_id);
        t.flags = 1;
        hc_log_ctx_set(o.trace_id, id);
        rc = fail_order(c, id, reason, 1, t.trace_id[0] ? &t : NULL, &o);
        if (!rc)
            hc_warn("order %lld was still PENDING; failed it and asked for compensation", (long long)id);
    }
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_service_commit(svc, c);
    hc_db_release(svc->db, c);
    hc_log_ctx_clear();
    return rc;
}

static void handle_create(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    const char *key = NULL;
    json_t *body = NULL, *presp = NULL;
    hc_conn_t *c = NULL;
    hc_fields_t f;
    hc_fields_init(&f);
    order_t o;
    memset(&o, 0, sizeof o);
    char card[24] = "";

    if (idem_key(req, &key) || (key && idem_replay(svc, req, "create", key)))
        goto out;
    if (hc_req_json(req, &body))
        goto out;
    parse_booking(body, &o, card, sizeof card, &f);
    if (hc_fields_count(&f)) {
        hc_reply_error(req, 400, "validation_failed", "the booking has invalid fields", hc_fields_take(&f));
        goto out;
    }

    /* 1. Record the order as PENDING before money moves, so a crash during
     * the payment call leaves a trace that recovery compensates. */
    hc_strlcpy(o.status, "PENDING", sizeof o.status);
    hc_strlcpy(o.trace_id, hc_req_trace(req)->trace_id, sizeof o.trace_id);
    c = hc_db_acquire(svc->db);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = order_store_insert(c, &o);
    if (!rc && key)
        rc = order_idem_claim(c, "create", key, o.id);
    if (rc) {
        hc_conn_rollback(c);
        if (rc == HC_ECONFLICT && key && idem_replay(svc, req, "create", key))
            goto out;
        hc_reply_error(req, 500, "internal", "could not store the order", NULL);
        goto out;
    }
    if ((rc = hc_conn_commit(c))) {
        hc_reply_error(req, 500, "internal", "could not store the order", NULL);
        goto out;
    }
    hc_log_ctx_order(o.id);

    /* 2. Synchronous payment (the seed's Req/Resp). */
    char url[400];
    snprintf(url, sizeof url, "%s/paymentHistories", hc_cfg.payment_url);
    json_t *preq = json_pack("{s:I, s:I, s:s, s:I, s:s}", "orderId", (json_int_t)o.id, "amount",
                             (json_int_t)o.amount, "payMethod", o.pay_method, "centerId",
                             (json_int_t)o.center_id, "checkupDate", o.checkup_date);
    if (card[0])
        json_object_set_new(preq, "cardNo", json_string(card));
    hc_call_t call = {.method = "POST", .url = url, .body = preq,
                      .timeout_ms = hc_cfg.payment_timeout_ms, .trace = hc_req_trace(req)};
    int status = 0;
    int crc = hc_client_call(&call, &status, &presp);
    json_decref(preq);
    memset(card, 0, sizeof card);

    /* 3. Record the outcome, with its event, in one transaction. */
    if ((rc = hc_conn_begin(c))) {
        hc_reply_error(req, 500, "internal", "could not store the payment outcome", NULL);
        goto out;
    }
    if (crc == 0 && (status == 200 || status == 201) &&
        json_is_string(json_object_get(presp, "status")) &&
        strcmp(json_string_value(json_object_get(presp, "status")), "APPROVED") == 0) {
        int64_t pid = json_integer_value(json_object_get(presp, "id"));
        int moved = 0;
        rc = order_store_move(c, o.id, "PAID", NULL, pid, &o, &moved);
        if (!rc) {
            /* Ordered announces the paid booking even if a reservation event
             * already moved the order past PAID. */
            json_t *ev = order_event("Ordered", &o, hc_req_trace(req));
            json_object_set_new(ev, "status", json_string("PAID"));
            rc = hc_outbox_add(c, ev);
            json_decref(ev);
        }
        if (!rc) {
            hc_info("order %lld paid (payment %lld, %lld KRW)", (long long)o.id, (long long)pid,
                    (long long)o.amount);
            /* The 201 reports the payment's outcome. A reservation event may
             * already have moved the order on (REQUESTED), which
             * GET /orders/{id} shows; a final status is reported as it is. */
            if (!order_status_is_final(o.status))
                hc_strlcpy(o.status, "PAID", sizeof o.status);
            rc = finish_and_reply(svc, c, req, &o, 201, "create", key);
        }
    } else if (crc == 0 && status == 402) {
        rc = fail_order(c, o.id, "payment declined", 1, hc_req_trace(req), &o);
        if (!rc) {
            hc_info("order %lld failed: payment declined", (long long)o.id);
            json_t *err = json_pack("{s:s, s:s, s:[], s:o}", "error", "payment_declined", "message",
                                    "the card was declined; no charge was made", "fields", "order",
                                    order_json(req, &o));
            char *etext = json_dumps(err, JSON_COMPACT);
            if (key)
                rc = order_idem_finish(c, "create", key, 402, etext);
            free(etext);
            if (!rc)
                rc = hc_service_commit(svc, c);
            else
                hc_conn_rollback(c);
            if (!rc)
                hc_reply_json(req, 402, err);
            else
                json_decref(err);
        }
    } else {
        /* Unreachable (payment did not act), or the outcome is unknown
         * (timeout, error answer): fail the order; when payment may have acted,
         * OrderFailed makes payment refund or void and reservation release. */
        int unknown = crc != HC_EUNAVAIL;
        const char *why = crc == HC_EUNAVAIL ? "payment service unavailable"
                          : crc == HC_ETIMEDOUT ? "payment timed out; outcome unknown, compensated"
                                                : "payment answered unexpectedly; compensated";
        rc = fail_order(c, o.id, why, unknown, hc_req_trace(req), &o);
        if (!rc && key)
            rc = order_idem_forget(c, "create", key);
        if (!rc)
            rc = hc_service_commit(svc, c);
        else
            hc_conn_rollback(c);
        if (!rc) {
            hc_warn("order %lld failed: %s (call result %s, status %d)", (long long)o.id, why,
                    hc_strerror(crc), status);
            hc_reply_header(req, "Retry-After", RETRY_AFTER_S);
            hc_reply_error(req, 503, "payment_unavailable",
                           "payment is busy or unavailable; nothing was charged. Please pay a little later.",
                           NULL);
        }
    }
    if (rc)
        hc_reply_error(req, 500, "internal", "could not store the payment outcome", NULL);
out:
    if (c)
        hc_db_release(svc->db, c);
    json_decref(presp);
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* ---- reading ---- */

static void handle_get(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    int64_t id = hc_req_param_id(req, 0);
    order_t o;
    if (!id) {
        hc_reply_error(req, 404, "not_found", "no such order", NULL);
        return;
    }
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = order_store_get(c, id, &o);
    hc_db_release(svc->db, c);
    if (rc == HC_ENOTFOUND)
        hc_reply_error(req, 404, "not_found", "no such order", NULL);
    else if (rc)
        hc_reply_error(req, 500, "internal", "could not read the order", NULL);
    else
        hc_reply_json(req, 200, order_json(req, &o));
}

static void handle_list(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    int64_t page, size, total = 0;
    if (hc_req_paging(req, &page, &size))
        return;
    const char *phone_q = hc_req_query(req, "phone");
    char phone[16];
    if (phone_q && hc_phone_normalize(phone_q, phone, sizeof phone)) {
        hc_reply_error(req, 400, "validation_failed", "phone must be a Korean mobile number",
                       json_pack("[{s:s, s:s}]", "field", "phone", "message", "such as 010-1234-5678"));
        return;
    }
    order_t *items = NULL;
    size_t n = 0;
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = order_store_list(c, phone_q ? phone : NULL, page, size, &items, &n, &total);
    hc_db_release(svc->db, c);
    if (rc) {
        hc_reply_error(req, 500, "internal", "could not list orders", NULL);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, order_json(req, &items[i]));
    free(items);
    hc_reply_json(req, 200, hc_hal_page(req, "orders", arr, page, size, total));
}

static void handle_packages(hc_req_t *req, void *ud)
{
    (void)ud;
    json_t *arr = json_array();
    for (size_t i = 0; i < hc_cfg.n_packages; i++) {
        const hc_package_t *p = &hc_cfg.packages[i];
        json_t *j = json_pack("{s:s, s:s, s:I}", "code", p->code, "name", p->name, "price",
                              (json_int_t)p->price);
        char path[80];
        snprintf(path, sizeof path, "/packages/%s", p->code);
        hc_hal_self(req, j, "package", path);
        json_array_append_new(arr, j);
    }
    hc_reply_json(req, 200, hc_hal_page(req, "packages", arr, 0, (int64_t)hc_cfg.n_packages,
                                        (int64_t)hc_cfg.n_packages));
}

static void handle_package(hc_req_t *req, void *ud)
{
    (void)ud;
    const hc_package_t *p = hc_config_package(&hc_cfg, hc_req_param(req, 0));
    if (!p) {
        hc_reply_error(req, 404, "not_found", "no such package", NULL);
        return;
    }
    json_t *j = json_pack("{s:s, s:s, s:I}", "code", p->code, "name", p->name, "price", (json_int_t)p->price);
    char path[80];
    snprintf(path, sizeof path, "/packages/%s", p->code);
    hc_hal_self(req, j, "package", path);
    hc_reply_json(req, 200, j);
}

/* ---- cancelling ---- */

/* Cancels order id: checks state and deadline, refunds synchronously through
 * payment, then records CANCELED with OrderCanceled. Answers every outcome. */
static void cancel_order(hc_service_t *svc, hc_req_t *req, int64_t id)
{
    const char *key = NULL;
    char scope[48];
    snprintf(scope, sizeof scope, "cancel:%lld", (long long)id);
    if (idem_key(req, &key) || (key && idem_replay(svc, req, scope, key)))
        return;
    hc_conn_t *c = hc_db_acquire(svc->db);
    json_t *presp = NULL;
    order_t o;
    int rc = order_store_get(c, id, &o);
    if (rc == HC_ENOTFOUND) {
        hc_reply_error(req, 404, "not_found", "no such order", NULL);
        goto out;
    }
    if (rc) {
        hc_reply_error(req, 500, "internal", "could not read the order", NULL);
        goto out;
    }
    hc_log_ctx_order(id);
    if (!order_status_cancellable(o.status)) {
        char msg[128];
        snprintf(msg, sizeof msg, "the booking is %s and cannot be canceled", o.status);
        hc_reply_error(req, 409, "invalid_state", msg, NULL);
        goto out;
    }
    int64_t day = 0;
    if (hc_date_parse(o.checkup_date, &day) == 0 &&
        !order_cancel_in_time(hc_today(), day, hc_cfg.cancel_cutoff_days)) {
        char msg[160];
        snprintf(msg, sizeof msg, "bookings can be canceled until the end of the day %d day(s) before the checkup",
                 hc_cfg.cancel_cutoff_days);
        hc_reply_error(req, 409, "cancel_deadline_passed", msg, NULL);
        goto out;
    }
    /* Remember the refund request first: if the answer is lost, the
     * PaymentCanceled event still completes the cancel (order_policy). */
    if ((rc = hc_conn_begin(c)) == 0) {
        rc = order_store_mark_cancel_requested(c, id);
        if (!rc && key)
            rc = order_idem_claim(c, scope, key, id);
        if (rc)
            hc_conn_rollback(c);
        else
            rc = hc_conn_commit(c);
    }
    if (rc) {
        if (rc == HC_ECONFLICT && key && idem_replay(svc, req, scope, key))
            goto out;
        hc_reply_error(req, 500, "internal", "could not record the cancel request", NULL);
        goto out;
    }
    if (o.payment_id) {
        char url[400];
        snprintf(url, sizeof url, "%s/paymentHistories/%lld/cancel", hc_cfg.payment_url,
                 (long long)o.payment_id);
        json_t *preq = json_pack("{s:s}", "reason", "canceled by customer");
        hc_call_t call = {.method = "POST", .url = url, .body = preq,
                          .timeout_ms = hc_cfg.payment_timeout_ms, .trace = hc_req_trace(req)};
        int status = 0;
        int crc = hc_client_call(&call, &status, &presp);
        json_decref(preq);
        if (crc || status != 200) {
            hc_warn("refund for order %lld failed (%s, status %d); order unchanged", (long long)id,
                    hc_strerror(crc), status);
            if (key && hc_conn_begin(c) == 0) {
                if (order_idem_forget(c, scope, key))
                    hc_conn_rollback(c);
                else
                    hc_conn_commit(c);
            }
            hc_reply_header(req, "Retry-After", RETRY_AFTER_S);
            hc_reply_error(req, 503, "payment_unavailable",
                           "the refund could not be made right now; the booking is unchanged. Please try again a little later.",
                           NULL);
            goto out;
        }
    }
    int moved = 0;
    if ((rc = hc_conn_begin(c)) == 0) {
        rc = order_store_move(c, id, "CANCELED", "canceled by customer", 0, &o, &moved);
        if (!rc && moved) {
            json_t *ev = order_event("OrderCanceled", &o, hc_req_trace(req));
            rc = hc_outbox_add(c, ev);
            json_decref(ev);
        }
        if (!rc && !moved && strcmp(o.status, "CANCELED") == 0) {
            /* Our refund's PaymentCanceled reached the order policy first and
             * it completed this cancel (with OrderCanceled): answer success. */
            hc_info("order %lld canceled and refunded (completed by the refund event)",
                    (long long)id);
            if (finish_and_reply(svc, c, req, &o, 200, scope, key))
                hc_reply_error(req, 500, "internal", "could not record the cancellation", NULL);
            goto out;
        }
        if (!rc && !moved) {
            /* The booking became final meanwhile (e.g. rejected). */
            hc_conn_rollback(c);
            char msg[128];
            snprintf(msg, sizeof msg, "the booking is %s and cannot be canceled", o.status);
            hc_reply_error(req, 409, "invalid_state", msg, NULL);
            goto out;
        }
        if (!rc) {
            hc_info("order %lld canceled and refunded", (long long)id);
            rc = finish_and_reply(svc, c, req, &o, 200, scope, key);
        } else {
            hc_conn_rollback(c);
        }
    }
    if (rc)
        hc_reply_error(req, 500, "internal", "could not record the cancellation", NULL);
out:
    json_decref(presp);
    hc_db_release(svc->db, c);
}

static void handle_delete(hc_req_t *req, void *ud)
{
    int64_t id = hc_req_param_id(req, 0);
    if (!id) {
        hc_reply_error(req, 404, "not_found", "no such order", NULL);
        return;
    }
    cancel_order(ud, req, id);
}

static void handle_patch(hc_req_t *req, void *ud)
{
    int64_t id = hc_req_param_id(req, 0);
    json_t *body = NULL;
    if (!id) {
        hc_reply_error(req, 404, "not_found", "no such order", NULL);
        return;
    }
    if (hc_req_json(req, &body))
        return;
    const char *status = json_string_value(json_object_get(body, "status"));
    if (!status || (strcmp(status, "CANCELED") != 0 && strcmp(status, "canceled") != 0 &&
                    strcmp(status, "CANCELLED") != 0)) {
        hc_reply_error(req, 400, "validation_failed", "a customer can only set status CANCELED",
                       json_pack("[{s:s, s:s}]", "field", "status", "message", "must be \"CANCELED\""));
    } else {
        cancel_order(ud, req, id);
    }
    json_decref(body);
}

void order_api_register(hc_service_t *svc)
{
    hc_http_route(svc->http, "POST", "/orders", handle_create, svc);
    hc_http_route(svc->http, "GET", "/orders", handle_list, svc);
    hc_http_route(svc->http, "GET", "/orders/{id}", handle_get, svc);
    hc_http_route(svc->http, "DELETE", "/orders/{id}", handle_delete, svc);
    hc_http_route(svc->http, "PATCH", "/orders/{id}", handle_patch, svc);
    hc_http_route(svc->http, "GET", "/packages", handle_packages, svc);
    hc_http_route(svc->http, "GET", "/packages/{code}", handle_package, svc);
}
