/* auth_domain: the rules of signing in, free of storage: sign-in codes (six
 * random digits, kept only as a keyed digest, checked in constant time,
 * single-use, expiring, locked after too many wrong tries), admin passwords
 * (Argon2id through libsodium) and the names, passwords and centers an admin
 * account may have. See docs/accounts.md. */
#ifndef AUTH_DOMAIN_H
#define AUTH_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "hc_auth.h"
#include "hc_token.h"

#define AUTH_CODE_DIGITS 6
#define AUTH_DIGEST_SIZE (HC_AUTH_HEX_LEN + 1)

/* Argon2id cost of a password hash: libsodium's "interactive" limits, 2
 * passes over 64 MiB (about 0.1 s on our 2-core machine). They are written
 * into each stored hash ($argon2id$v=19$m=65536,t=2,p=1$...), so raising
 * them later still verifies old hashes; auth_password_needs_rehash tells. */
#define AUTH_PWHASH_OPSLIMIT 2ULL
#define AUTH_PWHASH_MEMLIMIT (64ULL * 1024 * 1024)
#define AUTH_PWHASH_STR_SIZE 128 /* crypto_pwhash_STRBYTES */

#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256
#define AUTH_USERNAME_MAX 63

/* Writes a fresh code of AUTH_CODE_DIGITS uniformly random digits into out. */
void auth_code_new(char out[AUTH_CODE_DIGITS + 1]);

/* 1 when code is exactly AUTH_CODE_DIGITS digits. */
int auth_code_valid(const char *code);

/* The key a phone's code is stored under: a keyed digest of the phone
 * (hc_auth_digest; the number itself is not kept with its codes). */
void auth_phone_key(const char *phone, char out[AUTH_DIGEST_SIZE]);

/* The stored form of code sent to phone: a keyed digest of both, so the
 * table reveals no code and a code is bound to its phone. */
void auth_code_digest(const char *phone, const char *code, char out[AUTH_DIGEST_SIZE]);

/* One phone's current code as stored. */
typedef struct auth_otp {
    char code_hash[AUTH_DIGEST_SIZE];
    int64_t expires_at; /* unix s */
    int attempts;       /* wrong tries so far */
    int used;           /* 1 once it signed someone in */
} auth_otp_t;

typedef enum auth_otp_verdict {
    AUTH_OTP_OK = 0, /* right code, unused, in time: sign in, mark it used */
    AUTH_OTP_WRONG,  /* a wrong try: count it */
    AUTH_OTP_NONE,   /* no code was sent to this phone */
    AUTH_OTP_USED,   /* already signed someone in (a replay) */
    AUTH_OTP_EXPIRED,
    AUTH_OTP_LOCKED, /* max_attempts wrong tries: only a new code helps */
} auth_otp_verdict_t;

/* Judges code for phone against its stored row (NULL: none) at now_s. The
 * comparison is constant-time (sodium_memcmp of the digests), and a locked,
 * used or expired code is refused whether or not the guess is right. */
auth_otp_verdict_t auth_otp_check(const auth_otp_t *row, const char *phone, const char *code,
                                  int64_t now_s, int max_attempts);

/* Hashes password with Argon2id at the limits above into out (the
 * self-describing "$argon2id$..." string). At most two hashes run at once per
 * process, so a burst of sign-ins cannot take 64 MiB per thread. Returns 0,
 * or HC_ENOMEM when libsodium could not get the memory. */
int auth_password_hash(const char *password, char out[AUTH_PWHASH_STR_SIZE]);

/* 1 when password matches stored (crypto_pwhash_str_verify, constant-time).
 * stored NULL or "" (no such user) still runs one verification against a
 * dummy hash, so that an unknown user takes as long as a wrong password, and
 * returns 0. */
int auth_password_verify(const char *stored, const char *password);

/* 1 when stored was made with other limits than ours (rehash on next set). */
int auth_password_needs_rehash(const char *stored);

/* 1 when name may be an admin's username: 1..63 of [A-Za-z0-9._@-]. */
int auth_username_valid(const char *name);

/* 1 when password is acceptable: AUTH_PASSWORD_MIN..AUTH_PASSWORD_MAX bytes. */
int auth_password_valid(const char *password);

/* Parses "1,2,7" (positive ids, no repeats, at most HC_TOKEN_MAX_CENTERS)
 * into ids. Returns 0, or HC_EINVAL (*n 0). "" is an empty list. */
int auth_centers_parse(const char *text, int64_t ids[HC_TOKEN_MAX_CENTERS], size_t *n);

/* Writes ids as "1,2,7" into out (cap bytes). */
void auth_centers_format(const int64_t *ids, size_t n, char *out, size_t cap);

/* Writes a random password (24 characters of 57 unambiguous letters and
 * digits, about 140 bits) into
 * out, for the first super-admin. */
void auth_password_random(char out[25]);

#endif
