/* Checks hc_strerror: every hc_err code has its own non-empty name, unknown codes still give a
 * string. */
#include "hc_test.h"

#include "hc_err.h"

static void test_names_distinct(void **state)
{
    (void)state;
    const int codes[] = {HC_OK,      HC_EINVAL,    HC_ENOMEM,   HC_EIO,       HC_ENOTFOUND,
                         HC_EBUSY,   HC_ETIMEDOUT, HC_EUNAVAIL, HC_ECONFLICT, HC_EPROTO,
                         HC_ECLOSED, HC_ENOSPC,    HC_ECORRUPT};
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = hc_strerror(codes[i]);
        assert_non_null(a);
        assert_true(a[0] != '\0');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a, hc_strerror(codes[j]));
    }
}

static void test_unknown_code(void **state)
{
    (void)state;
    assert_non_null(hc_strerror(-9999));
    assert_non_null(hc_strerror(12345));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_distinct),
        cmocka_unit_test(test_unknown_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
