/* hc_api: the answers every service's resources give the same way: one
 * resource by the id in its path, a page of a collection, and the common
 * errors (404 naming the resource, field errors). A service describes each
 * resource once (hc_resource_t) and its handlers call these. */
#ifndef HC_API_H
#define HC_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"
#include "hc_http.h"
#include "hc_store.h"
#include "hc_valid.h"

/* One kind of resource of a service. */
typedef struct hc_resource {
    const char *what;       /* singular, for messages: "payment history" */
    const char *collection; /* the page's _embedded name: "paymentHistories" */
    size_t size;            /* bytes of one item (the store's struct) */
    /* Reads item id into out (size bytes). Returns 0, HC_ENOTFOUND or an hc_err. */
    int (*get)(hc_conn_t *c, int64_t id, void *out);
    /* The item as a resource with its _links. Caller owns the result. */
    json_t *(*to_json)(hc_req_t *req, const void *item);
    /* The collection's store call (NULL: not listed). */
    hc_list_cb list;
    /* Reads the list's own query parameters into extra, adding errors to f
     * (NULL: none beyond page, size, orderId and phone). */
    void (*filter)(hc_req_t *req, void *extra, hc_fields_t *f);
    /* Whose the item is: its owner's phone (digits, "" or NULL when it names
     * none) and center (0: none), for hc_authz_may_see. NULL: every caller
     * with a token may see every item (the catalog). */
    void (*owner)(const void *item, const char **phone, int64_t *center_id);
} hc_resource_t;

/* 1 when the caller of req may see item of res (hc_authz_may_see over
 * res->owner). */
int hc_api_may_see(hc_req_t *req, const hc_resource_t *res, const void *item);

/* GET of one resource: the id in path parameter 0, read with res->get and
 * answered with res->to_json; 404 when the parameter is not an id, there is
 * no such item or the caller may not see it (hc_api_may_see), the storage
 * error otherwise. */
void hc_api_get(hc_req_t *req, hc_db_t *db, const hc_resource_t *res);

/* The same for the item id (0: none, 404) found elsewhere in the request. */
void hc_api_get_id(hc_req_t *req, hc_db_t *db, const hc_resource_t *res, int64_t id);

/* GET of a page of res's collection: page and size, the orderId and phone
 * filters (the route's query list says which a collection takes) and
 * res->filter's own into extra (storage for it, or NULL), then res->list,
 * scoped to the rows the caller may see (hc_list_query_t.who): a customer
 * asking ?phone= of another phone gets an empty page, which says nothing.
 * 400 validation_failed naming every bad parameter, the storage error, or the
 * page with its links. */
void hc_api_list(hc_req_t *req, hc_db_t *db, const hc_resource_t *res, void *extra);

/* Reads an optional positive id from query parameter name into *out (0 when
 * absent); anything else, an empty value included, adds an error to f. */
void hc_query_id(hc_req_t *req, const char *name, int64_t *out, hc_fields_t *f);

/* Reads an optional Korean mobile number from query parameter name into out
 * (digits, >= 12 bytes). Returns 1 when present and valid, 0 when absent,
 * -1 when invalid (an error is added to f). */
int hc_query_phone(hc_req_t *req, const char *name, char *out, size_t size, hc_fields_t *f);

#endif
