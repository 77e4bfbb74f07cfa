/*
 * key.c - redaction keys: random, from a file, or kept in a database; and the keyed hash.
 *
 * The only file with OpenSSL headers (libcrypto: HMAC-SHA256 and the random generator). A
 * database stores its key in the meta table as "redact_key" (the bytes) and "redact_key_id"
 * (16 hex digits of HMAC(key, "shadowdiff redaction key id")); a key file's bytes are never
 * stored, only its id, so a database made with one refuses to be extended without it.
 */
#include "shadowdiff/redact.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "redact/redact_int.h"

#define KEY_LEN 32
#define META_KEY "redact_key"
#define META_ID "redact_key_id"

static const char HEX[] = "0123456789abcdef";

void sdiff__redact_hmac(const struct sdiff_redact_key *k, const void *v, size_t len,
                        char out[SDIFF_REDACT_HASH_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const size_t plen = sizeof SDIFF_REDACTED_PREFIX - 1;
    static const unsigned char empty[1] = {0};
    /* HMAC() only fails on an unusable digest, which would be a broken libcrypto */
    if (HMAC(EVP_sha256(), k->bytes, (int)k->len, len ? v : empty, len, md, &mdlen) == NULL)
        memset(md, 0, sizeof md);
    memcpy(out, SDIFF_REDACTED_PREFIX, plen);
    for (size_t i = 0; i < SDIFF_REDACTED_HEX / 2; i++) {
        out[plen + 2 * i] = HEX[md[i] >> 4];
        out[plen + 2 * i + 1] = HEX[md[i] & 15];
    }
    out[plen + SDIFF_REDACTED_HEX] = '\0';
}

uint64_t sdiff_redact_key_hash64(const struct sdiff_redact_key *k,
                                 const struct sdiff_slice *parts, size_t nparts)
{
    /* a subkey of its own, so a value of this hash tells nothing about the redaction hashes */
    static const char label[] = "shadowdiff keyed hash";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha256(), k->bytes, (int)k->len, (const unsigned char *)label, sizeof label - 1,
             md, &mdlen) == NULL)
        memset(md, 0, sizeof md);
    uint64_t h = sdiff_siphash(md, parts, nparts);
    OPENSSL_cleanse(md, sizeof md);
    return h;
}

static void key_id(struct sdiff_redact_key *k)
{
    static const char label[] = "shadowdiff redaction key id";
    char h[SDIFF_REDACT_HASH_SIZE];
    sdiff__redact_hmac(k, label, sizeof label - 1, h);
    memcpy(k->id, h + sizeof SDIFF_REDACTED_PREFIX - 1, SDIFF_REDACTED_HEX + 1);
}

int sdiff_redact_key_random(struct sdiff_redact_key *k, struct sdiff_err *err)
{
    memset(k, 0, sizeof *k);
    if (RAND_bytes(k->bytes, KEY_LEN) != 1)
        return sdiff_err_set(err, SDIFF_ERR, "redact", "no random bytes for a redaction key");
    k->len = KEY_LEN;
    key_id(k);
    return SDIFF_OK;
}

int sdiff_redact_key_load(struct sdiff_redact_key *k, const char *path, struct sdiff_err *err)
{
    uint8_t buf[SDIFF_REDACT_KEY_MAX + 3];
    memset(k, 0, sizeof *k);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return sdiff_err_set(err, SDIFF_EIO, "redact", "cannot read key file %s: %s", path,
                             strerror(errno));
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return sdiff_err_set(err, SDIFF_EIO, "redact", "cannot read key file %s", path);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n < 16 || n > SDIFF_REDACT_KEY_MAX) {
        memset(buf, 0, sizeof buf);
        return sdiff_err_set(err, SDIFF_EINVAL, "redact",
                             "key file %s must hold 16 to %d bytes (it has %s%zu)", path,
                             SDIFF_REDACT_KEY_MAX, n > SDIFF_REDACT_KEY_MAX ? "over " : "", n);
    }
    memcpy(k->bytes, buf, n);
    memset(buf, 0, sizeof buf);
    k->len = n;
    k->from_file = 1;
    key_id(k);
    return SDIFF_OK;
}

int sdiff_redact_key_bind(struct sdiff_redact_key *k, struct sdiff_store *st,
                          struct sdiff_err *err)
{
    struct sdiff_redact_key stored;
    char sid[SDIFF_REDACTED_HEX + 1] = "";
    size_t n = 0;
    const char *path = sdiff_store_path(st);
    memset(&stored, 0, sizeof stored);
    int have_key = sdiff_store_meta_get(st, META_KEY, stored.bytes, sizeof stored.bytes, &n, err);
    if (have_key < 0)
        return have_key;
    if (have_key && (n < 16 || n > SDIFF_REDACT_KEY_MAX))
        return sdiff_err_set(err, SDIFF_EDB, "redact", "%s: the stored redaction key is damaged",
                             path);
    if (have_key) {
        stored.len = n;
        key_id(&stored);
    }
    int have_id = sdiff_store_meta_get(st, META_ID, sid, SDIFF_REDACTED_HEX, &n, err);
    if (have_id < 0)
        return have_id;
    if (have_id && n != SDIFF_REDACTED_HEX)
        return sdiff_err_set(err, SDIFF_EDB, "redact", "%s: the stored redaction key id is damaged",
                             path);
    sid[have_id ? SDIFF_REDACTED_HEX : 0] = '\0';
    if (!have_id && have_key)
        memcpy(sid, stored.id, sizeof sid);
    int rc;
    if (k->len == 0) {
        if (have_key) {
            *k = stored;
            memset(&stored, 0, sizeof stored);
            return SDIFF_OK;
        }
        if (sid[0])
            return sdiff_err_set(err, SDIFF_EINVAL, "redact",
                                 "%s: its secrets are hashed with a key file (key id %s): give "
                                 "it with --redact-key",
                                 path, sid);
        rc = sdiff_redact_key_random(&stored, err);
        rc = rc < 0 ? rc : sdiff_store_meta_add(st, META_KEY, stored.bytes, stored.len, err);
        rc = rc < 0 ? rc : sdiff_store_meta_add(st, META_ID, stored.id, SDIFF_REDACTED_HEX, err);
        memset(&stored, 0, sizeof stored);
        if (rc < 0)
            return rc;
        /* read back: when two processes create the key at once, the first one wins */
        return sdiff_redact_key_bind(k, st, err);
    }
    memset(&stored, 0, sizeof stored);
    if (sid[0] && strcmp(sid, k->id) != 0)
        return sdiff_err_set(err, SDIFF_EINVAL, "redact",
                             "%s: its secrets are hashed with another key (key id %s, this "
                             "one is %s): use the same key, or another database",
                             path, sid, k->id);
    if (sid[0])
        return SDIFF_OK;
    rc = k->from_file ? SDIFF_OK : sdiff_store_meta_add(st, META_KEY, k->bytes, k->len, err);
    return rc < 0 ? rc : sdiff_store_meta_add(st, META_ID, k->id, SDIFF_REDACTED_HEX, err);
}
