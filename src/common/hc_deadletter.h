/* hc_deadletter: events a consumer cannot apply (not an event at all, or
 * refused by the service's policy) are parked in the service's own
 * dead_letters table, in the transaction that would have applied them, with
 * what was wrong. An operator marks them for retry (`healthcenter
 * dead-letters retry`) and the running consumer applies them again. */
#ifndef HC_DEADLETTER_H
#define HC_DEADLETTER_H

#include <stdint.h>
#include <stdio.h>

#include "hc_bus.h"
#include "hc_db.h"
#include "hc_event.h"

/* The dead_letters table, for every consuming service's migration list (as
 * its own step, after the step holding HC_INBOX_SCHEMA). event_id, event_type
 * and order_id are NULL when the message was not an event. */
#define HC_DEADLETTER_SCHEMA                                                                       \
    "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT,"               \
    " bus_offset INTEGER NOT NULL, msg_key TEXT, event_id TEXT, event_type TEXT,"                  \
    " order_id INTEGER, payload TEXT NOT NULL, error TEXT NOT NULL,"                               \
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"                                   \
    " retries INTEGER NOT NULL DEFAULT 0, retry_requested INTEGER NOT NULL DEFAULT 0);"            \
    "CREATE INDEX IF NOT EXISTS dead_letters_offset ON dead_letters(bus_offset);"                  \
    "CREATE INDEX IF NOT EXISTS dead_letters_retry ON dead_letters(id)"                            \
    " WHERE retry_requested = 1;"

/* Parks message m inside c's open transaction with error (why it cannot be
 * applied); ev is its parsed event, or NULL when it is not one. The same
 * message delivered again (same offset and payload) is not parked twice:
 * *parked (may be NULL) is 1 when a row was added, 0 when it was there.
 * Returns 0 or an hc_err. */
int hc_deadletter_park(hc_conn_t *c, const hc_bus_msg_t *m, const hc_event_t *ev, const char *error,
                       int *parked);

/* Parked events in db (the hc_dead_letters gauge); -1 when unknown. */
int64_t hc_deadletter_count(hc_db_t *db);

/* Marks the parked event id (0: every one) for retry. *marked (may be NULL)
 * receives how many rows were marked: 0 when there is no such id. Returns 0
 * or an hc_err. */
int hc_deadletter_mark(hc_db_t *db, int64_t id, int64_t *marked);

/* Up to max rows marked for retry, oldest first, as (id, bus_offset,
 * msg_key, event_id, payload), read inside c's transaction or alone. The
 * caller frees *out with hc_rows_free. */
int hc_deadletter_marked(hc_conn_t *c, size_t max, hc_rows_t **out);

/* Deletes parked row id (its retry applied) inside c's open transaction. */
int hc_deadletter_resolve(hc_conn_t *c, int64_t id);

/* Records a failed retry of row id inside c's open transaction: retries + 1,
 * error replaced, no longer marked (an operator marks it again). */
int hc_deadletter_retry_failed(hc_conn_t *c, int64_t id, const char *error);

/* `healthcenter dead-letters list`: prints the parked events of each of the
 * n services under data_dir to out, one line each, and a total. Opens the
 * databases read-only. Returns a process exit code (0, or 1 when a database
 * could not be read; the reason goes to err). */
int hc_deadletter_cmd_list(const char *data_dir, const char *const *services, size_t n, FILE *out,
                           FILE *err);

/* `healthcenter dead-letters retry`: marks row id (0: all) of service's
 * database under data_dir for retry and says so on out. Returns a process
 * exit code (0; 1 when nothing matched or the database could not be written,
 * with the reason on err). */
int hc_deadletter_cmd_retry(const char *data_dir, const char *service, int64_t id, FILE *out,
                            FILE *err);

#endif
