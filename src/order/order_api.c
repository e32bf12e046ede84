/* order_api: the order service's HTTP handlers: booking, reading, listing and
 * cancelling orders, the catalog, and the status decisions reservation asks
 * for. Handlers parse and answer; order_saga decides. */
#include "order_api.h"

#include <stdlib.h>
#include <string.h>

#include "hc_api.h"
#include "hc_auth.h"
#include "hc_authz.h"
#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_valid.h"
#include "order_domain.h"
#include "order_saga.h"
#include "order_store.h"

#define MAX_IDEM_KEY 200
#define SCOPE_CREATE "create"

/* ---- representation ---- */

/* The order as a resource (masked phone and card). Caller owns the result. */
static json_t *order_json(hc_req_t *req, const order_t *o)
{
    char phone[24], card[24], path[64];
    hc_phone_mask(o->phone, phone, sizeof phone);
    hc_card_mask(o->card_last4, card, sizeof card);
    json_t *j = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)o->id,
        "name", o->name, "phone", phone, "orderType", o->order_type, "checkupDate", o->checkup_date,
        "centerId", (json_int_t)o->center_id, "payMethod", o->pay_method, "amount",
        (json_int_t)o->amount, "status", order_status_name(o->status), "version",
        (json_int_t)o->version, "createdAt", o->created_at, "updatedAt", o->updated_at);
    json_object_set_new(j, "cardNo", o->card_last4[0] ? json_string(card) : json_null());
    json_object_set_new(j, "paymentId", o->payment_id ? json_integer(o->payment_id) : json_null());
    json_object_set_new(j, "reservationId",
                        o->reservation_id ? json_integer(o->reservation_id) : json_null());
    json_object_set_new(j, "history", order_history_json(o, o->version));
    if (o->reason[0])
        json_object_set_new(j, "reason", json_string(o->reason));
    snprintf(path, sizeof path, "/orders/%lld", (long long)o->id);
    hc_hal_self(req, j, "order", path);
    return j;
}

/* order_render_cb: the body of an answer (the order, or an error that carries
 * the order when there is one). ud is the request. */
static json_t *render_answer(const order_t *o, int http, const char *error, const char *message,
                             void *ud)
{
    hc_req_t *req = ud;
    if (!error)
        return order_json(req, o);
    json_t *j = json_pack("{s:s, s:s, s:[]}", "error", error, "message", message, "fields");
    if (o)
        json_object_set_new(j, "order", order_json(req, o));
    (void)http;
    return j;
}

/* Answers a saga result (Location on 201). */
static void reply_result(hc_req_t *req, const order_result_t *res)
{
    char loc[400];
    if (res->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", res->retry_after);
        hc_reply_header(req, "Retry-After", ra);
    }
    if (res->http == 201) {
        snprintf(loc, sizeof loc, "%s/orders/%lld", hc_req_base_url(req), (long long)res->order.id);
        hc_reply_header(req, "Location", loc);
    }
    hc_reply_json(req, res->http,
                  render_answer(res->has_order ? &res->order : NULL, res->http, res->error,
                                res->message, req));
}

/* ---- idempotency ---- */

/* The keyed digest of a request: its scope (a booking, or the cancel of one
 * order, however it is asked: DELETE or PATCH) and what it asks for, the
 * body's JSON in a canonical form (sorted keys, compact), so that equal
 * requests match whatever their spacing or key order. */
static void request_digest(const char *scope, json_t *body, char out[HC_AUTH_HEX_LEN + 1])
{
    char *canon = body ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    hc_buf_t b;
    hc_buf_init(&b, (size_t)-1);
    hc_buf_printf(&b, "%s\n%s", scope, canon ? canon : "");
    hc_auth_digest(b.data, b.len, out);
    hc_buf_cleanup(&b);
    free(canon);
}

/* Replays the stored answer for key, if any. Returns 1 when it answered. */
static int idem_replay(hc_service_t *svc, hc_req_t *req, const char *scope, const char *key,
                       const char *digest)
{
    hc_conn_t *c = hc_db_acquire(svc->db);
    order_idem_t rec;
    int rc = order_idem_get(c, scope, key, &rec);
    hc_db_release(svc->db, c);
    if (rc == HC_ENOTFOUND)
        return 0;
    if (rc) {
        hc_reply_storage_error(req, rc);
        return 1;
    }
    if (rec.digest[0] && strcmp(rec.digest, digest) != 0) {
        free(rec.body);
        hc_reply_error(req, 422, "idempotency_key_reused",
                       "this Idempotency-Key was already used for a different request; use a new"
                       " key for a new request",
                       json_pack("[{s:s, s:s}]", "field", "Idempotency-Key", "message",
                                 "was used with a different request body"));
        return 1;
    }
    if (!rec.status || !rec.body) {
        free(rec.body);
        hc_reply_header(req, "Retry-After", "1");
        hc_reply_error(
            req, 409, "in_progress",
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
        hc_reply_field_error(req, "Idempotency-Key must be 1-200 characters", "Idempotency-Key",
                             "1-200 characters");
        return HC_EINVAL;
    }
    return 0;
}

/* Runs fn for a request that may carry an Idempotency-Key: replays an earlier
 * answer (or refuses a key reused for a different request), else runs the
 * saga and answers. body is what the digest covers (NULL: the scope alone). */
typedef void (*saga_fn)(const order_request_t *rq, void *arg, order_result_t *res);

static void run_idempotent(hc_service_t *svc, hc_req_t *req, json_t *body, const char *scope,
                           saga_fn fn, void *arg)
{
    const char *key = NULL;
    char digest[HC_AUTH_HEX_LEN + 1] = "";
    if (idem_key(req, &key))
        return;
    if (key) { /* without a key nothing is stored or compared */
        request_digest(scope, body, digest);
        if (idem_replay(svc, req, scope, key, digest))
            return;
    }
    order_request_t rq = {.svc = svc,
                          .trace = hc_req_trace(req),
                          .caller = hc_req_caller(req),
                          .idem_scope = scope,
                          .idem_key = key,
                          .idem_digest = digest,
                          .render = render_answer,
                          .render_ud = req};
    order_result_t *res = hc_xcalloc(1, sizeof *res);
    fn(&rq, arg, res);
    if (res->key_taken && idem_replay(svc, req, scope, key, digest))
        goto out;
    if (res->key_taken)
        hc_reply_storage_error(req, HC_EIO);
    else
        reply_result(req, res);
out:
    free(res);
}

/* ---- booking ---- */

typedef struct booking {
    order_t order;
    char card[24];
} booking_t;

static void book_fn(const order_request_t *rq, void *arg, order_result_t *res)
{
    booking_t *b = arg;
    order_book(rq, &b->order, b->card, res);
}

static void api_create(hc_req_t *req, void *ud)
{
    json_t *body = NULL;
    hc_fields_t f;
    hc_fields_init(&f);
    booking_t *b = hc_xcalloc(1, sizeof *b);
    if (hc_req_json(req, &body))
        goto out;
    if (order_booking_parse(body, &hc_cfg, hc_today(), &b->order, b->card, sizeof b->card, &f)) {
        hc_reply_invalid(req, "the booking has invalid fields", &f);
        goto out;
    }
    if (!hc_authz_may_book(hc_req_principal(req), b->order.phone)) {
        hc_reply_forbidden(req, "a customer books for the phone it signed in with only");
        goto out;
    }
    run_idempotent(ud, req, body, SCOPE_CREATE, book_fn, b);
out:
    explicit_bzero(b->card, sizeof b->card);
    free(b);
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* ---- reading ---- */

static int get_order(hc_conn_t *c, int64_t id, void *out)
{
    return order_store_get(c, id, out);
}

static json_t *order_resource(hc_req_t *req, const void *item)
{
    return order_json(req, item);
}

/* hc_resource_t.owner: the booking's phone and center. */
static void order_owner(const void *item, const char **phone, int64_t *center_id)
{
    const order_t *o = item;
    *phone = o->phone;
    *center_id = o->center_id;
}

static const hc_resource_t order_resource_def = {
    .what = "order",
    .collection = "orders",
    .size = sizeof(order_t),
    .get = get_order,
    .to_json = order_resource,
    .list = order_store_list,
    .owner = order_owner,
};

/* GET /orders/{id} */
static void api_get(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &order_resource_def);
}

/* GET /orders?phone=&page=&size=, newest first */
static void api_list(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &order_resource_def, NULL);
}

/* A package as a resource. */
static json_t *package_json(hc_req_t *req, const hc_package_t *p)
{
    char path[80];
    json_t *j = json_pack("{s:s, s:s, s:I}", "code", p->code, "name", p->name, "price",
                          (json_int_t)p->price);
    snprintf(path, sizeof path, "/packages/%s", p->code);
    hc_hal_self(req, j, "package", path);
    return j;
}

static void api_packages(hc_req_t *req, void *ud)
{
    (void)ud;
    json_t *arr = json_array();
    for (size_t i = 0; i < hc_cfg.n_packages; i++)
        json_array_append_new(arr, package_json(req, &hc_cfg.packages[i]));
    hc_reply_json(req, 200,
                  hc_hal_page(req, "packages", arr, 0, (int64_t)hc_cfg.n_packages,
                              (int64_t)hc_cfg.n_packages));
}

static void api_package(hc_req_t *req, void *ud)
{
    (void)ud;
    const hc_package_t *p = hc_config_package(&hc_cfg, hc_req_param(req, 0));
    if (!p)
        hc_reply_not_found(req, "package");
    else
        hc_reply_json(req, 200, package_json(req, p));
}

/* ---- cancelling ---- */

static void cancel_fn(const order_request_t *rq, void *arg, order_result_t *res)
{
    order_cancel(rq, *(int64_t *)arg, res);
}

/* Checks, before anything else (an idempotent replay included), that the
 * caller may cancel order id: its customer, the super-admin, or a service
 * (payment turning a refund into the cancel). Someone else's order answers
 * 404 as if there were none; an admin who sees it gets 403 (a center rejects
 * a reservation instead). Returns 0, or 1 when it answered. */
static int may_cancel(hc_req_t *req, hc_service_t *svc, int64_t id)
{
    order_t *o = hc_xcalloc(1, sizeof *o);
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc = order_store_get(c, id, o);
    hc_db_release(svc->db, c);
    const hc_principal_t *who = hc_req_principal(req);
    if (rc == 0 && !hc_api_may_see(req, &order_resource_def, o))
        rc = HC_ENOTFOUND;
    if (rc == HC_ENOTFOUND)
        hc_reply_not_found(req, "order");
    else if (rc)
        hc_reply_storage_error(req, rc);
    else if (who->role == HC_ROLE_ADMIN)
        hc_reply_forbidden(req, "a center admin does not cancel bookings; reject the reservation"
                                " instead (POST /reservations/{id}/reject)");
    free(o);
    return rc || who->role == HC_ROLE_ADMIN;
}

/* Cancels the order of path parameter 0. A DELETE and a PATCH to CANCELED are
 * the same request: one Idempotency-Key serves both. */
static void cancel(hc_req_t *req, hc_service_t *svc)
{
    int64_t id = hc_req_param_id(req, 0);
    char scope[48];
    if (!id) {
        hc_reply_not_found(req, "order");
        return;
    }
    if (may_cancel(req, svc, id))
        return; /* answered */
    snprintf(scope, sizeof scope, "cancel:%lld", (long long)id);
    run_idempotent(svc, req, NULL, scope, cancel_fn, &id);
}

static void api_delete(hc_req_t *req, void *ud)
{
    cancel(req, ud);
}

static void api_patch(hc_req_t *req, void *ud)
{
    json_t *body = NULL;
    if (!hc_req_param_id(req, 0)) {
        hc_reply_not_found(req, "order");
        return;
    }
    static const char *const known[] = {"status", NULL};
    hc_fields_t f;
    hc_fields_init(&f);
    if (hc_req_json(req, &body))
        goto out;
    const char *status = json_string_value(json_object_get(body, "status"));
    hc_fields_unknown(body, known, &f);
    if (!status || (strcmp(status, "CANCELED") != 0 && strcmp(status, "canceled") != 0 &&
                    strcmp(status, "CANCELLED") != 0))
        hc_fields_add(&f, "status", "must be \"CANCELED\" (a customer can only cancel)");
    if (hc_fields_count(&f))
        hc_reply_invalid(req, "the update has invalid fields", &f);
    else
        cancel(req, ud);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* ---- decisions reservation asks for ---- */

/* POST /orders/{id}/status {"status": "CONFIRMED"|"REJECTED", "reason",
 * "reservationId"}: only the reservation service, by a signed call. */
static void api_status(hc_req_t *req, void *ud)
{
    json_t *body = NULL;
    hc_fields_t f;
    hc_fields_init(&f);
    const char *status = NULL;
    int64_t rid = 0;
    order_status_t to = ORDER_CONFIRMED;
    char reason[HC_REASON_BUF];
    const char *caller = hc_req_caller(req);
    if (!caller || strcmp(caller, "reservation") != 0) {
        hc_reply_error(req, 403, "forbidden",
                       "only the reservation service decides a booking's confirmation; center"
                       " admins use POST /reservations/{id}/confirm or /reject",
                       NULL);
        goto out;
    }
    int64_t id = hc_req_param_id(req, 0);
    if (!id) {
        hc_reply_not_found(req, "order");
        goto out;
    }
    if (hc_req_json(req, &body))
        goto out;
    static const char *const known[] = {"status", "reason", "reservationId", NULL};
    hc_fields_unknown(body, known, &f);
    int has = hc_get_string(body, "status", &status, &f);
    if (has == 0)
        hc_fields_add(&f, "status", "is required");
    else if (has > 0 &&
             (order_status_parse(status, &to) || (to != ORDER_CONFIRMED && to != ORDER_REJECTED)))
        hc_fields_add(&f, "status", "must be CONFIRMED or REJECTED");
    int has_reason = hc_get_text(body, "reason", HC_REASON_MAX_CHARS, reason, sizeof reason, &f);
    if (has_reason == 0 && to == ORDER_REJECTED)
        hc_fields_add(&f, "reason", "is required to reject");
    if (hc_get_int(body, "reservationId", &rid, &f) > 0 && rid <= 0)
        hc_fields_add(&f, "reservationId", "must be a positive integer");
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the decision has invalid fields", &f);
        goto out;
    }
    order_request_t rq = {.svc = ud, .trace = hc_req_trace(req)};
    order_result_t *res = hc_xcalloc(1, sizeof *res);
    order_decide(&rq, id, to, has_reason > 0 ? reason : NULL, rid, res);
    reply_result(req, res);
    free(res);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

int order_api_register(hc_service_t *svc)
{
    hc_http_route(svc->http, "POST", "/orders", NULL, api_create, svc);
    hc_http_route(svc->http, "GET", "/orders", "phone,page,size", api_list, svc);
    hc_http_route(svc->http, "GET", "/orders/{id}", NULL, api_get, svc);
    hc_http_route(svc->http, "DELETE", "/orders/{id}", NULL, api_delete, svc);
    hc_http_route(svc->http, "PATCH", "/orders/{id}", NULL, api_patch, svc);
    hc_http_route_as(svc->http, HC_ACCESS_OPS, "POST", "/orders/{id}/status", NULL, api_status,
                     svc);
    hc_http_route_as(svc->http, HC_ACCESS_PUBLIC, "GET", "/packages", NULL, api_packages, svc);
    hc_http_route_as(svc->http, HC_ACCESS_PUBLIC, "GET", "/packages/{code}", NULL, api_package,
                     svc);
    return 0;
}
