/* hc_token: issues and verifies the bearer tokens of hc_token.h: HS256 JWTs
 * encoded and parsed by libjwt; the signature is checked again with
 * libsodium's constant-time HMAC verify and the claims with jansson. */
#include "hc_token.h"

#include <jansson.h>
#include <jwt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hc_auth.h"
#include "hc_err.h"
#include "hc_log.h"

#define KEY_FILE "jwt.key"
#define KEY_FILE_BYTES 32
#define SECRET_MIN 32
#define SECRET_MAX 256
#define ISSUER "healthcenter"

/* The HS256 key: HC_JWT_SECRET's bytes as given (so that other tools holding
 * the same secret can verify or mint tokens), or the key file's bytes. */
static unsigned char token_key[SECRET_MAX];
static size_t token_key_len;

/* Tokens that verified, so that a client's next request with the same token
 * costs a hash and a compare instead of two HMACs and three JSON parses. A
 * slot is chosen by a keyed hash (SipHash, random key), and a hit needs the
 * whole token to match in constant time; expiry is checked on every use. */
#define CACHE_SLOTS 64
typedef struct cached {
    size_t len; /* 0: empty */
    char token[HC_TOKEN_MAX_LEN];
    hc_principal_t principal;
} cached_t;
static cached_t cache[CACHE_SLOTS];
static unsigned char cache_key[crypto_shorthash_KEYBYTES];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t cache_slot(const char *token, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)token, len, cache_key);
    return (size_t)h[0] % CACHE_SLOTS;
}

/* 1 and *out filled when token is a cached one still valid at now_s. */
static int cache_get(const char *token, size_t len, int64_t now_s, hc_principal_t *out)
{
    int hit = 0;
    size_t i = cache_slot(token, len);
    pthread_mutex_lock(&cache_mu);
    if (cache[i].len == len && sodium_memcmp(cache[i].token, token, len) == 0 &&
        cache[i].principal.exp > now_s) {
        *out = cache[i].principal;
        hit = 1;
    }
    pthread_mutex_unlock(&cache_mu);
    return hit;
}

static void cache_put(const char *token, size_t len, const hc_principal_t *p)
{
    size_t i = cache_slot(token, len);
    pthread_mutex_lock(&cache_mu);
    memcpy(cache[i].token, token, len);
    cache[i].len = len;
    cache[i].principal = *p;
    pthread_mutex_unlock(&cache_mu);
}

static void cache_clear(void)
{
    pthread_mutex_lock(&cache_mu);
    sodium_memzero(cache, sizeof cache);
    randombytes_buf(cache_key, sizeof cache_key);
    pthread_mutex_unlock(&cache_mu);
}

/* clang-format off */
static const char *const role_names[] = {
    [HC_ROLE_NONE]       = "",
    [HC_ROLE_CUSTOMER]   = "customer",
    [HC_ROLE_ADMIN]      = "admin",
    [HC_ROLE_SUPERADMIN] = "superadmin",
    [HC_ROLE_SERVICE]    = "service",
};
/* clang-format on */

const char *hc_role_name(hc_role_t role)
{
    if ((int)role < 0 || (size_t)role >= sizeof role_names / sizeof role_names[0])
        return "";
    return role_names[role];
}

/* The role named name, or HC_ROLE_NONE. */
static hc_role_t role_from_name(const char *name)
{
    for (size_t i = HC_ROLE_CUSTOMER; i < sizeof role_names / sizeof role_names[0]; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (hc_role_t)i;
    return HC_ROLE_NONE;
}

int hc_token_init(const char *secret, const char *data_dir)
{
    /* A failed init leaves no key, never the previous one. */
    sodium_memzero(token_key, sizeof token_key);
    token_key_len = 0;
    if (sodium_init() < 0)
        return HC_EIO;
    cache_clear();
    if (secret && *secret) {
        size_t n = strlen(secret);
        if (n < SECRET_MIN || n > SECRET_MAX)
            return HC_EINVAL;
        memcpy(token_key, secret, n);
        token_key_len = n;
        return 0;
    }
    int rc = hc_auth_key_file(data_dir, KEY_FILE, token_key, KEY_FILE_BYTES);
    if (rc)
        return rc;
    token_key_len = KEY_FILE_BYTES;
    return 0;
}

/* 1 when sub is a subject role may carry: printable ASCII without spaces,
 * shorter than HC_TOKEN_SUB_MAX; a customer's is digits only. */
static int sub_valid(hc_role_t role, const char *sub)
{
    size_t n = strlen(sub);
    if (n == 0 || n >= HC_TOKEN_SUB_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)sub[i];
        if (role == HC_ROLE_CUSTOMER ? (ch < '0' || ch > '9') : (ch <= ' ' || ch >= 0x7f))
            return 0;
    }
    return 1;
}

/* The claims of p as a JSON object string (caller frees), or NULL when p
 * cannot be a token's principal. */
static char *claims_json(const hc_principal_t *p, int64_t iat, int64_t exp)
{
    if (p->role <= HC_ROLE_NONE || p->role > HC_ROLE_SERVICE || !sub_valid(p->role, p->sub) ||
        p->n_centers > HC_TOKEN_MAX_CENTERS)
        return NULL;
    json_t *centers = json_array();
    /* Only an admin's centers mean anything: a superadmin has every center. */
    for (size_t i = 0; p->role == HC_ROLE_ADMIN && i < p->n_centers; i++)
        json_array_append_new(centers, json_integer(p->centers[i]));
    json_t *c = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I}", "iss", ISSUER, "sub", p->sub, "role",
                          hc_role_name(p->role), "centers", centers, "iat", (json_int_t)iat, "exp",
                          (json_int_t)exp);
    char *s = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);
    return s;
}

int hc_token_issue(const hc_principal_t *p, int64_t ttl_s, int64_t now_s, char *out, size_t cap)
{
    if (!p || !out || cap == 0 || ttl_s <= 0 || token_key_len == 0)
        return HC_EINVAL;
    out[0] = '\0';
    char *claims = claims_json(p, now_s, now_s + ttl_s);
    if (!claims)
        return HC_EINVAL;
    jwt_t *jwt = NULL;
    char *tok = NULL;
    int rc = HC_EINVAL;
    if (jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, claims) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, token_key, (int)token_key_len) != 0)
        goto out;
    tok = jwt_encode_str(jwt);
    if (!tok || strlen(tok) >= cap || strlen(tok) > HC_TOKEN_MAX_LEN)
        goto out;
    memcpy(out, tok, strlen(tok) + 1);
    rc = 0;
out:
    free(tok);
    jwt_free(jwt);
    free(claims);
    return rc;
}

/* Checks the HS256 signature of token (header.payload.signature) with our
 * key in constant time, before anything parses the token's contents. */
static int signature_ok(const char *token)
{
    const char *dot2 = strrchr(token, '.');
    if (!dot2 || dot2 == token || !memchr(token, '.', (size_t)(dot2 - token)))
        return 0;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t mac_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(mac, sizeof mac, dot2 + 1, strlen(dot2 + 1), NULL, &mac_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        mac_len != sizeof mac || *end != '\0')
        return 0;
    crypto_auth_hmacsha256_state st;
    unsigned char want[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, token_key, token_key_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, (size_t)(dot2 - token));
    crypto_auth_hmacsha256_final(&st, want);
    return sodium_memcmp(want, mac, sizeof mac) == 0;
}

/* Fills out->centers from the claim (an array of positive integers). */
static int read_centers(json_t *centers, hc_principal_t *out)
{
    if (!json_is_array(centers) || json_array_size(centers) > HC_TOKEN_MAX_CENTERS)
        return HC_EINVAL;
    size_t i;
    json_t *v;
    json_array_foreach(centers, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return HC_EINVAL;
        out->centers[out->n_centers++] = json_integer_value(v);
    }
    return 0;
}

/* Checks the claims (a JSON object string) and fills out. */
static int read_claims(const char *claims, int64_t now_s, hc_principal_t *out)
{
    json_t *c = json_loads(claims, JSON_REJECT_DUPLICATES, NULL);
    json_t *sub = json_object_get(c, "sub"), *role = json_object_get(c, "role");
    json_t *exp = json_object_get(c, "exp"), *iss = json_object_get(c, "iss");
    int rc = HC_EINVAL;
    if (!json_is_object(c) || !json_is_string(sub) || !json_is_string(role) ||
        !json_is_integer(exp) || !json_is_string(iss) || strcmp(json_string_value(iss), ISSUER))
        goto out;
    out->role = role_from_name(json_string_value(role));
    out->exp = json_integer_value(exp);
    if (out->role == HC_ROLE_NONE || out->exp <= now_s ||
        !sub_valid(out->role, json_string_value(sub)))
        goto out;
    snprintf(out->sub, sizeof out->sub, "%s", json_string_value(sub));
    if (out->role == HC_ROLE_ADMIN && read_centers(json_object_get(c, "centers"), out) != 0)
        goto out;
    rc = 0;
out:
    json_decref(c);
    return rc;
}

int hc_token_verify(const char *token, int64_t now_s, hc_principal_t *out)
{
    memset(out, 0, sizeof *out);
    size_t len = token ? strlen(token) : 0;
    if (!token || token_key_len == 0 || len > HC_TOKEN_MAX_LEN)
        return HC_EINVAL;
    if (cache_get(token, len, now_s, out))
        return 0;
    if (!signature_ok(token))
        return HC_EINVAL;
    jwt_t *jwt = NULL;
    char *claims = NULL;
    int rc = HC_EINVAL;
    /* libjwt checks the signature again and parses; the algorithm must be
     * ours, whatever the header asks for (alg=none, another HMAC, RSA). */
    if (jwt_decode(&jwt, token, token_key, (int)token_key_len) != 0 ||
        jwt_get_alg(jwt) != JWT_ALG_HS256)
        goto out;
    claims = jwt_get_grants_json(jwt, NULL);
    if (!claims)
        goto out;
    rc = read_claims(claims, now_s, out);
    if (rc == 0)
        cache_put(token, len, out);
out:
    free(claims);
    jwt_free(jwt);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int hc_token_from_header(const char *authorization, int64_t now_s, hc_principal_t *out)
{
    memset(out, 0, sizeof *out);
    if (!authorization || !*authorization)
        return HC_ENOTFOUND;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return HC_EINVAL;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    return hc_token_verify(tok, now_s, out);
}

int hc_principal_has_center(const hc_principal_t *p, int64_t center_id)
{
    if (!p)
        return 0;
    if (p->role == HC_ROLE_SUPERADMIN)
        return 1;
    if (p->role != HC_ROLE_ADMIN)
        return 0;
    for (size_t i = 0; i < p->n_centers && i < HC_TOKEN_MAX_CENTERS; i++)
        if (p->centers[i] == center_id)
            return 1;
    return 0;
}
