/* payment_store: the payment service's SQL (table payments, one row per
 * orderId) and its migrations, through the hc_db interface. Functions that
 * change rows run inside the caller's open transaction. */
#ifndef PAYMENT_STORE_H
#define PAYMENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"
#include "hc_store.h"
#include "hc_trace.h"
#include "payment_domain.h"

#define PAYMENT_N_MIGRATIONS 3

/* The schema steps, for the service definition (outbox and inbox included). */
extern const hc_migration_t payment_migrations[PAYMENT_N_MIGRATIONS];

/* Reads the record with id into *out. Returns 0, HC_ENOTFOUND or another hc_err. */
int payment_store_find(hc_conn_t *c, int64_t id, payment_t *out);

/* Reads the record of order_id into *out. Returns 0, HC_ENOTFOUND or an hc_err. */
int payment_store_find_by_order(hc_conn_t *c, int64_t order_id, payment_t *out);

/* Inserts p (its id is ignored) and sets p->id. Returns 0, HC_ECONFLICT when
 * the orderId already has a record, or another hc_err. */
int payment_store_insert(hc_conn_t *c, payment_t *p);

/* Cancels the APPROVED record p inside c's open transaction: applies
 * payment_cancel with reason (NULL: none) to p, writes it and adds
 * PaymentCanceled (a child of trace) to the outbox. Returns 0, HC_ECONFLICT
 * when p is not APPROVED (in memory or in the table), or another hc_err; on
 * an error the caller rolls back. */
int payment_store_cancel(hc_conn_t *c, payment_t *p, const char *reason, const hc_trace_t *trace);

/* hc_list_cb: payment_t records in id order, those of q->order_id when set. */
int payment_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                       int64_t *total);

#endif
