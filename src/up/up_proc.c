/* up_proc: fork + execvp for the children of `healthcenter up`; an exec
 * failure comes back to the parent through a close-on-exec pipe. */
#include "up_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"

extern char **environ;

int up_proc_spawn(char *const argv[], pid_t *pid)
{
    return up_proc_spawn_env(argv, NULL, pid);
}

/* Returns a new array of environ's entries with env_set ("NAME=value")
 * replacing or adding NAME; the strings stay environ's (and env_set). The
 * caller frees the array. */
static char **env_with(const char *env_set)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **out = hc_xcalloc(n + 2, sizeof *out);
    size_t name_len = strcspn(env_set, "=") + 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], env_set, name_len) != 0)
            out[k++] = environ[i];
    out[k++] = (char *)env_set;
    out[k] = NULL;
    return out;
}

int up_proc_spawn_env(char *const argv[], const char *env_set, pid_t *pid)
{
    /* Built before fork: the child may only make async-signal-safe calls. */
    char **env = env_set ? env_with(env_set) : NULL;
    /* The child writes execvp's errno into the pipe; a successful exec
     * closes it (O_CLOEXEC), so the parent reads either an errno or EOF. */
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(env);
        return HC_EIO;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        free(env);
        errno = e;
        return HC_EIO;
    }
    if (child == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) /* the parent died before prctl */
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (env)
            environ = env;
        execvp(argv[0], argv);
        int e = errno;
        ssize_t ignored = write(fds[1], &e, sizeof e);
        (void)ignored;
        _exit(127);
    }
    close(fds[1]);
    free(env);
    setpgid(child, child); /* also from here, so a signal to the group works at once */
    int e = 0;
    ssize_t n;
    while ((n = read(fds[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(fds[0]);
    if (n == (ssize_t)sizeof e) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR)
            ;
        errno = e;
        return HC_ENOTFOUND;
    }
    *pid = child;
    return 0;
}

void up_proc_describe_status(int st, char *out, size_t outlen)
{
    if (WIFEXITED(st))
        snprintf(out, outlen, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, outlen, "wait status %d", st);
}
