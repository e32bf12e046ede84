/* hc_authz: the access rules of every service over the caller's principal,
 * and the cached service token a service sends on its own calls. */
#include "hc_authz.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_time.h"

hc_authz_verdict_t hc_authz_check(hc_access_t access, int token_rc, const hc_principal_t *p)
{
    if (token_rc != 0 && token_rc != HC_ENOTFOUND)
        return HC_AUTHZ_BAD_TOKEN;
    if (access == HC_ACCESS_PUBLIC)
        return HC_AUTHZ_ALLOW;
    if (token_rc == HC_ENOTFOUND || !p || p->role == HC_ROLE_NONE)
        return HC_AUTHZ_NO_TOKEN;
    if (access == HC_ACCESS_OPS && !hc_authz_is_ops(p))
        return HC_AUTHZ_FORBIDDEN;
    return HC_AUTHZ_ALLOW;
}

int hc_authz_is_ops(const hc_principal_t *p)
{
    return p && (p->role == HC_ROLE_SERVICE || p->role == HC_ROLE_SUPERADMIN);
}

int hc_authz_may_see(const hc_principal_t *p, const char *phone, int64_t center_id)
{
    if (!p)
        return 0;
    switch (p->role) {
    case HC_ROLE_SUPERADMIN:
    case HC_ROLE_SERVICE:
        return 1;
    case HC_ROLE_CUSTOMER:
        return phone && *phone && p->sub[0] && strcmp(phone, p->sub) == 0;
    case HC_ROLE_ADMIN:
        return center_id > 0 && hc_principal_has_center(p, center_id);
    default:
        return 0;
    }
}

int hc_authz_may_manage(const hc_principal_t *p, int64_t center_id)
{
    if (!p)
        return 0;
    if (p->role == HC_ROLE_SUPERADMIN)
        return 1;
    return p->role == HC_ROLE_ADMIN && center_id > 0 && hc_principal_has_center(p, center_id);
}

int hc_authz_may_book(const hc_principal_t *p, const char *phone)
{
    if (!p || !phone)
        return 0;
    if (p->role == HC_ROLE_SUPERADMIN)
        return 1;
    return p->role == HC_ROLE_CUSTOMER && p->sub[0] && strcmp(p->sub, phone) == 0;
}

/* One process runs one service: one cached token is enough (a call as
 * another name re-issues). */
static pthread_mutex_t svc_lock = PTHREAD_MUTEX_INITIALIZER;
static char svc_name[HC_TOKEN_SUB_MAX];
static char svc_token[HC_TOKEN_MAX_LEN];
static int64_t svc_exp; /* unix seconds; 0: none cached */

int hc_authz_service_header(const char *service, char *out, size_t cap)
{
    int64_t now = hc_now_ms() / 1000;
    int rc = 0;
    out[0] = '\0';
    pthread_mutex_lock(&svc_lock);
    if (!svc_exp || strcmp(svc_name, service) != 0 || svc_exp - now < HC_AUTHZ_REFRESH_S) {
        hc_principal_t p = {.role = HC_ROLE_SERVICE};
        hc_strlcpy(p.sub, service, sizeof p.sub);
        rc = hc_token_issue(&p, HC_AUTHZ_SERVICE_TTL_S, now, svc_token, sizeof svc_token);
        if (rc == 0) {
            hc_strlcpy(svc_name, service, sizeof svc_name);
            svc_exp = now + HC_AUTHZ_SERVICE_TTL_S;
        } else {
            svc_exp = 0;
            hc_error("cannot issue the service token of %s: %s", service, hc_strerror(rc));
        }
    }
    if (rc == 0 && (size_t)snprintf(out, cap, "Authorization: Bearer %s", svc_token) >= cap) {
        out[0] = '\0';
        rc = HC_EINVAL;
    }
    pthread_mutex_unlock(&svc_lock);
    return rc;
}
