/* hc_proc: the process_* numbers from /proc/self, its parsers kept pure. */
#include "hc_proc.h"

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_err.h"

/* Reads a whole unsigned decimal at *p (no sign), moving *p past it.
 * Returns 0, or HC_EINVAL when there is no digit or it overflows. */
static int read_u64(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return HC_EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return HC_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *out = v;
    return 0;
}

int hc_proc_parse_stat(const char *text, long ticks_per_s, long page_bytes, int64_t boot_time,
                       hc_proc_stat_t *out)
{
    /* Fields after the command name, counted from 3 (state) as proc(5) does. */
    enum { F_UTIME = 14, F_STIME = 15, F_STARTTIME = 22, F_VSIZE = 23, F_RSS = 24 };
    if (!text || ticks_per_s <= 0 || page_bytes <= 0)
        return HC_EINVAL;
    const char *p = strrchr(text, ')');
    if (!p)
        return HC_EINVAL;
    p++;
    uint64_t f[F_RSS + 1] = {0};
    for (int field = 3; field <= F_RSS; field++) {
        if (*p != ' ')
            return HC_EINVAL;
        while (*p == ' ')
            p++;
        if (field == 3) { /* the state: one letter */
            if (!*p || *p == ' ')
                return HC_EINVAL;
            p++;
            continue;
        }
        if (*p == '-') /* signed fields (priority, nice, ...) are not read */
            p++;
        if (read_u64(&p, &f[field]))
            return HC_EINVAL;
    }
    out->cpu_seconds = (double)(f[F_UTIME] + f[F_STIME]) / (double)ticks_per_s;
    out->start_time = (double)boot_time + (double)f[F_STARTTIME] / (double)ticks_per_s;
    out->virtual_bytes = (int64_t)f[F_VSIZE];
    out->resident_bytes = (int64_t)f[F_RSS] * page_bytes;
    return 0;
}

int hc_proc_parse_btime(const char *text, int64_t *boot_time)
{
    for (const char *line = text; line && *line;) {
        if (strncmp(line, "btime ", 6) == 0) {
            const char *p = line + 6;
            uint64_t v;
            while (*p == ' ')
                p++;
            if (read_u64(&p, &v) || (*p && *p != '\n') || v > INT64_MAX)
                return HC_EINVAL;
            *boot_time = (int64_t)v;
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return HC_EINVAL;
}

int hc_proc_parse_max_fds(const char *text, int64_t *max_fds)
{
    static const char key[] = "Max open files";
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, sizeof key - 1) == 0) {
            const char *p = line + sizeof key - 1;
            while (*p == ' ')
                p++;
            uint64_t v;
            if (strncmp(p, "unlimited", 9) == 0 && (p[9] == ' ' || p[9] == '\n' || !p[9])) {
                *max_fds = -1;
                return 0;
            }
            if (read_u64(&p, &v) || (*p != ' ' && *p != '\n' && *p) || v > INT64_MAX)
                return HC_EINVAL;
            *max_fds = (int64_t)v;
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return HC_EINVAL;
}

/* Reads up to cap - 1 bytes of path into buf, NUL-terminated. Returns 0 or
 * HC_EIO. */
static int read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return HC_EIO;
    size_t n = fread(buf, 1, cap - 1, f);
    int bad = ferror(f);
    fclose(f);
    buf[n] = '\0';
    return bad ? HC_EIO : 0;
}

static int64_t boot_time = -1;
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

/* /proc/stat has a line per CPU and a long interrupt line: read it once, a
 * line at a time, for the boot time that never changes. */
static void read_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    int64_t bt;
    while (getline(&line, &cap, f) > 0)
        if (strncmp(line, "btime ", 6) == 0 && hc_proc_parse_btime(line, &bt) == 0) {
            boot_time = bt;
            break;
        }
    free(line);
    fclose(f);
}

int hc_proc_read(hc_proc_stat_t *out)
{
    char buf[4096];
    pthread_once(&boot_once, read_boot_time);
    if (boot_time < 0 || read_text("/proc/self/stat", buf, sizeof buf) ||
        hc_proc_parse_stat(buf, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot_time, out))
        return HC_EIO;
    if (read_text("/proc/self/limits", buf, sizeof buf) ||
        hc_proc_parse_max_fds(buf, &out->max_fds))
        return HC_EIO;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return HC_EIO;
    int64_t n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    out->open_fds = n > 0 ? n - 1 : 0; /* not the one opendir holds */
    return 0;
}

int hc_proc_malloc_set_by_env(char *const *envp)
{
    static const char *const names[] = {"MALLOC_ARENA_MAX=", "MALLOC_TRIM_THRESHOLD_=",
                                        "MALLOC_MMAP_THRESHOLD_=", "MALLOC_TOP_PAD_="};
    for (; envp && *envp; envp++) {
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (strncmp(*envp, names[i], strlen(names[i])) == 0)
                return 1;
        if (strncmp(*envp, "GLIBC_TUNABLES=", 15) == 0 && strstr(*envp, "glibc.malloc."))
            return 1;
    }
    return 0;
}

int hc_proc_tune_malloc(void)
{
    extern char **environ;
    if (hc_proc_malloc_set_by_env(environ))
        return 0;
    /* Setting either fixes both (glibc then stops adjusting them). */
    return mallopt(M_MMAP_THRESHOLD, 128 * 1024) && mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}
