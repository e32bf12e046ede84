/* up_policy: back-off, crash-loop limit and liveness counting (pure). */
#include "up_policy.h"

#include <string.h>

void up_history_init(up_history_t *h, const up_policy_t *p)
{
    memset(h, 0, sizeof *h);
    h->backoff_ms = p->backoff_min_ms;
}

int up_policy_on_exit(const up_policy_t *p, up_history_t *h, int64_t started_ms, int64_t now_ms)
{
    /* Forget the restarts that left the window. */
    int keep = 0;
    for (int i = 0; i < h->n; i++)
        if (now_ms - h->restarts[i] < p->loop_window_ms)
            h->restarts[keep++] = h->restarts[i];
    h->n = keep;
    int limit = p->loop_restarts;
    if (limit > UP_POLICY_MAX_RESTARTS)
        limit = UP_POLICY_MAX_RESTARTS;
    if (h->n >= limit)
        return -1;
    if (now_ms - started_ms >= p->stable_ms)
        h->backoff_ms = p->backoff_min_ms;
    int delay = h->backoff_ms;
    h->backoff_ms = delay > p->backoff_max_ms / 2 ? p->backoff_max_ms : delay * 2;
    h->restarts[h->n++] = now_ms;
    h->probe_failures = 0;
    return delay;
}

int up_policy_on_probe(const up_policy_t *p, up_history_t *h, int ok)
{
    if (ok) {
        h->probe_failures = 0;
        return 0;
    }
    h->probe_failures++;
    return h->probe_failures >= p->probe_failures;
}
