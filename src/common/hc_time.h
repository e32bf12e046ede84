/* hc_time: the clocks and time helpers of the runtime in one place: the wall
 * clock for what is stored or shown (timestamps), the monotonic clock for what
 * is measured or waited for (intervals, deadlines, timed waits), and sleeps. */
#ifndef HC_TIME_H
#define HC_TIME_H

#include <stdint.h>
#include <time.h>

/* Bytes an RFC 3339 timestamp of hc_now_rfc3339 needs, NUL included
 * ("2026-11-25T09:00:00.123Z" is 24 characters; room for years past 9999). */
#define HC_RFC3339_SIZE 32

/* Milliseconds since the Unix epoch on the wall clock (CLOCK_REALTIME). For
 * timestamps that are stored or compared across processes; it may jump when
 * the clock is set, so never measure an interval or a wait with it. */
int64_t hc_now_ms(void);

/* Writes the current wall-clock time as RFC 3339 UTC with milliseconds,
 * "2026-11-25T09:00:00.123Z", NUL-terminated, into out. */
void hc_now_rfc3339(char out[HC_RFC3339_SIZE]);

/* Writes ms (milliseconds since the Unix epoch, as from hc_now_ms; negative
 * values are before 1970) as hc_now_rfc3339 does, into out. Years past 9999
 * or before 0 take more digits; every int64 value fits in HC_RFC3339_SIZE. */
void hc_time_rfc3339(int64_t ms, char out[HC_RFC3339_SIZE]);

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC): an arbitrary origin,
 * never goes back. For intervals, deadlines and timeouts. */
int64_t hc_mono_ms(void);

/* Microseconds on the same monotonic clock, for measuring short durations
 * (request latency). */
int64_t hc_mono_us(void);

/* The monotonic time (hc_mono_ms) after_ms from now: a deadline for
 * hc_deadline_left. after_ms may be 0 (already due) or negative (past). */
int64_t hc_deadline_ms(int64_t after_ms);

/* Milliseconds left until deadline (from hc_deadline_ms); 0 once it has
 * passed, never negative. */
int64_t hc_deadline_left(int64_t deadline);

/* Fills out with the CLOCK_MONOTONIC time after_ms from now (normalised:
 * 0 <= tv_nsec < 1e9), the absolute timeout pthread_cond_timedwait wants for
 * a condition variable whose clock is CLOCK_MONOTONIC (pthread_condattr_setclock).
 * after_ms < 0 counts as 0. */
void hc_mono_timespec(int64_t after_ms, struct timespec *out);

/* Sleeps at least ms milliseconds on the monotonic clock, resuming after a
 * signal interrupts it; returns at once when ms <= 0. For a pause that nothing
 * should cut short; a thread that must answer a stop waits with
 * hc_worker_wait instead. */
void hc_sleep_ms(int64_t ms);

/* Sleeps at least us microseconds, as hc_sleep_ms does: for the short
 * back-offs of a retry loop (a lock held by another process). */
void hc_sleep_us(int64_t us);

#endif
