/* up_control: the control socket of `healthcenter up`, an HTTP/1.1 server on
 * the AF_UNIX socket $HC_RUN_DIR/up.sock (mode 0600: only its owner may
 * restart), its read-only twin on a loopback TCP port the kernel picks
 * (the gateway forwards /actuator/health there: nginx's workers may run as
 * another user, who could not reach a socket file in a private directory),
 * and the client `healthcenter restart` uses. The API:
 *   GET  /actuator/health               the whole system's health (200 UP, 503 otherwise)
 *   POST /services/{service}/restart    a rolling restart; answers once it is over
 * Answers are JSON; errors {"error","message","fields":[]}. See
 * docs/supervisor.md ("The control socket"). */
#ifndef UP_CONTROL_H
#define UP_CONTROL_H

#include <jansson.h>
#include <stddef.h>

#define UP_CONTROL_SOCKET "up.sock"    /* in the run directory */
#define UP_HEALTH_SOCKET "health.sock" /* in the run directory: health only */

/* What a request asks for (up_control_route). */
typedef enum up_ctl_route {
    UP_CTL_NOT_FOUND,       /* no such path */
    UP_CTL_METHOD,          /* a known path with another method (405) */
    UP_CTL_UNKNOWN_SERVICE, /* /services/{x}/restart with x not a service (404) */
    UP_CTL_HEALTH,          /* GET /actuator/health */
    UP_CTL_RESTART,         /* POST /services/{service}/restart */
} up_ctl_route_t;

/* Routes method and path (without a query) of a control request. names[0..n)
 * are the services that can be restarted; for UP_CTL_RESTART *service is the
 * index of the one named. *allow (may be NULL) gets the methods of the path
 * for UP_CTL_METHOD (a static string). Pure; everything is borrowed. */
up_ctl_route_t up_control_route(const char *method, const char *path, const char *const *names,
                                size_t n, int *service, const char **allow);

/* What the server asks of the supervisor; called on the server's threads
 * (a thread per connection), so each must be safe to call from any thread
 * and may block: a restart answers when it is over. */
typedef struct up_control_ops {
    /* The body of GET /actuator/health (a new object the server takes) and
     * its HTTP status in *status. */
    json_t *(*health)(void *ud, int *status);
    /* Restarts service i (an index of the names given to up_control_start)
     * and returns the answer's body (taken) with its status in *status.
     * NULL: this socket does not restart (404). */
    json_t *(*restart)(void *ud, int service, int *status);
    void *ud;
} up_control_ops_t;

typedef struct up_control up_control_t;

/* Serves the control API on the AF_UNIX socket at path, mode 0600 (a stale
 * socket file left there is removed first: the caller owns the run
 * directory, see hc_lock). names (n of them) and ops are borrowed until
 * up_control_stop.
 * The socket is close-on-exec. Returns 0 with *out set, or an hc_err with a
 * message in err (size errlen): a path too long for a socket address, or a
 * socket that cannot be bound. */
int up_control_start(const char *path, const char *const *names, size_t n,
                     const up_control_ops_t *ops, up_control_t **out, char *err, size_t errlen);

/* Serves the control API on fd, a listening socket: on success the server
 * takes it (up_control_stop closes it), on failure it stays the caller's.
 * path (may be NULL) names a socket file to remove at the stop. Returns 0
 * with *out set, or HC_EIO. */
int up_control_serve(int fd, const char *path, const char *const *names, size_t n,
                     const up_control_ops_t *ops, up_control_t **out);

/* Stops serving (waits for the requests being answered: answer the
 * restarts waiting first), removes the socket file and frees c. Accepts NULL. */
void up_control_stop(up_control_t *c);

/* The client: sends method url_path (e.g. "/services/order/restart") to
 * the control socket at path and waits up to timeout_ms. Returns 0 with the
 * HTTP status in *status and the parsed JSON body in *body (NULL when not
 * JSON; the caller decrefs); HC_EUNAVAIL when nothing serves the socket (no
 * `up` running: missing or refused), HC_ETIMEDOUT, or HC_EIO, each with a
 * message in err (size errlen). Needs hc_client_global_init. */
int up_control_call(const char *path, const char *method, const char *url_path, long timeout_ms,
                    int *status, json_t **body, char *err, size_t errlen);

#endif
