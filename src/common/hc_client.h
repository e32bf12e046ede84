/* hc_client: outgoing JSON-over-HTTP calls on libcurl, one reused handle per
 * thread (connections stay alive). Carries the caller's trace context. */
#ifndef HC_CLIENT_H
#define HC_CLIENT_H

#include <jansson.h>

#include "hc_trace.h"

typedef struct hc_call {
    const char *method; /* "GET", "POST", ... */
    const char *url;
    json_t *body;             /* borrowed, may be NULL */
    int timeout_ms;           /* whole-call limit */
    const hc_trace_t *trace;  /* parent context, may be NULL */
    const char *extra_header; /* one "Name: value" header, may be NULL */
    const char *caller;       /* sign the call as this service (hc_auth) and send its service
                                 token (hc_authz_service_header); NULL: neither */
    /* 1: on a new connection, closed after the call. For a call back to a
     * service that is itself waiting on this request: its kept-alive
     * connection may belong to the very server thread that waits, which
     * would answer only after the wait gave up. */
    int fresh;
} hc_call_t;

/* Performs the call. It carries the calling thread's request id
 * (hc_log_ctx_request_id) as X-Request-Id when there is one, so that the
 * callee's log lines for this call name the same request. Returns 0 when an
 * HTTP answer arrived (*status set and *resp the parsed JSON body or NULL;
 * caller decrefs), HC_EUNAVAIL when it could not connect and no earlier
 * attempt of this call can have reached the remote (the remote did not act),
 * HC_ETIMEDOUT otherwise: timeout, reset, or a refused connect after
 * libcurl's retry of a kept-alive connection (the remote may have acted). */
int hc_client_call(const hc_call_t *call, int *status, json_t **resp);

/* Process-wide libcurl set-up/tear-down; call from main. */
void hc_client_global_init(void);
void hc_client_global_cleanup(void);

#endif
