/* reservation_store: the SQL of the reservation service (centers, per-date
 * capacity overrides, the slot usage counter, reservations, cancellations and
 * voided orders) and its migrations, through the hc_db interface. */
#ifndef RESERVATION_STORE_H
#define RESERVATION_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_config.h"
#include "hc_db.h"
#include "hc_store.h"
#include "reservation_domain.h"

/* The schema steps, oldest first; bump the count when adding one. */
#define RESERVATION_N_MIGRATIONS 4
extern const hc_migration_t reservation_migrations[RESERVATION_N_MIGRATIONS];

typedef struct reservation_center {
    int64_t id;
    char name[128];         /* UTF-8 */
    int64_t daily_capacity; /* default checkups per day */
} reservation_center_t;

typedef struct reservation {
    int64_t id;
    int64_t order_id;
    int64_t center_id;
    char checkup_date[11]; /* YYYY-MM-DD */
    reservation_status_t status;
    char reason[RESERVATION_REASON_BUF]; /* "" when there is none */
    char created_at[32];                 /* RFC 3339 UTC ms */
    char updated_at[32];
    int64_t order_version; /* version of the booking last followed (0: none) */
    char phone[16];        /* the booking's phone (digits), whose it is; "" when unknown */
} reservation_t;

typedef struct reservation_cancellation {
    int64_t id;
    int64_t order_id;
    int64_t reservation_id; /* 0: the order was canceled before any reservation */
    int64_t center_id;      /* 0 when unknown */
    char checkup_date[11];  /* "" when unknown */
    char reason[RESERVATION_REASON_BUF];
    char created_at[32];
    char phone[16]; /* the booking's phone (digits); "" when unknown */
} reservation_cancellation_t;

/* One day of one center. */
typedef struct reservation_slot {
    int64_t day;      /* days since 1970-01-01 */
    int64_t capacity; /* the override for that day, else the center's default */
    int64_t booked;   /* REQUESTED + CONFIRMED reservations */
} reservation_slot_t;

/* The filters of GET /reservations beyond orderId; 0 / -1 / NULL mean "any". */
typedef struct reservation_filter {
    int64_t center_id;
    int status;       /* a reservation_status_t, or -1 */
    const char *date; /* YYYY-MM-DD, borrowed */
} reservation_filter_t;

/* Mirrors the configured centers into the centers table inside c's open
 * transaction: inserts new ones, updates name and default capacity of known
 * ones, and marks centers no longer configured inactive (their rows and
 * reservations stay). Per-date overrides are untouched. Returns 0 or hc_err. */
int reservation_store_sync_centers(hc_conn_t *c, const hc_center_cfg_t *centers, size_t n);

/* Reads an active center into *out. Returns 0, HC_ENOTFOUND or an hc_err. */
int reservation_store_center_get(hc_conn_t *c, int64_t id, reservation_center_t *out);

/* hc_list_cb: the active centers (reservation_center_t) by id. */
int reservation_store_center_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                                  int64_t *total);

/* Fills out[0..n_days) with the slots of center from from_day on, using
 * default_capacity where no override exists. Returns 0 or an hc_err. */
int reservation_store_slots(hc_conn_t *c, int64_t center_id, int64_t default_capacity,
                            int64_t from_day, size_t n_days, reservation_slot_t *out);

/* Sets the capacity override of (center, day) inside c's transaction.
 * Returns 0 or an hc_err. */
int reservation_store_set_override(hc_conn_t *c, int64_t center_id, int64_t day, int64_t capacity);

/* Takes one unit of the capacity of (center, date) if any is left, in one
 * conditional UPDATE so that concurrent writers (threads or processes) can
 * never overbook. Must run inside a write transaction. *booked is 1 when a
 * unit was taken, 0 when the slot is full. Returns 0 or an hc_err. */
int reservation_store_slot_take(hc_conn_t *c, int64_t center_id, const char *date, int *booked);

/* Gives one unit of (center, date) back (never below 0). Returns 0 or hc_err. */
int reservation_store_slot_release(hc_conn_t *c, int64_t center_id, const char *date);

/* Inserts r (id and timestamps are set here) inside c's transaction.
 * Returns 0, HC_ECONFLICT when the order already has one, or an hc_err. */
int reservation_store_insert(hc_conn_t *c, reservation_t *r);

/* Reads a reservation by id or by orderId. Returns 0, HC_ENOTFOUND or hc_err. */
int reservation_store_get(hc_conn_t *c, int64_t id, reservation_t *out);
int reservation_store_get_by_order(hc_conn_t *c, int64_t order_id, reservation_t *out);

/* Stores r's status, reason and order_version, setting r->updated_at to now.
 * Returns 0 or an hc_err. */
int reservation_store_update_status(hc_conn_t *c, reservation_t *r);

/* hc_list_cb: reservation_t by id, those of q->order_id when set and
 * matching the reservation_filter_t at q->extra when given. */
int reservation_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                           int64_t *total);

/* Inserts a cancellation record (id and created_at are set here). */
int reservation_store_cancellation_insert(hc_conn_t *c, reservation_cancellation_t *x);

/* Reads one cancellation. Returns 0, HC_ENOTFOUND or an hc_err. */
int reservation_store_cancellation_get(hc_conn_t *c, int64_t id, reservation_cancellation_t *out);

/* hc_list_cb: cancellations (reservation_cancellation_t) by id, those of
 * q->order_id when set. */
int reservation_store_cancellation_list(hc_conn_t *c, const hc_list_query_t *q, void **items,
                                        size_t *n, int64_t *total);

/* Records the tombstone of an order canceled or failed before it had a
 * reservation. *inserted is 1 for a new tombstone, 0 when it existed.
 * Returns 0 or an hc_err. */
int reservation_store_void_order(hc_conn_t *c, int64_t order_id, const char *reason, int *inserted);

/* *voided = 1 when order_id has a tombstone, else 0. Returns 0 or an hc_err. */
int reservation_store_is_voided(hc_conn_t *c, int64_t order_id, int *voided);

#endif
