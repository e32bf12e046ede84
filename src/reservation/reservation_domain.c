/* reservation_domain: status transitions, capacity arithmetic, slot ranges and
 * reason texts of the reservation service (pure functions). */
#include "reservation_domain.h"

#include <string.h>
#include <strings.h>

#include "hc_err.h"
#include "hc_events.h"
#include "hc_valid.h"

static const char *const status_names[RESERVATION_STATUS_COUNT] = {
    [RESERVATION_REQUESTED] = "REQUESTED",
    [RESERVATION_CONFIRMED] = "CONFIRMED",
    [RESERVATION_REJECTED] = "REJECTED",
    [RESERVATION_CANCELED] = "CANCELED",
};

const char *reservation_status_name(reservation_status_t s)
{
    if ((unsigned)s >= RESERVATION_STATUS_COUNT)
        return "UNKNOWN";
    return status_names[s];
}

int reservation_status_parse(const char *s, reservation_status_t *out)
{
    if (!s)
        return HC_EINVAL;
    for (int i = 0; i < RESERVATION_STATUS_COUNT; i++) {
        if (strcasecmp(s, status_names[i]) == 0) {
            *out = (reservation_status_t)i;
            return 0;
        }
    }
    return HC_EINVAL;
}

int reservation_status_holds_capacity(reservation_status_t s)
{
    return s == RESERVATION_REQUESTED || s == RESERVATION_CONFIRMED;
}

/* Shorthands for the tables below. */
/* clang-format off */
#define T_INVALID {RESERVATION_MOVE_INVALID, 0, NULL}
#define T_NOOP    {RESERVATION_MOVE_NOOP, 0, NULL}
#define T_CONFIRM {RESERVATION_MOVE_APPLY, 0, HC_EV_RESERVATION_CONFIRMED}
#define T_REJECT  {RESERVATION_MOVE_APPLY, 1, HC_EV_RESERVATION_REJECTED}
#define T_CANCEL  {RESERVATION_MOVE_APPLY, 1, HC_EV_RESERVATION_CANCELED}

/* Admin moves, indexed [from][to]. Only CONFIRMED and REJECTED are admin
 * targets; the rows for REJECTED and CANCELED are final states. */
static const reservation_transition_t
    admin_table[RESERVATION_STATUS_COUNT][RESERVATION_STATUS_COUNT] = {
    /* to:                     REQUESTED  CONFIRMED  REJECTED   CANCELED */
    [RESERVATION_REQUESTED] = {T_INVALID, T_CONFIRM, T_REJECT,  T_INVALID},
    [RESERVATION_CONFIRMED] = {T_INVALID, T_NOOP,    T_REJECT,  T_INVALID},
    [RESERVATION_REJECTED]  = {T_INVALID, T_INVALID, T_INVALID, T_INVALID},
    [RESERVATION_CANCELED]  = {T_INVALID, T_INVALID, T_INVALID, T_INVALID},
};

/* Cancel moves (OrderCanceled / OrderFailed), indexed by the current status. */
static const reservation_transition_t cancel_table[RESERVATION_STATUS_COUNT] = {
    [RESERVATION_REQUESTED] = T_CANCEL,
    [RESERVATION_CONFIRMED] = T_CANCEL,
    [RESERVATION_REJECTED]  = T_NOOP,
    [RESERVATION_CANCELED]  = T_NOOP,
};
/* clang-format on */

reservation_transition_t reservation_admin_transition(reservation_status_t from,
                                                      reservation_status_t to)
{
    const reservation_transition_t invalid = T_INVALID;
    if ((unsigned)from >= RESERVATION_STATUS_COUNT || (unsigned)to >= RESERVATION_STATUS_COUNT)
        return invalid;
    return admin_table[from][to];
}

reservation_transition_t reservation_cancel_transition(reservation_status_t from)
{
    const reservation_transition_t noop = T_NOOP;
    if ((unsigned)from >= RESERVATION_STATUS_COUNT)
        return noop;
    return cancel_table[from];
}

reservation_transition_t reservation_follow_transition(reservation_status_t from,
                                                       const char *order_status,
                                                       reservation_status_t *to)
{
    const reservation_transition_t noop = T_NOOP;
    *to = from;
    if ((unsigned)from >= RESERVATION_STATUS_COUNT || !order_status)
        return noop;
    if (strcmp(order_status, "CONFIRMED") == 0)
        *to = RESERVATION_CONFIRMED;
    else if (strcmp(order_status, "REJECTED") == 0)
        *to = RESERVATION_REJECTED;
    else if (strcmp(order_status, "CANCELED") == 0 || strcmp(order_status, "FAILED") == 0)
        *to = RESERVATION_CANCELED;
    else
        return noop;
    if (*to == RESERVATION_CANCELED)
        return cancel_table[from];
    /* Confirm and reject follow the admin table, but a reservation the
     * booking has left behind stays as it is. */
    reservation_transition_t t = admin_table[from][*to];
    return t.move == RESERVATION_MOVE_INVALID ? noop : t;
}

int reservation_slot_has_room(int64_t capacity, int64_t booked)
{
    return booked < capacity;
}

int64_t reservation_slot_remaining(int64_t capacity, int64_t booked)
{
    return capacity > booked ? capacity - booked : 0;
}

int reservation_capacity_valid(int64_t capacity)
{
    return capacity >= 0 && capacity <= RESERVATION_CAPACITY_MAX;
}

int reservation_slot_range(int64_t today, const char *from, const char *to, int64_t *from_day,
                           int64_t *to_day, const char **field, const char **msg)
{
    int64_t f = today + 1, t;
    if (from && hc_date_parse(from, &f) != 0) {
        *field = "from";
        *msg = "must be a date YYYY-MM-DD";
        return HC_EINVAL;
    }
    t = f + RESERVATION_SLOT_DEFAULT_DAYS - 1;
    if (to && hc_date_parse(to, &t) != 0) {
        *field = "to";
        *msg = "must be a date YYYY-MM-DD";
        return HC_EINVAL;
    }
    /* A range ending before it starts has no days; a longer one than the
     * maximum is cut at it, as page sizes are. */
    if (t < f)
        t = f - 1;
    if (t - f + 1 > RESERVATION_SLOT_MAX_DAYS)
        t = f + RESERVATION_SLOT_MAX_DAYS - 1;
    *from_day = f;
    *to_day = t;
    return 0;
}

size_t reservation_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

void reservation_reason_clip(const char *in, char *out, size_t outlen)
{
    size_t used = 0, chars = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p && chars < RESERVATION_REASON_MAX_CHARS) {
        /* Length of the character starting at p (1 for stray bytes). */
        size_t len = 1;
        if (*p >= 0xF0)
            len = 4;
        else if (*p >= 0xE0)
            len = 3;
        else if (*p >= 0xC0)
            len = 2;
        for (size_t k = 1; k < len; k++)
            if ((p[k] & 0xC0) != 0x80) {
                len = k; /* truncated sequence: copy what is there */
                break;
            }
        if (used + len + 1 > outlen)
            break;
        memcpy(out + used, p, len);
        used += len;
        p += len;
        chars++;
    }
    out[used] = '\0';
}
