/* hc_authz: who may do what (SYSTEM.md "Who may do what"), as pure rules over
 * the caller's verified token (hc_token): the access level of a route, whether
 * a caller may see one record, and the service token a service carries on its
 * own calls. Every service applies them itself; see docs/security.md. */
#ifndef HC_AUTHZ_H
#define HC_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include "hc_token.h"

/* The access level of a route, checked before its handler runs. */
typedef enum hc_access {
    HC_ACCESS_USER = 0, /* any valid token (the default: protected unless said otherwise) */
    HC_ACCESS_PUBLIC,   /* anyone, with or without a token: catalog, health, sign-in */
    HC_ACCESS_OPS,      /* role service or superadmin: service calls, metrics */
} hc_access_t;

/* What the access check of a request decided. */
typedef enum hc_authz_verdict {
    HC_AUTHZ_ALLOW = 0,
    HC_AUTHZ_NO_TOKEN,  /* 401: credentials needed */
    HC_AUTHZ_BAD_TOKEN, /* 401: a token that does not verify (forged, expired, ...) */
    HC_AUTHZ_FORBIDDEN, /* 403: a valid token whose role may not use this route */
} hc_authz_verdict_t;

/* Decides a request to a route of level access: token_rc is what
 * hc_token_from_header returned for it (0, HC_ENOTFOUND or HC_EINVAL) and p
 * the principal it filled. A bad token is refused even on a public route:
 * whoever sends one expects it to count, and must learn that it does not. */
hc_authz_verdict_t hc_authz_check(hc_access_t access, int token_rc, const hc_principal_t *p);

/* 1 when p may see a record owned by phone (digits; NULL or "" when the
 * record names none) at center_id (0 when none): superadmin and service see
 * everything, a customer the records of its own phone, an admin those of its
 * centers; anyone else nothing. A record p may not see answers 404, never
 * 403: its existence is not confirmed. */
int hc_authz_may_see(const hc_principal_t *p, const char *phone, int64_t center_id);

/* 1 when p is staff that acts on reservations and capacity of center_id:
 * the superadmin, or an admin of that center. */
int hc_authz_may_manage(const hc_principal_t *p, int64_t center_id);

/* 1 when p may book for phone (digits): a customer for its own phone only,
 * the superadmin for anyone (support staff booking by telephone). */
int hc_authz_may_book(const hc_principal_t *p, const char *phone);

/* 1 for role service or superadmin. */
int hc_authz_is_ops(const hc_principal_t *p);

#define HC_AUTHZ_SERVICE_TTL_S 600 /* lifetime of a service's own token */
#define HC_AUTHZ_REFRESH_S 120     /* re-issued when less than this is left */

/* Writes "Authorization: Bearer <token>" for service (its name, e.g.
 * "order") into out (cap bytes): a service token (role service, sub =
 * service) that this process issues itself with hc_token_issue and reuses
 * until HC_AUTHZ_REFRESH_S before it expires. Thread-safe. Returns 0, or an
 * hc_err (no signing key loaded) with out "". */
int hc_authz_service_header(const char *service, char *out, size_t cap);

#endif
