/* hc_proc: this process's resource use as Linux reports it under /proc (CPU
 * time, memory, start time, file descriptors), for the process_* metrics,
 * and how much freed memory malloc keeps (hc_proc_tune_malloc). The parsers
 * are pure, so that tests can feed them any text. */
#ifndef HC_PROC_H
#define HC_PROC_H

#include <stdint.h>

typedef struct hc_proc_stat {
    double cpu_seconds;     /* user + system CPU time, s */
    int64_t resident_bytes; /* resident set size, bytes */
    int64_t virtual_bytes;  /* virtual memory size, bytes */
    double start_time;      /* when the process started, s since the Unix epoch */
    int64_t open_fds;       /* file descriptors open now */
    int64_t max_fds;        /* soft limit on open file descriptors; -1: unlimited */
} hc_proc_stat_t;

/* Parses the text of /proc/<pid>/stat (the command name in parentheses may
 * hold spaces and parentheses: the fields are read after its last ')') into
 * cpu_seconds, resident_bytes, virtual_bytes and start_time. ticks_per_s is
 * sysconf(_SC_CLK_TCK), page_bytes the page size, boot_time the btime of
 * /proc/stat. Returns 0, or HC_EINVAL (out unchanged) when a field is
 * missing or not a number. */
int hc_proc_parse_stat(const char *text, long ticks_per_s, long page_bytes, int64_t boot_time,
                       hc_proc_stat_t *out);

/* Finds the "btime N" line of /proc/stat's text (the boot time, s since the
 * epoch). Returns 0, or HC_EINVAL when there is none. */
int hc_proc_parse_btime(const char *text, int64_t *boot_time);

/* Reads the soft limit of the "Max open files" line of /proc/<pid>/limits'
 * text into *max_fds (-1 for "unlimited"). Returns 0, or HC_EINVAL. */
int hc_proc_parse_max_fds(const char *text, int64_t *max_fds);

/* Fills out from /proc/self/stat, /proc/stat (read once per process),
 * /proc/self/limits and /proc/self/fd. Returns 0, or HC_EIO when one of them
 * cannot be read or parsed (out is then partly filled; do not use it). */
int hc_proc_read(hc_proc_stat_t *out);

/* Returns 1 when the environment envp (NULL-terminated "NAME=value" strings)
 * already tunes glibc's malloc (MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_,
 * MALLOC_MMAP_THRESHOLD_, MALLOC_TOP_PAD_, or a glibc.malloc tunable in
 * GLIBC_TUNABLES), else 0. */
int hc_proc_malloc_set_by_env(char *const *envp);

/* Makes glibc's malloc give freed memory back: its mmap threshold (blocks of
 * at least that size get their own mapping, returned when freed) and trim
 * threshold (free memory at the top of a heap beyond it is returned) stay at
 * their initial 128 KiB. glibc otherwise raises them each time such a
 * mapped block is freed, up to 32 and 64 MiB, and a service's threads then
 * keep what they freed. Left to the operator when hc_proc_malloc_set_by_env
 * says so. Call at the start, before any thread. Returns 1 when it set
 * them, 0 when it left malloc as it was. */
int hc_proc_tune_malloc(void);

#endif
