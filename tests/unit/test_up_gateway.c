/* Checks up_gateway: rendering the gateway template (placeholders, bad values),
 * finding it (HC_GATEWAY_TEMPLATE, next to the binary, built in) and picking
 * the nginx program (HC_NGINX, the usual places, else PATH). */
#include "hc_test.h"

#include <ctype.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "up/up_fs.h"
#include "up/up_gateway.h"

static hc_config_t *default_config(void)
{
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    char err[256] = "";
    assert_non_null(cfg);
    hc_test_clear_hc_env();
    if (hc_config_load(cfg, err, sizeof err) != 0)
        fail_msg("hc_config_load: %s", err);
    return cfg;
}

/* Returns 1 when text still holds an @NAME@ placeholder. */
static int has_placeholder(const char *text)
{
    for (const char *p = strchr(text, '@'); p != NULL; p = strchr(p + 1, '@')) {
        const char *q = p + 1;
        while (isupper((unsigned char)*q) || *q == '_' || isdigit((unsigned char)*q))
            q++;
        if (q > p + 1 && *q == '@')
            return 1;
    }
    return 0;
}

static void test_render_builtin_template(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    cfg->gateway_port = 18080;
    cfg->order_port = 18081;
    cfg->reservation_port = 18082;
    cfg->payment_port = 18083;
    cfg->notification_port = 18084;
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    int rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/hc-run-dir", "127.0.0.1:1", NULL, NULL,
                               &out, err, sizeof err);
    if (rc != 0)
        fail_msg("render: %d: %s", rc, err);
    const char *text = hc_buf_str(&out);
    assert_false(has_placeholder(text));
    assert_non_null(strstr(text, "18080"));
    assert_non_null(strstr(text, "18081"));
    assert_non_null(strstr(text, "18082"));
    assert_non_null(strstr(text, "18083"));
    assert_non_null(strstr(text, "18084"));
    assert_non_null(strstr(text, "/tmp/hc-run-dir"));
    hc_buf_cleanup(&out);
    free(cfg);
}

/* HC_SCALE: the service's upstream lists every instance, the first on its
 * port and the others HC_SCALE_PORT_STEP apart; unscaled services keep one;
 * the keepalive pool stays, and no retry of a request that was sent. */
static void test_render_scaled_upstreams(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    cfg->order_port = 18081;
    cfg->payment_port = 18083;
    cfg->scale[0] = 3;
    cfg->scale_port_step = 100;
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    assert_int_equal(up_gateway_render(up_gateway_tmpl, cfg, "/tmp/run", "127.0.0.1:1", NULL, NULL,
                                       &out, err, sizeof err),
                     0);
    const char *text = hc_buf_str(&out);
    const char *up = strstr(text, "upstream hc_order {");
    assert_non_null(up);
    const char *end = strchr(up, '}');
    const char *want[] = {"        server 127.0.0.1:18081 max_fails=0;\n",
                          "        server 127.0.0.1:18181 max_fails=0;\n",
                          "        server 127.0.0.1:18281 max_fails=0;\n", "keepalive 64;"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *at = strstr(up, want[i]);
        if (!at || at > end)
            fail_msg("hc_order upstream lacks \"%s\":\n%.*s", want[i], (int)(end - up), up);
    }
    assert_null(strstr(text, "18183"));
    assert_non_null(strstr(text, "server 127.0.0.1:18083 max_fails=0;"));
    assert_null(strstr(text, "non_idempotent;"));
    assert_null(strstr(text, "proxy_next_upstream error timeout non_idempotent"));
    assert_int_equal(up_gateway_instance_port(cfg, 18081, 2), 18281);
    hc_buf_cleanup(&out);
    free(cfg);
}

static void test_render_plain_text_unchanged(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_buf_t out;
    char err[256] = "";
    const char *tmpl = "events { worker_connections 1024; }\nlocation @fallback { }\n";
    hc_buf_init(&out, 4096);
    assert_int_equal(hc_buf_adds(&out, "# before\n"), 0);
    assert_int_equal(
        up_gateway_render(tmpl, cfg, "/tmp/run", "127.0.0.1:1", NULL, NULL, &out, err, sizeof err),
        0);
    /* appended after what the buffer held */
    assert_string_equal(hc_buf_str(&out),
                        "# before\nevents { worker_connections 1024; }\nlocation @fallback { }\n");
    hc_buf_cleanup(&out);
    free(cfg);
}

static void test_render_unknown_placeholder(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 4096);
    int rc = up_gateway_render("listen @NO_SUCH_THING@;\n", cfg, "/tmp/run", "127.0.0.1:1", NULL,
                               NULL, &out, err, sizeof err);
    assert_int_equal(rc, HC_EINVAL);
    if (strstr(err, "NO_SUCH_THING") == NULL)
        fail_msg("error does not name the placeholder: \"%s\"", err);
    hc_buf_cleanup(&out);
    free(cfg);
}

static void test_render_rejects_unsafe_run_dir(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    int rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/my run dir", "127.0.0.1:1", NULL, NULL,
                               &out, err, sizeof err);
    assert_int_equal(rc, HC_EINVAL);
    assert_true(err[0] != '\0');
    hc_buf_reset(&out);
    rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/evil;dir", "127.0.0.1:1", NULL, NULL, &out,
                           err, sizeof err);
    assert_int_equal(rc, HC_EINVAL);
    hc_buf_cleanup(&out);
    free(cfg);
}

/* Renders the built-in template for cfg; the caller frees the result. */
static char *render_builtin(const hc_config_t *cfg, const char *run_dir)
{
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    int rc = up_gateway_render(up_gateway_tmpl, cfg, run_dir, "127.0.0.1:1", NULL, NULL, &out, err,
                               sizeof err);
    if (rc != 0)
        fail_msg("render: %d: %s", rc, err);
    return hc_buf_take(&out);
}

/* Returns the number of lines of text that are the directive name (its first
 * word, after the indentation), i.e. not comments; the first such line goes
 * to line (size linelen) when line is not NULL. */
static int directive_count(const char *text, const char *name, char *line, size_t linelen)
{
    int count = 0;
    size_t n = strlen(name);
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *w = p;
        while (w < p + len && (*w == ' ' || *w == '\t'))
            w++;
        if ((size_t)(p + len - w) > n && strncmp(w, name, n) == 0 && (w[n] == ' ' || w[n] == ';')) {
            if (count++ == 0 && line)
                snprintf(line, linelen, "%.*s", (int)len, p);
        }
        p += len + (end ? 1 : 0);
    }
    return count;
}

/* Asserts that text has exactly one line of the directive name and that it
 * reads want (indentation included). */
static void assert_one_directive(const char *text, const char *name, const char *want)
{
    char line[512] = "";
    int count = directive_count(text, name, line, sizeof line);
    if (count != 1)
        fail_msg("%d lines of %s, expected 1 (\"%s\")", count, name, want);
    assert_string_equal(line, want);
}

/* Runs `nginx -t` on text (a config rendered for run_dir) when nginx is
 * installed; fails the test when nginx refuses it. */
static void assert_nginx_accepts(const char *text, const char *run_dir)
{
    char nginx[PATH_MAX];
    if (up_gateway_nginx_program("", nginx, sizeof nginx) != 0 || access(nginx, X_OK) != 0)
        return; /* no nginx here: the e2e suite runs it */
    char conf[512], tmp[512], cmd[2048];
    hc_test_path(conf, sizeof conf, run_dir, "nginx.conf");
    FILE *fp = fopen(conf, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    hc_test_path(tmp, sizeof tmp, run_dir, "tmp");
    assert_int_equal(mkdir(tmp, 0700), 0);
    int n = snprintf(cmd, sizeof cmd, "%s -t -q -p %s/ -c %s -e %s/error.log 2>%s/stderr", nginx,
                     run_dir, conf, run_dir, run_dir);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    int rc = system(cmd);
    if (rc != 0) {
        char log[512], msg[1024] = "";
        hc_test_path(log, sizeof log, run_dir, "stderr");
        fp = fopen(log, "r");
        if (fp) {
            size_t got = fread(msg, 1, sizeof msg - 1, fp);
            msg[got] = '\0';
            fclose(fp);
        }
        fail_msg("nginx -t refused the rendered config (%d): %s", rc, msg);
    }
}

/* The web app: its directory, its assets' version and the settings its pages
 * explain are put in; without one (NULL) its pages point at an empty place
 * in the run directory, and nginx accepts both. */
static void test_render_web_app(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    cfg->horizon_days = 30;
    cfg->cancel_cutoff_days = 2;
    char dir[PATH_MAX];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    assert_int_equal(up_gateway_render(up_gateway_tmpl, cfg, dir, "127.0.0.1:1", "/srv/hc-web",
                                       "0123456789abcdef", &out, err, sizeof err),
                     0);
    const char *text = hc_buf_str(&out);
    assert_non_null(strstr(text, "root /srv/hc-web;"));
    assert_non_null(strstr(text, "alias /srv/hc-web/assets/$1;"));
    assert_non_null(strstr(text, "sub_filter __HC_ASSET_VERSION__ 0123456789abcdef;"));
    assert_non_null(strstr(text, "sub_filter __HC_HORIZON_DAYS__ 30;"));
    assert_non_null(strstr(text, "sub_filter __HC_CANCEL_CUTOFF_DAYS__ 2;"));
    assert_non_null(strstr(text, "sub_filter __HC_TZ__ Asia/Seoul;"));
    assert_nginx_accepts(text, dir);
    hc_buf_cleanup(&out);
    hc_test_rmtree(dir);

    hc_test_mkdtemp(dir, sizeof dir);
    char *none = render_builtin(cfg, dir);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "root %s/no-web;", dir);
    assert_non_null(strstr(none, want));
    assert_nginx_accepts(none, dir);
    free(none);
    hc_test_rmtree(dir);
    free(cfg);
}

/* WORKER_USER: started by root, nginx's workers run as the user and group
 * that run `up` (not nginx's default, nobody, who cannot read a web app in a
 * mode 0700 tree); started by anyone else there is no `user` directive (nginx
 * would warn), only a comment. */
static void test_user_directive(void **state)
{
    (void)state;
    char out[640], want[640];
    struct passwd *pw = getpwuid(0);
    struct group *gr = getgrgid(0);
    assert_non_null(pw);
    assert_non_null(gr);
    snprintf(want, sizeof want, "user %s %s;", pw->pw_name, gr->gr_name);
    assert_int_equal(up_gateway_user_directive(0, 0, out, sizeof out), 0);
    assert_string_equal(out, want);
    /* root's own group need not be root's: the effective group is named */
    struct group *other = getgrnam("nogroup");
    if (!other)
        other = getgrnam("daemon");
    if (other) {
        snprintf(want, sizeof want, "user %s %s;", pw->pw_name, other->gr_name);
        assert_int_equal(up_gateway_user_directive(0, other->gr_gid, out, sizeof out), 0);
        assert_string_equal(out, want);
    }
    /* not root: a comment, never a directive */
    assert_int_equal(up_gateway_user_directive(1000, 1000, out, sizeof out), 0);
    assert_int_equal(out[0], '#');
    assert_int_equal(directive_count(out, "user", NULL, 0), 0);
    assert_int_equal(up_gateway_user_directive(65534, 0, out, sizeof out), 0);
    assert_int_equal(out[0], '#');
    /* root with a group nobody can name: nginx's default, said in a comment */
    gid_t unnamed = 3999999999u;
    if (!getgrgid(unnamed)) {
        assert_int_equal(up_gateway_user_directive(0, unnamed, out, sizeof out), HC_ENOTFOUND);
        assert_int_equal(out[0], '#');
        assert_non_null(strstr(out, "3999999999"));
    }
}

/* The rendered template carries WORKER_USER in the main context for the user
 * that runs this test: `user root root;` (say) as root, none otherwise; and
 * nginx accepts it. */
static void test_render_worker_user(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    char *text = render_builtin(cfg, dir);
    if (geteuid() == 0) {
        char want[640];
        assert_int_equal(up_gateway_user_directive(geteuid(), getegid(), want, sizeof want), 0);
        assert_true(strncmp(want, "user ", 5) == 0);
        assert_one_directive(text, "user", want);
        /* before the first block: `user` belongs to the main context */
        assert_true(strstr(text, want) < strstr(text, "events {"));
    } else {
        assert_int_equal(directive_count(text, "user", NULL, 0), 0);
        assert_non_null(strstr(text, "# not run as root"));
    }
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_render_rate_limit_defaults(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->auth_rate_limit_rpm = 0; /* sign-in's own: test_render_auth_limit */
    char *text = render_builtin(cfg, dir);
    assert_int_equal(cfg->rate_limit_rps, 20);
    assert_int_equal(cfg->rate_limit_burst, 40);
    assert_int_equal(cfg->rate_limit_connections, 20);
    assert_one_directive(text, "limit_req_zone",
                         "    limit_req_zone $hc_limit_key zone=hc_req:10m rate=20r/s;");
    assert_one_directive(text, "limit_req", "    limit_req zone=hc_req burst=40 nodelay;");
    assert_one_directive(text, "limit_conn_zone",
                         "    limit_conn_zone $hc_limit_key zone=hc_conn:10m;");
    assert_one_directive(text, "limit_conn", "    limit_conn hc_conn 20;");
    assert_one_directive(text, "limit_req_status", "    limit_req_status 429;");
    assert_one_directive(text, "limit_conn_status", "    limit_conn_status 429;");
    /* no proxy is trusted: the header is named but nginx never reads it */
    assert_int_equal(directive_count(text, "set_real_ip_from", NULL, 0), 0);
    assert_one_directive(text, "real_ip_header", "    real_ip_header X-Forwarded-For;");
    assert_one_directive(text, "real_ip_recursive", "    real_ip_recursive on;");
    /* 429 is answered as JSON with Retry-After, and the key spares health and metrics */
    assert_non_null(strstr(text, "error_page 429 =429 /gateway/error;"));
    assert_non_null(strstr(text, "429 '{\"error\":\"too_many_requests\""));
    assert_non_null(strstr(text, "map $uri $hc_limit_key {"));
    assert_non_null(strstr(text, "\"~^/(gateway|actuator)/health(/|$)\" \"\";"));
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_render_rate_limits_off(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->rate_limit_rps = 0;
    cfg->rate_limit_connections = 0;
    cfg->auth_rate_limit_rpm = 0; /* sign-in's own: test_render_auth_limit */
    char *text = render_builtin(cfg, dir);
    /* 0 leaves no directive of either limit, only a comment saying so */
    assert_int_equal(directive_count(text, "limit_req_zone", NULL, 0), 0);
    assert_int_equal(directive_count(text, "limit_req", NULL, 0), 0);
    assert_int_equal(directive_count(text, "limit_conn_zone", NULL, 0), 0);
    assert_int_equal(directive_count(text, "limit_conn", NULL, 0), 0);
    assert_non_null(strstr(text, "    # HC_RATE_LIMIT_RPS is 0: no request rate limit\n"));
    assert_non_null(strstr(text, "    # HC_RATE_LIMIT_CONNECTIONS is 0: no limit"));
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);

    /* each limit is switched on and off by itself */
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->rate_limit_rps = 5;
    text = render_builtin(cfg, dir);
    assert_one_directive(text, "limit_req", "    limit_req zone=hc_req burst=40 nodelay;");
    assert_int_equal(directive_count(text, "limit_conn", NULL, 0), 0);
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_render_burst_zero_has_no_burst(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->rate_limit_rps = 7;
    cfg->rate_limit_burst = 0; /* nginx refuses burst=0: the parameter is left out */
    cfg->rate_limit_connections = 3;
    cfg->auth_rate_limit_rpm = 0; /* sign-in's own: test_render_auth_limit */
    char *text = render_builtin(cfg, dir);
    assert_one_directive(text, "limit_req_zone",
                         "    limit_req_zone $hc_limit_key zone=hc_req:10m rate=7r/s;");
    assert_one_directive(text, "limit_req", "    limit_req zone=hc_req;");
    assert_one_directive(text, "limit_conn", "    limit_conn hc_conn 3;");
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

/* Sign-in's own limit: its zone in the http block, and in the /auth location
 * its limit_req with the general one repeated (a location with a limit_req
 * of its own inherits none); off, only the general limit applies there. */
static void test_render_auth_limit(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    assert_int_equal(cfg->auth_rate_limit_rpm, 60);
    assert_int_equal(cfg->auth_rate_limit_burst, 20);
    char *text = render_builtin(cfg, dir);
    assert_non_null(
        strstr(text, "    limit_req_zone $hc_limit_key zone=hc_auth:10m rate=60r/m;\n"));
    const char *loc = strstr(text, "location ~ ^/auth(/|$) {");
    assert_non_null(loc);
    const char *end = strchr(loc, '}');
    const char *general = strstr(loc, "limit_req zone=hc_req burst=40 nodelay;");
    const char *own = strstr(loc, "limit_req zone=hc_auth burst=20 nodelay;");
    assert_true(general && general < end && own && own < end);
    assert_int_equal(directive_count(text, "limit_req", NULL, 0), 3);
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);

    /* without the general limit, only sign-in's */
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->rate_limit_rps = 0;
    cfg->auth_rate_limit_burst = 0;
    text = render_builtin(cfg, dir);
    assert_one_directive(text, "limit_req", "            limit_req zone=hc_auth;");
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);

    /* off: a comment, and the location inherits the general limit */
    hc_test_mkdtemp(dir, sizeof dir);
    cfg->rate_limit_rps = 20;
    cfg->auth_rate_limit_rpm = 0;
    text = render_builtin(cfg, dir);
    assert_int_equal(directive_count(text, "limit_req_zone", NULL, 0), 1);
    assert_non_null(strstr(text, "# HC_AUTH_RATE_LIMIT_RPM is 0: the general limits only"));
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_render_trusted_proxies(void **state)
{
    (void)state;
    hc_test_clear_hc_env();
    setenv("HC_TRUSTED_PROXY", " 10.0.0.0/8, 192.168.1.7 2001:db8::/32,::1", 1);
    setenv("HC_REAL_IP_HEADER", "X-Real-IP", 1);
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    char err[256] = "", dir[256];
    assert_non_null(cfg);
    if (hc_config_load(cfg, err, sizeof err) != 0)
        fail_msg("hc_config_load: %s", err);
    hc_test_clear_hc_env();
    hc_test_mkdtemp(dir, sizeof dir);
    char *text = render_builtin(cfg, dir);
    /* one set_real_ip_from per proxy, each indented like the others around it */
    assert_non_null(strstr(text, "\n    set_real_ip_from 10.0.0.0/8;\n"
                                 "    set_real_ip_from 192.168.1.7;\n"
                                 "    set_real_ip_from 2001:db8::/32;\n"
                                 "    set_real_ip_from ::1;\n"
                                 "    real_ip_header X-Real-IP;\n"));
    assert_int_equal(directive_count(text, "set_real_ip_from", NULL, 0), 4);
    assert_nginx_accepts(text, dir);
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_render_directive_lines_keep_the_indentation(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_strlcpy(cfg->trusted_proxy, "10.1.2.3,10.4.5.6", sizeof cfg->trusted_proxy);
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 4096);
    assert_int_equal(up_gateway_render("http {\n\t  @REAL_IP_FROM@\n  x @LIMIT_CONN@\n}\n", cfg,
                                       "/tmp/run", "127.0.0.1:1", NULL, NULL, &out, err,
                                       sizeof err),
                     0);
    /* after the line's own blanks; not after other text before the placeholder */
    assert_string_equal(hc_buf_str(&out), "http {\n"
                                          "\t  set_real_ip_from 10.1.2.3;\n"
                                          "\t  set_real_ip_from 10.4.5.6;\n"
                                          "  x limit_conn_zone $hc_limit_key zone=hc_conn:10m;\n"
                                          "limit_conn hc_conn 20;\n"
                                          "}\n");
    hc_buf_cleanup(&out);
    free(cfg);
}

static void test_render_rejects_unsafe_proxy_values(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_buf_t out;
    char err[256] = "";
    hc_buf_init(&out, 1 << 20);
    /* hc_config_load refuses these; the renderer does not rely on it */
    hc_strlcpy(cfg->trusted_proxy, "10.0.0.1,10.0.0.2;include /etc/passwd",
               sizeof cfg->trusted_proxy);
    assert_int_equal(up_gateway_render(up_gateway_tmpl, cfg, "/tmp/run", "127.0.0.1:1", NULL, NULL,
                                       &out, err, sizeof err),
                     HC_EINVAL);
    assert_non_null(strstr(err, "HC_TRUSTED_PROXY"));
    hc_buf_reset(&out);
    hc_strlcpy(cfg->trusted_proxy, "", sizeof cfg->trusted_proxy);
    hc_strlcpy(cfg->real_ip_header, "X-A;deny", sizeof cfg->real_ip_header);
    err[0] = '\0';
    assert_int_equal(up_gateway_render(up_gateway_tmpl, cfg, "/tmp/run", "127.0.0.1:1", NULL, NULL,
                                       &out, err, sizeof err),
                     HC_EINVAL);
    assert_non_null(strstr(err, "REAL_IP_HEADER"));
    hc_buf_cleanup(&out);
    free(cfg);
}

/* up_gateway_write_config with HC_WEB_DIR: a directory without index.html
 * stops `up` naming the setting (and writes nothing); a real one is what the
 * config serves. */
static void test_write_config_web_dir(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    char dir[256], web[512], assets[PATH_MAX], conf[PATH_MAX], file[PATH_MAX];
    char source[PATH_MAX + 16] = "", err[PATH_MAX + 256] = "";
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(conf, sizeof conf, dir, "nginx.conf");
    hc_test_path(web, sizeof web, dir, "web");
    assert_int_equal(mkdir(web, 0700), 0);
    snprintf(cfg->web_dir, sizeof cfg->web_dir, "%s", web);
    assert_int_equal(up_gateway_write_config(cfg, dir, "127.0.0.1:1", conf, source, sizeof source,
                                             err, sizeof err),
                     HC_EINVAL);
    assert_non_null(strstr(err, "HC_WEB_DIR"));
    assert_int_not_equal(access(conf, F_OK), 0);

    hc_test_path(file, sizeof file, web, "index.html");
    assert_int_equal(up_fs_write_file(file, "<!doctype html>"), 0);
    hc_test_path(assets, sizeof assets, web, "assets");
    assert_int_equal(mkdir(assets, 0700), 0);
    assert_int_equal(up_gateway_write_config(cfg, dir, "127.0.0.1:1", conf, source, sizeof source,
                                             err, sizeof err),
                     0);
    char *text = up_fs_read_file(conf, 1 << 20);
    assert_non_null(text);
    char want[PATH_MAX + 16], real[PATH_MAX];
    assert_non_null(realpath(web, real));
    snprintf(want, sizeof want, "root %s;", real);
    assert_non_null(strstr(text, want));
    free(text);
    hc_test_rmtree(dir);
    free(cfg);
}

static void test_load_template_from_env_file(void **state)
{
    (void)state;
    char dir[256], path[512], source[512] = "", err[256] = "";
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "gw.tmpl");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("listen @GATEWAY_PORT@;\n", fp);
    fclose(fp);

    setenv("HC_GATEWAY_TEMPLATE", path, 1);
    char *text = up_gateway_load_template(NULL, source, sizeof source, err, sizeof err);
    if (text == NULL)
        fail_msg("load_template: %s", err);
    assert_string_equal(text, "listen @GATEWAY_PORT@;\n");
    assert_non_null(strstr(source, "gw.tmpl"));
    free(text);

    /* named but unreadable: an error, not a silent fallback */
    hc_test_path(path, sizeof path, dir, "missing.tmpl");
    setenv("HC_GATEWAY_TEMPLATE", path, 1);
    err[0] = '\0';
    text = up_gateway_load_template(NULL, source, sizeof source, err, sizeof err);
    assert_null(text);
    assert_true(err[0] != '\0');
    unsetenv("HC_GATEWAY_TEMPLATE");
    hc_test_rmtree(dir);
}

static void test_load_template_builtin_fallback(void **state)
{
    (void)state;
    char dir[256], source[512] = "", err[256] = "";
    unsetenv("HC_GATEWAY_TEMPLATE");
    /* an exe_dir with no ../gateway or ../share beside it */
    hc_test_mkdtemp(dir, sizeof dir);
    char sub[512];
    hc_test_path(sub, sizeof sub, dir, "bin");
    assert_int_equal(mkdir(sub, 0700), 0);
    char *text = up_gateway_load_template(sub, source, sizeof source, err, sizeof err);
    if (text == NULL)
        fail_msg("load_template: %s", err);
    assert_string_equal(text, up_gateway_tmpl);
    assert_true(source[0] != '\0');
    free(text);

    /* <exe_dir>/../gateway/nginx.conf.tmpl wins over the built-in copy */
    char gw[512], file[600];
    hc_test_path(gw, sizeof gw, dir, "gateway");
    assert_int_equal(mkdir(gw, 0700), 0);
    hc_test_path(file, sizeof file, gw, "nginx.conf.tmpl");
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fputs("# from the source tree\n", fp);
    fclose(fp);
    text = up_gateway_load_template(sub, source, sizeof source, err, sizeof err);
    assert_non_null(text);
    assert_string_equal(text, "# from the source tree\n");
    assert_non_null(strstr(source, "nginx.conf.tmpl"));
    free(text);
    hc_test_rmtree(dir);
}

/* Writes an executable (mode) shell script dir/name; its path goes to out. */
static void write_program(char *out, size_t size, const char *dir, const char *name, mode_t mode)
{
    hc_test_path(out, size, dir, name);
    FILE *fp = fopen(out, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\nexit 0\n", fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(out, mode), 0);
}

static void test_nginx_program_is_hc_nginx_when_it_is_executable(void **state)
{
    (void)state;
    char dir[256], prog[512], out[PATH_MAX];
    hc_test_mkdtemp(dir, sizeof dir);
    write_program(prog, sizeof prog, dir, "my-nginx", 0755);
    assert_int_equal(up_gateway_nginx_program(prog, out, sizeof out), 0);
    assert_string_equal(out, prog);

    /* not executable, or not there: an error, no fallback to another nginx */
    write_program(prog, sizeof prog, dir, "plain-file", 0644);
    assert_int_equal(up_gateway_nginx_program(prog, out, sizeof out), HC_ENOTFOUND);
    hc_test_path(prog, sizeof prog, dir, "missing");
    assert_int_equal(up_gateway_nginx_program(prog, out, sizeof out), HC_ENOTFOUND);
    hc_test_rmtree(dir);
}

static void test_nginx_program_bare_hc_nginx_is_a_path_not_a_path_search(void **state)
{
    (void)state;
    char dir[256], prog[512], out[PATH_MAX], cwd[PATH_MAX];
    hc_test_mkdtemp(dir, sizeof dir);
    write_program(prog, sizeof prog, dir, "my-nginx", 0755);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    int found = up_gateway_nginx_program("my-nginx", out, sizeof out);
    /* "sh" is in PATH but not in this directory */
    int in_path_only = up_gateway_nginx_program("sh", out + 256, sizeof out - 256);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(found, 0);
    assert_string_equal(out, "./my-nginx"); /* execvp takes it as a path */
    assert_int_equal(in_path_only, HC_ENOTFOUND);
    hc_test_rmtree(dir);
}

static void test_nginx_program_default_is_a_usual_place_else_left_to_path(void **state)
{
    (void)state;
    char out[PATH_MAX];
    assert_int_equal(up_gateway_nginx_program("", out, sizeof out), 0);
    if (access("/usr/sbin/nginx", X_OK) == 0) {
        assert_string_equal(out, "/usr/sbin/nginx");
    } else if (strcmp(out, "nginx") != 0) {
        /* one of the other usual places, and executable */
        if (strcmp(out, "/usr/local/sbin/nginx") != 0 &&
            strcmp(out, "/usr/local/nginx/sbin/nginx") != 0)
            fail_msg("unexpected nginx program \"%s\"", out);
        assert_int_equal(access(out, X_OK), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_builtin_template),
        cmocka_unit_test(test_render_plain_text_unchanged),
        cmocka_unit_test(test_render_unknown_placeholder),
        cmocka_unit_test(test_render_rejects_unsafe_run_dir),
        cmocka_unit_test(test_render_web_app),
        cmocka_unit_test(test_user_directive),
        cmocka_unit_test(test_render_worker_user),
        cmocka_unit_test(test_render_rate_limit_defaults),
        cmocka_unit_test(test_render_rate_limits_off),
        cmocka_unit_test(test_render_auth_limit),
        cmocka_unit_test(test_render_burst_zero_has_no_burst),
        cmocka_unit_test(test_render_trusted_proxies),
        cmocka_unit_test(test_render_directive_lines_keep_the_indentation),
        cmocka_unit_test(test_render_rejects_unsafe_proxy_values),
        cmocka_unit_test(test_write_config_web_dir),
        cmocka_unit_test(test_load_template_from_env_file),
        cmocka_unit_test(test_load_template_builtin_fallback),
        cmocka_unit_test(test_nginx_program_is_hc_nginx_when_it_is_executable),
        cmocka_unit_test(test_nginx_program_bare_hc_nginx_is_a_path_not_a_path_search),
        cmocka_unit_test(test_nginx_program_default_is_a_usual_place_else_left_to_path),
        cmocka_unit_test(test_render_scaled_upstreams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
