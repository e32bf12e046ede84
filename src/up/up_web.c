/* up_web: finds the web app's directory and hashes its assets into the
 * version that makes their URLs change with their contents. */
#include "up_web.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "up_fs.h"

#define ASSET_MAX (4 * 1024 * 1024) /* largest asset hashed, bytes */

/* Returns 1 when dir/index.html is a readable file, writing dir's real path
 * into out (size outlen). */
static int has_index(const char *dir, char *out, size_t outlen)
{
    char path[PATH_MAX], real[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/index.html", dir);
    if (n < 0 || (size_t)n >= sizeof path || access(path, R_OK) != 0 || !realpath(dir, real))
        return 0;
    n = snprintf(out, outlen, "%s", real);
    return n >= 0 && (size_t)n < outlen;
}

int up_web_find(const char *setting, const char *exe_dir, char *out, size_t outlen, char *err,
                size_t errlen)
{
    if (setting && *setting) {
        if (has_index(setting, out, outlen))
            return 0;
        hc_fmt(err, errlen, "HC_WEB_DIR: %s has no readable index.html", setting);
        return HC_ENOTFOUND;
    }
    if (exe_dir) {
        static const char *const rel[] = {"/../web", "/../share/healthcenter/web"};
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            char path[PATH_MAX];
            int n = snprintf(path, sizeof path, "%s%s", exe_dir, rel[i]);
            if (n >= 0 && (size_t)n < sizeof path && has_index(path, out, outlen))
                return 0;
        }
    }
    hc_fmt(err, errlen, "no web app (index.html) in %s/../web or %s/../share/healthcenter/web",
           exe_dir ? exe_dir : "?", exe_dir ? exe_dir : "?");
    return HC_ENOTFOUND;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int up_web_version(const char *dir, char *out, size_t outlen)
{
    char assets[PATH_MAX];
    snprintf(out, outlen, "0");
    int n = snprintf(assets, sizeof assets, "%s/assets", dir);
    if (n < 0 || (size_t)n >= sizeof assets)
        return HC_EIO;
    struct dirent **names = NULL;
    int count = scandir(assets, &names, NULL, alphasort);
    if (count < 0)
        return HC_EIO;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < count; i++) {
        const char *name = names[i]->d_name;
        char path[PATH_MAX];
        n = snprintf(path, sizeof path, "%s/%s", assets, name);
        char *text = name[0] == '.' || n < 0 || (size_t)n >= sizeof path
                         ? NULL
                         : up_fs_read_file(path, ASSET_MAX);
        if (text) { /* directories and unreadable files are not served either */
            h = fnv1a(h, name, strlen(name) + 1);
            h = fnv1a(h, text, strlen(text) + 1);
            free(text);
        }
        free(names[i]);
    }
    free(names);
    snprintf(out, outlen, "%016llx", (unsigned long long)h);
    return 0;
}
