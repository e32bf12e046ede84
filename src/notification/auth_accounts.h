/* auth_accounts: what signing in does, as plain functions over the store
 * (each in its own transaction) that the HTTP handlers, the `healthcenter
 * admin` command and the tests call: ask for and check a sign-in code, check
 * an admin's password, manage admins, and create the first super-admin. */
#ifndef AUTH_ACCOUNTS_H
#define AUTH_ACCOUNTS_H

#include <stdint.h>

#include "auth_domain.h"
#include "auth_store.h"
#include "hc_db.h"

typedef struct auth_otp_opts {
    int64_t ttl_s;    /* a code's lifetime */
    int max_attempts; /* wrong tries before it locks */
    int per_phone;    /* codes one phone may be sent per window */
    int per_client;   /* codes one client may ask for per window */
    int64_t window_s;
} auth_otp_opts_t;

/* The options HC_OTP_* configure. */
void auth_otp_opts_from_config(auth_otp_opts_t *o);

typedef enum auth_limit {
    AUTH_LIMIT_NONE = 0,
    AUTH_LIMIT_PHONE,  /* per_phone codes were sent to this phone in the window */
    AUTH_LIMIT_CLIENT, /* per_client codes were asked for by this client */
} auth_limit_t;

/* Issues a new code for phone (digits, normalised) asked for by client (an
 * address, or "direct"): unless a limit refuses it (*limited, nothing
 * changed), the code replaces any earlier one of the phone and is written
 * into code for the caller to send. Returns 0 or a storage hc_err. */
int auth_otp_request(hc_db_t *db, const auth_otp_opts_t *o, const char *phone, const char *client,
                     int64_t now_s, char code[AUTH_CODE_DIGITS + 1], auth_limit_t *limited);

/* Checks code for phone: a wrong try is counted, the right one is marked
 * used (so it signs in once). *verdict says which. Returns 0 or a storage
 * hc_err (then nothing changed). */
int auth_otp_verify(hc_db_t *db, const auth_otp_opts_t *o, const char *phone, const char *code,
                    int64_t now_s, auth_otp_verdict_t *verdict);

/* Checks an admin's password; on success fills p (role, sub, centers).
 * Returns 0, HC_EINVAL for an unknown user or a wrong password (the same
 * time either way), or a storage hc_err. */
int auth_login(hc_db_t *db, const char *username, const char *password, hc_principal_t *p);

/* Creates or updates admin username: role (HC_ROLE_ADMIN with its centers,
 * or HC_ROLE_SUPERADMIN), and password when not NULL (a new admin needs
 * one). *created (may be NULL) is 1 when it is new. Returns 0, HC_EINVAL
 * (bad name, password or centers), HC_ENOTFOUND (no such admin and no
 * password), or a storage hc_err. */
int auth_admin_set(hc_db_t *db, const char *username, const char *password, hc_role_t role,
                   const int64_t *centers, size_t n_centers, int *created);

/* Sets the password of an existing admin. Returns 0, HC_EINVAL (password
 * not acceptable), HC_ENOTFOUND or a storage hc_err. */
int auth_admin_passwd(hc_db_t *db, const char *username, const char *password);

/* At start: with password set, creates super-admin username or sets its
 * password (and role) when they differ; without one, when no super-admin
 * exists, creates username with a random password written to
 * data_dir/admin.password (mode 0600; a valid password already there is
 * kept). Returns 0, HC_EINVAL (username or password not acceptable), HC_EIO
 * (the file) or a storage hc_err. auth_bootstrap_prepare and
 * auth_bootstrap_finish, in that order, do the same in two steps. */
int auth_bootstrap(hc_db_t *db, const char *username, const char *password, const char *data_dir);

/* What auth_bootstrap_prepare leaves to auth_bootstrap_finish. */
typedef struct auth_boot {
    char username[64];
    char password[AUTH_PASSWORD_MAX + 1];
    char data_dir[512];
    int generated; /* password is the one in data_dir/admin.password */
    int pending;   /* 1: auth_bootstrap_finish has work to do */
} auth_boot_t;

/* The quick part of auth_bootstrap, for the start path: checks the settings
 * and, on a first start without a configured password, settles the
 * password and writes its file. Fills b (pending says whether there is more
 * to do). Returns what auth_bootstrap returns. */
int auth_bootstrap_prepare(hc_db_t *db, const char *username, const char *password,
                           const char *data_dir, auth_boot_t *b);

/* The slow part (one Argon2id hash or check, about 0.1 s): creates or
 * updates the super-admin as b says. Returns 0 (b wiped) or a storage
 * hc_err (b kept, to try again). */
int auth_bootstrap_finish(hc_db_t *db, auth_boot_t *b);

/* Wipes b (it holds a password). */
void auth_bootstrap_clear(auth_boot_t *b);

#endif
