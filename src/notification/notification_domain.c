/* notification_domain: status mapping and precedence of the mypage view, the
 * SMS templates and the retry backoff; pure functions, unit-tested alone. */
#include "notification_domain.h"

#include <stddef.h>
#include <string.h>

#include "hc_buf.h"

/* Longest SMS text we build, bytes (a name is at most 50 characters). */
#define TEXT_MAX 1024

typedef struct event_status {
    const char *event_type;
    const char *status; /* NULL: the event announces no status */
} event_status_t;

static const event_status_t event_statuses[] = {
    {"Ordered", "PAID"},
    {"PaymentApproved", "PAID"},
    {"ReservationAccepted", "REQUESTED"},
    {"ReservationConfirmed", "CONFIRMED"},
    {"ReservationRejected", "REJECTED"},
    {"OrderCanceled", "CANCELED"},
    {"ReservationCanceled", "CANCELED"},
    {"OrderFailed", "FAILED"},
    {"PaymentCanceled", NULL},
};

typedef struct status_info {
    const char *status;
    int rank;
    const char *tail; /* what the SMS says happened; NULL: never announced */
} status_info_t;

static const status_info_t statuses[] = {
    {"PENDING", 0, NULL},
    {"PAID", 1, "결제가 완료되었습니다."},
    {"REQUESTED", 2, "예약 신청이 검진센터에 접수되었습니다."},
    {"CONFIRMED", 3, "예약이 확정되었습니다."},
    {"REJECTED", 4, "예약이 반려되었습니다. 결제는 취소됩니다."},
    {"CANCELED", 4, "예약이 취소되었습니다. 결제가 환불됩니다."},
    {"FAILED", 4, "예약이 처리되지 않았습니다."},
};

#define FINAL_RANK 4

/* The table entry of status, or NULL when unknown. */
static const status_info_t *status_find(const char *status)
{
    if (!status)
        return NULL;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(statuses[i].status, status) == 0)
            return &statuses[i];
    return NULL;
}

int notification_status_rank(const char *status)
{
    const status_info_t *s = status_find(status);
    return s ? s->rank : -1;
}

int notification_status_is_final(const char *status)
{
    return notification_status_rank(status) == FINAL_RANK;
}

/* The mapping entry of an event type, or NULL when unknown. */
static const event_status_t *event_find(const char *event_type)
{
    if (!event_type)
        return NULL;
    for (size_t i = 0; i < sizeof event_statuses / sizeof event_statuses[0]; i++)
        if (strcmp(event_statuses[i].event_type, event_type) == 0)
            return &event_statuses[i];
    return NULL;
}

int notification_event_known(const char *event_type)
{
    return event_find(event_type) != NULL;
}

const char *notification_status_for_event(const char *event_type)
{
    const event_status_t *e = event_find(event_type);
    return e ? e->status : NULL;
}

void notification_decide(const char *current, const char *reached, notification_step_t *out)
{
    const status_info_t *cur = status_find(current), *to = status_find(reached);
    memset(out, 0, sizeof *out);
    out->status = cur ? cur->status : NULL;
    if (!to || to->rank <= 0)
        return; /* nothing to reach: PENDING or unknown */
    if (!cur || cur->rank < to->rank) {
        /* Moving up (or the first status of a new row). */
        out->status = to->status;
        out->changed = 1;
        out->add_history = 1;
        out->announce = 1;
        return;
    }
    if (cur->rank == FINAL_RANK && to->rank == FINAL_RANK && cur != to)
        return; /* a different final after a final one: never reached */
    /* Same status again, or a lower one arriving late: history records that
     * the booking passed through it; only a repeat of the current status may
     * (idempotently) ask for its SMS. */
    out->add_history = 1;
    out->announce = cur == to;
}

char *notification_render(const char *status, const char *name, const char *checkup_date,
                          const char *package_name, const char *order_type)
{
    const status_info_t *s = status_find(status);
    if (!s || !s->tail)
        return NULL;
    hc_buf_t b;
    hc_buf_init(&b, TEXT_MAX);
    int rc = hc_buf_printf(&b, "[건강검진] %s님, ", name && *name ? name : "고객");
    if (!rc && checkup_date && *checkup_date)
        rc = hc_buf_printf(&b, "%s ", checkup_date);
    if (!rc && package_name && *package_name)
        rc = hc_buf_printf(&b, "%s ", package_name);
    else if (!rc && order_type && *order_type)
        rc = hc_buf_printf(&b, "%s 검진 ", order_type);
    else if (!rc)
        rc = hc_buf_adds(&b, "건강검진 ");
    if (!rc)
        rc = hc_buf_adds(&b, s->tail);
    if (rc) {
        /* Only an absurdly long name gets here: fall back to the bare notice. */
        hc_buf_reset(&b);
        hc_buf_printf(&b, "[건강검진] 고객님, 건강검진 %s", s->tail);
    }
    return hc_buf_take(&b);
}

int64_t notification_backoff_ms(int attempts)
{
    if (attempts < 1)
        attempts = 1;
    int64_t ms = 1000;
    for (int i = 1; i < attempts && ms < NOTIFICATION_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > NOTIFICATION_BACKOFF_MAX_MS ? NOTIFICATION_BACKOFF_MAX_MS : ms;
}
