/* hc_worker: one background thread with a wake-up flag and a condition
 * variable on CLOCK_MONOTONIC; the loops of the services run on it. */
#include "hc_worker.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_time.h"

struct hc_worker {
    char name[16]; /* the thread's name: 15 bytes and the NUL (the kernel's limit) */
    hc_worker_cb body;
    void *ud;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int woken;         /* a wake-up arrived since the last wait; under mu */
    atomic_int stop;   /* set once, under mu, by hc_worker_stop */
};

static void *worker_main(void *arg)
{
    hc_worker_t *w = arg;
    pthread_setname_np(pthread_self(), w->name);
    w->body(w, w->ud);
    return NULL;
}

int hc_worker_start(const char *name, hc_worker_cb body, void *ud, hc_worker_t **out)
{
    hc_worker_t *w = hc_xcalloc(1, sizeof *w);
    hc_strlcpy(w->name, name, sizeof w->name);
    w->body = body;
    w->ud = ud;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    /* Set before the thread exists, so the body may already read it
     * through its ud (pthread_create orders this write before the body). */
    *out = w;
    int rc = pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : HC_EIO;
    if (rc) {
        *out = NULL;
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
    return rc;
}

void hc_worker_wake(hc_worker_t *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->woken = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int hc_worker_wait(hc_worker_t *w, int64_t ms)
{
    struct timespec until;
    if (ms > 0)
        hc_mono_timespec(ms, &until);
    pthread_mutex_lock(&w->mu);
    int timed_out = ms <= 0;
    while (!w->woken && !atomic_load(&w->stop) && !timed_out)
        timed_out = pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0;
    /* A wake-up that came with the timeout still counts: it is consumed here
     * and the caller's next pass serves it either way. */
    int early = w->woken || atomic_load(&w->stop);
    w->woken = 0;
    pthread_mutex_unlock(&w->mu);
    return early;
}

int hc_worker_stopping(const hc_worker_t *w)
{
    return w && atomic_load(&w->stop);
}

void hc_worker_stop(hc_worker_t *w)
{
    if (!w)
        return;
    assert(!pthread_equal(pthread_self(), w->thread));
    /* Set under the mutex, so a wait that has just checked the flag is
     * already asleep on the condition variable and gets the signal. */
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
