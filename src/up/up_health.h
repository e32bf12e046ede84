/* up_health: the whole system's health as the gateway's /actuator/health
 * shows it, built from what the supervisor knows of each child and what
 * each service's own /actuator/health answered (pure: no I/O here). */
#ifndef UP_HEALTH_H
#define UP_HEALTH_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* One component: a service or the gateway. Everything is borrowed. */
typedef struct up_health_child {
    const char *name;  /* "order", ..., "gateway" */
    pid_t pid;         /* the process serving it; 0 when none runs */
    int port;          /* its port */
    int restarts;      /* unexpected restarts so far */
    const char *state; /* the supervisor's word: "running", "starting", "restarting", "crash-loop",
                          "stopping" */
    const char *why;   /* why it is not running (or "" ) */
    int asked;         /* 1: its /actuator/health was fetched (a service that runs) */
    int status;        /* that answer's HTTP status, -1 when none came in time */
    const char *body;  /* that answer's body, NULL when none */
    long ms;           /* how long the fetch took */
} up_health_child_t;

/* Builds {"status": UP|DOWN, "components": {name: {"status", "details":
 * {pid, port, restarts, state[, reason]}[, "components"]}}} from c[0..n).
 * A service shows the status its own answer gives (with its components and
 * reason), or DOWN when it did not answer within timeout_ms, answered no
 * JSON, or does not run; the gateway is UP while its process runs. The whole
 * is UP when every component is, and *http_status is then 200, else 503.
 * Returns a new object (the caller owns it). */
json_t *up_health_aggregate(const up_health_child_t *c, size_t n, int timeout_ms, int *http_status);

#endif
