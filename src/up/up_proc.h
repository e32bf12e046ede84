/* up_proc: starting the children of `healthcenter up` (fork and execvp, with
 * the supervisor's rules for process groups, parent death and signals) and
 * naming how a child ended. */
#ifndef UP_PROC_H
#define UP_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Starts the program argv[0] with the arguments argv (NULL-terminated,
 * borrowed) as a child process. execvp runs it: a name without '/' is
 * searched in $PATH, a path is taken as it is. Between fork and exec the
 * child leads a process group of its own (a terminal's Ctrl-C then reaches
 * only the supervisor, which stops the children in order), asks for SIGTERM
 * when its parent dies (PR_SET_PDEATHSIG; it exits at once when the parent is
 * already gone) and unblocks every signal. Returns 0 with *pid set once the
 * child runs the program; HC_ENOTFOUND with errno set to execvp's error when
 * the program could not be run (ENOENT: not found; the child is reaped
 * already, there is no process); HC_EIO with errno set when pipe or fork
 * failed. Flushes stdout and stderr first, so nothing buffered is written
 * twice. */
int up_proc_spawn(char *const argv[], pid_t *pid);

/* As up_proc_spawn, with env_set ("NAME=value", borrowed) added to the
 * child's environment in place of any NAME there; NULL: the environment as
 * it is. */
int up_proc_spawn_env(char *const argv[], const char *env_set, pid_t *pid);

/* Describes the wait status st in out (size outlen): "exit status N",
 * "killed by signal N (Name)" or "wait status N". */
void up_proc_describe_status(int st, char *out, size_t outlen);

#endif
