/* Checks up_fs: mkdir -p (nested, existing, in the way, empty), whole-file
 * reads with a bound, and replacing a file through a temporary. */
#include "hc_test.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>

#include "hc_err.h"
#include "up/up_fs.h"

/* Returns 1 when path is a directory. */
static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Returns the number of entries of dir, . and .. aside. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_mkdir_p_makes_every_missing_parent(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "a/b/c");
    assert_int_equal(up_fs_mkdir_p(path), 0);
    assert_true(is_dir(path));
    assert_int_equal(up_fs_mkdir_p(path), 0);       /* there already: fine */
    hc_test_path(path, sizeof path, dir, "a/b/c/"); /* a trailing slash too */
    assert_int_equal(up_fs_mkdir_p(path), 0);
    hc_test_rmtree(dir);
}

static void test_mkdir_p_fails_on_a_file_in_the_way(void **state)
{
    (void)state;
    char dir[256], file[512], path[600];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(file, sizeof file, dir, "file");
    assert_int_equal(up_fs_write_file(file, "x"), 0);
    errno = 0;
    assert_int_equal(up_fs_mkdir_p(file), HC_EIO);
    assert_int_equal(errno, ENOTDIR);
    hc_test_path(path, sizeof path, file, "below");
    errno = 0;
    assert_int_equal(up_fs_mkdir_p(path), HC_EIO);
    assert_int_equal(errno, ENOTDIR);

    char too_long[PATH_MAX + 8];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    errno = 0;
    assert_int_equal(up_fs_mkdir_p(too_long), HC_EIO);
    assert_int_equal(errno, ENAMETOOLONG);
    hc_test_rmtree(dir);
}

/* Fills 16 KB of the stack below the caller's frame with 'x': no NUL to stop
 * a scan that has run past the end of a string, and no '/'. */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile char junk[4 * PATH_MAX];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 'x';
}

/* Calls up_fs_mkdir_p(path) one frame of 1 KB deeper than dirty_stack's
 * locals began, so that all of mkdir_p's buffer lies where 'x' was written. */
static __attribute__((noinline)) int mkdir_p_on_dirty_stack(const char *path)
{
    volatile char pad[1024];
    pad[0] = 0;
    int rc = up_fs_mkdir_p(path);
    return rc + pad[0];
}

/* Regression: up_fs_mkdir_p("") started scanning at the byte after the
 * string's NUL and read the uninitialised rest of its buffer, and past its
 * end when that held no zero (which ASan reports, given the stack below). An empty path names no
 * directory: it fails with ENOENT, as mkdir("") does, and creates nothing. */
static void test_mkdir_p_of_an_empty_path_fails_without_reading_past_it(void **state)
{
    (void)state;
    char dir[256], cwd[PATH_MAX];
    hc_test_mkdtemp(dir, sizeof dir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    dirty_stack();
    errno = 0;
    int rc = mkdir_p_on_dirty_stack("");
    int e = errno;
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, HC_EIO);
    assert_int_equal(e, ENOENT);
    assert_int_equal(entries(dir), 0);
    hc_test_rmtree(dir);
}

static void test_read_file_whole_and_bounded(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "t");
    assert_int_equal(up_fs_write_file(path, "0123456789"), 0);
    char *text = up_fs_read_file(path, 10);
    assert_non_null(text);
    assert_string_equal(text, "0123456789");
    free(text);
    errno = 0;
    assert_null(up_fs_read_file(path, 9)); /* one byte over */
    assert_int_equal(errno, EFBIG);

    assert_int_equal(up_fs_write_file(path, ""), 0);
    text = up_fs_read_file(path, 10);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);

    hc_test_path(path, sizeof path, dir, "missing");
    errno = 0;
    assert_null(up_fs_read_file(path, 10));
    assert_int_equal(errno, ENOENT);
    hc_test_rmtree(dir);
}

static void test_write_file_replaces_and_leaves_no_temporary(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "nginx.conf");
    assert_int_equal(up_fs_write_file(path, "first\n"), 0);
    assert_int_equal(up_fs_write_file(path, "second\n"), 0);
    char *text = up_fs_read_file(path, 100);
    assert_non_null(text);
    assert_string_equal(text, "second\n");
    free(text);
    assert_int_equal(entries(dir), 1); /* no nginx.conf.tmp */

    hc_test_path(path, sizeof path, dir, "no-such-dir/nginx.conf");
    errno = 0;
    assert_int_equal(up_fs_write_file(path, "x"), HC_EIO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(entries(dir), 1);
    hc_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_p_makes_every_missing_parent),
        cmocka_unit_test(test_mkdir_p_fails_on_a_file_in_the_way),
        cmocka_unit_test(test_mkdir_p_of_an_empty_path_fails_without_reading_past_it),
        cmocka_unit_test(test_read_file_whole_and_bounded),
        cmocka_unit_test(test_write_file_replaces_and_leaves_no_temporary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
