/* up_health: the aggregated health of `healthcenter up`'s children. */
#include "up_health.h"

#include <stdio.h>
#include <string.h>

/* One component of the whole: its status (a new string in the object). */
static json_t *component(const up_health_child_t *c, int timeout_ms)
{
    json_t *details = json_pack("{s:I, s:i, s:i, s:s}", "pid", (json_int_t)c->pid, "port", c->port,
                                "restarts", c->restarts, "state", c->state ? c->state : "");
    json_t *out = json_object();
    const char *status = "DOWN";
    char reason[300] = "";
    if (c->pid <= 0) {
        snprintf(reason, sizeof reason, "%s", c->why && *c->why ? c->why : "not running");
    } else if (!c->asked) {
        status = "UP"; /* the gateway: its process runs */
    } else if (c->status < 0) {
        snprintf(reason, sizeof reason, "did not answer /actuator/health within %d ms", timeout_ms);
    } else {
        json_t *body = c->body ? json_loads(c->body, 0, NULL) : NULL;
        const char *s = json_string_value(json_object_get(body, "status"));
        if (!s) {
            snprintf(reason, sizeof reason,
                     "answered /actuator/health with HTTP %d and no health object", c->status);
        } else {
            status = s;
            const char *why = json_string_value(json_object_get(body, "reason"));
            if (why)
                snprintf(reason, sizeof reason, "%s", why);
            json_t *parts = json_object_get(body, "components");
            if (json_is_object(parts))
                json_object_set(out, "components", parts);
        }
        json_object_set_new(out, "status", json_string(status)); /* before body goes */
        json_decref(body);
    }
    if (!json_object_get(out, "status"))
        json_object_set_new(out, "status", json_string(status));
    if (reason[0])
        json_object_set_new(details, "reason", json_string(reason));
    json_object_set_new(out, "details", details);
    return out;
}

json_t *up_health_aggregate(const up_health_child_t *c, size_t n, int timeout_ms, int *http_status)
{
    json_t *parts = json_object();
    int up = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *one = component(&c[i], timeout_ms);
        up &= strcmp(json_string_value(json_object_get(one, "status")), "UP") == 0;
        json_object_set_new(parts, c[i].name, one);
    }
    *http_status = up ? 200 : 503;
    return json_pack("{s:s, s:o}", "status", up ? "UP" : "DOWN", "components", parts);
}
