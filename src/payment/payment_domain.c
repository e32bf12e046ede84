/* payment_domain: statuses, request validation, answer and refund rules, and
 * the PaymentApproved / PaymentCanceled events. Pure: no storage, no network. */
#include "payment_domain.h"

#include "hc_buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hc_err.h"
#include "hc_event.h"
#include "hc_events.h"

#define CARD_DIGITS_MAX 19

static const char *const status_names[] = {
    [PAYMENT_APPROVED] = "APPROVED",
    [PAYMENT_DECLINED] = "DECLINED",
    [PAYMENT_CANCELED] = "CANCELED",
};

const char *payment_status_name(payment_status_t s)
{
    if (s > PAYMENT_STATUS_NONE && s <= PAYMENT_CANCELED)
        return status_names[s];
    return "UNKNOWN";
}

int payment_status_parse(const char *s, payment_status_t *out)
{
    for (int i = PAYMENT_APPROVED; s && i <= PAYMENT_CANCELED; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (payment_status_t)i;
            return 0;
        }
    }
    return HC_EINVAL;
}

const char *payment_method_name(payment_method_t m)
{
    switch (m) {
    case PAYMENT_CARD:
        return "card";
    case PAYMENT_CASH:
        return "cash";
    default:
        return "unknown";
    }
}

int payment_method_parse(const char *s, payment_method_t *out)
{
    if (s && strcasecmp(s, "card") == 0) {
        *out = PAYMENT_CARD;
        return 0;
    }
    if (s && strcasecmp(s, "cash") == 0) {
        *out = PAYMENT_CASH;
        return 0;
    }
    return HC_EINVAL;
}

int payment_card_is_declined(const char *digits, const char *list)
{
    if (!digits || !*digits || !list)
        return 0;
    const char *p = list;
    while (*p) {
        /* Collect one entry's digits, ignoring separators inside it. */
        char entry[CARD_DIGITS_MAX + 2];
        size_t n = 0;
        int too_long = 0;
        for (; *p && *p != ','; p++) {
            if (*p < '0' || *p > '9')
                continue;
            if (n < sizeof entry - 1)
                entry[n++] = *p;
            else
                too_long = 1;
        }
        entry[n] = '\0';
        if (!too_long && n > 0 && strcmp(entry, digits) == 0)
            return 1;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Reads cardNo (a string, or a positive integer as form tools may send it:
 * a negative one would print with a '-' that reads as a separator) into text
 * (size bytes). Returns 1 when present, 0 when absent or null, -1 when it has
 * another type (error added to f). */
static int get_card_text(json_t *body, char *text, size_t size, hc_fields_t *f)
{
    json_t *v = json_object_get(body, "cardNo");
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) >= size) {
            hc_fields_add(f, "cardNo", "must be 12-19 digits with a valid check digit");
            return -1;
        }
        snprintf(text, size, "%s", json_string_value(v));
        return 1;
    }
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(text, size, "%lld", (long long)json_integer_value(v));
        return 1;
    }
    hc_fields_add(f, "cardNo", "must be a string of digits");
    return -1;
}

/* Reads the amount from "amount" or its alias "price" into *out. Returns 0 or
 * HC_EINVAL with an error added to f. */
static int parse_amount(json_t *body, int64_t *out, hc_fields_t *f)
{
    int64_t amount = 0, price = 0;
    int ha = hc_get_int(body, "amount", &amount, f);
    int hp = hc_get_int(body, "price", &price, f);
    if (ha < 0 || hp < 0)
        return HC_EINVAL;
    if (ha == 0 && hp == 0) {
        hc_fields_add(f, "amount", "is required (amount or price, integer KRW)");
        return HC_EINVAL;
    }
    const char *field = ha ? "amount" : "price";
    int64_t v = ha ? amount : price;
    if (v <= 0 || v > PAYMENT_AMOUNT_MAX) {
        hc_fields_add(f, field, "must be a positive integer (KRW) up to %lld",
                      (long long)PAYMENT_AMOUNT_MAX);
        return HC_EINVAL;
    }
    if (ha && hp && amount != price) {
        hc_fields_add(f, "price", "differs from amount; send one of them");
        return HC_EINVAL;
    }
    *out = v;
    return 0;
}

/* Validates the card fields for method into out (last four digits and the
 * decline verdict). The full number lives only in a local buffer, wiped here. */
static int parse_card(json_t *body, payment_method_t method, const char *decline_list,
                      payment_request_t *out, hc_fields_t *f)
{
    char text[64], digits[CARD_DIGITS_MAX + 2];
    int rc = 0;
    if (method != PAYMENT_CARD)
        return 0; /* a card number sent with cash is ignored, never stored */
    int has = get_card_text(body, text, sizeof text, f);
    if (has < 0) {
        rc = HC_EINVAL;
        goto out;
    }
    if (has == 0) {
        hc_fields_add(f, "cardNo", "is required when payMethod is card");
        rc = HC_EINVAL;
        goto out;
    }
    if (hc_card_normalize(text, digits, sizeof digits) != 0) {
        hc_fields_add(f, "cardNo", "must be 12-19 digits with a valid check digit");
        rc = HC_EINVAL;
        goto out;
    }
    size_t n = strlen(digits);
    memcpy(out->card_last4, digits + n - 4, 5);
    out->declined = payment_card_is_declined(digits, decline_list);
out:
    explicit_bzero(text, sizeof text);
    explicit_bzero(digits, sizeof digits);
    return rc;
}

int payment_request_parse(json_t *body, const char *decline_list, payment_request_t *out,
                          hc_fields_t *f)
{
    static const char *const known[] = {"orderId",  "amount",      "price", "payMethod", "cardNo",
                                        "centerId", "checkupDate", "phone", NULL};
    memset(out, 0, sizeof *out);
    size_t before = hc_fields_count(f);
    hc_fields_unknown(body, known, f);

    int64_t v = 0;
    int has = hc_get_int(body, "orderId", &v, f);
    if (has == 0)
        hc_fields_add(f, "orderId", "is required");
    else if (has > 0 && v <= 0)
        hc_fields_add(f, "orderId", "must be a positive integer");
    else if (has > 0)
        out->order_id = v;

    parse_amount(body, &out->amount, f);

    const char *s = NULL;
    out->method = PAYMENT_CARD;
    has = hc_get_string(body, "payMethod", &s, f);
    if (has < 0) {
        out->method = PAYMENT_METHOD_NONE; /* named by hc_get_string; no card rules */
    } else if (has > 0 && payment_method_parse(s, &out->method) != 0) {
        hc_fields_add(f, "payMethod", "must be card or cash");
        out->method = PAYMENT_METHOD_NONE;
    }
    if (out->method != PAYMENT_METHOD_NONE)
        parse_card(body, out->method, decline_list, out, f);

    has = hc_get_int(body, "centerId", &v, f);
    if (has > 0 && v <= 0)
        hc_fields_add(f, "centerId", "must be a positive integer");
    else if (has > 0)
        out->center_id = v;

    has = hc_get_string(body, "checkupDate", &s, f);
    int64_t day;
    if (has > 0 && hc_date_parse(s, &day) != 0)
        hc_fields_add(f, "checkupDate", "must be a calendar date YYYY-MM-DD");
    else if (has > 0)
        snprintf(out->checkup_date, sizeof out->checkup_date, "%s", s);

    /* Whose the payment is (a customer reads its own): order sends it. */
    has = hc_get_string(body, "phone", &s, f);
    if (has > 0 && hc_phone_normalize(s, out->phone, sizeof out->phone) != 0)
        hc_fields_add(f, "phone", "must be a Korean mobile number such as 010-1234-5678");

    if (hc_fields_count(f) != before) {
        memset(out, 0, sizeof *out);
        return HC_EINVAL;
    }
    return 0;
}

void payment_from_request(const payment_request_t *in, const char *now, payment_t *out)
{
    memset(out, 0, sizeof *out);
    out->order_id = in->order_id;
    out->amount = in->amount;
    out->method = in->method;
    memcpy(out->card_last4, in->card_last4, sizeof out->card_last4);
    out->status = in->declined ? PAYMENT_DECLINED : PAYMENT_APPROVED;
    out->center_id = in->center_id;
    memcpy(out->checkup_date, in->checkup_date, sizeof out->checkup_date);
    memcpy(out->phone, in->phone, sizeof out->phone);
    if (in->declined)
        hc_utf8_copy(out->reason, sizeof out->reason, "card declined by the provider");
    hc_utf8_copy(out->created_at, sizeof out->created_at, now);
    hc_utf8_copy(out->updated_at, sizeof out->updated_at, now);
}

void payment_void_record(int64_t order_id, int64_t amount, payment_method_t method,
                         int64_t center_id, const char *checkup_date, const char *now,
                         payment_t *out)
{
    memset(out, 0, sizeof *out);
    out->order_id = order_id;
    out->amount = amount > 0 ? amount : 0;
    out->method = method == PAYMENT_CASH ? PAYMENT_CASH : PAYMENT_CARD;
    out->status = PAYMENT_CANCELED;
    out->center_id = center_id > 0 ? center_id : 0;
    int64_t day;
    if (checkup_date && hc_date_parse(checkup_date, &day) == 0)
        hc_utf8_copy(out->checkup_date, sizeof out->checkup_date, checkup_date);
    hc_utf8_copy(out->reason, sizeof out->reason, PAYMENT_VOID_REASON);
    hc_utf8_copy(out->created_at, sizeof out->created_at, now);
    hc_utf8_copy(out->updated_at, sizeof out->updated_at, now);
}

void payment_charge_answer(const payment_t *p, int created, payment_answer_t *out)
{
    switch (p->status) {
    case PAYMENT_APPROVED:
        *out = (payment_answer_t){created ? 201 : 200, NULL, NULL};
        break;
    case PAYMENT_DECLINED:
        *out = (payment_answer_t){402, "payment_declined",
                                  "the card was declined; use another card or pay by cash"};
        break;
    case PAYMENT_CANCELED:
        *out = (payment_answer_t){409, "invalid_state",
                                  strcmp(p->reason, PAYMENT_VOID_REASON) == 0
                                      ? "this order's payment was voided because the order failed"
                                      : "this order's payment was canceled (refunded)"};
        break;
    default:
        *out = (payment_answer_t){500, "internal", "the stored payment has an unknown status"};
        break;
    }
}

payment_refund_t payment_refund_decide(payment_status_t s)
{
    switch (s) {
    case PAYMENT_APPROVED:
        return PAYMENT_REFUND_APPLY;
    case PAYMENT_CANCELED:
        return PAYMENT_REFUND_NOOP;
    default:
        return PAYMENT_REFUND_REFUSE;
    }
}

payment_void_t payment_order_failed_action(const payment_t *existing)
{
    if (!existing)
        return PAYMENT_VOID_TOMBSTONE;
    return existing->status == PAYMENT_APPROVED ? PAYMENT_VOID_REFUND : PAYMENT_VOID_NONE;
}

int payment_cancel(payment_t *p, const char *reason, const char *now)
{
    if (p->status != PAYMENT_APPROVED)
        return HC_ECONFLICT;
    p->status = PAYMENT_CANCELED;
    hc_utf8_copy(p->reason, sizeof p->reason, reason ? reason : "");
    hc_utf8_copy(p->updated_at, sizeof p->updated_at, now);
    return 0;
}

void payment_reason_format(char *dst, size_t size, const char *prefix, const char *detail)
{
    size_t n = hc_utf8_copy(dst, size, prefix);
    if (!detail || !*detail || n + 3 >= size)
        return;
    memcpy(dst + n, ": ", 3);
    n += 2;
    hc_utf8_copy(dst + n, size - n, detail);
}

json_t *payment_to_json(const payment_t *p)
{
    char masked[32];
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s}", "id", (json_int_t)p->id, "orderId",
                          (json_int_t)p->order_id, "amount", (json_int_t)p->amount, "payMethod",
                          payment_method_name(p->method), "status", payment_status_name(p->status));
    if (p->card_last4[0]) {
        hc_card_mask(p->card_last4, masked, sizeof masked);
        json_object_set_new(o, "cardNo", json_string(masked));
    } else {
        json_object_set_new(o, "cardNo", json_null());
    }
    if (p->reason[0])
        json_object_set_new(o, "reason", json_string(p->reason));
    json_object_set_new(o, "centerId", p->center_id > 0 ? json_integer(p->center_id) : json_null());
    json_object_set_new(o, "checkupDate",
                        p->checkup_date[0] ? json_string(p->checkup_date) : json_null());
    json_object_set_new(o, "createdAt", json_string(p->created_at));
    json_object_set_new(o, "updatedAt", json_string(p->updated_at));
    return o;
}

json_t *payment_event_approved(const payment_t *p, const hc_trace_t *trace)
{
    json_t *ev = hc_event_new(HC_EV_PAYMENT_APPROVED, p->order_id, trace);
    json_object_set_new(ev, "paymentId", json_integer(p->id));
    json_object_set_new(ev, "amount", json_integer(p->amount));
    json_object_set_new(ev, "payMethod", json_string(payment_method_name(p->method)));
    json_object_set_new(ev, "centerId",
                        p->center_id > 0 ? json_integer(p->center_id) : json_null());
    json_object_set_new(ev, "checkupDate",
                        p->checkup_date[0] ? json_string(p->checkup_date) : json_null());
    if (p->phone[0]) /* whose the reservation it causes is */
        json_object_set_new(ev, "phone", json_string(p->phone));
    return ev;
}

json_t *payment_event_canceled(const payment_t *p, const hc_trace_t *trace)
{
    json_t *ev = hc_event_new(HC_EV_PAYMENT_CANCELED, p->order_id, trace);
    json_object_set_new(ev, "paymentId", json_integer(p->id));
    json_object_set_new(ev, "amount", json_integer(p->amount));
    json_object_set_new(ev, "reason", json_string(p->reason));
    return ev;
}
