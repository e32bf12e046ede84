/* Checks up_web: finding the web app (HC_WEB_DIR, next to the binary, none)
 * and the assets' version, which changes with any asset's contents. */
#include "hc_test.h"

#include <limits.h>
#include <sys/stat.h>

#include "hc_err.h"
#include "up/up_fs.h"
#include "up/up_web.h"

/* Writes text into dir/name. */
static void put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    hc_test_path(path, sizeof path, dir, name);
    assert_int_equal(up_fs_write_file(path, text), 0);
}

static void test_find_setting_needs_an_index(void **state)
{
    (void)state;
    char dir[PATH_MAX], out[PATH_MAX], err[PATH_MAX + 128] = "";
    hc_test_mkdtemp(dir, sizeof dir);
    assert_int_equal(up_web_find(dir, NULL, out, sizeof out, err, sizeof err), HC_ENOTFOUND);
    assert_non_null(strstr(err, "HC_WEB_DIR"));
    put(dir, "index.html", "<!doctype html>");
    assert_int_equal(up_web_find(dir, NULL, out, sizeof out, err, sizeof err), 0);
    char real[PATH_MAX];
    assert_non_null(realpath(dir, real));
    assert_string_equal(out, real);
    hc_test_rmtree(dir);
}

static void test_find_next_to_the_binary(void **state)
{
    (void)state;
    char dir[PATH_MAX], bin[PATH_MAX], web[PATH_MAX], out[PATH_MAX], err[PATH_MAX + 128] = "";
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(bin, sizeof bin, dir, "bin");
    hc_test_path(web, sizeof web, dir, "web");
    assert_int_equal(mkdir(bin, 0700), 0);
    /* nothing there: not found, and the message says where it looked */
    assert_int_equal(up_web_find("", bin, out, sizeof out, err, sizeof err), HC_ENOTFOUND);
    assert_non_null(strstr(err, "/../web"));
    assert_int_equal(mkdir(web, 0700), 0);
    put(web, "index.html", "<!doctype html>");
    assert_int_equal(up_web_find("", bin, out, sizeof out, err, sizeof err), 0);
    char real[PATH_MAX];
    assert_non_null(realpath(web, real));
    assert_string_equal(out, real);
    hc_test_rmtree(dir);
}

static void test_version_follows_the_assets(void **state)
{
    (void)state;
    char dir[PATH_MAX], assets[PATH_MAX], v1[32], v2[32], v3[32];
    hc_test_mkdtemp(dir, sizeof dir);
    assert_int_equal(up_web_version(dir, v1, sizeof v1), HC_EIO);
    assert_string_equal(v1, "0");
    hc_test_path(assets, sizeof assets, dir, "assets");
    assert_int_equal(mkdir(assets, 0700), 0);
    put(assets, "app.js", "export const a = 1;\n");
    put(assets, "app.css", "body { color: #111; }\n");
    assert_int_equal(up_web_version(dir, v1, sizeof v1), 0);
    assert_int_equal(strlen(v1), 16);
    assert_true(hc_test_is_lower_hex(v1, 16));
    assert_int_equal(up_web_version(dir, v2, sizeof v2), 0);
    assert_string_equal(v1, v2); /* the same files, the same version */
    put(assets, "app.js", "export const a = 2;\n");
    assert_int_equal(up_web_version(dir, v3, sizeof v3), 0);
    assert_string_not_equal(v1, v3);
    hc_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_setting_needs_an_index),
        cmocka_unit_test(test_find_next_to_the_binary),
        cmocka_unit_test(test_version_follows_the_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
