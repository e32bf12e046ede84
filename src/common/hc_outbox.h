/* hc_outbox: the transactional outbox and its relay. A service adds events
 * inside the same transaction as the state change that causes them; after the
 * commit it pokes the relay, which publishes unsent rows in id order and marks
 * them sent. A crash between publish and mark republishes, never loses. */
#ifndef HC_OUTBOX_H
#define HC_OUTBOX_H

#include <jansson.h>
#include <stdint.h>

#include "hc_bus.h"
#include "hc_db.h"

/* The outbox table, for a service's migration list. */
#define HC_OUTBOX_SCHEMA                                                                           \
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY,"                                   \
    " msg_key TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,"                  \
    " sent_at INTEGER);"                                                                           \
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(sent_at, id);"

/* Stores event (borrowed) in the outbox inside c's open transaction, keyed by
 * its orderId. Returns 0 or an hc_err. */
int hc_outbox_add(hc_conn_t *c, json_t *event);

typedef struct hc_relay hc_relay_t;

/* Starts a relay thread publishing db's outbox to bus. Returns 0 or an hc_err. */
int hc_relay_start(hc_db_t *db, hc_bus_t *bus, hc_relay_t **out);

/* Wakes the relay: call after committing a transaction that added events. */
void hc_relay_notify(hc_relay_t *r);

/* Publishes everything unsent once, synchronously (used by the relay thread and
 * tests). Returns the number of rows published, or a negative hc_err. */
int hc_outbox_flush(hc_db_t *db, hc_bus_t *bus);

/* Rows not yet published (the backlog gauge). */
int64_t hc_outbox_backlog(hc_db_t *db);

/* Stops the thread after a last flush. Accepts NULL. */
void hc_relay_stop(hc_relay_t *r);

#endif
