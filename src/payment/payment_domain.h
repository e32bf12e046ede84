/* payment_domain: the payment service's pure rules: statuses and methods, what
 * a charge request must hold, which stored status answers which HTTP status,
 * when a refund or a void applies, and the events payment emits. No I/O. */
#ifndef PAYMENT_DOMAIN_H
#define PAYMENT_DOMAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_trace.h"
#include "hc_valid.h"

#define PAYMENT_REASON_MAX 256             /* bytes kept of a reason, with the NUL */
#define PAYMENT_AMOUNT_MAX 1000000000000LL /* largest amount accepted, KRW */
#define PAYMENT_VOID_REASON "voided: order failed"

typedef enum payment_status {
    PAYMENT_STATUS_NONE = 0, /* not a status: parse failures, absent records */
    PAYMENT_APPROVED,
    PAYMENT_DECLINED,
    PAYMENT_CANCELED, /* refunded, or voided before any charge */
} payment_status_t;

typedef enum payment_method {
    PAYMENT_METHOD_NONE = 0,
    PAYMENT_CARD,
    PAYMENT_CASH,
} payment_method_t;

/* One payment history record, as stored. Strings are empty when not set. */
typedef struct payment {
    int64_t id;
    int64_t order_id;
    int64_t amount; /* KRW */
    payment_method_t method;
    char card_last4[5]; /* only the last four digits, "" for cash and voids */
    payment_status_t status;
    int64_t center_id;     /* 0: not given */
    char checkup_date[11]; /* YYYY-MM-DD or "" */
    char phone[16];        /* the booking's phone (digits): whose it is; "" if not given */
    char reason[PAYMENT_REASON_MAX];
    char created_at[32]; /* RFC 3339 UTC with milliseconds */
    char updated_at[32];
} payment_t;

/* A validated POST /paymentHistories body. The full card number never leaves
 * payment_request_parse: only its last four digits and the decline verdict do. */
typedef struct payment_request {
    int64_t order_id;
    int64_t amount; /* KRW, from "amount" or its alias "price" */
    payment_method_t method;
    char card_last4[5]; /* "" for cash */
    int declined;       /* 1 when the card is on the decline list */
    int64_t center_id;  /* 0: not given */
    char checkup_date[11];
    char phone[16]; /* digits, "" when not given */
} payment_request_t;

/* How the API answers a charge request. Strings are static. */
typedef struct payment_answer {
    int http_status;     /* 200, 201, 402 or 409 */
    const char *error;   /* error code, NULL for a success */
    const char *message; /* human text for an error, NULL for a success */
} payment_answer_t;

/* What to do with a refund request, given the current status. */
typedef enum payment_refund {
    PAYMENT_REFUND_APPLY = 1, /* APPROVED: cancel it and emit PaymentCanceled */
    PAYMENT_REFUND_NOOP,      /* already CANCELED: answer the record, emit nothing */
    PAYMENT_REFUND_REFUSE,    /* DECLINED (nothing was charged): 409 */
} payment_refund_t;

/* What OrderFailed does to an order's payment. */
typedef enum payment_void {
    PAYMENT_VOID_NONE = 0,  /* DECLINED or already CANCELED: nothing */
    PAYMENT_VOID_REFUND,    /* APPROVED: refund it */
    PAYMENT_VOID_TOMBSTONE, /* no record yet: store a CANCELED one so a late charge gets 409 */
} payment_void_t;

/* Returns the stored/JSON name of s ("APPROVED", ...), or "UNKNOWN". */
const char *payment_status_name(payment_status_t s);
/* Parses an exact status name. Returns 0 with *out set, or HC_EINVAL. */
int payment_status_parse(const char *s, payment_status_t *out);

/* Returns "card" or "cash" (or "unknown"). */
const char *payment_method_name(payment_method_t m);
/* Parses "card" or "cash", case-insensitively. Returns 0 or HC_EINVAL. */
int payment_method_parse(const char *s, payment_method_t *out);

/* Returns 1 when the card number digits appear in list, a comma-separated list
 * of card numbers (spaces and dashes inside entries are ignored), else 0. */
int payment_card_is_declined(const char *digits, const char *list);

/* Validates a charge request body (borrowed) against the decline list. Returns 0
 * with *out filled, or HC_EINVAL with one error per bad field added to f and
 * *out zeroed. */
int payment_request_parse(json_t *body, const char *decline_list, payment_request_t *out,
                          hc_fields_t *f);

/* Builds the record a new charge creates: APPROVED, or DECLINED for a declined
 * card, stamped with now (RFC 3339). id stays 0 until stored. */
void payment_from_request(const payment_request_t *in, const char *now, payment_t *out);

/* Builds the CANCELED placeholder that voids orderId before any charge arrives.
 * amount (>= 0), method (NONE reads as card), center_id and checkup_date
 * (NULL or "") come from the OrderFailed event when it carried them. */
void payment_void_record(int64_t order_id, int64_t amount, payment_method_t method,
                         int64_t center_id, const char *checkup_date, const char *now,
                         payment_t *out);

/* The answer to a charge request whose record is p: created says whether this
 * request stored it (201/402) or found it (200/402/409). */
void payment_charge_answer(const payment_t *p, int created, payment_answer_t *out);

/* Decides a refund of a record in status s (see payment_refund_t). */
payment_refund_t payment_refund_decide(payment_status_t s);

/* Decides what OrderFailed does; existing is NULL when the order has no record. */
payment_void_t payment_order_failed_action(const payment_t *existing);

/* Moves an APPROVED p to CANCELED with reason (NULL: none) at now. Returns 0, or
 * HC_ECONFLICT (p unchanged) when p is not APPROVED. */
int payment_cancel(payment_t *p, const char *reason, const char *now);

/* Writes "prefix: detail" (or just prefix when detail is NULL or empty) into
 * dst (size bytes), cut at a UTF-8 character boundary when too long. */
void payment_reason_format(char *dst, size_t size, const char *prefix, const char *detail);

/* The resource fields of p (without _links): id, orderId, amount, payMethod,
 * cardNo (masked, null when none), status, reason (when set), centerId,
 * checkupDate (null when unknown), createdAt, updatedAt. Caller decrefs. */
json_t *payment_to_json(const payment_t *p);

/* The PaymentApproved event for p (paymentId, amount, payMethod, centerId,
 * checkupDate), a child of trace (may be NULL). Caller decrefs. */
json_t *payment_event_approved(const payment_t *p, const hc_trace_t *trace);

/* The PaymentCanceled event for p (paymentId, amount, reason). Caller decrefs. */
json_t *payment_event_canceled(const payment_t *p, const hc_trace_t *trace);

#endif
