/* Checks hc_authz, the rules every service applies to its caller: the access
 * check of a route (401 without or with a bad token, 403 for a role the level
 * excludes), who may see, manage and book what, and the service token a
 * service issues for its own calls (it verifies, and is reused). */
#include "hc_test.h"

#include "hc_authz.h"
#include "hc_err.h"
#include "hc_time.h"
#include "hc_token.h"

static const hc_principal_t customer_a = {.role = HC_ROLE_CUSTOMER, .sub = "01011112222"};
static const hc_principal_t admin_1 = {
    .role = HC_ROLE_ADMIN, .sub = "center1", .centers = {1}, .n_centers = 1};
static const hc_principal_t super = {.role = HC_ROLE_SUPERADMIN, .sub = "root"};
static const hc_principal_t service = {.role = HC_ROLE_SERVICE, .sub = "order"};
static const hc_principal_t nobody = {.role = HC_ROLE_NONE};

static void test_access_check(void **state)
{
    (void)state;
    /* public: anyone, but a token that does not verify is refused */
    assert_int_equal(hc_authz_check(HC_ACCESS_PUBLIC, HC_ENOTFOUND, &nobody), HC_AUTHZ_ALLOW);
    assert_int_equal(hc_authz_check(HC_ACCESS_PUBLIC, 0, &customer_a), HC_AUTHZ_ALLOW);
    assert_int_equal(hc_authz_check(HC_ACCESS_PUBLIC, HC_EINVAL, &nobody), HC_AUTHZ_BAD_TOKEN);
    /* user: any valid token */
    assert_int_equal(hc_authz_check(HC_ACCESS_USER, HC_ENOTFOUND, &nobody), HC_AUTHZ_NO_TOKEN);
    assert_int_equal(hc_authz_check(HC_ACCESS_USER, HC_EINVAL, &nobody), HC_AUTHZ_BAD_TOKEN);
    assert_int_equal(hc_authz_check(HC_ACCESS_USER, 0, &customer_a), HC_AUTHZ_ALLOW);
    assert_int_equal(hc_authz_check(HC_ACCESS_USER, 0, &nobody), HC_AUTHZ_NO_TOKEN);
    /* ops: service and superadmin only */
    assert_int_equal(hc_authz_check(HC_ACCESS_OPS, 0, &customer_a), HC_AUTHZ_FORBIDDEN);
    assert_int_equal(hc_authz_check(HC_ACCESS_OPS, 0, &admin_1), HC_AUTHZ_FORBIDDEN);
    assert_int_equal(hc_authz_check(HC_ACCESS_OPS, 0, &service), HC_AUTHZ_ALLOW);
    assert_int_equal(hc_authz_check(HC_ACCESS_OPS, 0, &super), HC_AUTHZ_ALLOW);
    assert_int_equal(hc_authz_check(HC_ACCESS_OPS, HC_ENOTFOUND, &nobody), HC_AUTHZ_NO_TOKEN);
}

static void test_who_sees_what(void **state)
{
    (void)state;
    assert_true(hc_authz_may_see(&customer_a, "01011112222", 2));
    assert_false(hc_authz_may_see(&customer_a, "01033334444", 1));
    assert_false(hc_authz_may_see(&customer_a, "", 1)); /* a record naming no phone */
    assert_false(hc_authz_may_see(&customer_a, NULL, 1));
    assert_true(hc_authz_may_see(&admin_1, "01033334444", 1));
    assert_false(hc_authz_may_see(&admin_1, "01033334444", 2));
    assert_false(hc_authz_may_see(&admin_1, NULL, 0));
    assert_true(hc_authz_may_see(&super, NULL, 0));
    assert_true(hc_authz_may_see(&service, NULL, 0));
    assert_false(hc_authz_may_see(&nobody, "01011112222", 1));
    assert_false(hc_authz_may_see(NULL, "01011112222", 1));
}

static void test_who_manages_and_books(void **state)
{
    (void)state;
    assert_true(hc_authz_may_manage(&admin_1, 1));
    assert_false(hc_authz_may_manage(&admin_1, 2));
    assert_true(hc_authz_may_manage(&super, 2));
    assert_false(hc_authz_may_manage(&customer_a, 1));
    assert_false(hc_authz_may_manage(&service, 1));

    assert_true(hc_authz_may_book(&customer_a, "01011112222"));
    assert_false(hc_authz_may_book(&customer_a, "01033334444"));
    assert_true(hc_authz_may_book(&super, "01033334444")); /* support staff */
    assert_false(hc_authz_may_book(&admin_1, "01011112222"));
    assert_false(hc_authz_may_book(&service, "01011112222"));
    assert_false(hc_authz_may_book(&nobody, "01011112222"));
}

/* The service token verifies as role service with the service's name, and
 * the same token is sent again while it is fresh. */
static void test_service_token(void **state)
{
    (void)state;
    char a[HC_TOKEN_MAX_LEN + 40], b[HC_TOKEN_MAX_LEN + 40], small[16];
    hc_principal_t p;
    assert_int_equal(hc_authz_service_header("payment", a, sizeof a), 0);
    assert_int_equal(strncmp(a, "Authorization: Bearer ", 22), 0);
    assert_int_equal(hc_token_from_header(a + 15, hc_now_ms() / 1000, &p), 0);
    assert_int_equal(p.role, HC_ROLE_SERVICE);
    assert_string_equal(p.sub, "payment");
    assert_true(p.exp > hc_now_ms() / 1000 + HC_AUTHZ_REFRESH_S);
    assert_int_equal(hc_authz_service_header("payment", b, sizeof b), 0);
    assert_string_equal(a, b);
    assert_int_equal(hc_authz_service_header("payment", small, sizeof small), HC_EINVAL);
    assert_string_equal(small, "");
}

int main(void)
{
    assert_int_equal(hc_token_init("unit-test-secret-0123456789abcdef0123", "/nonexistent"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_access_check),
        cmocka_unit_test(test_who_sees_what),
        cmocka_unit_test(test_who_manages_and_books),
        cmocka_unit_test(test_service_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
