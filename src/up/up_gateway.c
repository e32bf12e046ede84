/* up_gateway: picks the nginx program and renders the gateway template into the nginx
 * config `healthcenter up` runs it on. Design: docs/gateway.md. */
#include "up_gateway.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "up_fs.h"
#include "up_web.h"

#define TEMPLATE_MAX (1024 * 1024) /* largest template read, bytes */

char *up_gateway_load_template(const char *exe_dir, char *source, size_t srclen, char *err,
                               size_t errlen)
{
    const char *env = getenv("HC_GATEWAY_TEMPLATE");
    if (env && *env) {
        char *text = up_fs_read_file(env, TEMPLATE_MAX);
        if (!text)
            hc_fmt(err, errlen, "HC_GATEWAY_TEMPLATE: cannot read %s: %s", env, strerror(errno));
        else
            snprintf(source, srclen, "%s", env);
        return text;
    }
    if (exe_dir) {
        static const char *const rel[] = {"/../gateway/nginx.conf.tmpl",
                                          "/../share/healthcenter/nginx.conf.tmpl"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char path[PATH_MAX];
            int n = snprintf(path, sizeof path, "%s%s", exe_dir, rel[i]);
            if (n < 0 || (size_t)n >= sizeof path)
                continue;
            char *text = up_fs_read_file(path, TEMPLATE_MAX);
            if (text) {
                char real[PATH_MAX];
                snprintf(source, srclen, "%s", realpath(path, real) ? real : path);
                return text;
            }
        }
    }
    snprintf(source, srclen, "(built in)");
    return hc_xstrdup(up_gateway_tmpl);
}

/* Returns 1 when s can stand unquoted in an nginx directive argument. */
static int nginx_safe(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || strchr(";{}\"'$#\\", *s))
            return 0;
    return 1;
}

void up_gateway_addr_literal(const char *addr, char *out, size_t outlen)
{
    if (strchr(addr, ':') && addr[0] != '[')
        snprintf(out, outlen, "[%s]", addr);
    else
        snprintf(out, outlen, "%s", addr);
}

void up_gateway_reach_addr(const char *bind_addr, char *out, size_t outlen)
{
    if (!*bind_addr || strcmp(bind_addr, "0.0.0.0") == 0 || strcmp(bind_addr, "*") == 0)
        snprintf(out, outlen, "127.0.0.1");
    else if (strcmp(bind_addr, "::") == 0 || strcmp(bind_addr, "[::]") == 0)
        snprintf(out, outlen, "::1");
    else
        snprintf(out, outlen, "%s", bind_addr);
}

/* Writes limit_req's burst parameter for burst into out: nginx refuses
 * burst=0, so no burst is written as no burst= at all. */
static void burst_param(int burst, char *out, size_t outlen)
{
    if (burst > 0)
        snprintf(out, outlen, " burst=%d nodelay", burst);
    else if (outlen)
        out[0] = '\0';
}

/* Writes the limit_req lines for cfg into out (size outlen): its zone and the
 * limit itself, keyed on $hc_limit_key (the template's map: the client, or ""
 * for the paths never limited), or a comment when HC_RATE_LIMIT_RPS is 0. */
static void limit_req_lines(const hc_config_t *cfg, char *out, size_t outlen)
{
    if (cfg->rate_limit_rps <= 0) {
        snprintf(out, outlen, "# HC_RATE_LIMIT_RPS is 0: no request rate limit");
        return;
    }
    char burst[48];
    burst_param(cfg->rate_limit_burst, burst, sizeof burst);
    snprintf(out, outlen,
             "limit_req_zone $hc_limit_key zone=hc_req:10m rate=%dr/s;\n"
             "limit_req zone=hc_req%s;",
             cfg->rate_limit_rps, burst);
}

/* Writes the lines of sign-in's own limit: into zone (the http block) its
 * limit_req_zone, and into limits (the /auth location) its limit_req plus
 * the general one again, since a location with limit_req of its own no longer
 * inherits the http block's. Comments when HC_AUTH_RATE_LIMIT_RPM is 0 (the
 * location inherits the general limit then). */
static void auth_limit_lines(const hc_config_t *cfg, char *zone, size_t zonelen, char *limits,
                             size_t limitslen)
{
    if (cfg->auth_rate_limit_rpm <= 0) {
        snprintf(zone, zonelen, "# HC_AUTH_RATE_LIMIT_RPM is 0: no extra sign-in limit");
        snprintf(limits, limitslen, "# HC_AUTH_RATE_LIMIT_RPM is 0: the general limits only");
        return;
    }
    char general[96] = "", burst[48];
    if (cfg->rate_limit_rps > 0) {
        burst_param(cfg->rate_limit_burst, burst, sizeof burst);
        snprintf(general, sizeof general, "limit_req zone=hc_req%s;\n", burst);
    }
    burst_param(cfg->auth_rate_limit_burst, burst, sizeof burst);
    snprintf(zone, zonelen, "limit_req_zone $hc_limit_key zone=hc_auth:10m rate=%dr/m;",
             cfg->auth_rate_limit_rpm);
    snprintf(limits, limitslen, "%slimit_req zone=hc_auth%s;", general, burst);
}

/* Writes the limit_conn lines for cfg into out (size outlen), or a comment
 * when HC_RATE_LIMIT_CONNECTIONS is 0. */
static void limit_conn_lines(const hc_config_t *cfg, char *out, size_t outlen)
{
    if (cfg->rate_limit_connections <= 0)
        snprintf(out, outlen, "# HC_RATE_LIMIT_CONNECTIONS is 0: no limit on requests in progress");
    else
        snprintf(out, outlen,
                 "limit_conn_zone $hc_limit_key zone=hc_conn:10m;\nlimit_conn hc_conn %d;",
                 cfg->rate_limit_connections);
}

/* 1 when an HC_CORS_ORIGINS item is an origin: a scheme http or https and
 * a host (a browser's Origin header, compared as it is). */
static int origin_valid(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Appends one line per item of the comma list of setting to out: line_fmt
 * with the item for its one %s; none (a comment) when the list is empty.
 * Returns 0, or HC_EINVAL with a message in err (size errlen) for an item
 * nginx could not take as it is or valid (when given) refuses. */
static int list_lines(const char *list, const char *setting, const char *line_fmt,
                      int (*valid)(const char *), const char *none, hc_buf_t *out, char *err,
                      size_t errlen)
{
    char copy[1024];
    if (hc_strlcpy(copy, list, sizeof copy) >= sizeof copy) {
        hc_fmt(err, errlen, "gateway template: %s is too long", setting);
        return HC_EINVAL;
    }
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (!nginx_safe(item) || (valid && !valid(item))) {
            hc_fmt(err, errlen, "gateway template: %s item \"%s\" cannot appear in an nginx config",
                   setting, item);
            return HC_EINVAL;
        }
        if (out->len)
            hc_buf_adds(out, "\n");
        if (hc_buf_printf(out, line_fmt, item) != 0) {
            hc_fmt(err, errlen, "gateway template: %s is too long", setting);
            return HC_EINVAL;
        }
    }
    if (out->len == 0)
        hc_buf_adds(out, none);
    return 0;
}

/* Appends value to out; each line after the first gets indent (indent_len
 * bytes) in front, so that a placeholder alone on an indented line renders
 * as lines with that indentation. Returns 0 or HC_EINVAL (out is full). */
static int add_indented(hc_buf_t *out, const char *value, const char *indent, size_t indent_len)
{
    int rc = 0;
    for (const char *nl; (nl = strchr(value, '\n')) != NULL; value = nl + 1) {
        rc |= hc_buf_add(out, value, (size_t)(nl - value + 1));
        rc |= hc_buf_add(out, indent, indent_len);
    }
    rc |= hc_buf_adds(out, value);
    return rc ? HC_EINVAL : 0;
}

int up_gateway_user_directive(uid_t euid, gid_t egid, char *out, size_t outlen)
{
    if (euid != 0) {
        snprintf(out, outlen, "# not run as root: nginx's workers keep the user that runs it");
        return 0;
    }
    char buf[16 * 1024];
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    if (getpwuid_r(euid, &pw, buf, sizeof buf / 2, &pwp) != 0 || !pwp || !nginx_safe(pw.pw_name) ||
        getgrgid_r(egid, &gr, buf + sizeof buf / 2, sizeof buf / 2, &grp) != 0 || !grp ||
        !nginx_safe(gr.gr_name)) {
        snprintf(out, outlen,
                 "# uid %u or gid %u has no name nginx can use: its workers run as its "
                 "default user",
                 (unsigned)euid, (unsigned)egid);
        return HC_ENOTFOUND;
    }
    int n = snprintf(out, outlen, "user %s %s;", pw.pw_name, gr.gr_name);
    if (n < 0 || (size_t)n >= outlen) {
        snprintf(out, outlen, "# the user's name is too long: nginx's workers run as its default");
        return HC_ENOTFOUND;
    }
    return 0;
}

int up_gateway_instance_port(const hc_config_t *cfg, int port, int k)
{
    return port + k * cfg->scale_port_step;
}

int up_gateway_render(const char *tmpl, const hc_config_t *cfg, const char *run_dir,
                      const char *health_addr, const char *web_dir, const char *web_version,
                      hc_buf_t *out, char *err, size_t errlen)
{
    char bind[80], reach[80], upstream[80];
    char no_web[PATH_MAX + 16], horizon[16], cutoff[16];
    if (!web_dir) {
        snprintf(no_web, sizeof no_web, "%s/no-web", run_dir);
        web_dir = no_web;
        web_version = "0";
    }
    snprintf(horizon, sizeof horizon, "%d", cfg->horizon_days);
    snprintf(cutoff, sizeof cutoff, "%d", cfg->cancel_cutoff_days);
    char gw[16], ord[16], res[16], pay[16], noti[16], body[32];
    char limit_req[160], limit_conn[160];
    hc_buf_t real_ip, cors;
    hc_buf_init(&real_ip, 16 * 1024);
    hc_buf_init(&cors, 16 * 1024);
    int rc = list_lines(cfg->trusted_proxy, "HC_TRUSTED_PROXY", "set_real_ip_from %s;", NULL,
                        "# HC_TRUSTED_PROXY is empty: the client is always the connection's "
                        "address",
                        &real_ip, err, errlen);
    if (rc == 0)
        rc = list_lines(cfg->cors_origins, "HC_CORS_ORIGINS", "\"%s\" $http_origin;", origin_valid,
                        "# HC_CORS_ORIGINS is empty: no other origin may call (same-origin only)",
                        &cors, err, errlen);
    if (rc != 0)
        goto out;
    up_gateway_addr_literal(*cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", bind, sizeof bind);
    up_gateway_reach_addr(cfg->bind_addr, reach, sizeof reach);
    up_gateway_addr_literal(reach, upstream, sizeof upstream);
    snprintf(gw, sizeof gw, "%d", cfg->gateway_port);
    snprintf(ord, sizeof ord, "%d", cfg->order_port);
    snprintf(res, sizeof res, "%d", cfg->reservation_port);
    snprintf(pay, sizeof pay, "%d", cfg->payment_port);
    snprintf(noti, sizeof noti, "%d", cfg->notification_port);
    snprintf(body, sizeof body, "%zu", cfg->max_body_bytes);
    char servers[HC_NSERVICES][HC_SCALE_MAX * 320]; /* a host of 255 + ":port max_fails=0;" */
    const int base[HC_NSERVICES] = {cfg->order_port, cfg->reservation_port, cfg->payment_port,
                                    cfg->notification_port};
    for (int i = 0; i < HC_NSERVICES; i++) {
        /* HC_<SERVICE>_HOST (a cluster's Service name), else where `up` runs it */
        char host[300];
        if (cfg->service_host[i][0])
            up_gateway_addr_literal(cfg->service_host[i], host, sizeof host);
        else
            hc_strlcpy(host, upstream, sizeof host);
        size_t n = 0;
        servers[i][0] = '\0';
        for (int k = 0; k < cfg->scale[i] || k == 0; k++)
            n += (size_t)snprintf(servers[i] + n, sizeof servers[i] - n,
                                  "%sserver %s:%d max_fails=0;", k ? "\n" : "", host,
                                  up_gateway_instance_port(cfg, base[i], k));
    }
    limit_req_lines(cfg, limit_req, sizeof limit_req);
    limit_conn_lines(cfg, limit_conn, sizeof limit_conn);
    char auth_zone[160], auth_limits[256];
    auth_limit_lines(cfg, auth_zone, sizeof auth_zone, auth_limits, sizeof auth_limits);
    char worker_user[640];
    if (up_gateway_user_directive(geteuid(), getegid(), worker_user, sizeof worker_user) != 0)
        hc_warn("gateway template: %s", worker_user + 2);
    /* A value is one nginx word, checked below; a directive value is whole
     * lines built above from checked settings (numbers, addresses). */
    const struct {
        const char *name;
        const char *value;
        int directives;
    } vars[] = {
        {"RUN_DIR", run_dir, 0},
        {"WORKER_USER", worker_user, 1},
        {"HEALTH_ADDR", health_addr, 0},
        {"BIND_ADDR", bind, 0},
        {"UPSTREAM_HOST", upstream, 0},
        {"GATEWAY_PORT", gw, 0},
        {"ORDER_PORT", ord, 0},
        {"RESERVATION_PORT", res, 0},
        {"PAYMENT_PORT", pay, 0},
        {"NOTIFICATION_PORT", noti, 0},
        {"ORDER_SERVERS", servers[0], 1},
        {"RESERVATION_SERVERS", servers[1], 1},
        {"PAYMENT_SERVERS", servers[2], 1},
        {"NOTIFICATION_SERVERS", servers[3], 1},
        {"MAX_BODY", body, 0},
        {"REAL_IP_HEADER", cfg->real_ip_header, 0},
        {"REAL_IP_FROM", hc_buf_str(&real_ip), 1},
        {"CORS_ORIGINS", hc_buf_str(&cors), 1},
        {"LIMIT_REQ", limit_req, 1},
        {"LIMIT_CONN", limit_conn, 1},
        {"AUTH_LIMIT_REQ_ZONE", auth_zone, 1},
        {"AUTH_LIMIT_REQ", auth_limits, 1},
        {"WEB_DIR", web_dir, 0},
        {"WEB_VERSION", web_version, 0},
        {"HORIZON_DAYS", horizon, 0},
        {"CANCEL_CUTOFF_DAYS", cutoff, 0},
        {"TZ", cfg->tz, 0},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (!vars[i].directives && !nginx_safe(vars[i].value)) {
            hc_fmt(err, errlen,
                   "gateway template: value for @%s@ (\"%s\") cannot appear in an nginx "
                   "config (empty, or spaces, quotes, ';', '{', '}', '$' or '#')",
                   vars[i].name, vars[i].value);
            rc = HC_EINVAL;
            goto out;
        }
    }

    /* A placeholder is '@', one or more of [A-Z_], '@'. Anything else (named
     * locations such as "@hc_unavailable") is copied as it is. */
    int full = 0; /* an append failed: out reached its maximum */
    const char *p = tmpl;
    while (*p && !full) {
        const char *at = strchr(p, '@');
        if (!at) {
            full |= hc_buf_adds(out, p) != 0;
            break;
        }
        full |= hc_buf_add(out, p, (size_t)(at - p)) != 0;
        const char *q = at + 1;
        while ((*q >= 'A' && *q <= 'Z') || *q == '_')
            q++;
        if (q == at + 1 || *q != '@') {
            full |= hc_buf_add(out, at, 1) != 0;
            p = at + 1;
            continue;
        }
        size_t len = (size_t)(q - at - 1);
        const char *value = NULL;
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            if (strlen(vars[i].name) == len && memcmp(vars[i].name, at + 1, len) == 0)
                value = vars[i].value;
        if (!value) {
            hc_fmt(err, errlen, "gateway template: unknown placeholder @%.*s@", (int)len, at + 1);
            rc = HC_EINVAL;
            goto out;
        }
        /* the blanks between the line's start and the placeholder, if only blanks */
        const char *indent = at;
        while (indent > tmpl && (indent[-1] == ' ' || indent[-1] == '\t'))
            indent--;
        size_t indent_len = indent == tmpl || indent[-1] == '\n' ? (size_t)(at - indent) : 0;
        full |= add_indented(out, value, indent, indent_len) != 0;
        p = q + 1;
    }
    if (full) {
        hc_fmt(err, errlen, "gateway template: the rendered config is too large");
        rc = HC_EINVAL;
    }
out:
    hc_buf_cleanup(&real_ip);
    hc_buf_cleanup(&cors);
    return rc;
}

int up_gateway_write_config(const hc_config_t *cfg, const char *run_dir, const char *health_addr,
                            const char *conf_path, char *source, size_t srclen, char *err,
                            size_t errlen)
{
    /* The template is looked up next to the real executable. */
    char exe[PATH_MAX];
    const char *exe_dir = NULL;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            exe_dir = exe;
        }
    }
    char web[PATH_MAX], version[32] = "0", why[PATH_MAX + 128];
    const char *web_dir = web;
    if (up_web_find(cfg->web_dir, exe_dir, web, sizeof web, why, sizeof why) != 0) {
        if (cfg->web_dir[0]) {
            hc_fmt(err, errlen, "%s", why);
            return HC_EINVAL;
        }
        hc_warn("the gateway serves no web app: %s", why);
        web_dir = NULL;
    } else if (up_web_version(web, version, sizeof version) != 0) {
        hc_warn("web app %s has no readable assets/ directory", web);
    }
    hc_buf_t conf;
    hc_buf_init(&conf, 4 * TEMPLATE_MAX);
    int rc = HC_EIO;
    char *tmpl = up_gateway_load_template(exe_dir, source, srclen, err, errlen);
    if (!tmpl)
        goto out;
    rc = up_gateway_render(tmpl, cfg, run_dir, health_addr, web_dir, version, &conf, err, errlen);
    if (rc != 0)
        goto out;
    if (up_fs_write_file(conf_path, hc_buf_str(&conf)) != 0) {
        hc_fmt(err, errlen, "cannot write %s: %s", conf_path, strerror(errno));
        rc = HC_EIO;
    }
out:
    hc_buf_cleanup(&conf);
    free(tmpl);
    return rc;
}

int up_gateway_nginx_program(const char *nginx_bin, char *out, size_t outlen)
{
    if (nginx_bin[0]) {
        int n = snprintf(out, outlen, "%s%s", strchr(nginx_bin, '/') ? "" : "./", nginx_bin);
        if (n < 0 || (size_t)n >= outlen || access(out, X_OK) != 0) {
            out[0] = '\0';
            return HC_ENOTFOUND;
        }
        return 0;
    }
    static const char *const known[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx",
                                        "/usr/local/nginx/sbin/nginx"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (access(known[i], X_OK) == 0) {
            snprintf(out, outlen, "%s", known[i]);
            return 0;
        }
    }
    snprintf(out, outlen, "nginx");
    return 0;
}
