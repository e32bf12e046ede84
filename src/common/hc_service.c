/* hc_service: the life cycle shared by every service process. */
#include "hc_service.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hc_auth.h"
#include "hc_buf.h"
#include "hc_config.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_http.h"
#include "hc_lock.h"
#include "hc_log.h"
#include "hc_metrics.h"
#include "hc_proc.h"
#include "hc_time.h"
#include "hc_token.h"

static int64_t gauge_backlog(void *ud)
{
    hc_service_t *svc = ud;
    return hc_outbox_backlog(svc->db);
}

static int64_t gauge_lag(void *ud)
{
    hc_service_t *svc = ud;
    return svc->consumer ? hc_consumer_lag(svc->consumer) : 0;
}

static int64_t gauge_dead_letters(void *ud)
{
    hc_service_t *svc = ud;
    return hc_deadletter_count(svc->db);
}

/* The `bus` component of /actuator/health: kind (log or kafka) and state. */
static json_t *bus_health(void *ud)
{
    hc_service_t *svc = ud;
    return hc_bus_health_json(svc->bus);
}

/* The configured port of a service by name (def->port 0 means "from config"). */
static int service_port(const hc_service_def_t *def)
{
    if (def->port)
        return def->port;
    if (strcmp(def->name, "order") == 0)
        return hc_cfg.order_port;
    if (strcmp(def->name, "payment") == 0)
        return hc_cfg.payment_port;
    if (strcmp(def->name, "reservation") == 0)
        return hc_cfg.reservation_port;
    if (strcmp(def->name, "notification") == 0)
        return hc_cfg.notification_port;
    return 0;
}

/* Readiness: storage open, not corrupt and taking writes (the service's
 * database and the bus), and the consumer not stalled. Liveness does not look
 * at any of this: a not-ready service stays up to say why. */
static int service_ready(void *ud, char *why, size_t n)
{
    hc_service_t *svc = ud;
    if (!svc->db || !svc->bus) {
        snprintf(why, n, "starting: storage not open yet");
        return 0;
    }
    if (hc_db_health(svc->db, why, n) || hc_bus_health(svc->bus, why, n))
        return 0;
    if (hc_consumer_stalled(svc->consumer, why, n))
        return 0;
    return 1;
}

/* hc_health_cb: the "db" component of /actuator/health (Spring Boot's
 * shape): the database kind, and why it is DOWN. */
static json_t *db_health(void *ud)
{
    hc_service_t *svc = ud;
    char why[512] = "";
    int bad = svc->db ? hc_db_health(svc->db, why, sizeof why) : HC_EUNAVAIL;
    json_t *details = json_pack("{s:s}", "database", svc->db ? hc_db_kind(svc->db) : "none");
    if (bad)
        json_object_set_new(details, "error", json_string(why[0] ? why : hc_strerror(bad)));
    return json_pack("{s:s, s:o}", "status", bad ? "DOWN" : "UP", "details", details);
}

/* The write gate of the HTTP server: while the database does not take
 * writes, mutating requests are refused at once (503 storage_unavailable
 * for a full disk) instead of failing half-way through a handler. */
static int service_write_gate(void *ud)
{
    hc_service_t *svc = ud;
    if (hc_db_writable(svc->db))
        return 0;
    int err = hc_db_write_error(svc->db);
    return err ? err : HC_EIO;
}

int hc_service_commit(hc_service_t *svc, hc_conn_t *c)
{
    int rc = hc_conn_commit(c);
    if (!rc)
        hc_relay_notify(svc->relay);
    return rc;
}

/* Makes sure this process may use the service's files in the data
 * directory: it takes <data>/<name>.lock, or finds it held by its parent,
 * `healthcenter up`, which holds it for every instance it runs (two of them
 * during a rolling restart). Returns 0 with *supervised set (1: under `up`;
 * *lock_fd stays -1) or with the lock in *lock_fd; HC_EBUSY after logging
 * who holds it (shared=1: quietly, the caller may go on without it); HC_EIO
 * when the lock file cannot be used. */
static int service_claim(const hc_service_def_t *def, int *lock_fd, int *supervised, int shared)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.lock", hc_cfg.data_dir, def->name);
    hc_lock_holder_t holder;
    *supervised = 0;
    int rc = hc_lock_acquire(path, def->name, 0, lock_fd, &holder);
    if (rc == HC_EBUSY && holder.pid == getppid() && strcmp(holder.what, "up") == 0) {
        *supervised = 1;
        return 0;
    }
    if (rc == HC_EBUSY && !shared) {
        char who[160];
        hc_lock_describe(&holder, who, sizeof who);
        hc_error("data directory %s is in use: %s holds %s; stop it first or set HC_DATA_DIR to "
                 "another directory",
                 hc_cfg.data_dir, who, path);
        fprintf(stderr, "healthcenter %s: data directory %s is in use by %s\n", def->name,
                hc_cfg.data_dir, who);
    } else if (rc) {
        hc_error("cannot lock %s: %s", path, strerror(errno));
    }
    return rc;
}

/* Tells `up` at once that this instance is ready, so that its readiness
 * probe runs now rather than at its next poll: SIGUSR1 to the parent, when
 * HC_UP_PID (which `up` sets for its children) names the parent. Anyone else
 * gets no signal. */
static void tell_up_ready(void)
{
    const char *s = getenv(HC_UP_PID_ENV);
    char *end = NULL;
    long pid = s ? strtol(s, &end, 10) : 0;
    if (pid > 1 && end && *end == '\0' && (pid_t)pid == getppid())
        kill((pid_t)pid, SIGUSR1);
}

/* Under `up`, takes the port's new connections once the service is ready
 * (a restart's new instance; alone it has them anyway) and tells `up`, or
 * returns early with the stop signal. Returns that signal, or 0 once it
 * serves. */
static int take_traffic_when_ready(hc_service_t *svc, const sigset_t *stop_set)
{
    for (;;) {
        char why[512] = "";
        if (service_ready(svc, why, sizeof why)) {
            if (hc_http_take_traffic(svc->http) == 0) {
                tell_up_ready();
                hc_info("ready: the port's new connections come to this instance");
            }
            return 0;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
        int sig = sigtimedwait(stop_set, NULL, &ts);
        if (sig > 0)
            return sig;
    }
}

int hc_service_run(const hc_service_def_t *def)
{
    /* Block the stop signals before any thread starts so that only sigwait
     * below receives them. */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    hc_log_init(def->name, hc_cfg.log_level);
    hc_proc_tune_malloc(); /* before any thread */
    hc_event_source = def->name;
    setenv("TZ", hc_cfg.tz, 1);
    tzset();

    int exit_code = 1, rc, lock_fd = -1, supervised = 0, sig = 0;
    hc_service_t svc;
    memset(&svc, 0, sizeof svc);
    svc.def = def;

    if (mkdir(hc_cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        hc_error("cannot create data directory %s: %s", hc_cfg.data_dir, strerror(errno));
        return 1;
    }
    /* One owner per data directory, before anything in it is touched. A
     * service on PostgreSQL keeps no state of its own there (the event log
     * is shared by every process anyway), so more instances of it may run
     * on one data directory: the lock is only taken when free. */
    const char *db_url = hc_config_db_url(&hc_cfg, def->name);
    rc = service_claim(def, &lock_fd, &supervised, db_url != NULL);
    if (rc == HC_EBUSY && db_url)
        hc_info("another instance of %s runs on %s; its state is in PostgreSQL, so both serve",
                def->name, hc_cfg.data_dir);
    else if (rc != 0)
        return 1;
    if ((rc = hc_auth_init(hc_cfg.service_secret, hc_cfg.data_dir))) {
        hc_error("cannot load the service key: %s", hc_strerror(rc));
        return 1;
    }
    if ((rc = hc_token_init(hc_cfg.jwt_secret, hc_cfg.data_dir))) {
        hc_error("cannot load the token key (HC_JWT_SECRET: 32 to 256 characters): %s",
                 hc_strerror(rc));
        return 1;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/%s.db", hc_cfg.data_dir, def->name);
    if (db_url)
        rc = hc_db_open_pg(db_url, def->name, hc_cfg.db_pool_size, def->migrations,
                           def->n_migrations, &svc.db);
    else
        rc = hc_db_open(path, hc_cfg.db_sync, def->migrations, def->n_migrations, &svc.db);
    if (rc) {
        hc_error("cannot open database %s: %s", db_url ? "(PostgreSQL)" : path, hc_strerror(rc));
        goto out;
    }
    /* Concurrent requests' transactions share commits (SQLite, FULL). */
    hc_db_batch_commits(svc.db);
    if (db_url)
        hc_strlcpy(path, hc_db_path(svc.db), sizeof path);
    hc_info("storage: %s %s", hc_db_kind(svc.db), hc_db_path(svc.db));
    /* A corrupt database keeps the service up but not ready, with the reason
     * on /health/ready; events are not applied to it. */
    char why[512];
    int corrupt = hc_db_check(svc.db, 0, why, sizeof why) == HC_ECORRUPT;
    if (corrupt)
        hc_error("database %s fails quick_check: %s; the service reports not ready and applies "
                 "no events (run `healthcenter check`)",
                 path, why);
    if ((rc = hc_bus_open(hc_cfg.bus, hc_cfg.data_dir, hc_cfg.topic, hc_cfg.db_sync, &svc.bus))) {
        hc_error("cannot open the event bus (%s): %s", hc_cfg.bus, hc_strerror(rc));
        goto out;
    }
    if ((rc = hc_relay_start(svc.db, svc.bus, &svc.relay)))
        goto out;
    svc.http = hc_http_create(def->name, hc_cfg.bind_addr, service_port(def),
                              hc_cfg.http_max_connections, hc_cfg.max_body_bytes);
    if (!svc.http)
        goto out;
    if (supervised)
        hc_http_share_port(svc.http);
    hc_http_set_ready(svc.http, service_ready, &svc);
    hc_http_add_health(svc.http, "db", db_health, &svc);
    hc_http_set_public_url(svc.http, hc_cfg.public_url);
    hc_http_set_write_gate(svc.http, service_write_gate, &svc);
    hc_http_add_health(svc.http, "bus", bus_health, &svc);
    if (def->init && (rc = def->init(&svc))) {
        hc_error("initialisation failed: %s", hc_strerror(rc));
        goto out;
    }
    if (def->consume_types && !corrupt) {
        hc_consumer_opts_t opts = {
            .group = def->name,
            .types = def->consume_types,
            .apply = def->apply,
            .ud = &svc,
            .relay = svc.relay,
            .after_commit = def->after_commit,
        };
        if ((rc = hc_consumer_start(svc.db, svc.bus, &opts, &svc.consumer))) {
            hc_error("cannot start the event consumer: %s", hc_strerror(rc));
            goto out;
        }
    }
    if (def->start && (rc = def->start(&svc))) {
        hc_error("cannot start background work: %s", hc_strerror(rc));
        goto out;
    }
    hc_metrics_gauge("hc_outbox_backlog", "Outbox events not yet published.", gauge_backlog, &svc);
    hc_metrics_gauge("hc_consumer_lag", "Events on the bus not yet applied by this service.",
                     gauge_lag, &svc);
    if (svc.consumer)
        hc_metrics_gauge("hc_dead_letters",
                         "Events parked in dead_letters (healthcenter dead-letters list).",
                         gauge_dead_letters, &svc);
    if ((rc = hc_http_start(svc.http)))
        goto out;
    hc_info("%s service %s (version %s)", def->name,
            corrupt ? "up but not ready: its database is corrupt" : "ready", HC_VERSION);

    if (supervised)
        sig = take_traffic_when_ready(&svc, &stop_set);
    if (sig == 0)
        sigwait(&stop_set, &sig);
    hc_info("received %s, stopping: no new connections; %d request(s) in flight get up to %d ms",
            sig == SIGINT ? "SIGINT" : "SIGTERM", hc_http_inflight(svc.http),
            hc_cfg.shutdown_grace_ms);
    hc_http_drain(svc.http);
    if (hc_http_wait_idle(svc.http, hc_deadline_ms(hc_cfg.shutdown_grace_ms)) != 0)
        hc_warn("after HC_SHUTDOWN_GRACE_MS (%d ms) %d request(s) still run and %d connection(s) "
                "are open; closing them",
                hc_cfg.shutdown_grace_ms, hc_http_inflight(svc.http),
                hc_http_connections(svc.http));
    exit_code = 0;
out:
    /* Stop taking requests first, then background work (the consumer commits
     * its offset, the relay publishes what the outbox still holds), then
     * storage. */
    hc_http_destroy(svc.http);
    svc.http = NULL;
    if (def->stop)
        def->stop(&svc);
    hc_consumer_stop(svc.consumer);
    hc_relay_stop(svc.relay);
    hc_bus_destroy(svc.bus);
    hc_db_destroy(svc.db);
    hc_lock_release(lock_fd);
    if (exit_code == 0)
        hc_info("stopped");
    return exit_code;
}
