/* Checks auth_domain: sign-in codes (random digits, keyed digests bound to
 * the phone, the verdicts of a check), Argon2id hashes with the documented
 * limits, and the names, passwords and centers an admin may have. */
#include "hc_test.h"

#include <sodium.h>

#include "hc_err.h"
#include "notification/auth_domain.h"

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hc_auth_init("a unit test secret of at least 32 bytes", NULL), 0);
    return 0;
}

static void test_codes_are_six_random_digits(void **state)
{
    (void)state;
    char code[AUTH_CODE_DIGITS + 1];
    int seen[10] = {0};
    for (int i = 0; i < 200; i++) {
        auth_code_new(code);
        assert_true(auth_code_valid(code));
        for (int k = 0; k < AUTH_CODE_DIGITS; k++)
            seen[code[k] - '0']++;
    }
    for (int d = 0; d < 10; d++)
        assert_true(seen[d] > 0); /* 1200 digits: every digit shows up */
    assert_false(auth_code_valid("12345"));
    assert_false(auth_code_valid("1234567"));
    assert_false(auth_code_valid("12345a"));
    assert_false(auth_code_valid(NULL));
}

static void test_digest_is_keyed_and_bound_to_the_phone(void **state)
{
    (void)state;
    char a[AUTH_DIGEST_SIZE], b[AUTH_DIGEST_SIZE], k[AUTH_DIGEST_SIZE];
    auth_code_digest("01012345678", "123456", a);
    auth_code_digest("01012345678", "123456", b);
    assert_string_equal(a, b);
    assert_true(hc_test_is_lower_hex(a, HC_AUTH_HEX_LEN));
    auth_code_digest("01099999999", "123456", b);
    assert_string_not_equal(a, b);
    auth_phone_key("01012345678", k);
    assert_string_not_equal(a, k);
    /* another key, another digest: nobody without the key can test guesses */
    assert_int_equal(hc_auth_init("another unit test secret, 32 bytes or more", NULL), 0);
    auth_code_digest("01012345678", "123456", b);
    assert_string_not_equal(a, b);
}

static auth_otp_t otp_row(const char *phone, const char *code, int64_t expires_at)
{
    auth_otp_t row;
    memset(&row, 0, sizeof row);
    auth_code_digest(phone, code, row.code_hash);
    row.expires_at = expires_at;
    return row;
}

static void test_otp_verdicts(void **state)
{
    (void)state;
    const char *phone = "01012345678";
    auth_otp_t row = otp_row(phone, "123456", 1000);
    assert_int_equal(auth_otp_check(&row, phone, "123456", 999, 5), AUTH_OTP_OK);
    assert_int_equal(auth_otp_check(&row, phone, "123457", 999, 5), AUTH_OTP_WRONG);
    /* the right code for another phone is wrong for this one */
    assert_int_equal(auth_otp_check(&row, "01099999999", "123456", 999, 5), AUTH_OTP_WRONG);
    assert_int_equal(auth_otp_check(&row, phone, "garbage", 999, 5), AUTH_OTP_WRONG);
    assert_int_equal(auth_otp_check(NULL, phone, "123456", 999, 5), AUTH_OTP_NONE);
    /* expiry: at expires_at it is over */
    assert_int_equal(auth_otp_check(&row, phone, "123456", 1000, 5), AUTH_OTP_EXPIRED);
    /* locked after max wrong tries, even for the right code */
    row.attempts = 4;
    assert_int_equal(auth_otp_check(&row, phone, "123456", 999, 5), AUTH_OTP_OK);
    row.attempts = 5;
    assert_int_equal(auth_otp_check(&row, phone, "123456", 999, 5), AUTH_OTP_LOCKED);
    row.attempts = 0;
    row.used = 1;
    assert_int_equal(auth_otp_check(&row, phone, "123456", 999, 5), AUTH_OTP_USED);
    /* a row whose digest is damaged matches nothing */
    row = otp_row(phone, "123456", 1000);
    row.code_hash[10] = '\0';
    assert_int_equal(auth_otp_check(&row, phone, "123456", 999, 5), AUTH_OTP_WRONG);
}

static void test_password_hash_parameters(void **state)
{
    (void)state;
    char h[AUTH_PWHASH_STR_SIZE], h2[AUTH_PWHASH_STR_SIZE];
    assert_int_equal(auth_password_hash("correct horse", h), 0);
    /* Argon2id, version 19, 64 MiB, 2 passes, one lane: docs/accounts.md */
    assert_int_equal(strncmp(h, "$argon2id$v=19$m=65536,t=2,p=1$", 31), 0);
    assert_true(auth_password_verify(h, "correct horse"));
    assert_false(auth_password_verify(h, "correct horsf"));
    assert_false(auth_password_verify(h, ""));
    assert_false(auth_password_needs_rehash(h));
    /* salted: the same password hashes differently */
    assert_int_equal(auth_password_hash("correct horse", h2), 0);
    assert_string_not_equal(h, h2);
    /* weaker limits than ours want a rehash, and still verify */
    assert_int_equal(crypto_pwhash_str_alg(h2, "pw", 2, crypto_pwhash_OPSLIMIT_MIN,
                                           crypto_pwhash_MEMLIMIT_MIN,
                                           crypto_pwhash_ALG_ARGON2ID13),
                     0);
    assert_true(auth_password_needs_rehash(h2));
    assert_true(auth_password_verify(h2, "pw"));
    /* no such user: runs a verification, never succeeds */
    assert_false(auth_password_verify(NULL, "correct horse"));
    assert_false(auth_password_verify("", ""));
    assert_false(auth_password_verify("not a hash", "x"));
}

static void test_names_passwords_centers(void **state)
{
    (void)state;
    assert_true(auth_username_valid("kim.admin@center-1_x"));
    assert_false(auth_username_valid(""));
    assert_false(auth_username_valid("has space"));
    assert_false(auth_username_valid("new\nline"));
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(auth_username_valid(longname));
    longname[AUTH_USERNAME_MAX] = '\0';
    assert_true(auth_username_valid(longname));

    assert_false(auth_password_valid("1234567"));
    assert_true(auth_password_valid("12345678"));
    assert_false(auth_password_valid(NULL));

    int64_t ids[HC_TOKEN_MAX_CENTERS];
    size_t n = 0;
    char out[64];
    assert_int_equal(auth_centers_parse("1,2,7", ids, &n), 0);
    assert_int_equal(n, 3);
    auth_centers_format(ids, n, out, sizeof out);
    assert_string_equal(out, "1,2,7");
    assert_int_equal(auth_centers_parse("", ids, &n), 0);
    assert_int_equal(n, 0);
    static const char *const bad[] = {"0", "-1", "1,,2", "1,", ",1", "a", "1,1", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (auth_centers_parse(bad[i], ids, &n) != HC_EINVAL || n != 0)
            fail_msg("centers \"%s\" accepted", bad[i]);
    }

    char pw[25], pw2[25];
    auth_password_random(pw);
    auth_password_random(pw2);
    assert_int_equal(strlen(pw), 24);
    assert_string_not_equal(pw, pw2);
    assert_true(auth_password_valid(pw));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_codes_are_six_random_digits, setup),
        cmocka_unit_test_setup(test_digest_is_keyed_and_bound_to_the_phone, setup),
        cmocka_unit_test_setup(test_otp_verdicts, setup),
        cmocka_unit_test_setup(test_password_hash_parameters, setup),
        cmocka_unit_test_setup(test_names_passwords_centers, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
