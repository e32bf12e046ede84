/* hc_auth: the shared service key, request signatures and keyed digests, on
 * libsodium's HMAC-SHA-256, SHA-256, random bytes and constant-time compare. */
#include "hc_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"
#include "hc_log.h"

#define KEY_FILE "service.key"
#define SECRET_MIN 32

static unsigned char auth_key[crypto_auth_hmacsha256_KEYBYTES];
static int auth_ready;

int hc_auth_ready(void)
{
    return auth_ready;
}

/* Reads exactly len bytes of key from fd. Returns 0 or HC_EIO. */
static int read_key(int fd, unsigned char *key, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, key + got, len - got);
        if (n <= 0)
            return HC_EIO;
        got += (size_t)n;
    }
    return 0;
}

/* Creates path with len fresh random bytes unless it exists: the key is
 * written to a private temporary file and linked into place, so a reader
 * never sees a half-written key and two processes racing both keep the
 * winner's. */
static int ensure_key_file(const char *path, size_t len)
{
    char tmp[700];
    unsigned char key[HC_AUTH_KEY_FILE_MAX];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return HC_EIO;
    randombytes_buf(key, len);
    int rc = write(fd, key, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : HC_EIO;
    sodium_memzero(key, sizeof key);
    close(fd);
    if (!rc && link(tmp, path) != 0 && errno != EEXIST)
        rc = HC_EIO;
    unlink(tmp);
    return rc;
}

int hc_auth_key_file(const char *data_dir, const char *name, unsigned char *key, size_t len)
{
    if (len == 0 || len > HC_AUTH_KEY_FILE_MAX || sodium_init() < 0)
        return HC_EINVAL;
    char path[600];
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (ensure_key_file(path, len) != 0) {
            hc_error("cannot create the key file %s: %s", path, strerror(errno));
            return HC_EIO;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        hc_error("cannot read the key file %s: %s", path, strerror(errno));
        return HC_EIO;
    }
    int rc = read_key(fd, key, len);
    close(fd);
    if (rc)
        hc_error("the key file %s is shorter than %zu bytes", path, len);
    return rc;
}

int hc_auth_init(const char *secret, const char *data_dir)
{
    if (sodium_init() < 0)
        return HC_EIO;
    if (secret && *secret) {
        if (strlen(secret) < SECRET_MIN)
            return HC_EINVAL;
        /* Any length of secret becomes a key of the right size. */
        crypto_generichash(auth_key, sizeof auth_key, (const unsigned char *)secret, strlen(secret),
                           NULL, 0);
        auth_ready = 1;
        return 0;
    }
    int rc = hc_auth_key_file(data_dir, KEY_FILE, auth_key, sizeof auth_key);
    if (rc)
        return rc;
    auth_ready = 1;
    return 0;
}

static void to_hex(const unsigned char *bin, size_t n, char *out)
{
    sodium_bin2hex(out, n * 2 + 1, bin, n);
}

/* The signature (hex) of a request: HMAC(caller \n method \n path \n ts \n
 * hex(SHA-256(body))). */
static void signature(const char *caller, const char *method, const char *path, const char *ts,
                      const char *body, size_t len, char out[HC_AUTH_HEX_LEN + 1])
{
    unsigned char body_hash[crypto_hash_sha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
    char body_hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(body_hash, (const unsigned char *)(body ? body : ""), body ? len : 0);
    to_hex(body_hash, sizeof body_hash, body_hex);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, auth_key, sizeof auth_key);
    const char *parts[] = {caller, method, path, ts, body_hex};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)parts[i], strlen(parts[i]));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_auth_hmacsha256_final(&st, mac);
    to_hex(mac, sizeof mac, out);
}

void hc_auth_sign(const char *caller, const char *method, const char *path, const char *body,
                  size_t len, int64_t now_s, hc_auth_headers_t *out)
{
    char ts[24], sig[HC_AUTH_HEX_LEN + 1];
    snprintf(ts, sizeof ts, "%lld", (long long)now_s);
    signature(caller, method, path, ts, body, len, sig);
    snprintf(out->service, sizeof out->service, "%s: %s", HC_AUTH_HDR_SERVICE, caller);
    snprintf(out->timestamp, sizeof out->timestamp, "%s: %s", HC_AUTH_HDR_TIME, ts);
    snprintf(out->signature, sizeof out->signature, "%s: %s", HC_AUTH_HDR_SIGNATURE, sig);
}

int hc_auth_verify(const char *caller, const char *timestamp, const char *signature_hex,
                   const char *method, const char *path, const char *body, size_t len,
                   int64_t now_s)
{
    long long ts;
    char want[HC_AUTH_HEX_LEN + 1];
    if (!auth_ready || !caller || !*caller || strlen(caller) > 32 || !timestamp || !signature_hex ||
        strlen(signature_hex) != HC_AUTH_HEX_LEN || !method || !path ||
        hc_parse_i64(timestamp, &ts) != 0)
        return HC_EINVAL;
    if (ts < now_s - HC_AUTH_MAX_SKEW_S || ts > now_s + HC_AUTH_MAX_SKEW_S)
        return HC_EINVAL;
    signature(caller, method, path, timestamp, body, len, want);
    return sodium_memcmp(want, signature_hex, HC_AUTH_HEX_LEN) == 0 ? 0 : HC_EINVAL;
}

void hc_auth_digest(const void *data, size_t len, char out[HC_AUTH_HEX_LEN + 1])
{
    /* Keyed BLAKE2b: a different function from the signatures' HMAC, so a
     * digest can never stand in for a signature. */
    unsigned char mac[HC_AUTH_HEX_LEN / 2];
    crypto_generichash(mac, sizeof mac, (const unsigned char *)data, len, auth_key,
                       sizeof auth_key);
    to_hex(mac, sizeof mac, out);
}
