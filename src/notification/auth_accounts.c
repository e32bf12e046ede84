/* auth_accounts: sign-in codes, passwords and admin accounts over the store,
 * one transaction per call. */
#include "auth_accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

void auth_otp_opts_from_config(auth_otp_opts_t *o)
{
    o->ttl_s = hc_cfg.otp_ttl_s;
    o->max_attempts = hc_cfg.otp_max_attempts;
    o->per_phone = hc_cfg.otp_per_phone;
    o->per_client = hc_cfg.otp_per_client;
    o->window_s = hc_cfg.otp_window_s;
}

/* Commits c's transaction when rc is 0, else rolls it back. Returns the
 * first failure. */
static int finish(hc_conn_t *c, int rc)
{
    if (rc) {
        hc_conn_rollback(c);
        return rc;
    }
    return hc_conn_commit(c);
}

int auth_otp_request(hc_db_t *db, const auth_otp_opts_t *o, const char *phone, const char *client,
                     int64_t now_s, char code[AUTH_CODE_DIGITS + 1], auth_limit_t *limited)
{
    char key[AUTH_DIGEST_SIZE], hash[AUTH_DIGEST_SIZE];
    int64_t by_phone = 0, by_client = 0;
    *limited = AUTH_LIMIT_NONE;
    code[0] = '\0';
    auth_phone_key(phone, key);
    hc_conn_t *c = hc_db_acquire(db);
    /* Writers are serialised, so two requests cannot both pass a limit. */
    int rc = hc_conn_begin(c);
    if (rc)
        goto out;
    rc = auth_store_otp_requests(c, key, client, now_s - o->window_s, &by_phone, &by_client);
    if (!rc && by_phone >= o->per_phone)
        *limited = AUTH_LIMIT_PHONE;
    else if (!rc && by_client >= o->per_client)
        *limited = AUTH_LIMIT_CLIENT;
    if (rc || *limited) {
        hc_conn_rollback(c);
        goto out;
    }
    auth_code_new(code);
    auth_code_digest(phone, code, hash);
    rc = auth_store_otp_log_request(c, key, client, now_s, now_s - o->window_s);
    if (!rc)
        rc = auth_store_otp_put(c, key, hash, now_s + o->ttl_s, now_s);
    rc = finish(c, rc);
out:
    hc_db_release(db, c);
    if (rc || *limited)
        sodium_memzero(code, AUTH_CODE_DIGITS + 1);
    return rc;
}

int auth_otp_verify(hc_db_t *db, const auth_otp_opts_t *o, const char *phone, const char *code,
                    int64_t now_s, auth_otp_verdict_t *verdict)
{
    char key[AUTH_DIGEST_SIZE];
    auth_otp_t row;
    int won = 0;
    *verdict = AUTH_OTP_NONE;
    auth_phone_key(phone, key);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    if (rc)
        goto out;
    rc = auth_store_otp_get(c, key, &row);
    if (rc == HC_ENOTFOUND) {
        rc = 0;
        hc_conn_rollback(c);
        goto out;
    }
    if (!rc) {
        *verdict = auth_otp_check(&row, phone, code, now_s, o->max_attempts);
        if (*verdict == AUTH_OTP_WRONG)
            rc = auth_store_otp_wrong(c, key);
        else if (*verdict == AUTH_OTP_OK)
            rc = auth_store_otp_use(c, key, &won);
        /* Writers are serialised, so this only guards the invariant. */
        if (!rc && *verdict == AUTH_OTP_OK && !won)
            *verdict = AUTH_OTP_USED;
    }
    rc = finish(c, rc);
out:
    hc_db_release(db, c);
    if (rc)
        *verdict = AUTH_OTP_NONE;
    return rc;
}

int auth_login(hc_db_t *db, const char *username, const char *password, hc_principal_t *p)
{
    auth_admin_t a;
    memset(p, 0, sizeof *p);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = auth_username_valid(username) ? auth_store_admin_get(c, username, &a) : HC_ENOTFOUND;
    hc_db_release(db, c); /* not held for the slow hash */
    if (rc && rc != HC_ENOTFOUND)
        return rc;
    int ok = auth_password_verify(rc == 0 ? a.pw_hash : NULL, password);
    if (!ok || rc != 0 || a.role == HC_ROLE_NONE)
        return HC_EINVAL;
    p->role = a.role;
    hc_strlcpy(p->sub, a.username, sizeof p->sub);
    if (a.role == HC_ROLE_ADMIN) {
        memcpy(p->centers, a.centers, a.n_centers * sizeof a.centers[0]);
        p->n_centers = a.n_centers;
    }
    return 0;
}

int auth_admin_set(hc_db_t *db, const char *username, const char *password, hc_role_t role,
                   const int64_t *centers, size_t n_centers, int *created)
{
    auth_admin_t a;
    char now[HC_RFC3339_SIZE];
    if (created)
        *created = 0;
    if (!auth_username_valid(username) || (password && !auth_password_valid(password)) ||
        (role != HC_ROLE_ADMIN && role != HC_ROLE_SUPERADMIN) || n_centers > HC_TOKEN_MAX_CENTERS)
        return HC_EINVAL;
    memset(&a, 0, sizeof a);
    hc_strlcpy(a.username, username, sizeof a.username);
    a.role = role;
    if (role == HC_ROLE_ADMIN) {
        memcpy(a.centers, centers, n_centers * sizeof centers[0]);
        a.n_centers = n_centers;
    }
    /* Hashed before the transaction: it is slow, and holds no lock. */
    if (password && auth_password_hash(password, a.pw_hash) != 0)
        return HC_ENOMEM;
    hc_now_rfc3339(now);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    if (rc)
        goto out;
    if (!password) {
        auth_admin_t old;
        rc = auth_store_admin_get(c, username, &old);
        if (!rc)
            hc_strlcpy(a.pw_hash, old.pw_hash, sizeof a.pw_hash);
    }
    if (!rc)
        rc = auth_store_admin_put(c, &a, now, created);
    rc = finish(c, rc);
out:
    hc_db_release(db, c);
    sodium_memzero(a.pw_hash, sizeof a.pw_hash);
    return rc;
}

int auth_admin_passwd(hc_db_t *db, const char *username, const char *password)
{
    char hash[AUTH_PWHASH_STR_SIZE], now[HC_RFC3339_SIZE];
    if (!auth_password_valid(password))
        return HC_EINVAL;
    if (auth_password_hash(password, hash) != 0)
        return HC_ENOMEM;
    hc_now_rfc3339(now);
    hc_conn_t *c = hc_db_acquire(db);
    int rc = hc_conn_begin(c);
    if (!rc)
        rc = finish(c, auth_store_admin_set_password(c, username, hash, now));
    hc_db_release(db, c);
    return rc;
}

/* Reads the password in path into out (n bytes), without its newline.
 * Returns 0, HC_ENOTFOUND (no file) or HC_EINVAL (unreadable, or not a
 * password auth_password_valid accepts). */
static int read_password_file(const char *path, char *out, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HC_ENOTFOUND : HC_EINVAL;
    ssize_t got = read(fd, out, n - 1);
    close(fd);
    if (got < 0)
        got = 0;
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return auth_password_valid(out) ? 0 : HC_EINVAL;
}

/* Settles the generated password of a first start in out (n bytes) and in
 * dir/admin.password (mode 0600): a valid password already in the file is
 * kept (a start that stopped before the account was stored, or another
 * instance that got there first); else a random one is written, created
 * with link() so that of two instances starting at once one wins and the
 * other reads its password. */
static int settle_password_file(const char *dir, char *out, size_t n)
{
    char path[600], tmp[640], pw[25];
    hc_fmt(path, sizeof path, "%s/%s", dir, HC_ADMIN_PASSWORD_FILE);
    int rc = read_password_file(path, out, n);
    if (rc != HC_ENOTFOUND && rc != HC_EINVAL)
        return rc;
    int replace = rc == HC_EINVAL; /* an unusable file is replaced whole */
    auth_password_random(pw);
    hc_fmt(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        hc_error("cannot write %s: %s", tmp, strerror(errno));
        sodium_memzero(pw, sizeof pw);
        return HC_EIO;
    }
    size_t len = strlen(pw);
    int ok = write(fd, pw, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    int placed = ok && (replace ? rename(tmp, path) : link(tmp, path)) == 0;
    int lost = ok && !placed && errno == EEXIST;
    if (!placed && !lost)
        hc_error("cannot write %s: %s", path, strerror(errno));
    unlink(tmp); /* after link(): the file stays under its name */
    hc_strlcpy(out, pw, n);
    sodium_memzero(pw, sizeof pw);
    if (lost) /* another instance wrote it just now: use its password */
        return read_password_file(path, out, n) ? HC_EIO : 0;
    return placed ? 0 : HC_EIO;
}

/* HC_ADMIN_PASSWORD given: makes username a super-admin with it, touching
 * nothing when it already is one with that password. */
static int bootstrap_with_password(hc_db_t *db, const char *username, const char *password)
{
    auth_admin_t a;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = auth_store_admin_get(c, username, &a);
    hc_db_release(db, c);
    if (rc && rc != HC_ENOTFOUND)
        return rc;
    if (!rc && a.role == HC_ROLE_SUPERADMIN && !auth_password_needs_rehash(a.pw_hash) &&
        auth_password_verify(a.pw_hash, password))
        return 0;
    int created = 0;
    rc = auth_admin_set(db, username, password, HC_ROLE_SUPERADMIN, NULL, 0, &created);
    if (!rc)
        hc_info("super-admin %s %s from HC_ADMIN_PASSWORD", username,
                created ? "created" : "updated");
    return rc;
}

/* No HC_ADMIN_PASSWORD, first start: stores the super-admin username with
 * the password settle_password_file settled, unless a super-admin exists by
 * now (another instance won). */
static int bootstrap_generated(hc_db_t *db, const char *username, const char *password,
                               const char *data_dir)
{
    char now[HC_RFC3339_SIZE];
    auth_admin_t a;
    int64_t supers = 0;
    memset(&a, 0, sizeof a);
    hc_strlcpy(a.username, username, sizeof a.username);
    a.role = HC_ROLE_SUPERADMIN;
    int rc = auth_password_hash(password, a.pw_hash);
    if (rc)
        return rc;
    hc_now_rfc3339(now);
    hc_conn_t *c = hc_db_acquire(db);
    rc = hc_conn_begin(c);
    /* Counted again under the write lock: another instance may have won. */
    if (!rc)
        rc = auth_store_admin_count(c, HC_ROLE_SUPERADMIN, &supers);
    if (!rc && supers == 0)
        rc = auth_store_admin_put(c, &a, now, NULL);
    rc = finish(c, rc);
    hc_db_release(db, c);
    sodium_memzero(a.pw_hash, sizeof a.pw_hash);
    if (!rc && supers == 0)
        hc_info("super-admin %s created; its password is in %s/%s (change it with `healthcenter "
                "admin passwd %s`)",
                username, data_dir, HC_ADMIN_PASSWORD_FILE, username);
    return rc;
}

int auth_bootstrap_prepare(hc_db_t *db, const char *username, const char *password,
                           const char *data_dir, auth_boot_t *b)
{
    memset(b, 0, sizeof *b);
    if (!auth_username_valid(username)) {
        hc_error("HC_ADMIN_USER \"%s\" is not a valid username (1-63 of A-Z a-z 0-9 . _ @ -)",
                 username);
        return HC_EINVAL;
    }
    hc_strlcpy(b->username, username, sizeof b->username);
    hc_strlcpy(b->data_dir, data_dir, sizeof b->data_dir);
    if (password && *password) {
        if (!auth_password_valid(password)) {
            hc_error("HC_ADMIN_PASSWORD must have %d to %d characters", AUTH_PASSWORD_MIN,
                     AUTH_PASSWORD_MAX);
            return HC_EINVAL;
        }
        hc_strlcpy(b->password, password, sizeof b->password);
        b->pending = 1;
        return 0;
    }
    int64_t supers = 0;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = auth_store_admin_count(c, HC_ROLE_SUPERADMIN, &supers);
    hc_db_release(db, c);
    if (rc || supers > 0)
        return rc;
    rc = settle_password_file(data_dir, b->password, sizeof b->password);
    if (rc)
        return rc;
    b->generated = 1;
    b->pending = 1;
    return 0;
}

int auth_bootstrap_finish(hc_db_t *db, auth_boot_t *b)
{
    if (!b->pending)
        return 0;
    int rc = b->generated ? bootstrap_generated(db, b->username, b->password, b->data_dir)
                          : bootstrap_with_password(db, b->username, b->password);
    if (!rc)
        auth_bootstrap_clear(b);
    return rc;
}

void auth_bootstrap_clear(auth_boot_t *b)
{
    sodium_memzero(b, sizeof *b);
}

int auth_bootstrap(hc_db_t *db, const char *username, const char *password, const char *data_dir)
{
    auth_boot_t b;
    int rc = auth_bootstrap_prepare(db, username, password, data_dir, &b);
    if (!rc)
        rc = auth_bootstrap_finish(db, &b);
    auth_bootstrap_clear(&b);
    return rc;
}
