/* Checks hc_token: issue/verify round trips per role, expiry, forged and
 * tampered tokens, alg=none and other algorithms, claims a role needs, length
 * limits, the Authorization header and the key file. */
#include "hc_test.h"

#include <sodium.h>

#include "hc_err.h"
#include "hc_token.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"
#define NOW 1800000000LL

static int setup(void **state)
{
    (void)state;
    assert_int_equal(hc_token_init(SECRET, NULL), 0);
    return 0;
}

static hc_principal_t principal(hc_role_t role, const char *sub)
{
    hc_principal_t p;
    memset(&p, 0, sizeof p);
    p.role = role;
    snprintf(p.sub, sizeof p.sub, "%s", sub);
    return p;
}

static void b64url(const char *in, size_t len, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, (const unsigned char *)in, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A token with the given header and claims, signed HS256 with key (or with
 * an empty signature when key is NULL): what an attacker, or a holder of the
 * secret, could make by hand. */
static void forge(const char *header, const char *claims, const char *key, char *out, size_t cap)
{
    char h[512], c[4096];
    b64url(header, strlen(header), h, sizeof h);
    b64url(claims, strlen(claims), c, sizeof c);
    int n = snprintf(out, cap, "%s.%s", h, c);
    assert_true(n > 0 && (size_t)n < cap);
    if (!key) {
        strcat(out, ".");
        return;
    }
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)out, strlen(out));
    crypto_auth_hmacsha256_final(&st, mac);
    char sig[64];
    b64url((const char *)mac, sizeof mac, sig, sizeof sig);
    strcat(out, ".");
    strcat(out, sig);
}

static const char *HS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static void test_round_trip_every_role(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out;

    hc_principal_t admin = principal(HC_ROLE_ADMIN, "kim");
    admin.centers[0] = 3;
    admin.centers[1] = 7;
    admin.n_centers = 2;
    assert_int_equal(hc_token_issue(&admin, 3600, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    assert_int_equal(out.role, HC_ROLE_ADMIN);
    assert_string_equal(out.sub, "kim");
    assert_int_equal(out.n_centers, 2);
    assert_int_equal(out.centers[0], 3);
    assert_int_equal(out.centers[1], 7);
    assert_int_equal(out.exp, NOW + 3600);
    assert_true(hc_principal_has_center(&out, 7));
    assert_false(hc_principal_has_center(&out, 4));

    hc_principal_t cust = principal(HC_ROLE_CUSTOMER, "01012345678");
    assert_int_equal(hc_token_issue(&cust, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    assert_int_equal(out.role, HC_ROLE_CUSTOMER);
    assert_string_equal(out.sub, "01012345678");
    assert_int_equal(out.n_centers, 0);
    assert_false(hc_principal_has_center(&out, 1));

    hc_principal_t sup = principal(HC_ROLE_SUPERADMIN, "root");
    assert_int_equal(hc_token_issue(&sup, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    assert_int_equal(out.role, HC_ROLE_SUPERADMIN);
    assert_true(hc_principal_has_center(&out, 12345));

    hc_principal_t svc = principal(HC_ROLE_SERVICE, "order");
    assert_int_equal(hc_token_issue(&svc, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    assert_int_equal(out.role, HC_ROLE_SERVICE);
    assert_string_equal(out.sub, "order");
    assert_false(hc_principal_has_center(&out, 1));
}

static void test_issue_refuses_bad_principals(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t p = principal(HC_ROLE_NONE, "x");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), HC_EINVAL);
    p = principal(HC_ROLE_CUSTOMER, "010-1234-5678"); /* a customer's sub is digits only */
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), HC_EINVAL);
    p = principal(HC_ROLE_ADMIN, "");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), HC_EINVAL);
    p = principal(HC_ROLE_ADMIN, "has space");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), HC_EINVAL);
    p = principal(HC_ROLE_SERVICE, "order");
    assert_int_equal(hc_token_issue(&p, 0, NOW, tok, sizeof tok), HC_EINVAL);
    /* too small a buffer: refused, never cut short */
    char small[40];
    assert_int_equal(hc_token_issue(&p, 60, NOW, small, sizeof small), HC_EINVAL);
    assert_string_equal(small, "");
}

static void test_expired(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out, p = principal(HC_ROLE_CUSTOMER, "01012345678");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW + 59, &out), 0);
    assert_int_equal(hc_token_verify(tok, NOW + 60, &out), HC_EINVAL);
    assert_int_equal(out.role, HC_ROLE_NONE);
    assert_int_equal(hc_token_verify(tok, NOW + 100000, &out), HC_EINVAL);
}

/* A token verified once is remembered: the second verification gives the
 * same principal, and still ends at expiry and when the key changes. */
static void test_verified_tokens_are_cached_safely(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t a, b, p = principal(HC_ROLE_ADMIN, "kim");
    p.centers[0] = 3;
    p.centers[1] = 7;
    p.n_centers = 2;
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &a), 0);
    assert_int_equal(hc_token_verify(tok, NOW + 1, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(b.n_centers, 2);
    assert_int_equal(b.centers[1], 7);
    assert_string_equal(b.sub, "kim");
    /* many other tokens verified meanwhile (they take its slot or not) */
    for (int i = 0; i < 200; i++) {
        char other[HC_TOKEN_MAX_LEN + 1];
        hc_principal_t q = principal(HC_ROLE_CUSTOMER, "01012345678"), o;
        assert_int_equal(hc_token_issue(&q, 60 + i, NOW, other, sizeof other), 0);
        assert_int_equal(hc_token_verify(other, NOW, &o), 0);
    }
    assert_int_equal(hc_token_verify(tok, NOW + 2, &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    /* a prefix of a cached token is no token */
    char cut[HC_TOKEN_MAX_LEN + 1];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(tok) - 1, tok);
    assert_int_equal(hc_token_verify(cut, NOW, &b), HC_EINVAL);
    /* expiry is checked on every use */
    assert_int_equal(hc_token_verify(tok, NOW + 60, &b), HC_EINVAL);
    assert_int_equal(b.role, HC_ROLE_NONE);
    /* a new key forgets what the old one verified */
    assert_int_equal(hc_token_verify(tok, NOW, &b), 0);
    assert_int_equal(hc_token_init("another-secret-of-at-least-32-bytes!!", NULL), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &b), HC_EINVAL);
    assert_int_equal(hc_token_init(SECRET, NULL), 0);
}

static void test_forged_signature(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out, p = principal(HC_ROLE_SUPERADMIN, "root");
    /* signed with another secret */
    assert_int_equal(hc_token_init("another-secret-of-at-least-32-bytes!!", NULL), 0);
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_init(SECRET, NULL), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    assert_int_equal(out.role, HC_ROLE_NONE);

    /* our own token with one signature character changed */
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);

    /* the signature dropped */
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    *(strrchr(tok, '.') + 1) = '\0';
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
}

static void test_alg_none_and_other_algorithms(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out;
    const char *claims =
        "{\"iss\":\"healthcenter\",\"sub\":\"root\",\"role\":\"superadmin\",\"exp\":1900000000}";
    /* the same claims, correctly signed, verify: the refusals below are the alg */
    forge(HS256, claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);

    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    forge("{\"alg\":\"none\"}", claims, NULL, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    /* alg=none with our valid HS256 signature attached */
    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    /* another algorithm named in the header */
    forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    assert_int_equal(out.role, HC_ROLE_NONE);
}

static void test_tampered_payload(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1], evil[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out, p = principal(HC_ROLE_CUSTOMER, "01012345678");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    /* the payload of a superadmin token under the customer token's signature */
    forge(HS256,
          "{\"iss\":\"healthcenter\",\"sub\":\"root\",\"role\":\"superadmin\",\"exp\":1900000000}",
          NULL, evil, sizeof evil);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char *edot1 = strchr(evil, '.'), *edot2 = strrchr(evil, '.');
    char spliced[2 * HC_TOKEN_MAX_LEN];
    snprintf(spliced, sizeof spliced, "%.*s%.*s%s", (int)(dot1 - tok), tok, (int)(edot2 - edot1),
             edot1, dot2);
    assert_int_equal(hc_token_verify(spliced, NOW, &out), HC_EINVAL);
    assert_int_equal(out.role, HC_ROLE_NONE);
}

static void test_claims_each_role_needs(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1];
    hc_principal_t out;
    /* Signed with our secret, so only the claims decide. */
    static const char *const bad[] = {
        /* unknown role */
        "{\"iss\":\"healthcenter\",\"sub\":\"x\",\"role\":\"root\",\"exp\":1900000000}",
        /* no role */
        "{\"iss\":\"healthcenter\",\"sub\":\"x\",\"exp\":1900000000}",
        /* role of another type */
        "{\"iss\":\"healthcenter\",\"sub\":\"x\",\"role\":1,\"exp\":1900000000}",
        /* no exp, exp a string */
        "{\"iss\":\"healthcenter\",\"sub\":\"root\",\"role\":\"superadmin\"}",
        "{\"iss\":\"healthcenter\",\"sub\":\"root\",\"role\":\"superadmin\",\"exp\":"
        "\"1900000000\"}",
        /* no sub, empty sub, a customer's sub not digits */
        "{\"iss\":\"healthcenter\",\"role\":\"service\",\"exp\":1900000000}",
        "{\"iss\":\"healthcenter\",\"sub\":\"\",\"role\":\"service\",\"exp\":1900000000}",
        "{\"iss\":\"healthcenter\",\"sub\":\"010-1234\",\"role\":\"customer\",\"exp\":1900000000}",
        /* an admin without centers, with centers that are not ids */
        "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"exp\":1900000000}",
        "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"centers\":[\"1\"],"
        "\"exp\":1900000000}",
        "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"centers\":[0],"
        "\"exp\":1900000000}",
        "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"centers\":1,"
        "\"exp\":1900000000}",
        /* another issuer, none */
        "{\"iss\":\"elsewhere\",\"sub\":\"root\",\"role\":\"superadmin\",\"exp\":1900000000}",
        "{\"sub\":\"root\",\"role\":\"superadmin\",\"exp\":1900000000}",
        /* not an object */
        "[1,2,3]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        forge(HS256, bad[i], SECRET, tok, sizeof tok);
        if (hc_token_verify(tok, NOW, &out) != HC_EINVAL || out.role != HC_ROLE_NONE)
            fail_msg("claims accepted: %s", bad[i]);
    }
    /* an admin with an empty list of centers is a valid admin of nothing */
    forge(HS256,
          "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"centers\":[],"
          "\"exp\":1900000000}",
          SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    assert_int_equal(out.n_centers, 0);
    assert_false(hc_principal_has_center(&out, 1));
}

static void test_too_long(void **state)
{
    (void)state;
    /* a claim padding the token past HC_TOKEN_MAX_LEN, correctly signed */
    char claims[2048], tok[4096];
    char pad[1600];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    snprintf(claims, sizeof claims,
             "{\"iss\":\"healthcenter\",\"sub\":\"root\",\"role\":\"superadmin\","
             "\"exp\":1900000000,\"pad\":\"%s\"}",
             pad);
    forge(HS256, claims, SECRET, tok, sizeof tok);
    assert_true(strlen(tok) > HC_TOKEN_MAX_LEN);
    hc_principal_t out;
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    /* a sub as long as the limit is refused, one shorter accepted */
    char sub[HC_TOKEN_SUB_MAX + 1];
    memset(sub, 'b', HC_TOKEN_SUB_MAX);
    sub[HC_TOKEN_SUB_MAX] = '\0';
    snprintf(claims, sizeof claims,
             "{\"iss\":\"healthcenter\",\"sub\":\"%s\",\"role\":\"service\",\"exp\":1900000000}",
             sub);
    forge(HS256, claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    sub[HC_TOKEN_SUB_MAX - 1] = '\0';
    snprintf(claims, sizeof claims,
             "{\"iss\":\"healthcenter\",\"sub\":\"%s\",\"role\":\"service\",\"exp\":1900000000}",
             sub);
    forge(HS256, claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    /* more centers than a token holds */
    char centers[400] = "";
    for (int i = 1; i <= HC_TOKEN_MAX_CENTERS + 1; i++)
        snprintf(centers + strlen(centers), sizeof centers - strlen(centers), "%s%d",
                 i > 1 ? "," : "", i);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"healthcenter\",\"sub\":\"kim\",\"role\":\"admin\",\"centers\":[%s],"
             "\"exp\":1900000000}",
             centers);
    forge(HS256, claims, SECRET, tok, sizeof tok);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
}

static void test_garbage(void **state)
{
    (void)state;
    hc_principal_t out;
    static const char *const bad[] = {"", ".", "..", "a.b.c", "abc", "a.b", "...."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hc_token_verify(bad[i], NOW, &out), HC_EINVAL);
    assert_int_equal(hc_token_verify(NULL, NOW, &out), HC_EINVAL);
}

static void test_authorization_header(void **state)
{
    (void)state;
    char tok[HC_TOKEN_MAX_LEN + 1], hdr[HC_TOKEN_MAX_LEN + 16];
    hc_principal_t out, p = principal(HC_ROLE_SERVICE, "order");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_from_header(NULL, NOW, &out), HC_ENOTFOUND);
    assert_int_equal(hc_token_from_header("", NOW, &out), HC_ENOTFOUND);
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    assert_int_equal(hc_token_from_header(hdr, NOW, &out), 0);
    assert_string_equal(out.sub, "order");
    snprintf(hdr, sizeof hdr, "bEaReR %s", tok);
    assert_int_equal(hc_token_from_header(hdr, NOW, &out), 0);
    snprintf(hdr, sizeof hdr, "Basic %s", tok);
    assert_int_equal(hc_token_from_header(hdr, NOW, &out), HC_EINVAL);
    assert_int_equal(hc_token_from_header(tok, NOW, &out), HC_EINVAL);
    assert_int_equal(hc_token_from_header("Bearer", NOW, &out), HC_EINVAL);
    assert_int_equal(hc_token_from_header("Bearer ", NOW, &out), HC_EINVAL);
    assert_int_equal(out.role, HC_ROLE_NONE);
}

static void test_role_names(void **state)
{
    (void)state;
    assert_string_equal(hc_role_name(HC_ROLE_NONE), "");
    assert_string_equal(hc_role_name(HC_ROLE_CUSTOMER), "customer");
    assert_string_equal(hc_role_name(HC_ROLE_ADMIN), "admin");
    assert_string_equal(hc_role_name(HC_ROLE_SUPERADMIN), "superadmin");
    assert_string_equal(hc_role_name(HC_ROLE_SERVICE), "service");
    assert_string_equal(hc_role_name((hc_role_t)99), "");
}

static void test_secret_too_short(void **state)
{
    (void)state;
    assert_int_equal(hc_token_init("short", NULL), HC_EINVAL);
    assert_int_equal(hc_token_init(SECRET, NULL), 0);
}

/* Without a secret the key comes from data_dir/jwt.key: created 0600 on the
 * first start, the same key on the next (tokens outlive a restart). */
static void test_key_file(void **state)
{
    (void)state;
    char dir[256], path[512], tok[HC_TOKEN_MAX_LEN + 1];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(path, sizeof path, dir, "jwt.key");
    assert_int_equal(hc_token_init("", dir), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    hc_principal_t out, p = principal(HC_ROLE_SERVICE, "order");
    assert_int_equal(hc_token_issue(&p, 60, NOW, tok, sizeof tok), 0);
    assert_int_equal(hc_token_init(NULL, dir), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), 0);
    /* a token of the key file does not verify under a configured secret */
    assert_int_equal(hc_token_init(SECRET, dir), 0);
    assert_int_equal(hc_token_verify(tok, NOW, &out), HC_EINVAL);
    /* an unusable data directory is an error, not a key of zeros */
    assert_int_equal(hc_token_init(NULL, "/nonexistent/dir"), HC_EIO);
    hc_test_rmtree(dir);
    assert_int_equal(hc_token_init(SECRET, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_round_trip_every_role, setup),
        cmocka_unit_test_setup(test_issue_refuses_bad_principals, setup),
        cmocka_unit_test_setup(test_expired, setup),
        cmocka_unit_test_setup(test_verified_tokens_are_cached_safely, setup),
        cmocka_unit_test_setup(test_forged_signature, setup),
        cmocka_unit_test_setup(test_alg_none_and_other_algorithms, setup),
        cmocka_unit_test_setup(test_tampered_payload, setup),
        cmocka_unit_test_setup(test_claims_each_role_needs, setup),
        cmocka_unit_test_setup(test_too_long, setup),
        cmocka_unit_test_setup(test_garbage, setup),
        cmocka_unit_test_setup(test_authorization_header, setup),
        cmocka_unit_test_setup(test_role_names, setup),
        cmocka_unit_test_setup(test_secret_too_short, setup),
        cmocka_unit_test_setup(test_key_file, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
