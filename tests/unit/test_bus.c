/* Checks what the bus backends share (hc_bus.c): the per-partition offset
 * bookkeeping a consumer commits from, the `bus` health component of both
 * kinds, and the Kafka adapter's behaviour without a broker (settings refused
 * at open, an unreachable broker: not an error at open, DOWN in health,
 * publish fails and counts a producer error, nothing claimed delivered). */
#include "hc_test.h"

#include "hc_bus.h"
#include "hc_err.h"
#include "hc_log.h"

static void test_offsets_keep_the_highest_per_partition(void **state)
{
    (void)state;
    hc_bus_offsets_t t = {0};
    int64_t at = 0;
    assert_int_equal(hc_bus_offsets_get(&t, 0, &at), 0);
    hc_bus_offsets_note(&t, 3, 10);
    hc_bus_offsets_note(&t, 0, 5);
    hc_bus_offsets_note(&t, 3, 12);
    hc_bus_offsets_note(&t, 3, 11); /* an older offset never moves it back */
    hc_bus_offsets_note(&t, 0, 4);
    assert_int_equal(t.n, 2);
    assert_int_equal(hc_bus_offsets_get(&t, 3, &at), 1);
    assert_int_equal(at, 12);
    assert_int_equal(hc_bus_offsets_get(&t, 0, &at), 1);
    assert_int_equal(at, 5);
    assert_int_equal(hc_bus_offsets_get(&t, 1, &at), 0);
    /* the order partitions were first noted in */
    assert_int_equal(t.pos[0].partition, 3);
    assert_int_equal(t.pos[1].partition, 0);
    hc_bus_offsets_cleanup(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.pos);
}

static void test_offsets_grow_forget_and_clear(void **state)
{
    (void)state;
    hc_bus_offsets_t t = {0};
    for (int32_t p = 0; p < 100; p++)
        hc_bus_offsets_note(&t, p, p * 10);
    assert_int_equal(t.n, 100);
    hc_bus_offsets_forget(&t, 50); /* a revoked partition */
    hc_bus_offsets_forget(&t, 50); /* twice: nothing more */
    hc_bus_offsets_forget(&t, 7);
    assert_int_equal(t.n, 98);
    int64_t at = 0;
    assert_int_equal(hc_bus_offsets_get(&t, 50, &at), 0);
    for (int32_t p = 0; p < 100; p++) {
        if (p == 50 || p == 7)
            continue;
        assert_int_equal(hc_bus_offsets_get(&t, p, &at), 1);
        assert_int_equal(at, p * 10);
    }
    hc_bus_offsets_clear(&t);
    assert_int_equal(t.n, 0);
    hc_bus_offsets_note(&t, 2, 1); /* usable after clear */
    assert_int_equal(t.n, 1);
    hc_bus_offsets_cleanup(&t);
}

static void test_log_bus_health_component(void **state)
{
    (void)state;
    char dir[256];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_bus_t *bus = NULL;
    assert_int_equal(hc_bus_open("log", dir, "hc-topic", "NORMAL", &bus), 0);
    json_t *h = hc_bus_health_json(bus);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "UP");
    json_t *d = json_object_get(h, "details");
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "log");
    assert_string_equal(json_string_value(json_object_get(d, "topic")), "hc-topic");
    json_decref(h);
    /* the log's one partition is 0: a commit naming another is ignored */
    hc_bus_consumer_t *c = NULL;
    assert_int_equal(bus->ops->consumer_open(bus, "g", &c), 0);
    hc_bus_msg_t m = {.key = "1", .value = "{}", .value_len = 2};
    assert_int_equal(hc_bus_publish(bus, &m, 1), 0);
    hc_bus_msg_t got[1];
    size_t n = 0;
    assert_int_equal(bus->ops->poll(c, got, 1, &n, 1000), 0);
    assert_int_equal(n, 1);
    assert_int_equal(got[0].partition, 0);
    assert_int_equal(hc_bus_commit_one(bus, c, 4, got[0].offset), 0);
    assert_int_equal(bus->ops->lag(c), 1);
    hc_bus_pos_t both[2] = {{3, got[0].offset}, {0, got[0].offset}};
    assert_int_equal(bus->ops->commit(c, both, 2), 0);
    assert_int_equal(bus->ops->lag(c), 0);
    hc_bus_msgs_free(got, n);
    bus->ops->consumer_close(c);
    hc_bus_destroy(bus);
    hc_test_rmtree(dir);
}

static hc_bus_kafka_opts_t kafka_opts(const char *extra)
{
    hc_bus_kafka_opts_t o = {
        .brokers = "127.0.0.1:1", /* nothing listens there */
        .topic = "hc-unit",
        .group_prefix = "unit-",
        .partitions = 3,
        .replication_factor = -1,
        .delivery_timeout_ms = 500,
        .session_timeout_ms = 6000,
        .extra = extra,
    };
    return o;
}

static void test_kafka_refuses_bad_settings(void **state)
{
    (void)state;
    hc_bus_t *bus = (hc_bus_t *)1;
    hc_bus_kafka_opts_t o = kafka_opts("no.such.property=1");
    assert_int_equal(hc_bus_kafka_open(&o, &bus), HC_EINVAL);
    assert_null(bus);
    o = kafka_opts("not-key-value");
    assert_int_equal(hc_bus_kafka_open(&o, &bus), HC_EINVAL);
    assert_null(bus);
}

static void test_kafka_unreachable_broker(void **state)
{
    (void)state;
    hc_bus_t *bus = NULL;
    hc_bus_kafka_opts_t o = kafka_opts("client.id=unit,socket.connection.setup.timeout.ms=1000");
    assert_int_equal(hc_bus_kafka_open(&o, &bus), 0); /* not an error at start */
    assert_non_null(bus);
    json_t *h = hc_bus_health_json(bus);
    assert_string_equal(json_string_value(json_object_get(h, "status")), "DOWN");
    json_t *d = json_object_get(h, "details");
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "kafka");
    assert_string_equal(json_string_value(json_object_get(d, "brokers")), "127.0.0.1:1");
    assert_int_equal(json_integer_value(json_object_get(d, "brokersUp")), 0);
    assert_false(json_is_true(json_object_get(d, "topicReady")));
    assert_non_null(json_string_value(json_object_get(d, "lastError")));
    json_decref(h);
    /* publish reports failure (the outbox keeps the row) and counts it */
    hc_bus_msg_t m = {.key = "7", .value = "{}", .value_len = 2};
    assert_true(hc_bus_publish(bus, &m, 1) < 0);
    h = hc_bus_health_json(bus);
    assert_true(
        json_integer_value(json_object_get(json_object_get(h, "details"), "producerErrors")) >= 1);
    json_decref(h);
    /* a consumer opens (it joins once a broker answers) and finds nothing */
    hc_bus_consumer_t *c = NULL;
    assert_int_equal(bus->ops->consumer_open(bus, "g", &c), 0);
    hc_bus_msg_t got[4];
    size_t n = 9;
    assert_int_equal(bus->ops->poll(c, got, 4, &n, 100), 0);
    assert_int_equal(n, 0);
    /* owns no partition, and no broker answers for the group's: unknown,
     * never 0 ("nothing waits") */
    assert_int_equal(bus->ops->lag(c), -1);
    /* a commit for a partition it does not own is skipped, not failed */
    assert_int_equal(hc_bus_commit_one(bus, c, 0, 5), 0);
    bus->ops->consumer_close(c);
    hc_bus_destroy(bus);
}

int main(void)
{
    hc_log_init("test", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_keep_the_highest_per_partition),
        cmocka_unit_test(test_offsets_grow_forget_and_clear),
        cmocka_unit_test(test_log_bus_health_component),
        cmocka_unit_test(test_kafka_refuses_bad_settings),
        cmocka_unit_test(test_kafka_unreachable_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
