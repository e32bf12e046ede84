/* up_probe: parallel probes on a libcurl multi handle: one easy handle per
 * probe, no connection reuse; the status line counts, and the X-HC-Pid
 * header and the body when asked for. */
#include "up_probe.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

#define POLL_MAX_MS 1000       /* longest single wait for socket activity; libcurl shortens it */
#define BODY_MAX (64u * 1024)  /* largest body kept */
#define PID_HEADER "X-HC-Pid:" /* the process that answered (hc_http's health answers) */

/* One probe added or in flight; heap-allocated so libcurl's callbacks can
 * point at it while the table around it changes. */
typedef struct inflight {
    CURL *easy;
    int id;
    pid_t pid;        /* from X-HC-Pid */
    int keep_body;    /* body is collected */
    int body_too_big; /* more than BODY_MAX arrived */
    hc_buf_t body;
    int64_t start_ms;
} inflight_t;

struct up_probe {
    CURLM *multi;
    int timeout_ms;        /* per probe */
    inflight_t **inflight; /* the probes of the current round */
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
    inflight_t *f = p->inflight[i];
    curl_multi_remove_handle(p->multi, f->easy);
    curl_easy_cleanup(f->easy);
    hc_buf_cleanup(&f->body);
    free(f);
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

/* Keeps the body when asked for, else discards it: only the status counts. */
static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    inflight_t *f = ud;
    if (f->keep_body && !f->body_too_big && hc_buf_add(&f->body, data, size * n) != 0)
        f->body_too_big = 1;
    return size * n;
}

/* Picks the X-HC-Pid header out of the answer's headers. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    inflight_t *f = ud;
    size_t len = size * n, k = sizeof PID_HEADER - 1;
    if (len > k && strncasecmp(data, PID_HEADER, k) == 0) {
        char v[24];
        size_t vl = len - k < sizeof v - 1 ? len - k : sizeof v - 1;
        memcpy(v, data + k, vl);
        v[vl] = '\0';
        long long pid;
        char *s = v + strspn(v, " \t");
        s[strcspn(s, " \t\r\n")] = '\0';
        if (hc_parse_i64(s, &pid) == 0 && pid > 0 && pid <= 0x7fffffff)
            f->pid = (pid_t)pid;
    }
    return len;
}

/* Opens every probe's socket close-on-exec: the supervisor forks its
 * children while another of its threads may be probing. */
static curl_socket_t open_cloexec(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)ud;
    (void)purpose;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Adds one probe; keep_body says whether its body is kept. */
static int add(up_probe_t *p, int id, const char *url, int keep_body)
{
    CURL *e = curl_easy_init();
    if (!e)
        hc_fatal("out of memory creating a libcurl handle");
    inflight_t *f = hc_xcalloc(1, sizeof *f);
    f->easy = e;
    f->id = id;
    f->keep_body = keep_body;
    f->start_ms = hc_mono_ms();
    hc_buf_init(&f->body, BODY_MAX);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the children are local: never a proxy */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "healthcenter-supervisor");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Connection: close, and nothing cached in the multi handle between rounds. */
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cloexec);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
    if (curl_multi_add_handle(p->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        hc_buf_cleanup(&f->body);
        free(f);
        return HC_EIO;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->inflight = hc_xrealloc(p->inflight, p->cap * sizeof *p->inflight);
    }
    p->inflight[p->n++] = f;
    return 0;
}

int up_probe_add(up_probe_t *p, int id, const char *url)
{
    return add(p, id, url, 0);
}

int up_probe_add_body(up_probe_t *p, int id, const char *url)
{
    return add(p, id, url, 1);
}

/* Reports probe i of the round to cb and drops it. done: libcurl finished
 * it (cc its outcome); 0 when libcurl itself failed. */
static void finish(up_probe_t *p, size_t i, int done, CURLcode cc, up_probe_result_cb cb, void *ud)
{
    inflight_t *f = p->inflight[i];
    long code = 0;
    if (done)
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
    up_probe_result_t r = {
        .status = code >= 100 && code <= 599 && !f->body_too_big ? (int)code : -1,
        .pid = f->pid,
        .ms = (long)(hc_mono_ms() - f->start_ms),
    };
    if (f->keep_body && r.status > 0 && cc == CURLE_OK) {
        r.body = hc_buf_str(&f->body);
        r.body_len = f->body.len;
    }
    int id = f->id;
    cb(ud, id, &r);
    drop(p, i);
}

int up_probe_run_results(up_probe_t *p, up_probe_result_cb cb, void *ud)
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
                if (p->inflight[i]->easy == msg->easy_handle) {
                    /* A status line followed by a reset still counts as an
                     * answer, as it always did: the status is what we probe. */
                    finish(p, i, 1, msg->data.result, cb, ud);
                    reported++;
                    break;
                }
            }
        }
        if (mc == CURLM_OK && p->n > 0)
            mc = curl_multi_poll(p->multi, NULL, 0, POLL_MAX_MS, NULL);
        if (mc != CURLM_OK) {
            /* libcurl cannot go on: what is left did not answer. */
            hc_warn("probes: %s", curl_multi_strerror(mc));
            while (p->n > 0) {
                finish(p, p->n - 1, 0, CURLE_FAILED_INIT, cb, ud);
                reported++;
            }
        }
    }
    return reported;
}

/* What up_probe_run's callback needs. */
typedef struct status_only {
    up_probe_cb cb;
    void *ud;
} status_only_t;

static void report_status(void *ud, int id, const up_probe_result_t *r)
{
    status_only_t *s = ud;
    s->cb(s->ud, id, r->status);
}

int up_probe_run(up_probe_t *p, up_probe_cb cb, void *ud)
{
    status_only_t s = {.cb = cb, .ud = ud};
    return up_probe_run_results(p, report_status, &s);
}
