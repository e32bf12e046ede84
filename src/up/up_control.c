/* up_control: the supervisor's control API on a unix socket (libmicrohttpd,
 * a thread per connection), and its client (libcurl). */
#include "up_control.h"

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"

#define RESTART_PREFIX "/services/"
#define RESTART_SUFFIX "/restart"
#define ANSWER_MAX (1024 * 1024) /* largest answer the client reads */

struct up_control {
    struct MHD_Daemon *d;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *const *names;
    size_t n;
    up_control_ops_t ops;
};

up_ctl_route_t up_control_route(const char *method, const char *path, const char *const *names,
                                size_t n, int *service, const char **allow)
{
    if (strcmp(path, "/actuator/health") == 0) {
        if (strcmp(method, "GET") == 0)
            return UP_CTL_HEALTH;
        if (allow)
            *allow = "GET";
        return UP_CTL_METHOD;
    }
    size_t plen = strlen(RESTART_PREFIX), slen = strlen(RESTART_SUFFIX), len = strlen(path);
    if (len <= plen + slen || strncmp(path, RESTART_PREFIX, plen) != 0 ||
        strcmp(path + len - slen, RESTART_SUFFIX) != 0)
        return UP_CTL_NOT_FOUND;
    const char *name = path + plen;
    size_t nlen = len - plen - slen;
    if (memchr(name, '/', nlen))
        return UP_CTL_NOT_FOUND;
    if (strcmp(method, "POST") != 0) {
        if (allow)
            *allow = "POST";
        return UP_CTL_METHOD;
    }
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) == nlen && memcmp(names[i], name, nlen) == 0) {
            if (service)
                *service = (int)i;
            return UP_CTL_RESTART;
        }
    }
    return UP_CTL_UNKNOWN_SERVICE;
}

/* {"error":code,"message":msg,"fields":[]}, the services' error shape. */
static json_t *error_body(const char *code, const char *msg)
{
    return json_pack("{s:s, s:s, s:[]}", "error", code, "message", msg, "fields");
}

/* Queues status with body (taken) on conn. */
static enum MHD_Result answer(struct MHD_Connection *conn, int status, json_t *body,
                              const char *allow)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        text = hc_xstrdup("{}");
    size_t len = strlen(text);
    char *nl = hc_xrealloc(text, len + 2); /* one line, as curl prints it */
    nl[len] = '\n';
    nl[len + 1] = '\0';
    struct MHD_Response *r = MHD_create_response_from_buffer(len + 1, nl, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json;charset=UTF-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    static int seen;
    up_control_t *c = cls;
    if (!*con_cls) {
        *con_cls = &seen; /* headers only so far */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* no request takes a body: dropped */
        return MHD_YES;
    }
    const char *allow = NULL;
    int service = -1, status = 500;
    json_t *body;
    switch (up_control_route(method, url, c->names, c->n, &service, &allow)) {
    case UP_CTL_HEALTH:
        body = c->ops.health(c->ops.ud, &status);
        break;
    case UP_CTL_RESTART:
        if (c->ops.restart) {
            body = c->ops.restart(c->ops.ud, service, &status);
            break;
        }
        status = 404;
        body = error_body("not_found", "this socket answers GET /actuator/health only");
        break;
    case UP_CTL_METHOD:
        status = 405;
        body = error_body("method_not_allowed", "this method is not allowed on this resource");
        break;
    case UP_CTL_UNKNOWN_SERVICE: {
        char msg[256];
        int k = hc_fmt(msg, sizeof msg, "no such service; one of:");
        for (size_t i = 0; i < c->n && k > 0 && (size_t)k < sizeof msg; i++)
            k += snprintf(msg + k, sizeof msg - (size_t)k, "%s %s", i ? "," : "", c->names[i]);
        status = 404;
        body = error_body("not_found", msg);
        break;
    }
    default:
        status = 404;
        body = error_body("not_found", "no such resource (GET /actuator/health, POST "
                                       "/services/{service}/restart)");
        break;
    }
    return answer(conn, status, body, allow);
}

int up_control_serve(int fd, const char *path, const char *const *names, size_t n,
                     const up_control_ops_t *ops, up_control_t **out)
{
    *out = NULL;
    up_control_t *c = hc_xcalloc(1, sizeof *c);
    if (path)
        hc_strlcpy(c->path, path, sizeof c->path);
    c->names = names;
    c->n = n;
    c->ops = *ops;
    c->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, c, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_END);
    if (!c->d) {
        free(c);
        return HC_EIO;
    }
    *out = c;
    return 0;
}

int up_control_start(const char *path, const char *const *names, size_t n,
                     const up_control_ops_t *ops, up_control_t **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        hc_fmt(err, errlen,
               "control socket path %s is longer than a socket address allows (%zu bytes): "
               "choose a shorter HC_RUN_DIR",
               path, sizeof sa.sun_path - 1);
        return HC_EINVAL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        hc_fmt(err, errlen, "cannot create the control socket: %s", strerror(errno));
        return HC_EIO;
    }
    /* A socket file left by an `up` that was killed: ours to remove, as
     * the data directory's lock is ours. */
    if (unlink(path) != 0 && errno != ENOENT) {
        hc_fmt(err, errlen, "cannot remove the stale control socket %s: %s", path, strerror(errno));
        close(fd);
        return HC_EIO;
    }
    /* Only the owner may restart: the socket file is 0600. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 64) != 0) {
        hc_fmt(err, errlen, "cannot listen on the control socket %s: %s", path, strerror(errno));
        close(fd);
        return HC_EIO;
    }
    if (up_control_serve(fd, path, names, n, ops, out) != 0) {
        hc_fmt(err, errlen, "cannot serve the control socket %s", path);
        close(fd);
        unlink(path);
        return HC_EIO;
    }
    return 0;
}

void up_control_stop(up_control_t *c)
{
    if (!c)
        return;
    MHD_stop_daemon(c->d); /* closes the socket */
    if (c->path[0])
        unlink(c->path);
    free(c);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    return hc_buf_add(ud, p, size * n) == 0 ? size * n : 0;
}

int up_control_call(const char *path, const char *method, const char *url_path, long timeout_ms,
                    int *status, json_t **body, char *err, size_t errlen)
{
    *status = 0;
    *body = NULL;
    char url[512];
    hc_fmt(url, sizeof url, "http://up%s", url_path);
    CURL *e = curl_easy_init();
    if (!e)
        hc_fatal("out of memory creating a libcurl handle");
    hc_buf_t out;
    hc_buf_init(&out, ANSWER_MAX);
    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode cc = curl_easy_perform(e);
    int rc = 0;
    if (cc == CURLE_COULDNT_CONNECT) {
        hc_fmt(err, errlen, "nothing serves %s", path);
        rc = HC_EUNAVAIL;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        hc_fmt(err, errlen, "no answer from %s within %ld ms", path, timeout_ms);
        rc = HC_ETIMEDOUT;
    } else if (cc != CURLE_OK) {
        hc_fmt(err, errlen, "calling %s failed: %s", path, curl_easy_strerror(cc));
        rc = HC_EIO;
    } else {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        *status = (int)code;
        *body = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
    }
    curl_easy_cleanup(e);
    hc_buf_cleanup(&out);
    return rc;
}
