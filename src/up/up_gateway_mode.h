/* up_gateway_mode: `healthcenter gateway`, the nginx gateway alone, for a
 * container or pod of its own in front of services that run elsewhere
 * (HC_<SERVICE>_HOST): renders the template, runs nginx in the foreground and
 * answers the gateway's /actuator/health from the services' own.
 * docs/deploy.md. */
#ifndef UP_GATEWAY_MODE_H
#define UP_GATEWAY_MODE_H

#include "hc_config.h"

/* Runs the gateway until SIGTERM, SIGINT or nginx's end: creates HC_RUN_DIR,
 * renders nginx.conf there (upstreams at HC_<SERVICE>_HOST:HC_<SERVICE>_PORT),
 * points access.log and error.log at its own stdout and stderr (when they
 * are not files already: a container's log is its output), starts nginx
 * and serves /actuator/health for it on a loopback port. SIGTERM or SIGINT
 * stops nginx gracefully (SIGQUIT: requests in flight finish, at most 10 s),
 * SIGHUP renders the config again and reloads nginx. Returns the exit code:
 * 0 after a requested stop, 1 when nginx could not start or ended by
 * itself. cfg is borrowed. */
int up_gateway_mode_run(const hc_config_t *cfg);

#endif
