/* hc_test: small helpers shared by the unit tests: a private temp directory per
 * test (created with mkdtemp, removed recursively) and path joining. */
#ifndef HC_TEST_H
#define HC_TEST_H

/* cmocka.h needs these four first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Creates a fresh directory under $TMPDIR (or /tmp) and writes its path into
 * dir (at least 256 bytes). Fails the test when it cannot. */
static inline void hc_test_mkdtemp(char *dir, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(dir, size, "%s/hc_unit_XXXXXX", base);
    assert_true(n > 0 && (size_t)n < size);
    assert_non_null(mkdtemp(dir));
}

static inline int hc_test_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes dir and everything below it. */
static inline void hc_test_rmtree(const char *dir)
{
    if (dir != NULL && dir[0] != '\0')
        nftw(dir, hc_test_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes dir/name into out (size bytes). */
static inline void hc_test_path(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

/* Monotonic clock in milliseconds, for bounding waits. */
static inline int64_t hc_test_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns 1 when s is exactly n lowercase hex digits. */
static inline int hc_test_is_lower_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return 0;
    }
    return 1;
}

extern char **environ;

/* Removes every HC_* variable from the environment, so that a test starts
 * from the configuration's defaults. */
static inline void hc_test_clear_hc_env(void)
{
    for (;;) {
        char name[256];
        int found = 0;
        for (char **e = environ; e != NULL && *e != NULL; e++) {
            if (strncmp(*e, "HC_", 3) == 0) {
                const char *eq = strchr(*e, '=');
                size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
                if (len >= sizeof name)
                    len = sizeof name - 1;
                memcpy(name, *e, len);
                name[len] = '\0';
                found = 1;
                break;
            }
        }
        if (!found)
            break;
        unsetenv(name); /* environ changed: scan again */
    }
}

/* Returns 1 when s is an RFC 9562 UUID of the given version (4: random, 7:
 * time-ordered) in lowercase 8-4-4-4-12 form. */
static inline int hc_test_is_uuid(const char *s, int version)
{
    if (strlen(s) != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-')
                return 0;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    if (s[14] != '0' + version)
        return 0;
    return s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b';
}

#endif
