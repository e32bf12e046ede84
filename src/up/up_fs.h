/* up_fs: the files `healthcenter up` makes before it starts anything: its
 * directories (mkdir -p), the gateway template it reads and the nginx config
 * it writes. */
#ifndef UP_FS_H
#define UP_FS_H

#include <stddef.h>

/* Creates path and its missing parents with mode 0755, like `mkdir -p`; an
 * existing directory is fine. Returns 0, or HC_EIO with errno set (ENOTDIR
 * when path or a parent exists but is not a directory, ENAMETOOLONG past
 * PATH_MAX, ENOENT for "" as mkdir("") does). path is borrowed. */
int up_fs_mkdir_p(const char *path);

/* Reads the whole file at path, of at most max bytes. Returns a malloc'd
 * NUL-terminated string the caller frees ("" for an empty file), or NULL with
 * errno set (EFBIG when the file is larger than max). */
char *up_fs_read_file(const char *path, size_t max);

/* Replaces the file at path with text through a temporary file (path.tmp)
 * and rename, so a reader never sees it half-written. Returns 0, or HC_EIO
 * with errno set and no temporary file left behind. */
int up_fs_write_file(const char *path, const char *text);

#endif
