/* hc_lock: one owner per data directory: an exclusive flock(2) on a lock file
 * that also names its holder, so that a second owner is refused with a
 * message saying who holds it. See docs/supervisor.md ("One owner"). */
#ifndef HC_LOCK_H
#define HC_LOCK_H

#include <stddef.h>
#include <sys/types.h>

/* What hc_lock_acquire found when the lock was taken by someone else. */
typedef struct hc_lock_holder {
    pid_t pid;     /* the holder's pid as it wrote it; 0 when unknown */
    char what[64]; /* what the holder said it is ("up", "order", ...); "" when unknown */
    int pid_alive; /* 1 when that pid still runs (kill(pid, 0)) */
} hc_lock_holder_t;

/* The variable `healthcenter up` sets in its children's environment: its
 * pid. A service whose parent that is (and whose lock `up` holds) sends it
 * SIGUSR1 once ready, so that `up` probes it at once (docs/supervisor.md). */
#define HC_UP_PID_ENV "HC_UP_PID"

/* Takes an exclusive flock on path (created with mode 0644 when missing; the
 * directory must exist) without waiting, and writes "<pid> <what>\n" into it
 * for whoever is refused later. The lock lasts as long as *fd, or a copy of
 * it, stays open, in this process or in a child that inherited it:
 * inherit = 1 leaves *fd open across exec (the supervisor's children keep the
 * directory locked while they drain after it died), 0 makes it close-on-exec.
 * Returns 0 with *fd set; HC_EBUSY when another open file holds the lock,
 * with what it says about itself in *holder (may be NULL); HC_EIO with errno
 * set when the file cannot be opened or locked. The file is never removed:
 * removing a lock file races with the next owner's open. */
int hc_lock_acquire(const char *path, const char *what, int inherit, int *fd,
                    hc_lock_holder_t *holder);

/* Reads what the lock file at path says about its holder into *holder
 * (zeroed when the file is missing or unreadable). Does not lock. */
void hc_lock_read_holder(const char *path, hc_lock_holder_t *holder);

/* Describes holder into out (size outlen), e.g. "pid 123 (healthcenter up)"
 * or "pid 123 (healthcenter up, which has exited; its processes are still
 * stopping)" or "another process". */
void hc_lock_describe(const hc_lock_holder_t *holder, char *out, size_t outlen);

/* Releases a lock taken by hc_lock_acquire (closes fd). Accepts -1. */
void hc_lock_release(int fd);

#endif
