/* notification_domain: the mypage read model's rules, free of I/O: which
 * statuses are announced, the Korean SMS templates and the SMS retry
 * backoff. Which event applies is decided by order's version (see
 * notification_policy). */
#ifndef NOTIFICATION_DOMAIN_H
#define NOTIFICATION_DOMAIN_H

#include <stdint.h>

/* The largest retry delay of a failed SMS, ms (5 minutes). */
#define NOTIFICATION_BACKOFF_MAX_MS (5 * 60 * 1000)

/* 1 when status is one a booking can reach and announce (PAID, REQUESTED,
 * CONFIRMED, REJECTED, CANCELED, FAILED), else 0 (NULL, PENDING, unknown). */
int notification_status_valid(const char *status);

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
