/* hc-loadgen: the open-loop load generator of `make bench BENCH_ARGS="--rate N"`.
 *
 * Bookings (POST /orders, the body of bench/book.lua) arrive at a fixed rate:
 * request i is scheduled at start + i/N seconds whatever the answers do, and its
 * latency is measured from that scheduled time to its complete response, so a
 * slow answer is not hidden by the client waiting for it (no coordinated
 * omission). Connections to 127.0.0.1:PORT (HTTP/1.1 keep-alive, at most
 * --connections of them) are opened when needed; an arrival with no idle
 * connection and a full pool waits in the queue, its clock running.
 *
 *   hc-loadgen --port P --rate N --duration S --token T --date YYYY-MM-DD
 *              [--connections C] [--warmup S] [--timeout S] [--path /orders]
 *
 * Prints ONE JSON line on stdout (docs/benchmark.md, "hc-loadgen"). Exit code
 * 0 when it ran (whatever the answers), 2 on bad arguments, 1 on a local error.
 * epoll, timerfd, nonblocking sockets; Linux only, C11 + _GNU_SOURCE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_STATUS 600
#define MAX_SAMPLES 3
#define SAMPLE_BYTES 300
#define TIMER_ID UINT32_MAX

enum conn_state { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd;
    enum conn_state state;
    int64_t req; /* the request on it (C_CONNECTING, C_BUSY), else -1 */
    size_t sent; /* bytes of the request written */
    char *buf;   /* the response read so far */
    size_t len, cap;
    int want_out; /* registered for EPOLLOUT */
};

struct opts {
    int port;
    double rate;
    double duration;
    double warmup;
    double timeout;
    int connections;
    const char *token;
    const char *date;
    const char *path;
};

/* What was seen; the measured window only, except warmup_*. */
struct stats {
    int64_t statuses[MAX_STATUS];
    int64_t other_status;
    int64_t completed, sent;
    int64_t err_connect, err_read, err_write;
    int64_t warmup_sent, warmup_completed, warmup_errors;
    int64_t *lat_ns;
    int64_t nlat;
    int64_t opened;
    char samples[MAX_SAMPLES][SAMPLE_BYTES + 16];
    int nsamples;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: hc-loadgen --port P --rate N --duration S --token T --date YYYY-MM-DD\n"
                    "                  [--connections C] [--warmup S] [--timeout S] [--path P]\n");
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->connections = 64;
    o->timeout = 10.0;
    o->path = "/orders";
    o->rate = -1;
    o->duration = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "hc-loadgen: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        double d = 0;
        if (!strcmp(a, "--token")) {
            o->token = v;
        } else if (!strcmp(a, "--date")) {
            o->date = v;
        } else if (!strcmp(a, "--path")) {
            o->path = v;
        } else if (parse_double(v, &d) != 0) {
            fprintf(stderr, "hc-loadgen: %s: not a number: %s\n", a, v);
            return -1;
        } else if (!strcmp(a, "--port")) {
            o->port = (int)d;
        } else if (!strcmp(a, "--rate")) {
            o->rate = d;
        } else if (!strcmp(a, "--duration")) {
            o->duration = d;
        } else if (!strcmp(a, "--warmup")) {
            o->warmup = d;
        } else if (!strcmp(a, "--timeout")) {
            o->timeout = d;
        } else if (!strcmp(a, "--connections") || !strcmp(a, "-c")) {
            o->connections = (int)d;
        } else {
            fprintf(stderr, "hc-loadgen: unknown option %s\n", a);
            return -1;
        }
    }
    if (o->port < 1 || o->port > 65535 || !(o->rate > 0) || !(o->duration > 0) || o->warmup < 0 ||
        o->timeout < 0 || o->connections < 1 || o->connections > 100000 || !o->token || !o->date ||
        strlen(o->date) != 10 || o->path[0] != '/') {
        fprintf(stderr, "hc-loadgen: --port, --rate > 0, --duration > 0, --token and --date "
                        "(YYYY-MM-DD) are required; --connections >= 1\n");
        return -1;
    }
    if ((o->warmup + o->duration) * o->rate > 1e8) {
        fprintf(stderr, "hc-loadgen: more than 100,000,000 requests asked for\n");
        return -1;
    }
    return 0;
}

/* The one request every arrival sends (the body of bench/book.lua). */
static char *build_request(const struct opts *o, size_t *len)
{
    char body[512];
    int bn = snprintf(body, sizeof body,
                      "{\"name\":\"Bench\",\"phone\":\"010-1234-5678\",\"orderType\":\"basic\","
                      "\"checkupDate\":\"%s\",\"centerId\":1,"
                      "\"payMethod\":\"card\",\"cardNo\":\"4111111111111111\"}",
                      o->date);
    if (bn < 0 || (size_t)bn >= sizeof body)
        return NULL;
    size_t cap = strlen(o->token) + strlen(o->path) + (size_t)bn + 512;
    char *req = malloc(cap);
    if (!req)
        return NULL;
    int n = snprintf(req, cap,
                     "POST %s HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\n"
                     "User-Agent: hc-bench/loadgen\r\n"
                     "Content-Type: application/json\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Content-Length: %d\r\n"
                     "\r\n"
                     "%s",
                     o->path, o->port, o->token, bn, body);
    if (n < 0 || (size_t)n >= cap) {
        free(req);
        return NULL;
    }
    *len = (size_t)n;
    return req;
}

/* Case-insensitive search for header `name` (with the colon) in head[0..n);
 * returns its value's start or NULL. */
static const char *find_header(const char *head, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *p = head;
    const char *end = head + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl)) {
            const char *v = p + nl;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Is a whole response in c->buf? Returns 1 (status, close and the body's span
 * set), 0 (not yet), -1 (not HTTP). eof: the peer closed (ends a body without
 * a length). */
static int parse_response(const struct conn *c, int eof, int *status, int *close_after,
                          size_t *body_off, size_t *body_len, size_t *total)
{
    if (c->len < 12)
        return eof ? -1 : 0;
    if (strncmp(c->buf, "HTTP/1.", 7) != 0)
        return -1;
    const char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!hend)
        return eof ? -1 : 0;
    size_t hlen = (size_t)(hend - c->buf) + 4;
    int st = atoi(c->buf + 9);
    if (st < 100)
        return -1;
    *status = st;
    const char *conn_h = find_header(c->buf, hlen, "Connection:");
    *close_after = (conn_h && !strncasecmp(conn_h, "close", 5)) || c->buf[7] == '0';
    *body_off = hlen;
    if (st == 204 || st == 304 || (st >= 100 && st < 200)) {
        *body_len = 0;
        *total = hlen;
        return 1;
    }
    const char *te = find_header(c->buf, hlen, "Transfer-Encoding:");
    if (te && !strncasecmp(te, "chunked", 7)) {
        size_t pos = hlen;
        for (;;) {
            const char *eol = memmem(c->buf + pos, c->len - pos, "\r\n", 2);
            if (!eol)
                return eof ? -1 : 0;
            unsigned long sz = strtoul(c->buf + pos, NULL, 16);
            pos = (size_t)(eol - c->buf) + 2;
            if (sz == 0) {
                const char *tend = memmem(c->buf + pos - 2, c->len - (pos - 2), "\r\n\r\n", 4);
                if (!tend)
                    return eof ? -1 : 0;
                *body_len = pos - hlen;
                *total = (size_t)(tend - c->buf) + 4;
                return 1;
            }
            if (c->len - pos < sz + 2)
                return eof ? -1 : 0;
            pos += sz + 2;
        }
    }
    const char *cl = find_header(c->buf, hlen, "Content-Length:");
    if (cl) {
        size_t want = (size_t)strtoull(cl, NULL, 10);
        if (c->len - hlen < want)
            return eof ? -1 : 0;
        *body_len = want;
        *total = hlen + want;
        return 1;
    }
    /* no length: the body ends when the server closes */
    if (!eof)
        return 0;
    *close_after = 1;
    *body_len = c->len - hlen;
    *total = c->len;
    return 1;
}

struct gen {
    struct opts o;
    char *req;
    size_t req_len;
    int ep, tfd;
    struct sockaddr_in addr;
    struct conn *conns;
    int nopen; /* connections not C_CLOSED */
    int64_t t0;
    int64_t n_warm, n_total; /* arrivals: warm-up ones first */
    int64_t next_arrival;    /* the next arrival to schedule */
    int64_t next_send;       /* the oldest queued arrival */
    int64_t outstanding;     /* sent and not answered (nor failed) */
    int64_t last_done_ns;
    struct stats s;
};

static int64_t sched_ns(const struct gen *g, int64_t i)
{
    return g->t0 + (int64_t)((double)i * 1e9 / g->o.rate);
}

static int measured(const struct gen *g, int64_t i)
{
    return i >= g->n_warm;
}

static void ep_set(struct gen *g, int id, int want_out)
{
    struct conn *c = &g->conns[id];
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u),
                             .data.u32 = (uint32_t)id};
    if (epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_out = want_out;
}

static void conn_close(struct gen *g, int id)
{
    struct conn *c = &g->conns[id];
    if (c->state == C_CLOSED)
        return;
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    c->req = -1;
    c->len = 0;
    c->want_out = 0;
    g->nopen--;
}

/* The request on connection id failed: counted, and the connection closed. */
static void req_failed(struct gen *g, int id, int64_t *counter)
{
    struct conn *c = &g->conns[id];
    if (c->req >= 0) {
        if (measured(g, c->req))
            (*counter)++;
        else
            g->s.warmup_errors++;
        g->outstanding--;
        g->last_done_ns = now_ns();
    }
    conn_close(g, id);
}

static void try_write(struct gen *g, int id)
{
    struct conn *c = &g->conns[id];
    while (c->sent < g->req_len) {
        ssize_t n = send(c->fd, g->req + c->sent, g->req_len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                ep_set(g, id, 1);
            return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            req_failed(g, id, &g->s.err_write);
            return;
        }
    }
    if (c->want_out)
        ep_set(g, id, 0);
}

/* Puts arrival i on connection id (idle or just connected). */
static void start_request(struct gen *g, int id, int64_t i)
{
    struct conn *c = &g->conns[id];
    c->req = i;
    c->sent = 0;
    c->len = 0;
    c->state = C_BUSY;
    try_write(g, id);
}

static int open_conn(struct gen *g, int id, int64_t i)
{
    struct conn *c = &g->conns[id];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->req = i;
    c->len = 0;
    c->sent = 0;
    g->nopen++;
    g->s.opened++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)id};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        g->nopen--;
        return -1;
    }
    c->want_out = 1;
    if (connect(fd, (const struct sockaddr *)&g->addr, sizeof g->addr) == 0) {
        start_request(g, id, i);
    } else if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
    } else {
        c->state = C_BUSY;
        req_failed(g, id, &g->s.err_connect);
    }
    return 0;
}

/* Sends queued arrivals while there is an idle connection or room for one. */
static void dispatch(struct gen *g)
{
    while (g->next_send < g->next_arrival) {
        int idle = -1, closed = -1;
        for (int k = 0; k < g->o.connections; k++) {
            if (g->conns[k].state == C_IDLE) {
                idle = k;
                break;
            }
            if (closed < 0 && g->conns[k].state == C_CLOSED)
                closed = k;
        }
        if (idle < 0 && closed < 0)
            return;
        int64_t i = g->next_send++;
        g->outstanding++;
        if (measured(g, i))
            g->s.sent++;
        else
            g->s.warmup_sent++;
        if (idle >= 0) {
            start_request(g, idle, i);
        } else if (open_conn(g, closed, i) != 0) {
            if (measured(g, i))
                g->s.err_connect++;
            else
                g->s.warmup_errors++;
            g->outstanding--;
        }
    }
}

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t k = 0; k < n; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void response_done(struct gen *g, int id, int status, size_t body_off, size_t body_len)
{
    struct conn *c = &g->conns[id];
    int64_t t = now_ns();
    int64_t i = c->req;
    g->outstanding--;
    g->last_done_ns = t;
    if (!measured(g, i)) {
        g->s.warmup_completed++;
        return;
    }
    g->s.completed++;
    if (status < MAX_STATUS)
        g->s.statuses[status]++;
    else
        g->s.other_status++;
    g->s.lat_ns[g->s.nlat++] = t - sched_ns(g, i);
    if (status != 201 && g->s.nsamples < MAX_SAMPLES) {
        size_t n = body_len < SAMPLE_BYTES - 4 ? body_len : SAMPLE_BYTES - 4;
        snprintf(g->s.samples[g->s.nsamples++], SAMPLE_BYTES + 16, "%d %.*s", status, (int)n,
                 c->buf + body_off);
    }
}

static void on_writable(struct gen *g, int id);

static void on_readable(struct gen *g, int id)
{
    struct conn *c = &g->conns[id];
    if (c->state == C_CONNECTING) { /* a refused connect can show as EPOLLHUP alone */
        on_writable(g, id);
        return;
    }
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t ncap = c->cap ? c->cap * 2 : 16384;
            char *nb = realloc(c->buf, ncap);
            if (!nb) {
                req_failed(g, id, &g->s.err_read);
                return;
            }
            c->buf = nb;
            c->cap = ncap;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
        int eof = 0;
        if (n > 0) {
            c->len += (size_t)n;
        } else if (n == 0) {
            eof = 1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            if (c->state == C_BUSY)
                req_failed(g, id, &g->s.err_read);
            else
                conn_close(g, id);
            return;
        }
        if (c->state != C_BUSY) { /* an idle connection closed (or chattering) */
            conn_close(g, id);
            return;
        }
        c->buf[c->len] = '\0';
        int status = 0, close_after = 0;
        size_t boff = 0, blen = 0, total = 0;
        int r = parse_response(c, eof, &status, &close_after, &boff, &blen, &total);
        if (r < 0) {
            req_failed(g, id, &g->s.err_read);
            return;
        }
        if (r == 0) {
            if (eof) {
                req_failed(g, id, &g->s.err_read);
                return;
            }
            continue;
        }
        response_done(g, id, status, boff, blen);
        c->req = -1;
        if (close_after || eof || total != c->len || c->sent < g->req_len) {
            conn_close(g, id); /* closing, or more than asked for: not reused */
        } else {
            c->len = 0;
            c->state = C_IDLE;
        }
        return;
    }
}

static void on_writable(struct gen *g, int id)
{
    struct conn *c = &g->conns[id];
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            req_failed(g, id, &g->s.err_connect);
            return;
        }
        start_request(g, id, c->req);
    } else if (c->state == C_BUSY) {
        try_write(g, id);
    } else if (c->want_out) {
        ep_set(g, id, 0);
    }
}

static void arm_timer(struct gen *g)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (g->next_arrival < g->n_total) {
        int64_t t = sched_ns(g, g->next_arrival);
        its.it_value.tv_sec = t / 1000000000;
        its.it_value.tv_nsec = t % 1000000000;
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime(g->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, as bench.py's percentile(): the ceil(p/100*n)-th smallest. */
static double pctl_ms(const int64_t *v, int64_t n, double p)
{
    if (n == 0)
        return -1;
    double r = p / 100.0 * (double)n;
    int64_t k = (int64_t)r;
    if ((double)k < r)
        k++;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1e6;
}

static void print_ms(FILE *f, const char *key, double ms, int last)
{
    if (ms < 0)
        fprintf(f, "\"%s\":null%s", key, last ? "" : ",");
    else
        fprintf(f, "\"%s\":%.3f%s", key, ms, last ? "" : ",");
}

static void report(struct gen *g, int64_t queued_at_end, int64_t inflight_at_end,
                   int64_t sent_at_end, int64_t t_sched_end, int64_t t_end)
{
    struct stats *s = &g->s;
    FILE *f = stdout;
    qsort(s->lat_ns, (size_t)s->nlat, sizeof *s->lat_ns, cmp_i64);
    double sum = 0;
    for (int64_t k = 0; k < s->nlat; k++)
        sum += (double)s->lat_ns[k];
    int64_t unsent = g->n_total - g->next_send;
    double window_s = (double)(t_sched_end - sched_ns(g, g->n_warm)) / 1e9;
    int64_t t_last = g->last_done_ns > 0 ? g->last_done_ns : t_end;
    double elapsed_s = (double)(t_last - sched_ns(g, g->n_warm)) / 1e9;
    int64_t n_measured = g->n_total - g->n_warm;
    /* every measured arrival is completed, failed or a timeout */
    int64_t timeouts = n_measured - s->completed - s->err_connect - s->err_read - s->err_write;

    fprintf(f, "{\"target_rate\":%.3f,\"duration_s\":%.3f,\"warmup_s\":%.3f,\"connections\":%d,",
            g->o.rate, g->o.duration, g->o.warmup, g->o.connections);
    fprintf(f, "\"scheduled\":%" PRId64 ",\"requests\":%" PRId64 ",\"completed\":%" PRId64 ",",
            n_measured, s->sent, s->completed);
    fprintf(f, "\"statuses\":{");
    int first = 1;
    for (int k = 0; k < MAX_STATUS; k++) {
        if (s->statuses[k]) {
            fprintf(f, "%s\"%d\":%" PRId64, first ? "" : ",", k, s->statuses[k]);
            first = 0;
        }
    }
    if (s->other_status)
        fprintf(f, "%s\"other\":%" PRId64, first ? "" : ",", s->other_status);
    fprintf(f, "},\"non201\":%" PRId64 ",", s->completed - s->statuses[201]);
    fprintf(f,
            "\"socket_errors\":{\"connect\":%" PRId64 ",\"read\":%" PRId64 ",\"write\":%" PRId64
            ",\"timeout\":%" PRId64 "},",
            s->err_connect, s->err_read, s->err_write, timeouts);
    fprintf(f,
            "\"queued_at_end\":%" PRId64 ",\"in_flight_at_end\":%" PRId64 ",\"unsent\":%" PRId64
            ",\"unanswered\":%" PRId64 ",",
            queued_at_end, inflight_at_end, unsent, g->outstanding);
    fprintf(f, "\"achieved_rate\":%.3f,\"send_rate\":%.3f,\"elapsed_s\":%.3f,",
            elapsed_s > 0 ? (double)s->completed / elapsed_s : 0.0,
            window_s > 0 ? (double)sent_at_end / window_s : 0.0, elapsed_s);
    fprintf(f, "\"connections_opened\":%" PRId64 ",", s->opened);
    fprintf(f, "\"latency_ms\":{");
    print_ms(f, "p50", pctl_ms(s->lat_ns, s->nlat, 50), 0);
    print_ms(f, "p90", pctl_ms(s->lat_ns, s->nlat, 90), 0);
    print_ms(f, "p99", pctl_ms(s->lat_ns, s->nlat, 99), 0);
    print_ms(f, "p999", pctl_ms(s->lat_ns, s->nlat, 99.9), 0);
    print_ms(f, "max", s->nlat ? (double)s->lat_ns[s->nlat - 1] / 1e6 : -1, 0);
    print_ms(f, "mean", s->nlat ? sum / (double)s->nlat / 1e6 : -1, 0);
    fprintf(f, "\"n\":%" PRId64 "},", s->nlat);
    fprintf(f,
            "\"warmup\":{\"requests\":%" PRId64 ",\"completed\":%" PRId64 ",\"errors\":%" PRId64
            "},",
            s->warmup_sent, s->warmup_completed, s->warmup_errors);
    fprintf(f, "\"samples\":[");
    for (int k = 0; k < s->nsamples; k++) {
        if (k)
            fputc(',', f);
        json_str(f, s->samples[k], strlen(s->samples[k]));
    }
    fprintf(f, "]}\n");
    fflush(f);
}

int main(int argc, char **argv)
{
    struct gen g;
    memset(&g, 0, sizeof g);
    if (parse_opts(argc, argv, &g.o) != 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g.req = build_request(&g.o, &g.req_len);
    g.n_warm = (int64_t)(g.o.warmup * g.o.rate);
    g.n_total = g.n_warm + (int64_t)(g.o.duration * g.o.rate);
    g.s.lat_ns = malloc(sizeof *g.s.lat_ns * (size_t)(g.n_total - g.n_warm + 1));
    g.conns = calloc((size_t)g.o.connections, sizeof *g.conns);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (!g.req || !g.s.lat_ns || !g.conns || g.ep < 0 || g.tfd < 0) {
        perror("hc-loadgen: setting up");
        return 1;
    }
    for (int k = 0; k < g.o.connections; k++) {
        g.conns[k].fd = -1;
        g.conns[k].req = -1;
    }
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)g.o.port);
    g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct epoll_event tev = {.events = EPOLLIN, .data.u32 = TIMER_ID};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &tev) != 0) {
        perror("hc-loadgen: epoll_ctl");
        return 1;
    }

    g.t0 = now_ns();
    int64_t t_sched_end = sched_ns(&g, g.n_total);
    int64_t deadline = -1, queued_at_end = -1, inflight_at_end = -1, sent_at_end = 0;
    arm_timer(&g);
    struct epoll_event evs[256];
    for (;;) {
        int64_t t = now_ns();
        int advanced = 0;
        while (g.next_arrival < g.n_total && sched_ns(&g, g.next_arrival) <= t) {
            g.next_arrival++;
            advanced = 1;
        }
        dispatch(&g);
        if (advanced)
            arm_timer(&g);
        if (g.next_arrival >= g.n_total && deadline < 0 && t >= t_sched_end) {
            /* the schedule is over: what waits now has --timeout to be answered */
            queued_at_end = g.next_arrival - g.next_send;
            inflight_at_end = g.outstanding;
            sent_at_end = g.s.sent;
            deadline = t + (int64_t)(g.o.timeout * 1e9);
        }
        if (deadline >= 0 && ((g.outstanding == 0 && g.next_send >= g.n_total) || t >= deadline))
            break;
        int wait_ms = -1;
        if (deadline >= 0)
            wait_ms = (int)((deadline - t) / 1000000) + 1;
        else if (g.next_arrival >= g.n_total)
            wait_ms = (int)((t_sched_end - t) / 1000000) + 1;
        int n = epoll_wait(g.ep, evs, (int)(sizeof evs / sizeof evs[0]), wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("hc-loadgen: epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            uint32_t id = evs[k].data.u32;
            if (id == TIMER_ID) {
                uint64_t expirations;
                if (read(g.tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                    perror("hc-loadgen: timerfd");
                continue;
            }
            struct conn *c = &g.conns[id];
            if (c->state == C_CLOSED)
                continue;
            if (evs[k].events & (EPOLLOUT | EPOLLERR))
                on_writable(&g, (int)id);
            if (c->state != C_CLOSED && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(&g, (int)id);
        }
    }
    report(&g, queued_at_end, inflight_at_end, sent_at_end, t_sched_end, now_ns());
    for (int k = 0; k < g.o.connections; k++) {
        conn_close(&g, k);
        free(g.conns[k].buf);
    }
    free(g.conns);
    free(g.s.lat_ns);
    free(g.req);
    close(g.tfd);
    close(g.ep);
    return 0;
}
