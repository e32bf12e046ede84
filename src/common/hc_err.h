/* hc_err: the error codes shared by the runtime. Functions return 0 or one of
 * these negative values; hc_strerror() names them for log lines. */
#ifndef HC_ERR_H
#define HC_ERR_H

enum {
    HC_OK = 0,
    HC_EINVAL = -1,    /* bad argument or malformed input */
    HC_ENOMEM = -2,    /* allocation failed (normally we abort instead) */
    HC_EIO = -3,       /* storage or file I/O failed */
    HC_ENOTFOUND = -4, /* no such row / resource */
    HC_EBUSY = -5,     /* storage stayed locked past the busy timeout */
    HC_ETIMEDOUT = -6, /* a remote call did not answer in time */
    HC_EUNAVAIL = -7,  /* a remote service could not be reached */
    HC_ECONFLICT = -8, /* the change conflicts with the current state */
    HC_EPROTO = -9,    /* a remote answered something we cannot use */
    HC_ECLOSED = -10,  /* the object was shut down */
    HC_ENOSPC = -11,   /* storage is full (disk or quota): nothing was written */
    HC_ECORRUPT = -12, /* stored data failed an integrity check (checksum, SQLite) */
};

/* Returns a static, human-readable name for an hc_err code. Never NULL. */
const char *hc_strerror(int err);

#endif
