/* hc_bus: what every bus backend shares: choosing one by name, the
 * per-partition offset bookkeeping of a consumer, the health component. */
#include "hc_bus.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"

void hc_bus_offsets_note(hc_bus_offsets_t *t, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->pos[i].partition == partition) {
            if (offset > t->pos[i].offset)
                t->pos[i].offset = offset;
            return;
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->pos = hc_xrealloc(t->pos, t->cap * sizeof *t->pos);
    }
    t->pos[t->n].partition = partition;
    t->pos[t->n].offset = offset;
    t->n++;
}

int hc_bus_offsets_get(const hc_bus_offsets_t *t, int32_t partition, int64_t *out)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->pos[i].partition == partition) {
            *out = t->pos[i].offset;
            return 1;
        }
    }
    return 0;
}

void hc_bus_offsets_forget(hc_bus_offsets_t *t, int32_t partition)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->pos[i].partition == partition) {
            memmove(&t->pos[i], &t->pos[i + 1], (t->n - i - 1) * sizeof *t->pos);
            t->n--;
            return;
        }
    }
}

void hc_bus_offsets_clear(hc_bus_offsets_t *t)
{
    t->n = 0;
}

void hc_bus_offsets_cleanup(hc_bus_offsets_t *t)
{
    free(t->pos);
    memset(t, 0, sizeof *t);
}

int hc_bus_open(const char *kind, const char *data_dir, const char *topic, const char *sync,
                hc_bus_t **out)
{
    *out = NULL;
    if (strcmp(kind, "log") == 0) {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/bus", data_dir);
        return hc_bus_log_open(dir, topic, sync, out);
    }
    if (strcmp(kind, "kafka") == 0) {
        hc_bus_kafka_opts_t o = {
            .brokers = hc_cfg.kafka_brokers,
            .topic = topic,
            .group_prefix = hc_cfg.kafka_group_prefix,
            .partitions = hc_cfg.kafka_partitions,
            .replication_factor = hc_cfg.kafka_replication_factor,
            .delivery_timeout_ms = hc_cfg.kafka_delivery_timeout_ms,
            .session_timeout_ms = hc_cfg.kafka_session_timeout_ms,
            .extra = hc_cfg.kafka_config,
        };
        return hc_bus_kafka_open(&o, out);
    }
    return HC_EINVAL;
}

void hc_bus_destroy(hc_bus_t *b)
{
    if (b)
        b->ops->destroy(b);
}

void hc_bus_msgs_free(hc_bus_msg_t *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(msgs[i].key);
        free(msgs[i].value);
        msgs[i].key = msgs[i].value = NULL;
    }
}

json_t *hc_bus_health_json(hc_bus_t *b)
{
    json_t *details = json_pack("{s:s, s:s}", "kind", b->kind, "topic", b->topic);
    char why[512] = "";
    int up = hc_bus_health(b, why, sizeof why) == 0;
    if (!up)
        json_object_set_new(details, "error", json_string(why));
    if (b->ops->describe && !b->ops->describe(b, details))
        up = 0;
    return json_pack("{s:s, s:o}", "status", up ? "UP" : "DOWN", "details", details);
}
