/* up_policy: the arithmetic of self-healing, without processes or clocks of
 * its own: how long to wait before restarting a child that exited
 * (exponential back-off), when to give up on one that keeps exiting (the
 * crash-loop limit) and when failed liveness probes mean it hangs. The
 * supervisor (up_supervisor.c) feeds it times and probe outcomes. */
#ifndef UP_POLICY_H
#define UP_POLICY_H

#include <stdint.h>

#define UP_POLICY_MAX_RESTARTS 100 /* largest crash-loop limit (HC_CRASH_LOOP_RESTARTS) */

/* The rules: all times in ms. */
typedef struct up_policy {
    int backoff_min_ms; /* delay before the first restart */
    int backoff_max_ms; /* the delay doubles after each restart up to this */
    int stable_ms;      /* a child that ran this long restarts after backoff_min_ms again */
    int loop_restarts;  /* restarts allowed within loop_window_ms (1..UP_POLICY_MAX_RESTARTS) */
    int loop_window_ms; /* the crash-loop window */
    int probe_failures; /* liveness probes failed in a row that mean "hangs" */
} up_policy_t;

/* One child's restart history; the caller embeds it (up_history_init). */
typedef struct up_history {
    int backoff_ms;                           /* delay before the next restart */
    int64_t restarts[UP_POLICY_MAX_RESTARTS]; /* when each restart within the window was decided */
    int n;                                    /* entries in restarts, oldest first */
    int probe_failures;                       /* liveness probes failed in a row */
} up_history_t;

/* Starts h afresh: no restarts, the minimum delay, no failed probe. */
void up_history_init(up_history_t *h, const up_policy_t *p);

/* A child that started at started_ms exited (or was killed because it hung)
 * at now_ms. Returns the delay in ms before it is started again, and records
 * that restart; or -1 when it was restarted p->loop_restarts times within
 * the last p->loop_window_ms already: a crash loop, give up on it (nothing
 * is recorded). A child that ran p->stable_ms or longer restarts after
 * p->backoff_min_ms; otherwise each restart doubles the next delay up to
 * p->backoff_max_ms. */
int up_policy_on_exit(const up_policy_t *p, up_history_t *h, int64_t started_ms, int64_t now_ms);

/* Counts one liveness probe: ok = it answered in time. Returns 1 when this
 * makes p->probe_failures failures in a row (the child hangs: replace it),
 * else 0. A success resets the count. */
int up_policy_on_probe(const up_policy_t *p, up_history_t *h, int ok);

#endif
