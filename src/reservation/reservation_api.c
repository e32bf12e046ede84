/* reservation_api: HTTP handlers of the reservation service. Each handler
 * parses and validates, then reads or changes state through the store in one
 * transaction (with its events in the outbox) and answers JSON/HAL. */
#include "reservation_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_api.h"
#include "hc_authz.h"
#include "hc_buf.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_valid.h"
#include "reservation_domain.h"
#include "reservation_policy.h"
#include "reservation_store.h"

/* ---- representations ---- */

/* The resource form of the reservation_t at item (caller owns the result). */
static json_t *reservation_json(hc_req_t *req, const void *item)
{
    const reservation_t *r = item;
    char path[64];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "orderId", json_integer(r->order_id));
    json_object_set_new(o, "centerId", json_integer(r->center_id));
    json_object_set_new(o, "checkupDate", json_string(r->checkup_date));
    json_object_set_new(o, "status", json_string(reservation_status_name(r->status)));
    json_object_set_new(o, "reason", r->reason[0] ? json_string(r->reason) : json_null());
    json_object_set_new(o, "createdAt", json_string(r->created_at));
    json_object_set_new(o, "updatedAt", json_string(r->updated_at));
    snprintf(path, sizeof path, "/reservations/%lld", (long long)r->id);
    hc_hal_self(req, o, "reservation", path);
    return o;
}

/* The resource form of the reservation_cancellation_t at item (caller owns
 * the result). */
static json_t *cancellation_json(hc_req_t *req, const void *item)
{
    const reservation_cancellation_t *x = item;
    char path[64];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(x->id));
    json_object_set_new(o, "orderId", json_integer(x->order_id));
    json_object_set_new(o, "reservationId",
                        x->reservation_id > 0 ? json_integer(x->reservation_id) : json_null());
    json_object_set_new(o, "centerId", x->center_id > 0 ? json_integer(x->center_id) : json_null());
    json_object_set_new(o, "checkupDate",
                        x->checkup_date[0] ? json_string(x->checkup_date) : json_null());
    json_object_set_new(o, "reason", x->reason[0] ? json_string(x->reason) : json_null());
    json_object_set_new(o, "createdAt", json_string(x->created_at));
    snprintf(path, sizeof path, "/cancellations/%lld", (long long)x->id);
    hc_hal_self(req, o, "cancellation", path);
    return o;
}

/* The resource form of the reservation_center_t at item (caller owns the
 * result). */
static json_t *center_json(hc_req_t *req, const void *item)
{
    const reservation_center_t *ce = item;
    char path[64], href[700];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(ce->id));
    json_object_set_new(o, "name", json_string(ce->name));
    json_object_set_new(o, "dailyCapacity", json_integer(ce->daily_capacity));
    snprintf(path, sizeof path, "/centers/%lld", (long long)ce->id);
    hc_hal_self(req, o, "center", path);
    snprintf(href, sizeof href, "%s%s/slots", hc_req_base_url(req), path);
    json_object_set_new(json_object_get(o, "_links"), "slots", json_pack("{s:s}", "href", href));
    return o;
}

/* One slot as {date, capacity, booked, remaining} (caller owns the result). */
static json_t *slot_json(const reservation_slot_t *s)
{
    char date[11];
    hc_date_format(s->day, date, sizeof date);
    return json_pack("{s:s, s:I, s:I, s:I}", "date", date, "capacity", (json_int_t)s->capacity,
                     "booked", (json_int_t)s->booked, "remaining",
                     (json_int_t)reservation_slot_remaining(s->capacity, s->booked));
}

/* One slot as a resource: {centerId, date, capacity, booked, remaining, _links}. */
static json_t *slot_resource(hc_req_t *req, int64_t center_id, const reservation_slot_t *s)
{
    char path[80], date[11];
    json_t *o = slot_json(s);
    hc_date_format(s->day, date, sizeof date);
    json_object_set_new(o, "centerId", json_integer(center_id));
    snprintf(path, sizeof path, "/centers/%lld/slots/%s", (long long)center_id, date);
    hc_hal_self(req, o, "slot", path);
    return o;
}

static int get_reservation(hc_conn_t *c, int64_t id, void *out)
{
    return reservation_store_get(c, id, out);
}

static int get_cancellation(hc_conn_t *c, int64_t id, void *out)
{
    return reservation_store_cancellation_get(c, id, out);
}

static int get_center(hc_conn_t *c, int64_t id, void *out)
{
    return reservation_store_center_get(c, id, out);
}

/* Reads GET /reservations' own filters (centerId, status, date) into the
 * reservation_filter_t at extra. */
static void read_filter(hc_req_t *req, void *extra, hc_fields_t *f)
{
    reservation_filter_t *filter = extra;
    reservation_status_t st;
    int64_t day;
    hc_query_id(req, "centerId", &filter->center_id, f);
    const char *status = hc_req_query(req, "status");
    if (status) {
        if (reservation_status_parse(status, &st) != 0)
            hc_fields_add(f, "status", "must be one of REQUESTED, CONFIRMED, REJECTED, CANCELED");
        else
            filter->status = (int)st;
    }
    const char *date = hc_req_query(req, "date");
    if (date) {
        if (hc_date_parse(date, &day) != 0)
            hc_fields_add(f, "date", "must be a date YYYY-MM-DD");
        else
            filter->date = date;
    }
}

/* hc_resource_t.owner of reservations and cancellations: the booking's
 * phone (from PaymentApproved) and center. */
static void reservation_owner(const void *item, const char **phone, int64_t *center_id)
{
    const reservation_t *r = item;
    *phone = r->phone;
    *center_id = r->center_id;
}

static void cancellation_owner(const void *item, const char **phone, int64_t *center_id)
{
    const reservation_cancellation_t *x = item;
    *phone = x->phone;
    *center_id = x->center_id;
}

static const hc_resource_t reservation_res = {.what = "reservation",
                                              .collection = "reservations",
                                              .size = sizeof(reservation_t),
                                              .get = get_reservation,
                                              .to_json = reservation_json,
                                              .list = reservation_store_list,
                                              .filter = read_filter,
                                              .owner = reservation_owner};
static const hc_resource_t cancellation_res = {.what = "cancellation",
                                               .collection = "cancellations",
                                               .size = sizeof(reservation_cancellation_t),
                                               .get = get_cancellation,
                                               .to_json = cancellation_json,
                                               .list = reservation_store_cancellation_list,
                                               .owner = cancellation_owner};
static const hc_resource_t center_res = {.what = "center",
                                         .collection = "centers",
                                         .size = sizeof(reservation_center_t),
                                         .get = get_center,
                                         .to_json = center_json,
                                         .list = reservation_store_center_list};

/* ---- reservations ---- */

/* GET /reservations?orderId=&status=&centerId=&date=&page=&size= */
static void api_list_reservations(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    reservation_filter_t filter = {.status = -1};
    hc_api_list(req, svc->db, &reservation_res, &filter);
}

/* GET /reservations/{id} */
static void api_get_reservation(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &reservation_res);
}

/* Asks order, the booking's owner, to decide status `to` for r's booking.
 * Returns 0 with the status and version order reached in *status (size
 * bytes) and *version, or answers the refusal or failure itself and returns
 * nonzero. */
static int ask_order(hc_req_t *req, hc_service_t *svc, const reservation_t *r,
                     reservation_status_t to, const char *reason, char *status, size_t size,
                     int64_t *version)
{
    char url[400];
    int http = 0;
    json_t *resp = NULL;
    snprintf(url, sizeof url, "%s/orders/%lld/status", hc_cfg.order_url, (long long)r->order_id);
    json_t *body = json_pack("{s:s, s:I}", "status", reservation_status_name(to), "reservationId",
                             (json_int_t)r->id);
    if (reason)
        json_object_set_new(body, "reason", json_string(reason));
    hc_call_t call = {.method = "POST",
                      .url = url,
                      .body = body,
                      .trace = hc_req_trace(req),
                      .timeout_ms = hc_cfg.order_timeout_ms,
                      .caller = svc->def->name};
    int crc = hc_client_call(&call, &http, &resp);
    json_decref(body);
    const char *st = json_string_value(json_object_get(resp, "status"));
    json_t *v = json_object_get(resp, "version");
    int rc = -1;
    if (!crc && http == 200 && st && json_is_integer(v)) {
        hc_strlcpy(status, st, size);
        *version = json_integer_value(v);
        rc = 0;
    } else if (!crc && (http == 409 || http == 404)) {
        const char *msg = json_string_value(json_object_get(resp, "message"));
        char text[400];
        snprintf(text, sizeof text, "reservation %lld cannot become %s: %s", (long long)r->id,
                 reservation_status_name(to),
                 http == 404 ? "the booking is unknown to order"
                 : msg       ? msg
                             : "refused by order");
        hc_reply_error(req, 409, "invalid_state", text, NULL);
    } else {
        hc_warn("order could not decide on reservation %lld (%s, status %d)", (long long)r->id,
                hc_strerror(crc), http);
        hc_reply_header(req, "Retry-After", "2");
        hc_reply_error(req, 503, "order_unavailable",
                       "the booking's owner (order) cannot be reached; nothing was changed."
                       " Please try again in a moment.",
                       NULL);
    }
    json_decref(resp);
    return rc;
}

/* Applies an admin status change to the reservation with id (or, when id is
 * 0, to the one of order_id) and answers: 200 with the reservation (changed,
 * or unchanged for an idempotent repeat), 404, 409 naming why, or 503. Order
 * owns the booking's status, so it decides first; the reservation then
 * follows that decision (as it would from order's event) in one
 * transaction. reason is used for REJECTED only. */
static void admin_change(hc_req_t *req, hc_service_t *svc, int64_t id, int64_t order_id,
                         reservation_status_t to, const char *reason)
{
    reservation_t r;
    char status[16];
    int64_t version = 0;
    int applied = 0;
    hc_conn_t *c = hc_db_acquire(svc->db);
    int rc =
        id ? reservation_store_get(c, id, &r) : reservation_store_get_by_order(c, order_id, &r);
    hc_db_release(svc->db, c);
    if (rc == 0 && !hc_api_may_see(req, &reservation_res, &r))
        rc = HC_ENOTFOUND; /* another center's: answered as if there were none */
    if (rc == HC_ENOTFOUND) {
        if (id) {
            hc_reply_not_found(req, "reservation");
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "order %lld has no reservation", (long long)order_id);
            hc_reply_error(req, 404, "not_found", msg, NULL);
        }
        return;
    }
    if (rc) {
        hc_reply_storage_error(req, rc);
        return;
    }
    if (!hc_authz_may_manage(hc_req_principal(req), r.center_id)) {
        hc_reply_forbidden(req, "only an admin of the reservation's center (or the super-admin)"
                                " confirms or rejects it");
        return;
    }
    hc_log_ctx_order(r.order_id);
    reservation_transition_t t = reservation_admin_transition(r.status, to);
    if (t.move == RESERVATION_MOVE_INVALID) {
        char msg[160];
        snprintf(msg, sizeof msg, "reservation %lld is %s and cannot become %s", (long long)r.id,
                 reservation_status_name(r.status), reservation_status_name(to));
        hc_reply_error(req, 409, "invalid_state", msg, NULL);
        return;
    }
    if (t.move == RESERVATION_MOVE_NOOP) {
        hc_reply_json(req, 200, reservation_json(req, &r));
        return;
    }
    if (ask_order(req, svc, &r, to, to == RESERVATION_REJECTED ? reason : NULL, status,
                  sizeof status, &version))
        return; /* answered */
    c = hc_db_acquire(svc->db);
    rc = hc_conn_begin(c);
    if (!rc)
        rc = reservation_store_get(c, r.id, &r);
    if (!rc)
        rc = reservation_follow(c, &r, status, version, reason, hc_req_trace(req), &applied);
    if (rc)
        hc_conn_rollback(c);
    else
        rc = hc_service_commit(svc, c);
    hc_db_release(svc->db, c);
    if (rc)
        /* Order decided; its event brings this reservation along. */
        hc_reply_storage_error(req, rc);
    else
        /* The booking took the decision. A later one (the customer canceled
         * meanwhile) may already show: the answer is the reservation now. */
        hc_reply_json(req, 200, reservation_json(req, &r));
}

/* Reads {"status": CONFIRMED|REJECTED, "reason": ...} from body into *to and
 * reason (RESERVATION_REASON_BUF bytes, "" when none); adds field errors to f. */
static void read_status_body(json_t *body, reservation_status_t *to, char *reason, hc_fields_t *f)
{
    const char *status = NULL;
    int status_ok = 0;
    reason[0] = '\0';
    int have = hc_get_string(body, "status", &status, f);
    if (have == 0)
        hc_fields_add(f, "status", "is required (CONFIRMED or REJECTED)");
    else if (have > 0 && (reservation_status_parse(status, to) != 0 ||
                          (*to != RESERVATION_CONFIRMED && *to != RESERVATION_REJECTED)))
        hc_fields_add(f, "status", "must be CONFIRMED or REJECTED");
    else if (have > 0)
        status_ok = 1;
    int have_reason = hc_get_text(body, "reason", RESERVATION_REASON_MAX_CHARS, reason,
                                  RESERVATION_REASON_BUF, f);
    if (status_ok && have_reason == 0 && *to == RESERVATION_REJECTED)
        hc_fields_add(f, "reason", "is required to reject a reservation");
}

/* PATCH /reservations/{id} with {"status": "CONFIRMED"} or
 * {"status": "REJECTED", "reason": "..."} (any letter case). */
static void api_patch_reservation(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    json_t *body = NULL;
    hc_fields_t f;
    reservation_status_t to = RESERVATION_CONFIRMED;
    char reason[RESERVATION_REASON_BUF];
    hc_fields_init(&f);
    int64_t id = hc_req_param_id(req, 0);
    if (!id) {
        hc_reply_not_found(req, "reservation");
        goto out;
    }
    if (hc_req_json(req, &body) != 0)
        goto out;
    static const char *const known[] = {"status", "reason", NULL};
    hc_fields_unknown(body, known, &f);
    read_status_body(body, &to, reason, &f);
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the request has invalid fields", &f);
        goto out;
    }
    admin_change(req, svc, id, 0, to, reason);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* POST /reservations with {"orderId": N, "status": ..., "reason": ...}: the
 * seed's admin call (`http :8082/reservations orderId=1 status="confirmed"`),
 * applied to the reservation of that order. */
static void api_post_reservations(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    json_t *body = NULL;
    hc_fields_t f;
    reservation_status_t to = RESERVATION_CONFIRMED;
    char reason[RESERVATION_REASON_BUF];
    int64_t order_id = 0;
    hc_fields_init(&f);
    if (hc_req_json(req, &body) != 0)
        goto out;
    static const char *const known[] = {"orderId", "status", "reason", NULL};
    hc_fields_unknown(body, known, &f);
    int have = hc_get_int(body, "orderId", &order_id, &f);
    if (have == 0)
        hc_fields_add(&f, "orderId", "is required");
    else if (have > 0 && order_id <= 0)
        hc_fields_add(&f, "orderId", "must be a positive integer");
    read_status_body(body, &to, reason, &f);
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the request has invalid fields", &f);
        goto out;
    }
    hc_log_ctx_order(order_id);
    admin_change(req, svc, 0, order_id, to, reason);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* POST /reservations/{id}/confirm (no body needed). */
static void api_confirm_reservation(hc_req_t *req, void *ud)
{
    int64_t id = hc_req_param_id(req, 0);
    if (!id) {
        hc_reply_not_found(req, "reservation");
        return;
    }
    admin_change(req, ud, id, 0, RESERVATION_CONFIRMED, NULL);
}

/* POST /reservations/{id}/reject with {"reason": "..."} (required). */
static void api_reject_reservation(hc_req_t *req, void *ud)
{
    json_t *body = NULL;
    hc_fields_t f;
    char reason[RESERVATION_REASON_BUF];
    size_t len = 0;
    hc_fields_init(&f);
    int64_t id = hc_req_param_id(req, 0);
    if (!id) {
        hc_reply_not_found(req, "reservation");
        goto out;
    }
    hc_req_body(req, &len);
    if (len == 0) {
        hc_fields_add(&f, "reason", "is required to reject a reservation");
        hc_reply_invalid(req, "the request has invalid fields", &f);
        goto out;
    }
    if (hc_req_json(req, &body) != 0)
        goto out;
    static const char *const known[] = {"reason", NULL};
    hc_fields_unknown(body, known, &f);
    if (hc_get_text(body, "reason", RESERVATION_REASON_MAX_CHARS, reason, sizeof reason, &f) == 0)
        hc_fields_add(&f, "reason", "is required to reject a reservation");
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the request has invalid fields", &f);
        goto out;
    }
    admin_change(req, ud, id, 0, RESERVATION_REJECTED, reason);
out:
    json_decref(body);
    hc_fields_cleanup(&f);
}

/* ---- cancellations ---- */

/* GET /cancellations?orderId=&page=&size= */
static void api_list_cancellations(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &cancellation_res, NULL);
}

/* GET /cancellations/{id} */
static void api_get_cancellation(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &cancellation_res);
}

/* ---- centers and slots ---- */

/* GET /centers?page=&size= */
static void api_list_centers(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &center_res, NULL);
}

/* Reads the center of path parameter 0 into *ce; on failure answers (404 or
 * the storage error) and returns nonzero. */
static int load_center(hc_req_t *req, hc_conn_t *c, reservation_center_t *ce)
{
    int64_t id = hc_req_param_id(req, 0);
    int rc = id ? reservation_store_center_get(c, id, ce) : HC_ENOTFOUND;
    if (rc == HC_ENOTFOUND)
        hc_reply_not_found(req, "center");
    else if (rc)
        hc_reply_storage_error(req, rc);
    return rc;
}

/* GET /centers/{id} */
static void api_get_center(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &center_res);
}

/* GET /centers/{id}/slots?from=YYYY-MM-DD&to=YYYY-MM-DD: one entry per day
 * (default: tomorrow and the 13 days after it; at most 92 days). */
static void api_list_slots(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    reservation_center_t ce;
    reservation_slot_t slots[RESERVATION_SLOT_MAX_DAYS];
    int64_t from_day, to_day;
    const char *field = NULL, *msg = NULL;
    hc_conn_t *c = hc_db_acquire(svc->db);
    if (load_center(req, c, &ce) != 0)
        goto out;
    if (reservation_slot_range(hc_today(), hc_req_query(req, "from"), hc_req_query(req, "to"),
                               &from_day, &to_day, &field, &msg) != 0) {
        hc_fields_t f;
        hc_fields_init(&f);
        hc_fields_add(&f, field, "%s", msg);
        hc_reply_invalid(req, "the request has invalid fields", &f);
        hc_fields_cleanup(&f);
        goto out;
    }
    size_t n = (size_t)(to_day - from_day + 1);
    int rc = reservation_store_slots(c, ce.id, ce.daily_capacity, from_day, n, slots);
    if (rc) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(items, slot_resource(req, ce.id, &slots[i]));
    json_t *page = hc_hal_page(req, "slots", items, 0, (int64_t)n, (int64_t)n);
    char from[11], to[11];
    hc_date_format(from_day, from, sizeof from);
    hc_date_format(to_day, to, sizeof to);
    json_object_set_new(page, "centerId", json_integer(ce.id));
    json_object_set_new(page, "from", json_string(from));
    json_object_set_new(page, "to", json_string(to));
    hc_reply_json(req, 200, page);
out:
    hc_db_release(svc->db, c);
}

/* Parses path parameter 1 as a date; on failure answers 400 and returns nonzero. */
static int path_date(hc_req_t *req, int64_t *day)
{
    if (hc_date_parse(hc_req_param(req, 1), day) == 0)
        return 0;
    hc_fields_t f;
    hc_fields_init(&f);
    hc_fields_add(&f, "date", "must be a date YYYY-MM-DD");
    hc_reply_invalid(req, "the request has invalid fields", &f);
    hc_fields_cleanup(&f);
    return HC_EINVAL;
}

/* GET /centers/{id}/slots/{date} */
static void api_get_slot(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    reservation_center_t ce;
    reservation_slot_t s;
    int64_t day;
    hc_conn_t *c = hc_db_acquire(svc->db);
    if (load_center(req, c, &ce) != 0 || path_date(req, &day) != 0)
        goto out;
    int rc = reservation_store_slots(c, ce.id, ce.daily_capacity, day, 1, &s);
    if (rc)
        hc_reply_storage_error(req, rc);
    else
        hc_reply_json(req, 200, slot_resource(req, ce.id, &s));
out:
    hc_db_release(svc->db, c);
}

/* PUT /centers/{id}/slots/{date} with {"capacity": N}: sets that day's
 * capacity (0..100000). A capacity below the current bookings is allowed: the
 * day then takes no new bookings, and existing ones stay. */
static void api_put_slot(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    reservation_center_t ce;
    reservation_slot_t s;
    json_t *body = NULL;
    hc_fields_t f;
    int64_t day, capacity = 0;
    int rc;
    hc_fields_init(&f);
    hc_conn_t *c = hc_db_acquire(svc->db);
    if (load_center(req, c, &ce) != 0)
        goto out;
    if (!hc_authz_may_manage(hc_req_principal(req), ce.id)) {
        /* Centers are public (the catalog): a 403 confirms nothing new. */
        hc_reply_forbidden(req, "only an admin of this center (or the super-admin) sets its"
                                " capacity");
        goto out;
    }
    if (path_date(req, &day) != 0)
        goto out;
    if (hc_req_json(req, &body) != 0)
        goto out;
    static const char *const known[] = {"capacity", NULL};
    hc_fields_unknown(body, known, &f);
    int have = hc_get_int(body, "capacity", &capacity, &f);
    if (have == 0)
        hc_fields_add(&f, "capacity", "is required");
    else if (have > 0 && !reservation_capacity_valid(capacity))
        hc_fields_add(&f, "capacity", "must be between 0 and %d", RESERVATION_CAPACITY_MAX);
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the request has invalid fields", &f);
        goto out;
    }
    if ((rc = hc_conn_begin(c))) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    rc = reservation_store_set_override(c, ce.id, day, capacity);
    if (!rc)
        rc = reservation_store_slots(c, ce.id, ce.daily_capacity, day, 1, &s);
    if (rc) {
        hc_conn_rollback(c);
        hc_reply_storage_error(req, rc);
        goto out;
    }
    if ((rc = hc_service_commit(svc, c))) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    char date[11];
    hc_date_format(day, date, sizeof date);
    hc_info("capacity of center %lld on %s set to %lld (booked %lld)", (long long)ce.id, date,
            (long long)capacity, (long long)s.booked);
    hc_reply_json(req, 200, slot_resource(req, ce.id, &s));
out:
    hc_db_release(svc->db, c);
    json_decref(body);
    hc_fields_cleanup(&f);
}

int reservation_api_register(hc_service_t *svc)
{
    hc_http_t *h = svc->http;
    hc_http_route(h, "GET", "/reservations", "orderId,status,centerId,date,page,size",
                  api_list_reservations, svc);
    hc_http_route(h, "POST", "/reservations", NULL, api_post_reservations, svc);
    hc_http_route(h, "GET", "/reservations/{id}", NULL, api_get_reservation, svc);
    hc_http_route(h, "PATCH", "/reservations/{id}", NULL, api_patch_reservation, svc);
    hc_http_route(h, "POST", "/reservations/{id}/confirm", NULL, api_confirm_reservation, svc);
    hc_http_route(h, "POST", "/reservations/{id}/reject", NULL, api_reject_reservation, svc);
    hc_http_route(h, "GET", "/cancellations", "orderId,page,size", api_list_cancellations, svc);
    hc_http_route(h, "GET", "/cancellations/{id}", NULL, api_get_cancellation, svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "GET", "/centers", "page,size", api_list_centers, svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "GET", "/centers/{id}", NULL, api_get_center, svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "GET", "/centers/{id}/slots", "from,to", api_list_slots,
                     svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "GET", "/centers/{id}/slots/{date}", NULL, api_get_slot,
                     svc);
    hc_http_route(h, "PUT", "/centers/{id}/slots/{date}", NULL, api_put_slot, svc);
    return 0;
}
