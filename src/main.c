/* healthcenter: the one executable. `up` runs the whole system under a
 * supervisor; `order|payment|reservation|notification` runs one service;
 * `check` and `dead-letters` are the operator's integrity tools. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_check.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_deadletter.h"
#include "hc_err.h"
#include "hc_log.h"
#include "services.h"
#include "up/up_control.h"
#include "up/up_supervisor.h"

#ifndef HC_VERSION
#define HC_VERSION "unknown"
#endif

/* The services by subcommand name. */
static const struct {
    const char *name;
    const hc_service_def_t *def;
    const char *what;
} services[] = {
    {"order", &order_service_def, "order service: orders and the package catalog"},
    {"payment", &payment_service_def, "payment service: approvals and refunds"},
    {"reservation", &reservation_service_def,
     "reservation service: centers, daily capacity, reservations"},
    {"notification", &notification_service_def,
     "notification service: the mypage read model and SMS"},
};
#define N_SERVICES (sizeof services / sizeof services[0])

/* Prints the variable table of hc_config plus the one variable only `up`
 * reads (HC_GATEWAY_TEMPLATE, looked up by up_gateway_load_template). */
static void print_table(FILE *out, int markdown)
{
    static const char *const name = "HC_GATEWAY_TEMPLATE";
    static const char *const meaning =
        "nginx config template for `up` (default: ../gateway/nginx.conf.tmpl from the "
        "binary's directory, else a built-in copy)";
    hc_config_print_table(out, markdown);
    if (markdown)
        fprintf(out, "| `%s` | `%s` | %s |\n", name, "(derived)", meaning);
    else
        fprintf(out, "  %-26s %s\n  %-26s default: %s\n", name, meaning, "", "(derived)");
}

/* Prints the usage text and the environment variable table to out. */
static void usage(FILE *out)
{
    fprintf(out,
            "usage: healthcenter <command>\n"
            "\n"
            "commands:\n"
            "  up                     run all four services and the nginx gateway, wait until\n"
            "                         they are ready, restart any that dies or hangs, stop all on\n"
            "                         Ctrl-C\n"
            "  restart SERVICE        restart one service of the running `up` without dropping a\n"
            "                         request (a new instance, then the old one drains);\n"
            "                         SERVICE: order, payment, reservation, notification or\n"
            "                         gateway (reloads nginx)\n");
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        fprintf(out, "  %-22s run the %s\n", services[i].name, services[i].what);
    fprintf(out,
            "  check                  verify every database, every log record's checksum and\n"
            "                         every group's offset (read-only; exit 1 on a problem)\n"
            "  dead-letters list [SERVICE]\n"
            "                         list the events parked because they could not be applied\n"
            "  dead-letters retry SERVICE (ID|--all)\n"
            "                         mark parked events for retry; the running service applies\n"
            "                         them again within a second\n"
            "  config [--markdown]    print the environment variable table (--markdown: the\n"
            "                         README's form)\n"
            "  version                print the version\n"
            "  help                   print this text\n"
            "\n"
            "environment variables (all optional):\n");
    print_table(out, 0);
}

/* Loads the configuration and sets up the process-wide libraries. Returns 0,
 * or 2 (the exit code) after printing why the configuration is invalid. */
static int load_config(const char *service)
{
    char err[512];
    if (hc_config_load(&hc_cfg, err, sizeof err) != 0) {
        fprintf(stderr, "healthcenter: invalid configuration: %s\n", err);
        return 2;
    }
    hc_log_init(service, hc_cfg.log_level);
    hc_client_global_init();
    return 0;
}

/* The names of all services, for the tools that go over each. */
static void service_names(const char *names[N_SERVICES])
{
    for (size_t i = 0; i < N_SERVICES; i++)
        names[i] = services[i].name;
}

/* Returns 1 when name is a service. */
static int is_service(const char *name)
{
    for (size_t i = 0; i < N_SERVICES; i++)
        if (strcmp(name, services[i].name) == 0)
            return 1;
    return 0;
}

/* Runs `check`: exit 0 when every item is ok, 1 otherwise. */
static int cmd_check(void)
{
    int rc = load_config("check");
    if (rc)
        return rc;
    const char *names[N_SERVICES];
    service_names(names);
    rc = hc_check_run(hc_cfg.data_dir, names, N_SERVICES, stdout) ? 1 : 0;
    hc_client_global_cleanup();
    return rc;
}

/* Runs `dead-letters list [SERVICE]` or `dead-letters retry SERVICE (ID|--all)`. */
static int cmd_dead_letters(int argc, char **argv)
{
    static const char *const usage_line =
        "usage: healthcenter dead-letters list [SERVICE] | retry SERVICE (ID|--all)\n";
    const char *names[N_SERVICES];
    service_names(names);
    int list = argc >= 3 && strcmp(argv[2], "list") == 0 && argc <= 4;
    int retry = argc == 5 && strcmp(argv[2], "retry") == 0;
    const char *svc = argc >= 4 ? argv[3] : NULL;
    if ((!list && !retry) || (svc && !is_service(svc))) {
        if (svc && !is_service(svc))
            fprintf(stderr, "healthcenter dead-letters: unknown service \"%s\"\n", svc);
        fputs(usage_line, stderr);
        return 2;
    }
    long long id = 0;
    if (retry && strcmp(argv[4], "--all") != 0 && (hc_parse_i64(argv[4], &id) || id <= 0)) {
        fprintf(stderr, "healthcenter dead-letters retry: \"%s\" is neither an id nor --all\n",
                argv[4]);
        return 2;
    }
    int rc = load_config("dead-letters");
    if (rc)
        return rc;
    if (list)
        rc = hc_deadletter_cmd_list(hc_cfg.data_dir, svc ? &svc : names, svc ? 1 : N_SERVICES,
                                    stdout, stderr);
    else
        rc = hc_deadletter_cmd_retry(hc_cfg.data_dir, svc, id, stdout, stderr);
    hc_client_global_cleanup();
    return rc;
}

/* Runs `up`: the supervisor re-executes this very binary for each service. */
static int cmd_up(void)
{
    int rc = load_config("supervisor");
    if (rc)
        return rc;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = '\0';
    else
        hc_strlcpy(self, "/proc/self/exe", sizeof self);
    rc = up_supervisor_run(&hc_cfg, self);
    hc_client_global_cleanup();
    return rc;
}

/* Runs `restart SERVICE`: asks the running `up` (its control socket in
 * HC_RUN_DIR) for a rolling restart and waits for it. Exit 0 when done, 1
 * when it failed or no `up` runs, 2 on bad usage. */
static int cmd_restart(int argc, char **argv)
{
    static const char *const usage_line =
        "usage: healthcenter restart SERVICE\n"
        "  Restarts SERVICE (order, payment, reservation, notification, or gateway) of the\n"
        "  `healthcenter up` running on this HC_RUN_DIR without dropping a request: a new\n"
        "  instance starts on the same port, takes the traffic once ready, and the old one\n"
        "  finishes its requests and stops (the gateway reloads nginx). Also starts again a\n"
        "  service `up` gave up on (crash loop).\n";
    if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
        fputs(usage_line, stdout);
        return 0;
    }
    if (argc != 3 || (!is_service(argv[2]) && strcmp(argv[2], "gateway") != 0)) {
        if (argc == 3)
            fprintf(stderr, "healthcenter restart: unknown service \"%s\"\n", argv[2]);
        fputs(usage_line, stderr);
        return 2;
    }
    int rc = load_config("restart");
    if (rc)
        return rc;
    char sock[700], path[128], err[800];
    hc_fmt(sock, sizeof sock, "%s/%s", hc_cfg.run_dir, UP_CONTROL_SOCKET);
    hc_fmt(path, sizeof path, "/services/%s/restart", argv[2]);
    /* A restart takes at most the new instance's start, the old one's drain
     * and the supervisor's margin. */
    long timeout = (long)hc_cfg.ready_timeout_ms + hc_cfg.shutdown_grace_ms + 30000;
    int status = 0;
    json_t *body = NULL;
    rc = up_control_call(sock, "POST", path, timeout, &status, &body, err, sizeof err);
    if (rc == HC_EUNAVAIL) {
        fprintf(stderr,
                "healthcenter restart: no `healthcenter up` is running for HC_RUN_DIR=%s (%s)\n",
                hc_cfg.run_dir, err);
        rc = 1;
    } else if (rc != 0) {
        fprintf(stderr, "healthcenter restart: %s\n", err);
        rc = 1;
    } else if (status != 200) {
        const char *msg = json_string_value(json_object_get(body, "message"));
        fprintf(stderr, "healthcenter restart: %s: %s (HTTP %d)\n", argv[2], msg ? msg : "failed",
                status);
        rc = 1;
    } else {
        char *text = json_dumps(body, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        free(text);
    }
    json_decref(body);
    hc_client_global_cleanup();
    return rc;
}

/* Runs one service in the foreground until SIGINT/SIGTERM. */
static int cmd_service(const hc_service_def_t *def)
{
    int rc = load_config(def->name);
    if (rc)
        return rc;
    rc = hc_service_run(def);
    hc_client_global_cleanup();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("healthcenter %s\n", HC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "config") == 0) {
        int markdown = argc == 3 && strcmp(argv[2], "--markdown") == 0;
        if (argc > 3 || (argc == 3 && !markdown)) {
            fprintf(stderr, "usage: healthcenter config [--markdown]\n");
            return 2;
        }
        print_table(stdout, markdown);
        return 0;
    }
    if (strcmp(cmd, "dead-letters") == 0)
        return cmd_dead_letters(argc, argv);
    if (strcmp(cmd, "restart") == 0)
        return cmd_restart(argc, argv);
    if (argc > 2) {
        fprintf(stderr,
                "healthcenter %s: unexpected argument \"%s\" (settings come from "
                "environment variables: see healthcenter --help)\n",
                cmd, argv[2]);
        return 2;
    }
    if (strcmp(cmd, "up") == 0)
        return cmd_up();
    if (strcmp(cmd, "check") == 0)
        return cmd_check();
    for (size_t i = 0; i < N_SERVICES; i++)
        if (strcmp(cmd, services[i].name) == 0)
            return cmd_service(services[i].def);
    fprintf(stderr, "healthcenter: unknown command \"%s\" (try healthcenter --help)\n", cmd);
    return 2;
}
