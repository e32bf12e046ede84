/* hc_token: who is calling. Signed JSON Web Tokens (HS256, libjwt) carrying
 * the caller's subject, role, centers and expiry; every service verifies the
 * bearer token of a request itself (the gateway is not a trust boundary).
 * The signing secret is HC_JWT_SECRET, else the key file data_dir/jwt.key
 * (32 random bytes, mode 0600, created on first start). See docs/security.md. */
#ifndef HC_TOKEN_H
#define HC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

typedef enum hc_role {
    HC_ROLE_NONE = 0,   /* no token, or a token that did not verify */
    HC_ROLE_CUSTOMER,   /* sub = the verified phone, digits only ("01012345678") */
    HC_ROLE_ADMIN,      /* sub = username; centers = the centers it administers */
    HC_ROLE_SUPERADMIN, /* sub = username; every center */
    HC_ROLE_SERVICE,    /* sub = the calling service ("order", ...) */
} hc_role_t;

#define HC_TOKEN_MAX_CENTERS 32
#define HC_TOKEN_SUB_MAX 64
#define HC_TOKEN_MAX_LEN 2048 /* longest token this module issues or accepts */

typedef struct hc_principal {
    hc_role_t role;
    char sub[HC_TOKEN_SUB_MAX];
    int64_t centers[HC_TOKEN_MAX_CENTERS]; /* role admin: the center ids it may act on */
    size_t n_centers;
    int64_t exp; /* unix seconds */
} hc_principal_t;

/* "customer", "admin", "superadmin", "service" ("" for HC_ROLE_NONE). */
const char *hc_role_name(hc_role_t role);

/* Loads the signing secret: secret when not empty (at least 32 bytes), else
 * data_dir/jwt.key, created with 32 random bytes (mode 0600) by the first
 * process that needs it; processes racing to create it end up with the same
 * key. Call once per process before threads start. Returns 0, or HC_EINVAL
 * (secret too short) / HC_EIO (key file). */
int hc_token_init(const char *secret, const char *data_dir);

/* Issues a token for p (p->exp is ignored) valid for ttl_s seconds from
 * now_s, into out (cap bytes, NUL-terminated). Returns 0, or HC_EINVAL. */
int hc_token_issue(const hc_principal_t *p, int64_t ttl_s, int64_t now_s, char *out, size_t cap);

/* Verifies token (the compact JWT, without "Bearer "): signature with our
 * secret, algorithm HS256 only, not expired at now_s, a known role and the
 * claims that role needs. Fills out on success. Returns 0, or HC_EINVAL
 * (out->role = HC_ROLE_NONE). */
int hc_token_verify(const char *token, int64_t now_s, hc_principal_t *out);

/* Verifies an Authorization header value ("Bearer <jwt>", scheme matched
 * case-insensitively). NULL or empty: HC_ENOTFOUND (no credentials); anything
 * else that does not verify: HC_EINVAL. */
int hc_token_from_header(const char *authorization, int64_t now_s, hc_principal_t *out);

/* 1 when p may act on center_id: superadmin always, admin when listed. */
int hc_principal_has_center(const hc_principal_t *p, int64_t center_id);

#endif
