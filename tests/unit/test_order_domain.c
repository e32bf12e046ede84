/* Checks the order's status ranks, transitions and cancellation window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "order/order_domain.h"

static void ranks_order_the_statuses(void **state)
{
    (void)state;
    assert_int_equal(order_status_rank("PENDING"), 0);
    assert_int_equal(order_status_rank("PAID"), 1);
    assert_int_equal(order_status_rank("REQUESTED"), 2);
    assert_int_equal(order_status_rank("CONFIRMED"), 3);
    assert_int_equal(order_status_rank("REJECTED"), 4);
    assert_int_equal(order_status_rank("CANCELED"), 4);
    assert_int_equal(order_status_rank("FAILED"), 4);
    assert_int_equal(order_status_rank("paid"), -1);
    assert_int_equal(order_status_rank(NULL), -1);
}

static void moves_only_forward_and_never_out_of_final(void **state)
{
    (void)state;
    assert_true(order_status_can_move("PENDING", "PAID"));
    assert_true(order_status_can_move("PENDING", "REQUESTED"));
    assert_true(order_status_can_move("PAID", "REQUESTED"));
    assert_true(order_status_can_move("REQUESTED", "CONFIRMED"));
    assert_true(order_status_can_move("CONFIRMED", "REJECTED"));
    assert_true(order_status_can_move("PAID", "CANCELED"));
    assert_false(order_status_can_move("REQUESTED", "PAID"));
    assert_false(order_status_can_move("PAID", "PAID"));
    assert_false(order_status_can_move("CANCELED", "REJECTED"));
    assert_false(order_status_can_move("FAILED", "PAID"));
    assert_false(order_status_can_move("PAID", "BOGUS"));
}

static void only_active_bookings_are_cancellable(void **state)
{
    (void)state;
    assert_true(order_status_cancellable("PAID"));
    assert_true(order_status_cancellable("REQUESTED"));
    assert_true(order_status_cancellable("CONFIRMED"));
    assert_false(order_status_cancellable("PENDING"));
    assert_false(order_status_cancellable("CANCELED"));
    assert_false(order_status_cancellable("REJECTED"));
    assert_false(order_status_cancellable("FAILED"));
}

static void cancel_window_ends_with_the_day_before(void **state)
{
    (void)state;
    /* checkup on day 100, cutoff 1 day: allowed through day 99 */
    assert_true(order_cancel_in_time(98, 100, 1));
    assert_true(order_cancel_in_time(99, 100, 1));
    assert_false(order_cancel_in_time(100, 100, 1));
    assert_false(order_cancel_in_time(101, 100, 1));
    /* cutoff 0: allowed on the checkup day itself */
    assert_true(order_cancel_in_time(100, 100, 0));
    assert_false(order_cancel_in_time(101, 100, 0));
}

static void events_map_to_statuses(void **state)
{
    (void)state;
    assert_string_equal(order_status_for_event("ReservationAccepted"), "REQUESTED");
    assert_string_equal(order_status_for_event("ReservationConfirmed"), "CONFIRMED");
    assert_string_equal(order_status_for_event("ReservationRejected"), "REJECTED");
    assert_null(order_status_for_event("ReservationCanceled"));
    assert_null(order_status_for_event("PaymentCanceled"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranks_order_the_statuses),
        cmocka_unit_test(moves_only_forward_and_never_out_of_final),
        cmocka_unit_test(only_active_bookings_are_cancellable),
        cmocka_unit_test(cancel_window_ends_with_the_day_before),
        cmocka_unit_test(events_map_to_statuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
