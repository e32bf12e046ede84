/* Checks up_gateway: rendering the gateway template (placeholders, bad values),
 * finding it (HC_GATEWAY_TEMPLATE, next to the binary, built in) and picking
 * the nginx program (HC_NGINX, the usual places, else PATH). */
#include "hc_test.h"

#include <ctype.h>
#include <limits.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
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
    int rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/hc-run-dir", &out, err, sizeof err);
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

static void test_render_plain_text_unchanged(void **state)
{
    (void)state;
    hc_config_t *cfg = default_config();
    hc_buf_t out;
    char err[256] = "";
    const char *tmpl = "events { worker_connections 1024; }\nlocation @fallback { }\n";
    hc_buf_init(&out, 4096);
    assert_int_equal(hc_buf_adds(&out, "# before\n"), 0);
    assert_int_equal(up_gateway_render(tmpl, cfg, "/tmp/run", &out, err, sizeof err), 0);
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
    int rc = up_gateway_render("listen @NO_SUCH_THING@;\n", cfg, "/tmp/run", &out, err, sizeof err);
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
    int rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/my run dir", &out, err, sizeof err);
    assert_int_equal(rc, HC_EINVAL);
    assert_true(err[0] != '\0');
    hc_buf_reset(&out);
    rc = up_gateway_render(up_gateway_tmpl, cfg, "/tmp/evil;dir", &out, err, sizeof err);
    assert_int_equal(rc, HC_EINVAL);
    hc_buf_cleanup(&out);
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
        cmocka_unit_test(test_load_template_from_env_file),
        cmocka_unit_test(test_load_template_builtin_fallback),
        cmocka_unit_test(test_nginx_program_is_hc_nginx_when_it_is_executable),
        cmocka_unit_test(test_nginx_program_bare_hc_nginx_is_a_path_not_a_path_search),
        cmocka_unit_test(test_nginx_program_default_is_a_usual_place_else_left_to_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
