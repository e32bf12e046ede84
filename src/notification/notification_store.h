/* notification_store: the notification service's tables and SQL: the mypage
 * view with its status history, and the notifications (SMS) queue. */
#ifndef NOTIFICATION_STORE_H
#define NOTIFICATION_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_db.h"
#include "hc_store.h"

#define NOTIFICATION_MAX_HISTORY 8 /* order's history: at most 4 statuses */

typedef struct notification_history {
    char status[16];
    char at[32]; /* RFC 3339 UTC ms: when order reached it */
} notification_history_t;

/* One mypage row. Text fields are "" and numbers 0 while unknown. */
typedef struct notification_mypage {
    int64_t order_id;
    char name[256];
    char phone[16]; /* digits only; only ever shown masked */
    char order_type[32];
    char checkup_date[11];
    int64_t center_id;
    int64_t amount; /* KRW */
    char status[16];
    int64_t payment_id;
    int64_t reservation_id;
    int refunded; /* 1 once PaymentCanceled (the refund) was seen */
    char created_at[32];
    char updated_at[32]; /* when the view last changed (apply time) */
    int64_t version;     /* order's version shown; 0: nothing to show yet */
    notification_history_t history[NOTIFICATION_MAX_HISTORY]; /* in version order */
    size_t n_history;
} notification_mypage_t;

#define NOTIFICATION_TEXT_MAX 1100

/* One notifications row: the SMS announcing one status of one order. */
typedef struct notification_msg {
    int64_t id;
    int64_t order_id;
    char order_status[16];
    char to[20]; /* masked destination; "" while the phone is unknown */
    char text[NOTIFICATION_TEXT_MAX];
    char provider[16];
    char delivery_status[16]; /* QUEUED, SENT or FAILED */
    int attempts;
    char last_error[256];    /* "" when none */
    int64_t next_attempt_at; /* ms since epoch; 0: nothing more to try (SENT/given up) */
    char trace_id[33];       /* trace of the event that caused it; "" if none */
    char created_at[32];
    char updated_at[32];
    /* Whose it is, from the order's mypage (read for the API only): the
     * phone (digits, "" while unknown) and the center (0 while unknown). */
    char owner_phone[16];
    int64_t owner_center;
} notification_msg_t;

/* A row the sender may deliver now, with the destination in full. */
typedef struct notification_due {
    notification_msg_t msg;
    char phone[16]; /* digits */
} notification_due_t;

/* The schema steps, for the service definition (a constant count, so the
 * definition can be a static initializer). */
#define NOTIFICATION_N_MIGRATIONS 4
extern const hc_migration_t notification_migrations[NOTIFICATION_N_MIGRATIONS];

/* Writes mypage m (every field but refunded and created_at, which a new row
 * gets as now), creating the row if needed. Returns 0 or an hc_err. */
int notification_store_put(hc_conn_t *c, const notification_mypage_t *m, const char *now);

/* Reads the mypage of order_id into *out, also a row with version 0 (not
 * shown to anyone). Returns 0, HC_ENOTFOUND or another hc_err. */
int notification_store_get(hc_conn_t *c, int64_t order_id, notification_mypage_t *out);

/* The version and status of a stored mypage, all a newer event is
 * compared with. */
typedef struct notification_version {
    int64_t version;
    char status[16];
} notification_version_t;

/* Reads only the version and status of the mypage of order_id into *out.
 * Returns 0, HC_ENOTFOUND (out untouched) or another hc_err. */
int notification_store_version(hc_conn_t *c, int64_t order_id, notification_version_t *out);

/* Records that the payment was refunded, creating a row with version 0 when
 * no order event came yet. Returns 0 or an hc_err. */
int notification_store_set_refunded(hc_conn_t *c, int64_t order_id, const char *now);

/* Reads a history as stored (a JSON array of {status, at}) into m. Returns
 * 0, or HC_EINVAL (m->n_history 0) when text is not such an array. */
int notification_history_parse(const char *text, notification_mypage_t *m);

/* The same for a history already decoded (an event's "history"; borrowed). */
int notification_history_take(const json_t *arr, notification_mypage_t *m);

/* hc_list_cb: the shown mypages (version > 0, notification_mypage_t with
 * their histories) by orderId, those of q->phone when set. */
int notification_store_list(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                            int64_t *total);

/* Queues the SMS for (order_id, status) unless one exists: QUEUED, attempts 0,
 * due at now_ms. to may be "" (phone unknown), trace_id may be NULL or "".
 * *queued (may be NULL) is 1 when a row was added. Returns 0 or an hc_err. */
int notification_store_queue(hc_conn_t *c, int64_t order_id, const char *status, const char *to,
                             const char *text, const char *provider, const char *trace_id,
                             int64_t now_ms, const char *now, int *queued);

/* Reads notification id. Returns 0, HC_ENOTFOUND or another hc_err. */
int notification_store_get_msg(hc_conn_t *c, int64_t id, notification_msg_t *out);

/* hc_list_cb: notification_msg_t by id, those of q->order_id when set. */
int notification_store_list_msgs(hc_conn_t *c, const hc_list_query_t *q, void **items, size_t *n,
                                 int64_t *total);

/* The SQL of notification_store_due (parameters: now ms, limit), exposed so a
 * test can check that its plan stays on the pending-rows index. */
extern const char notification_due_sql[];

/* Lists up to limit rows due at now_ms (QUEUED or retryable FAILED, whose
 * phone is known), oldest first. *items (caller frees) holds *n rows. */
int notification_store_due(hc_conn_t *c, int64_t now_ms, size_t limit, notification_due_t **items,
                           size_t *n);

/* Claims a due row for one attempt by moving its next_attempt_at from
 * expected to lease_until_ms, so no other sender takes it meanwhile and a
 * sender that dies mid-call leaves it to be retried after the lease. *claimed
 * is 1 when this caller got it. Returns 0 or an hc_err. */
int notification_store_claim(hc_conn_t *c, int64_t id, int64_t expected, int64_t lease_until_ms,
                             int *claimed);

/* Marks a row SENT by provider (attempts + 1, nothing more to try). */
int notification_store_mark_sent(hc_conn_t *c, int64_t id, const char *provider, const char *now);

/* Records a failed attempt: FAILED, attempts set, last_error, and the next
 * attempt at next_ms (0: given up for good). */
int notification_store_mark_failed(hc_conn_t *c, int64_t id, const char *provider, int attempts,
                                   const char *error, int64_t next_ms, const char *now);

/* Counts notifications still waiting to be delivered (QUEUED or retryable),
 * on a connection of db's pool; -1 when storage fails (a gauge). */
int64_t notification_store_pending(hc_db_t *db);

#endif
