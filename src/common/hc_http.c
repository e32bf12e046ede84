/* hc_http: routing, body collection with a limit, JSON answers, trace context,
 * health and metrics endpoints, on libmicrohttpd, a thread per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <microhttpd.h>
#include <sys/socket.h>

#include "hc_http.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hc_auth.h"
#include "hc_authz.h"
#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_route.h"
#include "hc_time.h"

#define MAX_ROUTES 64
#define MAX_SEGS HC_ROUTE_MAX_SEGS
#define MAX_PARAMS 4
#define MAX_RESP_HEADERS 8
/* An oversized body up to this size is read and dropped so the client sees the
 * 413; beyond it the connection is closed at once. */
#define DISCARD_MAX (16u * 1024 * 1024)
/* After answers or bodies this large, free memory goes back to the system. */
#define TRIM_AFTER_BYTES (64u * 1024)
#define MAX_HEALTH 8 /* components of /actuator/health */

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51 /* Linux 4.5 */
#endif

typedef hc_route_t route_t; /* see hc_route.h */

struct hc_http {
    char service[32];
    char addr[64];
    int port;
    int max_conns;
    size_t max_body;
    struct MHD_Daemon *d;
    route_t routes[MAX_ROUTES];
    size_t n_routes;
    int (*ready)(void *ud, char *why, size_t n);
    void *ready_ud;
    char public_url[300]; /* base of links; see hc_http_set_public_url */
    int (*write_gate)(void *ud);
    void *write_gate_ud;
    struct {
        char name[32];
        hc_health_cb cb;
        void *ud;
    } health[MAX_HEALTH];
    size_t n_health;
    atomic_int inflight;    /* requests begun and not yet completed */
    atomic_int drain_begun; /* hc_http_drain was called */
    atomic_int draining;    /* ... and closed the listening socket: readiness says so */
    int share_port;         /* SO_REUSEPORT: a successor instance listens on the port too */
    int listen_fd;          /* ours until MHD has it; -1 once hc_http_drain closed it */
    char pid[16];           /* X-HC-Pid of the health answers */
};

struct hc_req {
    hc_http_t *http;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    hc_buf_t body;
    int too_large;
    size_t dropped; /* bytes of an oversized body read and dropped */
    int responded;
    size_t reply_len; /* bytes of the answer's body */
    hc_trace_t trace;
    char request_id[HC_LOG_REQUEST_ID_MAX + 1]; /* the gateway's X-Request-Id, "" if none */
    char *params[MAX_PARAMS];
    size_t n_params;
    char caller[40]; /* verified calling service, "" if none */
    int caller_checked;
    hc_principal_t principal; /* the bearer token's, role NONE without one */
    int principal_rc;         /* hc_token_from_header's result */
    int principal_checked;
    char *hdr_names[MAX_RESP_HEADERS];
    char *hdr_values[MAX_RESP_HEADERS];
    size_t n_hdrs;
    const char *route_label;
    int64_t start_us;   /* hc_mono_us when the request arrived */
    int probe_draining; /* a health probe's answer: 1 if it saw the server draining,
                           0 if not, -1 for other requests */
};

hc_http_t *hc_http_create(const char *service, const char *addr, int port, int max_conns,
                          size_t max_body)
{
    if (!service || port <= 0 || port > 65535 || max_conns < 1)
        return NULL;
    hc_http_t *h = hc_xcalloc(1, sizeof *h);
    hc_strlcpy(h->service, service, sizeof h->service);
    hc_strlcpy(h->addr, addr ? addr : "127.0.0.1", sizeof h->addr);
    h->port = port;
    h->max_conns = max_conns;
    h->max_body = max_body;
    h->listen_fd = -1;
    snprintf(h->pid, sizeof h->pid, "%ld", (long)getpid());
    snprintf(h->public_url, sizeof h->public_url, "http://%s:%d", h->addr, port);
    return h;
}

void hc_http_share_port(hc_http_t *h)
{
    h->share_port = 1;
}

void hc_http_set_public_url(hc_http_t *h, const char *url)
{
    hc_strlcpy(h->public_url, url, sizeof h->public_url);
}

void hc_http_route(hc_http_t *h, const char *method, const char *pattern, const char *query,
                   hc_handler_cb cb, void *ud)
{
    hc_http_route_as(h, HC_ACCESS_USER, method, pattern, query, cb, ud);
}

void hc_http_route_as(hc_http_t *h, hc_access_t access, const char *method, const char *pattern,
                      const char *query, hc_handler_cb cb, void *ud)
{
    if (h->n_routes >= MAX_ROUTES)
        hc_fatal("too many routes");
    route_t *r = &h->routes[h->n_routes++];
    r->access = access;
    hc_strlcpy(r->method, method, sizeof r->method);
    r->pattern = hc_xstrdup(pattern);
    r->query = hc_xstrdup(query ? query : "");
    r->cb = cb;
    r->ud = ud;
    char *copy = hc_xstrdup(pattern), *save = NULL;
    for (char *s = strtok_r(copy, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (r->n_segs >= MAX_SEGS)
            hc_fatal("route %s has too many segments", pattern);
        r->segs[r->n_segs++] = hc_xstrdup(s);
    }
    free(copy);
}

void hc_http_set_ready(hc_http_t *h, int (*ready)(void *ud, char *why, size_t n), void *ud)
{
    h->ready = ready;
    h->ready_ud = ud;
}

void hc_http_add_health(hc_http_t *h, const char *name, hc_health_cb cb, void *ud)
{
    if (h->n_health >= MAX_HEALTH)
        hc_fatal("too many health components (at most %d)", MAX_HEALTH);
    hc_strlcpy(h->health[h->n_health].name, name, sizeof h->health[0].name);
    h->health[h->n_health].cb = cb;
    h->health[h->n_health].ud = ud;
    h->n_health++;
}

void hc_http_set_write_gate(hc_http_t *h, int (*gate)(void *ud), void *ud)
{
    h->write_gate = gate;
    h->write_gate_ud = ud;
}

/* ---- request accessors ---- */

const char *hc_req_method(const hc_req_t *r)
{
    return r->method;
}
const char *hc_req_path(const hc_req_t *r)
{
    return r->url;
}

const char *hc_req_header(const hc_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *hc_req_query(const hc_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *hc_req_param(const hc_req_t *r, size_t i)
{
    return i < r->n_params ? r->params[i] : NULL;
}

int64_t hc_req_param_id(const hc_req_t *r, size_t i)
{
    long long v;
    const char *s = hc_req_param(r, i);
    if (!s || hc_parse_i64(s, &v) || v <= 0)
        return 0;
    return v;
}

const char *hc_req_body(const hc_req_t *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return hc_buf_str(&r->body);
}

const hc_trace_t *hc_req_trace(const hc_req_t *r)
{
    return &r->trace;
}

const char *hc_req_base_url(const hc_req_t *r)
{
    return r->http->public_url;
}

const char *hc_req_caller(hc_req_t *r)
{
    if (!r->caller_checked) {
        r->caller_checked = 1;
        const char *who = hc_req_header(r, HC_AUTH_HDR_SERVICE);
        if (hc_auth_verify(who, hc_req_header(r, HC_AUTH_HDR_TIME),
                           hc_req_header(r, HC_AUTH_HDR_SIGNATURE), r->method, r->url, r->body.data,
                           r->body.len, hc_now_ms() / 1000) == 0)
            hc_strlcpy(r->caller, who, sizeof r->caller);
        else if (who)
            hc_warn("a call claiming to come from service \"%.32s\" has no valid signature", who);
    }
    return r->caller[0] ? r->caller : NULL;
}

/* Reads the bearer token once: hc_req_principal and the route's access check
 * share the result. */
static int principal_load(hc_req_t *r)
{
    if (!r->principal_checked) {
        r->principal_checked = 1;
        r->principal_rc = hc_token_from_header(hc_req_header(r, "Authorization"),
                                               hc_now_ms() / 1000, &r->principal);
        if (r->principal_rc)
            memset(&r->principal, 0, sizeof r->principal);
    }
    return r->principal_rc;
}

const hc_principal_t *hc_req_principal(hc_req_t *r)
{
    principal_load(r);
    return &r->principal;
}

/* ---- replies ---- */

void hc_reply_header(hc_req_t *r, const char *name, const char *value)
{
    if (r->n_hdrs >= MAX_RESP_HEADERS)
        return;
    r->hdr_names[r->n_hdrs] = hc_xstrdup(name);
    r->hdr_values[r->n_hdrs] = hc_xstrdup(value);
    r->n_hdrs++;
}

static void reply_raw(hc_req_t *r, int status, const char *ctype, char *data, size_t len)
{
    if (r->responded) {
        free(data);
        return;
    }
    r->responded = 1;
    r->reply_len = len;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, data ? data : (void *)"", data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    char tp[HC_TRACEPARENT_LEN + 1];
    hc_trace_format(&r->trace, tp);
    MHD_add_response_header(resp, "traceparent", tp);
    for (size_t i = 0; i < r->n_hdrs; i++)
        MHD_add_response_header(resp, r->hdr_names[i], r->hdr_values[i]);
    /* While draining the client goes elsewhere for its next request. A health
     * probe's header agrees with the status it reports (an UP answer keeps the
     * connection); any other answer reads the flag now, so a booking that waited
     * through the signal still closes its connection. */
    if (r->probe_draining >= 0 ? r->probe_draining : atomic_load(&r->http->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);

    double secs = (double)(hc_mono_us() - r->start_us) / 1e6;
    hc_metrics_request(r->route_label ? r->route_label : "unmatched", r->method, status, secs);
}

void hc_reply_json(hc_req_t *r, int status, json_t *body)
{
    char *text = NULL;
    size_t len = 0;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        len = text ? strlen(text) : 0;
    }
    reply_raw(r, status, body ? "application/json;charset=UTF-8" : NULL, text, len);
}

void hc_reply_error(hc_req_t *r, int status, const char *code, const char *msg, json_t *fields)
{
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", msg);
    json_object_set_new(o, "fields", fields ? fields : json_array());
    hc_reply_json(r, status, o);
}

void hc_reply_text(hc_req_t *r, int status, const char *ctype, const char *text)
{
    reply_raw(r, status, ctype, hc_xstrdup(text), strlen(text));
}

int hc_req_json(hc_req_t *r, json_t **out)
{
    *out = NULL;
    const char *ct = hc_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct && !strcasestr(ct, "json")) {
        hc_reply_error(r, 415, "unsupported_media_type", "send the body as application/json", NULL);
        return HC_EINVAL;
    }
    if (r->body.len == 0) {
        hc_reply_error(r, 400, "malformed_json",
                       "the request body is empty; a JSON object is expected", NULL);
        return HC_EINVAL;
    }
    json_error_t err;
    json_t *root = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        char msg[256];
        snprintf(msg, sizeof msg, "malformed JSON at line %d column %d: %s", err.line, err.column,
                 err.text);
        hc_reply_error(r, 400, "malformed_json", msg, NULL);
        return HC_EINVAL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        hc_reply_error(r, 400, "malformed_json", "the request body must be a JSON object", NULL);
        return HC_EINVAL;
    }
    *out = root;
    return 0;
}

int hc_req_paging(hc_req_t *r, int64_t *page, int64_t *size)
{
    const char *bad = NULL;
    if (hc_paging_parse(hc_req_query(r, "page"), hc_req_query(r, "size"), page, size, &bad)) {
        int bad_page = strcmp(bad, "page") == 0;
        hc_reply_field_error(
            r, "page must be an integer from 0 to 1000000000 and size an integer >= 1",
            bad_page ? "page" : "size",
            bad_page ? "must be an integer from 0 to 1000000000"
                     : "must be an integer >= 1 (above 1000 it is capped at 1000)");
        return HC_EINVAL;
    }
    return 0;
}

json_t *hc_hal_page(hc_req_t *r, const char *name, json_t *items, int64_t page, int64_t size,
                    int64_t total)
{
    char href[600];
    snprintf(href, sizeof href, "%s%s", hc_req_base_url(r), r->url);
    int64_t pages = size > 0 ? (total + size - 1) / size : 0;
    return json_pack("{s:{s:o}, s:{s:{s:s}}, s:{s:I, s:I, s:I, s:I}}", "_embedded", name, items,
                     "_links", "self", "href", href, "page", "size", (json_int_t)size,
                     "totalElements", (json_int_t)total, "totalPages", (json_int_t)pages, "number",
                     (json_int_t)page);
}

void hc_hal_self(hc_req_t *r, json_t *obj, const char *rel, const char *path)
{
    char href[600];
    snprintf(href, sizeof href, "%s%s", hc_req_base_url(r), path);
    json_t *links = json_pack("{s:{s:s}}", "self", "href", href);
    if (rel)
        json_object_set_new(links, rel, json_pack("{s:s}", "href", href));
    json_object_set_new(obj, "_links", links);
}

/* ---- dispatch ---- */

typedef enum health_kind { HEALTH_LIVE, HEALTH_READY, HEALTH_ALL } health_kind_t;

/* The health paths: ours and Spring Boot's names for the same probes. */
static const struct {
    const char *path;
    health_kind_t kind;
} probes[] = {
    {"/health/live", HEALTH_LIVE},    {"/actuator/health/liveness", HEALTH_LIVE},
    {"/health/ready", HEALTH_READY},  {"/actuator/health/readiness", HEALTH_READY},
    {"/actuator/health", HEALTH_ALL},
};

/* The index of path in probes, or -1. */
static int health_probe(const char *path)
{
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        if (strcmp(path, probes[i].path) == 0)
            return (int)i;
    return -1;
}

/* Readiness: UP, OUT_OF_SERVICE while draining, or DOWN with the reason
 * (why, n bytes) the service's check gives. */
static const char *readiness(hc_req_t *r, char *why, size_t n)
{
    hc_http_t *h = r->http;
    r->probe_draining = atomic_load(&h->draining);
    if (r->probe_draining) {
        snprintf(why, n, "shutting down: finishing the requests in flight");
        return "OUT_OF_SERVICE";
    }
    if (h->ready && !h->ready(h->ready_ud, why, n)) {
        if (!why[0])
            snprintf(why, n, "not ready");
        return "DOWN";
    }
    return "UP";
}

/* Answers a health probe: liveness (always UP while the process answers),
 * readiness, or the whole /actuator/health with its components. 200 when
 * UP, else 503, as Spring Boot's actuator does. */
static void builtin_health(hc_req_t *r, health_kind_t kind)
{
    char why[512] = "";
    const char *status = kind == HEALTH_LIVE ? "UP" : readiness(r, why, sizeof why);
    json_t *body = json_pack("{s:s}", "status", status);
    if (why[0])
        json_object_set_new(body, "reason", json_string(why));
    if (kind == HEALTH_ALL) {
        json_t *components = json_object();
        json_object_set_new(components, "liveness", json_pack("{s:s}", "status", "UP"));
        json_object_set_new(components, "readiness", json_pack("{s:s}", "status", status));
        for (size_t i = 0; i < r->http->n_health; i++) {
            json_t *c = r->http->health[i].cb(r->http->health[i].ud);
            const char *cs = json_string_value(json_object_get(c, "status"));
            if (cs && strcmp(cs, "DOWN") == 0 && strcmp(status, "UP") == 0) {
                status = "DOWN";
                json_object_set_new(body, "status", json_string(status));
            }
            json_object_set_new(components, r->http->health[i].name, c ? c : json_object());
        }
        json_object_set_new(body, "components", components);
    }
    /* Which process answered: with a shared port (a restart in progress)
     * the supervisor needs to know whether its new instance serves. */
    hc_reply_header(r, "X-HC-Pid", r->http->pid);
    hc_reply_json(r, strcmp(status, "UP") == 0 ? 200 : 503, body);
}

/* Methods that change state pass the write gate first. */
static int is_write_method(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0 ||
           strcmp(m, "DELETE") == 0;
}

static void builtin_metrics(hc_req_t *r)
{
    hc_buf_t b;
    hc_buf_init(&b, 4 * 1024 * 1024);
    hc_metrics_render(&b, r->http->service);
    reply_raw(r, 200, "text/plain; version=0.0.4", hc_buf_take(&b), b.len);
}

/* 1 when name is in list, a comma-separated list of names. */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (end ? 1 : 0);
    }
    return 0;
}

typedef struct query_check {
    const char *allowed;
    const char *unknown; /* the first parameter not allowed */
} query_check_t;

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    (void)value;
    query_check_t *q = cls;
    if (in_list(q->allowed, key))
        return MHD_YES;
    q->unknown = key;
    return MHD_NO;
}

/* Checks that the request's query names only the parameters in allowed (a
 * comma list, "" for none): a misspelt filter must not silently list
 * everything. Answers 400 and returns 0 otherwise. */
static int query_allowed(hc_req_t *r, const char *allowed)
{
    query_check_t q = {.allowed = allowed, .unknown = NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    if (!q.unknown)
        return 1;
    char name[64], msg[160];
    hc_utf8_copy(name, sizeof name, q.unknown);
    if (*allowed)
        snprintf(msg, sizeof msg, "is not a query parameter of this resource (it takes: %s)",
                 allowed);
    else
        snprintf(msg, sizeof msg, "is not a query parameter: this resource takes none");
    hc_reply_field_error(r, "the request has an unknown query parameter", name, msg);
    return 0;
}

/* Checks the caller against a route's access level (hc_authz_check) before
 * anything else of the request is looked at. Answers 401 or 403 and returns
 * 0 when refused. */
static int access_allowed(hc_req_t *r, hc_access_t access)
{
    int rc = principal_load(r);
    switch (hc_authz_check(access, rc, &r->principal)) {
    case HC_AUTHZ_ALLOW:
        return 1;
    case HC_AUTHZ_NO_TOKEN:
        hc_reply_unauthorized(r, 0);
        return 0;
    case HC_AUTHZ_BAD_TOKEN:
        hc_reply_unauthorized(r, 1);
        return 0;
    default:
        hc_reply_forbidden(r, "this resource is for the services and the super-admin only");
        return 0;
    }
}

/* Splits the path into segments (in place in buf) and finds the route. */
static void dispatch(hc_req_t *r)
{
    hc_http_t *h = r->http;
    const char *path = r->url;
    int builtin = health_probe(path) >= 0 || strcmp(path, "/metrics") == 0;
    if (builtin && strcmp(r->method, "GET") != 0) {
        hc_reply_header(r, "Allow", "GET");
        hc_reply_error(r, 405, "method_not_allowed", "this method is not allowed on this resource",
                       NULL);
        return;
    }
    if (strcmp(path, "/metrics") == 0 && !access_allowed(r, HC_ACCESS_OPS))
        return;
    if (builtin && !query_allowed(r, ""))
        return;
    int probe = health_probe(path);
    if (probe >= 0) {
        r->route_label = probes[probe].path;
        builtin_health(r, probes[probe].kind);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        r->route_label = "/metrics";
        builtin_metrics(r);
        return;
    }
    char buf[1024];
    char *segs[MAX_SEGS + 1];
    char allow[MAX_ROUTES * 9] = ""; /* a 405's Allow: methods are at most 7 characters */
    int n = hc_path_split(path, buf, sizeof buf, segs);
    int i = n < 0 ? HC_ROUTE_NOT_FOUND
                  : hc_route_match(h->routes, h->n_routes, r->method, segs, (size_t)n, allow,
                                   sizeof allow);
    if (i >= 0) {
        route_t *rt = &h->routes[i];
        for (int k = 0; k < n && r->n_params < MAX_PARAMS; k++)
            if (rt->segs[k][0] == '{')
                r->params[r->n_params++] = hc_xstrdup(segs[k]);
        r->route_label = rt->pattern;
        if (!access_allowed(r, rt->access) || !query_allowed(r, rt->query))
            return;
        int gate =
            h->write_gate && is_write_method(r->method) ? h->write_gate(h->write_gate_ud) : 0;
        if (gate) {
            /* Readiness and the request metrics say so; one line per refused
             * request would only fill a full disk further. */
            hc_debug("%s %s refused: storage cannot take writes now (%s)", r->method, rt->pattern,
                     hc_strerror(gate));
            hc_reply_storage_error(r, gate);
            return;
        }
        rt->cb(r, rt->ud);
        if (!r->responded) {
            hc_error("handler for %s %s gave no answer", r->method, rt->pattern);
            hc_reply_internal(r, "the handler gave no answer");
        }
        return;
    }
    if (i == HC_ROUTE_NO_METHOD) {
        /* A 405 names the methods the path does have (RFC 9110 15.5.6). */
        hc_reply_header(r, "Allow", allow);
        hc_reply_error(r, 405, "method_not_allowed", "this method is not allowed on this resource",
                       NULL);
    } else
        hc_reply_not_found(r, "resource");
}

static void reply_too_large(hc_req_t *r)
{
    char msg[128];
    snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", r->http->max_body);
    hc_reply_error(r, 413, "payload_too_large", msg, NULL);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    hc_http_t *h = cls;
    hc_req_t *r = *con_cls;
    if (!r) {
        atomic_fetch_add(&h->inflight, 1);
        r = hc_xcalloc(1, sizeof *r);
        r->http = h;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->start_us = hc_mono_us();
        r->probe_draining = -1;
        hc_buf_init(&r->body, h->max_body);
        hc_trace_accept(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"),
                        &r->trace);
        const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
        if (hc_log_request_id_valid(rid))
            hc_strlcpy(r->request_id, rid, sizeof r->request_id);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        long long len;
        *con_cls = r;
        if (cl && hc_parse_i64(cl, &len) == 0 && len > (long long)h->max_body) {
            r->too_large = 1;
            /* A client that waits for "100 Continue" has sent no body yet:
             * answer at once and libmicrohttpd closes the connection. So too
             * for absurd sizes. Other clients are already sending; their body
             * is read and dropped so that they see the 413 and not a reset. */
            const char *expect =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
            if ((expect && strcasecmp(expect, "100-continue") == 0) || len > DISCARD_MAX) {
                hc_log_ctx_set(r->trace.trace_id, 0);
                hc_log_ctx_request(r->request_id);
                reply_too_large(r);
                hc_log_ctx_clear();
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_large && hc_buf_add(&r->body, upload, *upload_size) != 0)
            r->too_large = 1;
        if (r->too_large) {
            r->dropped += *upload_size;
            if (r->dropped > DISCARD_MAX && !r->responded)
                reply_too_large(r); /* stop reading; the connection is closed */
        }
        *upload_size = 0; /* an oversized body is read and dropped; the 413 follows at its end */
        return MHD_YES;
    }
    if (r->responded)
        return MHD_YES;
    hc_log_ctx_set(r->trace.trace_id, 0);
    hc_log_ctx_request(r->request_id);
    if (r->too_large) {
        reply_too_large(r);
    } else {
        dispatch(r);
    }
    hc_log_ctx_clear();
    return MHD_YES;
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    hc_req_t *r = *con_cls;
    if (!r)
        return;
    atomic_fetch_sub(&r->http->inflight, 1);
    /* A large answer (a page of 1,000 items) leaves megabytes of freed small
     * blocks in this thread's malloc arena; give them back to the system so
     * that one big read does not stay in the service's RSS for good. */
    if (r->reply_len >= TRIM_AFTER_BYTES || r->body.cap >= TRIM_AFTER_BYTES)
        malloc_trim(0);
    hc_buf_cleanup(&r->body);
    for (size_t i = 0; i < r->n_params; i++)
        free(r->params[i]);
    for (size_t i = 0; i < r->n_hdrs; i++) {
        free(r->hdr_names[i]);
        free(r->hdr_values[i]);
    }
    free(r);
    *con_cls = NULL;
}

/* Points the port's new connections at member index of its SO_REUSEPORT
 * group: a one-instruction classic BPF program, "return index", attached to
 * the group through fd (any member may attach it; it replaces the group's
 * program). The kernel numbers a group's sockets in the order they joined
 * and moves the last into the place of one that leaves; an index past the
 * last falls back to its usual hash over all. Returns 0 or -1 with errno. */
static int steer(int fd, unsigned index)
{
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, index)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

/* Opens h's listening socket on addr: close-on-exec, non-blocking (the
 * drain accepts from it until it is empty), SO_REUSEADDR, and with a shared
 * port SO_REUSEPORT and the steering that keeps new connections where they
 * go now (index 0: the instance already serving, or this one when alone).
 * Returns the socket or -1 with errno set. */
static int listen_on(const hc_http_t *h, const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1, e;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (h->share_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, SOMAXCONN) != 0 ||
        (h->share_port && steer(fd, 0) != 0)) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int hc_http_start(hc_http_t *h)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)h->port);
    if (inet_pton(AF_INET, h->addr, &sa.sin_addr) != 1) {
        hc_error("HC_BIND_ADDR %s is not an IPv4 address", h->addr);
        return HC_EINVAL;
    }
    int fd = listen_on(h, &sa);
    if (fd < 0) {
        hc_error("cannot listen on %s:%d: %s", h->addr, h->port, strerror(errno));
        return errno == EADDRINUSE ? HC_EUNAVAIL : HC_EIO;
    }
    /* A thread per connection, not a pool: in a pool a handler that waits on
     * another service stalls every connection its thread holds, and a call
     * back (payment -> order -> payment) can land on the very thread that
     * waits for it, or find every pool thread waiting. */
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, access_cb, h, MHD_OPTION_NOTIFY_COMPLETED, completed_cb,
                            h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->max_conns, MHD_OPTION_END);
    if (!h->d) {
        close(fd);
        hc_error("cannot serve on %s:%d", h->addr, h->port);
        return HC_EUNAVAIL;
    }
    h->listen_fd = fd;
    hc_info("listening on http://%s:%d%s", h->addr, h->port,
            h->share_port ? " (shared port: a restart's new instance can take it over)" : "");
    return 0;
}

int hc_http_take_traffic(hc_http_t *h)
{
    if (!h || !h->share_port || h->listen_fd < 0 || atomic_load(&h->drain_begun))
        return 0;
    /* Index 1: the newest of the two instances of a restart. Alone in the
     * group there is no index 1 and the kernel's hash picks this socket. */
    if (steer(h->listen_fd, 1) != 0) {
        hc_error("cannot steer new connections on port %d to this instance: %s", h->port,
                 strerror(errno));
        return HC_EIO;
    }
    return 0;
}

/* Stops h's listening: quiesces MHD, serves what the kernel already queued,
 * closes the socket. Returns the connections taken from the queue. */
static int stop_listening(hc_http_t *h)
{
    if (!h->d)
        return 0;
    MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd == MHD_INVALID_SOCKET)
        return 0;
    /* Closing a listening socket resets the connections still in its
     * accept queue: their clients' connect() succeeded, so they may have sent
     * a request already. Accept them first and serve them like the others
     * (in a restart the new instance gets the port's new connections before
     * this one drains, so this queue only holds what came before). */
    int taken = 0;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break; /* EAGAIN: empty */
        }
        /* MHD closes c itself when it cannot take it (connection limit). */
        if (MHD_add_connection(h->d, c, (struct sockaddr *)&ss, len) == MHD_YES)
            taken++;
    }
    close(fd);
    h->listen_fd = -1;
    return taken;
}

void hc_http_drain(hc_http_t *h)
{
    if (!h || atomic_exchange(&h->drain_begun, 1))
        return;
    int taken = stop_listening(h);
    /* Readiness turns OUT_OF_SERVICE only now: whoever sees it can count on
     * a new connection being refused. */
    atomic_store(&h->draining, 1);
    if (taken)
        hc_info("took %d connection(s) still queued on the listening socket before closing it",
                taken);
}

/* Connections MHD holds open now. */
static unsigned open_connections(hc_http_t *h)
{
    const union MHD_DaemonInfo *i =
        h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS) : NULL;
    return i ? i->num_connections : 0;
}

int hc_http_wait_idle(hc_http_t *h, int64_t deadline)
{
    /* With a shared port, the clients close their kept-alive connections
     * themselves (nginx once `up` reloads it, the services' calls with the
     * thread that made them): closing one under a client that is just
     * sending on it would fail that request. */
    while (h && (atomic_load(&h->inflight) > 0 || (h->share_port && open_connections(h) > 0))) {
        if (hc_deadline_left(deadline) == 0)
            return HC_ETIMEDOUT;
        hc_sleep_ms(5);
    }
    return 0;
}

int hc_http_inflight(hc_http_t *h)
{
    return h ? atomic_load(&h->inflight) : 0;
}

int hc_http_connections(hc_http_t *h)
{
    return h ? (int)open_connections(h) : 0;
}

void hc_http_destroy(hc_http_t *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d);
    for (size_t i = 0; i < h->n_routes; i++) {
        free(h->routes[i].pattern);
        free(h->routes[i].query);
        for (size_t k = 0; k < h->routes[i].n_segs; k++)
            free(h->routes[i].segs[k]);
    }
    free(h);
}

/* ---- shared error replies ---- */

void hc_reply_unauthorized(hc_req_t *req, int bad_token)
{
    if (bad_token) {
        hc_reply_header(req, "WWW-Authenticate",
                        "Bearer realm=\"healthcenter\", error=\"invalid_token\"");
        hc_reply_error(req, 401, "invalid_token",
                       "the bearer token is not valid (expired, altered or not ours); sign in"
                       " again",
                       NULL);
    } else {
        hc_reply_header(req, "WWW-Authenticate", "Bearer realm=\"healthcenter\"");
        hc_reply_error(req, 401, "unauthorized",
                       "sign in first: this resource needs an Authorization: Bearer token", NULL);
    }
}

void hc_reply_forbidden(hc_req_t *req, const char *message)
{
    hc_reply_error(req, 403, "forbidden", message, NULL);
}

void hc_reply_not_found(hc_req_t *req, const char *what)
{
    char msg[128];
    snprintf(msg, sizeof msg, "no such %s", what);
    hc_reply_error(req, 404, "not_found", msg, NULL);
}

void hc_reply_invalid(hc_req_t *req, const char *message, hc_fields_t *f)
{
    hc_reply_error(req, 400, "validation_failed", message, hc_fields_take(f));
}

void hc_reply_field_error(hc_req_t *req, const char *message, const char *field,
                          const char *field_message)
{
    hc_reply_error(req, 400, "validation_failed", message,
                   json_pack("[{s:s, s:s}]", "field", field, "message", field_message));
}

void hc_reply_internal(hc_req_t *req, const char *message)
{
    hc_reply_error(req, 500, "internal", message, NULL);
}

void hc_reply_storage_error(hc_req_t *req, int rc)
{
    if (rc == HC_ENOSPC) {
        hc_reply_header(req, "Retry-After", "5");
        hc_reply_error(req, 503, "storage_unavailable",
                       "storage is full or unavailable; nothing was changed; retry later", NULL);
    } else if (rc == HC_EUNAVAIL) {
        hc_reply_header(req, "Retry-After", "2");
        hc_reply_error(req, 503, "storage_unavailable",
                       "the database cannot be reached; nothing was changed; retry later", NULL);
    } else if (rc == HC_EBUSY) {
        hc_reply_header(req, "Retry-After", "1");
        hc_reply_error(req, 503, "storage_unavailable",
                       "storage is busy; nothing was changed; retry in a moment", NULL);
    } else {
        hc_error("storage failed: %s", hc_strerror(rc));
        hc_reply_internal(req, "the request could not be completed; nothing was changed");
    }
}
