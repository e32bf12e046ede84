/* hc_supervisor: `healthcenter up`: starts the four services and the nginx
 * gateway as child processes, waits until all are ready, restarts a child that
 * dies, and stops everything on SIGINT/SIGTERM. See docs/supervisor.md. */
#ifndef HC_SUPERVISOR_H
#define HC_SUPERVISOR_H

#include <stddef.h>

#include "hc_buf.h"
#include "hc_config.h"

/* Runs the whole system in the foreground until SIGINT, SIGTERM or SIGHUP.
 * self_exe is the executable started for each service subcommand (normally
 * the resolved /proc/self/exe). Returns a process exit code: 0 after a clean
 * stop, 1 when start-up failed (a port in use, nginx missing, a child not
 * ready within cfg->ready_timeout_ms); every child is stopped before it
 * returns. Blocks SIGINT/SIGTERM/SIGHUP/SIGCHLD while it runs and restores the
 * signal mask before returning. */
int hc_supervisor_run(const hc_config_t *cfg, const char *self_exe);

/* Replaces every @NAME@ placeholder of the gateway template tmpl with its
 * value from cfg (ports, bind address, max body) and run_dir (an absolute
 * path), appending the result to out. Returns 0, or HC_EINVAL with a message
 * in err (size errlen) for an unknown placeholder or a value nginx could not
 * parse (say a run_dir with spaces). Nothing is freed; out stays the caller's. */
int hc_supervisor_render_gateway(const char *tmpl, const hc_config_t *cfg, const char *run_dir,
                                 hc_buf_t *out, char *err, size_t errlen);

/* Loads the gateway template text: the file named by $HC_GATEWAY_TEMPLATE
 * (an error when set but unreadable), else <exe_dir>/../gateway/nginx.conf.tmpl,
 * else <exe_dir>/../share/healthcenter/nginx.conf.tmpl, else the copy built
 * into the binary (hc_gateway_tmpl). exe_dir may be NULL. Returns a malloc'd
 * string the caller frees and names where it came from in source (size
 * srclen); NULL with a message in err when the named file cannot be read. */
char *hc_supervisor_load_template(const char *exe_dir, char *source, size_t srclen, char *err,
                                  size_t errlen);

/* The gateway template as built into the binary: generated from
 * gateway/nginx.conf.tmpl at build time (cmake/embed.cmake). */
extern const char hc_gateway_tmpl[];

#endif
