/* order_domain: the order's statuses and their rules, free of I/O. */
#ifndef ORDER_DOMAIN_H
#define ORDER_DOMAIN_H

#include <stdint.h>

/* Rank of a status: PENDING 0 < PAID 1 < REQUESTED 2 < CONFIRMED 3 < final 4.
 * Returns -1 for an unknown name. */
int order_status_rank(const char *status);

/* 1 when status is final (REJECTED, CANCELED, FAILED). */
int order_status_is_final(const char *status);

/* 1 when an order in status `from` may move to `to`: only upwards in rank, and
 * never out of a final status. */
int order_status_can_move(const char *from, const char *to);

/* 1 when a customer may cancel an order in this status (PAID, REQUESTED,
 * CONFIRMED). */
int order_status_cancellable(const char *status);

/* 1 when today (day number) is still inside the cancellation window of a
 * checkup on checkup_day: until the end of day checkup_day - cutoff_days. */
int order_cancel_in_time(int64_t today, int64_t checkup_day, int cutoff_days);

/* The order status a consumed event implies, or NULL if the event does not
 * move the order's status by itself. */
const char *order_status_for_event(const char *event_type);

#endif
