/* up_gateway: picks the nginx program and renders the gateway template into the nginx
 * config `healthcenter up` runs it on. Design: docs/gateway.md. */
#include "up_gateway.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "up_fs.h"

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

int up_gateway_render(const char *tmpl, const hc_config_t *cfg, const char *run_dir, hc_buf_t *out,
                      char *err, size_t errlen)
{
    char bind[80], reach[80], upstream[80];
    char gw[16], ord[16], res[16], pay[16], noti[16], body[32];
    up_gateway_addr_literal(*cfg->bind_addr ? cfg->bind_addr : "0.0.0.0", bind, sizeof bind);
    up_gateway_reach_addr(cfg->bind_addr, reach, sizeof reach);
    up_gateway_addr_literal(reach, upstream, sizeof upstream);
    snprintf(gw, sizeof gw, "%d", cfg->gateway_port);
    snprintf(ord, sizeof ord, "%d", cfg->order_port);
    snprintf(res, sizeof res, "%d", cfg->reservation_port);
    snprintf(pay, sizeof pay, "%d", cfg->payment_port);
    snprintf(noti, sizeof noti, "%d", cfg->notification_port);
    snprintf(body, sizeof body, "%zu", cfg->max_body_bytes);
    const struct {
        const char *name;
        const char *value;
    } vars[] = {
        {"RUN_DIR", run_dir},  {"BIND_ADDR", bind},         {"UPSTREAM_HOST", upstream},
        {"GATEWAY_PORT", gw},  {"ORDER_PORT", ord},         {"RESERVATION_PORT", res},
        {"PAYMENT_PORT", pay}, {"NOTIFICATION_PORT", noti}, {"MAX_BODY", body},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (!nginx_safe(vars[i].value)) {
            hc_fmt(err, errlen,
                   "gateway template: value for @%s@ (\"%s\") cannot appear in an nginx "
                   "config (empty, or spaces, quotes, ';', '{', '}', '$' or '#')",
                   vars[i].name, vars[i].value);
            return HC_EINVAL;
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
            return HC_EINVAL;
        }
        full |= hc_buf_adds(out, value) != 0;
        p = q + 1;
    }
    if (full) {
        hc_fmt(err, errlen, "gateway template: the rendered config is too large");
        return HC_EINVAL;
    }
    return 0;
}

int up_gateway_write_config(const hc_config_t *cfg, const char *run_dir, const char *conf_path,
                            char *source, size_t srclen, char *err, size_t errlen)
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
    hc_buf_t conf;
    hc_buf_init(&conf, 4 * TEMPLATE_MAX);
    int rc = HC_EIO;
    char *tmpl = up_gateway_load_template(exe_dir, source, srclen, err, errlen);
    if (!tmpl)
        goto out;
    rc = up_gateway_render(tmpl, cfg, run_dir, &conf, err, errlen);
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
