/* healthcenter: the one executable. `up` runs the whole system under a
 * supervisor; `order|payment|reservation|notification` runs one service;
 * `check` and `dead-letters` are the operator's integrity tools; `admin`
 * and `token` manage accounts. */
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
#include "notification/auth_cli.h"
#include "services.h"
#include "up/up_control.h"
#include "up/up_gateway.h"
#include "up/up_gateway_mode.h"
#include "up/up_supervisor.h"
#include "up/up_web.h"

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

/* The one variable only `up` reads (looked up by up_gateway_load_template),
 * listed after the table of hc_config. */
static const char *const template_var = "HC_GATEWAY_TEMPLATE";
static const char *const template_meaning =
    "nginx config template for `up` (default: ../gateway/nginx.conf.tmpl from the "
    "binary's directory, else ../share/healthcenter/nginx.conf.tmpl, else a built-in copy)";

/* Prints the variable table of hc_config plus HC_GATEWAY_TEMPLATE. */
static void print_table(FILE *out, int markdown)
{
    const char *name = template_var;
    const char *meaning = template_meaning;
    hc_config_print_table(out, markdown);
    if (markdown)
        fprintf(out, "| `%s` | `%s` | %s |\n", name, "(derived)", meaning);
    else
        fprintf(out, "  %-26s %s\n  %-26s default: %s\n", name, meaning, "", "(derived)");
}

/* The commands besides the services, in the order help lists them (the
 * services come right after `up`). what: lines broken with '\n'. */
static const struct {
    const char *name;
    const char *args; /* the synopsis after the name; "" = none */
    const char *what;
    int configured; /* 1: reads the HC_* environment */
} commands[] = {
    {"up", "",
     "run all four services and the nginx gateway, wait until\n"
     "they are ready, restart any that dies or hangs, stop all on\n"
     "Ctrl-C",
     1},
    {"gateway", "",
     "run the nginx gateway alone, in front of services that run\n"
     "elsewhere (HC_ORDER_HOST, ...): one container or pod of its\n"
     "own; SIGTERM stops it gracefully, SIGHUP reloads it",
     1},
    {"restart", "SERVICE",
     "restart one service of the running `up` without dropping a\n"
     "request: a new instance on the same port takes the traffic\n"
     "once ready, then the old one drains and stops. SERVICE:\n"
     "order, payment, reservation, notification, or gateway\n"
     "(reloads nginx). A service scaled with HC_SCALE restarts\n"
     "every instance in turn; order-2 names one instance. Also\n"
     "starts again a service `up` gave up on (crash loop)",
     1},
    {"check", "",
     "verify every database, every log record's checksum and\n"
     "every group's offset (read-only; exit 1 on a problem)",
     1},
    {"dead-letters", "list [SERVICE]", "list the events parked because they could not be applied",
     1},
    {"dead-letters", "retry SERVICE (ID|--all)",
     "mark parked events for retry; the running service applies\n"
     "them again within a second",
     1},
    {"admin", "add USER (--centers ID,... | --superadmin)",
     "create or update an admin: of the centers listed (HC_CENTERS\n"
     "ids), or a super-admin of all; the password is read from\n"
     "stdin (asked twice on a terminal). See docs/accounts.md",
     1},
    {"admin", "passwd USER", "set an admin's password, read from stdin", 1},
    {"admin", "list", "list the admins: username, role, centers", 1},
    {"token", "(--phone P | --admin USER | --service NAME) [--ttl S]",
     "print a bearer token for a customer's phone, an admin (role\n"
     "and centers as stored) or a service (Prometheus, scripts),\n"
     "signed with HC_JWT_SECRET or $HC_DATA_DIR/jwt.key; valid\n"
     "HC_TOKEN_TTL_S seconds, or S",
     1},
    {"config", "[--markdown]",
     "print the configuration in effect: each variable's value\n"
     "and whether it came from the environment (env), its default\n"
     "or other settings (derived); secrets hidden. --markdown: the\n"
     "table of variables and defaults (the README's form)",
     0},
    {"version", "", "print the version", 0},
    {"help", "[COMMAND | --man]",
     "print this text, or the help of COMMAND; --man: the manual\n"
     "page healthcenter(1) in roff (what `make install` installs)",
     0},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Prints what (lines broken with '\n'), each line after the first indented
 * by indent spaces. */
static void print_indented(FILE *out, const char *what, int indent)
{
    for (const char *p = what; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(out, "%.*s\n", (int)len, p);
        p += len;
        if (*p == '\n' && *++p)
            fprintf(out, "%*s", indent, "");
    }
}

/* Prints one command of the list: name and synopsis, then what it does. */
static void print_command(FILE *out, const char *name, const char *args, const char *what)
{
    char head[64];
    snprintf(head, sizeof head, "%s%s%s", name, *args ? " " : "", args);
    if (strlen(head) > 22)
        fprintf(out, "  %s\n%25s", head, "");
    else
        fprintf(out, "  %-22s ", head);
    print_indented(out, what, 25);
}

/* Prints the usage text and the environment variable table to out. */
static void usage(FILE *out)
{
    fprintf(out, "usage: healthcenter <command>   (healthcenter <command> --help: that command)\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        print_command(out, commands[i].name, commands[i].args, commands[i].what);
        if (strcmp(commands[i].name, "up") != 0)
            continue;
        for (size_t k = 0; k < N_SERVICES; k++) {
            char what[160];
            snprintf(what, sizeof what, "run the %s", services[k].what);
            print_command(out, services[k].name, "", what);
        }
    }
    fprintf(out, "\nenvironment variables (all optional):\n");
    print_table(out, 0);
}

/* Writes text to out as roff running text: backslashes escaped, '-' as
 * \- (a real minus, so that options can be searched and copied), a line
 * starting with '.' or '\'' protected; each '\n' of text starts a new
 * output line. */
static void man_text(FILE *out, const char *text)
{
    int line_start = 1;
    for (const char *p = text; *p; p++) {
        if (line_start && (*p == '.' || *p == '\''))
            fputs("\\&", out);
        line_start = *p == '\n';
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
    fputc('\n', out);
}

/* Prints the manual page healthcenter(1) in roff (man macros) to out, from
 * the same tables as usage(): the commands, the services and every
 * setting, so the page cannot drift from --help. */
static void print_man(FILE *out)
{
    fprintf(out,
            ".\\\" Generated by `healthcenter help --man`; do not edit.\n"
            ".TH HEALTHCENTER 1 \"\" \"healthcenter %s\" \"User Commands\"\n"
            ".SH NAME\nhealthcenter \\- health\\-checkup reservations: four services "
            "behind an nginx gateway\n"
            ".SH SYNOPSIS\n.B healthcenter\n.I command\n[\\fIarguments\\fR]\n"
            ".SH DESCRIPTION\n",
            HC_VERSION);
    man_text(out, "One executable runs the whole system (`healthcenter up`: the order, payment, "
                  "reservation and notification services and the nginx gateway, supervised) or "
                  "one service (in a container, one per pod). Every setting is an environment "
                  "variable (ENVIRONMENT below); `healthcenter config` shows the values in "
                  "effect.");
    fprintf(out, ".SH COMMANDS\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, ".TP\n.B %s", commands[i].name);
        if (*commands[i].args) {
            fputc(' ', out);
            man_text(out, commands[i].args);
        } else {
            fputc('\n', out);
        }
        char what[1024];
        hc_strlcpy(what, commands[i].what, sizeof what);
        for (char *p = what; *p; p++)
            if (*p == '\n')
                *p = ' ';
        man_text(out, what);
        if (strcmp(commands[i].name, "up") != 0)
            continue;
        for (size_t k = 0; k < N_SERVICES; k++) {
            fprintf(out, ".TP\n.B %s\n", services[k].name);
            char line[200];
            snprintf(line, sizeof line, "run the %s", services[k].what);
            man_text(out, line);
        }
    }
    fprintf(out, ".SH ENVIRONMENT\n");
    const char *name, *def, *meaning;
    for (size_t i = 0; hc_config_describe(i, &name, &def, &meaning) == 0; i++) {
        fprintf(out, ".TP\n.B %s\n", name);
        man_text(out, meaning);
        fprintf(out, ".br\n");
        char line[512];
        snprintf(line, sizeof line, "default: %s", def);
        man_text(out, line);
    }
    fprintf(out, ".TP\n.B %s\n", template_var);
    man_text(out, template_meaning);
    fprintf(out, ".br\n");
    man_text(out, "default: (derived)");
    fprintf(out, ".SH FILES\n");
    man_text(out, "$HC_DATA_DIR (./data): each service's SQLite database, the event log (bus/), "
                  "the keys (jwt.key, service.key) when no secret is set, admin.password on "
                  "first start, run/ (nginx.conf, access.log, error.log, up.sock). The gateway "
                  "template: HC_GATEWAY_TEMPLATE, else ../share/healthcenter/nginx.conf.tmpl "
                  "next to the binary.");
    fprintf(out, ".SH EXIT STATUS\n");
    man_text(out, "0 on success (also after a clean stop), 1 when a command failed, 2 for a "
                  "usage error or an invalid configuration.");
    fprintf(out, ".SH SEE ALSO\n.BR nginx (8),\n.BR systemd.service (5)\n");
}

/* Prints the help of one command to stdout. Returns 0, or 2 when there is
 * no such command. */
static int command_help(const char *name)
{
    int found = 0, configured = 1;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) != 0)
            continue;
        printf("%s healthcenter %s%s%s\n", found ? "      " : "usage:", name,
               *commands[i].args ? " " : "", commands[i].args);
        configured = commands[i].configured;
        found = 1;
    }
    for (size_t i = 0; i < N_SERVICES; i++) {
        if (strcmp(services[i].name, name) != 0)
            continue;
        printf("usage: healthcenter %s\n\nruns the %s, in the foreground until SIGINT or "
               "SIGTERM\n",
               name, services[i].what);
        found = 1;
    }
    if (!found) {
        fprintf(stderr, "healthcenter: unknown command \"%s\" (try healthcenter --help)\n", name);
        return 2;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) {
            fputc('\n', stdout);
            print_indented(stdout, commands[i].what, 0);
        }
    if (configured)
        printf("\nsettings come from HC_* environment variables: `healthcenter config` shows "
               "the\nvalues in effect, `healthcenter help` lists them all\n");
    return 0;
}

/* Returns 1 when one of the arguments after the command asks for help. */
static int asks_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
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
    hc_log_set_format(hc_cfg.log_format);
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

/* Returns 1 when name is an instance of HC_SCALE past the first, as `up`
 * names it: a service, '-', and 2..HC_SCALE_MAX ("order-2"). */
static int is_instance(const char *name)
{
    const char *dash = strrchr(name, '-');
    char svc[32];
    if (!dash || (size_t)(dash - name) >= sizeof svc || dash[1] < '2' ||
        dash[1] > '0' + HC_SCALE_MAX || dash[2] != '\0')
        return 0;
    memcpy(svc, name, (size_t)(dash - name));
    svc[dash - name] = '\0';
    return is_service(svc);
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

/* Runs `admin ...` or `token ...` (auth_cli): the configuration first. */
static int cmd_accounts(int argc, char **argv)
{
    int rc = load_config(argv[1]);
    if (rc)
        return rc;
    if (strcmp(argv[1], "admin") == 0)
        rc = auth_cli_admin(argc - 1, argv + 1, stdin, stdout, stderr);
    else
        rc = auth_cli_token(argc - 1, argv + 1, stdout, stderr);
    hc_client_global_cleanup();
    return rc;
}

/* Writes the path of this very binary into self (PATH_MAX bytes). */
static void self_path(char *self)
{
    ssize_t n = readlink("/proc/self/exe", self, PATH_MAX - 1);
    if (n > 0)
        self[n] = '\0';
    else
        hc_strlcpy(self, "/proc/self/exe", PATH_MAX);
}

/* Runs `config`: the values in effect (exit 2 when the configuration is
 * invalid), or with --markdown the table of variables and defaults. */
static int cmd_config(int argc, char **argv)
{
    int markdown = argc == 3 && strcmp(argv[2], "--markdown") == 0;
    if (argc > 3 || (argc == 3 && !markdown)) {
        fprintf(stderr, "usage: healthcenter config [--markdown]\n");
        return 2;
    }
    if (markdown) {
        print_table(stdout, 1);
        return 0;
    }
    char err[512];
    if (hc_config_load(&hc_cfg, err, sizeof err) != 0) {
        fprintf(stderr, "healthcenter: invalid configuration: %s\n", err);
        return 2;
    }
    char self[PATH_MAX], source[PATH_MAX + 16];
    self_path(self);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    /* HC_WEB_DIR: the web app `up` would serve, found as it finds it (stays
     * empty when there is none). */
    if (!hc_cfg.web_dir[0])
        up_web_find("", slash ? self : NULL, hc_cfg.web_dir, sizeof hc_cfg.web_dir, err,
                    sizeof err);
    hc_config_print_effective(stdout, &hc_cfg);
    /* HC_GATEWAY_TEMPLATE: the file `up` would render, found as it finds it. */
    const char *env = getenv("HC_GATEWAY_TEMPLATE");
    free(up_gateway_load_template(slash ? self : NULL, source, sizeof source, err, sizeof err));
    hc_config_print_value(stdout, "HC_GATEWAY_TEMPLATE", env && *env ? env : source,
                          env && *env ? "env" : "derived");
    return 0;
}

/* Runs `up`: the supervisor re-executes this very binary for each service. */
static int cmd_up(void)
{
    int rc = load_config("supervisor");
    if (rc)
        return rc;
    char self[PATH_MAX];
    self_path(self);
    rc = up_supervisor_run(&hc_cfg, self);
    hc_client_global_cleanup();
    return rc;
}

/* Runs `gateway`: nginx alone on the rendered template (up_gateway_mode). */
static int cmd_gateway(void)
{
    int rc = load_config("gateway");
    if (rc)
        return rc;
    rc = up_gateway_mode_run(&hc_cfg);
    hc_client_global_cleanup();
    return rc;
}

/* Runs `restart SERVICE`: asks the running `up` (its control socket in
 * HC_RUN_DIR) for a rolling restart and waits for it. Exit 0 when done, 1
 * when it failed or no `up` runs, 2 on bad usage. */
static int cmd_restart(int argc, char **argv)
{
    /* --help is answered by command_help, from the commands table */
    static const char *const usage_line =
        "usage: healthcenter restart SERVICE   (SERVICE: order, payment, reservation,\n"
        "       notification, gateway, or an HC_SCALE instance such as order-2;\n"
        "       healthcenter restart --help for more)\n";
    if (argc != 3 ||
        (!is_service(argv[2]) && !is_instance(argv[2]) && strcmp(argv[2], "gateway") != 0)) {
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
        if (argc == 3 && strcmp(cmd, "help") == 0 && strcmp(argv[2], "--man") == 0) {
            print_man(stdout);
            return 0;
        }
        if (argc > 2 && strcmp(cmd, "help") == 0 && !asks_help(argc, argv))
            return command_help(argv[2]);
        usage(stdout);
        return 0;
    }
    if (asks_help(argc, argv))
        return command_help(cmd);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("healthcenter %s\n", HC_VERSION);
        return 0;
    }
    if (strcmp(cmd, "config") == 0)
        return cmd_config(argc, argv);
    if (strcmp(cmd, "dead-letters") == 0)
        return cmd_dead_letters(argc, argv);
    if (strcmp(cmd, "restart") == 0)
        return cmd_restart(argc, argv);
    if (strcmp(cmd, "admin") == 0 || strcmp(cmd, "token") == 0)
        return cmd_accounts(argc, argv);
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
    if (strcmp(cmd, "gateway") == 0)
        return cmd_gateway();
    for (size_t i = 0; i < N_SERVICES; i++)
        if (strcmp(cmd, services[i].name) == 0)
            return cmd_service(services[i].def);
    fprintf(stderr, "healthcenter: unknown command \"%s\" (try healthcenter --help)\n", cmd);
    return 2;
}
