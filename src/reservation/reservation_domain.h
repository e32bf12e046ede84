/* reservation_domain: the pure rules of the reservation service: statuses and
 * their transitions, capacity arithmetic, slot date ranges and reason texts.
 * No I/O here, so every rule is unit-tested directly. */
#ifndef RESERVATION_DOMAIN_H
#define RESERVATION_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hc_valid.h"

typedef enum reservation_status {
    RESERVATION_REQUESTED = 0,
    RESERVATION_CONFIRMED,
    RESERVATION_REJECTED,
    RESERVATION_CANCELED,
} reservation_status_t;

#define RESERVATION_STATUS_COUNT 4

/* Limits of the admin API and of stored texts. */
#define RESERVATION_REASON_MAX_CHARS HC_REASON_MAX_CHARS /* characters (code points) */
#define RESERVATION_REASON_BUF HC_REASON_BUF             /* bytes */
#define RESERVATION_CAPACITY_MAX 100000                  /* checkups per center and day */
#define RESERVATION_SLOT_MAX_DAYS 92     /* longest /slots range, both ends included */
#define RESERVATION_SLOT_DEFAULT_DAYS 14 /* default /slots range */

/* The upper-case name of a status ("REQUESTED", ...). Never NULL. */
const char *reservation_status_name(reservation_status_t s);

/* Parses a status name, ignoring case ("confirmed" as the seed sends it).
 * Returns 0 with *out set, or HC_EINVAL for NULL or an unknown name. */
int reservation_status_parse(const char *s, reservation_status_t *out);

/* 1 when a reservation in status s holds a unit of its slot's capacity
 * (REQUESTED or CONFIRMED), else 0. */
int reservation_status_holds_capacity(reservation_status_t s);

/* What a requested status change does. */
typedef enum reservation_move {
    RESERVATION_MOVE_INVALID = 0, /* not allowed from the current status: 409 */
    RESERVATION_MOVE_NOOP,        /* already there: answer as is, emit nothing */
    RESERVATION_MOVE_APPLY,       /* change the status (and maybe release capacity) */
} reservation_move_t;

typedef struct reservation_transition {
    reservation_move_t move;
    int releases_capacity;  /* APPLY only: booked - 1 on the slot */
    const char *event_type; /* APPLY only: the event to emit; NULL otherwise */
} reservation_transition_t;

/* The admin transition table (PATCH / confirm / reject): REQUESTED->CONFIRMED
 * emits ReservationConfirmed; REQUESTED->REJECTED and CONFIRMED->REJECTED
 * release capacity and emit ReservationRejected; CONFIRMED->CONFIRMED is a
 * no-op; everything else (including any target other than CONFIRMED or
 * REJECTED) is invalid. */
reservation_transition_t reservation_admin_transition(reservation_status_t from,
                                                      reservation_status_t to);

/* The cancel transition used for OrderCanceled and OrderFailed: a reservation
 * holding capacity becomes CANCELED, releases it and emits
 * ReservationCanceled; a REJECTED or CANCELED one is left alone (NOOP). */
reservation_transition_t reservation_cancel_transition(reservation_status_t from);

/* What the reservation does when the booking, whose status order owns,
 * reaches order_status: CONFIRMED confirms a REQUESTED reservation; REJECTED
 * rejects one that holds capacity (REQUESTED or CONFIRMED, releasing it);
 * CANCELED and FAILED cancel one that holds capacity (releasing it); any
 * other status or starting point is a NOOP. *to receives the status it
 * leads to (from itself for a NOOP). */
reservation_transition_t reservation_follow_transition(reservation_status_t from,
                                                       const char *order_status,
                                                       reservation_status_t *to);

/* 1 when a slot with capacity and booked (both >= 0) can take one more
 * reservation, else 0. A capacity lowered below booked takes none. */
int reservation_slot_has_room(int64_t capacity, int64_t booked);

/* Places left in a slot: capacity - booked, never below 0. */
int64_t reservation_slot_remaining(int64_t capacity, int64_t booked);

/* 1 when capacity is an allowed per-day capacity (0 ..
 * RESERVATION_CAPACITY_MAX), else 0. */
int reservation_capacity_valid(int64_t capacity);

/* Resolves the /slots query: from (NULL = tomorrow, i.e. today + 1) and to
 * (NULL = from + 13 days), both YYYY-MM-DD. On success returns 0 with the
 * day numbers in *from_day and *to_day: to before from gives an empty range
 * (*to_day = *from_day - 1), and a range longer than
 * RESERVATION_SLOT_MAX_DAYS is cut to that many days. On failure returns HC_EINVAL and sets
 * *field ("from" or "to") and *msg (static text) for the 400 answer. */
int reservation_slot_range(int64_t today, const char *from, const char *to, int64_t *from_day,
                           int64_t *to_day, const char **field, const char **msg);

/* Number of UTF-8 characters in s (continuation bytes are not counted). */
size_t reservation_utf8_chars(const char *s);

/* Copies in (NULL reads as "") into out (outlen bytes, > 0), keeping at most
 * RESERVATION_REASON_MAX_CHARS characters and never cutting a UTF-8
 * character in half. out is always terminated. */
void reservation_reason_clip(const char *in, char *out, size_t outlen);

#endif
