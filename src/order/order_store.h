/* order_store: the order service's tables and SQL (orders, idempotency keys). */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"

typedef struct order {
    int64_t id;
    char name[256];
    char phone[16];       /* digits only; shown masked */
    char order_type[32];
    char checkup_date[11];
    int64_t center_id;
    char pay_method[8];
    char card_last4[5];   /* the only card digits ever stored */
    int64_t amount;       /* KRW */
    int64_t payment_id;   /* 0 = none yet */
    char status[16];
    char reason[256];
    int cancel_requested; /* a refund was asked of payment for a cancel */
    char trace_id[33];    /* trace of the booking request */
    char created_at[32];
    char updated_at[32];
    int64_t created_ms;
} order_t;

#define ORDER_N_MIGRATIONS 2
extern const hc_migration_t order_migrations[ORDER_N_MIGRATIONS];

/* Inserts o (status as set by the caller) and fills id and timestamps. */
int order_store_insert(hc_conn_t *c, order_t *o);

/* Reads order id into *out. Returns 0 or HC_ENOTFOUND / other hc_err. */
int order_store_get(hc_conn_t *c, int64_t id, order_t *out);

/* Moves the order to status if the status rules allow it (see order_domain),
 * also setting reason (NULL keeps it) and payment_id (0 keeps it). *moved (may
 * be NULL) tells whether the status changed. The order is re-read into o. */
int order_store_move(hc_conn_t *c, int64_t id, const char *status, const char *reason,
                     int64_t payment_id, order_t *o, int *moved);

/* Marks that a refund was requested for a cancel. */
int order_store_mark_cancel_requested(hc_conn_t *c, int64_t id);

/* Lists orders (optionally of one phone, digits), newest first. *items is an
 * array the caller frees; *total counts all matches. */
int order_store_list(hc_conn_t *c, const char *phone, int64_t page, int64_t size, order_t **items,
                     size_t *n, int64_t *total);

/* Ids of PENDING orders created before before_ms (at most max). */
int order_store_stale_pending(hc_conn_t *c, int64_t before_ms, int64_t *ids, size_t max, size_t *n);

/* Idempotency records: a key maps to the first answer given for it. */
typedef struct order_idem {
    int64_t order_id;
    int status;  /* 0 while the first request is still running */
    char *body;  /* the first answer's JSON (caller frees), NULL while running */
} order_idem_t;

/* Looks key up in scope. Returns 0 (found), HC_ENOTFOUND or another hc_err. */
int order_idem_get(hc_conn_t *c, const char *scope, const char *key, order_idem_t *out);
/* Claims key for a running request. HC_ECONFLICT when already claimed. */
int order_idem_claim(hc_conn_t *c, const char *scope, const char *key, int64_t order_id);
/* Stores the answer for a claimed key. */
int order_idem_finish(hc_conn_t *c, const char *scope, const char *key, int status, const char *body);
/* Forgets a key (the answer should not be replayed, e.g. a 503). */
int order_idem_forget(hc_conn_t *c, const char *scope, const char *key);

#endif
