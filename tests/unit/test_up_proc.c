/* Checks up_proc: spawning children (own process group, PATH search, exec
 * failures told to the parent, signals unblocked, death with the parent) and
 * how an ending is described. */
#include "hc_test.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "hc_err.h"
#include "up/up_proc.h"

/* Waits for pid and returns its wait status. */
static int wait_for(pid_t pid)
{
    int st = 0;
    pid_t got;
    while ((got = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    assert_int_equal(got, pid);
    return st;
}

/* Returns 1 while pid is a process that has not ended (a zombie has: an
 * init that does not reap would otherwise keep it "alive"). */
static int running(pid_t pid)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *paren = strrchr(stat, ')'); /* "pid (comm) S ..." */
    return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/* Writes an executable shell script dir/name with body. */
static void write_script(const char *dir, const char *name, const char *body, mode_t mode)
{
    char path[512];
    hc_test_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_spawn_runs_the_child_in_a_process_group_of_its_own(void **state)
{
    (void)state;
    char *argv[] = {"sleep", "30", NULL};
    pid_t pid = 0;
    assert_int_equal(up_proc_spawn(argv, &pid), 0);
    assert_true(pid > 0);
    assert_int_equal(getpgid(pid), pid);
    assert_int_not_equal(getpgid(pid), getpgid(0));
    kill(-pid, SIGKILL); /* the group reaches it */
    int st = wait_for(pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void test_spawn_searches_path_for_a_bare_name(void **state)
{
    (void)state;
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    write_script(dir, "hc-test-prog", "exit 7", 0755);
    const char *old = getenv("PATH");
    char *saved = strdup(old ? old : "");
    char path[1024];
    snprintf(path, sizeof path, "%s:%s", dir, saved);
    setenv("PATH", path, 1);

    char *argv[] = {"hc-test-prog", NULL};
    pid_t pid = 0;
    int rc = up_proc_spawn(argv, &pid);
    setenv("PATH", saved, 1);
    free(saved);
    assert_int_equal(rc, 0);
    int st = wait_for(pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 7);
    hc_test_rmtree(dir);
}

static void test_spawn_of_a_program_that_cannot_run_fails_in_the_parent(void **state)
{
    (void)state;
    char dir[256], file[512];
    hc_test_mkdtemp(dir, sizeof dir);
    pid_t pid = -1;

    char *missing[] = {"hc-no-such-program-4711", NULL};
    errno = 0;
    assert_int_equal(up_proc_spawn(missing, &pid), HC_ENOTFOUND);
    assert_int_equal(errno, ENOENT);

    hc_test_path(file, sizeof file, dir, "nowhere");
    char *missing_path[] = {file, NULL};
    errno = 0;
    assert_int_equal(up_proc_spawn(missing_path, &pid), HC_ENOTFOUND);
    assert_int_equal(errno, ENOENT);

    write_script(dir, "not-executable", "exit 0", 0644);
    hc_test_path(file, sizeof file, dir, "not-executable");
    char *not_exec[] = {file, NULL};
    errno = 0;
    assert_int_equal(up_proc_spawn(not_exec, &pid), HC_ENOTFOUND);
    assert_int_equal(errno, EACCES);

    /* pid untouched, and the failed children are reaped already */
    assert_int_equal(pid, -1);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    hc_test_rmtree(dir);
}

static void test_spawn_unblocks_the_signals_the_parent_blocks(void **state)
{
    (void)state;
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    char *argv[] = {"sleep", "30", NULL};
    pid_t pid = 0;
    int rc = up_proc_spawn(argv, &pid);
    sigprocmask(SIG_SETMASK, &old, NULL);
    assert_int_equal(rc, 0);
    kill(pid, SIGTERM);
    int st = wait_for(pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
}

static void test_spawned_child_dies_with_its_parent(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t middle = fork();
    assert_true(middle >= 0);
    if (middle == 0) {
        /* the parent to be killed: starts a long child, tells its pid, dies */
        char *argv[] = {"sleep", "30", NULL};
        pid_t pid = 0;
        if (up_proc_spawn(argv, &pid) != 0)
            _exit(2);
        ssize_t w = write(fds[1], &pid, sizeof pid);
        (void)w;
        _exit(0);
    }
    close(fds[1]);
    pid_t orphan = 0;
    assert_int_equal(read(fds[0], &orphan, sizeof orphan), (ssize_t)sizeof orphan);
    close(fds[0]);
    int st = wait_for(middle);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* PR_SET_PDEATHSIG: the orphan gets SIGTERM */
    int64_t deadline = hc_test_mono_ms() + 5000;
    while (running(orphan) && hc_test_mono_ms() < deadline)
        usleep(10 * 1000);
    if (running(orphan)) {
        kill(orphan, SIGKILL);
        fail_msg("child %d outlived its parent by 5 s", (int)orphan);
    }
}

static void test_describe_status_names_exit_and_signal(void **state)
{
    (void)state;
    char how[96];
    char *exit3[] = {"sh", "-c", "exit 3", NULL};
    pid_t pid = 0;
    assert_int_equal(up_proc_spawn(exit3, &pid), 0);
    up_proc_describe_status(wait_for(pid), how, sizeof how);
    assert_string_equal(how, "exit status 3");

    char *sleeper[] = {"sleep", "30", NULL};
    assert_int_equal(up_proc_spawn(sleeper, &pid), 0);
    kill(pid, SIGKILL);
    up_proc_describe_status(wait_for(pid), how, sizeof how);
    assert_string_equal(how, "killed by signal 9 (Killed)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_runs_the_child_in_a_process_group_of_its_own),
        cmocka_unit_test(test_spawn_searches_path_for_a_bare_name),
        cmocka_unit_test(test_spawn_of_a_program_that_cannot_run_fails_in_the_parent),
        cmocka_unit_test(test_spawn_unblocks_the_signals_the_parent_blocks),
        cmocka_unit_test(test_spawned_child_dies_with_its_parent),
        cmocka_unit_test(test_describe_status_names_exit_and_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
