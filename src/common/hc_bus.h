/* hc_bus: the event bus interface. One topic, messages keyed by orderId, a
 * committed offset per consumer group. Backends sit behind hc_bus_ops_t: the
 * embedded durable log (hc_bus_log.c) now, Kafka later. */
#ifndef HC_BUS_H
#define HC_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct hc_bus_msg {
    int64_t offset; /* position in the topic, set by the bus on publish/poll */
    char *key;      /* orderId as text; owned by whoever filled the message */
    char *value;    /* the event JSON */
    size_t value_len;
} hc_bus_msg_t;

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
    /* Durably records that every message up to and including offset is done. */
    int (*commit)(hc_bus_consumer_t *c, int64_t offset);
    /* Messages after the committed offset (for the lag gauge); -1 if unknown. */
    int64_t (*lag)(hc_bus_consumer_t *c);
    void (*consumer_close)(hc_bus_consumer_t *c);
    void (*destroy)(hc_bus_t *bus);
} hc_bus_ops_t;

struct hc_bus {
    const hc_bus_ops_t *ops;
    char topic[64];
};

/* Opens the bus named by the configuration ("log": the embedded log under
 * data_dir/bus). Returns 0 or an hc_err. */
int hc_bus_open(const char *kind, const char *data_dir, const char *topic, const char *sync,
                hc_bus_t **out);

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
