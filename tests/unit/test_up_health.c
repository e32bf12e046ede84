/* Checks up_health: the gateway's /actuator/health built from the children's
 * answers, and up_control_route, the control socket's routing. */
#include "hc_test.h"

#include "up/up_control.h"
#include "up/up_health.h"

static const char *comp_status(json_t *body, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(body, "components"), name), "status"));
}

static void test_all_up_is_200_and_one_down_is_503(void **state)
{
    (void)state;
    up_health_child_t c[3] = {
        {.name = "order",
         .pid = 10,
         .port = 8081,
         .state = "running",
         .asked = 1,
         .status = 200,
         .body = "{\"status\":\"UP\",\"components\":{\"db\":{\"status\":\"UP\"}}}"},
        {.name = "payment",
         .pid = 11,
         .port = 8083,
         .state = "running",
         .asked = 1,
         .status = 200,
         .body = "{\"status\":\"UP\"}"},
        {.name = "gateway", .pid = 12, .port = 8080, .state = "running"},
    };
    int http;
    json_t *b = up_health_aggregate(c, 3, 1000, &http);
    assert_int_equal(http, 200);
    assert_string_equal(json_string_value(json_object_get(b, "status")), "UP");
    assert_string_equal(comp_status(b, "order"), "UP");
    assert_string_equal(comp_status(b, "gateway"), "UP");
    json_t *order = json_object_get(json_object_get(b, "components"), "order");
    assert_non_null(json_object_get(json_object_get(order, "components"), "db"));
    json_decref(b);

    /* Draining, silent, not running. */
    c[0].status = 503;
    c[0].body = "{\"status\":\"OUT_OF_SERVICE\",\"reason\":\"draining\"}";
    c[1].status = -1;
    c[1].body = NULL;
    b = up_health_aggregate(c, 3, 1000, &http);
    assert_int_equal(http, 503);
    assert_string_equal(json_string_value(json_object_get(b, "status")), "DOWN");
    assert_string_equal(comp_status(b, "order"), "OUT_OF_SERVICE");
    assert_string_equal(comp_status(b, "payment"), "DOWN");
    json_decref(b);

    c[1].pid = 0;
    c[1].state = "crash-loop";
    c[1].why = "exited 5 times within 60000 ms";
    b = up_health_aggregate(c, 3, 1000, &http);
    json_t *pay = json_object_get(json_object_get(b, "components"), "payment");
    assert_string_equal(json_string_value(json_object_get(pay, "status")), "DOWN");
    json_t *d = json_object_get(pay, "details");
    assert_string_equal(json_string_value(json_object_get(d, "state")), "crash-loop");
    assert_string_equal(json_string_value(json_object_get(d, "reason")),
                        "exited 5 times within 60000 ms");
    json_decref(b);
}

static void test_control_routes(void **state)
{
    (void)state;
    const char *names[] = {"order", "payment"};
    int svc = -1;
    const char *allow = NULL;
    assert_int_equal(up_control_route("GET", "/actuator/health", names, 2, &svc, &allow),
                     UP_CTL_HEALTH);
    assert_int_equal(up_control_route("POST", "/actuator/health", names, 2, &svc, &allow),
                     UP_CTL_METHOD);
    assert_string_equal(allow, "GET");
    assert_int_equal(up_control_route("POST", "/services/payment/restart", names, 2, &svc, &allow),
                     UP_CTL_RESTART);
    assert_int_equal(svc, 1);
    assert_int_equal(up_control_route("GET", "/services/payment/restart", names, 2, &svc, &allow),
                     UP_CTL_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(up_control_route("POST", "/services/pay/restart", names, 2, &svc, &allow),
                     UP_CTL_UNKNOWN_SERVICE);
    assert_int_equal(up_control_route("POST", "/services/a/b/restart", names, 2, &svc, &allow),
                     UP_CTL_NOT_FOUND);
    assert_int_equal(up_control_route("POST", "/services//restart", names, 2, &svc, &allow),
                     UP_CTL_NOT_FOUND);
    assert_int_equal(up_control_route("GET", "/", names, 2, &svc, &allow), UP_CTL_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_up_is_200_and_one_down_is_503),
        cmocka_unit_test(test_control_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
