/* order_store: the order service's tables and SQL (orders with their status
 * history, idempotency keys) and its migrations. */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"
#include "hc_store.h"
#include "order_domain.h"

#define ORDER_N_MIGRATIONS 3
extern const hc_migration_t order_migrations[ORDER_N_MIGRATIONS];

/* Inserts o (status and version as set by the caller) and fills id and
 * timestamps. Returns 0 or an hc_err. */
int order_store_insert(hc_conn_t *c, order_t *o);

/* Reads order id into *out. Returns 0 or HC_ENOTFOUND / other hc_err. */
int order_store_get(hc_conn_t *c, int64_t id, order_t *out);

/* Writes every mutable field of o (status, version, history, reason, payment
 * and reservation ids, reservation fact, cancel flag, updated_at), provided
 * the stored version is still expected_version. Returns 0, HC_ECONFLICT when
 * another writer changed the order meanwhile, or an hc_err. */
int order_store_update(hc_conn_t *c, const order_t *o, int64_t expected_version);

/* hc_list_cb: order_t bookings newest first, those of q->phone when set. */
int order_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                     int64_t *total);

/* Ids of PENDING orders created before before_ms (at most max). */
int order_store_stale_pending(hc_conn_t *c, int64_t before_ms, int64_t *ids, size_t max, size_t *n);

/* Idempotency records: a key maps to the first answer given for it, and to a
 * keyed digest of the request it answered (see hc_auth_digest). */
typedef struct order_idem {
    int64_t order_id;
    int status;      /* 0 while the first request is still running */
    char *body;      /* the first answer's JSON (caller frees), NULL while running */
    char digest[65]; /* digest of the first request; "" for keys stored before digests */
} order_idem_t;

/* Looks key up in scope. Returns 0 (found), HC_ENOTFOUND or another hc_err. */
int order_idem_get(hc_conn_t *c, const char *scope, const char *key, order_idem_t *out);
/* Claims key for a running request with its digest. HC_ECONFLICT when
 * already claimed. */
int order_idem_claim(hc_conn_t *c, const char *scope, const char *key, const char *digest,
                     int64_t order_id);
/* Stores the answer for a claimed key. */
int order_idem_finish(hc_conn_t *c, const char *scope, const char *key, int status,
                      const char *body);
/* Forgets a key (the answer should not be replayed, e.g. a 503). */
int order_idem_forget(hc_conn_t *c, const char *scope, const char *key);

#endif
