/* hc_inbox: the idempotent consumer. Each applied eventId is recorded in the
 * same transaction as the change it caused; a redelivered event is skipped. */
#ifndef HC_INBOX_H
#define HC_INBOX_H

#include "hc_db.h"

#define HC_INBOX_SCHEMA                                                                            \
    "CREATE TABLE IF NOT EXISTS inbox (event_id TEXT PRIMARY KEY,"                                 \
    " event_type TEXT NOT NULL, consumed_at INTEGER NOT NULL) WITHOUT ROWID;"

/* Records event_id inside c's open transaction. Returns 1 when the event is new
 * (apply it), 0 when it was applied before (skip it), or a negative hc_err. */
int hc_inbox_claim(hc_conn_t *c, const char *event_id, const char *event_type);

/* Removes event_id's record inside c's open transaction, so that the event
 * can be applied again: only for a dead letter whose refused attempt left the
 * record (hc_consumer's retry). Returns 0 or an hc_err. */
int hc_inbox_forget(hc_conn_t *c, const char *event_id);

#endif
