/* up_supervisor: `healthcenter up`: one foreground process that starts the four
 * services and nginx, waits for readiness, keeps them alive (restarts with
 * back-off, liveness probes, a crash-loop limit), restarts one without
 * downtime on request (the control socket), and stops them all in order on
 * SIGINT/SIGTERM. Design: docs/supervisor.md. */
#include "up_supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "hc_lock.h"
#include "hc_log.h"
#include "hc_time.h"
#include "up_control.h"
#include "up_fs.h"
#include "up_gateway.h"
#include "up_health.h"
#include "up_notify.h"
#include "up_policy.h"
#include "up_probe.h"
#include "up_proc.h"
#include "up_web.h"

/* Children at most: every instance of the four services (HC_SCALE), then nginx. */
#define SV_MAXCHILD (HC_NSERVICES * HC_SCALE_MAX + 1)
#define SV_STABLE_MS 10000 /* a child up this long restarts with the minimum delay again */
#define SV_STOP_GRACE_MS                                                                           \
    10000             /* how long nginx gets to stop, and the services beyond their own grace */
#define SV_POLL_MS 20 /* readiness polling interval */
#define SV_PROBE_TIMEOUT_MS 250 /* one readiness probe */

/* One supervised child: an instance of a service (HC_SCALE) or nginx.
 * During a rolling restart an instance has two processes: pid (serving) and
 * next_pid (starting), then pid (the new one) and old_pid (draining). */
typedef struct sv_child {
    const char *name;      /* "order", "order-2" (its second instance), ..., "nginx" */
    const char *ctl_name;  /* its name for `healthcenter restart` ("gateway" for nginx) */
    const char *svc;       /* the service it runs ("order"); NULL for nginx */
    int svc_i;             /* that service's index (HC_NSERVICES order); -1 for nginx */
    int instance;          /* 0 for a service's first instance, k for its (k+1)th */
    char name_buf[32];     /* name when it is not the service's */
    char env_port[48];     /* "HC_ORDER_PORT=8181" for an instance past the first; "" */
    const char *port_var;  /* the variable that sets its port, for messages */
    int port;              /* the HTTP port it listens on */
    char probe_url[160];   /* its readiness probe */
    char live_url[160];    /* its liveness probe */
    char health_url[160];  /* its /actuator/health (services) */
    pid_t pid;             /* the serving process; 0 when none runs */
    pid_t next_pid;        /* a rolling restart's new process, not serving yet; 0 = none */
    pid_t old_pid;         /* a rolling restart's old process, draining; 0 = none */
    int ready;             /* answered its readiness probe since it last started */
    int live_seen;         /* answered a liveness probe since it last started */
    int restarting;        /* a rolling restart (control socket) is in progress */
    int crash_loop;        /* given up on: exited too often (HC_CRASH_LOOP_RESTARTS) */
    char why[300];         /* why it is not running, for /actuator/health */
    int64_t started_ms;    /* monotonic time of the last start, ms */
    int64_t restart_at_ms; /* monotonic time of a pending restart, ms; 0 = none */
    int restarts;          /* restarts so far (unexpected exits, hangs, and requested) */
    int spawn_want;        /* a control thread asks the main thread to spawn (sv_spawn_kind_t) */
    int spawn_rc;          /* what that spawn returned, with spawn_errno */
    int spawn_errno;
    up_history_t hist; /* back-off, crash-loop window, failed liveness probes */
} sv_child_t;

/* What a control thread asks the main thread to spawn. Only the main thread
 * forks: PR_SET_PDEATHSIG fires when the forking *thread* ends, and a
 * control thread ends with its connection. */
typedef enum sv_spawn_kind {
    SV_SPAWN_NONE,
    SV_SPAWN_SERVING, /* c->pid, a fresh start (sv_spawn) */
    SV_SPAWN_NEXT,    /* c->next_pid, a rolling restart's new instance */
} sv_spawn_kind_t;

/* The supervisor's state for one `up` run. The child table is shared with
 * the control socket's threads: mu guards it, and only the main thread
 * reaps. */
typedef struct sv {
    const hc_config_t *cfg;
    const char *self_exe;
    char nginx[PATH_MAX];      /* the nginx program: a path, or "nginx" to search in PATH */
    char run_dir[PATH_MAX];    /* absolute */
    char conf[PATH_MAX];       /* run_dir/nginx.conf */
    char prefix[PATH_MAX];     /* run_dir/ for nginx -p */
    char host[80];             /* where the children are reached (an address literal) */
    sigset_t sigs;             /* the signals handled synchronously */
    up_policy_t policy;        /* restart and liveness rules, from cfg */
    int lock_fd[HC_NSERVICES]; /* <data>/<service>.lock, held for the children; -1 */
    int health_fd;             /* loopback listener for the gateway's /actuator/health; -1 */
    char health_addr[112];     /* its host:port, rendered into nginx.conf */
    pthread_mutex_t mu;        /* guards child[] and stopping */
    pthread_cond_t cond;       /* signalled when a spawn asked for is done, and on stopping */
    pthread_t main_thread;     /* the one that forks and reaps */
    int stopping;              /* the stop has begun: no restart starts any more */
    int n;                     /* children in child[]: the services' instances, then nginx */
    int nginx_i;               /* index of nginx in child[]: n - 1 */
    sv_child_t child[SV_MAXCHILD];
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

/* Opens the loopback listener the gateway's /actuator/health is forwarded
 * to, on a port the kernel picks, and notes its address for the nginx
 * config. Returns 0, or HC_EIO with a message in err. */
static int sv_health_listen(sv_t *sv, char *err, size_t errlen)
{
    struct addrinfo *ai = NULL;
    if (sv_resolve(sv->host, 0, 0, &ai) != 0) {
        hc_fmt(err, errlen, "cannot resolve %s for the health listener", sv->host);
        return HC_EIO;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        hc_fmt(err, errlen, "cannot open the health listener on %s: %s", sv->host, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return HC_EIO;
    }
    freeaddrinfo(ai);
    int port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    char host[96];
    up_gateway_addr_literal(sv->host, host, sizeof host);
    hc_fmt(sv->health_addr, sizeof sv->health_addr, "%s:%d", host, port);
    sv->health_fd = fd;
    return 0;
}

/* Starts a process for child c (up_proc_spawn: its own process group, death
 * with the supervisor, no blocked signals): a service by re-executing
 * self_exe, nginx on the rendered config. The caller records *pid where it
 * belongs (c->pid, or c->next_pid in a rolling restart). Returns 0, or an
 * hc_err with errno set (see sv_spawn_error). */
static int sv_spawn_process(sv_t *sv, sv_child_t *c, pid_t *pid)
{
    char *argv[12];
    size_t k = 0;
    if (c == &sv->child[sv->nginx_i]) {
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
        argv[k++] = (char *)c->svc;
    }
    argv[k] = NULL;
    /* An instance past the first reads its own port from its environment. */
    int rc = up_proc_spawn_env(argv, c->env_port[0] ? c->env_port : NULL, pid);
    if (rc == 0)
        hc_info("started %s (pid %d, port %d)", c->name, (int)*pid, c->port);
    return rc;
}

/* Starts child c as its serving process (c->pid). Returns as
 * sv_spawn_process. */
static int sv_spawn(sv_t *sv, sv_child_t *c)
{
    pid_t pid;
    int rc = sv_spawn_process(sv, c, &pid);
    if (rc != 0)
        return rc;
    c->pid = pid;
    c->ready = 0;
    c->live_seen = 0;
    c->why[0] = '\0';
    c->started_ms = hc_mono_ms();
    c->restart_at_ms = 0;
    return 0;
}

/* Writes why sv_spawn failed with rc for child c into err (size errlen), as
 * "cannot <verb> <name>: ...". nginx searched in PATH and not found there
 * gets the message that says how to install it or where to point HC_NGINX. */
static void sv_spawn_error(const sv_t *sv, const sv_child_t *c, int rc, const char *verb, char *err,
                           size_t errlen)
{
    int e = errno;
    int nginx = c == &sv->child[sv->nginx_i];
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

/* Kills child process pid and whatever is left in its process group (nginx
 * workers outlive a killed master and keep the port). */
static void sv_kill_group(pid_t pid)
{
    if (pid > 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
    }
}

/* Decides what follows the unexpected end of c's serving process (pid,
 * described by how): a restart after the policy's back-off, or nothing when
 * c is in a crash loop, which is reported on the log and the terminal.
 * Called with sv->mu held. */
static void sv_schedule_restart(sv_t *sv, sv_child_t *c, pid_t pid, const char *how)
{
    int64_t now = hc_mono_ms();
    int delay = up_policy_on_exit(&sv->policy, &c->hist, c->started_ms, now);
    if (delay < 0) {
        c->crash_loop = 1;
        c->restart_at_ms = 0;
        hc_fmt(c->why, sizeof c->why,
               "crash loop: restarted %d times within %d ms (HC_CRASH_LOOP_RESTARTS, "
               "HC_CRASH_LOOP_WINDOW_MS) and exited again (%s); not restarted until "
               "`healthcenter restart %s`",
               c->hist.n, sv->policy.loop_window_ms, how, c->ctl_name);
        hc_error("%s (pid %d): %s", c->name, (int)pid, c->why);
        fprintf(stderr, "healthcenter up: %s: %s\n", c->name, c->why);
        fflush(stderr);
        return;
    }
    c->restart_at_ms = now + delay;
    hc_fmt(c->why, sizeof c->why, "exited (%s); restarting in %d ms", how, delay);
    hc_error("%s (pid %d) exited unexpectedly after %lld ms: %s; restarting in %d ms", c->name,
             (int)pid, (long long)(now - c->started_ms), how, delay);
}

/* Reaps every exited child without blocking. During supervision (restart=1)
 * a serving process that ended unexpectedly has its leftover process group
 * killed and is scheduled for a restart (sv_schedule_restart); the processes
 * of a rolling restart are only noted (the restart's thread follows them).
 * Returns the number of supervised processes that exited. Called with
 * sv->mu held. */
static int sv_reap(sv_t *sv, int restart)
{
    int exited = 0;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break;
        char how[96];
        up_proc_describe_status(st, how, sizeof how);
        for (int i = 0; i < sv->n; i++) {
            sv_child_t *c = &sv->child[i];
            if (pid == c->next_pid) {
                c->next_pid = 0;
                exited++;
                hc_error("%s: the new instance (pid %d) exited before it served: %s", c->name,
                         (int)pid, how);
                kill(-pid, SIGKILL);
                break;
            }
            if (pid == c->old_pid) {
                c->old_pid = 0;
                exited++;
                hc_info("%s: the old instance (pid %d) stopped: %s", c->name, (int)pid, how);
                kill(-pid, SIGKILL);
                break;
            }
            if (pid != c->pid)
                continue;
            c->pid = 0;
            c->ready = 0;
            exited++;
            if (!restart) {
                hc_info("%s (pid %d) stopped: %s", c->name, (int)pid, how);
                break;
            }
            kill(-pid, SIGKILL);
            c->restarts++;
            if (c->restarting && c->next_pid) {
                /* The restart's new instance takes over when ready. */
                hc_error("%s (pid %d) exited during its rolling restart: %s", c->name, (int)pid,
                         how);
                break;
            }
            sv_schedule_restart(sv, c, pid, how);
            break;
        }
    }
    return exited;
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

/* Sends sig to every process of child c (serving, starting, draining). */
static void sv_signal_child(sv_child_t *c, int sig)
{
    pid_t pids[3] = {c->pid, c->next_pid, c->old_pid};
    for (int k = 0; k < 3; k++)
        if (pids[k] > 0)
            kill(pids[k], sig);
}

/* Waits until the processes of children [from, to) have exited or the
 * deadline passes; a second SIGINT/SIGTERM ends the wait at once. Returns 1
 * when a second stop signal came, else 0. Called with sv->mu held (it is
 * released while waiting). */
static int sv_wait_exit(sv_t *sv, int from, int to, int64_t deadline)
{
    for (;;) {
        sv_reap(sv, 0);
        int alive = 0;
        for (int i = from; i < to; i++) {
            const sv_child_t *c = &sv->child[i];
            alive += (c->pid > 0) + (c->next_pid > 0) + (c->old_pid > 0);
        }
        int64_t left = hc_deadline_left(deadline);
        if (alive == 0 || left <= 0)
            return 0;
        pthread_mutex_unlock(&sv->mu);
        int sig = sv_wait_signal(sv, left < 50 ? left : 50);
        pthread_mutex_lock(&sv->mu);
        if (sig == SIGINT || sig == SIGTERM) {
            hc_warn("second stop signal: killing the remaining processes now");
            return 1;
        }
    }
}

/* Stops every child in the order that loses no request: first nginx with
 * SIGQUIT (it stops accepting, finishes the requests in flight, closes its
 * connections to the services), up to SV_STOP_GRACE_MS; then SIGTERM to
 * every service process (each drains: HC_SHUTDOWN_GRACE_MS), up to that
 * grace plus SV_STOP_GRACE_MS; then SIGKILL to each leftover process group.
 * A second SIGINT/SIGTERM skips the waits. Returns when no child is left. */
static void sv_stop_all(sv_t *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->stopping = 1;
    pthread_cond_broadcast(&sv->cond);
    for (int i = 0; i < sv->n; i++)
        sv->child[i].restart_at_ms = 0;
    sv_child_t *nginx = &sv->child[sv->nginx_i];
    int hurry = 0;
    if (nginx->pid > 0) {
        sv_signal_child(nginx, SIGQUIT);
        hurry = sv_wait_exit(sv, sv->nginx_i, sv->n, hc_deadline_ms(SV_STOP_GRACE_MS));
        if (!hurry && nginx->pid > 0)
            hc_warn("nginx (pid %d) did not stop within %d ms; stopping the services anyway",
                    (int)nginx->pid, SV_STOP_GRACE_MS);
    }
    for (int i = 0; i < sv->nginx_i; i++)
        sv_signal_child(&sv->child[i], SIGTERM);
    if (!hurry)
        sv_wait_exit(sv, 0, sv->n,
                     hc_deadline_ms((int64_t)sv->cfg->shutdown_grace_ms + SV_STOP_GRACE_MS));
    for (int i = 0; i < sv->n; i++) {
        sv_child_t *c = &sv->child[i];
        pid_t *pids[3] = {&c->pid, &c->next_pid, &c->old_pid};
        for (int k = 0; k < 3; k++) {
            if (*pids[k] <= 0)
                continue;
            hc_warn("%s (pid %d) did not stop in time; sending SIGKILL", c->name, (int)*pids[k]);
            sv_kill_group(*pids[k]); /* the group: nginx's workers too */
            int st;
            while (waitpid(*pids[k], &st, 0) < 0 && errno == EINTR)
                ;
            *pids[k] = 0;
        }
    }
    /* nginx workers exit after their master; collect any stragglers that were
     * reparented to us (none normally: we are not a subreaper). */
    sv_reap(sv, 0);
    pthread_mutex_unlock(&sv->mu);
}

/* Fills the child table from sv->cfg and sv->host. */
static void sv_init_children(sv_t *sv)
{
    const hc_config_t *cfg = sv->cfg;
    char host[96];
    up_gateway_addr_literal(sv->host, host, sizeof host);
    /* In HC_NSERVICES order; nginx last. */
    const struct {
        const char *name, *var;
        int port;
    } t[HC_NSERVICES + 1] = {
        {"order", "HC_ORDER_PORT", cfg->order_port},
        {"reservation", "HC_RESERVATION_PORT", cfg->reservation_port},
        {"payment", "HC_PAYMENT_PORT", cfg->payment_port},
        {"notification", "HC_NOTIFICATION_PORT", cfg->notification_port},
        {"nginx", "HC_GATEWAY_PORT", cfg->gateway_port},
    };
    sv->policy = (up_policy_t){
        .backoff_min_ms = cfg->restart_backoff_ms,
        .backoff_max_ms = cfg->restart_backoff_max_ms,
        .stable_ms = SV_STABLE_MS,
        .loop_restarts = cfg->crash_loop_restarts,
        .loop_window_ms = cfg->crash_loop_window_ms,
        .probe_failures = cfg->liveness_failures,
    };
    sv->n = 0;
    for (int s = 0; s <= HC_NSERVICES; s++) {
        int nginx = s == HC_NSERVICES;
        int count = nginx || cfg->scale[s] < 1 ? 1 : cfg->scale[s];
        for (int k = 0; k < count; k++) {
            sv_child_t *c = &sv->child[sv->n++];
            c->svc = nginx ? NULL : t[s].name;
            c->svc_i = nginx ? -1 : s;
            c->instance = k;
            c->name = t[s].name;
            c->port = up_gateway_instance_port(cfg, t[s].port, k);
            c->port_var = k ? "HC_SCALE_PORT_STEP" : t[s].var;
            if (k) {
                /* "order-2": the second instance, on its own port. */
                hc_fmt(c->name_buf, sizeof c->name_buf, "%s-%d", t[s].name, k + 1);
                c->name = c->name_buf;
                hc_fmt(c->env_port, sizeof c->env_port, "%s=%d", t[s].var, c->port);
            }
            c->ctl_name = nginx ? "gateway" : c->name;
            up_history_init(&c->hist, &sv->policy);
            /* A service is ready when /health/ready answers 200; nginx when it
             * answers HTTP at all (it has no upstream-independent state). */
            snprintf(c->probe_url, sizeof c->probe_url, "http://%s:%d%s", host, c->port,
                     nginx ? "/gateway/health" : "/health/ready");
            snprintf(c->live_url, sizeof c->live_url, "http://%s:%d%s", host, c->port,
                     nginx ? "/gateway/health" : "/health/live");
            snprintf(c->health_url, sizeof c->health_url, "http://%s:%d/actuator/health", host,
                     c->port);
        }
    }
    sv->nginx_i = sv->n - 1;
}

/* Checks the ports: all different and free on the bind address. Returns 0, or
 * HC_EUNAVAIL with a message in err. */
static int sv_check_ports(const sv_t *sv, char *err, size_t errlen)
{
    for (int i = 0; i < sv->n; i++) {
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
    int rc = up_gateway_write_config(cfg, sv->run_dir, sv->health_addr, sv->conf, source,
                                     sizeof source, err, errlen);
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
    int ok = id == pc->sv->nginx_i ? status > 0 : status == 200;
    if (ok && c->pid > 0 && !c->ready) {
        c->ready = 1;
        hc_info("%s is ready (%lld ms)", c->name, (long long)(hc_mono_ms() - pc->t0));
    }
}

/* Starts every child and waits until all are ready: each round probes every
 * child not yet ready in parallel (SV_PROBE_TIMEOUT_MS each), then waits
 * SV_POLL_MS for a signal: a service's SIGUSR1, sent once it is ready, starts
 * the next round at once. Returns 0 when ready, 1 when start-up failed
 * (message in err), or 2 when a stop signal came first. */
static int sv_start(sv_t *sv, int64_t t0, char *err, size_t errlen)
{
    /* nginx first: when it cannot be run (not found in PATH), no service has
     * been started yet. */
    for (int k = 0; k < sv->n; k++) {
        sv_child_t *c = &sv->child[k == 0 ? sv->nginx_i : k - 1];
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
        for (int i = 0; i < sv->n; i++) {
            sv_child_t *c = &sv->child[i];
            /* A probe libcurl refuses to add counts as one not answered. */
            if (c->pid > 0 && !c->ready)
                up_probe_add(probe, i, c->probe_url);
        }
        up_probe_run(probe, sv_on_probe, &pc);
        int pending = 0;
        for (int i = 0; i < sv->n; i++)
            pending += !sv->child[i].ready;
        if (pending == 0) {
            rc = 0;
            goto out;
        }
        if (hc_mono_ms() >= deadline) {
            int k =
                hc_fmt(err, errlen,
                       "not ready within %d ms (HC_READY_TIMEOUT_MS):", sv->cfg->ready_timeout_ms);
            for (int i = 0; i < sv->n && k > 0 && (size_t)k < errlen; i++)
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
            for (int i = 0; i < sv->n; i++) {
                sv_child_t *c = &sv->child[i];
                if (c->pid <= 0 || waitpid(c->pid, &st, WNOHANG) != c->pid)
                    continue;
                char how[96];
                up_proc_describe_status(st, how, sizeof how);
                hc_fmt(err, errlen, "%s exited during start-up (%s); see its messages above%s%s%s",
                       c->name, how, i == sv->nginx_i ? " and in " : "",
                       i == sv->nginx_i ? sv->run_dir : "", i == sv->nginx_i ? "/error.log" : "");
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
    printf("  gateway       http://%s:%d/\n", host, sv->child[sv->nginx_i].port);
    for (int i = 0; i < sv->nginx_i; i++)
        printf("  %-13s http://%s:%d/\n", sv->child[i].name, host, sv->child[i].port);
    printf("  run dir       %s (nginx.conf, access.log, error.log)\n", sv->run_dir);
    /* The web app, when the gateway serves one (found as up_gateway_write_config
     * found it: next to this executable, or HC_WEB_DIR). */
    char exe_dir[PATH_MAX], web[PATH_MAX], why[PATH_MAX + 128];
    hc_fmt(exe_dir, sizeof exe_dir, "%s", sv->self_exe);
    char *slash = strrchr(exe_dir, '/');
    if (slash)
        *slash = '\0';
    if (up_web_find(sv->cfg->web_dir, slash ? exe_dir : NULL, web, sizeof web, why, sizeof why) ==
        0)
        printf("  web app       http://%s:%d/ (customers), http://%s:%d/admin (center admins)\n",
               host, sv->child[sv->nginx_i].port, host, sv->child[sv->nginx_i].port);
    /* Until the operator deletes it, the generated first password is the
     * way in (docs/accounts.md). */
    char pw_file[600];
    hc_fmt(pw_file, sizeof pw_file, "%s/%s", sv->cfg->data_dir, HC_ADMIN_PASSWORD_FILE);
    if (access(pw_file, F_OK) == 0)
        printf("  first admin   user %s, password in %s\n"
               "                (POST /auth/login; change it with `healthcenter admin passwd "
               "%s`, then delete the file)\n",
               sv->cfg->admin_user, pw_file, sv->cfg->admin_user);
    printf("Press Ctrl-C to stop.\n");
    fflush(stdout);
}

/* Spawns what the control threads asked for (sv_request_spawn) and wakes
 * them. Called on the main thread with sv->mu held. */
static void sv_spawn_requested(sv_t *sv)
{
    for (int i = 0; i < sv->n; i++) {
        sv_child_t *c = &sv->child[i];
        if (c->spawn_want == SV_SPAWN_NONE)
            continue;
        pid_t pid;
        errno = 0;
        if (c->spawn_want == SV_SPAWN_SERVING) {
            c->spawn_rc = sv_spawn(sv, c);
        } else {
            c->spawn_rc = sv_spawn_process(sv, c, &pid);
            if (c->spawn_rc == 0)
                c->next_pid = pid;
        }
        c->spawn_errno = errno;
        c->spawn_want = SV_SPAWN_NONE;
    }
    pthread_cond_broadcast(&sv->cond);
}

/* Asks the main thread to spawn kind for child c and waits for it (see
 * sv_spawn_kind_t). Returns what the spawn returned, with errno set as it
 * left it, or HC_ECLOSED when `up` began stopping first. Called on a
 * control thread with sv->mu held. */
static int sv_request_spawn(sv_t *sv, sv_child_t *c, sv_spawn_kind_t kind)
{
    c->spawn_want = kind;
    pthread_kill(sv->main_thread, SIGUSR1);
    while (c->spawn_want != SV_SPAWN_NONE && !sv->stopping)
        pthread_cond_wait(&sv->cond, &sv->mu);
    if (c->spawn_want != SV_SPAWN_NONE) {
        c->spawn_want = SV_SPAWN_NONE;
        return HC_ECLOSED;
    }
    errno = c->spawn_errno;
    return c->spawn_rc;
}

/* Starts the children whose restart is due. Called with sv->mu held. */
static void sv_restart_due(sv_t *sv)
{
    int64_t now = hc_mono_ms();
    for (int i = 0; i < sv->n; i++) {
        sv_child_t *c = &sv->child[i];
        if (c->pid != 0 || c->restart_at_ms == 0 || c->restart_at_ms > now || c->restarting)
            continue;
        hc_warn("restarting %s (restart %d)", c->name, c->restarts);
        int rc = sv_spawn(sv, c);
        if (rc != 0) {
            char why[512];
            sv_spawn_error(sv, c, rc, "restart", why, sizeof why);
            int delay = up_policy_on_exit(&sv->policy, &c->hist, now, now);
            if (delay < 0) {
                c->crash_loop = 1;
                c->restart_at_ms = 0;
                hc_fmt(c->why, sizeof c->why, "%s; given up (crash loop)", why);
                hc_error("%s", c->why);
                fprintf(stderr, "healthcenter up: %s\n", c->why);
                continue;
            }
            hc_fmt(c->why, sizeof c->why, "%s; next try in %d ms", why, delay);
            hc_error("%s", c->why);
            c->restart_at_ms = now + delay;
        }
    }
}

/* What a liveness round needs to remember of one probe. */
typedef struct sv_live {
    sv_t *sv;
    pid_t pid[SV_MAXCHILD]; /* the process probed, 0 = not probed */
    int ok[SV_MAXCHILD];
} sv_live_t;

static void sv_on_live(void *ud, int id, const up_probe_result_t *r)
{
    sv_live_t *l = ud;
    /* nginx: any HTTP answer; a service: 200 (it answers 200 while it runs,
     * draining included). */
    l->ok[id] = id == l->sv->nginx_i ? r->status > 0 : r->status == 200;
}

/* Probes every serving child's liveness once, in parallel (each at most
 * HC_LIVENESS_TIMEOUT_MS), and kills one that failed HC_LIVENESS_FAILURE_
 * THRESHOLD probes in a row: it hangs (stopped, deadlocked, swamped); the
 * reaper then restarts it. A child that has answered neither probe once
 * since it started counts no failure until HC_READY_TIMEOUT_MS has passed (it may
 * still be starting), nor does one in a rolling restart (its port has two
 * processes). Called without sv->mu. */
static void sv_liveness_round(sv_t *sv, up_probe_t *probe)
{
    sv_live_t l;
    memset(&l, 0, sizeof l);
    l.sv = sv;
    pthread_mutex_lock(&sv->mu);
    for (int i = 0; i < sv->n; i++) {
        sv_child_t *c = &sv->child[i];
        if (c->pid > 0 && !c->restarting && up_probe_add(probe, i, c->live_url) == 0)
            l.pid[i] = c->pid;
    }
    pthread_mutex_unlock(&sv->mu);
    up_probe_run_results(probe, sv_on_live, &l);
    pthread_mutex_lock(&sv->mu);
    int64_t now = hc_mono_ms();
    for (int i = 0; i < sv->n; i++) {
        sv_child_t *c = &sv->child[i];
        if (!l.pid[i] || c->pid != l.pid[i] || c->restarting)
            continue;
        if (l.ok[i])
            c->live_seen = 1;
        else if (!c->live_seen && !c->ready && now - c->started_ms < sv->cfg->ready_timeout_ms)
            continue;
        if (!up_policy_on_probe(&sv->policy, &c->hist, l.ok[i])) {
            if (!l.ok[i])
                hc_warn("%s (pid %d) did not answer its liveness probe (%d of %d)", c->name,
                        (int)c->pid, c->hist.probe_failures, sv->policy.probe_failures);
            continue;
        }
        hc_error("%s (pid %d) failed %d liveness probes in a row (%s within %d ms; "
                 "HC_LIVENESS_FAILURE_THRESHOLD): killing it to restart it",
                 c->name, (int)c->pid, sv->policy.probe_failures, c->live_url,
                 sv->cfg->liveness_timeout_ms);
        sv_kill_group(c->pid); /* SIGKILL also ends a stopped process */
    }
    pthread_mutex_unlock(&sv->mu);
}

/* Supervises until a stop signal: restarts children that exit, with
 * back-off, and probes their liveness every HC_LIVENESS_PERIOD_MS. */
static void sv_supervise(sv_t *sv)
{
    const hc_config_t *cfg = sv->cfg;
    up_probe_t *probe = up_probe_create(cfg->liveness_timeout_ms);
    int64_t next_live = cfg->liveness_period_ms > 0 ? hc_deadline_ms(cfg->liveness_period_ms) : 0;
    for (;;) {
        int64_t now = hc_mono_ms();
        int64_t wait = 60000;
        pthread_mutex_lock(&sv->mu);
        for (int i = 0; i < sv->n; i++) {
            sv_child_t *c = &sv->child[i];
            if (c->pid == 0 && c->restart_at_ms > 0 && c->restart_at_ms - now < wait)
                wait = c->restart_at_ms - now;
        }
        pthread_mutex_unlock(&sv->mu);
        if (next_live && next_live - now < wait)
            wait = next_live - now;
        int sig = sv_wait_signal(sv, wait);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
            hc_info("received %s: stopping", sig == SIGINT    ? "SIGINT"
                                             : sig == SIGTERM ? "SIGTERM"
                                                              : "SIGHUP");
            break;
        }
        /* Reap on every wake: SIGCHLDs of several children merge into one. */
        pthread_mutex_lock(&sv->mu);
        sv_reap(sv, 1);
        sv_spawn_requested(sv);
        sv_restart_due(sv);
        pthread_mutex_unlock(&sv->mu);
        if (next_live && hc_mono_ms() >= next_live) {
            sv_liveness_round(sv, probe);
            next_live = hc_deadline_ms(cfg->liveness_period_ms);
        }
    }
    up_probe_destroy(probe);
}

/* The children's state in one word, for /actuator/health. Called with
 * sv->mu held. */
static const char *sv_state(const sv_child_t *c)
{
    if (c->restarting)
        return "restarting";
    if (c->pid > 0)
        return c->ready || c->live_seen ? "running" : "starting";
    if (c->crash_loop)
        return "crash-loop";
    return c->restart_at_ms > 0 ? "restarting" : "stopped";
}

/* Collects what a health probe answered (id: the child's index). */
typedef struct sv_health {
    up_health_child_t c[SV_MAXCHILD];
    char *body[SV_MAXCHILD];
} sv_health_t;

static void sv_on_health(void *ud, int id, const up_probe_result_t *r)
{
    sv_health_t *h = ud;
    h->c[id].status = r->status;
    h->c[id].ms = r->ms;
    h->body[id] = r->body ? hc_xstrdup(r->body) : NULL;
    h->c[id].body = h->body[id];
}

/* The control socket's GET /actuator/health: each running service's own
 * /actuator/health (in parallel, HC_LIVENESS_TIMEOUT_MS each) with what the
 * supervisor knows of every child. Runs on a control thread. */
static json_t *sv_ctl_health(void *ud, int *status)
{
    sv_t *sv = ud;
    sv_health_t h;
    memset(&h, 0, sizeof h);
    char why[SV_MAXCHILD][300];
    up_probe_t *probe = up_probe_create(sv->cfg->liveness_timeout_ms);
    pthread_mutex_lock(&sv->mu);
    for (int i = 0; i < sv->n; i++) {
        const sv_child_t *c = &sv->child[i];
        hc_strlcpy(why[i], c->why, sizeof why[i]);
        h.c[i] = (up_health_child_t){.name = c->ctl_name,
                                     .pid = c->pid,
                                     .port = c->port,
                                     .restarts = c->restarts,
                                     .state = sv_state(c),
                                     .why = why[i],
                                     .status = -1};
        if (c->pid > 0 && i != sv->nginx_i && up_probe_add_body(probe, i, c->health_url) == 0)
            h.c[i].asked = 1;
    }
    pthread_mutex_unlock(&sv->mu);
    up_probe_run_results(probe, sv_on_health, &h);
    up_probe_destroy(probe);
    json_t *body = up_health_aggregate(h.c, sv->n, sv->cfg->liveness_timeout_ms, status);
    for (int i = 0; i < sv->n; i++)
        free(h.body[i]);
    return body;
}

/* {"error","message","fields":[]} for the control socket's answers. */
static json_t *sv_ctl_error(const char *code, const char *msg)
{
    return json_pack("{s:s, s:s, s:[]}", "error", code, "message", msg, "fields");
}

/* What one readiness probe of a restart got. */
typedef struct sv_ready {
    int status;
    pid_t pid;
} sv_ready_t;

static void sv_on_ready(void *ud, int id, const up_probe_result_t *r)
{
    (void)id;
    sv_ready_t *rd = ud;
    rd->status = r->status;
    rd->pid = r->pid;
}

/* Waits until process pid of child i answers its readiness probe with 200
 * itself (X-HC-Pid: on a shared port the other instance may answer), or
 * until deadline, the process's end (*watch no longer pid) or the stop.
 * nginx counts as ready once its process answers anything. Returns 0 when
 * ready; HC_ETIMEDOUT; HC_ECLOSED when it exited or `up` is stopping. Runs
 * on a control thread, without sv->mu. */
static int sv_wait_instance_ready(sv_t *sv, int i, pid_t pid, pid_t *watch, int64_t deadline)
{
    sv_child_t *c = &sv->child[i];
    up_probe_t *probe = up_probe_create(SV_PROBE_TIMEOUT_MS);
    int rc = HC_ETIMEDOUT;
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        int gone = *watch != pid || sv->stopping;
        pthread_mutex_unlock(&sv->mu);
        if (gone) {
            rc = HC_ECLOSED;
            break;
        }
        sv_ready_t rd = {.status = -1};
        if (up_probe_add(probe, i, c->probe_url) == 0)
            up_probe_run_results(probe, sv_on_ready, &rd);
        if (i == sv->nginx_i ? rd.status > 0 : rd.status == 200 && rd.pid == pid) {
            rc = 0;
            break;
        }
        if (hc_deadline_left(deadline) == 0)
            break;
        hc_sleep_ms(SV_POLL_MS);
    }
    up_probe_destroy(probe);
    return rc;
}

/* A restart of a child that is not running (given up on in a crash loop,
 * or waiting for its back-off): a fresh start with a clean history, then
 * its readiness. Called with sv->mu held and c->restarting set; returns
 * with sv->mu held. */
static json_t *sv_ctl_start(sv_t *sv, int i, int *status)
{
    sv_child_t *c = &sv->child[i];
    c->crash_loop = 0;
    up_history_init(&c->hist, &sv->policy);
    int rc = sv_request_spawn(sv, c, SV_SPAWN_SERVING);
    if (rc == HC_ECLOSED) {
        *status = 503;
        return sv_ctl_error("unavailable", "`healthcenter up` is stopping");
    }
    if (rc != 0) {
        char why[512];
        sv_spawn_error(sv, c, rc, "start", why, sizeof why);
        c->restart_at_ms = hc_mono_ms() + sv->policy.backoff_min_ms;
        *status = 503;
        return sv_ctl_error("unavailable", why);
    }
    pid_t pid = c->pid;
    int64_t t0 = hc_mono_ms();
    pthread_mutex_unlock(&sv->mu);
    rc = sv_wait_instance_ready(sv, i, pid, &c->pid, hc_deadline_ms(sv->cfg->ready_timeout_ms));
    pthread_mutex_lock(&sv->mu);
    char msg[300];
    if (rc != 0) {
        hc_fmt(msg, sizeof msg, "%s (pid %d) was started but %s within %d ms", c->name, (int)pid,
               rc == HC_ECLOSED ? "exited before it was ready" : "was not ready",
               sv->cfg->ready_timeout_ms);
        *status = 503;
        return sv_ctl_error("unavailable", msg);
    }
    c->ready = 1;
    hc_info("%s started again on request (pid %d), ready in %lld ms", c->name, (int)pid,
            (long long)(hc_mono_ms() - t0));
    *status = 200;
    return json_pack("{s:s, s:s, s:n, s:i, s:I}", "service", c->ctl_name, "status", "RESTARTED",
                     "oldPid", "newPid", (int)pid, "readyMs", (json_int_t)(hc_mono_ms() - t0));
}

/* Tells nginx to reload (SIGHUP): its new workers open fresh connections
 * to the services (which land on a restart's new instance), its old ones
 * finish their requests and close theirs, so no request is sent on a
 * kept-alive connection the old instance is about to close. Called with
 * sv->mu held. */
static void sv_reload_nginx(sv_t *sv)
{
    pid_t nginx = sv->child[sv->nginx_i].pid;
    if (nginx > 0 && kill(nginx, SIGHUP) == 0)
        hc_info("nginx (pid %d) reloading: its connections to the old instance close", (int)nginx);
}

/* A rolling restart of service i (the control socket's POST
 * /services/{name}/restart): start a new instance on the shared port, wait
 * until it is ready (it then takes the port's new connections), reload
 * nginx, drain and stop the old one (SIGTERM: it serves what it has, with
 * Connection: close). The gateway's is a reload. Runs on a control thread;
 * answers when it is over. */
static json_t *sv_ctl_restart_one(sv_t *sv, int i, int *status)
{
    sv_child_t *c = &sv->child[i];
    char msg[400];
    json_t *out = NULL;
    pthread_mutex_lock(&sv->mu);
    if (sv->stopping) {
        *status = 503;
        out = sv_ctl_error("unavailable", "`healthcenter up` is stopping");
        goto unlock;
    }
    if (c->restarting) {
        *status = 409;
        hc_fmt(msg, sizeof msg, "a restart of %s is already in progress", c->ctl_name);
        out = sv_ctl_error("conflict", msg);
        goto unlock;
    }
    c->restarting = 1;
    c->restarts++;
    if (c->pid == 0) {
        out = sv_ctl_start(sv, i, status);
        goto done;
    }
    if (i == sv->nginx_i) {
        sv_reload_nginx(sv);
        *status = 200;
        out = json_pack("{s:s, s:s, s:i, s:i}", "service", c->ctl_name, "status", "RELOADED",
                        "oldPid", (int)c->pid, "newPid", (int)c->pid);
        goto done;
    }
    pid_t old = c->pid;
    int rc = sv_request_spawn(sv, c, SV_SPAWN_NEXT);
    if (rc == HC_ECLOSED) {
        *status = 503;
        out = sv_ctl_error("unavailable", "`healthcenter up` is stopping");
        goto done;
    }
    if (rc != 0) {
        sv_spawn_error(sv, c, rc, "restart", msg, sizeof msg);
        *status = 503;
        out = sv_ctl_error("unavailable", msg);
        goto done;
    }
    pid_t pid = c->next_pid;
    int64_t t0 = hc_mono_ms();
    pthread_mutex_unlock(&sv->mu);
    rc =
        sv_wait_instance_ready(sv, i, pid, &c->next_pid, hc_deadline_ms(sv->cfg->ready_timeout_ms));
    pthread_mutex_lock(&sv->mu);
    int64_t ready_ms = hc_mono_ms() - t0;
    if (rc != 0) {
        /* The old instance keeps serving (the new one never took traffic). */
        if (c->next_pid == pid) {
            c->old_pid = pid; /* reaped as a draining instance */
            c->next_pid = 0;
            kill(pid, SIGTERM);
        }
        if (c->pid == 0 && !sv->stopping)
            sv_schedule_restart(sv, c, old, "exited during its rolling restart");
        hc_fmt(msg, sizeof msg,
               "the new instance of %s (pid %d) %s within %d ms (HC_READY_TIMEOUT_MS); %s", c->name,
               (int)pid, rc == HC_ECLOSED ? "exited or `up` stopped" : "was not ready",
               sv->cfg->ready_timeout_ms,
               c->pid ? "the old one still serves" : "the old one has exited too");
        hc_error("restart of %s failed: %s", c->name, msg);
        *status = 503;
        out = sv_ctl_error("unavailable", msg);
        goto done;
    }
    /* The new instance serves the port's new connections now. */
    c->next_pid = 0;
    old = c->pid; /* 0 when it exited meanwhile */
    c->pid = pid;
    c->ready = 1;
    c->live_seen = 1;
    c->started_ms = hc_mono_ms();
    c->why[0] = '\0';
    c->hist.probe_failures = 0;
    sv_reload_nginx(sv);
    int64_t t1 = hc_mono_ms();
    if (old > 0) {
        c->old_pid = old;
        kill(old, SIGTERM);
        hc_info("%s: new instance pid %d ready in %lld ms; draining the old one (pid %d)", c->name,
                (int)pid, (long long)ready_ms, (int)old);
        int64_t deadline = hc_deadline_ms((int64_t)sv->cfg->shutdown_grace_ms + SV_STOP_GRACE_MS);
        while (c->old_pid == old && !sv->stopping && hc_deadline_left(deadline) > 0) {
            pthread_mutex_unlock(&sv->mu);
            hc_sleep_ms(SV_POLL_MS);
            pthread_mutex_lock(&sv->mu);
        }
        if (c->old_pid == old && !sv->stopping) {
            hc_warn("%s: the old instance (pid %d) did not stop in time; sending SIGKILL", c->name,
                    (int)old);
            sv_kill_group(old);
        }
    }
    int64_t drained_ms = hc_mono_ms() - t1;
    hc_info("%s restarted: pid %d -> %d (ready in %lld ms, old drained in %lld ms)", c->name,
            (int)old, (int)pid, (long long)ready_ms, (long long)drained_ms);
    *status = 200;
    out = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I}", "service", c->ctl_name, "status", "RESTARTED",
                    "oldPid", (int)old, "newPid", (int)pid, "readyMs", (json_int_t)ready_ms,
                    "drainedMs", (json_int_t)drained_ms);
done:
    c->restarting = 0;
unlock:
    pthread_mutex_unlock(&sv->mu);
    return out;
}

/* `healthcenter restart NAME`: a scaled service's name (its first
 * instance's) restarts each of its instances in turn, as sv_ctl_restart_one
 * does one, so the others serve meanwhile; it stops at the first that fails
 * and answers that failure. "order-2" names one instance. The answer of
 * several is {"service","status":"RESTARTED","instances":[one answer
 * each]}. Runs on a control thread. */
static json_t *sv_ctl_restart(void *ud, int i, int *status)
{
    sv_t *sv = ud;
    const sv_child_t *c = &sv->child[i];
    int first = i, count = 1;
    if (c->svc && c->instance == 0)
        while (first + count < sv->nginx_i && sv->child[first + count].svc_i == c->svc_i)
            count++;
    if (count == 1)
        return sv_ctl_restart_one(sv, i, status);
    json_t *each = json_array();
    for (int k = 0; k < count; k++) {
        json_t *one = sv_ctl_restart_one(sv, first + k, status);
        if (*status != 200) {
            json_decref(each);
            return one;
        }
        json_array_append_new(each, one);
    }
    *status = 200;
    return json_pack("{s:s, s:s, s:o}", "service", c->ctl_name, "status", "RESTARTED", "instances",
                     each);
}

/* Takes <data>/<service>.lock for every service, for the children (they
 * inherit the descriptors: see hc_service's claim), so that no second `up`
 * or lone service uses the data directory meanwhile. Returns 0, or HC_EBUSY /
 * HC_EIO with a message in err (the locks taken are released). */
static int sv_lock(sv_t *sv, char *err, size_t errlen)
{
    for (int i = 0; i < HC_NSERVICES; i++)
        sv->lock_fd[i] = -1;
    /* One lock per service: its instances share its storage and inherit it. */
    static const char *const names[HC_NSERVICES] = {"order", "reservation", "payment",
                                                    "notification"};
    for (int i = 0; i < HC_NSERVICES; i++) {
        char path[PATH_MAX];
        hc_fmt(path, sizeof path, "%s/%s.lock", sv->cfg->data_dir, names[i]);
        hc_lock_holder_t holder;
        int rc = hc_lock_acquire(path, "up", 1, &sv->lock_fd[i], &holder);
        if (rc == 0)
            continue;
        if (rc == HC_EBUSY) {
            char who[160];
            hc_lock_describe(&holder, who, sizeof who);
            hc_fmt(err, errlen,
                   "data directory %s is in use by %s (it holds %s); stop it first or set "
                   "HC_DATA_DIR to another directory",
                   sv->cfg->data_dir, who, path);
        } else {
            hc_fmt(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        }
        for (int k = 0; k < i; k++) {
            hc_lock_release(sv->lock_fd[k]);
            sv->lock_fd[k] = -1;
        }
        return rc;
    }
    return 0;
}

/* Reports why `up` failed: a log line and a plain line for the person at the
 * terminal. */
static void sv_report(const char *err)
{
    hc_error("up failed: %s", err);
    fprintf(stderr, "healthcenter up: %s\n", err);
    fflush(stderr);
}

/* Starts the control socket $HC_RUN_DIR/up.sock (`healthcenter restart`,
 * health) and serves health alone on the loopback listener the gateway
 * forwards /actuator/health to. Without them `up` still supervises: failing
 * to start one is a warning. ctl gets both (NULL where it failed). */
static void sv_control_start(sv_t *sv, const char **names, up_control_t *ctl[2])
{
    for (int i = 0; i < sv->n; i++)
        names[i] = sv->child[i].ctl_name;
    char path[PATH_MAX + 16], err[512];
    hc_fmt(path, sizeof path, "%s/%s", sv->run_dir, UP_CONTROL_SOCKET);
    up_control_ops_t ops = {.health = sv_ctl_health, .restart = sv_ctl_restart, .ud = sv};
    if (up_control_start(path, names, sv->n, &ops, &ctl[0], err, sizeof err) != 0)
        hc_warn("%s: `healthcenter restart` is unavailable", err);
    else
        hc_info("control socket %s (healthcenter restart SERVICE, GET /actuator/health)", path);
    ops.restart = NULL; /* health only */
    if (up_control_serve(sv->health_fd, NULL, names, sv->n, &ops, &ctl[1]) != 0) {
        hc_warn("cannot serve %s: the gateway's /actuator/health is unavailable", sv->health_addr);
    } else {
        sv->health_fd = -1; /* the server's now */
        hc_info("health for the gateway's /actuator/health on http://%s", sv->health_addr);
    }
}

int up_supervisor_run(const hc_config_t *cfg, const char *self_exe)
{
    int64_t t0 = hc_mono_ms();
    sv_t *sv = hc_xcalloc(1, sizeof *sv);
    sv->cfg = cfg;
    sv->self_exe = self_exe;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->cond, NULL);
    sv->main_thread = pthread_self();
    up_gateway_reach_addr(cfg->bind_addr, sv->host, sizeof sv->host);
    sv_init_children(sv);
    for (int i = 0; i < HC_NSERVICES; i++)
        sv->lock_fd[i] = -1;
    sv->health_fd = -1;

    /* The signals are taken synchronously with sigtimedwait: no handlers, no
     * races between a child's death and a stop request. Blocked before any
     * thread starts, so every thread (the control socket's too) has them
     * blocked and only sigtimedwait takes them. */
    sigset_t old;
    sigemptyset(&sv->sigs);
    sigaddset(&sv->sigs, SIGINT);
    sigaddset(&sv->sigs, SIGTERM);
    sigaddset(&sv->sigs, SIGHUP);
    sigaddset(&sv->sigs, SIGCHLD);
    /* A control thread has asked for a spawn, or a child is ready. */
    sigaddset(&sv->sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sv->sigs, &old);
    /* Every child inherits it: a service tells us it is ready with SIGUSR1
     * (only when its parent is this pid), and the start-up's next readiness
     * round runs at once instead of up to SV_POLL_MS later. */
    char self_pid[24];
    snprintf(self_pid, sizeof self_pid, "%d", (int)getpid());
    setenv(HC_UP_PID_ENV, self_pid, 1);
    /* A shell starts a background job with SIGINT ignored, and an ignored
     * signal is discarded even while blocked: `kill -INT` must stop `up`. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

    char err[1024] = "";
    int rc = 1;
    /* One owner per data directory: the lock comes before anything in it
     * (or in the run directory) is written or removed. */
    if (up_fs_mkdir_p(cfg->data_dir) != 0) {
        hc_fmt(err, sizeof err, "cannot create data directory %s: %s", cfg->data_dir,
               strerror(errno));
        sv_report(err);
    } else if (sv_lock(sv, err, sizeof err) != 0) {
        sv_report(err);
    } else if (sv_health_listen(sv, err, sizeof err) == 0 && sv_prepare(sv, err, sizeof err) == 0 &&
               sv_check_ports(sv, err, sizeof err) == 0) {
        int started = sv_start(sv, t0, err, sizeof err);
        const char *names[SV_MAXCHILD];
        up_control_t *ctl[2] = {NULL, NULL};
        if (started == 0) {
            sv_control_start(sv, names, ctl);
            sv_print_ready(sv, hc_mono_ms() - t0);
            /* Under systemd (Type=notify) the unit is started only now. */
            if (up_notify("READY=1\nSTATUS=all services ready") == HC_EIO)
                hc_warn("cannot tell systemd we are ready (NOTIFY_SOCKET): %s", strerror(errno));
            sv_supervise(sv);
            (void)up_notify("STOPPING=1");
            rc = 0;
        } else if (started == 2) {
            hc_info("stop requested during start-up");
            rc = 0;
        } else {
            sv_report(err);
        }
        sv_stop_all(sv);
        up_control_stop(ctl[0]); /* its restarts have ended: stopping is set */
        up_control_stop(ctl[1]);
        if (rc == 0)
            hc_info("all processes stopped");
    } else {
        sv_report(err);
    }
    for (int i = 0; i < HC_NSERVICES; i++)
        hc_lock_release(sv->lock_fd[i]);
    if (sv->health_fd >= 0)
        close(sv->health_fd);
    /* Consume what is still pending (a late Ctrl-C, the last SIGCHLD) so that
     * unblocking does not act on it. */
    while (sv_wait_signal(sv, 0) > 0)
        ;
    sigprocmask(SIG_SETMASK, &old, NULL);
    pthread_cond_destroy(&sv->cond);
    pthread_mutex_destroy(&sv->mu);
    free(sv);
    return rc;
}
