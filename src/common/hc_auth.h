/* hc_auth: how services prove to each other who is calling (an HMAC-SHA-256
 * signature over the request, keyed by a secret every service shares), and a
 * keyed digest for comparing requests without storing them. libsodium does the
 * cryptography; see docs/contract.md ("Service calls"). */
#ifndef HC_AUTH_H
#define HC_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Request headers of a signed call. */
#define HC_AUTH_HDR_SERVICE "X-HC-Service"
#define HC_AUTH_HDR_TIME "X-HC-Timestamp"
#define HC_AUTH_HDR_SIGNATURE "X-HC-Signature"

/* How far a signed call's timestamp may be from our clock, seconds. */
#define HC_AUTH_MAX_SKEW_S 300

#define HC_AUTH_HEX_LEN 64 /* hex digits of a signature or digest */

/* Loads the shared key: from secret when it is not empty (at least 32
 * characters), else from data_dir/service.key, which is created with 32 random
 * bytes (mode 0600) the first time any process needs it; processes racing to
 * create it end up with the same key. Call once per process before threads
 * start. Returns 0, or HC_EINVAL (secret too short) / HC_EIO (key file). */
int hc_auth_init(const char *secret, const char *data_dir);

/* Largest key hc_auth_key_file reads or creates, bytes. */
#define HC_AUTH_KEY_FILE_MAX 64

/* Reads the key file data_dir/name (len bytes, at most HC_AUTH_KEY_FILE_MAX)
 * into key, creating it with len random bytes (mode 0600) when it does not
 * exist yet; processes racing to create it end up with the same key (the
 * first link wins). Shared by the service key and the token key (hc_token).
 * Returns 0, or HC_EIO (logged) / HC_EINVAL (len). */
int hc_auth_key_file(const char *data_dir, const char *name, unsigned char *key, size_t len);

/* 1 once hc_auth_init succeeded. */
int hc_auth_ready(void);

/* The signature headers of one call. */
typedef struct hc_auth_headers {
    char service[80];   /* "X-HC-Service: <caller>" */
    char timestamp[48]; /* "X-HC-Timestamp: <unix seconds>" */
    char signature[96]; /* "X-HC-Signature: <hex>" */
} hc_auth_headers_t;

/* Signs a call by service caller: method, path (without query) and body (len
 * bytes, may be NULL when len is 0), at unix time now_s. Fills out with
 * complete "Name: value" header lines. */
void hc_auth_sign(const char *caller, const char *method, const char *path, const char *body,
                  size_t len, int64_t now_s, hc_auth_headers_t *out);

/* Checks the values of the three headers (any may be NULL) against the
 * request. Returns 0 when the signature is valid and the timestamp within
 * HC_AUTH_MAX_SKEW_S of now_s, else HC_EINVAL. Constant-time comparison. */
int hc_auth_verify(const char *caller, const char *timestamp, const char *signature,
                   const char *method, const char *path, const char *body, size_t len,
                   int64_t now_s);

/* Keyed digest (keyed BLAKE2b-256, hex, NUL-terminated) of data: equal inputs give
 * equal digests, and nobody without the key can test a guess against it (so a
 * digest of a body holding a card number reveals nothing). */
void hc_auth_digest(const void *data, size_t len, char out[HC_AUTH_HEX_LEN + 1]);

#endif
