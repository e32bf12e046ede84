/* notification_domain: the announced statuses, the SMS templates and the
 * retry backoff; pure functions, unit-tested alone. */
#include "notification_domain.h"

#include <stddef.h>
#include <string.h>

#include "hc_buf.h"

/* Longest SMS text we build, bytes (a name is at most 50 characters). */
#define TEXT_MAX 1024

typedef struct status_info {
    const char *status;
    const char *tail; /* what the SMS says happened; NULL: never announced */
} status_info_t;

static const status_info_t statuses[] = {
    {"PENDING", NULL},
    {"PAID", "결제가 완료되었습니다."},
    {"REQUESTED", "예약 신청이 검진센터에 접수되었습니다."},
    {"CONFIRMED", "예약이 확정되었습니다."},
    {"REJECTED", "예약이 반려되었습니다. 결제는 취소됩니다."},
    {"CANCELED", "예약이 취소되었습니다. 결제가 환불됩니다."},
    {"FAILED", "예약이 처리되지 않았습니다."},
};

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

int notification_status_valid(const char *status)
{
    const status_info_t *s = status_find(status);
    return s && s->tail;
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
