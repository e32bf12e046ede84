/* hc_api: one resource, a page of them, and the common error answers. */
#include "hc_api.h"

#include <stdio.h>
#include <stdlib.h>

#include "hc_authz.h"
#include "hc_buf.h"
#include "hc_err.h"

void hc_api_get(hc_req_t *req, hc_db_t *db, const hc_resource_t *res)
{
    hc_api_get_id(req, db, res, hc_req_param_id(req, 0));
}

int hc_api_may_see(hc_req_t *req, const hc_resource_t *res, const void *item)
{
    const char *phone = NULL;
    int64_t center = 0;
    if (!res->owner)
        return 1;
    res->owner(item, &phone, &center);
    return hc_authz_may_see(hc_req_principal(req), phone, center);
}

void hc_api_get_id(hc_req_t *req, hc_db_t *db, const hc_resource_t *res, int64_t id)
{
    void *item = hc_xcalloc(1, res->size);
    int rc = HC_ENOTFOUND;
    if (id) {
        hc_conn_t *c = hc_db_acquire(db);
        rc = res->get(c, id, item);
        hc_db_release(db, c);
    }
    if (rc == 0 && !hc_api_may_see(req, res, item))
        rc = HC_ENOTFOUND; /* not the caller's: its existence is not confirmed */
    if (rc == HC_ENOTFOUND)
        hc_reply_not_found(req, res->what);
    else if (rc)
        hc_reply_storage_error(req, rc);
    else
        hc_reply_json(req, 200, res->to_json(req, item));
    free(item);
}

/* Answers the page q asked of res: the rows of res->list, or its error. */
static void reply_page(hc_req_t *req, hc_db_t *db, const hc_resource_t *res,
                       const hc_list_query_t *q)
{
    void *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = res->list(c, q, &items, &n, &total);
    hc_db_release(db, c);
    if (rc) {
        hc_reply_storage_error(req, rc);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, res->to_json(req, (const char *)items + i * res->size));
        hc_reply_json(req, 200, hc_hal_page(req, res->collection, arr, q->page, q->size, total));
    }
    free(items);
}

void hc_api_list(hc_req_t *req, hc_db_t *db, const hc_resource_t *res, void *extra)
{
    /* A resource without owners (the catalog) is listed whole. */
    hc_list_query_t q = {.extra = extra, .who = res->owner ? hc_req_principal(req) : NULL};
    char phone[16];
    hc_fields_t f;
    if (hc_req_paging(req, &q.page, &q.size))
        return; /* answered */
    hc_fields_init(&f);
    hc_query_id(req, "orderId", &q.order_id, &f);
    if (hc_query_phone(req, "phone", phone, sizeof phone, &f) > 0)
        q.phone = phone;
    if (res->filter)
        res->filter(req, extra, &f);
    if (hc_fields_count(&f))
        hc_reply_invalid(req, "the query has invalid parameters", &f);
    else
        reply_page(req, db, res, &q);
    hc_fields_cleanup(&f);
}

void hc_query_id(hc_req_t *req, const char *name, int64_t *out, hc_fields_t *f)
{
    const char *s = hc_req_query(req, name);
    long long v = 0;
    *out = 0;
    if (!s)
        return;
    if (hc_parse_i64(s, &v) != 0 || v <= 0) {
        hc_fields_add(f, name, "must be a positive integer");
        return;
    }
    *out = v;
}

int hc_query_phone(hc_req_t *req, const char *name, char *out, size_t size, hc_fields_t *f)
{
    const char *s = hc_req_query(req, name);
    out[0] = '\0';
    if (!s)
        return 0;
    if (hc_phone_normalize(s, out, size) == 0)
        return 1;
    hc_fields_add(f, name, "must be a Korean mobile number such as 010-1234-5678");
    out[0] = '\0';
    return -1;
}
