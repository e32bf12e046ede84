/* up_supervisor: `healthcenter up`: one foreground process that starts the four
 * services and nginx, waits for readiness, restarts crashed children with
 * backoff, and stops them all on SIGINT/SIGTERM. Design: docs/supervisor.md. */
#include "up_supervisor.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"
#include "up_fs.h"
#include "up_gateway.h"
#include "up_probe.h"
#include "up_proc.h"

#define SV_NCHILD 5             /* four services and nginx */
#define SV_NGINX 4              /* index of nginx in sv_t.child */
#define SV_BACKOFF_MIN_MS 100   /* first restart delay */
#define SV_BACKOFF_MAX_MS 5000  /* restart delay cap */
#define SV_STABLE_MS 10000      /* a child up this long restarts with the minimum delay again */
#define SV_STOP_GRACE_MS 10000  /* how long children get to stop before SIGKILL */
#define SV_POLL_MS 20           /* readiness polling interval */
#define SV_PROBE_TIMEOUT_MS 250 /* one readiness probe */

/* One supervised child process. */
typedef struct sv_child {
    const char *name;      /* "order", ..., "nginx" */
    const char *port_var;  /* the variable that sets its port, for messages */
    int port;              /* the HTTP port it listens on */
    char probe_url[160];   /* its readiness probe */
    pid_t pid;             /* 0 when not running */
    int ready;             /* answered its readiness probe since it last started */
    int64_t started_ms;    /* monotonic time of the last start, ms */
    int64_t restart_at_ms; /* monotonic time of a pending restart, ms; 0 = none */
    int backoff_ms;        /* delay before the next restart, ms */
    int restarts;          /* restarts so far */
} sv_child_t;

/* The supervisor's state for one `up` run. */
typedef struct sv {
    const hc_config_t *cfg;
    const char *self_exe;
    char nginx[PATH_MAX];   /* the nginx program: a path, or "nginx" to search in PATH */
    char run_dir[PATH_MAX]; /* absolute */
    char conf[PATH_MAX];    /* run_dir/nginx.conf */
    char prefix[PATH_MAX];  /* run_dir/ for nginx -p */
    char host[80];          /* where the children are reached (an address literal) */
    sigset_t sigs;          /* the signals handled synchronously */
    sv_child_t child[SV_NCHILD];
} sv_t;

/* Resolves host:port (numeric) into *ai; the caller frees it with freeaddrinfo.
 * Returns 0 or HC_EINVAL. */
static int sv_resolve(const char *host, int port, int passive, struct addrinfo **ai)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    return getaddrinfo(host, portstr, &hints, ai) == 0 ? 0 : HC_EINVAL;
}

/* Checks that host:port can be bound now (the way the services and nginx bind
 * it, with SO_REUSEADDR). Returns 0, or the errno of the failed bind. */
static int sv_port_free(const char *host, int port)
{
    struct addrinfo *ai = NULL;
    if (sv_resolve(*host ? host : NULL, port, 1, &ai) != 0)
        return EADDRNOTAVAIL;
    int e = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        e = errno;
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            e = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    return e;
}

/* Starts child c (up_proc_spawn: its own process group, death with the
 * supervisor, no blocked signals): a service by re-executing self_exe, nginx
 * on the rendered config. Returns 0 with c->pid set, or an hc_err with errno
 * set (see sv_spawn_error). */
static int sv_spawn(sv_t *sv, sv_child_t *c)
{
    char *argv[12];
    size_t k = 0;
    if (c == &sv->child[SV_NGINX]) {
        argv[k++] = sv->nginx;
        argv[k++] = (char *)"-p";
        argv[k++] = sv->prefix;
        argv[k++] = (char *)"-c";
        argv[k++] = sv->conf;
        argv[k++] = (char *)"-e"; /* errors before the config is read go to our stderr */
        argv[k++] = (char *)"stderr";
        argv[k++] = (char *)"-g";
        argv[k++] = (char *)"daemon off;";
    } else {
        argv[k++] = (char *)sv->self_exe;
        argv[k++] = (char *)c->name;
    }
    argv[k] = NULL;
    pid_t pid;
    int rc = up_proc_spawn(argv, &pid);
    if (rc != 0)
        return rc;
    c->pid = pid;
    c->ready = 0;
    c->started_ms = hc_mono_ms();
    c->restart_at_ms = 0;
    hc_info("started %s (pid %d, port %d)", c->name, (int)pid, c->port);
    return 0;
}

/* Writes why sv_spawn failed with rc for child c into err (size errlen), as
 * "cannot <verb> <name>: ...". nginx searched in PATH and not found there
 * gets the message that says how to install it or where to point HC_NGINX. */
static void sv_spawn_error(const sv_t *sv, const sv_child_t *c, int rc, const char *verb, char *err,
                           size_t errlen)
{
    int e = errno;
    int nginx = c == &sv->child[SV_NGINX];
    if (rc == HC_EIO)
        hc_fmt(err, errlen, "cannot %s %s: fork failed: %s", verb, c->name, strerror(e));
    else if (nginx && !strchr(sv->nginx, '/') && (e == ENOENT || e == ENOTDIR || e == EACCES))
        hc_fmt(err, errlen,
               "nginx not found in /usr/sbin, /usr/local/sbin or PATH: install it "
               "(apt-get install nginx-light) or set HC_NGINX");
    else
        hc_fmt(err, errlen, "cannot %s %s: cannot run %s: %s", verb, c->name,
               nginx ? sv->nginx : sv->self_exe, strerror(e));
}

/* Reaps every exited child without blocking. During supervision (restart=1) a
 * dead child's leftover process group is killed and the child is scheduled for
 * a restart with backoff; otherwise it is only marked gone. Returns the number
 * of supervised children that exited. */
static int sv_reap(sv_t *sv, int restart)
{
    int exited = 0;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break;
        for (int i = 0; i < SV_NCHILD; i++) {
            sv_child_t *c = &sv->child[i];
            if (c->pid != pid)
                continue;
            char how[96];
            up_proc_describe_status(st, how, sizeof how);
            c->pid = 0;
            c->ready = 0;
            exited++;
            if (!restart) {
                hc_info("%s (pid %d) stopped: %s", c->name, (int)pid, how);
                break;
            }
            /* What the dead child left in its process group (nginx workers
             * outlive a killed master and keep the port) goes with it. */
            kill(-pid, SIGKILL);
            int64_t now = hc_mono_ms();
            if (now - c->started_ms >= SV_STABLE_MS)
                c->backoff_ms = SV_BACKOFF_MIN_MS;
            c->restart_at_ms = now + c->backoff_ms;
            hc_error("%s (pid %d) exited unexpectedly after %lld ms: %s; restarting in %d ms",
                     c->name, (int)pid, (long long)(now - c->started_ms), how, c->backoff_ms);
            c->backoff_ms =
                c->backoff_ms * 2 > SV_BACKOFF_MAX_MS ? SV_BACKOFF_MAX_MS : c->backoff_ms * 2;
            break;
        }
    }
    return exited;
}

/* Returns the number of children still running. */
static int sv_alive(const sv_t *sv)
{
    int n = 0;
    for (int i = 0; i < SV_NCHILD; i++)
        n += sv->child[i].pid > 0;
    return n;
}

/* Waits up to ms for one of the handled signals. Returns the signal, or 0 on
 * timeout. */
static int sv_wait_signal(const sv_t *sv, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    for (;;) {
        int sig = sigtimedwait(&sv->sigs, NULL, &ts);
        if (sig > 0)
            return sig;
        if (errno != EINTR)
            return 0;
    }
}

/* Stops every running child: SIGTERM to the services and SIGQUIT to nginx (a
 * graceful stop that finishes requests in flight), SV_STOP_GRACE_MS to exit,
 * then SIGKILL to each leftover process group. A second SIGINT/SIGTERM
 * skips the wait. Returns when no child is left. */
static void sv_stop_all(sv_t *sv)
{
    for (int i = 0; i < SV_NCHILD; i++) {
        sv_child_t *c = &sv->child[i];
        c->restart_at_ms = 0;
        if (c->pid > 0)
            kill(c->pid, i == SV_NGINX ? SIGQUIT : SIGTERM);
    }
    int64_t deadline = hc_deadline_ms(SV_STOP_GRACE_MS);
    sv_reap(sv, 0);
    while (sv_alive(sv) > 0) {
        int64_t left = hc_deadline_left(deadline);
        if (left <= 0)
            break;
        int sig = sv_wait_signal(sv, left);
        if (sig == SIGINT || sig == SIGTERM) {
            hc_warn("second stop signal: killing the remaining processes now");
            break;
        }
        sv_reap(sv, 0);
    }
    for (int i = 0; i < SV_NCHILD; i++) {
        sv_child_t *c = &sv->child[i];
        if (c->pid <= 0)
            continue;
        hc_warn("%s (pid %d) did not stop in time; sending SIGKILL", c->name, (int)c->pid);
        kill(-c->pid, SIGKILL); /* the group: nginx's workers too */
        kill(c->pid, SIGKILL);
        int st;
        while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
            ;
        c->pid = 0;
    }
    /* nginx workers exit after their master; collect any stragglers that were
     * reparented to us (none normally: we are not a subreaper). */
    sv_reap(sv, 0);
}

/* Fills the child table from sv->cfg and sv->host. */
static void sv_init_children(sv_t *sv)
{
    const hc_config_t *cfg = sv->cfg;
    char host[96];
    up_gateway_addr_literal(sv->host, host, sizeof host);
    const struct {
        const char *name, *var;
        int port;
    } t[SV_NCHILD] = {
        {"order", "HC_ORDER_PORT", cfg->order_port},
        {"reservation", "HC_RESERVATION_PORT", cfg->reservation_port},
        {"payment", "HC_PAYMENT_PORT", cfg->payment_port},
        {"notification", "HC_NOTIFICATION_PORT", cfg->notification_port},
        {"nginx", "HC_GATEWAY_PORT", cfg->gateway_port},
    };
    for (int i = 0; i < SV_NCHILD; i++) {
        sv->child[i].name = t[i].name;
        sv->child[i].port_var = t[i].var;
        sv->child[i].port = t[i].port;
        sv->child[i].backoff_ms = SV_BACKOFF_MIN_MS;
        /* A service is ready when /health/ready answers 200; nginx when it
         * answers HTTP at all (it has no upstream-independent state). */
        snprintf(sv->child[i].probe_url, sizeof sv->child[i].probe_url, "http://%s:%d%s", host,
                 t[i].port, i == SV_NGINX ? "/gateway/health" : "/health/ready");
    }
}

/* Checks the ports: all different and free on the bind address. Returns 0, or
 * HC_EUNAVAIL with a message in err. */
static int sv_check_ports(const sv_t *sv, char *err, size_t errlen)
{
    for (int i = 0; i < SV_NCHILD; i++) {
        const sv_child_t *c = &sv->child[i];
        for (int j = 0; j < i; j++) {
            if (sv->child[j].port == c->port) {
                hc_fmt(err, errlen, "%s and %s are both set to port %d (%s, %s)", sv->child[j].name,
                       c->name, c->port, sv->child[j].port_var, c->port_var);
                return HC_EUNAVAIL;
            }
        }
        int e = sv_port_free(sv->cfg->bind_addr, c->port);
        if (e == EADDRINUSE) {
            hc_fmt(err, errlen,
                   "port %d (%s) on %s is already in use: stop the process holding it "
                   "(is another `healthcenter up` running?) or choose another port with %s",
                   c->port, c->name, sv->cfg->bind_addr, c->port_var);
            return HC_EUNAVAIL;
        }
        if (e != 0) {
            hc_fmt(err, errlen, "cannot listen on %s port %d (%s): %s (check HC_BIND_ADDR, %s)",
                   sv->cfg->bind_addr, c->port, c->name, strerror(e), c->port_var);
            return HC_EUNAVAIL;
        }
    }
    return 0;
}

/* Prepares the run directory, the nginx binary and the rendered config.
 * Returns 0, or an hc_err with a message in err. */
static int sv_prepare(sv_t *sv, char *err, size_t errlen)
{
    const hc_config_t *cfg = sv->cfg;
    char tmpdir[PATH_MAX];
    if (up_fs_mkdir_p(cfg->data_dir) != 0) {
        hc_fmt(err, errlen, "cannot create data directory %s: %s", cfg->data_dir, strerror(errno));
        return HC_EIO;
    }
    if (up_fs_mkdir_p(cfg->run_dir) != 0 || !realpath(cfg->run_dir, sv->run_dir)) {
        hc_fmt(err, errlen, "cannot create run directory %s: %s", cfg->run_dir, strerror(errno));
        return HC_EIO;
    }
    int n1 = snprintf(sv->conf, sizeof sv->conf, "%s/nginx.conf", sv->run_dir);
    int n2 = snprintf(sv->prefix, sizeof sv->prefix, "%s/", sv->run_dir);
    int n3 = snprintf(tmpdir, sizeof tmpdir, "%s/tmp", sv->run_dir);
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof sv->conf ||
        (size_t)n3 >= sizeof tmpdir) {
        hc_fmt(err, errlen, "run directory path is too long: %s", sv->run_dir);
        return HC_EINVAL;
    }
    if (up_fs_mkdir_p(tmpdir) != 0) {
        hc_fmt(err, errlen, "cannot create %s: %s", tmpdir, strerror(errno));
        return HC_EIO;
    }

    /* Without HC_NGINX and nginx in the usual places, execvp searches PATH
     * when nginx is started (sv_start), which is where "not found" shows. */
    if (up_gateway_nginx_program(cfg->nginx_bin, sv->nginx, sizeof sv->nginx) != 0) {
        hc_fmt(err, errlen, "HC_NGINX=%s is not an executable file", cfg->nginx_bin);
        return HC_ENOTFOUND;
    }

    char source[PATH_MAX];
    int rc =
        up_gateway_write_config(cfg, sv->run_dir, sv->conf, source, sizeof source, err, errlen);
    if (rc == 0)
        hc_info("gateway config %s rendered from %s; nginx is %s%s", sv->conf, source, sv->nginx,
                strchr(sv->nginx, '/') ? "" : " (searched in PATH)");
    return rc;
}

/* What sv_on_probe needs: the supervisor and when `up` started. */
typedef struct sv_probe_ctx {
    sv_t *sv;
    int64_t t0;
} sv_probe_ctx_t;

/* Takes one probe's answer (id: the child's index): a service is ready on 200,
 * nginx on any HTTP answer. Logs each child once, as soon as it is ready. */
static void sv_on_probe(void *ud, int id, int status)
{
    sv_probe_ctx_t *pc = ud;
    sv_child_t *c = &pc->sv->child[id];
    int ok = id == SV_NGINX ? status > 0 : status == 200;
    if (ok && c->pid > 0 && !c->ready) {
        c->ready = 1;
        hc_info("%s is ready (%lld ms)", c->name, (long long)(hc_mono_ms() - pc->t0));
    }
}

/* Starts every child and waits until all are ready: each round probes every
 * child not yet ready in parallel (SV_PROBE_TIMEOUT_MS each), then waits
 * SV_POLL_MS for a signal. Returns 0 when ready, 1 when start-up failed
 * (message in err), or 2 when a stop signal came first. */
static int sv_start(sv_t *sv, int64_t t0, char *err, size_t errlen)
{
    /* nginx first: when it cannot be run (not found in PATH), no service has
     * been started yet. */
    static const int order[SV_NCHILD] = {SV_NGINX, 0, 1, 2, 3};
    for (int k = 0; k < SV_NCHILD; k++) {
        sv_child_t *c = &sv->child[order[k]];
        int spawned = sv_spawn(sv, c);
        if (spawned != 0) {
            sv_spawn_error(sv, c, spawned, "start", err, errlen);
            return 1;
        }
    }
    /* Created after the children are forked and destroyed before any
     * restart, so no child inherits a probe's socket. */
    up_probe_t *probe = up_probe_create(SV_PROBE_TIMEOUT_MS);
    sv_probe_ctx_t pc = {.sv = sv, .t0 = t0};
    int64_t deadline = t0 + sv->cfg->ready_timeout_ms;
    int rc;
    for (;;) {
        for (int i = 0; i < SV_NCHILD; i++) {
            sv_child_t *c = &sv->child[i];
            /* A probe libcurl refuses to add counts as one not answered. */
            if (c->pid > 0 && !c->ready)
                up_probe_add(probe, i, c->probe_url);
        }
        up_probe_run(probe, sv_on_probe, &pc);
        int pending = 0;
        for (int i = 0; i < SV_NCHILD; i++)
            pending += !sv->child[i].ready;
        if (pending == 0) {
            rc = 0;
            goto out;
        }
        if (hc_mono_ms() >= deadline) {
            int k =
                hc_fmt(err, errlen,
                       "not ready within %d ms (HC_READY_TIMEOUT_MS):", sv->cfg->ready_timeout_ms);
            for (int i = 0; i < SV_NCHILD && k > 0 && (size_t)k < errlen; i++)
                if (!sv->child[i].ready)
                    k += snprintf(err + k, errlen - (size_t)k, " %s (port %d)", sv->child[i].name,
                                  sv->child[i].port);
            rc = 1;
            goto out;
        }
        int sig = sv_wait_signal(sv, SV_POLL_MS);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            rc = 2;
            goto out;
        }
        if (sig == SIGCHLD || sig == 0) {
            int st;
            for (int i = 0; i < SV_NCHILD; i++) {
                sv_child_t *c = &sv->child[i];
                if (c->pid <= 0 || waitpid(c->pid, &st, WNOHANG) != c->pid)
                    continue;
                char how[96];
                up_proc_describe_status(st, how, sizeof how);
                hc_fmt(err, errlen, "%s exited during start-up (%s); see its messages above%s%s%s",
                       c->name, how, i == SV_NGINX ? " and in " : "",
                       i == SV_NGINX ? sv->run_dir : "", i == SV_NGINX ? "/error.log" : "");
                c->pid = 0;
                rc = 1;
                goto out;
            }
        }
    }
out:
    up_probe_destroy(probe);
    return rc;
}

/* Prints the ready banner: time to all-ready and every URL. */
static void sv_print_ready(const sv_t *sv, int64_t ms)
{
    char host[96];
    up_gateway_addr_literal(sv->host, host, sizeof host);
    printf("healthcenter: all services ready in %lld ms\n", (long long)ms);
    printf("  gateway       http://%s:%d/\n", host, sv->child[SV_NGINX].port);
    for (int i = 0; i < SV_NGINX; i++)
        printf("  %-13s http://%s:%d/\n", sv->child[i].name, host, sv->child[i].port);
    printf("  run dir       %s (nginx.conf, access.log, error.log)\n", sv->run_dir);
    printf("Press Ctrl-C to stop.\n");
    fflush(stdout);
}

/* Supervises until a stop signal: restarts children that exit, with backoff. */
static void sv_supervise(sv_t *sv)
{
    for (;;) {
        int64_t now = hc_mono_ms();
        int64_t wait = 60000;
        for (int i = 0; i < SV_NCHILD; i++) {
            sv_child_t *c = &sv->child[i];
            if (c->pid == 0 && c->restart_at_ms > 0 && c->restart_at_ms - now < wait)
                wait = c->restart_at_ms - now;
        }
        int sig = sv_wait_signal(sv, wait);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            hc_info("received %s: stopping", sig == SIGINT    ? "SIGINT"
                                             : sig == SIGTERM ? "SIGTERM"
                                                              : "SIGHUP");
            return;
        }
        if (sig == SIGCHLD)
            sv_reap(sv, 1);
        now = hc_mono_ms();
        for (int i = 0; i < SV_NCHILD; i++) {
            sv_child_t *c = &sv->child[i];
            if (c->pid != 0 || c->restart_at_ms == 0 || c->restart_at_ms > now)
                continue;
            c->restarts++;
            hc_warn("restarting %s (restart %d)", c->name, c->restarts);
            int rc = sv_spawn(sv, c);
            if (rc != 0) {
                char why[512];
                sv_spawn_error(sv, c, rc, "restart", why, sizeof why);
                hc_error("%s; next try in %d ms", why, c->backoff_ms);
                c->restart_at_ms = now + c->backoff_ms;
                c->backoff_ms =
                    c->backoff_ms * 2 > SV_BACKOFF_MAX_MS ? SV_BACKOFF_MAX_MS : c->backoff_ms * 2;
            }
        }
    }
}

/* Reports why `up` failed: a log line and a plain line for the person at the
 * terminal. */
static void sv_report(const char *err)
{
    hc_error("up failed: %s", err);
    fprintf(stderr, "healthcenter up: %s\n", err);
    fflush(stderr);
}

int up_supervisor_run(const hc_config_t *cfg, const char *self_exe)
{
    int64_t t0 = hc_mono_ms();
    sv_t *sv = hc_xcalloc(1, sizeof *sv);
    sv->cfg = cfg;
    sv->self_exe = self_exe;
    up_gateway_reach_addr(cfg->bind_addr, sv->host, sizeof sv->host);
    sv_init_children(sv);

    /* The signals are taken synchronously with sigtimedwait: no handlers, no
     * races between a child's death and a stop request. */
    sigset_t old;
    sigemptyset(&sv->sigs);
    sigaddset(&sv->sigs, SIGINT);
    sigaddset(&sv->sigs, SIGTERM);
    sigaddset(&sv->sigs, SIGHUP);
    sigaddset(&sv->sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &sv->sigs, &old);

    char err[1024] = "";
    int rc = 1;
    if (sv_prepare(sv, err, sizeof err) == 0 && sv_check_ports(sv, err, sizeof err) == 0) {
        int started = sv_start(sv, t0, err, sizeof err);
        if (started == 0) {
            sv_print_ready(sv, hc_mono_ms() - t0);
            sv_supervise(sv);
            rc = 0;
        } else if (started == 2) {
            hc_info("stop requested during start-up");
            rc = 0;
        } else {
            sv_report(err);
        }
        sv_stop_all(sv);
        if (rc == 0)
            hc_info("all processes stopped");
    } else {
        sv_report(err);
    }
    /* Consume what is still pending (a late Ctrl-C, the last SIGCHLD) so that
     * unblocking does not act on it. */
    while (sv_wait_signal(sv, 0) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(sv);
    return rc;
}
