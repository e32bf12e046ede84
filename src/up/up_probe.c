/* up_probe: parallel readiness probes on a libcurl multi handle: one easy
 * handle per probe, no connection reuse, the status line is what counts. */
#include "up_probe.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"

#define POLL_MAX_MS 1000 /* longest single wait for socket activity; libcurl shortens it */

/* One probe added or in flight. */
typedef struct inflight {
    CURL *easy;
    int id;
} inflight_t;

struct up_probe {
    CURLM *multi;
    int timeout_ms;       /* per probe */
    inflight_t *inflight; /* the probes of the current round */
    size_t n, cap;
};

up_probe_t *up_probe_create(int timeout_ms)
{
    up_probe_t *p = hc_xcalloc(1, sizeof *p);
    p->multi = curl_multi_init();
    if (!p->multi)
        hc_fatal("out of memory creating a libcurl multi handle");
    p->timeout_ms = timeout_ms;
    return p;
}

/* Removes probe i of the round from the multi handle and frees it. */
static void drop(up_probe_t *p, size_t i)
{
    curl_multi_remove_handle(p->multi, p->inflight[i].easy);
    curl_easy_cleanup(p->inflight[i].easy);
    p->inflight[i] = p->inflight[--p->n];
}

void up_probe_destroy(up_probe_t *p)
{
    if (!p)
        return;
    while (p->n > 0)
        drop(p, p->n - 1);
    curl_multi_cleanup(p->multi);
    free(p->inflight);
    free(p);
}

/* Discards the body: only the status counts. */
static size_t discard(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

int up_probe_add(up_probe_t *p, int id, const char *url)
{
    CURL *e = curl_easy_init();
    if (!e)
        hc_fatal("out of memory creating a libcurl handle");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the children are local: never a proxy */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "healthcenter-supervisor");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Connection: close, and nothing cached in the multi handle between rounds. */
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)(intptr_t)id);
    if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return HC_EIO;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->inflight = hc_xrealloc(p->inflight, p->cap * sizeof *p->inflight);
    }
    p->inflight[p->n++] = (inflight_t){.easy = e, .id = id};
    return 0;
}

/* Reports probe i of the round to cb and drops it. */
static void finish(up_probe_t *p, size_t i, up_probe_cb cb, void *ud)
{
    long code = 0;
    curl_easy_getinfo(p->inflight[i].easy, CURLINFO_RESPONSE_CODE, &code);
    int id = p->inflight[i].id;
    drop(p, i);
    cb(ud, id, code >= 100 && code <= 599 ? (int)code : -1);
}

int up_probe_run(up_probe_t *p, up_probe_cb cb, void *ud)
{
    int reported = 0;
    while (p->n > 0) {
        int running = 0;
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (size_t i = 0; i < p->n; i++) {
                if (p->inflight[i].easy == msg->easy_handle) {
                    finish(p, i, cb, ud);
                    reported++;
                    break;
                }
            }
        }
        if (mc == CURLM_OK && p->n > 0)
            mc = curl_multi_poll(p->multi, NULL, 0, POLL_MAX_MS, NULL);
        if (mc != CURLM_OK) {
            /* libcurl cannot go on: what is left did not answer. */
            hc_warn("readiness probes: %s", curl_multi_strerror(mc));
            while (p->n > 0) {
                int id = p->inflight[p->n - 1].id;
                drop(p, p->n - 1);
                cb(ud, id, -1);
                reported++;
            }
        }
    }
    return reported;
}
