/* hc_breaker: the circuit breaker's state machine over a ring of call
 * outcomes, and the bulkhead's counting limit, each behind one mutex. */
#include "hc_breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_err.h"

#define NAME_MAX_LEN 48
#define MAX_WINDOW 100000 /* bounds the ring: a setting above is refused */

/* One outcome in the ring. */
enum { OUT_FAILED = 1, OUT_SLOW = 2 };

struct hc_breaker {
    pthread_mutex_t mu;
    char name[NAME_MAX_LEN];
    hc_breaker_config_t cfg;
    hc_breaker_transition_cb on_transition;
    void *ud;
    hc_breaker_state_t state;
    uint64_t epoch;        /* bumped at every state change */
    int64_t open_until_ms; /* OPEN: when calls are tried again */
    int half_open_left;    /* HALF_OPEN: trial calls not yet handed out */
    unsigned char *ring;   /* outcomes, window_size of them */
    int window_size;       /* of the current window: the sliding window, or the trials */
    int head, count;       /* next slot; outcomes held */
    int failed, slow, slow_failed;
    int64_t not_permitted;       /* since the last state change */
    int64_t not_permitted_total; /* since the breaker was made */
};

/* A state change to report once the lock is released. */
typedef struct transition {
    int happened;
    hc_breaker_state_t from, to;
    hc_breaker_snapshot_t snap;
} transition_t;

static int config_valid(const hc_breaker_config_t *c)
{
    return c->sliding_window_size >= 1 && c->sliding_window_size <= MAX_WINDOW &&
           c->minimum_number_of_calls >= 1 && c->failure_rate_threshold >= 1 &&
           c->failure_rate_threshold <= 100 && c->slow_call_rate_threshold >= 1 &&
           c->slow_call_rate_threshold <= 100 && c->slow_call_duration_threshold_ms >= 1 &&
           c->wait_duration_in_open_state_ms >= 1 &&
           c->permitted_number_of_calls_in_half_open_state >= 1 &&
           c->permitted_number_of_calls_in_half_open_state <= MAX_WINDOW;
}

hc_breaker_t *hc_breaker_create(const char *name, const hc_breaker_config_t *cfg,
                                hc_breaker_transition_cb on_transition, void *ud)
{
    if (!name || !cfg || !config_valid(cfg))
        return NULL;
    hc_breaker_t *b = hc_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    hc_strlcpy(b->name, name, sizeof b->name);
    b->cfg = *cfg;
    b->on_transition = on_transition;
    b->ud = ud;
    int ring = cfg->sliding_window_size > cfg->permitted_number_of_calls_in_half_open_state
                   ? cfg->sliding_window_size
                   : cfg->permitted_number_of_calls_in_half_open_state;
    b->ring = hc_xcalloc((size_t)ring, 1);
    b->state = HC_BREAKER_CLOSED;
    b->window_size = cfg->sliding_window_size;
    return b;
}

void hc_breaker_destroy(hc_breaker_t *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b->ring);
    free(b);
}

const char *hc_breaker_name(const hc_breaker_t *b)
{
    return b->name;
}

/* ---- the window (callers hold the lock) ---- */

static void window_reset(hc_breaker_t *b, int size)
{
    memset(b->ring, 0, (size_t)size);
    b->window_size = size;
    b->head = b->count = 0;
    b->failed = b->slow = b->slow_failed = 0;
}

static void window_add(hc_breaker_t *b, unsigned char outcome)
{
    if (b->count == b->window_size) {
        unsigned char old = b->ring[b->head];
        b->failed -= (old & OUT_FAILED) != 0;
        b->slow -= (old & OUT_SLOW) != 0;
        b->slow_failed -= old == (OUT_FAILED | OUT_SLOW);
    } else {
        b->count++;
    }
    b->ring[b->head] = outcome;
    b->head = (b->head + 1) % b->window_size;
    b->failed += (outcome & OUT_FAILED) != 0;
    b->slow += (outcome & OUT_SLOW) != 0;
    b->slow_failed += outcome == (OUT_FAILED | OUT_SLOW);
}

/* The minimum number of calls for the current window: never more than the
 * window holds (Resilience4j's rule; in HALF_OPEN, the trial calls). */
static int window_minimum(const hc_breaker_t *b)
{
    return b->cfg.minimum_number_of_calls < b->window_size ? b->cfg.minimum_number_of_calls
                                                           : b->window_size;
}

/* A rate in percent of the window, -1 below the minimum number of calls. */
static float window_rate(const hc_breaker_t *b, int n)
{
    if (b->count == 0 || b->count < window_minimum(b))
        return -1.0f;
    return (float)n * 100.0f / (float)b->count;
}

/* 1 when the window holds enough calls to judge. */
static int window_full_enough(const hc_breaker_t *b)
{
    return b->count > 0 && b->count >= window_minimum(b);
}

/* 1 when either rate is at or above its threshold. */
static int window_exceeded(const hc_breaker_t *b)
{
    return window_rate(b, b->failed) >= (float)b->cfg.failure_rate_threshold ||
           window_rate(b, b->slow) >= (float)b->cfg.slow_call_rate_threshold;
}

/* ---- states (callers hold the lock) ---- */

static void fill_snapshot(const hc_breaker_t *b, int64_t now_ms, hc_breaker_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->state = b->state;
    s->failure_rate = window_rate(b, b->failed);
    s->slow_call_rate = window_rate(b, b->slow);
    s->buffered_calls = b->count;
    s->failed_calls = b->failed;
    s->successful_calls = b->count - b->failed;
    s->slow_calls = b->slow;
    s->slow_failed_calls = b->slow_failed;
    s->not_permitted_calls = b->not_permitted;
    s->not_permitted_total = b->not_permitted_total;
    if (b->state == HC_BREAKER_OPEN && b->open_until_ms > now_ms)
        s->retry_after_ms = b->open_until_ms - now_ms;
    s->config = b->cfg;
}

/* Moves b to state to at now_ms and notes the change in *t. OPEN keeps the
 * window that made it open (shown until the trial calls start); HALF_OPEN
 * starts a window of its trial calls; CLOSED a fresh sliding window. */
static void move_to(hc_breaker_t *b, hc_breaker_state_t to, int64_t now_ms, transition_t *t)
{
    hc_breaker_state_t from = b->state;
    b->state = to;
    b->epoch++;
    b->not_permitted = 0;
    if (to == HC_BREAKER_OPEN) {
        b->open_until_ms = now_ms + b->cfg.wait_duration_in_open_state_ms;
    } else if (to == HC_BREAKER_HALF_OPEN) {
        window_reset(b, b->cfg.permitted_number_of_calls_in_half_open_state);
        b->half_open_left = b->cfg.permitted_number_of_calls_in_half_open_state;
    } else {
        window_reset(b, b->cfg.sliding_window_size);
    }
    t->happened = 1;
    t->from = from;
    t->to = to;
    fill_snapshot(b, now_ms, &t->snap);
}

/* OPEN whose wait has passed becomes HALF_OPEN. */
static void check_wait(hc_breaker_t *b, int64_t now_ms, transition_t *t)
{
    if (b->state == HC_BREAKER_OPEN && now_ms >= b->open_until_ms)
        move_to(b, HC_BREAKER_HALF_OPEN, now_ms, t);
}

/* Unlocks b, then reports the change noted in t (if any). */
static void unlock_and_report(hc_breaker_t *b, const transition_t *t)
{
    pthread_mutex_unlock(&b->mu);
    if (t->happened && b->on_transition)
        b->on_transition(b->ud, b->name, t->from, t->to, &t->snap);
}

/* ---- calls ---- */

int hc_breaker_acquire(hc_breaker_t *b, int64_t now_ms, hc_breaker_permit_t *permit,
                       int64_t *retry_after_ms)
{
    transition_t t = {0};
    int rc = 0;
    int64_t retry = 0;
    pthread_mutex_lock(&b->mu);
    check_wait(b, now_ms, &t);
    if (b->state == HC_BREAKER_OPEN) {
        rc = HC_EUNAVAIL;
        retry = b->open_until_ms - now_ms;
    } else if (b->state == HC_BREAKER_HALF_OPEN) {
        if (b->half_open_left > 0)
            b->half_open_left--;
        else
            rc = HC_EUNAVAIL; /* the trial calls are running: retry 0 */
    }
    if (rc) {
        b->not_permitted++;
        b->not_permitted_total++;
    } else {
        permit->epoch = b->epoch;
    }
    if (retry_after_ms)
        *retry_after_ms = retry;
    unlock_and_report(b, &t);
    return rc;
}

void hc_breaker_record(hc_breaker_t *b, const hc_breaker_permit_t *permit, int64_t now_ms,
                       int64_t duration_ms, int failed)
{
    transition_t t = {0};
    pthread_mutex_lock(&b->mu);
    /* A call from an earlier state period: the window it belonged to is gone
     * (Resilience4j would count it in whatever window it finds, so a call
     * begun while CLOSED could decide a HALF_OPEN trial). */
    if (permit->epoch == b->epoch && b->state != HC_BREAKER_OPEN) {
        unsigned char outcome =
            (unsigned char)((failed ? OUT_FAILED : 0) |
                            (duration_ms > b->cfg.slow_call_duration_threshold_ms ? OUT_SLOW : 0));
        window_add(b, outcome);
        if (window_full_enough(b)) {
            if (window_exceeded(b))
                move_to(b, HC_BREAKER_OPEN, now_ms, &t);
            else if (b->state == HC_BREAKER_HALF_OPEN)
                move_to(b, HC_BREAKER_CLOSED, now_ms, &t);
        }
    }
    unlock_and_report(b, &t);
}

void hc_breaker_release(hc_breaker_t *b, const hc_breaker_permit_t *permit)
{
    pthread_mutex_lock(&b->mu);
    if (permit->epoch == b->epoch && b->state == HC_BREAKER_HALF_OPEN &&
        b->half_open_left < b->cfg.permitted_number_of_calls_in_half_open_state - b->count)
        b->half_open_left++;
    pthread_mutex_unlock(&b->mu);
}

void hc_breaker_snapshot(hc_breaker_t *b, int64_t now_ms, hc_breaker_snapshot_t *out)
{
    transition_t t = {0};
    pthread_mutex_lock(&b->mu);
    check_wait(b, now_ms, &t);
    fill_snapshot(b, now_ms, out);
    unlock_and_report(b, &t);
}

/* ---- presentation ---- */

const char *hc_breaker_state_name(hc_breaker_state_t s)
{
    switch (s) {
    case HC_BREAKER_CLOSED:
        return "CLOSED";
    case HC_BREAKER_OPEN:
        return "OPEN";
    case HC_BREAKER_HALF_OPEN:
        return "HALF_OPEN";
    }
    return "CLOSED";
}

const char *hc_breaker_health_status(hc_breaker_state_t s)
{
    switch (s) {
    case HC_BREAKER_CLOSED:
        return "UP";
    case HC_BREAKER_OPEN:
        return "CIRCUIT_OPEN";
    case HC_BREAKER_HALF_OPEN:
        return "CIRCUIT_HALF_OPEN";
    }
    return "UP";
}

/* A percentage as Resilience4j's actuator writes it: "-1.0%", "50.0%". */
static json_t *percent(float v)
{
    char s[32];
    snprintf(s, sizeof s, "%.1f%%", (double)v);
    return json_string(s);
}

json_t *hc_breaker_health_json(const hc_breaker_snapshot_t *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "status", json_string(hc_breaker_health_status(s->state)));
    json_object_set_new(j, "state", json_string(hc_breaker_state_name(s->state)));
    json_object_set_new(j, "failureRate", percent(s->failure_rate));
    json_object_set_new(j, "failureRateThreshold",
                        percent((float)s->config.failure_rate_threshold));
    json_object_set_new(j, "slowCallRate", percent(s->slow_call_rate));
    json_object_set_new(j, "slowCallRateThreshold",
                        percent((float)s->config.slow_call_rate_threshold));
    json_object_set_new(j, "bufferedCalls", json_integer(s->buffered_calls));
    json_object_set_new(j, "failedCalls", json_integer(s->failed_calls));
    json_object_set_new(j, "slowCalls", json_integer(s->slow_calls));
    json_object_set_new(j, "slowFailedCalls", json_integer(s->slow_failed_calls));
    json_object_set_new(j, "notPermittedCalls", json_integer(s->not_permitted_calls));
    return j;
}

void hc_breaker_metrics(hc_breaker_t *b, int64_t now_ms, hc_buf_t *out, const char *service)
{
    static const hc_breaker_state_t states[] = {HC_BREAKER_CLOSED, HC_BREAKER_OPEN,
                                                HC_BREAKER_HALF_OPEN};
    static const char *const state_labels[] = {"closed", "open", "half_open"};
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(b, now_ms, &s);
    const char *n = b->name;
    hc_buf_adds(out, "# HELP resilience4j_circuitbreaker_state The states of the circuit breaker"
                     " (1 for the current one).\n"
                     "# TYPE resilience4j_circuitbreaker_state gauge\n");
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        hc_buf_printf(out,
                      "resilience4j_circuitbreaker_state{service=\"%s\",name=\"%s\",state=\"%s\"} "
                      "%d\n",
                      service, n, state_labels[i], s.state == states[i]);
    hc_buf_printf(out,
                  "# HELP resilience4j_circuitbreaker_failure_rate The failure rate of the"
                  " circuit breaker, percent (-1 below the minimum number of calls).\n"
                  "# TYPE resilience4j_circuitbreaker_failure_rate gauge\n"
                  "resilience4j_circuitbreaker_failure_rate{service=\"%s\",name=\"%s\"} %.1f\n",
                  service, n, (double)s.failure_rate);
    hc_buf_printf(out,
                  "# HELP resilience4j_circuitbreaker_slow_call_rate The slow call rate of the"
                  " circuit breaker, percent (-1 below the minimum number of calls).\n"
                  "# TYPE resilience4j_circuitbreaker_slow_call_rate gauge\n"
                  "resilience4j_circuitbreaker_slow_call_rate{service=\"%s\",name=\"%s\"} %.1f\n",
                  service, n, (double)s.slow_call_rate);
    hc_buf_printf(out,
                  "# HELP resilience4j_circuitbreaker_buffered_calls The calls in the sliding"
                  " window, by outcome.\n"
                  "# TYPE resilience4j_circuitbreaker_buffered_calls gauge\n"
                  "resilience4j_circuitbreaker_buffered_calls{service=\"%s\",name=\"%s\","
                  "kind=\"failed\"} %d\n"
                  "resilience4j_circuitbreaker_buffered_calls{service=\"%s\",name=\"%s\","
                  "kind=\"successful\"} %d\n",
                  service, n, s.failed_calls, service, n, s.successful_calls);
    hc_buf_printf(out,
                  "# HELP resilience4j_circuitbreaker_slow_calls The slow calls in the sliding"
                  " window, by outcome.\n"
                  "# TYPE resilience4j_circuitbreaker_slow_calls gauge\n"
                  "resilience4j_circuitbreaker_slow_calls{service=\"%s\",name=\"%s\","
                  "kind=\"successful\"} %d\n"
                  "resilience4j_circuitbreaker_slow_calls{service=\"%s\",name=\"%s\","
                  "kind=\"failed\"} %d\n",
                  service, n, s.slow_calls - s.slow_failed_calls, service, n, s.slow_failed_calls);
    hc_buf_printf(out,
                  "# HELP resilience4j_circuitbreaker_not_permitted_calls_total The calls the"
                  " circuit breaker refused.\n"
                  "# TYPE resilience4j_circuitbreaker_not_permitted_calls_total counter\n"
                  "resilience4j_circuitbreaker_not_permitted_calls_total{service=\"%s\","
                  "name=\"%s\",kind=\"not_permitted\"} %lld\n",
                  service, n, (long long)s.not_permitted_total);
}

/* ---- the bulkhead ---- */

struct hc_bulkhead {
    pthread_mutex_t mu;
    char name[NAME_MAX_LEN];
    int max;          /* places */
    int used;         /* places taken */
    int64_t rejected; /* calls refused */
};

hc_bulkhead_t *hc_bulkhead_create(const char *name, int max_concurrent_calls)
{
    if (!name || max_concurrent_calls < 1)
        return NULL;
    hc_bulkhead_t *h = hc_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    hc_strlcpy(h->name, name, sizeof h->name);
    h->max = max_concurrent_calls;
    return h;
}

void hc_bulkhead_destroy(hc_bulkhead_t *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int hc_bulkhead_acquire(hc_bulkhead_t *h)
{
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    if (h->used < h->max) {
        h->used++;
    } else {
        h->rejected++;
        rc = HC_EBUSY;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

void hc_bulkhead_release(hc_bulkhead_t *h)
{
    pthread_mutex_lock(&h->mu);
    if (h->used > 0)
        h->used--;
    pthread_mutex_unlock(&h->mu);
}

int hc_bulkhead_available(hc_bulkhead_t *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->max - h->used;
    pthread_mutex_unlock(&h->mu);
    return n;
}

int64_t hc_bulkhead_rejected(hc_bulkhead_t *h)
{
    pthread_mutex_lock(&h->mu);
    int64_t n = h->rejected;
    pthread_mutex_unlock(&h->mu);
    return n;
}

void hc_bulkhead_metrics(hc_bulkhead_t *h, hc_buf_t *out, const char *service)
{
    pthread_mutex_lock(&h->mu);
    int available = h->max - h->used, max = h->max;
    int64_t rejected = h->rejected;
    pthread_mutex_unlock(&h->mu);
    hc_buf_printf(out,
                  "# HELP resilience4j_bulkhead_available_concurrent_calls The number of available"
                  " permissions.\n"
                  "# TYPE resilience4j_bulkhead_available_concurrent_calls gauge\n"
                  "resilience4j_bulkhead_available_concurrent_calls{service=\"%s\",name=\"%s\"} "
                  "%d\n"
                  "# HELP resilience4j_bulkhead_max_allowed_concurrent_calls The maximum number of"
                  " available permissions.\n"
                  "# TYPE resilience4j_bulkhead_max_allowed_concurrent_calls gauge\n"
                  "resilience4j_bulkhead_max_allowed_concurrent_calls{service=\"%s\",name=\"%s\"} "
                  "%d\n"
                  "# HELP hc_bulkhead_rejected_calls_total Calls the bulkhead refused because all"
                  " its places were taken.\n"
                  "# TYPE hc_bulkhead_rejected_calls_total counter\n"
                  "hc_bulkhead_rejected_calls_total{service=\"%s\",name=\"%s\"} %lld\n",
                  service, h->name, available, service, h->name, max, service, h->name,
                  (long long)rejected);
}
