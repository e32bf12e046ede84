/* order_domain: statuses and their table, the versioned history, the booking
 * request's rules, the cancellation window and the status events. */
#include "order_domain.h"

#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_event.h"
#include "hc_events.h"

static const char *const status_names[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING] = "PENDING",     [ORDER_PAID] = "PAID",         [ORDER_REQUESTED] = "REQUESTED",
    [ORDER_CONFIRMED] = "CONFIRMED", [ORDER_REJECTED] = "REJECTED", [ORDER_CANCELED] = "CANCELED",
    [ORDER_FAILED] = "FAILED",
};

static const char *const event_types[ORDER_STATUS_COUNT] = {
    [ORDER_PENDING] = NULL,
    [ORDER_PAID] = HC_EV_ORDERED,
    [ORDER_REQUESTED] = HC_EV_ORDER_REQUESTED,
    [ORDER_CONFIRMED] = HC_EV_ORDER_CONFIRMED,
    [ORDER_REJECTED] = HC_EV_ORDER_REJECTED,
    [ORDER_CANCELED] = HC_EV_ORDER_CANCELED,
    [ORDER_FAILED] = HC_EV_ORDER_FAILED,
};

#define I ORDER_MOVE_INVALID
#define N ORDER_MOVE_NOOP
#define A ORDER_MOVE_APPLY
/* [from][to], in enum order: PENDING PAID REQUESTED CONFIRMED REJECTED CANCELED FAILED */
/* clang-format off */
static const order_move_t table[ORDER_STATUS_COUNT][ORDER_STATUS_COUNT] = {
    [ORDER_PENDING]   = {N, A, I, I, I, I, A},
    [ORDER_PAID]      = {I, N, A, I, A, A, I},
    [ORDER_REQUESTED] = {I, I, N, A, A, A, I},
    [ORDER_CONFIRMED] = {I, I, I, N, A, A, I},
    [ORDER_REJECTED]  = {I, I, I, I, N, I, I},
    [ORDER_CANCELED]  = {I, I, I, I, I, N, I},
    [ORDER_FAILED]    = {I, I, I, I, I, I, N},
};
/* clang-format on */
#undef I
#undef N
#undef A

static int valid_status(order_status_t s)
{
    return (unsigned)s < ORDER_STATUS_COUNT;
}

const char *order_status_name(order_status_t s)
{
    return valid_status(s) ? status_names[s] : "UNKNOWN";
}

int order_status_parse(const char *s, order_status_t *out)
{
    for (int i = 0; s && i < ORDER_STATUS_COUNT; i++)
        if (strcmp(s, status_names[i]) == 0) {
            *out = (order_status_t)i;
            return 0;
        }
    return HC_EINVAL;
}

int order_status_is_final(order_status_t s)
{
    return s == ORDER_REJECTED || s == ORDER_CANCELED || s == ORDER_FAILED;
}

int order_status_cancellable(order_status_t s)
{
    return s == ORDER_PAID || s == ORDER_REQUESTED || s == ORDER_CONFIRMED;
}

order_move_t order_transition(order_status_t from, order_status_t to)
{
    if (!valid_status(from) || !valid_status(to))
        return ORDER_MOVE_INVALID;
    return table[from][to];
}

order_move_t order_move(order_t *o, order_status_t to, const char *reason, const char *now)
{
    order_move_t m = order_transition(o->status, to);
    if (m != ORDER_MOVE_APPLY)
        return m;
    if (o->version >= ORDER_MAX_HISTORY)
        return ORDER_MOVE_INVALID; /* cannot happen through the table */
    order_history_entry_t *e = &o->history[o->version];
    e->status = to;
    /* History is in version order; its times never go backwards either. */
    const char *prev = o->version > 0 ? o->history[o->version - 1].at : "";
    hc_strlcpy(e->at, strcmp(now, prev) < 0 ? prev : now, sizeof e->at);
    o->version++;
    o->status = to;
    hc_strlcpy(o->updated_at, e->at, sizeof o->updated_at);
    if (reason)
        hc_utf8_copy(o->reason, sizeof o->reason, reason);
    return m;
}

const char *order_event_type(order_status_t s)
{
    return valid_status(s) ? event_types[s] : NULL;
}

json_t *order_history_json(const order_t *o, int64_t version)
{
    json_t *arr = json_array();
    for (int64_t i = 0; i < version && i < o->version; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "status",
                                             order_status_name(o->history[i].status), "at",
                                             o->history[i].at));
    return arr;
}

int order_history_parse(const char *text, order_t *o)
{
    json_t *arr = json_loads(text ? text : "", 0, NULL);
    size_t i, n = json_array_size(arr);
    int rc = json_is_array(arr) && n <= ORDER_MAX_HISTORY ? 0 : HC_EINVAL;
    for (i = 0; !rc && i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *at = json_string_value(json_object_get(e, "at"));
        if (!at || order_status_parse(st, &o->history[i].status) != 0)
            rc = HC_EINVAL;
        else
            hc_utf8_copy(o->history[i].at, sizeof o->history[i].at, at);
    }
    o->version = rc ? 0 : (int64_t)n;
    json_decref(arr);
    return rc;
}

json_t *order_event(const order_t *o, int64_t version, const hc_trace_t *trace)
{
    const order_history_entry_t *e = &o->history[version - 1];
    json_t *ev = hc_event_new(order_event_type(e->status), o->id, trace);
    json_object_set_new(ev, "occurredAt", json_string(e->at));
    json_object_set_new(ev, "version", json_integer(version));
    json_object_set_new(ev, "status", json_string(order_status_name(e->status)));
    json_object_set_new(ev, "history", order_history_json(o, version));
    json_object_set_new(ev, "name", json_string(o->name));
    json_object_set_new(ev, "phone", json_string(o->phone));
    json_object_set_new(ev, "orderType", json_string(o->order_type));
    json_object_set_new(ev, "checkupDate", json_string(o->checkup_date));
    json_object_set_new(ev, "centerId", json_integer(o->center_id));
    json_object_set_new(ev, "amount", json_integer(o->amount));
    json_object_set_new(ev, "payMethod", json_string(o->pay_method));
    json_object_set_new(ev, "paymentId", o->payment_id ? json_integer(o->payment_id) : json_null());
    json_object_set_new(ev, "reservationId",
                        o->reservation_id ? json_integer(o->reservation_id) : json_null());
    if (o->reason[0] && order_status_is_final(e->status))
        json_object_set_new(ev, "reason", json_string(o->reason));
    return ev;
}

int order_cancel_in_time(int64_t today, int64_t checkup_day, int cutoff_days)
{
    return today <= checkup_day - cutoff_days;
}

/* ---- the booking request ---- */

static void parse_name(json_t *body, order_t *o, hc_fields_t *f)
{
    if (hc_get_text(body, "name", ORDER_NAME_MAX_CHARS, o->name, sizeof o->name, f) == 0)
        hc_fields_add(f, "name", "is required");
}

static void parse_package(json_t *body, const hc_config_t *cfg, order_t *o, hc_fields_t *f)
{
    const char *type = NULL;
    int has = hc_get_string(body, "orderType", &type, f);
    if (has == 0) {
        hc_fields_add(f, "orderType", "is required");
        return;
    }
    if (has < 0)
        return;
    const hc_package_t *pk = hc_config_package(cfg, type);
    if (!pk) {
        char shown[48];
        hc_utf8_copy(shown, sizeof shown, type);
        hc_fields_add(f, "orderType", "unknown package \"%s\"; see GET /packages", shown);
        return;
    }
    hc_strlcpy(o->order_type, pk->code, sizeof o->order_type);
    o->amount = pk->price;
}

static void parse_date(json_t *body, const hc_config_t *cfg, int64_t today, order_t *o,
                       hc_fields_t *f)
{
    const char *date = NULL;
    int64_t day;
    int has = hc_get_string(body, "checkupDate", &date, f);
    if (has == 0)
        hc_fields_add(f, "checkupDate", "is required");
    else if (has < 0)
        return;
    else if (hc_date_parse(date, &day))
        hc_fields_add(f, "checkupDate", "must be a date as YYYY-MM-DD");
    else if (day <= today)
        hc_fields_add(f, "checkupDate", "must be tomorrow or later (%s time)", cfg->tz);
    else if (day > today + cfg->horizon_days)
        hc_fields_add(f, "checkupDate", "must be within %d days from today", cfg->horizon_days);
    else
        hc_strlcpy(o->checkup_date, date, sizeof o->checkup_date);
}

static void parse_center(json_t *body, const hc_config_t *cfg, order_t *o, hc_fields_t *f)
{
    int64_t center = 1;
    if (hc_get_int(body, "centerId", &center, f) < 0)
        return;
    for (size_t i = 0; i < cfg->n_centers; i++)
        if (cfg->centers[i].id == center) {
            o->center_id = center;
            return;
        }
    hc_fields_add(f, "centerId", "unknown center %lld; see GET /centers", (long long)center);
}

/* payMethod and, for a card, cardNo (a string of digits with optional spaces
 * and dashes, or, as the seed's `Long cardNo`, a JSON integer). */
static void parse_payment(json_t *body, order_t *o, char *card, size_t cardlen, hc_fields_t *f)
{
    const char *method = NULL, *cardno = NULL;
    int has = hc_get_string(body, "payMethod", &method, f);
    if (has == 0)
        method = "card";
    else if (has < 0)
        return;
    if (strcmp(method, "card") != 0 && strcmp(method, "cash") != 0) {
        hc_fields_add(f, "payMethod", "must be \"card\" or \"cash\"");
        return;
    }
    hc_strlcpy(o->pay_method, method, sizeof o->pay_method);
    if (strcmp(method, "cash") == 0)
        return; /* a card number sent with cash is ignored, never stored */

    char text[24] = "";
    json_t *cv = json_object_get(body, "cardNo");
    if (json_is_integer(cv) && json_integer_value(cv) > 0) {
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(cv));
        cardno = text;
        has = 1;
    } else {
        has = hc_get_string(body, "cardNo", &cardno, f);
    }
    if (has == 0)
        hc_fields_add(f, "cardNo", "is required when payMethod is card");
    else if (has > 0 && hc_card_normalize(cardno, card, cardlen))
        hc_fields_add(f, "cardNo",
                      "is not a valid card number (12-19 digits with a valid check digit)");
    else if (has > 0)
        hc_strlcpy(o->card_last4, card + strlen(card) - 4, sizeof o->card_last4);
    explicit_bzero(text, sizeof text);
}

int order_booking_parse(json_t *body, const hc_config_t *cfg, int64_t today, order_t *o, char *card,
                        size_t cardlen, hc_fields_t *f)
{
    static const char *const known[] = {"name",     "phone",     "orderType", "checkupDate",
                                        "centerId", "payMethod", "cardNo",    NULL};
    size_t before = hc_fields_count(f);
    const char *phone = NULL;
    card[0] = '\0';
    hc_fields_unknown(body, known, f);
    parse_name(body, o, f);
    int has = hc_get_string(body, "phone", &phone, f);
    if (has == 0)
        hc_fields_add(f, "phone", "is required");
    else if (has > 0 && hc_phone_normalize(phone, o->phone, sizeof o->phone))
        hc_fields_add(f, "phone", "must be a Korean mobile number such as 010-1234-5678");
    parse_package(body, cfg, o, f);
    parse_date(body, cfg, today, o, f);
    parse_center(body, cfg, o, f);
    parse_payment(body, o, card, cardlen, f);
    if (hc_fields_count(f) == before)
        return 0;
    explicit_bzero(card, cardlen);
    return HC_EINVAL;
}
