/* hc_time: wall-clock timestamps, monotonic deadlines and sleeps. Depends on
 * nothing else of the runtime, so every module (hc_log included) may use it. */
#include "hc_time.h"

#include <errno.h>
#include <stdio.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL
#define MAX_MS (INT64_MAX / NS_PER_MS) /* longer waits are cut to this (292 years) */

/* Reads clock in milliseconds. */
static int64_t clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / NS_PER_MS;
}

int64_t hc_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void hc_time_rfc3339(int64_t ms, char out[HC_RFC3339_SIZE])
{
    /* Floor division, so that a time before 1970 still has 0..999 ms. */
    int64_t s = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        s--;
    }
    time_t t = (time_t)s;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&t, &tm))
        n = strftime(out, HC_RFC3339_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0) {
        out[0] = '\0'; /* cannot happen for int64 ms; kept as a guard */
        return;
    }
    snprintf(out + n, HC_RFC3339_SIZE - n, ".%03dZ", (int)frac);
}

void hc_now_rfc3339(char out[HC_RFC3339_SIZE])
{
    hc_time_rfc3339(hc_now_ms(), out);
}

int64_t hc_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

int64_t hc_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t hc_deadline_ms(int64_t after_ms)
{
    return hc_mono_ms() + after_ms;
}

int64_t hc_deadline_left(int64_t deadline)
{
    int64_t left = deadline - hc_mono_ms();
    return left > 0 ? left : 0;
}

/* ms (>= 0 after clamping) in nanoseconds, without overflow. */
static int64_t ms_to_ns(int64_t ms)
{
    return ms <= 0 ? 0 : (ms > MAX_MS ? MAX_MS : ms) * NS_PER_MS;
}

/* Adds ns (>= 0) to ts, keeping it normalised. */
static void timespec_add_ns(struct timespec *ts, int64_t ns)
{
    int64_t total = (int64_t)ts->tv_nsec + ns % NS_PER_S;
    ts->tv_sec += (time_t)(ns / NS_PER_S + total / NS_PER_S);
    ts->tv_nsec = (long)(total % NS_PER_S);
}

void hc_mono_timespec(int64_t after_ms, struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
    timespec_add_ns(out, ms_to_ns(after_ms));
}

/* Sleeps until ns from now on the monotonic clock, through signals. */
static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    timespec_add_ns(&until, ns);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

void hc_sleep_ms(int64_t ms)
{
    sleep_ns(ms_to_ns(ms));
}

void hc_sleep_us(int64_t us)
{
    sleep_ns(us <= 0 ? 0 : (us > INT64_MAX / 1000 ? INT64_MAX / 1000 : us) * 1000);
}
