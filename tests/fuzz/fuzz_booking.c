/* fuzz_booking: POST /orders bodies through order_booking_parse, read as the
 * order service reads them (jansson, duplicate keys refused, objects only),
 * against a fixed catalog, centers and today; the name and a reason also
 * through hc_get_text. Beyond "no crash, UB or leak" it checks what an accepted
 * booking holds (a clean name of 1-50 characters, mobile digits, a package at
 * its price, a date from tomorrow to the horizon, a known center, card with
 * the last four digits of a Luhn-valid number or cash with none), and that a
 * refused one has its errors listed once per field and no card digits left. */
#include "fuzz.h"

#include <jansson.h>

#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_valid.h"
#include "order/order_domain.h"

static hc_config_t cfg;
static int64_t today;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.tz, sizeof cfg.tz, "Asia/Seoul");
    cfg.horizon_days = 90;
    if (hc_config_parse_packages(&cfg, "basic:기본 건강검진:50000,prime:종합 건강검진:150000") ||
        hc_config_parse_centers(&cfg, "1:서울중앙검진센터:20,2:부산검진센터:10,7:제주:0") ||
        hc_date_parse("2026-01-15", &today))
        abort();
    return 0;
}

/* The string value of key in body as sent, or NULL when it is not a string. */
static const char *sent_string(json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* 1 when some key of body, cut to 63 bytes on a character as
 * hc_fields_unknown reports it, is field. */
static int names_a_key(json_t *body, const char *field)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        char cut[64];
        hc_utf8_copy(cut, sizeof cut, key);
        if (strcmp(cut, field) == 0)
            return 1;
    }
    return 0;
}

/* Every collected error is {"field": string, "message": string}: a field of
 * the request (or the one added before) once, or a key of the body the
 * request does not take ("is not a field of this request"). */
static void check_fields(const hc_fields_t *f, json_t *body)
{
    static const char *const known[] = {"earlier",     "name",     "phone",     "orderType",
                                        "checkupDate", "centerId", "payMethod", "cardNo"};
    size_t i, j;
    json_t *e, *g;
    FUZZ_CHECK(json_is_array(f->list));
    json_array_foreach(f->list, i, e)
    {
        const char *field = json_string_value(json_object_get(e, "field"));
        const char *message = json_string_value(json_object_get(e, "message"));
        FUZZ_CHECK(field && message);
        int is_known = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            is_known |= strcmp(field, known[k]) == 0;
        if (!is_known) {
            FUZZ_CHECK(strcmp(message, "is not a field of this request") == 0);
            FUZZ_CHECK(names_a_key(body, field));
            continue;
        }
        json_array_foreach(f->list, j, g)
            FUZZ_CHECK(j == i || strcmp(field, json_string_value(json_object_get(g, "field"))));
    }
}

/* A cleaned text: valid UTF-8 of 1..max characters, no controls or invisible
 * marks, no spaces at either end, found as is inside what was sent, which
 * itself had at most max characters. */
static void check_clean_text(const char *text, const char *sent, size_t max)
{
    unsigned cps[256];
    long n = fuzz_utf8_decode(text, cps, 256);
    FUZZ_CHECK(n >= 1 && (size_t)n <= max);
    for (long i = 0; i < n; i++)
        FUZZ_CHECK(!fuzz_is_forbidden(cps[i]));
    FUZZ_CHECK(!fuzz_is_space(cps[0]) && !fuzz_is_space(cps[n - 1]));
    FUZZ_CHECK(sent && strstr(sent, text));
    long sent_n = fuzz_utf8_decode(sent, NULL, 0);
    FUZZ_CHECK(sent_n >= n && (size_t)sent_n <= max);
}

static void check_accepted(json_t *body, const order_t *o, const char *card)
{
    check_clean_text(o->name, sent_string(body, "name"), ORDER_NAME_MAX_CHARS);

    /* a Korean mobile number, the digits of what was sent */
    char digits[64];
    const char *phone = sent_string(body, "phone");
    FUZZ_CHECK(fuzz_is_digits(o->phone, 10, 11));
    FUZZ_CHECK(o->phone[0] == '0' && o->phone[1] == '1' && strchr("016789", o->phone[2]));
    FUZZ_CHECK(phone && fuzz_digits_of(phone, digits, sizeof digits) > 0);
    FUZZ_CHECK(strcmp(digits, o->phone) == 0);

    /* a package of the catalog, at its price, as sent */
    const hc_package_t *pk = hc_config_package(&cfg, o->order_type);
    FUZZ_CHECK(pk && pk->price == o->amount);
    FUZZ_CHECK(strcmp(o->order_type, sent_string(body, "orderType")) == 0);

    /* a date from tomorrow to the horizon that formats back to itself */
    int64_t day;
    char again[11];
    FUZZ_CHECK(hc_date_parse(o->checkup_date, &day) == 0);
    FUZZ_CHECK(day > today && day <= today + cfg.horizon_days);
    hc_date_format(day, again, sizeof again);
    FUZZ_CHECK(strcmp(again, o->checkup_date) == 0);
    FUZZ_CHECK(strcmp(o->checkup_date, sent_string(body, "checkupDate")) == 0);

    /* a known center; none given means center 1 */
    int known = 0;
    for (size_t i = 0; i < cfg.n_centers; i++)
        known |= cfg.centers[i].id == o->center_id;
    FUZZ_CHECK(known);
    json_t *cv = json_object_get(body, "centerId");
    FUZZ_CHECK(!(cv == NULL || json_is_null(cv)) || o->center_id == 1);

    /* card: a Luhn-valid 12-19 digit number and its last four; cash: none */
    const char *method = sent_string(body, "payMethod");
    if (strcmp(o->pay_method, "card") == 0) {
        FUZZ_CHECK(!method || strcmp(method, "card") == 0);
        FUZZ_CHECK(fuzz_is_digits(card, 12, 19) && fuzz_luhn(card));
        FUZZ_CHECK(fuzz_is_digits(o->card_last4, 4, 4));
        FUZZ_CHECK(strcmp(card + strlen(card) - 4, o->card_last4) == 0);
    } else {
        FUZZ_CHECK(strcmp(o->pay_method, "cash") == 0 && method && strcmp(method, "cash") == 0);
        FUZZ_CHECK(o->card_last4[0] == '\0' && card[0] == '\0');
    }
}

/* hc_get_text on a free-text key: present and clean, absent, or an error. */
static void check_get_text(json_t *body, const char *key, size_t max)
{
    char out[HC_REASON_BUF];
    hc_fields_t f;
    hc_fields_init(&f);
    int has = hc_get_text(body, key, max, out, sizeof out, &f);
    json_t *v = json_object_get(body, key);
    if (has == 1) {
        FUZZ_CHECK(hc_fields_count(&f) == 0);
        check_clean_text(out, json_string_value(v), max);
    } else if (has == 0) {
        FUZZ_CHECK(hc_fields_count(&f) == 0 && (v == NULL || json_is_null(v)));
    } else {
        FUZZ_CHECK(has == -1 && hc_fields_count(&f) == 1 && v != NULL);
    }
    hc_fields_cleanup(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body); /* the server answers 400 before any rule runs */
        return 0;
    }
    order_t o;
    char card[20]; /* the smallest buffer the contract allows */
    hc_fields_t f;
    memset(&o, 0, sizeof o);
    memset(card, 'X', sizeof card);
    hc_fields_init(&f);
    hc_fields_add(&f, "earlier", "an error collected before the call stays");
    int rc = order_booking_parse(body, &cfg, today, &o, card, sizeof card, &f);
    check_fields(&f, body);
    if (rc == 0) {
        FUZZ_CHECK(hc_fields_count(&f) == 1);
        check_accepted(body, &o, card);
    } else {
        FUZZ_CHECK(rc == HC_EINVAL && hc_fields_count(&f) > 1);
        FUZZ_CHECK(fuzz_all_zero(card, sizeof card));
    }
    hc_fields_cleanup(&f);

    check_get_text(body, "name", ORDER_NAME_MAX_CHARS);
    check_get_text(body, "reason", HC_REASON_MAX_CHARS);
    json_decref(body);
    return 0;
}
