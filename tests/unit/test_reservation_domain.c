/* Checks reservation_domain: status names and parsing, the admin and cancel
 * transition tables, capacity arithmetic, /slots date ranges and reason texts. */
#include "hc_test.h"

#include "hc_err.h"
#include "hc_valid.h"
#include "reservation/reservation_domain.h"

static void test_status_names_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"REQUESTED", "CONFIRMED", "REJECTED", "CANCELED"};
    for (int i = 0; i < RESERVATION_STATUS_COUNT; i++) {
        reservation_status_t s;
        assert_string_equal(reservation_status_name((reservation_status_t)i), names[i]);
        assert_int_equal(reservation_status_parse(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    assert_string_equal(reservation_status_name((reservation_status_t)99), "UNKNOWN");
}

static void test_status_parse_ignores_case_and_rejects_unknown(void **state)
{
    (void)state;
    reservation_status_t s = RESERVATION_CANCELED;
    assert_int_equal(reservation_status_parse("confirmed", &s), 0); /* the seed's spelling */
    assert_int_equal(s, RESERVATION_CONFIRMED);
    assert_int_equal(reservation_status_parse("Rejected", &s), 0);
    assert_int_equal(s, RESERVATION_REJECTED);
    assert_int_equal(reservation_status_parse("CANCELLED", &s), HC_EINVAL);
    assert_int_equal(reservation_status_parse("", &s), HC_EINVAL);
    assert_int_equal(reservation_status_parse(" CONFIRMED", &s), HC_EINVAL);
    assert_int_equal(reservation_status_parse("Reservation Complete", &s), HC_EINVAL);
    assert_int_equal(reservation_status_parse(NULL, &s), HC_EINVAL);
    assert_int_equal(s, RESERVATION_REJECTED); /* untouched on failure */
}

static void test_only_requested_and_confirmed_hold_capacity(void **state)
{
    (void)state;
    assert_true(reservation_status_holds_capacity(RESERVATION_REQUESTED));
    assert_true(reservation_status_holds_capacity(RESERVATION_CONFIRMED));
    assert_false(reservation_status_holds_capacity(RESERVATION_REJECTED));
    assert_false(reservation_status_holds_capacity(RESERVATION_CANCELED));
}

/* The whole admin table, cell by cell: expected move, release, event. */
static void test_admin_transition_table(void **state)
{
    (void)state;
    enum { I = RESERVATION_MOVE_INVALID, N = RESERVATION_MOVE_NOOP, A = RESERVATION_MOVE_APPLY };
    static const struct {
        int move, releases;
        const char *event;
    } want[RESERVATION_STATUS_COUNT][RESERVATION_STATUS_COUNT] = {
        /* clang-format off */
        /* to:         REQUESTED     CONFIRMED                       REJECTED                       CANCELED */
        [RESERVATION_REQUESTED] = {{I, 0, NULL}, {A, 0, "ReservationConfirmed"}, {A, 1, "ReservationRejected"}, {I, 0, NULL}},
        [RESERVATION_CONFIRMED] = {{I, 0, NULL}, {N, 0, NULL},                   {A, 1, "ReservationRejected"}, {I, 0, NULL}},
        [RESERVATION_REJECTED]  = {{I, 0, NULL}, {I, 0, NULL},                   {I, 0, NULL},                  {I, 0, NULL}},
        [RESERVATION_CANCELED]  = {{I, 0, NULL}, {I, 0, NULL},                   {I, 0, NULL},                  {I, 0, NULL}},
        /* clang-format on */
    };
    for (int from = 0; from < RESERVATION_STATUS_COUNT; from++)
        for (int to = 0; to < RESERVATION_STATUS_COUNT; to++) {
            reservation_transition_t t =
                reservation_admin_transition((reservation_status_t)from, (reservation_status_t)to);
            assert_int_equal(t.move, want[from][to].move);
            assert_int_equal(t.releases_capacity, want[from][to].releases);
            if (want[from][to].event)
                assert_string_equal(t.event_type, want[from][to].event);
            else
                assert_null(t.event_type);
        }
}

static void test_admin_transition_out_of_range_is_invalid(void **state)
{
    (void)state;
    reservation_transition_t t =
        reservation_admin_transition((reservation_status_t)7, RESERVATION_CONFIRMED);
    assert_int_equal(t.move, RESERVATION_MOVE_INVALID);
    t = reservation_admin_transition(RESERVATION_REQUESTED, (reservation_status_t)-1);
    assert_int_equal(t.move, RESERVATION_MOVE_INVALID);
}

static void test_cancel_releases_only_held_capacity(void **state)
{
    (void)state;
    for (int s = 0; s < RESERVATION_STATUS_COUNT; s++) {
        reservation_transition_t t = reservation_cancel_transition((reservation_status_t)s);
        if (reservation_status_holds_capacity((reservation_status_t)s)) {
            assert_int_equal(t.move, RESERVATION_MOVE_APPLY);
            assert_int_equal(t.releases_capacity, 1);
            assert_string_equal(t.event_type, "ReservationCanceled");
        } else {
            assert_int_equal(t.move, RESERVATION_MOVE_NOOP);
            assert_int_equal(t.releases_capacity, 0);
            assert_null(t.event_type);
        }
    }
}

/* Every APPLY that releases capacity starts from a status that holds it, so
 * the booked counter can never be decremented for a reservation it does not
 * count. */
static void test_releases_only_from_holding_states(void **state)
{
    (void)state;
    for (int from = 0; from < RESERVATION_STATUS_COUNT; from++)
        for (int to = 0; to < RESERVATION_STATUS_COUNT; to++) {
            reservation_transition_t t =
                reservation_admin_transition((reservation_status_t)from, (reservation_status_t)to);
            if (t.move != RESERVATION_MOVE_APPLY)
                continue;
            int held = reservation_status_holds_capacity((reservation_status_t)from);
            int holds = reservation_status_holds_capacity((reservation_status_t)to);
            assert_int_equal(t.releases_capacity, held && !holds);
        }
}

static void test_capacity_arithmetic(void **state)
{
    (void)state;
    assert_true(reservation_slot_has_room(2, 0));
    assert_true(reservation_slot_has_room(2, 1));
    assert_false(reservation_slot_has_room(2, 2));
    assert_false(reservation_slot_has_room(0, 0));
    assert_false(reservation_slot_has_room(1, 5)); /* capacity lowered below bookings */
    assert_int_equal(reservation_slot_remaining(20, 0), 20);
    assert_int_equal(reservation_slot_remaining(20, 19), 1);
    assert_int_equal(reservation_slot_remaining(20, 20), 0);
    assert_int_equal(reservation_slot_remaining(1, 5), 0); /* never negative */
    assert_true(reservation_capacity_valid(0));
    assert_true(reservation_capacity_valid(RESERVATION_CAPACITY_MAX));
    assert_false(reservation_capacity_valid(-1));
    assert_false(reservation_capacity_valid(RESERVATION_CAPACITY_MAX + 1));
}

/* Allocating one at a time never passes capacity (the rule the store's
 * conditional UPDATE enforces). */
static void test_sequential_allocation_stops_at_capacity(void **state)
{
    (void)state;
    for (int64_t cap = 0; cap <= 5; cap++) {
        int64_t booked = 0, accepted = 0;
        for (int i = 0; i < 10; i++)
            if (reservation_slot_has_room(cap, booked)) {
                booked++;
                accepted++;
            }
        assert_int_equal(accepted, cap);
        assert_int_equal(reservation_slot_remaining(cap, booked), 0);
    }
}

static void test_slot_range_defaults(void **state)
{
    (void)state;
    int64_t today, from, to;
    const char *field = NULL, *msg = NULL;
    assert_int_equal(hc_date_parse("2026-11-25", &today), 0);
    assert_int_equal(reservation_slot_range(today, NULL, NULL, &from, &to, &field, &msg), 0);
    assert_int_equal(from, today + 1);
    assert_int_equal(to, today + 14); /* 14 days: tomorrow .. tomorrow + 13 */
    assert_int_equal(reservation_slot_range(today, "2027-02-27", NULL, &from, &to, &field, &msg),
                     0);
    char buf[11];
    hc_date_format(to, buf, sizeof buf);
    assert_string_equal(buf, "2027-03-12");
    /* Only "to": from stays tomorrow. */
    assert_int_equal(reservation_slot_range(today, NULL, "2026-11-26", &from, &to, &field, &msg),
                     0);
    assert_int_equal(from, today + 1);
    assert_int_equal(to, today + 1);
}

static void test_slot_range_errors(void **state)
{
    (void)state;
    int64_t today, from = -1, to = -1;
    const char *field = NULL, *msg = NULL;
    assert_int_equal(hc_date_parse("2026-11-25", &today), 0);
    assert_int_equal(reservation_slot_range(today, "2026-13-01", NULL, &from, &to, &field, &msg),
                     HC_EINVAL);
    assert_string_equal(field, "from");
    assert_non_null(msg);
    assert_int_equal(
        reservation_slot_range(today, "2026-12-01", "12/31/2026", &from, &to, &field, &msg),
        HC_EINVAL);
    assert_string_equal(field, "to");
    /* A range that ends before it starts is empty, not an error. */
    assert_int_equal(
        reservation_slot_range(today, "2026-12-10", "2026-12-09", &from, &to, &field, &msg), 0);
    assert_int_equal(to, from - 1);
    /* 92 days inclusive is the maximum; a longer range is cut to it. */
    assert_int_equal(
        reservation_slot_range(today, "2027-01-01", "2027-04-02", &from, &to, &field, &msg), 0);
    assert_int_equal(to - from + 1, RESERVATION_SLOT_MAX_DAYS);
    assert_int_equal(
        reservation_slot_range(today, "2027-01-01", "9999-12-31", &from, &to, &field, &msg), 0);
    assert_int_equal(to - from + 1, RESERVATION_SLOT_MAX_DAYS);
    /* Only "to", and it is before the default "from" (tomorrow): empty. */
    assert_int_equal(reservation_slot_range(today, NULL, "2026-11-25", &from, &to, &field, &msg),
                     0);
    assert_int_equal(from, today + 1);
    assert_int_equal(to, today);
    /* Any year RFC 3339 writes is a date. */
    assert_int_equal(reservation_slot_range(today, "0717-07-14", NULL, &from, &to, &field, &msg),
                     0);
}

/* Appends s to buf (size bytes) n times, asserting it fits. */
static void repeat(char *buf, size_t size, const char *s, int n)
{
    size_t used = strlen(buf), len = strlen(s);
    for (int i = 0; i < n; i++) {
        assert_true(used + len < size);
        memcpy(buf + used, s, len + 1);
        used += len;
    }
}

static void test_reason_clip_keeps_whole_characters(void **state)
{
    (void)state;
    char out[RESERVATION_REASON_BUF];
    char korean[RESERVATION_REASON_BUF * 2] = "";
    repeat(korean, sizeof korean, "검", 250);
    reservation_reason_clip(korean, out, sizeof out);
    assert_int_equal(reservation_utf8_chars(out), RESERVATION_REASON_MAX_CHARS);
    assert_int_equal(strlen(out), RESERVATION_REASON_MAX_CHARS * 3);

    /* A small buffer cuts between characters, never inside one. */
    char small[8];
    reservation_reason_clip("검진센터", small, sizeof small);
    assert_string_equal(small, "검진"); /* 6 bytes + NUL; a third would need 10 */
    reservation_reason_clip(NULL, small, sizeof small);
    assert_string_equal(small, "");
    reservation_reason_clip("full", small, sizeof small);
    assert_string_equal(small, "full");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_round_trip),
        cmocka_unit_test(test_status_parse_ignores_case_and_rejects_unknown),
        cmocka_unit_test(test_only_requested_and_confirmed_hold_capacity),
        cmocka_unit_test(test_admin_transition_table),
        cmocka_unit_test(test_admin_transition_out_of_range_is_invalid),
        cmocka_unit_test(test_cancel_releases_only_held_capacity),
        cmocka_unit_test(test_releases_only_from_holding_states),
        cmocka_unit_test(test_capacity_arithmetic),
        cmocka_unit_test(test_sequential_allocation_stops_at_capacity),
        cmocka_unit_test(test_slot_range_defaults),
        cmocka_unit_test(test_slot_range_errors),
        cmocka_unit_test(test_reason_clip_keeps_whole_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
