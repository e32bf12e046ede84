/* up_fs: directories and whole-file reads and writes for `healthcenter up`
 * (the run directory, the gateway template, the rendered nginx config). */
#include "up_fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"

int up_fs_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (hc_strlcpy(buf, path, sizeof buf) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return HC_EIO;
    }
    /* Each parent in turn: cut at every '/' but a leading one. The scan
     * starts at buf, not buf + 1: "" has no byte after its NUL to read. */
    for (char *p = buf; *p; p++) {
        if (*p != '/' || p == buf)
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return HC_EIO;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return HC_EIO;
    struct stat st;
    if (stat(buf, &st) != 0)
        return HC_EIO;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return HC_EIO;
    }
    return 0;
}

char *up_fs_read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    hc_buf_t b;
    hc_buf_init(&b, max);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = hc_buf_add(&b, chunk, n)) != 0)
            break;
    int failed = rc != 0 || ferror(f);
    fclose(f);
    if (failed) {
        hc_buf_cleanup(&b);
        errno = rc ? EFBIG : EIO;
        return NULL;
    }
    char *text = hc_xstrdup(hc_buf_str(&b)); /* also "" for an empty file */
    hc_buf_cleanup(&b);
    return text;
}

int up_fs_write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return HC_EIO;
    }
    FILE *f = fopen(tmp, "we");
    if (!f)
        return HC_EIO;
    size_t len = strlen(text);
    int bad = fwrite(text, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return HC_EIO;
    }
    return 0;
}
