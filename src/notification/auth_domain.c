/* auth_domain: sign-in codes and admin passwords on libsodium (random digits,
 * keyed digests, constant-time compare, Argon2id). */
#include "auth_domain.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"

/* Password hashes running at once per process (each takes 64 MiB). */
#define PWHASH_CONCURRENCY 2

static pthread_mutex_t pw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pw_cv = PTHREAD_COND_INITIALIZER;
static int pw_running;

static void pw_enter(void)
{
    pthread_mutex_lock(&pw_mu);
    while (pw_running >= PWHASH_CONCURRENCY)
        pthread_cond_wait(&pw_cv, &pw_mu);
    pw_running++;
    pthread_mutex_unlock(&pw_mu);
}

static void pw_leave(void)
{
    pthread_mutex_lock(&pw_mu);
    pw_running--;
    pthread_cond_signal(&pw_cv);
    pthread_mutex_unlock(&pw_mu);
}

void auth_code_new(char out[AUTH_CODE_DIGITS + 1])
{
    /* randombytes_uniform has no modulo bias */
    for (int i = 0; i < AUTH_CODE_DIGITS; i++)
        out[i] = (char)('0' + randombytes_uniform(10));
    out[AUTH_CODE_DIGITS] = '\0';
}

int auth_code_valid(const char *code)
{
    if (!code || strlen(code) != AUTH_CODE_DIGITS)
        return 0;
    for (int i = 0; i < AUTH_CODE_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    return 1;
}

/* hc_auth_digest of "purpose\nphone[\ncode]": the purpose keeps a phone's
 * key from ever equalling a code digest. */
static void digest(const char *purpose, const char *phone, const char *code,
                   char out[AUTH_DIGEST_SIZE])
{
    char in[128];
    int n =
        snprintf(in, sizeof in, "%s\n%s%s%s", purpose, phone, code ? "\n" : "", code ? code : "");
    hc_auth_digest(in, n > 0 && (size_t)n < sizeof in ? (size_t)n : 0, out);
    sodium_memzero(in, sizeof in);
}

void auth_phone_key(const char *phone, char out[AUTH_DIGEST_SIZE])
{
    digest("otp-phone", phone, NULL, out);
}

void auth_code_digest(const char *phone, const char *code, char out[AUTH_DIGEST_SIZE])
{
    digest("otp-code", phone, code, out);
}

auth_otp_verdict_t auth_otp_check(const auth_otp_t *row, const char *phone, const char *code,
                                  int64_t now_s, int max_attempts)
{
    if (!row)
        return AUTH_OTP_NONE;
    if (row->used)
        return AUTH_OTP_USED;
    if (row->attempts >= max_attempts)
        return AUTH_OTP_LOCKED;
    if (now_s >= row->expires_at)
        return AUTH_OTP_EXPIRED;
    char want[AUTH_DIGEST_SIZE];
    auth_code_digest(phone, auth_code_valid(code) ? code : "", want);
    if (strlen(row->code_hash) != HC_AUTH_HEX_LEN ||
        sodium_memcmp(want, row->code_hash, HC_AUTH_HEX_LEN) != 0)
        return AUTH_OTP_WRONG;
    return AUTH_OTP_OK;
}

int auth_password_hash(const char *password, char out[AUTH_PWHASH_STR_SIZE])
{
    pw_enter();
    int rc = crypto_pwhash_str_alg(out, password, strlen(password), AUTH_PWHASH_OPSLIMIT,
                                   (size_t)AUTH_PWHASH_MEMLIMIT, crypto_pwhash_ALG_ARGON2ID13);
    pw_leave();
    return rc == 0 ? 0 : HC_ENOMEM;
}

/* A hash of a password nobody has, made once: what an unknown user's
 * password is checked against. */
static char dummy_hash[AUTH_PWHASH_STR_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    char pw[25];
    auth_password_random(pw);
    if (auth_password_hash(pw, dummy_hash) != 0)
        dummy_hash[0] = '\0';
}

int auth_password_verify(const char *stored, const char *password)
{
    int known = stored && *stored;
    if (!known) {
        pthread_once(&dummy_once, dummy_init);
        stored = dummy_hash;
    }
    pw_enter();
    int ok = crypto_pwhash_str_verify(stored, password, strlen(password)) == 0;
    pw_leave();
    return known && ok;
}

int auth_password_needs_rehash(const char *stored)
{
    return crypto_pwhash_str_needs_rehash(stored, AUTH_PWHASH_OPSLIMIT,
                                          (size_t)AUTH_PWHASH_MEMLIMIT) != 0;
}

int auth_username_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > AUTH_USERNAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("._@-", ch)))
            return 0;
    }
    return 1;
}

int auth_password_valid(const char *password)
{
    size_t n = password ? strlen(password) : 0;
    return n >= AUTH_PASSWORD_MIN && n <= AUTH_PASSWORD_MAX;
}

int auth_centers_parse(const char *text, int64_t ids[HC_TOKEN_MAX_CENTERS], size_t *n)
{
    *n = 0;
    for (const char *p = text ? text : ""; *p;) {
        size_t len = strcspn(p, ",");
        char item[24];
        long long id = 0;
        if (len == 0 || len >= sizeof item || *n >= HC_TOKEN_MAX_CENTERS)
            goto bad;
        memcpy(item, p, len);
        item[len] = '\0';
        if (hc_parse_i64(item, &id) || id <= 0)
            goto bad;
        for (size_t k = 0; k < *n; k++)
            if (ids[k] == id)
                goto bad;
        ids[(*n)++] = id;
        p += len;
        if (*p == ',' && !*++p)
            goto bad; /* a trailing comma */
    }
    return 0;
bad:
    *n = 0;
    return HC_EINVAL;
}

void auth_centers_format(const int64_t *ids, size_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, cap - used, "%s%lld", i ? "," : "", (long long)ids[i]);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

void auth_password_random(char out[25])
{
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    for (int i = 0; i < 24; i++)
        out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
    out[24] = '\0';
}
