/* Checks up_probe: parallel readiness probes against small local HTTP servers
 * (an answer, an error status, refused, silent, not HTTP) and their timing. */
#include "hc_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "hc_client.h"
#include "up/up_probe.h"

/* A one-thread HTTP server on 127.0.0.1: reads each request head, waits
 * delay_ms, writes answer (NULL: closes without a word) and closes. */
typedef struct srv {
    int fd;
    int port;
    const char *answer;
    int delay_ms;
    pthread_t thread;
    char request[1024]; /* the head of the last request */
} srv_t;

static void *srv_main(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL; /* shut down */
        size_t got = 0;
        char buf[sizeof s->request];
        while (got < sizeof buf - 1) {
            ssize_t r = recv(c, buf + got, sizeof buf - 1 - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[got] = '\0';
        memcpy(s->request, buf, got + 1);
        if (s->delay_ms > 0)
            usleep((useconds_t)s->delay_ms * 1000);
        if (s->answer) {
            ssize_t w = send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
            (void)w;
        }
        close(c);
    }
}

/* Opens a listening socket on a free port of 127.0.0.1; *port gets it. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void srv_start(srv_t *s, const char *answer, int delay_ms)
{
    memset(s, 0, sizeof *s);
    s->answer = answer;
    s->delay_ms = delay_ms;
    s->fd = listen_any(&s->port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(srv_t *s)
{
    shutdown(s->fd, SHUT_RDWR); /* wakes accept() */
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* Adds "GET http://127.0.0.1:port<path>" to p as probe id. */
static void add(up_probe_t *p, int id, int port, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    assert_int_equal(up_probe_add(p, id, url), 0);
}

#define MAX_IDS 8

/* What the callback saw: per id, the status and when, and the order. */
typedef struct seen {
    int64_t t0;
    int count[MAX_IDS];
    int status[MAX_IDS];
    int64_t at_ms[MAX_IDS]; /* since t0 */
    int order[MAX_IDS];
    int n;
} seen_t;

static void on_done(void *ud, int id, int status)
{
    seen_t *s = ud;
    assert_true(id >= 0 && id < MAX_IDS);
    s->count[id]++;
    s->status[id] = status;
    s->at_ms[id] = hc_test_mono_ms() - s->t0;
    s->order[s->n++] = id;
}

static const char ok_200[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 15\r\n\r\n{\"status\":\"UP\"}";
static const char down_503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

static int setup(void **state)
{
    (void)state;
    hc_client_global_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    hc_client_global_cleanup();
    return 0;
}

static void test_probe_reports_each_status_once(void **state)
{
    (void)state;
    srv_t up, down;
    srv_start(&up, ok_200, 0);
    srv_start(&down, down_503, 0);
    int refused_port;
    close(listen_any(&refused_port)); /* nothing listens there any more */

    seen_t seen = {.t0 = hc_test_mono_ms()};
    up_probe_t *p = up_probe_create(1000);
    add(p, 1, up.port, "/health/ready");
    add(p, 2, down.port, "/health/ready");
    add(p, 3, refused_port, "/health/ready");
    assert_int_equal(up_probe_run(p, on_done, &seen), 3);

    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.count[1], 1);
    assert_int_equal(seen.count[2], 1);
    assert_int_equal(seen.count[3], 1);
    assert_int_equal(seen.status[1], 200);
    assert_int_equal(seen.status[2], 503);
    assert_int_equal(seen.status[3], -1);
    /* the request the services see */
    assert_non_null(strstr(up.request, "GET /health/ready HTTP/1.1\r\n"));
    assert_non_null(strstr(up.request, "User-Agent: healthcenter-supervisor\r\n"));

    /* the next round of the same set: only what was added again runs */
    memset(&seen, 0, sizeof seen);
    seen.t0 = hc_test_mono_ms();
    add(p, 4, up.port, "/gateway/health");
    assert_int_equal(up_probe_run(p, on_done, &seen), 1);
    assert_int_equal(seen.status[4], 200);
    assert_non_null(strstr(up.request, "GET /gateway/health HTTP/1.1\r\n"));
    /* an empty round reports nothing and returns at once */
    assert_int_equal(up_probe_run(p, on_done, &seen), 0);
    assert_int_equal(seen.n, 1);

    up_probe_destroy(p);
    srv_stop(&up);
    srv_stop(&down);
}

static void test_probe_answer_that_is_not_http_counts_as_none(void **state)
{
    (void)state;
    srv_t garbage, mute;
    srv_start(&garbage, "hello there\r\n\r\n", 0);
    srv_start(&mute, NULL, 0); /* accepts, reads, closes */
    seen_t seen = {.t0 = hc_test_mono_ms()};
    up_probe_t *p = up_probe_create(1000);
    add(p, 0, garbage.port, "/health/ready");
    add(p, 1, mute.port, "/health/ready");
    assert_int_equal(up_probe_run(p, on_done, &seen), 2);
    assert_int_equal(seen.status[0], -1);
    assert_int_equal(seen.status[1], -1);
    up_probe_destroy(p);
    srv_stop(&garbage);
    srv_stop(&mute);
}

static void test_probe_gives_up_on_a_silent_listener_after_its_timeout(void **state)
{
    (void)state;
    int port;
    int fd = listen_any(&port); /* the kernel accepts; nobody ever answers */
    seen_t seen = {.t0 = hc_test_mono_ms()};
    up_probe_t *p = up_probe_create(200);
    add(p, 0, port, "/health/ready");
    assert_int_equal(up_probe_run(p, on_done, &seen), 1);
    int64_t took = hc_test_mono_ms() - seen.t0;
    assert_int_equal(seen.status[0], -1);
    if (took < 150 || took > 2000)
        fail_msg("a 200 ms probe of a silent listener took %lld ms", (long long)took);
    up_probe_destroy(p);
    close(fd);
}

static void test_probes_run_in_parallel_and_each_is_reported_as_it_answers(void **state)
{
    (void)state;
    srv_t fast, slow1, slow2;
    srv_start(&fast, ok_200, 0);
    srv_start(&slow1, ok_200, 400);
    srv_start(&slow2, down_503, 400);
    seen_t seen = {.t0 = hc_test_mono_ms()};
    up_probe_t *p = up_probe_create(3000);
    add(p, 1, slow1.port, "/health/ready");
    add(p, 2, slow2.port, "/health/ready");
    add(p, 0, fast.port, "/health/ready");
    assert_int_equal(up_probe_run(p, on_done, &seen), 3);
    int64_t took = hc_test_mono_ms() - seen.t0;

    assert_int_equal(seen.status[0], 200);
    assert_int_equal(seen.status[1], 200);
    assert_int_equal(seen.status[2], 503);
    /* the fast one is reported first, before the slow ones have answered */
    assert_int_equal(seen.order[0], 0);
    if (seen.at_ms[0] >= 350)
        fail_msg("the fast probe was reported after %lld ms", (long long)seen.at_ms[0]);
    /* one after the other the slow two would take 800 ms at least */
    if (took >= 750)
        fail_msg("two 400 ms probes took %lld ms together: not in parallel", (long long)took);
    up_probe_destroy(p);
    srv_stop(&fast);
    srv_stop(&slow1);
    srv_stop(&slow2);
}

static void test_probe_destroy_abandons_probes_not_run(void **state)
{
    (void)state;
    srv_t up;
    srv_start(&up, ok_200, 0);
    up_probe_t *p = up_probe_create(1000);
    for (int i = 0; i < 12; i++) /* more than the first allocation holds */
        add(p, i, up.port, "/health/ready");
    up_probe_destroy(p); /* no callback to call; ASan checks nothing leaked */
    up_probe_destroy(NULL);
    srv_stop(&up);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_reports_each_status_once),
        cmocka_unit_test(test_probe_answer_that_is_not_http_counts_as_none),
        cmocka_unit_test(test_probe_gives_up_on_a_silent_listener_after_its_timeout),
        cmocka_unit_test(test_probes_run_in_parallel_and_each_is_reported_as_it_answers),
        cmocka_unit_test(test_probe_destroy_abandons_probes_not_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
