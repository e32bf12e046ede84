/* order_domain: the booking as order owns it: its statuses and their
 * transition table, its versioned status history, the booking request's rules
 * and the status events. No I/O: every rule is unit-tested directly. */
#ifndef ORDER_DOMAIN_H
#define ORDER_DOMAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_config.h"
#include "hc_trace.h"
#include "hc_valid.h"

typedef enum order_status {
    ORDER_PENDING = 0, /* inside order only, while the payment call runs */
    ORDER_PAID,
    ORDER_REQUESTED,
    ORDER_CONFIRMED,
    ORDER_REJECTED,
    ORDER_CANCELED,
    ORDER_FAILED,
} order_status_t;

#define ORDER_STATUS_COUNT 7
#define ORDER_NAME_MAX_CHARS 50
#define ORDER_REASON_MAX 256                         /* bytes kept of a reason, with the NUL */
#define ORDER_REASON_CUSTOMER "canceled by customer" /* a cancel's reason */
/* A booking passes through at most PAID, REQUESTED, CONFIRMED and one final
 * status; the room to spare keeps a malformed stored history harmless. */
#define ORDER_MAX_HISTORY 8

/* What order has heard from reservation about a booking still PENDING (the
 * reservation event overtook the payment's answer); applied once it is PAID. */
typedef enum order_reservation_fact {
    ORDER_RES_NONE = 0,
    ORDER_RES_ACCEPTED, /* a place was taken: REQUESTED follows PAID */
    ORDER_RES_REFUSED,  /* no place: REJECTED follows PAID (reason kept) */
} order_reservation_fact_t;

typedef struct order_history_entry {
    order_status_t status;
    char at[32]; /* RFC 3339 UTC ms; never earlier than the entry before */
} order_history_entry_t;

typedef struct order {
    int64_t id;
    char name[256];
    char phone[16]; /* digits only; shown masked */
    char order_type[32];
    char checkup_date[11];
    int64_t center_id;
    char pay_method[8];
    char card_last4[5];     /* the only card digits ever stored */
    int64_t amount;         /* KRW */
    int64_t payment_id;     /* 0 = none yet */
    int64_t reservation_id; /* 0 = not known */
    order_reservation_fact_t reservation_fact;
    order_status_t status;
    /* The version is the number of status changes so far (history length):
     * every event carries it, and read models apply only newer ones. */
    int64_t version;
    order_history_entry_t history[ORDER_MAX_HISTORY];
    char reason[ORDER_REASON_MAX];
    int cancel_requested; /* a refund was asked of payment for a cancel */
    char trace_id[33];    /* trace of the booking request */
    char created_at[32];
    char updated_at[32];
    int64_t created_ms;
} order_t;

/* The upper-case name of s ("PAID", ...); "UNKNOWN" for a bad value. */
const char *order_status_name(order_status_t s);
/* Parses an exact upper-case status name. Returns 0 or HC_EINVAL. */
int order_status_parse(const char *s, order_status_t *out);

/* 1 when s is final (REJECTED, CANCELED, FAILED). */
int order_status_is_final(order_status_t s);

/* 1 when a customer may cancel a booking in s (PAID, REQUESTED, CONFIRMED). */
int order_status_cancellable(order_status_t s);

typedef enum order_move {
    ORDER_MOVE_INVALID = 0, /* not allowed from the current status */
    ORDER_MOVE_NOOP,        /* already there */
    ORDER_MOVE_APPLY,       /* a change: a new version and one event */
} order_move_t;

/* The transition table. PENDING -> PAID | FAILED; PAID -> REQUESTED |
 * REJECTED | CANCELED; REQUESTED -> CONFIRMED | REJECTED | CANCELED;
 * CONFIRMED -> REJECTED | CANCELED; a final status goes nowhere. The same
 * status again is a NOOP; everything else is INVALID. */
order_move_t order_transition(order_status_t from, order_status_t to);

/* Moves o to `to` in memory: checks the table and, for APPLY, appends the
 * history entry (at = now, or the previous entry's time if the clock went
 * back), bumps the version and sets reason when given (NULL keeps it).
 * Returns the move; o is unchanged unless it is APPLY. */
order_move_t order_move(order_t *o, order_status_t to, const char *reason, const char *now);

/* The event announcing that a booking reached s: Ordered, OrderRequested,
 * OrderConfirmed, OrderRejected, OrderCanceled or OrderFailed; NULL for
 * PENDING. */
const char *order_event_type(order_status_t s);

/* The event announcing version `version` (1..o->version) of o: the booking's
 * fields, its status at that version, the history up to it, and occurredAt =
 * the time of that change; a child of trace (may be NULL). Caller decrefs. */
json_t *order_event(const order_t *o, int64_t version, const hc_trace_t *trace);

/* The history of o up to version as a JSON array of {status, at}. */
json_t *order_history_json(const order_t *o, int64_t version);

/* Reads a history array as order_history_json writes it into o (status,
 * version; an "at" too long for its field is cut on a UTF-8 character).
 * Returns 0, or HC_EINVAL with o->version 0 when text is not such an array. */
int order_history_parse(const char *text, order_t *o);

/* 1 when today (day number) is still inside the cancellation window of a
 * checkup on checkup_day: until the end of day checkup_day - cutoff_days. */
int order_cancel_in_time(int64_t today, int64_t checkup_day, int cutoff_days);

/* Validates a POST /orders body (borrowed) against the catalog and centers of
 * cfg and the day number today: fills o (name trimmed, phone digits, package,
 * amount, date, center, method, last four card digits) and card (the full
 * number, for the payment call only; cardlen >= 20). Adds one error per bad
 * field to f. Returns 0 when the request is valid, else HC_EINVAL with card
 * wiped (all cardlen bytes zero). */
int order_booking_parse(json_t *body, const hc_config_t *cfg, int64_t today, order_t *o, char *card,
                        size_t cardlen, hc_fields_t *f);

#endif
