/* hc_lock: exclusive flock(2) on a lock file that names its holder. */
#include "hc_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"

/* Parses "<pid> <what>\n" (what the holder wrote) into *h. */
static void parse_holder(const char *text, hc_lock_holder_t *h)
{
    memset(h, 0, sizeof *h);
    char pid[24];
    size_t n = strspn(text, "0123456789");
    if (n == 0 || n >= sizeof pid)
        return;
    memcpy(pid, text, n);
    pid[n] = '\0';
    long long v;
    if (hc_parse_i64(pid, &v) != 0 || v <= 0 || v > 0x7fffffff)
        return;
    h->pid = (pid_t)v;
    const char *w = text + n;
    if (*w == ' ')
        w++;
    size_t len = strcspn(w, "\n");
    if (len >= sizeof h->what)
        len = sizeof h->what - 1;
    memcpy(h->what, w, len);
    h->what[len] = '\0';
    h->pid_alive = kill(h->pid, 0) == 0 || errno == EPERM;
}

/* Reads what fd's file says about its holder into *h. */
static void read_holder_fd(int fd, hc_lock_holder_t *h)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    parse_holder(buf, h);
}

void hc_lock_read_holder(const char *path, hc_lock_holder_t *holder)
{
    memset(holder, 0, sizeof *holder);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    read_holder_fd(fd, holder);
    close(fd);
}

int hc_lock_acquire(const char *path, const char *what, int inherit, int *fd,
                    hc_lock_holder_t *holder)
{
    *fd = -1;
    if (holder)
        memset(holder, 0, sizeof *holder);
    int f = open(path, O_RDWR | O_CREAT | (inherit ? 0 : O_CLOEXEC), 0644);
    if (f < 0)
        return HC_EIO;
    int r;
    while ((r = flock(f, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (r != 0) {
        int e = errno;
        if (e == EWOULDBLOCK && holder)
            read_holder_fd(f, holder);
        close(f);
        errno = e;
        return e == EWOULDBLOCK ? HC_EBUSY : HC_EIO;
    }
    /* Ours now: say who we are for the next one that is refused. */
    char line[96];
    int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), what);
    if (n > 0 && ftruncate(f, 0) == 0) {
        ssize_t w = pwrite(f, line, (size_t)n, 0);
        (void)w; /* the lock holds without the note */
    }
    *fd = f;
    return 0;
}

void hc_lock_describe(const hc_lock_holder_t *holder, char *out, size_t outlen)
{
    if (holder->pid <= 0) {
        hc_fmt(out, outlen, "another process");
        return;
    }
    hc_fmt(out, outlen, "pid %ld (healthcenter %s%s)", (long)holder->pid,
           holder->what[0] ? holder->what : "?",
           holder->pid_alive ? "" : ", which has exited; its processes are still stopping");
}

void hc_lock_release(int fd)
{
    if (fd >= 0)
        close(fd);
}
