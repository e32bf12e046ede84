/* hc_bus: the event bus interface. One topic of one or more partitions,
 * messages keyed by orderId (one booking's events share a partition, so they
 * stay in order), a committed offset per consumer group and partition.
 * Backends sit behind hc_bus_ops_t: the embedded durable log (hc_bus_log.c,
 * one partition, 0) and Kafka (hc_bus_kafka.c). */
#ifndef HC_BUS_H
#define HC_BUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_bus_msg {
    int32_t partition; /* set by the bus on poll; the embedded log has only 0 */
    int64_t offset;    /* position in the partition, set by the bus on poll */
    char *key;         /* orderId as text; owned by whoever filled the message */
    char *value;       /* the event JSON */
    size_t value_len;
} hc_bus_msg_t;

/* A consumer's place in one partition: every message up to and including
 * offset is done. */
typedef struct hc_bus_pos {
    int32_t partition;
    int64_t offset;
} hc_bus_pos_t;

/* Per-partition offset bookkeeping for a consumer: the highest offset done
 * in each partition since the last commit. The caller embeds it (zeroed, or
 * hc_bus_offsets_clear) and frees it with hc_bus_offsets_cleanup. */
typedef struct hc_bus_offsets {
    hc_bus_pos_t *pos; /* n entries, in the order partitions were first noted */
    size_t n, cap;
} hc_bus_offsets_t;

/* Notes that offset of partition is done: the partition's entry becomes the
 * larger of what it held and offset (an older offset never moves it back). */
void hc_bus_offsets_note(hc_bus_offsets_t *t, int32_t partition, int64_t offset);

/* The entry of partition in *out; returns 1 when there is one, else 0. */
int hc_bus_offsets_get(const hc_bus_offsets_t *t, int32_t partition, int64_t *out);

/* Drops partition's entry (a partition handed to another consumer). */
void hc_bus_offsets_forget(hc_bus_offsets_t *t, int32_t partition);

/* Empties t, keeping its memory. */
void hc_bus_offsets_clear(hc_bus_offsets_t *t);

/* Frees t's memory; t is empty and usable afterwards. */
void hc_bus_offsets_cleanup(hc_bus_offsets_t *t);

typedef struct hc_bus hc_bus_t;
typedef struct hc_bus_consumer hc_bus_consumer_t;
struct hc_check;

/* Why a consumer is stopped (poll answers HC_ECORRUPT): it does not move past
 * the point named here until the cause is gone. */
typedef struct hc_bus_fault {
    const char *reason; /* HC_BUS_CORRUPT_RECORD or HC_BUS_OFFSET_BEYOND_END (static) */
    int64_t offset;     /* the record that failed, or the group's impossible offset */
    char detail[256];   /* one line for the log and readiness */
} hc_bus_fault_t;

/* A record failed its checksum or could not be read. */
#define HC_BUS_CORRUPT_RECORD "corrupt_record"
/* The group's committed offset (or position) lies past the last record. */
#define HC_BUS_OFFSET_BEYOND_END "offset_beyond_end"

typedef struct hc_bus_ops {
    /* Appends n messages durably, in order; returns 0 only when all are stored. */
    int (*publish)(hc_bus_t *bus, const hc_bus_msg_t *msgs, size_t n);
    /* Opens a consumer for group, resuming after its committed offset. */
    int (*consumer_open)(hc_bus_t *bus, const char *group, hc_bus_consumer_t **out);
    /* Waits up to timeout_ms for messages after the consumer's position and
     * returns up to max of them in msgs (filled, caller frees with
     * hc_bus_msgs_free). *n may be 0 on timeout. Every record is verified:
     * messages before a bad one are returned; when the next one is bad (or
     * the position is impossible) it returns HC_ECORRUPT with *n = 0 and
     * fault says why; each later poll checks again and resumes once the
     * cause is gone. It never skips a record. */
    int (*poll)(hc_bus_consumer_t *c, hc_bus_msg_t *msgs, size_t max, size_t *n, int timeout_ms);
    /* Fills *out and returns 1 while the consumer is stopped by a fault (see
     * poll), else returns 0. */
    int (*fault)(hc_bus_consumer_t *c, hc_bus_fault_t *out);
    /* Returns 0 when the bus's storage takes writes and is not corrupt, else
     * an hc_err with one line saying why in why (n bytes). May be NULL. */
    int (*health)(hc_bus_t *bus, char *why, size_t n);
    /* Adds the backend's state to details (the `bus` health component's);
     * returns 1 when the bus can carry events now, 0 when not (Kafka: no
     * broker up). May be NULL: then health decides. */
    int (*describe)(hc_bus_t *bus, json_t *details);
    /* Durably records, for each of the n positions, that every message of
     * its partition up to and including its offset is done. Returns 0 only
     * when all are recorded. A partition this consumer no longer owns (Kafka:
     * handed to another member by a rebalance) is skipped: its new owner
     * resumes from the last commit, and the inbox drops what it redelivers. */
    int (*commit)(hc_bus_consumer_t *c, const hc_bus_pos_t *pos, size_t n);
    /* Messages after the committed offsets (for the lag gauge; Kafka: of the
     * partitions this consumer owns); -1 if unknown. */
    int64_t (*lag)(hc_bus_consumer_t *c);
    void (*consumer_close)(hc_bus_consumer_t *c);
    void (*destroy)(hc_bus_t *bus);
} hc_bus_ops_t;

struct hc_bus {
    const hc_bus_ops_t *ops;
    char topic[64];
    const char *kind; /* "log" or "kafka" (static) */
};

/* Opens the bus named by the configuration ("log": the embedded log under
 * data_dir/bus; "kafka": hc_bus_kafka_open with the HC_KAFKA_* settings of
 * hc_cfg). Returns 0 or an hc_err. */
int hc_bus_open(const char *kind, const char *data_dir, const char *topic, const char *sync,
                hc_bus_t **out);

/* The settings of the Kafka bus (strings borrowed for the call). */
typedef struct hc_bus_kafka_opts {
    const char *brokers;      /* bootstrap.servers, "host:port,..." */
    const char *topic;        /* created at open when missing */
    const char *group_prefix; /* group.id = group_prefix + the consumer's group */
    int partitions;           /* of a topic created here */
    int replication_factor;   /* of a topic created here; -1: the broker's default */
    int delivery_timeout_ms;  /* message.timeout.ms: a publish gives up after this */
    int session_timeout_ms;   /* consumer group session.timeout.ms */
    const char *extra;        /* more librdkafka properties, "key=value,..." ("" = none) */
} hc_bus_kafka_opts_t;

/* Opens the Kafka bus: an idempotent producer (acks=all) and, per
 * consumer_open, a consumer of the group (manual commits, cooperative-sticky
 * rebalancing). Creates the topic with o->partitions when it is missing; a
 * broker that cannot be reached yet is no error (the topic is created once it
 * answers). Returns 0 or HC_EINVAL for settings librdkafka refuses. */
int hc_bus_kafka_open(const hc_bus_kafka_opts_t *o, hc_bus_t **out);

/* The bus's state for the `bus` component of /actuator/health: a new object
 * {"status", "details": {"kind", ...}} (caller owns it). Kafka adds the
 * brokers up, the topic's partitions, producer errors and the last error. */
json_t *hc_bus_health_json(hc_bus_t *b);

/* Opens the embedded log at dir (created if missing). */
int hc_bus_log_open(const char *dir, const char *topic, const char *sync, hc_bus_t **out);

static inline int hc_bus_publish(hc_bus_t *b, const hc_bus_msg_t *m, size_t n)
{
    return b->ops->publish(b, m, n);
}
void hc_bus_destroy(hc_bus_t *b);

/* The bus's storage health (see hc_bus_ops_t.health); 0 when it has no check. */
static inline int hc_bus_health(hc_bus_t *b, char *why, size_t n)
{
    return b->ops->health ? b->ops->health(b, why, n) : 0;
}

/* Commits one offset of one partition (see hc_bus_ops_t.commit). */
static inline int hc_bus_commit_one(hc_bus_t *b, hc_bus_consumer_t *c, int32_t partition,
                                    int64_t offset)
{
    hc_bus_pos_t p = {.partition = partition, .offset = offset};
    return b->ops->commit(c, &p, 1);
}

/* The embedded log's record checksum: CRC-32 (zlib) of the key, one NUL byte
 * and the value. Written with every append, verified with every read. */
uint32_t hc_bus_log_crc(const char *key, size_t key_len, const char *value, size_t value_len);

/* For `healthcenter check`: verifies the embedded log at dir read-only
 * (integrity_check of events.db and offsets.db, every record's checksum,
 * every group's committed offset within its topic) and reports each item to k. */
void hc_bus_log_verify(const char *dir, struct hc_check *k);

/* Frees the key/value strings of n polled messages. */
void hc_bus_msgs_free(hc_bus_msg_t *msgs, size_t n);

#endif
