/* healthcenter: the one executable. `up` runs the whole system under a
 * supervisor; `order|payment|reservation|notification` runs one service. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_client.h"
#include "hc_config.h"
#include "hc_log.h"
#include "hc_supervisor.h"
#include "services.h"

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

/* Prints the variable table of hc_config plus the one variable only `up`
 * reads (HC_GATEWAY_TEMPLATE, looked up by hc_supervisor_load_template). */
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
            "                         they are ready, restart any that dies, stop all on Ctrl-C\n");
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        fprintf(out, "  %-22s run the %s\n", services[i].name, services[i].what);
    fprintf(out,
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
    rc = hc_supervisor_run(&hc_cfg, self);
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
    if (argc > 2) {
        fprintf(stderr, "healthcenter %s: unexpected argument \"%s\" (settings come from "
                        "environment variables: see healthcenter --help)\n", cmd, argv[2]);
        return 2;
    }
    if (strcmp(cmd, "up") == 0)
        return cmd_up();
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strcmp(cmd, services[i].name) == 0)
            return cmd_service(services[i].def);
    fprintf(stderr, "healthcenter: unknown command \"%s\" (try healthcenter --help)\n", cmd);
    return 2;
}
