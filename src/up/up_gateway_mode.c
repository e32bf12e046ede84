/* up_gateway_mode: the nginx gateway alone (see up_gateway_mode.h). */
#include "up_gateway_mode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"
#include "up_control.h"
#include "up_fs.h"
#include "up_gateway.h"
#include "up_health.h"
#include "up_probe.h"
#include "up_proc.h"

#define GM_STOP_MS 10000 /* nginx's time to finish its requests after SIGQUIT */

static const char *const gm_names[HC_NSERVICES + 1] = {"order", "reservation", "payment",
                                                       "notification", "gateway"};

/* What the health callback needs. */
typedef struct gm {
    const hc_config_t *cfg;
    char url[HC_NSERVICES][400]; /* each service's /actuator/health */
    int port[HC_NSERVICES];
    _Atomic pid_t nginx; /* 0 once it has ended; read by the health threads */
} gm_t;

typedef struct gm_health {
    up_health_child_t c[HC_NSERVICES + 1];
    char body[HC_NSERVICES][65536];
    char why[HC_NSERVICES][300];
} gm_health_t;

static void gm_on_health(void *ud, int id, const up_probe_result_t *r)
{
    gm_health_t *h = ud;
    h->c[id].status = r->status;
    h->c[id].ms = r->ms;
    /* A service elsewhere has no pid of ours: the one that answered stands
     * for it (any value > 0 means "runs" to up_health). */
    h->c[id].pid = r->status > 0 ? (r->pid > 0 ? r->pid : 1) : 0;
    if (r->body) {
        hc_strlcpy(h->body[id], r->body, sizeof h->body[id]);
        h->c[id].body = h->body[id];
    }
}

/* GET /actuator/health: each service's own, asked at its host in parallel
 * (HC_LIVENESS_TIMEOUT_MS each), and nginx's process. */
static json_t *gm_health(void *ud, int *status)
{
    gm_t *g = ud;
    gm_health_t *h = hc_xcalloc(1, sizeof *h); /* 260 KB: not on a server thread's stack */
    up_probe_t *probe = up_probe_create(g->cfg->liveness_timeout_ms);
    for (int i = 0; i < HC_NSERVICES; i++) {
        /* A long URL shortens the reason, which is only read by people. */
        if (snprintf(h->why[i], sizeof h->why[i], "did not answer %s within %d ms", g->url[i],
                     g->cfg->liveness_timeout_ms) < 0)
            h->why[i][0] = '\0';
        h->c[i] = (up_health_child_t){.name = gm_names[i],
                                      .port = g->port[i],
                                      .state = "remote",
                                      .why = h->why[i],
                                      .status = -1,
                                      .asked = up_probe_add_body(probe, i, g->url[i]) == 0};
    }
    pid_t nginx = atomic_load(&g->nginx);
    h->c[HC_NSERVICES] = (up_health_child_t){.name = "gateway",
                                             .pid = nginx,
                                             .port = g->cfg->gateway_port,
                                             .state = nginx ? "running" : "stopped",
                                             .why = "nginx has ended",
                                             .status = -1};
    up_probe_run_results(probe, gm_on_health, h);
    up_probe_destroy(probe);
    json_t *body = up_health_aggregate(h->c, HC_NSERVICES + 1, g->cfg->liveness_timeout_ms, status);
    free(h);
    return body;
}

/* Opens a listening socket on 127.0.0.1 at a port the kernel picks, for the
 * gateway's /actuator/health; its host:port into addr. Returns the fd or -1. */
static int gm_health_listen(char *addr, size_t addrlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(addr, addrlen, "127.0.0.1:%d", ntohs(sa.sin_port));
    return fd;
}

/* Makes run_dir/name a symlink to target unless it is a regular file the
 * operator keeps: a container's logs are its stdout and stderr. */
static void gm_log_link(const char *run_dir, const char *name, const char *target)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", run_dir, name) >= (int)sizeof path)
        return;
    if (lstat(path, &st) == 0) {
        if (!S_ISLNK(st.st_mode))
            return;
        unlink(path);
    }
    if (symlink(target, path) != 0)
        hc_warn("cannot link %s to %s: %s", path, target, strerror(errno));
}

/* Waits up to ms for nginx (pid) to end, reaping it. Returns 1 when it ended. */
static int gm_wait(pid_t pid, int64_t ms, int *st)
{
    int64_t deadline = hc_mono_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 1;
        if (hc_mono_ms() >= deadline)
            return 0;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int up_gateway_mode_run(const hc_config_t *cfg)
{
    static gm_t g;
    g.cfg = cfg;
    char run_dir[PATH_MAX], conf[PATH_MAX + 16], prefix[PATH_MAX + 2], tmp[PATH_MAX + 8];
    char nginx[PATH_MAX], health_addr[64], source[PATH_MAX + 16], err[1024];
    int health_fd = -1, rc = 1;
    up_control_t *ctl = NULL;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */

    if (up_fs_mkdir_p(cfg->run_dir) != 0 || !realpath(cfg->run_dir, run_dir)) {
        hc_error("cannot create run directory %s: %s", cfg->run_dir, strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof conf, "%s/nginx.conf", run_dir);
    snprintf(prefix, sizeof prefix, "%s/", run_dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", run_dir);
    if (up_fs_mkdir_p(tmp) != 0) {
        hc_error("cannot create %s: %s", tmp, strerror(errno));
        return 1;
    }
    if (up_gateway_nginx_program(cfg->nginx_bin, nginx, sizeof nginx) != 0) {
        hc_error("HC_NGINX=%s is not an executable file", cfg->nginx_bin);
        return 1;
    }
    health_fd = gm_health_listen(health_addr, sizeof health_addr);
    if (health_fd < 0) {
        hc_error("cannot open the health listener on 127.0.0.1: %s", strerror(errno));
        return 1;
    }
    if (up_gateway_write_config(cfg, run_dir, health_addr, conf, source, sizeof source, err,
                                sizeof err) != 0) {
        hc_error("%s", err);
        close(health_fd);
        return 1;
    }
    gm_log_link(run_dir, "access.log", "/dev/stdout");
    gm_log_link(run_dir, "error.log", "/dev/stderr");

    const int ports[HC_NSERVICES] = {cfg->order_port, cfg->reservation_port, cfg->payment_port,
                                     cfg->notification_port};
    char reach[80], lit[300];
    up_gateway_reach_addr(cfg->bind_addr, reach, sizeof reach);
    for (int i = 0; i < HC_NSERVICES; i++) {
        up_gateway_addr_literal(cfg->service_host[i][0] ? cfg->service_host[i] : reach, lit,
                                sizeof lit);
        g.port[i] = ports[i];
        snprintf(g.url[i], sizeof g.url[i], "http://%s:%d/actuator/health", lit, ports[i]);
    }

    char *argv[] = {nginx,        (char *)"-p",     prefix,       (char *)"-c",          conf,
                    (char *)"-e", (char *)"stderr", (char *)"-g", (char *)"daemon off;", NULL};
    pid_t pid = 0;
    if (up_proc_spawn(argv, &pid) != 0) {
        hc_error("cannot start nginx (%s): %s", nginx, strerror(errno));
        close(health_fd);
        return 1;
    }
    atomic_store(&g.nginx, pid);
    hc_info("gateway on %s:%d (config %s rendered from %s; nginx %s, pid %d)",
            *cfg->bind_addr ? cfg->bind_addr : "*", cfg->gateway_port, conf, source, nginx,
            (int)pid);
    up_control_ops_t ops = {.health = gm_health, .restart = NULL, .ud = &g};
    if (up_control_serve(health_fd, NULL, gm_names, HC_NSERVICES + 1, &ops, &ctl) != 0) {
        hc_warn("cannot serve %s: the gateway's /actuator/health is unavailable", health_addr);
        close(health_fd);
    }

    int st = 0;
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGCHLD) {
            if (waitpid(pid, &st, WNOHANG) != pid)
                continue;
            char how[128];
            up_proc_describe_status(st, how, sizeof how);
            hc_error("nginx (pid %d) ended by itself: %s", (int)pid, how);
            atomic_store(&g.nginx, 0);
            rc = 1;
            break;
        }
        if (sig == SIGHUP) {
            if (up_gateway_write_config(cfg, run_dir, health_addr, conf, source, sizeof source, err,
                                        sizeof err) != 0)
                hc_error("reload: %s (nginx keeps its config)", err);
            else if (kill(pid, SIGHUP) == 0)
                hc_info("nginx reloads %s", conf);
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            hc_info("stopping: nginx finishes its requests in flight (at most %d ms)", GM_STOP_MS);
            kill(pid, SIGQUIT);
            if (!gm_wait(pid, GM_STOP_MS, &st)) {
                hc_warn("nginx did not stop within %d ms: killing it", GM_STOP_MS);
                kill(-pid, SIGKILL);
                gm_wait(pid, 5000, &st);
            }
            atomic_store(&g.nginx, 0);
            rc = 0;
            break;
        }
    }
    up_control_stop(ctl);
    hc_info("gateway stopped");
    return rc;
}
