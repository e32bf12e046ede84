/* up_probe: the probes of `healthcenter up` (readiness, liveness, the
 * children's health for the gateway's /actuator/health): HTTP GETs run in
 * parallel on one libcurl multi handle, each reported as soon as it answers. */
#ifndef UP_PROBE_H
#define UP_PROBE_H

#include <stddef.h>
#include <sys/types.h>

/* A round of probes: add some, run them, add again. Opaque. */
typedef struct up_probe up_probe_t;

/* Called once for every probe of a round, as soon as that probe has finished:
 * id is the one given to up_probe_add, status the HTTP status of the answer
 * (100..599; only the status line counts, not the body), or -1 when nothing
 * answered with an HTTP status line in time (refused, reset, not HTTP, too
 * slow). */
typedef void (*up_probe_cb)(void *ud, int id, int status);

/* What one probe got, for up_probe_run_results. */
typedef struct up_probe_result {
    int status;       /* as for up_probe_cb: 100..599, or -1 */
    pid_t pid;        /* the X-HC-Pid header of the answer (the process that answered); 0 if none */
    const char *body; /* the body (NUL-terminated) when added with up_probe_add_body, else NULL */
    size_t body_len;
    long ms; /* how long the probe took, ms */
} up_probe_result_t;

/* Like up_probe_cb, with everything the probe got; r and its body are
 * borrowed for the call. */
typedef void (*up_probe_result_cb)(void *ud, int id, const up_probe_result_t *r);

/* Creates an empty set of probes, each of which may take at most timeout_ms
 * (connecting included). Needs curl_global_init (hc_client_global_init) done.
 * Never returns NULL (out of memory aborts); free with up_probe_destroy. No
 * connection outlives its probe, and every socket is close-on-exec, so a
 * child forked at any time (from another thread, too) inherits none. One
 * set belongs to one thread at a time. */
up_probe_t *up_probe_create(int timeout_ms);

/* Abandons the probes still added or in flight (their callbacks are never
 * called), closes their connections and frees p. Accepts NULL. */
void up_probe_destroy(up_probe_t *p);

/* Adds "GET url" (copied; no proxy is used) as probe id of the next round.
 * Returns 0, or HC_EIO when libcurl refused it: then nothing was added and no
 * callback will come for it. */
int up_probe_add(up_probe_t *p, int id, const char *url);

/* Like up_probe_add, and keeps the answer's body (up to 64 KB; a longer
 * one counts as no answer) for up_probe_run_results. */
int up_probe_add_body(up_probe_t *p, int id, const char *url);

/* Runs every probe added since the last round at once and calls cb(ud, ...)
 * for each as soon as it finishes; returns when all have finished, that is
 * after at most about the probe timeout. Returns the number of probes
 * reported (each exactly once, also when libcurl itself failed: as -1). */
int up_probe_run(up_probe_t *p, up_probe_cb cb, void *ud);

/* Like up_probe_run, reporting each probe's result (status, X-HC-Pid, body). */
int up_probe_run_results(up_probe_t *p, up_probe_result_cb cb, void *ud);

#endif
