/* auth_store: SQL of admin accounts, sign-in codes and code requests. */
#include "auth_store.h"

#include <stdlib.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_store.h"

/* Admin passwords only as Argon2id strings; centers as "1,2". Codes only as
 * keyed digests, under a keyed digest of the phone. */
const char auth_store_schema[] =
    "CREATE TABLE IF NOT EXISTS admins (username TEXT PRIMARY KEY, role TEXT NOT NULL,"
    " pw_hash TEXT NOT NULL, centers TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS otp_codes (phone_key TEXT PRIMARY KEY, code_hash TEXT NOT NULL,"
    " expires_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " used INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS otp_requests (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " phone_key TEXT NOT NULL, client TEXT NOT NULL, at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS otp_requests_phone ON otp_requests(phone_key, at);"
    "CREATE INDEX IF NOT EXISTS otp_requests_client ON otp_requests(client, at);"
    "CREATE INDEX IF NOT EXISTS otp_requests_at ON otp_requests(at);";

#define ADMIN_COLS "username, role, pw_hash, centers, created_at, updated_at"

static void admin_from_row(const hc_rows_t *r, size_t i, void *out)
{
    auth_admin_t *a = out;
    memset(a, 0, sizeof *a);
    hc_rows_copy_text(r, i, 0, a->username, sizeof a->username);
    const char *role = hc_rows_text(r, i, 1);
    a->role = role && strcmp(role, "superadmin") == 0 ? HC_ROLE_SUPERADMIN
              : role && strcmp(role, "admin") == 0    ? HC_ROLE_ADMIN
                                                      : HC_ROLE_NONE;
    hc_rows_copy_text(r, i, 2, a->pw_hash, sizeof a->pw_hash);
    if (auth_centers_parse(hc_rows_text(r, i, 3), a->centers, &a->n_centers) != 0)
        a->role = HC_ROLE_NONE; /* unreadable: signs nobody in */
    hc_rows_copy_text(r, i, 4, a->created_at, sizeof a->created_at);
    hc_rows_copy_text(r, i, 5, a->updated_at, sizeof a->updated_at);
}

int auth_store_admin_get(hc_conn_t *c, const char *username, auth_admin_t *out)
{
    return hc_store_get_one(c, "SELECT " ADMIN_COLS " FROM admins WHERE username = ?",
                            HC_PARAMS(HC_TEXT(username)), admin_from_row, out);
}

int auth_store_admin_put(hc_conn_t *c, const auth_admin_t *a, const char *now, int *created)
{
    char centers[HC_TOKEN_MAX_CENTERS * 21];
    auth_centers_format(a->centers, a->n_centers, centers, sizeof centers);
    int64_t had = 0;
    int rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM admins WHERE username = ?",
                               HC_PARAMS(HC_TEXT(a->username)), &had);
    if (!rc)
        rc = hc_conn_exec(c,
                          "INSERT INTO admins (" ADMIN_COLS ") VALUES (?, ?, ?, ?, ?, ?)"
                          " ON CONFLICT (username) DO UPDATE SET role = excluded.role,"
                          " pw_hash = excluded.pw_hash, centers = excluded.centers,"
                          " updated_at = excluded.updated_at",
                          HC_PARAMS(HC_TEXT(a->username), HC_TEXT(hc_role_name(a->role)),
                                    HC_TEXT(a->pw_hash), HC_TEXT(centers), HC_TEXT(now),
                                    HC_TEXT(now)),
                          NULL);
    if (created)
        *created = !rc && had == 0;
    return rc;
}

int auth_store_admin_set_password(hc_conn_t *c, const char *username, const char *pw_hash,
                                  const char *now)
{
    int64_t changes = 0;
    int rc = hc_conn_exec(c, "UPDATE admins SET pw_hash = ?, updated_at = ? WHERE username = ?",
                          HC_PARAMS(HC_TEXT(pw_hash), HC_TEXT(now), HC_TEXT(username)), &changes);
    return rc ? rc : changes == 1 ? 0 : HC_ENOTFOUND;
}

int auth_store_admin_list(hc_conn_t *c, auth_admin_t **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    hc_rows_t *r = NULL;
    int rc =
        hc_conn_query(c, "SELECT " ADMIN_COLS " FROM admins ORDER BY username", HC_NOPARAMS, &r);
    if (rc)
        return rc;
    size_t count = hc_rows_count(r);
    auth_admin_t *list = hc_xcalloc(count ? count : 1, sizeof *list);
    for (size_t i = 0; i < count; i++)
        admin_from_row(r, i, &list[i]);
    hc_rows_free(r);
    *items = list;
    *n = count;
    return 0;
}

int auth_store_admin_count(hc_conn_t *c, hc_role_t role, int64_t *n)
{
    if (role == HC_ROLE_NONE)
        return hc_conn_query_i64(c, "SELECT COUNT(*) FROM admins", HC_NOPARAMS, n);
    return hc_conn_query_i64(c, "SELECT COUNT(*) FROM admins WHERE role = ?",
                             HC_PARAMS(HC_TEXT(hc_role_name(role))), n);
}

static void otp_from_row(const hc_rows_t *r, size_t i, void *out)
{
    auth_otp_t *o = out;
    memset(o, 0, sizeof *o);
    hc_rows_copy_text(r, i, 0, o->code_hash, sizeof o->code_hash);
    o->expires_at = hc_rows_i64(r, i, 1);
    o->attempts = (int)hc_rows_i64(r, i, 2);
    o->used = hc_rows_i64(r, i, 3) != 0;
}

int auth_store_otp_get(hc_conn_t *c, const char *phone_key, auth_otp_t *out)
{
    return hc_store_get_one(
        c, "SELECT code_hash, expires_at, attempts, used FROM otp_codes WHERE phone_key = ?",
        HC_PARAMS(HC_TEXT(phone_key)), otp_from_row, out);
}

int auth_store_otp_put(hc_conn_t *c, const char *phone_key, const char *code_hash,
                       int64_t expires_at, int64_t now_s)
{
    return hc_conn_exec(
        c,
        "INSERT INTO otp_codes (phone_key, code_hash, expires_at, attempts, used,"
        " created_at) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (phone_key) DO UPDATE"
        " SET code_hash = excluded.code_hash, expires_at = excluded.expires_at,"
        " attempts = 0, used = 0, created_at = excluded.created_at",
        HC_PARAMS(HC_TEXT(phone_key), HC_TEXT(code_hash), HC_I64(expires_at), HC_I64(now_s)), NULL);
}

int auth_store_otp_wrong(hc_conn_t *c, const char *phone_key)
{
    return hc_conn_exec(c, "UPDATE otp_codes SET attempts = attempts + 1 WHERE phone_key = ?",
                        HC_PARAMS(HC_TEXT(phone_key)), NULL);
}

int auth_store_otp_use(hc_conn_t *c, const char *phone_key, int *won)
{
    int64_t changes = 0;
    int rc = hc_conn_exec(c, "UPDATE otp_codes SET used = 1 WHERE phone_key = ? AND used = 0",
                          HC_PARAMS(HC_TEXT(phone_key)), &changes);
    *won = !rc && changes == 1;
    return rc;
}

int auth_store_otp_requests(hc_conn_t *c, const char *phone_key, const char *client,
                            int64_t since_s, int64_t *by_phone, int64_t *by_client)
{
    int rc =
        hc_conn_query_i64(c, "SELECT COUNT(*) FROM otp_requests WHERE phone_key = ? AND at >= ?",
                          HC_PARAMS(HC_TEXT(phone_key), HC_I64(since_s)), by_phone);
    if (!rc)
        rc = hc_conn_query_i64(c, "SELECT COUNT(*) FROM otp_requests WHERE client = ? AND at >= ?",
                               HC_PARAMS(HC_TEXT(client), HC_I64(since_s)), by_client);
    return rc;
}

int auth_store_otp_log_request(hc_conn_t *c, const char *phone_key, const char *client,
                               int64_t now_s, int64_t forget_before_s)
{
    int rc = hc_conn_exec(c, "DELETE FROM otp_requests WHERE at < ?",
                          HC_PARAMS(HC_I64(forget_before_s)), NULL);
    if (!rc)
        rc = hc_conn_exec(c, "INSERT INTO otp_requests (phone_key, client, at) VALUES (?, ?, ?)",
                          HC_PARAMS(HC_TEXT(phone_key), HC_TEXT(client), HC_I64(now_s)), NULL);
    return rc;
}
