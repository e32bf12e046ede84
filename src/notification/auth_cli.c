/* auth_cli: `healthcenter admin` and `healthcenter token`. */
#include "auth_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "auth_accounts.h"
#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_time.h"
#include "hc_token.h"
#include "hc_valid.h"
#include "notification_store.h"

#define ADMIN_USAGE                                                                                \
    "usage: healthcenter admin add USER (--centers ID,... | --superadmin)   (password on stdin)\n" \
    "       healthcenter admin passwd USER                                  (password on stdin)\n" \
    "       healthcenter admin list\n"
#define TOKEN_USAGE                                                                                \
    "usage: healthcenter token (--phone PHONE | --admin USER | --service NAME) [--ttl SECONDS]\n"

/* Opens notification's database as the service does (its SQLite file in
 * the data directory, or its PostgreSQL schema), applying its migrations,
 * so that accounts can be managed before the first start. */
static int open_db(hc_db_t **db, FILE *err)
{
    char path[700];
    const char *url = hc_config_db_url(&hc_cfg, "notification");
    int rc;
    if (url) {
        rc = hc_db_open_pg(url, "notification", 1, notification_migrations,
                           NOTIFICATION_N_MIGRATIONS, db);
    } else {
        if (mkdir(hc_cfg.data_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(err, "cannot create the data directory %s: %s\n", hc_cfg.data_dir,
                    strerror(errno));
            return HC_EIO;
        }
        hc_fmt(path, sizeof path, "%s/notification.db", hc_cfg.data_dir);
        rc = hc_db_open(path, hc_cfg.db_sync, notification_migrations, NOTIFICATION_N_MIGRATIONS,
                        db);
    }
    if (rc)
        fprintf(err, "cannot open notification's database: %s\n", hc_strerror(rc));
    return rc;
}

/* Reads one line (without its end) from in into buf. With echo off when in
 * is a terminal. Returns 0, or HC_EINVAL at end of input or on a line
 * longer than the buffer. */
static int read_line(FILE *in, const char *prompt, char *buf, size_t cap, FILE *err)
{
    struct termios old, quiet;
    int tty = isatty(fileno(in)) && tcgetattr(fileno(in), &old) == 0;
    if (tty) {
        fputs(prompt, err);
        fflush(err);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(in), TCSAFLUSH, &quiet);
    }
    char *got = fgets(buf, (int)cap, in);
    if (tty) {
        tcsetattr(fileno(in), TCSAFLUSH, &old);
        fputc('\n', err);
    }
    if (!got)
        return HC_EINVAL;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n + 1 >= cap)
        return HC_EINVAL; /* cut short: refuse rather than keep a prefix */
    buf[n] = '\0';
    return 0;
}

/* Reads a new password (twice on a terminal) into pw. Returns 0 or 1 with
 * the reason printed. */
static int read_password(FILE *in, char *pw, size_t cap, FILE *err)
{
    char again[AUTH_PASSWORD_MAX + 2];
    int rc = 0;
    if (read_line(in, "new password: ", pw, cap, err) != 0) {
        fprintf(err, "no password given (write it on stdin, at most %d characters)\n",
                AUTH_PASSWORD_MAX);
        return 1;
    }
    if (!auth_password_valid(pw)) {
        fprintf(err, "a password has %d to %d characters\n", AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
        rc = 1;
    } else if (isatty(fileno(in))) {
        if (read_line(in, "again: ", again, sizeof again, err) != 0 || strcmp(pw, again) != 0) {
            fprintf(err, "the passwords differ\n");
            rc = 1;
        }
    }
    sodium_memzero(again, sizeof again);
    return rc;
}

/* Checks that every center is configured (HC_CENTERS). */
static int centers_known(const int64_t *ids, size_t n, FILE *err)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < hc_cfg.n_centers && hc_cfg.centers[k].id != ids[i])
            k++;
        if (k == hc_cfg.n_centers) {
            fprintf(err, "center %lld is not one of HC_CENTERS\n", (long long)ids[i]);
            return 0;
        }
    }
    return 1;
}

/* `admin add USER (--centers IDS | --superadmin)` */
static int admin_add(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    int64_t centers[HC_TOKEN_MAX_CENTERS];
    size_t n = 0;
    hc_role_t role = HC_ROLE_NONE;
    if (argc == 5 && strcmp(argv[3], "--centers") == 0) {
        role = HC_ROLE_ADMIN;
        if (auth_centers_parse(argv[4], centers, &n) != 0 || n == 0) {
            fprintf(err, "--centers: expected center ids such as 1,2, got \"%s\"\n", argv[4]);
            return 2;
        }
    } else if (argc == 4 && strcmp(argv[3], "--superadmin") == 0) {
        role = HC_ROLE_SUPERADMIN;
    } else {
        fputs(ADMIN_USAGE, err);
        return 2;
    }
    if (!auth_username_valid(argv[2])) {
        fprintf(err, "\"%s\" is not a valid username (1-63 of A-Z a-z 0-9 . _ @ -)\n", argv[2]);
        return 2;
    }
    if (!centers_known(centers, n, err))
        return 1;
    char pw[AUTH_PASSWORD_MAX + 2];
    hc_db_t *db = NULL;
    int created = 0, code = read_password(in, pw, sizeof pw, err);
    if (!code && open_db(&db, err) != 0)
        code = 1;
    if (!code) {
        int rc = auth_admin_set(db, argv[2], pw, role, centers, n, &created);
        if (rc) {
            fprintf(err, "cannot save admin %s: %s\n", argv[2], hc_strerror(rc));
            code = 1;
        } else {
            fprintf(out, "%s %s %s\n", created ? "created" : "updated", hc_role_name(role),
                    argv[2]);
        }
    }
    sodium_memzero(pw, sizeof pw);
    hc_db_destroy(db);
    return code;
}

/* `admin passwd USER` */
static int admin_passwd(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    if (argc != 3) {
        fputs(ADMIN_USAGE, err);
        return 2;
    }
    char pw[AUTH_PASSWORD_MAX + 2];
    hc_db_t *db = NULL;
    int code = read_password(in, pw, sizeof pw, err);
    if (!code && open_db(&db, err) != 0)
        code = 1;
    if (!code) {
        int rc = auth_admin_passwd(db, argv[2], pw);
        if (rc == HC_ENOTFOUND)
            fprintf(err, "no admin called \"%s\" (healthcenter admin list)\n", argv[2]);
        else if (rc)
            fprintf(err, "cannot change the password of %s: %s\n", argv[2], hc_strerror(rc));
        else
            fprintf(out, "password of %s changed\n", argv[2]);
        code = rc ? 1 : 0;
    }
    sodium_memzero(pw, sizeof pw);
    hc_db_destroy(db);
    return code;
}

/* `admin list`: username, role, centers; never a hash. */
static int admin_list(FILE *out, FILE *err)
{
    hc_db_t *db = NULL;
    auth_admin_t *items = NULL;
    size_t n = 0;
    if (open_db(&db, err) != 0)
        return 1;
    hc_conn_t *c = hc_db_acquire(db);
    int rc = auth_store_admin_list(c, &items, &n);
    hc_db_release(db, c);
    if (rc) {
        fprintf(err, "cannot list the admins: %s\n", hc_strerror(rc));
    } else {
        fprintf(out, "%-24s %-11s %s\n", "USERNAME", "ROLE", "CENTERS");
        for (size_t i = 0; i < n; i++) {
            char centers[HC_TOKEN_MAX_CENTERS * 21];
            auth_centers_format(items[i].centers, items[i].n_centers, centers, sizeof centers);
            fprintf(out, "%-24s %-11s %s\n", items[i].username, hc_role_name(items[i].role),
                    items[i].role == HC_ROLE_SUPERADMIN ? "*" : centers);
        }
    }
    for (size_t i = 0; i < n; i++)
        sodium_memzero(items[i].pw_hash, sizeof items[i].pw_hash);
    free(items);
    hc_db_destroy(db);
    return rc ? 1 : 0;
}

int auth_cli_admin(int argc, char **argv, FILE *in, FILE *out, FILE *err)
{
    if (argc >= 3 && strcmp(argv[1], "add") == 0)
        return admin_add(argc, argv, in, out, err);
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
        return admin_passwd(argc, argv, in, out, err);
    if (argc == 2 && strcmp(argv[1], "list") == 0)
        return admin_list(out, err);
    fputs(ADMIN_USAGE, err);
    return 2;
}

/* 1 when name may be a service token's subject: 1..32 of [a-z0-9_-]. */
static int service_name_valid(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 32 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

#define FIRST_ADMIN_WAIT_MS 5000

/* Fills p for `--admin USER` from the account (role and centers as stored).
 * The first super-admin (HC_ADMIN_USER) is stored by notification just after
 * it is ready (its Argon2id hash is made off the ready path): asked for in
 * that moment, it is waited for, up to FIRST_ADMIN_WAIT_MS. */
static int admin_principal(const char *user, hc_principal_t *p, FILE *err)
{
    hc_db_t *db = NULL;
    auth_admin_t a;
    if (open_db(&db, err) != 0)
        return 1;
    int first = strcmp(user, hc_cfg.admin_user) == 0;
    int64_t deadline = hc_deadline_ms(FIRST_ADMIN_WAIT_MS);
    int rc;
    for (;;) {
        hc_conn_t *c = hc_db_acquire(db);
        rc = auth_username_valid(user) ? auth_store_admin_get(c, user, &a) : HC_ENOTFOUND;
        hc_db_release(db, c);
        if (rc != HC_ENOTFOUND || !first || hc_deadline_left(deadline) == 0)
            break;
        hc_sleep_ms(20);
    }
    hc_db_destroy(db);
    if (rc == HC_ENOTFOUND || (!rc && a.role == HC_ROLE_NONE)) {
        fprintf(err, "no admin called \"%s\" (healthcenter admin list)%s\n", user,
                first ? "; the first super-admin is stored when notification starts" : "");
        return 1;
    }
    if (rc) {
        fprintf(err, "cannot read admin %s: %s\n", user, hc_strerror(rc));
        return 1;
    }
    p->role = a.role;
    hc_strlcpy(p->sub, a.username, sizeof p->sub);
    memcpy(p->centers, a.centers, a.n_centers * sizeof a.centers[0]);
    p->n_centers = a.n_centers;
    return 0;
}

int auth_cli_token(int argc, char **argv, FILE *out, FILE *err)
{
    hc_principal_t p;
    long long ttl = hc_cfg.token_ttl_s;
    memset(&p, 0, sizeof p);
    if (argc == 5 && strcmp(argv[3], "--ttl") == 0) {
        if (hc_parse_i64(argv[4], &ttl) || ttl < 1 || ttl > 31LL * 86400) {
            fprintf(err, "--ttl: seconds from 1 to %d, got \"%s\"\n", 31 * 86400, argv[4]);
            return 2;
        }
    } else if (argc != 3) {
        fputs(TOKEN_USAGE, err);
        return 2;
    }
    const char *who = argv[1], *name = argv[2];
    if (strcmp(who, "--phone") == 0) {
        p.role = HC_ROLE_CUSTOMER;
        if (hc_phone_normalize(name, p.sub, sizeof p.sub) != 0) {
            fprintf(err, "--phone: \"%s\" is not a Korean mobile number\n", name);
            return 2;
        }
    } else if (strcmp(who, "--service") == 0) {
        p.role = HC_ROLE_SERVICE;
        if (!service_name_valid(name)) {
            fprintf(err, "--service: a name of 1-32 of a-z 0-9 _ -, got \"%s\"\n", name);
            return 2;
        }
        hc_strlcpy(p.sub, name, sizeof p.sub);
    } else if (strcmp(who, "--admin") == 0) {
        if (admin_principal(name, &p, err) != 0)
            return 1;
    } else {
        fputs(TOKEN_USAGE, err);
        return 2;
    }
    if (!hc_cfg.jwt_secret[0] && mkdir(hc_cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(err, "cannot create the data directory %s: %s\n", hc_cfg.data_dir, strerror(errno));
        return 1;
    }
    int rc = hc_token_init(hc_cfg.jwt_secret, hc_cfg.data_dir);
    if (rc) {
        fprintf(err, "cannot load the token key (HC_JWT_SECRET, or %s/jwt.key): %s\n",
                hc_cfg.data_dir, hc_strerror(rc));
        return 1;
    }
    char tok[HC_TOKEN_MAX_LEN + 1];
    /* The real clock, as every service verifies tokens by it. */
    if (hc_token_issue(&p, ttl, (int64_t)time(NULL), tok, sizeof tok)) {
        fprintf(err, "cannot issue the token\n");
        return 1;
    }
    fprintf(out, "%s\n", tok);
    return 0;
}
