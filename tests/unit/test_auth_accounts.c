/* Checks auth_accounts on a real SQLite database: wrong codes count and lock
 * the code after max tries, a used code cannot be replayed, an expired one is
 * refused, a new code replaces the old, the per-phone and per-client limits
 * (refusals change nothing), admin sign-in, and the first super-admin. */
#include "hc_test.h"

#include "hc_config.h"
#include "hc_err.h"
#include "notification/auth_accounts.h"
#include "notification/notification_store.h"

#define PHONE "01012345678"
#define T0 1800000000LL

typedef struct fixture {
    char dir[256];
    hc_db_t *db;
    auth_otp_opts_t o;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char path[512];
    hc_test_mkdtemp(f->dir, sizeof f->dir);
    hc_test_path(path, sizeof path, f->dir, "notification.db");
    assert_int_equal(hc_auth_init("a unit test secret of at least 32 bytes", NULL), 0);
    assert_int_equal(
        hc_db_open(path, "NORMAL", notification_migrations, NOTIFICATION_N_MIGRATIONS, &f->db), 0);
    f->o = (auth_otp_opts_t){
        .ttl_s = 300, .max_attempts = 5, .per_phone = 3, .per_client = 5, .window_s = 900};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hc_db_destroy(f->db);
    hc_test_rmtree(f->dir);
    free(f);
    return 0;
}

static void request_code(fixture_t *f, const char *phone, const char *client, int64_t now,
                         char code[AUTH_CODE_DIGITS + 1])
{
    auth_limit_t limited;
    assert_int_equal(auth_otp_request(f->db, &f->o, phone, client, now, code, &limited), 0);
    assert_int_equal(limited, AUTH_LIMIT_NONE);
    assert_true(auth_code_valid(code));
}

static auth_otp_verdict_t check(fixture_t *f, const char *phone, const char *code, int64_t now)
{
    auth_otp_verdict_t v;
    assert_int_equal(auth_otp_verify(f->db, &f->o, phone, code, now, &v), 0);
    return v;
}

static void wrong_of(const char *code, char out[AUTH_CODE_DIGITS + 1])
{
    memcpy(out, code, AUTH_CODE_DIGITS + 1);
    out[0] = out[0] == '9' ? '0' : (char)(out[0] + 1);
}

/* The stored row of phone, to see what a call changed. */
static auth_otp_t stored(fixture_t *f, const char *phone)
{
    char key[AUTH_DIGEST_SIZE];
    auth_otp_t row;
    auth_phone_key(phone, key);
    hc_conn_t *c = hc_db_acquire(f->db);
    assert_int_equal(auth_store_otp_get(c, key, &row), 0);
    hc_db_release(f->db, c);
    return row;
}

static void test_wrong_codes_count_and_lock(void **state)
{
    fixture_t *f = *state;
    char code[AUTH_CODE_DIGITS + 1], bad[AUTH_CODE_DIGITS + 1];
    request_code(f, PHONE, "1.2.3.4", T0, code);
    wrong_of(code, bad);
    /* the code is stored only as a digest */
    auth_otp_t row = stored(f, PHONE);
    assert_null(strstr(row.code_hash, code));
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(check(f, PHONE, bad, T0 + 1), AUTH_OTP_WRONG);
        assert_int_equal(stored(f, PHONE).attempts, i);
    }
    assert_int_equal(check(f, PHONE, code, T0 + 1), AUTH_OTP_LOCKED);
    assert_int_equal(check(f, PHONE, bad, T0 + 1), AUTH_OTP_LOCKED);
    assert_int_equal(stored(f, PHONE).attempts, 5); /* a locked code counts no more */
    /* a new code starts over */
    request_code(f, PHONE, "1.2.3.4", T0 + 2, code);
    assert_int_equal(stored(f, PHONE).attempts, 0);
    assert_int_equal(check(f, PHONE, code, T0 + 3), AUTH_OTP_OK);
}

static void test_used_code_cannot_be_replayed(void **state)
{
    fixture_t *f = *state;
    char code[AUTH_CODE_DIGITS + 1];
    request_code(f, PHONE, "1.2.3.4", T0, code);
    assert_int_equal(check(f, PHONE, code, T0 + 1), AUTH_OTP_OK);
    assert_int_equal(check(f, PHONE, code, T0 + 2), AUTH_OTP_USED);
    assert_int_equal(stored(f, PHONE).used, 1);
}

static void test_expired_code_is_refused(void **state)
{
    fixture_t *f = *state;
    char code[AUTH_CODE_DIGITS + 1];
    request_code(f, PHONE, "1.2.3.4", T0, code);
    assert_int_equal(check(f, PHONE, code, T0 + 300), AUTH_OTP_EXPIRED);
    assert_int_equal(stored(f, PHONE).attempts, 0); /* not a wrong try */
    request_code(f, PHONE, "1.2.3.4", T0 + 301, code);
    assert_int_equal(check(f, PHONE, code, T0 + 600), AUTH_OTP_OK);
}

static void test_new_code_replaces_the_old(void **state)
{
    fixture_t *f = *state;
    char first[AUTH_CODE_DIGITS + 1], second[AUTH_CODE_DIGITS + 1];
    request_code(f, PHONE, "1.2.3.4", T0, first);
    do {
        request_code(f, PHONE, "1.2.3.4", T0 + 1, second);
    } while (strcmp(first, second) == 0 && (f->o.per_phone += 1)); /* 1 in a million */
    assert_int_equal(check(f, PHONE, first, T0 + 2), AUTH_OTP_WRONG);
    assert_int_equal(check(f, PHONE, second, T0 + 2), AUTH_OTP_OK);
    /* no code for another phone */
    assert_int_equal(check(f, "01099999999", second, T0 + 2), AUTH_OTP_NONE);
}

static void test_rate_limits(void **state)
{
    fixture_t *f = *state;
    char code[AUTH_CODE_DIGITS + 1], last[AUTH_CODE_DIGITS + 1];
    auth_limit_t limited;
    for (int i = 0; i < 3; i++)
        request_code(f, PHONE, "1.2.3.4", T0 + i, last);
    assert_int_equal(auth_otp_request(f->db, &f->o, PHONE, "5.6.7.8", T0 + 10, code, &limited), 0);
    assert_int_equal(limited, AUTH_LIMIT_PHONE);
    assert_string_equal(code, "");
    /* the refusal changed nothing: the last code still signs in */
    assert_int_equal(check(f, PHONE, last, T0 + 11), AUTH_OTP_OK);
    /* client 1.2.3.4 has asked 3 times; two more phones reach its 5 */
    request_code(f, "01000000001", "1.2.3.4", T0 + 12, code);
    request_code(f, "01000000002", "1.2.3.4", T0 + 13, code);
    assert_int_equal(
        auth_otp_request(f->db, &f->o, "01000000003", "1.2.3.4", T0 + 14, code, &limited), 0);
    assert_int_equal(limited, AUTH_LIMIT_CLIENT);
    /* another client is not limited */
    request_code(f, "01000000003", "5.6.7.8", T0 + 15, code);
    /* after the window both limits have passed */
    request_code(f, PHONE, "1.2.3.4", T0 + 903, code);
}

static void test_login(void **state)
{
    fixture_t *f = *state;
    int64_t centers[] = {1, 2};
    int created = 0;
    hc_principal_t p;
    assert_int_equal(
        auth_admin_set(f->db, "kim", "kims password", HC_ROLE_ADMIN, centers, 2, &created), 0);
    assert_true(created);
    assert_int_equal(auth_login(f->db, "kim", "kims password", &p), 0);
    assert_int_equal(p.role, HC_ROLE_ADMIN);
    assert_string_equal(p.sub, "kim");
    assert_int_equal(p.n_centers, 2);
    assert_int_equal(p.centers[1], 2);
    assert_int_equal(auth_login(f->db, "kim", "wrong password", &p), HC_EINVAL);
    assert_int_equal(p.role, HC_ROLE_NONE);
    assert_int_equal(auth_login(f->db, "nobody", "kims password", &p), HC_EINVAL);
    assert_int_equal(auth_login(f->db, "bad name!", "kims password", &p), HC_EINVAL);
    /* an update without a password keeps it, and changes the centers */
    assert_int_equal(auth_admin_set(f->db, "kim", NULL, HC_ROLE_ADMIN, centers, 1, &created), 0);
    assert_false(created);
    assert_int_equal(auth_login(f->db, "kim", "kims password", &p), 0);
    assert_int_equal(p.n_centers, 1);
    assert_int_equal(auth_admin_passwd(f->db, "kim", "a new password"), 0);
    assert_int_equal(auth_login(f->db, "kim", "kims password", &p), HC_EINVAL);
    assert_int_equal(auth_login(f->db, "kim", "a new password", &p), 0);
    assert_int_equal(auth_admin_passwd(f->db, "nobody", "a new password"), HC_ENOTFOUND);
    assert_int_equal(auth_admin_passwd(f->db, "kim", "short"), HC_EINVAL);
    assert_int_equal(auth_admin_set(f->db, "lee", NULL, HC_ROLE_ADMIN, centers, 1, NULL),
                     HC_ENOTFOUND);
    assert_int_equal(auth_admin_set(f->db, "lee", "password1", HC_ROLE_SERVICE, NULL, 0, NULL),
                     HC_EINVAL);
}

static void test_bootstrap(void **state)
{
    fixture_t *f = *state;
    char path[512], pw[64] = "";
    hc_principal_t p;
    hc_test_path(path, sizeof path, f->dir, HC_ADMIN_PASSWORD_FILE);
    /* no password configured: one is generated into a 0600 file, once */
    assert_int_equal(auth_bootstrap(f->db, "admin", "", f->dir), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(pw, sizeof pw, fp));
    fclose(fp);
    pw[strcspn(pw, "\n")] = '\0';
    assert_int_equal(auth_login(f->db, "admin", pw, &p), 0);
    assert_int_equal(p.role, HC_ROLE_SUPERADMIN);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(auth_bootstrap(f->db, "admin", NULL, f->dir), 0);
    assert_int_not_equal(access(path, F_OK), 0); /* a super-admin exists: nothing new */
    assert_int_equal(auth_login(f->db, "admin", pw, &p), 0);
    /* a configured password replaces it, and is kept on the next start */
    assert_int_equal(auth_bootstrap(f->db, "admin", "configured pw", f->dir), 0);
    assert_int_equal(auth_login(f->db, "admin", pw, &p), HC_EINVAL);
    assert_int_equal(auth_login(f->db, "admin", "configured pw", &p), 0);
    assert_int_equal(auth_bootstrap(f->db, "admin", "configured pw", f->dir), 0);
    assert_int_equal(auth_login(f->db, "admin", "configured pw", &p), 0);
    /* bad settings are refused */
    assert_int_equal(auth_bootstrap(f->db, "admin", "short", f->dir), HC_EINVAL);
    assert_int_equal(auth_bootstrap(f->db, "bad name", "configured pw", f->dir), HC_EINVAL);
}

/* Writes text to path with mode 0600. */
static void put_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0600), 0);
}

static void read_file(const char *path, char *out, size_t n)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(out, (int)n, fp));
    fclose(fp);
    out[strcspn(out, "\n")] = '\0';
}

/* The start path's two steps: prepare settles the file at once and leaves
 * the hash to finish; two instances preparing at once agree on one password;
 * a valid password already in the file is kept, an unusable one replaced. */
static void test_bootstrap_in_two_steps(void **state)
{
    fixture_t *f = *state;
    char path[512], pw[64] = "";
    hc_principal_t p;
    auth_boot_t a, b;
    hc_test_path(path, sizeof path, f->dir, HC_ADMIN_PASSWORD_FILE);
    assert_int_equal(auth_bootstrap_prepare(f->db, "admin", "", f->dir, &a), 0);
    assert_int_equal(auth_bootstrap_prepare(f->db, "admin", NULL, f->dir, &b), 0);
    assert_true(a.pending && a.generated && b.pending && b.generated);
    read_file(path, pw, sizeof pw);
    assert_string_equal(a.password, pw);
    assert_string_equal(b.password, pw); /* the second read the first's file */
    /* nothing stored before the slow step */
    assert_int_equal(auth_login(f->db, "admin", pw, &p), HC_EINVAL);
    assert_int_equal(auth_bootstrap_finish(f->db, &a), 0);
    assert_int_equal(a.pending, 0); /* wiped */
    assert_int_equal(a.password[0], '\0');
    assert_int_equal(auth_bootstrap_finish(f->db, &b), 0); /* lost: changes nothing */
    assert_int_equal(auth_login(f->db, "admin", pw, &p), 0);
    assert_int_equal(p.role, HC_ROLE_SUPERADMIN);
    /* a super-admin exists: nothing pending, the file untouched */
    assert_int_equal(auth_bootstrap_prepare(f->db, "admin", "", f->dir, &a), 0);
    assert_int_equal(a.pending, 0);
    /* a configured password: checked and set by the slow step only */
    assert_int_equal(auth_bootstrap_prepare(f->db, "admin", "configured pw", f->dir, &a), 0);
    assert_true(a.pending && !a.generated);
    assert_int_equal(auth_login(f->db, "admin", "configured pw", &p), HC_EINVAL);
    assert_int_equal(auth_bootstrap_finish(f->db, &a), 0);
    assert_int_equal(auth_login(f->db, "admin", "configured pw", &p), 0);
    assert_int_equal(auth_bootstrap_prepare(f->db, "bad name", "", f->dir, &a), HC_EINVAL);
}

static void test_bootstrap_keeps_a_written_password(void **state)
{
    fixture_t *f = *state;
    char path[512], pw[64] = "";
    hc_principal_t p;
    hc_test_path(path, sizeof path, f->dir, HC_ADMIN_PASSWORD_FILE);
    /* a start that wrote the file and stopped before storing the account */
    put_file(path, "written before a crash\n");
    assert_int_equal(auth_bootstrap(f->db, "admin", NULL, f->dir), 0);
    read_file(path, pw, sizeof pw);
    assert_string_equal(pw, "written before a crash");
    assert_int_equal(auth_login(f->db, "admin", "written before a crash", &p), 0);
}

static void test_bootstrap_replaces_an_unusable_file(void **state)
{
    fixture_t *f = *state;
    char path[512], pw[64] = "";
    hc_principal_t p;
    hc_test_path(path, sizeof path, f->dir, HC_ADMIN_PASSWORD_FILE);
    put_file(path, "short\n"); /* not a password login would accept */
    assert_int_equal(auth_bootstrap(f->db, "admin", NULL, f->dir), 0);
    read_file(path, pw, sizeof pw);
    assert_true(strlen(pw) >= 20);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(auth_login(f->db, "admin", pw, &p), 0);
    assert_int_equal(auth_login(f->db, "admin", "short", &p), HC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrong_codes_count_and_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_used_code_cannot_be_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_code_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_code_replaces_the_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_in_two_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_keeps_a_written_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap_replaces_an_unusable_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
