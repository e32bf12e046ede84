/* hc_http: the HTTP server of every service, on libmicrohttpd with a thread
 * per connection: a handler that waits (a commit, a call to another service)
 * holds up only its own connection, and a call back into this service (payment
 * -> order -> payment) always finds a thread.
 * Routes map "METHOD /path/{param}" to handlers; the server adds the health,
 * metrics, body-limit, trace-context and JSON-error conventions of SYSTEM.md. */
#ifndef HC_HTTP_H
#define HC_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_authz.h"
#include "hc_token.h"
#include "hc_trace.h"
#include "hc_valid.h"

typedef struct hc_http hc_http_t;
typedef struct hc_req hc_req_t;

/* Handles one request; must answer through one hc_reply_* call (a handler that
 * does not answer yields a 500). Runs on its connection's thread, may block. */
typedef void (*hc_handler_cb)(hc_req_t *req, void *ud);

/* Creates a server for service (name used in logs/metrics) on addr:port,
 * serving at most max_conns connections at once (libmicrohttpd closes one
 * beyond them as soon as it is accepted). Returns NULL on bad arguments.
 * Destroy with hc_http_destroy. */
hc_http_t *hc_http_create(const char *service, const char *addr, int port, int max_conns,
                          size_t max_body);

/* Adds a route before hc_http_start. pattern segments "{x}" match one path
 * segment, read back with hc_req_param. Method "*" matches any. query lists
 * the query parameters the route takes, comma-separated ("page,size,phone";
 * NULL or "" for none): a request naming any other is answered 400 before
 * the handler runs. */
void hc_http_route(hc_http_t *h, const char *method, const char *pattern, const char *query,
                   hc_handler_cb cb, void *ud);

/* Adds a route like hc_http_route with its access level (hc_authz.h), which
 * the server checks before the handler runs: a request without a valid token
 * where one is needed answers 401 (WWW-Authenticate: Bearer), a valid token
 * whose role the level excludes 403. hc_http_route is HC_ACCESS_USER: a route
 * is protected unless registered otherwise. */
void hc_http_route_as(hc_http_t *h, hc_access_t access, const char *method, const char *pattern,
                      const char *query, hc_handler_cb cb, void *ud);

/* Sets the base of every link and Location (HC_PUBLIC_URL, no trailing '/').
 * Default: http://addr:port of this server. */
void hc_http_set_public_url(hc_http_t *h, const char *url);

/* Sets the readiness check behind /health/ready and /actuator/health: it
 * returns 1 when ready, else 0 with one line saying why in why (n bytes),
 * answered as {"status":"DOWN","reason":why} with 503. */
void hc_http_set_ready(hc_http_t *h, int (*ready)(void *ud, char *why, size_t n), void *ud);

/* Sets a gate asked before every POST, PUT, PATCH or DELETE on a route: 0
 * lets the request through; an hc_err refuses it at once with
 * hc_reply_storage_error (the service knows its storage cannot take writes
 * now, so the handler would fail after doing part of its work). */
void hc_http_set_write_gate(hc_http_t *h, int (*gate)(void *ud), void *ud);

/* A component of /actuator/health (Spring Boot's "components"): returns a
 * new object {"status": ..., "details": {...}} (hc_http takes it). Runs on
 * the request's thread and must answer at once. */
typedef json_t *(*hc_health_cb)(void *ud);

/* Adds component name to /actuator/health, before hc_http_start (at most 8).
 * A component whose status is "DOWN" makes the whole DOWN; any other status
 * ("UP", "CIRCUIT_OPEN", ...) is shown only: the service itself still works. */
void hc_http_add_health(hc_http_t *h, const char *name, hc_health_cb cb, void *ud);

/* Shares the port, before hc_http_start: the server listens with
 * SO_REUSEPORT, so that a second instance of the service (a rolling restart
 * under `healthcenter up`) can listen on the same port while this one still
 * serves, and new connections keep going to the instance that served the
 * port first until the newer one calls hc_http_take_traffic. See
 * docs/supervisor.md ("Rolling restart"). */
void hc_http_share_port(hc_http_t *h);

/* Starts listening (on its own close-on-exec socket, backlog SOMAXCONN).
 * Returns 0 or an hc_err (port in use: HC_EUNAVAIL). */
int hc_http_start(hc_http_t *h);

/* With a shared port: from now on the port's new connections come to this
 * server, the newest instance listening on it (a classic BPF program
 * attached to the port's SO_REUSEPORT group). Call once the service is
 * ready. Returns 0 (also without a shared port, or after hc_http_drain:
 * nothing to do), or HC_EIO when the kernel refused the program. */
int hc_http_take_traffic(hc_http_t *h);

/* Begins a graceful stop: no new connections are accepted, readiness
 * answers 503 OUT_OF_SERVICE, and every answer from now on carries
 * "Connection: close" so that kept-alive clients go elsewhere. The
 * connections the kernel had already queued on the listening socket are
 * accepted and served (closing it with them queued would reset them), then
 * it closes. Requests in flight, and requests still arriving on open
 * connections, are served. Idempotent; accepts NULL. */
void hc_http_drain(hc_http_t *h);

/* Waits until no request is in flight or the monotonic deadline (hc_time)
 * passes; with a shared port also until the clients have closed every
 * connection (none is closed under a client that may be sending on it).
 * Returns 0, or HC_ETIMEDOUT with requests still running or connections
 * still open. */
int hc_http_wait_idle(hc_http_t *h, int64_t deadline);

/* Requests begun and not yet completed (0 for NULL). */
int hc_http_inflight(hc_http_t *h);

/* Connections open now (0 for NULL). */
int hc_http_connections(hc_http_t *h);

/* Stops listening and frees the server; requests still running are cut.
 * Accepts NULL. */
void hc_http_destroy(hc_http_t *h);

/* Request accessors: all strings are borrowed for the handler's duration. */
const char *hc_req_method(const hc_req_t *r);
const char *hc_req_path(const hc_req_t *r);
const char *hc_req_header(const hc_req_t *r, const char *name);
/* Query argument by name, NULL when absent. */
const char *hc_req_query(const hc_req_t *r, const char *name);
/* Path parameter i (0-based, in pattern order), NULL when absent. */
const char *hc_req_param(const hc_req_t *r, size_t i);
/* Path parameter i as a positive id; 0 when it is not one. */
int64_t hc_req_param_id(const hc_req_t *r, size_t i);
const char *hc_req_body(const hc_req_t *r, size_t *len);
/* The request's trace context (accepted or generated). */
const hc_trace_t *hc_req_trace(const hc_req_t *r);
/* The configured public base URL (see hc_http_set_public_url), for _links and
 * Location; never derived from the request's Host or X-Forwarded-* headers. */
const char *hc_req_base_url(const hc_req_t *r);

/* The service that signed this request (see hc_auth), or NULL when it carries
 * no valid signature. Verified once per request. */
const char *hc_req_caller(hc_req_t *r);

/* The caller's verified principal (hc_token_from_header of its Authorization
 * header, read once per request); role HC_ROLE_NONE without a valid token.
 * Never NULL; borrowed for the handler's duration. */
const hc_principal_t *hc_req_principal(hc_req_t *r);

/* Parses the body as a JSON object into *out (caller decrefs). On failure it
 * has already answered 400 (malformed, not an object) or 415 (not JSON) and
 * returns HC_EINVAL. */
int hc_req_json(hc_req_t *r, json_t **out);

#define HC_PAGE_SIZE_DEFAULT 20
#define HC_PAGE_SIZE_MAX 1000
#define HC_PAGE_MAX 1000000000

/* Reads ?page=&size= (defaults 0 and 20; any size above 1000 is capped at
 * 1000). On bad values answers 400 and returns HC_EINVAL. */
int hc_req_paging(hc_req_t *r, int64_t *page, int64_t *size);

/* Adds a response header (copied); call before hc_reply_*. */
void hc_reply_header(hc_req_t *r, const char *name, const char *value);
/* Answers status with body (taken; NULL for no body). */
void hc_reply_json(hc_req_t *r, int status, json_t *body);
/* Answers {"error":code,"message":msg,"fields":fields}; fields taken, may be NULL. */
void hc_reply_error(hc_req_t *r, int status, const char *code, const char *msg, json_t *fields);
/* Answers text with a content type (for /metrics). */
void hc_reply_text(hc_req_t *r, int status, const char *ctype, const char *text);

/* Answers 401 unauthorized with WWW-Authenticate: Bearer (RFC 6750):
 * bad_token 0 when the request carries no token, 1 when its token does not
 * verify (invalid_token: forged, expired, wrongly signed). */
void hc_reply_unauthorized(hc_req_t *req, int bad_token);

/* Answers 403 forbidden with message (a valid caller that may not do this). */
void hc_reply_forbidden(hc_req_t *req, const char *message);

/* Answers 404 not_found "no such <what>". */
void hc_reply_not_found(hc_req_t *req, const char *what);

/* Answers 400 validation_failed with message and the errors collected in f
 * (taken; see hc_valid.h). */
void hc_reply_invalid(hc_req_t *req, const char *message, hc_fields_t *f);

/* Answers 400 validation_failed with message and one error: field and what
 * is wrong with it. */
void hc_reply_field_error(hc_req_t *req, const char *message, const char *field,
                          const char *field_message);

/* Answers 500 internal with message (what could not be done; say whether
 * anything changed). The cause goes to the log, never to the caller. */
void hc_reply_internal(hc_req_t *req, const char *message);

/* Answers a storage failure rc: HC_ENOSPC -> 503 "storage_unavailable" with
 * Retry-After: 5 (storage full or unavailable, nothing was changed);
 * HC_EBUSY -> 503 "storage_unavailable" with Retry-After: 1 (busy, nothing
 * was changed); anything else -> 500 "internal". Call after rolling back. */
void hc_reply_storage_error(hc_req_t *req, int rc);

/* Builds a Spring Data REST collection page:
 * {"_embedded":{name:items},"_links":{"self":{"href":base+path}},
 *  "page":{"size","totalElements","totalPages","number"}}. items taken. */
json_t *hc_hal_page(hc_req_t *r, const char *name, json_t *items, int64_t page, int64_t size,
                    int64_t total);
/* Adds "_links":{"self":{href},rel:{href}} for base+path to obj (borrowed). */
void hc_hal_self(hc_req_t *r, json_t *obj, const char *rel, const char *path);

#endif
