/* Checks hc_http over real HTTP: its storage conventions (hc_reply_storage_error: 503 with
 * Retry-After for a full disk or busy storage, 500 otherwise; readiness with its reason, liveness
 * stays UP; the write gate that refuses mutating requests while storage cannot take them), and its
 * connections: a handler that waits holds up only its own, and one beyond the limit is closed;
 * and the access levels of routes (hc_authz): 401 with WWW-Authenticate without a valid bearer
 * token, 403 for a role the level excludes, /metrics for services and the super-admin. */
#include "hc_test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_http.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_token.h"

#define MAX_CONNS 16

typedef struct fixture {
    hc_http_t *http;
    int port;
    int ready;           /* what the readiness check answers */
    int gate;            /* what the write gate answers */
    int handled;         /* requests that reached a handler */
    atomic_int waiting;  /* /wait handlers running */
    atomic_int release;  /* lets /wait answer */
    const char *breaker; /* the "breakers" component's status */
} fixture_t;

/* A free TCP port on 127.0.0.1 (bound to 0, read, closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Answers with the storage error named by the path: /fail/enospc, /fail/busy, /fail/eio. */
static void fail_handler(hc_req_t *req, void *ud)
{
    fixture_t *f = ud;
    f->handled++;
    const char *what = hc_req_param(req, 0);
    int rc = strcmp(what, "enospc") == 0 ? HC_ENOSPC
             : strcmp(what, "busy") == 0 ? HC_EBUSY
                                         : HC_EIO;
    hc_reply_storage_error(req, rc);
}

static void ok_handler(hc_req_t *req, void *ud)
{
    fixture_t *f = ud;
    f->handled++;
    hc_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

/* Answers once the test sets release (or after 10 s, so that a failed test
 * still ends). */
static void wait_handler(hc_req_t *req, void *ud)
{
    fixture_t *f = ud;
    atomic_fetch_add(&f->waiting, 1);
    for (int i = 0; i < 10000 && !atomic_load(&f->release); i++)
        usleep(1000);
    hc_reply_json(req, 200, json_pack("{s:b}", "released", atomic_load(&f->release)));
}

/* A health component whose status the test sets. */
static json_t *breakers_cb(void *ud)
{
    fixture_t *f = ud;
    return json_pack("{s:s, s:{s:i}}", "status", f->breaker, "details", "calls", 3);
}

static int ready_cb(void *ud, char *why, size_t n)
{
    fixture_t *f = ud;
    if (!f->ready)
        snprintf(why, n, "writes to x.db are failing: storage is full");
    return f->ready;
}

static int gate_cb(void *ud)
{
    fixture_t *f = ud;
    return f->gate;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->ready = 1;
    f->port = free_port();
    f->http = hc_http_create("test", "127.0.0.1", f->port, MAX_CONNS, 65536);
    assert_non_null(f->http);
    hc_http_route_as(f->http, HC_ACCESS_PUBLIC, "GET", "/wait", NULL, wait_handler, f);
    hc_http_route_as(f->http, HC_ACCESS_PUBLIC, "*", "/fail/{what}", NULL, fail_handler, f);
    hc_http_route_as(f->http, HC_ACCESS_PUBLIC, "*", "/things", NULL, ok_handler, f);
    hc_http_route(f->http, "GET", "/mine", "page", ok_handler, f);
    hc_http_route_as(f->http, HC_ACCESS_OPS, "POST", "/ops", NULL, ok_handler, f);
    hc_http_set_ready(f->http, ready_cb, f);
    hc_http_set_write_gate(f->http, gate_cb, f);
    f->breaker = "UP";
    hc_http_add_health(f->http, "breakers", breakers_cb, f);
    assert_int_equal(hc_http_start(f->http), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_http_destroy(f->http);
    free(f);
    return 0;
}

typedef struct answer {
    long status;
    char retry_after[16];
    char www_authenticate[96];
    hc_buf_t body;
    json_t *json;
} answer_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    answer_t *a = ud;
    hc_buf_add(&a->body, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    answer_t *a = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        const char *v = p + 12;
        while (*v == ' ')
            v++;
        size_t k = 0;
        while (k + 1 < sizeof a->retry_after && v + k < p + len && v[k] != '\r' && v[k] != '\n')
            k++;
        memcpy(a->retry_after, v, k);
        a->retry_after[k] = '\0';
    }
    if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
        size_t k =
            len - 18 < sizeof a->www_authenticate ? len - 18 : sizeof a->www_authenticate - 1;
        memcpy(a->www_authenticate, p + 18, k);
        a->www_authenticate[k] = '\0';
        a->www_authenticate[strcspn(a->www_authenticate, "\r\n")] = '\0';
    }
    return len;
}

/* Sends method path (with an empty JSON body for writes) with the header
 * line auth (NULL: none) and fills *a. */
static void call_as(fixture_t *f, const char *method, const char *path, const char *auth,
                    answer_t *a)
{
    memset(a, 0, sizeof *a);
    hc_buf_init(&a->body, 1 << 20);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    struct curl_slist *hdrs = auth ? curl_slist_append(NULL, auth) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    a->json = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
}

static void call(fixture_t *f, const char *method, const char *path, answer_t *a)
{
    call_as(f, method, path, NULL, a);
}

/* "Authorization: Bearer <token>" of a new token for role and sub, valid
 * ttl_s seconds from now (negative: expired), into out. */
static void bearer(hc_role_t role, const char *sub, int64_t ttl_s, char *out, size_t cap)
{
    hc_principal_t p = {.role = role};
    char token[HC_TOKEN_MAX_LEN];
    snprintf(p.sub, sizeof p.sub, "%s", sub);
    if (role == HC_ROLE_ADMIN) {
        p.centers[0] = 1;
        p.n_centers = 1;
    }
    int64_t now = hc_now_ms() / 1000;
    /* An expired token: one issued long enough ago. */
    int64_t issued = ttl_s > 0 ? now : now + ttl_s - 60;
    assert_int_equal(hc_token_issue(&p, ttl_s > 0 ? ttl_s : 60, issued, token, sizeof token), 0);
    snprintf(out, cap, "Authorization: Bearer %s", token);
}

static void answer_free(answer_t *a)
{
    json_decref(a->json);
    hc_buf_cleanup(&a->body);
}

static const char *field(const answer_t *a, const char *name)
{
    return json_string_value(json_object_get(a->json, name));
}

static void test_storage_error_replies(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    call(f, "POST", "/fail/enospc", &a);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.retry_after, "5");
    assert_string_equal(field(&a, "error"), "storage_unavailable");
    assert_non_null(strstr(field(&a, "message"), "full"));
    assert_non_null(strstr(field(&a, "message"), "nothing was changed"));
    assert_true(json_is_array(json_object_get(a.json, "fields")));
    answer_free(&a);

    call(f, "POST", "/fail/busy", &a);
    assert_int_equal(a.status, 503);
    assert_string_equal(a.retry_after, "1");
    assert_string_equal(field(&a, "error"), "storage_unavailable");
    assert_non_null(strstr(field(&a, "message"), "busy"));
    answer_free(&a);

    call(f, "POST", "/fail/eio", &a);
    assert_int_equal(a.status, 500);
    assert_string_equal(a.retry_after, "");
    assert_string_equal(field(&a, "error"), "internal");
    answer_free(&a);
}

static void test_readiness_reason_and_liveness(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    call(f, "GET", "/health/ready", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(field(&a, "status"), "UP");
    assert_null(json_object_get(a.json, "reason"));
    answer_free(&a);

    f->ready = 0;
    const char *paths[] = {"/health/ready", "/actuator/health"};
    for (size_t i = 0; i < 2; i++) {
        call(f, "GET", paths[i], &a);
        assert_int_equal(a.status, 503);
        assert_string_equal(field(&a, "status"), "DOWN");
        assert_string_equal(field(&a, "reason"), "writes to x.db are failing: storage is full");
        answer_free(&a);
    }
    call(f, "GET", "/health/live", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(field(&a, "status"), "UP");
    answer_free(&a);
}

static int connect_to(const fixture_t *f);
static void send_get(int fd, const char *path);
static int read_status(int fd);

/* Status of component name in a's components, or NULL. */
static const char *component(const answer_t *a, const char *name)
{
    json_t *c = json_object_get(json_object_get(a->json, "components"), name);
    return json_string_value(json_object_get(c, "status"));
}

static void test_health_components_and_spring_names(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    call(f, "GET", "/actuator/health", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(field(&a, "status"), "UP");
    assert_string_equal(component(&a, "liveness"), "UP");
    assert_string_equal(component(&a, "readiness"), "UP");
    assert_string_equal(component(&a, "breakers"), "UP");
    json_t *details = json_object_get(
        json_object_get(json_object_get(a.json, "components"), "breakers"), "details");
    assert_int_equal(json_integer_value(json_object_get(details, "calls")), 3);
    answer_free(&a);
    /* A status other than DOWN is shown only. */
    f->breaker = "CIRCUIT_OPEN";
    call(f, "GET", "/actuator/health", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(field(&a, "status"), "UP");
    assert_string_equal(component(&a, "breakers"), "CIRCUIT_OPEN");
    answer_free(&a);
    /* A DOWN component takes the whole down; readiness alone stays UP. */
    f->breaker = "DOWN";
    call(f, "GET", "/actuator/health", &a);
    assert_int_equal(a.status, 503);
    assert_string_equal(field(&a, "status"), "DOWN");
    answer_free(&a);
    call(f, "GET", "/actuator/health/readiness", &a);
    assert_int_equal(a.status, 200);
    assert_null(json_object_get(a.json, "components"));
    answer_free(&a);
    /* Spring Boot's probe names answer as ours. */
    f->ready = 0;
    call(f, "GET", "/actuator/health/readiness", &a);
    assert_int_equal(a.status, 503);
    assert_string_equal(field(&a, "status"), "DOWN");
    answer_free(&a);
    call(f, "GET", "/actuator/health/liveness", &a);
    assert_int_equal(a.status, 200);
    assert_string_equal(field(&a, "status"), "UP");
    answer_free(&a);
}

static void test_a_draining_server_is_out_of_service_and_closes(void **state)
{
    fixture_t *f = *state;
    int a = connect_to(f), b = connect_to(f);
    send_get(a, "/things");
    assert_int_equal(read_status(a), 200);
    send_get(b, "/wait");
    for (int i = 0; i < 5000 && atomic_load(&f->waiting) == 0; i++)
        usleep(1000);
    assert_int_equal(hc_http_inflight(f->http), 1);
    hc_http_drain(f->http);
    /* The in-flight request keeps the server busy. */
    assert_int_equal(hc_http_wait_idle(f->http, hc_deadline_ms(20)), HC_ETIMEDOUT);
    /* Open connections are still served, as OUT_OF_SERVICE, then closed. */
    send_get(a, "/health/ready");
    assert_int_equal(read_status(a), 503);
    char c;
    assert_int_equal(recv(a, &c, 1, 0), 0); /* Connection: close */
    close(a);
    /* New connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    /* The request in flight finishes with its answer; then the server is idle. */
    atomic_store(&f->release, 1);
    assert_int_equal(read_status(b), 200);
    assert_int_equal(hc_http_wait_idle(f->http, hc_deadline_ms(5000)), 0);
    close(b);
}

static void test_write_gate(void **state)
{
    fixture_t *f = *state;
    answer_t a;
    f->gate = HC_ENOSPC;
    const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < 4; i++) {
        call(f, methods[i], "/things", &a);
        assert_int_equal(a.status, 503);
        assert_string_equal(a.retry_after, "5");
        assert_string_equal(field(&a, "error"), "storage_unavailable");
        answer_free(&a);
    }
    assert_int_equal(f->handled, 0);
    /* reads pass */
    call(f, "GET", "/things", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_int_equal(f->handled, 1);
    /* unknown routes are still 404, not refused */
    call(f, "POST", "/nothing", &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    /* storage back: writes pass */
    f->gate = 0;
    call(f, "POST", "/things", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_int_equal(f->handled, 2);
}

/* A TCP connection to the fixture's server. */
static int connect_to(const fixture_t *f)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends GET path on fd, kept alive. */
static void send_get(int fd, const char *path)
{
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", path);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

/* Reads one answer on fd; returns its status, or -1 when the server closed
 * the connection (or the read failed) first. */
static int read_status(int fd)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        if (end && cl && len >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))
            return atoi(buf + 9); /* "HTTP/1.1 200" */
        if (len == sizeof buf - 1)
            return -1;
    }
}

static void test_a_waiting_handler_holds_up_only_its_connection(void **state)
{
    fixture_t *f = *state;
    int a = connect_to(f), b = connect_to(f);
    send_get(a, "/things");
    assert_int_equal(read_status(a), 200);
    send_get(b, "/wait");
    for (int i = 0; i < 5000 && atomic_load(&f->waiting) == 0; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&f->waiting), 1);
    /* While /wait waits, the kept-alive connection a is still served. */
    for (int i = 0; i < 3; i++) {
        send_get(a, "/things");
        assert_int_equal(read_status(a), 200);
    }
    atomic_store(&f->release, 1);
    assert_int_equal(read_status(b), 200);
    close(a);
    close(b);
}

static void test_a_connection_beyond_the_limit_is_closed(void **state)
{
    fixture_t *f = *state;
    int fds[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        fds[i] = connect_to(f);
        send_get(fds[i], "/things"); /* answered: the server holds it */
        assert_int_equal(read_status(fds[i]), 200);
    }
    int extra = connect_to(f);
    send_get(extra, "/things");
    assert_int_equal(read_status(extra), -1);
    close(extra);
    /* One closes: a new connection is served again (once the server has
     * seen the close). */
    close(fds[0]);
    int status = -1;
    for (int i = 0; i < 500 && status != 200; i++) {
        int fd = connect_to(f);
        send_get(fd, "/things");
        status = read_status(fd);
        close(fd);
        if (status != 200)
            usleep(10000);
    }
    assert_int_equal(status, 200);
    for (int i = 1; i < MAX_CONNS; i++)
        close(fds[i]);
}

/* A protected route (the default) answers 401 with WWW-Authenticate before
 * its handler runs, whatever else is wrong with the request; a route for
 * services and the super-admin refuses other roles with 403; /metrics too. */
static void test_access_levels(void **state)
{
    fixture_t *f = *state;
    char customer[HC_TOKEN_MAX_LEN + 40], expired[HC_TOKEN_MAX_LEN + 40];
    char service[HC_TOKEN_MAX_LEN + 40];
    answer_t a;
    bearer(HC_ROLE_CUSTOMER, "01012345678", 600, customer, sizeof customer);
    bearer(HC_ROLE_CUSTOMER, "01012345678", -10, expired, sizeof expired);
    bearer(HC_ROLE_SERVICE, "order", 600, service, sizeof service);

    call(f, "GET", "/mine?nonsense=1", &a);
    assert_int_equal(a.status, 401);
    assert_string_equal(field(&a, "error"), "unauthorized");
    assert_string_equal(a.www_authenticate, "Bearer realm=\"healthcenter\"");
    answer_free(&a);
    call_as(f, "GET", "/mine", expired, &a);
    assert_int_equal(a.status, 401);
    assert_string_equal(field(&a, "error"), "invalid_token");
    assert_non_null(strstr(a.www_authenticate, "error=\"invalid_token\""));
    answer_free(&a);
    call_as(f, "GET", "/mine", "Authorization: Bearer not.a.token", &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    call_as(f, "GET", "/things", "Authorization: Basic dXNlcjpwYXNz", &a);
    assert_int_equal(a.status, 401); /* a bad token counts even where none is needed */
    answer_free(&a);
    assert_int_equal(f->handled, 0);

    call_as(f, "GET", "/mine", customer, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    call_as(f, "POST", "/ops", customer, &a);
    assert_int_equal(a.status, 403);
    assert_string_equal(field(&a, "error"), "forbidden");
    answer_free(&a);
    call_as(f, "POST", "/ops", service, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    assert_int_equal(f->handled, 2);

    call(f, "GET", "/metrics", &a);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    call_as(f, "GET", "/metrics", customer, &a);
    assert_int_equal(a.status, 403);
    answer_free(&a);
    call_as(f, "GET", "/metrics", service, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    call(f, "GET", "/health/ready", &a);
    assert_int_equal(a.status, 200); /* probes need no token */
    answer_free(&a);
}

int main(void)
{
    hc_log_init("test_http", "error");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    assert_int_equal(hc_token_init("unit-test-secret-0123456789abcdef0123", "/nonexistent"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_storage_error_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness_reason_and_liveness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_waiting_handler_holds_up_only_its_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_connection_beyond_the_limit_is_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_components_and_spring_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_draining_server_is_out_of_service_and_closes, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
