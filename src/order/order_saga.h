/* order_saga: the booking's life as order, its single owner, decides it:
 * booking (a synchronous charge through payment), cancelling (a synchronous
 * refund), the admin's confirm or reject that reservation asks for, and the
 * facts reservation and payment report by event. Every status change goes
 * through order_saga_save: one new version, one history entry and one event,
 * in the transaction that decides it. Plain functions; HTTP stays in
 * order_api. */
#ifndef ORDER_SAGA_H
#define ORDER_SAGA_H

#include <jansson.h>

#include "hc_service.h"
#include "order_domain.h"

/* Builds the body of an answer, to be stored with an Idempotency-Key in the
 * transaction that decides it: o (NULL when there is no order) with the HTTP
 * status and, for errors, the code and message. Caller owns the result. */
typedef json_t *(*order_render_cb)(const order_t *o, int http, const char *error,
                                   const char *message, void *ud);

/* One customer or service request to the saga. */
typedef struct order_request {
    hc_service_t *svc;
    const hc_trace_t *trace;
    const char *caller;      /* the service that asked (signed), NULL: a customer */
    const char *idem_scope;  /* with idem_key */
    const char *idem_key;    /* NULL: no Idempotency-Key */
    const char *idem_digest; /* digest of the request, stored with the key */
    order_render_cb render;  /* used only with a key */
    void *render_ud;
} order_request_t;

/* What to answer. */
typedef struct order_result {
    int http;          /* 200, 201, 402, 404, 409, 500 or 503 */
    const char *error; /* error code; NULL for a success */
    char message[256]; /* for errors */
    int retry_after;   /* seconds for a 503; 0 = none */
    int key_taken;     /* a concurrent request claimed the key first: replay it */
    int has_order;     /* order is set */
    order_t order;     /* the booking as answered */
} order_result_t;

/* Moves the changes made to o in memory (by order_move) into the store inside
 * c's open transaction: one event per version after old_version (unless emit
 * is 0: a booking payment never acted on), then the row, guarded by
 * old_version. Returns 0, HC_ECONFLICT (changed meanwhile) or an hc_err. */
int order_saga_save(hc_conn_t *c, order_t *o, int64_t old_version, int emit,
                    const hc_trace_t *trace);

/* Books o (a validated request: order_booking_parse) paying with card (the
 * full number, "" for cash): stores it PENDING, charges it through payment,
 * and records the outcome with its event. 201 PAID, 402 declined (FAILED),
 * 503 payment unavailable or outcome unknown (FAILED, compensated when
 * payment may have acted), 500 storage. */
void order_book(const order_request_t *rq, order_t *o, const char *card, order_result_t *res);

/* Cancels booking id for its customer: state and deadline checks, a refund
 * through payment, then CANCELED with its event. 200, 404, 409
 * (invalid_state, cancel_deadline_passed), 503 (refund not possible now). */
void order_cancel(const order_request_t *rq, int64_t id, order_result_t *res);

/* Decides a center admin's confirm or reject of booking id, as reservation
 * asks before it changes the reservation: CONFIRMED (from REQUESTED) or
 * REJECTED with reason (from REQUESTED or CONFIRMED); from PAID (order has
 * not heard of the reservation yet) through REQUESTED first. 200 (changed, or already there), 404,
 * 409 when the booking is elsewhere (canceled, failed, still being paid). */
void order_decide(const order_request_t *rq, int64_t id, order_status_t to, const char *reason,
                  int64_t reservation_id, order_result_t *res);

/* Fails booking id if it is still PENDING (the request that was paying it
 * died), with OrderFailed so that payment refunds or voids and reservation
 * releases. Commits its own transaction. Returns 0 or an hc_err. */
int order_fail_pending(hc_service_t *svc, int64_t id, const char *reason);

#endif
