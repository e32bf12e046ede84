/* auth_store: the tables of sign-in, in notification's database: admin
 * accounts, each phone's current sign-in code, and the code requests the
 * rate limits count. SQL in the common subset of SQLite and PostgreSQL. */
#ifndef AUTH_STORE_H
#define AUTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "auth_domain.h"
#include "hc_db.h"

/* The schema step notification's migration list appends. */
extern const char auth_store_schema[];

typedef struct auth_admin {
    char username[AUTH_USERNAME_MAX + 1];
    hc_role_t role; /* HC_ROLE_ADMIN or HC_ROLE_SUPERADMIN */
    char pw_hash[AUTH_PWHASH_STR_SIZE];
    int64_t centers[HC_TOKEN_MAX_CENTERS]; /* admin: the centers it administers */
    size_t n_centers;
    char created_at[32];
    char updated_at[32];
} auth_admin_t;

/* Reads admin username. Returns 0, HC_ENOTFOUND or another hc_err. */
int auth_store_admin_get(hc_conn_t *c, const char *username, auth_admin_t *out);

/* Creates a or replaces every field of an existing one but created_at.
 * *created (may be NULL) is 1 when the row is new. Returns 0 or an hc_err. */
int auth_store_admin_put(hc_conn_t *c, const auth_admin_t *a, const char *now, int *created);

/* Sets the password hash of username. Returns 0, HC_ENOTFOUND or an hc_err. */
int auth_store_admin_set_password(hc_conn_t *c, const char *username, const char *pw_hash,
                                  const char *now);

/* Lists every admin by username into *items (caller frees), *n rows. */
int auth_store_admin_list(hc_conn_t *c, auth_admin_t **items, size_t *n);

/* Counts the admins of role (HC_ROLE_NONE: all). */
int auth_store_admin_count(hc_conn_t *c, hc_role_t role, int64_t *n);

/* Reads the code stored under phone_key (auth_phone_key). Returns 0,
 * HC_ENOTFOUND or another hc_err. */
int auth_store_otp_get(hc_conn_t *c, const char *phone_key, auth_otp_t *out);

/* Stores a new code for phone_key, replacing any earlier one (attempts 0,
 * unused). */
int auth_store_otp_put(hc_conn_t *c, const char *phone_key, const char *code_hash,
                       int64_t expires_at, int64_t now_s);

/* Counts one wrong try of phone_key's code. */
int auth_store_otp_wrong(hc_conn_t *c, const char *phone_key);

/* Marks phone_key's code used; *won is 1 when this call did (not a
 * concurrent one). */
int auth_store_otp_use(hc_conn_t *c, const char *phone_key, int *won);

/* Counts the code requests since since_s for phone_key and for client. */
int auth_store_otp_requests(hc_conn_t *c, const char *phone_key, const char *client,
                            int64_t since_s, int64_t *by_phone, int64_t *by_client);

/* Records one code request at now_s and forgets those before forget_before_s
 * (they no longer count toward any limit). */
int auth_store_otp_log_request(hc_conn_t *c, const char *phone_key, const char *client,
                               int64_t now_s, int64_t forget_before_s);

#endif
