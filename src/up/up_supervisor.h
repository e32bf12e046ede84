/* up_supervisor: `healthcenter up`: starts the four services and the nginx
 * gateway as child processes, waits until all are ready, restarts a child that
 * dies, and stops everything on SIGINT/SIGTERM. See docs/supervisor.md. */
#ifndef UP_SUPERVISOR_H
#define UP_SUPERVISOR_H

#include "hc_config.h"

/* Runs the whole system in the foreground until SIGINT, SIGTERM or SIGHUP.
 * self_exe is the executable started for each service subcommand (normally
 * the resolved /proc/self/exe); cfg and self_exe are borrowed. Returns a
 * process exit code: 0 after a clean stop, 1 when start-up failed (a port in
 * use, nginx missing, a child not ready within cfg->ready_timeout_ms); every
 * child is stopped before it returns. Blocks SIGINT/SIGTERM/SIGHUP/SIGCHLD
 * while it runs and restores the signal mask before returning. */
int up_supervisor_run(const hc_config_t *cfg, const char *self_exe);

#endif
