/* Checks hc_proc: /proc/<pid>/stat, /proc/stat's btime and /proc/<pid>/limits parsed from
 * given text (odd command names, negative fields, short or broken text), and a read of this
 * very process. */
#include "hc_test.h"

#include <malloc.h>
#include <sys/resource.h>

#include "hc_err.h"
#include "hc_proc.h"

/* A real line's shape: utime 250, stime 150, starttime 1000 ticks, vsize
 * 400000000, rss 3000 pages; tpgid, priority and nice negative. */
#define STAT_TAIL                                                                                  \
    " S 1 20 20 0 -1 4194560 2100 0 3 0 250 150 0 0 -20 -5 12 0 1000 400000000 3000 "              \
    "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"

static void test_parse_stat(void **state)
{
    (void)state;
    hc_proc_stat_t p;
    memset(&p, 0, sizeof p);
    assert_int_equal(hc_proc_parse_stat("4242 (healthcenter)" STAT_TAIL, 100, 4096, 1700000000, &p),
                     0);
    assert_true(p.cpu_seconds > 3.999 && p.cpu_seconds < 4.001);
    assert_true(p.start_time > 1700000009.999 && p.start_time < 1700000010.001);
    assert_int_equal(p.virtual_bytes, 400000000);
    assert_int_equal(p.resident_bytes, 3000 * 4096);
}

/* The command name is whatever the process set: spaces and parentheses too. */
static void test_parse_stat_odd_command_name(void **state)
{
    (void)state;
    hc_proc_stat_t p;
    memset(&p, 0, sizeof p);
    assert_int_equal(hc_proc_parse_stat("7 (a) b (c) 1 2)" STAT_TAIL, 100, 4096, 0, &p), 0);
    assert_int_equal(p.virtual_bytes, 400000000);
    assert_true(p.start_time > 9.999 && p.start_time < 10.001);
}

static void test_parse_stat_refuses_broken_text(void **state)
{
    (void)state;
    hc_proc_stat_t p, before;
    memset(&p, 0x5a, sizeof p);
    before = p;
    static const char *const bad[] = {
        "",
        "4242 healthcenter S 1 2",                                       /* no parentheses */
        "4242 (hc) S 1 20 20 0 -1 4194560 2100 0 3 0 250 150 0 0 -20 0", /* cut before rss */
        "4242 (hc) S 1 20 20 0 -1 4194560 2100 0 3 0 x 150 0 0 -20 -5 12 0 1000 4 3 0\n",
        "4242 (hc) S 1 20 20 0 -1 4194560 2100 0 3 0 99999999999999999999999 150 0 0 -20 -5 12 0 "
        "1000 4 3 0\n", /* overflows */
        "4242 (hc)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hc_proc_parse_stat(bad[i], 100, 4096, 0, &p) != HC_EINVAL)
            fail_msg("took \"%s\"", bad[i]);
        assert_memory_equal(&p, &before, sizeof p);
    }
    assert_int_equal(hc_proc_parse_stat("1 (x)" STAT_TAIL, 0, 4096, 0, &p), HC_EINVAL);
    assert_int_equal(hc_proc_parse_stat(NULL, 100, 4096, 0, &p), HC_EINVAL);
}

static void test_parse_btime(void **state)
{
    (void)state;
    int64_t bt = 0;
    assert_int_equal(hc_proc_parse_btime("cpu  1 2 3\ncpu0 1 2 3\nintr 5 0 0\nctxt 99\n"
                                         "btime 1764547200\nprocesses 4\n",
                                         &bt),
                     0);
    assert_int_equal(bt, 1764547200);
    assert_int_equal(hc_proc_parse_btime("btime 12", &bt), 0);
    assert_int_equal(bt, 12);
    assert_int_equal(hc_proc_parse_btime("cpu 1\nprocesses 4\n", &bt), HC_EINVAL);
    assert_int_equal(hc_proc_parse_btime("btime x\n", &bt), HC_EINVAL);
    assert_int_equal(hc_proc_parse_btime("xbtime 5\n", &bt), HC_EINVAL);
    assert_int_equal(hc_proc_parse_btime("", &bt), HC_EINVAL);
}

static void test_parse_max_fds(void **state)
{
    (void)state;
    static const char limits[] =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max open files            1024                 1048576              files     \n"
        "Max locked memory         8388608              8388608              bytes     \n";
    int64_t n = 0;
    assert_int_equal(hc_proc_parse_max_fds(limits, &n), 0);
    assert_int_equal(n, 1024); /* the soft limit: the one that refuses an open */
    assert_int_equal(hc_proc_parse_max_fds("Max open files            unlimited            "
                                           "unlimited            files     \n",
                                           &n),
                     0);
    assert_int_equal(n, -1);
    assert_int_equal(hc_proc_parse_max_fds("Max cpu time unlimited unlimited seconds\n", &n),
                     HC_EINVAL);
    assert_int_equal(hc_proc_parse_max_fds("Max open files            lots\n", &n), HC_EINVAL);
    assert_int_equal(hc_proc_parse_max_fds("", &n), HC_EINVAL);
}

/* This process: numbers a live process has. */
static void test_read_self(void **state)
{
    (void)state;
    hc_proc_stat_t p;
    assert_int_equal(hc_proc_read(&p), 0);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur == RLIM_INFINITY)
        assert_int_equal(p.max_fds, -1);
    else
        assert_int_equal(p.max_fds, (int64_t)rl.rlim_cur);
    assert_true(p.open_fds >= 3); /* stdin, stdout, stderr */
    int extra = dup(STDERR_FILENO);
    assert_true(extra >= 0);
    hc_proc_stat_t q;
    assert_int_equal(hc_proc_read(&q), 0);
    assert_int_equal(q.open_fds, p.open_fds + 1);
    close(extra);
    assert_true(p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes);
    assert_true(p.cpu_seconds >= 0);
    double now = (double)time(NULL);
    /* started before now, and not long before (the test just began) */
    assert_true(p.start_time <= now + 2 && p.start_time > now - 600);
}

static void test_malloc_set_by_env(void **state)
{
    (void)state;
    char *none[] = {"HOME=/root", "HC_DATA_DIR=/tmp", "MALLOC_CHECK_=3", NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(none), 0);
    assert_int_equal(hc_proc_malloc_set_by_env(NULL), 0);
    char *arena[] = {"HOME=/root", "MALLOC_ARENA_MAX=4", NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(arena), 1);
    char *trim[] = {"MALLOC_TRIM_THRESHOLD_=0", NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(trim), 1);
    char *mmap_[] = {"MALLOC_MMAP_THRESHOLD_=65536", NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(mmap_), 1);
    char *tun[] = {"GLIBC_TUNABLES=glibc.rtld.optional_static_tls=512:glibc.malloc.arena_max=1",
                   NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(tun), 1);
    char *other_tun[] = {"GLIBC_TUNABLES=glibc.rtld.optional_static_tls=512", NULL};
    assert_int_equal(hc_proc_malloc_set_by_env(other_tun), 0);
}

#ifndef __SANITIZE_ADDRESS__ /* AddressSanitizer replaces glibc's malloc: nothing to tune */
/* After hc_proc_tune_malloc a block of 200 KiB still gets a mapping of its
 * own (given back when freed) after a freed 1 MiB block: glibc alone would
 * have raised its mmap threshold to 1 MiB on that free, and then served
 * (and kept) the 200 KiB from its heap. Runs first, before any other test
 * allocates large blocks. */
static void test_tune_malloc_keeps_thresholds(void **state)
{
    (void)state;
    const char *vars[] = {"MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                          "MALLOC_TOP_PAD_", "GLIBC_TUNABLES"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    assert_int_equal(hc_proc_tune_malloc(), 1);
    size_t mapped = mallinfo2().hblkhd;
    void *big = malloc(1024 * 1024);
    assert_non_null(big);
    assert_true(mallinfo2().hblkhd >= mapped + 1024 * 1024);
    free(big);
    void *mid = malloc(200 * 1024);
    assert_non_null(mid);
    assert_true(mallinfo2().hblkhd >= mapped + 200 * 1024);
    free(mid);
    assert_int_equal(mallinfo2().hblkhd, mapped);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifndef __SANITIZE_ADDRESS__
        cmocka_unit_test(test_tune_malloc_keeps_thresholds),
#endif
        cmocka_unit_test(test_malloc_set_by_env),
        cmocka_unit_test(test_parse_stat),
        cmocka_unit_test(test_parse_stat_odd_command_name),
        cmocka_unit_test(test_parse_stat_refuses_broken_text),
        cmocka_unit_test(test_parse_btime),
        cmocka_unit_test(test_parse_max_fds),
        cmocka_unit_test(test_read_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
