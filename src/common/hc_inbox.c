/* hc_inbox: idempotent-consumer records, one row per applied eventId. */
#include "hc_inbox.h"

#include "hc_time.h"

int hc_inbox_claim(hc_conn_t *c, const char *event_id, const char *event_type)
{
    int64_t changed = 0;
    int rc = hc_conn_exec(c,
                          "INSERT INTO inbox(event_id, event_type, consumed_at) VALUES (?, ?, ?)"
                          " ON CONFLICT(event_id) DO NOTHING",
                          HC_PARAMS(HC_TEXT(event_id), HC_TEXT(event_type), HC_I64(hc_now_ms())),
                          &changed);
    if (rc)
        return rc;
    return changed == 1 ? 1 : 0;
}

int hc_inbox_forget(hc_conn_t *c, const char *event_id)
{
    return hc_conn_exec(c, "DELETE FROM inbox WHERE event_id = ?", HC_PARAMS(HC_TEXT(event_id)),
                        NULL);
}
