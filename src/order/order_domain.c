/* order_domain: status ranks, transitions and the cancellation window. */
#include "order_domain.h"

#include <string.h>

int order_status_rank(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "PENDING") == 0)
        return 0;
    if (strcmp(s, "PAID") == 0)
        return 1;
    if (strcmp(s, "REQUESTED") == 0)
        return 2;
    if (strcmp(s, "CONFIRMED") == 0)
        return 3;
    if (strcmp(s, "REJECTED") == 0 || strcmp(s, "CANCELED") == 0 || strcmp(s, "FAILED") == 0)
        return 4;
    return -1;
}

int order_status_is_final(const char *s)
{
    return order_status_rank(s) == 4;
}

int order_status_can_move(const char *from, const char *to)
{
    int a = order_status_rank(from), b = order_status_rank(to);
    return a >= 0 && b >= 0 && a < 4 && b > a;
}

int order_status_cancellable(const char *s)
{
    int r = order_status_rank(s);
    return r >= 1 && r <= 3;
}

int order_cancel_in_time(int64_t today, int64_t checkup_day, int cutoff_days)
{
    return today <= checkup_day - cutoff_days;
}

const char *order_status_for_event(const char *type)
{
    if (strcmp(type, "ReservationAccepted") == 0)
        return "REQUESTED";
    if (strcmp(type, "ReservationConfirmed") == 0)
        return "CONFIRMED";
    if (strcmp(type, "ReservationRejected") == 0)
        return "REJECTED";
    return NULL;
}
