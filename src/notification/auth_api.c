/* auth_api: HTTP handlers of sign-in: parse and validate, call
 * auth_accounts, send the code through the SMS provider, answer a token. */
#include "auth_api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "auth_accounts.h"
#include "hc_buf.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_http.h"
#include "hc_log.h"
#include "hc_time.h"
#include "hc_token.h"
#include "hc_valid.h"
#include "hc_worker.h"
#include "notification_sms.h"

/* The provider codes are sent through, filled at registration. */
static notification_provider_t provider;

/* The clock of codes, in unix seconds: the service clock
 * (HC_CLOCK_OFFSET_SECONDS included, so that tests of expiry can move it).
 * Tokens use the real clock instead: every service verifies them by it. */
static int64_t now_s(void)
{
    return (int64_t)time(NULL) + hc_cfg.clock_offset_s;
}

/* The client a code request counts against: the address the gateway names
 * in X-Real-IP (after its trusted-proxy rules), else "direct" (a caller on
 * the service's own port, which only the host reaches). */
static void client_of(hc_req_t *req, char *out, size_t cap)
{
    const char *ip = hc_req_header(req, "X-Real-IP");
    size_t n = ip ? strlen(ip) : 0;
    if (n == 0 || n >= cap || n > 45 || strspn(ip, "0123456789abcdefABCDEF:.") != n) {
        hc_strlcpy(out, "direct", cap);
        return;
    }
    hc_strlcpy(out, ip, cap);
}

/* Parses the body as an object of only the known string fields; a missing
 * or mistyped one is a field error. Answers 400 itself and returns HC_EINVAL
 * on failure; *body is the caller's to decref either way. */
static int read_body(hc_req_t *req, const char *const *known, const char **values, json_t **body)
{
    hc_fields_t f;
    *body = NULL;
    if (hc_req_json(req, body) != 0)
        return HC_EINVAL;
    hc_fields_init(&f);
    hc_fields_unknown(*body, known, &f);
    for (size_t i = 0; known[i]; i++) {
        int got = hc_get_string(*body, known[i], &values[i], &f);
        if (got == 0)
            hc_fields_add(&f, known[i], "is required");
        else if (got == 1 && !*values[i])
            hc_fields_add(&f, known[i], "must not be empty");
    }
    int rc = 0;
    if (hc_fields_count(&f)) {
        hc_reply_invalid(req, "the request has invalid fields", &f);
        rc = HC_EINVAL;
    }
    hc_fields_cleanup(&f);
    return rc;
}

/* Normalises a phone field into out, answering 400 when it is not a Korean
 * mobile number. */
static int read_phone(hc_req_t *req, const char *phone, char *out, size_t cap)
{
    if (hc_phone_normalize(phone, out, cap) == 0)
        return 0;
    hc_reply_field_error(req, "the request has invalid fields", "phone",
                         "must be a Korean mobile number such as 010-1234-5678");
    return HC_EINVAL;
}

/* Answers 200 with a token for p: {"accessToken","tokenType","expiresIn"}. */
static void reply_token(hc_req_t *req, const hc_principal_t *p)
{
    char tok[HC_TOKEN_MAX_LEN + 1];
    if (hc_token_issue(p, hc_cfg.token_ttl_s, (int64_t)time(NULL), tok, sizeof tok) != 0) {
        hc_reply_internal(req, "the token could not be issued; nothing changed");
        return;
    }
    hc_reply_header(req, "Cache-Control", "no-store");
    hc_reply_json(req, 200,
                  json_pack("{s:s, s:s, s:i}", "accessToken", tok, "tokenType", "Bearer",
                            "expiresIn", hc_cfg.token_ttl_s));
}

/* POST /auth/otp {"phone"}: sends a sign-in code. The answer is the same
 * whether or not the phone has bookings. */
static void api_otp(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    static const char *const known[] = {"phone", NULL};
    const char *vals[1] = {NULL};
    char phone[16], client[64], code[AUTH_CODE_DIGITS + 1], text[160], retry[16];
    json_t *body = NULL;
    auth_otp_opts_t o;
    auth_limit_t limited = AUTH_LIMIT_NONE;
    if (read_body(req, known, vals, &body) || read_phone(req, vals[0], phone, sizeof phone))
        goto out;
    client_of(req, client, sizeof client);
    auth_otp_opts_from_config(&o);
    int rc = auth_otp_request(svc->db, &o, phone, client, now_s(), code, &limited);
    if (rc) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    if (limited) {
        hc_fmt(retry, sizeof retry, "%lld", (long long)o.window_s);
        hc_reply_header(req, "Retry-After", retry);
        hc_reply_error(req, 429, "too_many_requests",
                       limited == AUTH_LIMIT_PHONE
                           ? "too many sign-in codes were sent to this phone; retry later"
                           : "too many sign-in codes were asked for from this client; retry later",
                       NULL);
        goto out;
    }
    hc_fmt(text, sizeof text, "[건강검진] 인증번호 %s (%d분 안에 입력하세요)", code,
           (int)((o.ttl_s + 59) / 60));
    notification_sms_t sms = {.to_digits = phone, .text = text, .trace_id = "", .secret = 1};
    char err[256] = "";
    rc = provider.send(&provider, &sms, err, sizeof err);
    sodium_memzero(code, sizeof code);
    sodium_memzero(text, sizeof text);
    if (rc) {
        hc_warn("sign-in code not sent: %s", err);
        hc_reply_header(req, "Retry-After", "5");
        hc_reply_error(req, 503, "sms_unavailable",
                       "the code could not be sent by SMS; ask for a new one in a moment", NULL);
        goto out;
    }
    hc_reply_json(req, 202,
                  json_pack("{s:s, s:i}", "message",
                            "a sign-in code is on its way by SMS to this number", "expiresIn",
                            (int)o.ttl_s));
out:
    json_decref(body);
}

/* The 401 message of a refused code. */
static const char *otp_refusal(auth_otp_verdict_t v)
{
    switch (v) {
    case AUTH_OTP_LOCKED:
        return "too many wrong codes; ask for a new code";
    case AUTH_OTP_EXPIRED:
    case AUTH_OTP_USED:
        return "the code has expired or was already used; ask for a new code";
    default:
        return "the code is not right";
    }
}

/* POST /auth/otp/verify {"phone","code"}: a customer token for the phone. */
static void api_otp_verify(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    static const char *const known[] = {"phone", "code", NULL};
    const char *vals[2] = {NULL, NULL};
    char phone[16];
    json_t *body = NULL;
    auth_otp_opts_t o;
    auth_otp_verdict_t verdict;
    if (read_body(req, known, vals, &body) || read_phone(req, vals[0], phone, sizeof phone))
        goto out;
    if (!auth_code_valid(vals[1])) {
        hc_reply_field_error(req, "the request has invalid fields", "code",
                             "must be the 6 digits sent by SMS");
        goto out;
    }
    auth_otp_opts_from_config(&o);
    int rc = auth_otp_verify(svc->db, &o, phone, vals[1], now_s(), &verdict);
    if (rc) {
        hc_reply_storage_error(req, rc);
        goto out;
    }
    if (verdict != AUTH_OTP_OK) {
        hc_reply_error(req, 401, "invalid_code", otp_refusal(verdict), NULL);
        goto out;
    }
    hc_principal_t p;
    memset(&p, 0, sizeof p);
    p.role = HC_ROLE_CUSTOMER;
    hc_strlcpy(p.sub, phone, sizeof p.sub);
    reply_token(req, &p);
out:
    json_decref(body);
}

/* The slow part of the bootstrap (auth_bootstrap_finish: an Argon2id hash
 * or check), on a worker of its own so that the service is ready without
 * waiting for it; a login waits for it instead (boot_wait). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t done; /* on CLOCK_MONOTONIC (auth_api_start) */
    int running;         /* the worker has not finished */
    hc_worker_t *worker;
    hc_db_t *db;
    auth_boot_t job;
} boot = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define BOOT_DELAY_MS 500  /* after the start, before the hash */
#define BOOT_RETRY_MS 1000 /* after a storage failure */
#define BOOT_WAIT_MS 30000 /* the longest a login waits for the bootstrap */

static void boot_main(hc_worker_t *w, void *ud)
{
    (void)ud;
    int rc;
    /* Not while the system starts: the hash (64 MiB to fault in, a core's
     * worth of work) slowed the start of every process `up` starts at once;
     * a first start was ready about 30 ms later for it (docs/accounts.md). A
     * login waits for it (boot_wait). */
    hc_worker_wait(w, BOOT_DELAY_MS);
    while (!hc_worker_stopping(w) && (rc = auth_bootstrap_finish(boot.db, &boot.job)) != 0) {
        hc_error("cannot set up the first super-admin: %s; trying again in %d ms", hc_strerror(rc),
                 BOOT_RETRY_MS);
        hc_worker_wait(w, BOOT_RETRY_MS);
    }
    auth_bootstrap_clear(&boot.job);
    pthread_mutex_lock(&boot.mu);
    boot.running = 0;
    pthread_cond_broadcast(&boot.done);
    pthread_mutex_unlock(&boot.mu);
}

/* Waits until the bootstrap worker is done. Returns 0, or HC_EBUSY when it
 * is still at work after BOOT_WAIT_MS. */
static int boot_wait(void)
{
    struct timespec until;
    hc_mono_timespec(BOOT_WAIT_MS, &until);
    pthread_mutex_lock(&boot.mu);
    while (boot.running && pthread_cond_timedwait(&boot.done, &boot.mu, &until) == 0)
        ;
    int busy = boot.running;
    pthread_mutex_unlock(&boot.mu);
    return busy ? HC_EBUSY : 0;
}

/* POST /auth/login {"username","password"}: an admin's token. An unknown
 * user and a wrong password get the same answer in the same time. */
static void api_login(hc_req_t *req, void *ud)
{
    hc_service_t *svc = ud;
    static const char *const known[] = {"username", "password", NULL};
    const char *vals[2] = {NULL, NULL};
    json_t *body = NULL;
    hc_principal_t p;
    if (read_body(req, known, vals, &body))
        goto out;
    /* The first super-admin may still be on its way (auth_api_start). */
    int rc = boot_wait();
    if (rc == 0)
        rc = auth_login(svc->db, vals[0], vals[1], &p);
    if (rc == HC_EINVAL)
        hc_reply_error(req, 401, "invalid_credentials", "wrong username or password", NULL);
    else if (rc)
        hc_reply_storage_error(req, rc);
    else
        reply_token(req, &p);
out:
    json_decref(body);
}

int auth_api_register(hc_service_t *svc)
{
    int rc = notification_provider_init(&provider, &hc_cfg);
    if (rc)
        return rc;
    hc_http_t *h = svc->http;
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "POST", "/auth/otp", NULL, api_otp, svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "POST", "/auth/otp/verify", NULL, api_otp_verify, svc);
    hc_http_route_as(h, HC_ACCESS_PUBLIC, "POST", "/auth/login", NULL, api_login, svc);
    return 0;
}

int auth_api_start(hc_service_t *svc)
{
    auth_boot_t *b = &boot.job;
    int rc = auth_bootstrap_prepare(svc->db, hc_cfg.admin_user, hc_cfg.admin_password,
                                    hc_cfg.data_dir, b);
    if (!rc && b->pending) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&boot.done, &ca);
        pthread_condattr_destroy(&ca);
        boot.db = svc->db;
        boot.running = 1;
        if (hc_worker_start("hc-admin-boot", boot_main, NULL, &boot.worker) != 0) {
            boot.running = 0;
            rc = auth_bootstrap_finish(svc->db, b); /* no thread: do it now */
        }
    }
    if (rc) {
        hc_error("cannot set up the first super-admin: %s", hc_strerror(rc));
        auth_bootstrap_clear(b);
    }
    return rc;
}

void auth_api_stop(void)
{
    hc_worker_stop(boot.worker); /* it finishes a hash under way */
    boot.worker = NULL;
}
