/* up_web: where the web app (web/) is and the version its assets are served
 * under, for the gateway `up` renders. See docs/web.md. */
#ifndef UP_WEB_H
#define UP_WEB_H

#include <stddef.h>

/* Finds the web app's directory into out (size outlen, an absolute path):
 * setting (HC_WEB_DIR) when not empty, else <exe_dir>/../web, else
 * <exe_dir>/../share/healthcenter/web (exe_dir may be NULL). A directory
 * counts when it holds index.html. Returns 0; HC_ENOTFOUND when HC_WEB_DIR
 * is set but holds no index.html (with a message in err, size errlen) or
 * when none of the derived places does (err says where it looked). */
int up_web_find(const char *setting, const char *exe_dir, char *out, size_t outlen, char *err,
                size_t errlen);

/* Writes the version of the assets under dir/assets into out (size at least
 * 17): 16 hex digits of a 64-bit FNV-1a hash over each file's name and
 * contents in name order, so any change of an asset changes the URL it is
 * served at (and browsers that cached it for a year fetch the new one).
 * Returns 0, or HC_EIO when the directory cannot be read (out = "0"). */
int up_web_version(const char *dir, char *out, size_t outlen);

#endif
