/* order_guard: the payment breaker and bulkhead of one order process, their
 * health component, metrics and log lines. */
#include "order_guard.h"

#include <stdlib.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_time.h"

#define GUARD_NAME "payment"

struct order_guard {
    hc_breaker_t *breaker;
    hc_bulkhead_t *bulkhead;
};

/* hc_breaker_transition_cb: one log line per state change. */
static void on_transition(void *ud, const char *name, hc_breaker_state_t from,
                          hc_breaker_state_t to, const hc_breaker_snapshot_t *s)
{
    (void)ud;
    if (to == HC_BREAKER_OPEN)
        hc_warn("circuit breaker %s %s -> OPEN: failure rate %.1f%%, slow-call rate %.1f%% of the "
                "last %d calls; bookings and refunds are refused for %lld ms",
                name, hc_breaker_state_name(from), (double)s->failure_rate,
                (double)s->slow_call_rate, s->buffered_calls,
                (long long)s->config.wait_duration_in_open_state_ms);
    else
        hc_info("circuit breaker %s %s -> %s", name, hc_breaker_state_name(from),
                hc_breaker_state_name(to));
}

int order_guard_create(const hc_config_t *cfg, order_guard_t **out)
{
    hc_breaker_config_t bc = {
        .sliding_window_size = cfg->payment_cb_sliding_window_size,
        .minimum_number_of_calls = cfg->payment_cb_minimum_number_of_calls,
        .failure_rate_threshold = cfg->payment_cb_failure_rate_threshold,
        .slow_call_rate_threshold = cfg->payment_cb_slow_call_rate_threshold,
        .slow_call_duration_threshold_ms = cfg->payment_cb_slow_call_duration_threshold_ms,
        .wait_duration_in_open_state_ms = cfg->payment_cb_wait_duration_in_open_state_ms,
        .permitted_number_of_calls_in_half_open_state =
            cfg->payment_cb_permitted_calls_in_half_open,
    };
    *out = NULL;
    order_guard_t *g = hc_xcalloc(1, sizeof *g);
    g->breaker = hc_breaker_create(GUARD_NAME, &bc, on_transition, NULL);
    g->bulkhead = hc_bulkhead_create(GUARD_NAME, cfg->payment_bulkhead_max_concurrent_calls);
    if (!g->breaker || !g->bulkhead) {
        hc_error("the payment circuit breaker or bulkhead settings are out of range");
        order_guard_destroy(g);
        return HC_EINVAL;
    }
    *out = g;
    return 0;
}

void order_guard_destroy(order_guard_t *g)
{
    if (!g)
        return;
    hc_breaker_destroy(g->breaker);
    hc_bulkhead_destroy(g->bulkhead);
    free(g);
}

/* hc_health_cb: Resilience4j's circuitBreakers component, with the payment
 * breaker's fields directly under details.payment. */
static json_t *health(void *ud)
{
    order_guard_t *g = ud;
    hc_breaker_snapshot_t s;
    hc_breaker_snapshot(g->breaker, hc_mono_ms(), &s);
    json_t *details = json_object();
    json_object_set_new(details, hc_breaker_name(g->breaker), hc_breaker_health_json(&s));
    return json_pack("{s:s, s:o}", "status", hc_breaker_health_status(s.state), "details", details);
}

/* hc_metrics_text_cb: the breaker's and the bulkhead's series. */
static void metrics(hc_buf_t *out, const char *service, void *ud)
{
    order_guard_t *g = ud;
    hc_breaker_metrics(g->breaker, hc_mono_ms(), out, service);
    hc_bulkhead_metrics(g->bulkhead, out, service);
}

void order_guard_register(order_guard_t *g, hc_http_t *http)
{
    hc_http_add_health(http, "circuitBreakers", health, g);
    hc_metrics_add_text(metrics, g);
}

int order_guard_enter(order_guard_t *g, order_guard_ticket_t *t, int *retry_after_s)
{
    int64_t retry_ms = 0;
    t->held = 0;
    *retry_after_s = 0;
    if (!g)
        return 0;
    /* The breaker first, as Resilience4j nests them: an open breaker answers
     * without touching the bulkhead. */
    int rc = hc_breaker_acquire(g->breaker, hc_mono_ms(), &t->permit, &retry_ms);
    if (rc) {
        *retry_after_s = retry_ms > 1000 ? (int)((retry_ms + 999) / 1000) : 1;
        hc_debug("payment call refused: circuit breaker %s",
                 retry_ms ? "open" : "half-open with its trial calls running");
        return HC_EUNAVAIL;
    }
    if ((rc = hc_bulkhead_acquire(g->bulkhead))) {
        hc_breaker_release(g->breaker, &t->permit);
        *retry_after_s = 1;
        hc_debug("payment call refused: the bulkhead's places are all taken");
        return HC_EBUSY;
    }
    t->held = 1;
    return 0;
}

void order_guard_leave(order_guard_t *g, order_guard_ticket_t *t, int64_t duration_ms, int failed)
{
    if (!g || !t->held)
        return;
    t->held = 0;
    hc_bulkhead_release(g->bulkhead);
    hc_breaker_record(g->breaker, &t->permit, hc_mono_ms(), duration_ms, failed);
}

void order_guard_cancel(order_guard_t *g, order_guard_ticket_t *t)
{
    if (!g || !t->held)
        return;
    t->held = 0;
    hc_bulkhead_release(g->bulkhead);
    hc_breaker_release(g->breaker, &t->permit);
}
