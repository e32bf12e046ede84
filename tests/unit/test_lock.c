/* Checks hc_lock: one owner per lock file, a refusal that names the holder,
 * release, and a holder inherited by a forked child. */
#include "hc_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "hc_err.h"
#include "hc_lock.h"

static void test_second_owner_is_refused_with_the_holder_named(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "order.lock");
    int fd = -1, fd2 = -1;
    assert_int_equal(hc_lock_acquire(path, "up", 0, &fd, NULL), 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    hc_lock_holder_t h;
    assert_int_equal(hc_lock_acquire(path, "order", 0, &fd2, &h), HC_EBUSY);
    assert_int_equal(fd2, -1);
    assert_int_equal(h.pid, getpid());
    assert_string_equal(h.what, "up");
    assert_int_equal(h.pid_alive, 1);
    char who[160];
    hc_lock_describe(&h, who, sizeof who);
    char want[64];
    snprintf(want, sizeof want, "pid %ld (healthcenter up)", (long)getpid());
    assert_string_equal(who, want);

    hc_lock_read_holder(path, &h);
    assert_int_equal(h.pid, getpid());

    /* Released: the next one takes it and names itself; the file stays. */
    hc_lock_release(fd);
    assert_int_equal(hc_lock_acquire(path, "order", 0, &fd2, NULL), 0);
    hc_lock_read_holder(path, &h);
    assert_string_equal(h.what, "order");
    hc_lock_release(fd2);
    assert_int_equal(access(path, F_OK), 0);
    hc_lock_release(-1);
    hc_test_rmtree(dir);
}

static void test_an_inherited_lock_outlives_its_taker_in_the_child(void **state)
{
    (void)state;
    char dir[256], path[512];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "data.lock");
    int fd = -1, fd2 = -1, pipefd[2];
    assert_int_equal(hc_lock_acquire(path, "up", 1, &fd, NULL), 0);
    assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;
        close(pipefd[1]);
        ssize_t r = read(pipefd[0], &c, 1); /* until the parent closes it */
        _exit(r == 0 ? 0 : 1);
    }
    close(pipefd[0]);
    hc_lock_release(fd); /* the child's copy still holds it */
    hc_lock_holder_t h;
    assert_int_equal(hc_lock_acquire(path, "order", 0, &fd2, &h), HC_EBUSY);
    assert_string_equal(h.what, "up");
    close(pipefd[1]);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_int_equal(hc_lock_acquire(path, "order", 0, &fd2, NULL), 0);
    hc_lock_release(fd2);
    hc_test_rmtree(dir);
}

static void test_an_exited_holder_is_described_as_such(void **state)
{
    (void)state;
    hc_lock_holder_t h = {.pid = 12345, .what = "up", .pid_alive = 0};
    char who[160];
    hc_lock_describe(&h, who, sizeof who);
    assert_non_null(strstr(who, "which has exited"));
    memset(&h, 0, sizeof h);
    hc_lock_describe(&h, who, sizeof who);
    assert_string_equal(who, "another process");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_owner_is_refused_with_the_holder_named),
        cmocka_unit_test(test_an_inherited_lock_outlives_its_taker_in_the_child),
        cmocka_unit_test(test_an_exited_holder_is_described_as_such),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
