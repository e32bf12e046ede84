/* hc_worker: a named background thread whose body loops until stopped, with a
 * coalescing wake-up and a timed wait (monotonic clock) that a wake-up or the
 * stop cuts short. The one shape of every background loop of the services. */
#ifndef HC_WORKER_H
#define HC_WORKER_H

#include <stdint.h>

typedef struct hc_worker hc_worker_t;

/* The body of a worker, called once on its thread with the worker and the ud
 * given to hc_worker_start. It loops until hc_worker_stopping(w): a pass of
 * work, then hc_worker_wait for the next. When it returns the thread ends;
 * the worker must still be stopped with hc_worker_stop to free it. */
typedef void (*hc_worker_cb)(hc_worker_t *w, void *ud);

/* Starts a thread named name (copied; cut to 15 bytes, as ps and top show
 * it) that runs body(w, ud). ud is borrowed and must outlive the worker.
 * *out is set before body starts, so body may read it through ud (e.g. a
 * struct that holds the worker). Returns 0, or HC_EIO with *out NULL when the
 * thread cannot be created, in which case body is never called. Stop it with
 * hc_worker_stop. */
int hc_worker_start(const char *name, hc_worker_cb body, void *ud, hc_worker_t **out);

/* Asks the worker for a pass soon: its current hc_worker_wait, or else its
 * next one, returns at once. Wake-ups coalesce: any number of them before a
 * wait end that one wait only. Callable from any thread (the worker's own
 * too); takes a mutex briefly, never waits for the body. Accepts NULL. */
void hc_worker_wake(hc_worker_t *w);

/* Called by the body on the worker's thread: waits until a wake-up, the stop,
 * or ms milliseconds on the monotonic clock (a change of the wall clock does
 * not shorten or stretch it; ms <= 0 does not block). Consumes the pending
 * wake-up. Returns 1 when a wake-up or the stop ended the wait (or was
 * already there), 0 when the time ran out. */
int hc_worker_wait(hc_worker_t *w, int64_t ms);

/* Returns 1 once hc_worker_stop has been called for w, else 0 (also for
 * NULL). Callable from any thread; does not lock. */
int hc_worker_stopping(const hc_worker_t *w);

/* Stops w: marks it stopping, wakes its wait, waits for the body to return
 * (it finishes its current pass; how soon it returns is up to the body
 * checking hc_worker_stopping), joins the thread and frees w. Must not be
 * called from the worker's own thread. Accepts NULL. */
void hc_worker_stop(hc_worker_t *w);

#endif
