/* notification_domain: the mypage read model's rules, free of I/O: which status
 * an event announces, the status precedence, what a late or duplicate event
 * changes, the Korean SMS templates and the SMS retry backoff. */
#ifndef NOTIFICATION_DOMAIN_H
#define NOTIFICATION_DOMAIN_H

#include <stdint.h>

/* The rank used before any status event arrived (a row created by
 * PaymentCanceled starts as PENDING). */
#define NOTIFICATION_INITIAL_STATUS "PENDING"

/* The largest retry delay of a failed SMS, ms (5 minutes). */
#define NOTIFICATION_BACKOFF_MAX_MS (5 * 60 * 1000)

/* Rank of a mypage status: PENDING 0 < PAID 1 < REQUESTED 2 < CONFIRMED 3 <
 * final (REJECTED, CANCELED, FAILED) 4. Returns -1 for NULL or an unknown name. */
int notification_status_rank(const char *status);

/* 1 when status is final (REJECTED, CANCELED, FAILED), else 0. */
int notification_status_is_final(const char *status);

/* 1 when event_type is one of the nine events this service consumes. */
int notification_event_known(const char *event_type);

/* The mypage status an event announces (a static string), or NULL when the
 * event has no status of its own (PaymentCanceled: the refund that follows a
 * REJECTED/CANCELED/FAILED) or is unknown. */
const char *notification_status_for_event(const char *event_type);

/* What one status event does to a mypage (see notification_decide). */
typedef struct notification_step {
    const char *status; /* the mypage status afterwards (current or reached; static) */
    int changed;        /* 1 when status differs from the current one */
    int add_history;    /* 1: append `reached` to history (once per status) */
    int announce;       /* 1: queue one SMS for `reached` (once per status) */
} notification_step_t;

/* Decides what reaching status `reached` (non-NULL, ranked) does to a mypage
 * whose status is `current` (NULL or PENDING for a row without status yet).
 * The rules:
 *  - the status only moves up in rank; once final it never changes;
 *  - a status of equal rank is a repeat (Ordered after PaymentApproved, or
 *    ReservationCanceled after OrderCanceled): history and SMS stay unique
 *    through their UNIQUE keys, so asking again is harmless;
 *  - a different final status after a final one (REJECTED after CANCELED) was
 *    never reached by the booking: ignored entirely (no history, no SMS);
 *  - a lower-ranked status arriving late (PAID after REQUESTED, because events
 *    of different producers race) is recorded in history, since the booking did
 *    pass through it, but announces no SMS: the customer was already told of a
 *    later stage, and an older message arriving after it would mislead.
 * Fills *out; never fails. */
void notification_decide(const char *current, const char *reached, notification_step_t *out);

/* Renders the Korean SMS text announcing status, e.g.
 * "[건강검진] 홍길동님, 2026-12-01 기본 건강검진 결제가 완료되었습니다."
 * Any of name, checkup_date, package_name (the catalog's display name) and
 * order_type (the package code, used when the catalog does not know it) may be
 * NULL or "" when not known yet; the text then leaves them out ("고객님",
 * "건강검진"). Returns a string the caller frees, or NULL when status has no
 * template (PENDING, unknown). */
char *notification_render(const char *status, const char *name, const char *checkup_date,
                          const char *package_name, const char *order_type);

/* The delay before the next attempt after `attempts` failed ones (>= 1):
 * 1 s, 2 s, 4 s ... capped at NOTIFICATION_BACKOFF_MAX_MS. */
int64_t notification_backoff_ms(int attempts);

#endif
