/* fuzz_payment: POST /paymentHistories bodies through payment_request_parse,
 * read as the payment service reads them, against a fixed decline list; and
 * the input text itself as a decline list for payment_card_is_declined.
 * Checks that an accepted request has a positive order id, an amount of 1 KRW
 * to PAYMENT_AMOUNT_MAX, card with four last digits (declined exactly for a
 * listed card) or cash with none, a real date or none; that a refused one
 * added errors and left *out zeroed; and that a list entry matches exactly
 * the card whose digits it holds. */
#include "fuzz.h"

#include <jansson.h>

#include "hc_err.h"
#include "payment/payment_domain.h"

#define DECLINE_LIST "4000000000000002, 5105-1051-0510-5100"

/* The digits of cardNo as sent (a string, or a positive integer), or "". */
static void sent_card_digits(json_t *body, char *out, size_t size)
{
    json_t *v = json_object_get(body, "cardNo");
    out[0] = '\0';
    if (json_is_string(v)) {
        if (fuzz_digits_of(json_string_value(v), out, size) < 0)
            out[0] = '\0';
    } else if (json_is_integer(v)) {
        snprintf(out, size, "%lld", (long long)json_integer_value(v));
    }
}

/* payment_card_is_declined, recomputed: some comma-separated entry of list
 * has exactly the digits of card (other characters in entries ignored). */
static int listed(const char *card, const char *list)
{
    size_t len = strlen(card);
    while (1) {
        size_t n = 0;
        int same = 1;
        for (; *list && *list != ','; list++) {
            if (*list < '0' || *list > '9')
                continue;
            if (n >= len || card[n] != *list)
                same = 0;
            n++;
        }
        if (same && n == len && len > 0)
            return 1;
        if (!*list)
            return 0;
        list++;
    }
}

static void check_accepted(json_t *body, const payment_request_t *r)
{
    FUZZ_CHECK(r->order_id > 0);
    FUZZ_CHECK(r->amount > 0 && r->amount <= PAYMENT_AMOUNT_MAX);
    FUZZ_CHECK(r->center_id >= 0);
    if (r->checkup_date[0]) {
        int64_t day;
        char back[11];
        FUZZ_CHECK(hc_date_parse(r->checkup_date, &day) == 0);
        hc_date_format(day, back, sizeof back);
        FUZZ_CHECK(strcmp(back, r->checkup_date) == 0);
    }
    char digits[64];
    if (r->method == PAYMENT_CARD) {
        sent_card_digits(body, digits, sizeof digits);
        FUZZ_CHECK(fuzz_is_digits(digits, 12, 19) && fuzz_luhn(digits));
        FUZZ_CHECK(fuzz_is_digits(r->card_last4, 4, 4));
        FUZZ_CHECK(strcmp(digits + strlen(digits) - 4, r->card_last4) == 0);
        FUZZ_CHECK(r->declined == listed(digits, DECLINE_LIST));
    } else {
        FUZZ_CHECK(r->method == PAYMENT_CASH);
        FUZZ_CHECK(r->card_last4[0] == '\0' && r->declined == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    static const char *const cards[] = {"4000000000000002", "5105105105105100", "4111111111111111",
                                        "1"};
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++)
        FUZZ_CHECK(payment_card_is_declined(cards[i], text) == listed(cards[i], text));
    free(text);

    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    payment_request_t r;
    hc_fields_t f;
    memset(&r, 0x5A, sizeof r);
    hc_fields_init(&f);
    int rc = payment_request_parse(body, DECLINE_LIST, &r, &f);
    if (rc == 0) {
        FUZZ_CHECK(hc_fields_count(&f) == 0);
        check_accepted(body, &r);
    } else {
        FUZZ_CHECK(rc == HC_EINVAL && hc_fields_count(&f) > 0);
        FUZZ_CHECK(fuzz_all_zero(&r, sizeof r));
    }
    hc_fields_cleanup(&f);
    json_decref(body);
    return 0;
}
