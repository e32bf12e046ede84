/* hc_client: JSON calls to other services over libcurl with per-thread
 * reusable handles (keep-alive), timeouts, trace and request-id propagation. */
#include "hc_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hc_auth.h"
#include "hc_authz.h"
#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

#define MAX_RESPONSE (4 * 1024 * 1024)

static _Thread_local CURL *tl_curl;
/* Frees a thread's handle (and closes its kept-alive connections) when the
 * thread ends: the HTTP server runs a thread per connection. */
static pthread_key_t curl_key;
static pthread_once_t curl_key_once = PTHREAD_ONCE_INIT;
/* The last call on this thread's handle succeeded, so its connection may be
 * cached for reuse. libcurl silently retries a request on a fresh connection
 * when a reused one dies before any answer byte, even a POST the remote may
 * already have acted on; if that fresh connect is refused, "could not
 * connect" is then not proof that nothing was sent. */
static _Thread_local int tl_may_reuse;

static void curl_thread_end(void *handle)
{
    curl_easy_cleanup(handle);
}

static void curl_key_init(void)
{
    pthread_key_create(&curl_key, curl_thread_end);
}

void hc_client_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hc_client_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    hc_buf_t *b = ud;
    return hc_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

int hc_client_call(const hc_call_t *call, int *status, json_t **resp)
{
    *status = 0;
    if (resp)
        *resp = NULL;
    if (!tl_curl) {
        tl_curl = curl_easy_init();
        pthread_once(&curl_key_once, curl_key_init);
        if (tl_curl)
            pthread_setspecific(curl_key, tl_curl);
    }
    CURL *c = tl_curl;
    if (!c)
        return HC_ENOMEM;
    curl_easy_reset(c);

    char *body = call->body ? json_dumps(call->body, JSON_COMPACT) : NULL;
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (call->trace) {
        hc_trace_t child;
        char tp[HC_TRACEPARENT_LEN + 1], line[80];
        hc_trace_child(call->trace, &child);
        hc_trace_format(&child, tp);
        snprintf(line, sizeof line, "traceparent: %s", tp);
        hdrs = curl_slist_append(hdrs, line);
    }
    const char *request_id = hc_log_ctx_request_id();
    if (request_id[0]) {
        /* The request this call serves: the callee logs under the same id. */
        char line[32 + HC_LOG_REQUEST_ID_MAX];
        snprintf(line, sizeof line, "X-Request-Id: %s", request_id);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (call->extra_header)
        hdrs = curl_slist_append(hdrs, call->extra_header);
    if (call->caller) {
        /* The signed path is the URL's path without its query. */
        const char *p = strstr(call->url, "://");
        p = p ? strchr(p + 3, '/') : NULL;
        char path[512];
        hc_strlcpy(path, p ? p : "/", sizeof path);
        path[strcspn(path, "?#")] = '\0';
        hc_auth_headers_t sig;
        hc_auth_sign(call->caller, call->method, path, body, body ? strlen(body) : 0,
                     hc_now_ms() / 1000, &sig);
        hdrs = curl_slist_append(hdrs, sig.service);
        hdrs = curl_slist_append(hdrs, sig.timestamp);
        hdrs = curl_slist_append(hdrs, sig.signature);
        /* The service token authenticates the call like any caller's
         * (hc_authz); the signature above binds it to this method, path and
         * body. Without a token the callee answers 401: the call fails like
         * any refused call, so it is logged here only. */
        char bearer[HC_TOKEN_MAX_LEN + 40];
        if (hc_authz_service_header(call->caller, bearer, sizeof bearer) == 0)
            hdrs = curl_slist_append(hdrs, bearer);
    }

    hc_buf_t out;
    hc_buf_init(&out, MAX_RESPONSE);
    curl_easy_setopt(c, CURLOPT_URL, call->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)call->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(call->timeout_ms < 1000 ? call->timeout_ms : 1000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (call->fresh) {
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);

    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = HC_ETIMEDOUT;
    } else if ((cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) && !tl_may_reuse) {
        rc = HC_EUNAVAIL;
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
        /* A kept-alive connection may have carried the request first. */
        hc_warn("call %s %s failed: %s after a kept-alive connection; outcome unknown",
                call->method, call->url, curl_easy_strerror(cc));
        rc = HC_ETIMEDOUT;
    } else if (cc != CURLE_OK) {
        /* The request may have been sent (e.g. connection reset after send):
         * treat the outcome as unknown. */
        hc_warn("call %s %s failed: %s", call->method, call->url, curl_easy_strerror(cc));
        rc = HC_ETIMEDOUT;
    } else {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
        if (resp && out.len)
            *resp = json_loadb(out.data, out.len, 0, NULL);
    }
    tl_may_reuse = cc == CURLE_OK;
    hc_buf_cleanup(&out);
    curl_slist_free_all(hdrs);
    free(body);
    return rc;
}
