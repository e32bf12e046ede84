/* notification_api: read-only HTTP handlers for mypages and notifications, in
 * the Spring Data REST shapes of SYSTEM.md; phones only ever leave masked. */
#include "notification_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_api.h"
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

/* Builds the resource of the notification_mypage_t at item (caller owns the
 * result). */
static json_t *mypage_json(hc_req_t *req, const void *item)
{
    const notification_mypage_t *m = item;
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
        json_array_append_new(
            hist, json_pack("{s:s, s:s}", "status", m->history[i].status, "at", m->history[i].at));
    json_object_set_new(o, "history", hist);
    set_str(o, "createdAt", m->created_at);
    set_str(o, "updatedAt", m->updated_at);
    snprintf(path, sizeof path, "/mypages/%lld", (long long)m->order_id);
    hc_hal_self(req, o, "mypage", path);
    return o;
}

/* Builds the resource of the notification_msg_t at item (caller owns the
 * result). */
static json_t *msg_json(hc_req_t *req, const void *item)
{
    const notification_msg_t *m = item;
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

static int get_mypage(hc_conn_t *c, int64_t order_id, void *out)
{
    notification_mypage_t *m = out;
    int rc = notification_store_get(c, order_id, m);
    if (!rc && m->version == 0)
        rc = HC_ENOTFOUND; /* only a refund seen yet: nothing to show */
    return rc;
}

static int get_notification(hc_conn_t *c, int64_t id, void *out)
{
    return notification_store_get_msg(c, id, out);
}

/* hc_resource_t.owner of a mypage and of a notification: the booking's
 * phone and center. */
static void mypage_owner(const void *item, const char **phone, int64_t *center_id)
{
    const notification_mypage_t *m = item;
    *phone = m->phone;
    *center_id = m->center_id;
}

static void msg_owner(const void *item, const char **phone, int64_t *center_id)
{
    const notification_msg_t *m = item;
    *phone = m->owner_phone;
    *center_id = m->owner_center;
}

static const hc_resource_t mypage_res = {.what = "mypage",
                                         .collection = "mypages",
                                         .size = sizeof(notification_mypage_t),
                                         .get = get_mypage,
                                         .to_json = mypage_json,
                                         .list = notification_store_list,
                                         .owner = mypage_owner};
static const hc_resource_t notification_res = {.what = "notification",
                                               .collection = "notifications",
                                               .size = sizeof(notification_msg_t),
                                               .get = get_notification,
                                               .to_json = msg_json,
                                               .list = notification_store_list_msgs,
                                               .owner = msg_owner};

/* GET /mypages[?phone=&page=&size=] */
static void api_list_mypages(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &mypage_res, NULL);
}

/* GET /mypages/{id} (id = orderId) */
static void api_get_mypage(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &mypage_res);
}

/* GET /mypages/search/findByOrderId?orderId=N: the single mypage, 404 if none. */
static void api_find_by_order_id(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    int64_t order_id = 0;
    hc_fields_t f;
    hc_fields_init(&f);
    if (!hc_req_query(req, "orderId"))
        hc_fields_add(&f, "orderId", "is required");
    hc_query_id(req, "orderId", &order_id, &f);
    if (hc_fields_count(&f))
        hc_reply_invalid(req, "the orderId query parameter is missing or not an id", &f);
    else
        hc_api_get_id(req, svc->db, &mypage_res, order_id);
    hc_fields_cleanup(&f);
}

/* GET /notifications[?orderId=&page=&size=] */
static void api_list_notifications(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_list(req, svc->db, &notification_res, NULL);
}

/* GET /notifications/{id} */
static void api_get_notification(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    hc_api_get(req, svc->db, &notification_res);
}

int notification_api_register(hc_service_t *svc)
{
    hc_http_t *h = svc->http;
    hc_http_route(h, "GET", "/mypages", "phone,page,size", api_list_mypages, svc);
    hc_http_route(h, "GET", "/mypages/search/findByOrderId", "orderId", api_find_by_order_id, svc);
    hc_http_route(h, "GET", "/mypages/{id}", NULL, api_get_mypage, svc);
    hc_http_route(h, "GET", "/notifications", "orderId,page,size", api_list_notifications, svc);
    hc_http_route(h, "GET", "/notifications/{id}", NULL, api_get_notification, svc);
    return 0;
}
