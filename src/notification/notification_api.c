/* notification_api: read-only HTTP handlers for mypages and notifications, in
 * the Spring Data REST shapes of SYSTEM.md; phones only ever leave masked. */
#include "notification_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_valid.h"
#include "notification_store.h"

/* Sets key to s, or to null when s is unknown ("") or not valid UTF-8. */
static void set_str(json_t *o, const char *key, const char *s)
{
    json_t *v = s && *s ? json_string(s) : NULL;
    json_object_set_new(o, key, v ? v : json_null());
}

/* Sets key to v, or to null when v is unknown (0). */
static void set_id(json_t *o, const char *key, int64_t v)
{
    json_object_set_new(o, key, v ? json_integer((json_int_t)v) : json_null());
}

/* Builds the mypage resource of m (caller owns the result). */
static json_t *mypage_json(hc_req_t *req, const notification_mypage_t *m)
{
    char masked[20], path[64];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)m->order_id));
    json_object_set_new(o, "orderId", json_integer((json_int_t)m->order_id));
    set_str(o, "name", m->name);
    if (m->phone[0]) {
        hc_phone_mask(m->phone, masked, sizeof masked);
        set_str(o, "phone", masked);
    } else {
        set_str(o, "phone", NULL);
    }
    set_str(o, "orderType", m->order_type);
    set_str(o, "checkupDate", m->checkup_date);
    set_id(o, "centerId", m->center_id);
    set_id(o, "amount", m->amount);
    set_str(o, "status", m->status);
    set_id(o, "paymentId", m->payment_id);
    set_id(o, "reservationId", m->reservation_id);
    json_object_set_new(o, "refunded", json_boolean(m->refunded));
    json_object_set_new(o, "version", json_integer((json_int_t)m->version));
    json_t *hist = json_array();
    for (size_t i = 0; i < m->n_history; i++)
        json_array_append_new(hist, json_pack("{s:s, s:s}", "status", m->history[i].status, "at",
                                              m->history[i].at));
    json_object_set_new(o, "history", hist);
    set_str(o, "createdAt", m->created_at);
    set_str(o, "updatedAt", m->updated_at);
    snprintf(path, sizeof path, "/mypages/%lld", (long long)m->order_id);
    hc_hal_self(req, o, "mypage", path);
    return o;
}

/* Builds the notification resource of m (caller owns the result). */
static json_t *msg_json(hc_req_t *req, const notification_msg_t *m)
{
    char path[64];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)m->id));
    json_object_set_new(o, "orderId", json_integer((json_int_t)m->order_id));
    set_str(o, "to", m->to);
    set_str(o, "orderStatus", m->order_status);
    set_str(o, "text", m->text);
    set_str(o, "provider", m->provider);
    set_str(o, "deliveryStatus", m->delivery_status);
    json_object_set_new(o, "attempts", json_integer(m->attempts));
    if (m->last_error[0])
        set_str(o, "lastError", m->last_error);
    set_str(o, "createdAt", m->created_at);
    set_str(o, "updatedAt", m->updated_at);
    snprintf(path, sizeof path, "/notifications/%lld", (long long)m->id);
    hc_hal_self(req, o, "notification", path);
    return o;
}

/* Reads query argument name as a positive id into *out (0 when absent).
 * Returns 0, or HC_EINVAL after answering 400 when present but not an id or
 * when required and absent. */
static int query_id(hc_req_t *req, const char *name, int required, int64_t *out)
{
    const char *s = hc_req_query(req, name);
    long long v = 0;
    *out = 0;
    if (!s && !required)
        return 0;
    if (!s || hc_parse_i64(s, &v) || v <= 0) {
        hc_fields_t f;
        hc_fields_init(&f);
        hc_fields_add(&f, name, s ? "must be a positive integer" : "is required");
        hc_reply_error(req, 400, "validation_failed",
                       s ? "the query parameter is not a valid id" : "a query parameter is missing",
                       hc_fields_take(&f));
        hc_fields_cleanup(&f);
        return HC_EINVAL;
    }
    *out = v;
    return 0;
}

/* Answers the mypage of order_id, or 404. */
static void reply_mypage(hc_req_t *req, hc_db_t *db, int64_t order_id)
{
    notification_mypage_t m;
    int rc = HC_ENOTFOUND;
    if (order_id > 0) {
        hc_conn_t *c = hc_db_acquire(db);
        rc = notification_store_get(c, order_id, &m);
        hc_db_release(db, c);
        if (!rc && m.version == 0)
            rc = HC_ENOTFOUND; /* only a refund seen yet: nothing to show */
    }
    if (rc == HC_ENOTFOUND)
        hc_reply_error(req, 404, "not_found", "no mypage for this order", NULL);
    else if (rc)
        hc_reply_storage_error(req, rc);
    else
        hc_reply_json(req, 200, mypage_json(req, &m));
}

/* GET /mypages[?phone=&page=&size=] */
static void api_list_mypages(hc_req_t *req, void *ud)
{
    hc_db_t *db = ud;
    int64_t page, size, total = 0;
    if (hc_req_paging(req, &page, &size))
        return;
    const char *phone_in = hc_req_query(req, "phone");
    char phone[16];
    if (phone_in && hc_phone_normalize(phone_in, phone, sizeof phone) != 0) {
        hc_fields_t f;
        hc_fields_init(&f);
        hc_fields_add(&f, "phone", "must be a Korean mobile number such as 010-1234-5678");
        hc_reply_error(req, 400, "validation_failed", "the phone filter is not a valid number",
                       hc_fields_take(&f));
        hc_fields_cleanup(&f);
        return;
    }
    notification_mypage_t *items = NULL;
    size_t n = 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = notification_store_list(c, phone_in ? phone : NULL, page, size, &items, &n, &total);
    hc_db_release(db, c);
    if (rc) {
        hc_reply_storage_error(req, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, mypage_json(req, &items[i]));
    free(items);
    hc_reply_json(req, 200, hc_hal_page(req, "mypages", arr, page, size, total));
}

/* GET /mypages/{id} (id = orderId) */
static void api_get_mypage(hc_req_t *req, void *ud)
{
    reply_mypage(req, ud, hc_req_param_id(req, 0));
}

/* GET /mypages/search/findByOrderId?orderId=N: the single mypage, 404 if none. */
static void api_find_by_order_id(hc_req_t *req, void *ud)
{
    int64_t order_id;
    if (query_id(req, "orderId", 1, &order_id))
        return;
    reply_mypage(req, ud, order_id);
}

/* GET /notifications[?orderId=&page=&size=] */
static void api_list_notifications(hc_req_t *req, void *ud)
{
    hc_db_t *db = ud;
    int64_t page, size, total = 0, order_id;
    if (hc_req_paging(req, &page, &size) || query_id(req, "orderId", 0, &order_id))
        return;
    notification_msg_t *items = NULL;
    size_t n = 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = notification_store_list_msgs(c, order_id, page, size, &items, &n, &total);
    hc_db_release(db, c);
    if (rc) {
        hc_reply_storage_error(req, rc);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, msg_json(req, &items[i]));
    free(items);
    hc_reply_json(req, 200, hc_hal_page(req, "notifications", arr, page, size, total));
}

/* GET /notifications/{id} */
static void api_get_notification(hc_req_t *req, void *ud)
{
    hc_db_t *db = ud;
    int64_t id = hc_req_param_id(req, 0);
    notification_msg_t m;
    int rc = HC_ENOTFOUND;
    if (id > 0) {
        hc_conn_t *c = hc_db_acquire(db);
        rc = notification_store_get_msg(c, id, &m);
        hc_db_release(db, c);
    }
    if (rc == HC_ENOTFOUND)
        hc_reply_error(req, 404, "not_found", "no such notification", NULL);
    else if (rc)
        hc_reply_storage_error(req, rc);
    else
        hc_reply_json(req, 200, msg_json(req, &m));
}

void notification_api_register(hc_http_t *h, hc_db_t *db)
{
    hc_http_route(h, "GET", "/mypages", "phone,page,size", api_list_mypages, db);
    hc_http_route(h, "GET", "/mypages/search/findByOrderId", "orderId", api_find_by_order_id, db);
    hc_http_route(h, "GET", "/mypages/{id}", NULL, api_get_mypage, db);
    hc_http_route(h, "GET", "/notifications", "orderId,page,size", api_list_notifications, db);
    hc_http_route(h, "GET", "/notifications/{id}", NULL, api_get_notification, db);
}
