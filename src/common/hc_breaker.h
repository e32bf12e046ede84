/* hc_breaker: a circuit breaker with Resilience4j's semantics (a count-based
 * sliding window of call outcomes, failure and slow-call rates, OPEN for a
 * wait, then a few trial calls HALF_OPEN) and a bulkhead (a bounded number of
 * concurrent calls, refusing at once beyond it). Pure state machines: no I/O,
 * thread-safe, the monotonic clock passed in by the caller so that tests
 * drive time. See docs/breaker.md. */
#ifndef HC_BREAKER_H
#define HC_BREAKER_H

#include <jansson.h>
#include <stdint.h>

#include "hc_buf.h"

/* ---- the circuit breaker ---- */

typedef enum hc_breaker_state {
    HC_BREAKER_CLOSED = 0, /* calls go through; outcomes fill the sliding window */
    HC_BREAKER_OPEN,       /* calls are refused until the wait has passed */
    HC_BREAKER_HALF_OPEN,  /* a few trial calls decide: CLOSED again, or OPEN */
} hc_breaker_state_t;

/* Resilience4j's settings of a count-based circuit breaker. */
typedef struct hc_breaker_config {
    int sliding_window_size;                          /* outcomes kept while CLOSED, >= 1 */
    int minimum_number_of_calls;                      /* outcomes before the rates count, >= 1 */
    int failure_rate_threshold;                       /* percent, 1-100: at or above it, OPEN */
    int slow_call_rate_threshold;                     /* percent, 1-100: at or above it, OPEN */
    int64_t slow_call_duration_threshold_ms;          /* a call longer than this is slow, >= 1 */
    int64_t wait_duration_in_open_state_ms;           /* OPEN lasts this long, >= 1 */
    int permitted_number_of_calls_in_half_open_state; /* trial calls, >= 1 */
} hc_breaker_config_t;

/* What a breaker shows: its state and the counts of its current window (the
 * window that made it OPEN while it is OPEN, as Resilience4j shows it). */
typedef struct hc_breaker_snapshot {
    hc_breaker_state_t state;
    float failure_rate;          /* percent; -1 below the minimum number of calls */
    float slow_call_rate;        /* percent; -1 below the minimum number of calls */
    int buffered_calls;          /* outcomes in the window */
    int failed_calls;            /* of them failed (slow or not) */
    int successful_calls;        /* of them succeeded (slow or not) */
    int slow_calls;              /* of them slow (failed or not) */
    int slow_failed_calls;       /* of them slow and failed */
    int64_t not_permitted_calls; /* refused since the last state change (Resilience4j's count) */
    int64_t not_permitted_total; /* refused since the breaker was made (a Prometheus counter) */
    int64_t retry_after_ms;      /* OPEN: time left until calls are tried again; else 0 */
    hc_breaker_config_t config;
} hc_breaker_snapshot_t;

/* Called after a state change, outside the breaker's lock (it may call
 * hc_breaker_snapshot), on the thread whose call caused it. snap is the
 * breaker as the change left it. */
typedef void (*hc_breaker_transition_cb)(void *ud, const char *name, hc_breaker_state_t from,
                                         hc_breaker_state_t to, const hc_breaker_snapshot_t *snap);

typedef struct hc_breaker hc_breaker_t;

/* A permitted call: pass it back to hc_breaker_record or hc_breaker_release. */
typedef struct hc_breaker_permit {
    uint64_t epoch; /* the state period that permitted it */
} hc_breaker_permit_t;

/* Makes a CLOSED breaker called name (copied; shown on health and metrics).
 * on_transition (may be NULL) is told of every state change. Returns NULL
 * when a setting is out of its range. Destroy with hc_breaker_destroy. */
hc_breaker_t *hc_breaker_create(const char *name, const hc_breaker_config_t *cfg,
                                hc_breaker_transition_cb on_transition, void *ud);

/* Frees b. Accepts NULL. */
void hc_breaker_destroy(hc_breaker_t *b);

/* The name b was made with (owned by b). */
const char *hc_breaker_name(const hc_breaker_t *b);

/* Asks to make one call at monotonic time now_ms. Returns 0 with *permit set
 * (CLOSED; OPEN whose wait has passed, which becomes HALF_OPEN; HALF_OPEN
 * with a trial call left), or HC_EUNAVAIL when refused (counted as not
 * permitted), with *retry_after_ms (may be NULL) the time until the breaker
 * tries calls again: what is left of the wait when OPEN, 0 when HALF_OPEN
 * (the trial calls are running). */
int hc_breaker_acquire(hc_breaker_t *b, int64_t now_ms, hc_breaker_permit_t *permit,
                       int64_t *retry_after_ms);

/* Records the outcome of a permitted call that took duration_ms and ended at
 * now_ms: failed (no answer, or an answer that says the remote is unwell)
 * or not; slow when duration_ms is above the slow-call threshold. CLOSED:
 * at or above either rate threshold, once the window holds the minimum
 * number of calls, the breaker becomes OPEN. HALF_OPEN: once the trial calls
 * are in, OPEN again above a threshold, else CLOSED. A call permitted before
 * the last state change is not counted (its window is gone). */
void hc_breaker_record(hc_breaker_t *b, const hc_breaker_permit_t *permit, int64_t now_ms,
                       int64_t duration_ms, int failed);

/* Gives back a permitted call that was not made (e.g. refused by a bulkhead
 * or by storage before it started): HALF_OPEN gets its trial call back. */
void hc_breaker_release(hc_breaker_t *b, const hc_breaker_permit_t *permit);

/* Fills *out with b's state at monotonic time now_ms (an OPEN breaker whose
 * wait has passed becomes HALF_OPEN, as it would for the next call). */
void hc_breaker_snapshot(hc_breaker_t *b, int64_t now_ms, hc_breaker_snapshot_t *out);

/* "CLOSED", "OPEN" or "HALF_OPEN". */
const char *hc_breaker_state_name(hc_breaker_state_t s);

/* The health status Resilience4j's actuator gives a state: "UP",
 * "CIRCUIT_OPEN" or "CIRCUIT_HALF_OPEN". */
const char *hc_breaker_health_status(hc_breaker_state_t s);

/* The breaker as Resilience4j's actuator details show it: {"status",
 * "state", "failureRate": "-1.0%", "failureRateThreshold": "50.0%",
 * "slowCallRate", "slowCallRateThreshold", "bufferedCalls", "failedCalls",
 * "slowCalls", "slowFailedCalls", "notPermittedCalls"}. Caller owns it. */
json_t *hc_breaker_health_json(const hc_breaker_snapshot_t *s);

/* Appends b's Prometheus metrics with Resilience4j's micrometer names
 * (resilience4j_circuitbreaker_state one sample per state, _failure_rate,
 * _slow_call_rate, _buffered_calls, _slow_calls, _not_permitted_calls_total),
 * each with HELP and TYPE, labelled service and name. */
void hc_breaker_metrics(hc_breaker_t *b, int64_t now_ms, hc_buf_t *out, const char *service);

/* ---- the bulkhead ---- */

typedef struct hc_bulkhead hc_bulkhead_t;

/* Makes a bulkhead called name (copied) that lets max_concurrent_calls
 * (>= 1) calls run at once: Resilience4j's semaphore bulkhead with
 * maxWaitDuration 0 (a call beyond them is refused at once). NULL when
 * max_concurrent_calls is out of range. Destroy with hc_bulkhead_destroy. */
hc_bulkhead_t *hc_bulkhead_create(const char *name, int max_concurrent_calls);

/* Frees h. Accepts NULL. */
void hc_bulkhead_destroy(hc_bulkhead_t *h);

/* Takes a place for one call: 0, or HC_EBUSY when all are taken (counted as
 * rejected). Give the place back with hc_bulkhead_release. */
int hc_bulkhead_acquire(hc_bulkhead_t *h);

/* Gives back a place taken by hc_bulkhead_acquire. */
void hc_bulkhead_release(hc_bulkhead_t *h);

/* Places free now. */
int hc_bulkhead_available(hc_bulkhead_t *h);

/* Calls refused since the bulkhead was made. */
int64_t hc_bulkhead_rejected(hc_bulkhead_t *h);

/* Appends h's Prometheus metrics: resilience4j_bulkhead_available_concurrent_calls,
 * resilience4j_bulkhead_max_allowed_concurrent_calls and
 * hc_bulkhead_rejected_calls_total, with HELP and TYPE, labelled service and
 * name. */
void hc_bulkhead_metrics(hc_bulkhead_t *h, hc_buf_t *out, const char *service);

#endif
