/*  kn_crypto: libsodium AEAD for personal fields, keyed BLAKE2b for blind indexes.
    Sealed format 1 (under the root key's field subkey, from before per-person keys):
    1 version byte (1), 24-byte nonce, ciphertext with 16-byte tag. Format 2 (under
    a data key) is kn_crypto_keys.c's. */
#include "kn_crypto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_VERSION 1

kn_crypto_t *
kn_crypto_new_empty (void)
{
    if (sodium_init () < 0)
        return NULL;
    kn_crypto_t *self = sodium_malloc (sizeof *self);
    if (self)
        memset (self, 0, sizeof *self);
    return self;
}

kn_crypto_t *
kn_crypto_new (const uint8_t key[32])
{
    kn_crypto_t *self = kn_crypto_new_empty ();
    if (!self)
        return NULL;
    self->has_root = true;
    crypto_kdf_derive_from_key (self->field_key, 32, 1, "knfield_", key);
    //  The root key is field master version 1 and blind-index version 1, each in use
    //  until a newer version is added (kn_crypto_keys.c).
    self->masters[0].version = 1;
    memcpy (self->masters[0].key, self->field_key, 32);
    self->n_masters = 1;
    self->current = 0;
    self->indexes[0].version = 1;
    crypto_kdf_derive_from_key (self->indexes[0].key, 32, 2, "knblind_", key);
    self->n_indexes = 1;
    self->index_current = 0;
    return self;
}

void
kn_crypto_destroy (kn_crypto_t **self_p)
{
    if (self_p && *self_p) {
        sodium_free (*self_p);   // zeroes the keys
        *self_p = NULL;
    }
}

int
kn_crypto_generate_key_file (const char *path, kn_error_t *err)
{
    if (sodium_init () < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium failed to initialise");
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot create key file %s: %s",
                             path, strerror (errno));
    uint8_t key[32];
    char hex[65];
    randombytes_buf (key, sizeof key);
    sodium_bin2hex (hex, sizeof hex, key, sizeof key);
    hex[64] = '\n';
    ssize_t written = write (fd, hex, 65);
    sodium_memzero (key, sizeof key);
    sodium_memzero (hex, sizeof hex);
    if (close (fd) != 0 || written != 65)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "cannot write key file %s", path);
    return 0;
}

uint8_t *
kn_crypto_seal (kn_crypto_t *self, const uint8_t *plain, size_t len, const char *ad,
                size_t *sealed_len)
{
    if (!self->has_root)
        return NULL;   // format 1 is the root key's
    size_t total = 1 + NONCE_BYTES + len + TAG_BYTES;
    uint8_t *out = malloc (total);
    if (!out)
        return NULL;
    out[0] = SEAL_VERSION;
    randombytes_buf (out + 1, NONCE_BYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (
        out + 1 + NONCE_BYTES, &clen, plain, len, (const uint8_t *) ad,
        ad ? strlen (ad) : 0, NULL, out + 1, self->field_key);
    *sealed_len = 1 + NONCE_BYTES + (size_t) clen;
    return out;
}

uint8_t *
kn_crypto_open (kn_crypto_t *self, const uint8_t *sealed, size_t len, const char *ad,
                size_t *plain_len)
{
    if (!self->has_root || len < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] != SEAL_VERSION)
        return NULL;
    size_t clen = len - 1 - NONCE_BYTES;
    uint8_t *out = malloc (clen - TAG_BYTES + 1);   // +1: never malloc (0)
    if (!out)
        return NULL;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (
            out, &mlen, NULL, sealed + 1 + NONCE_BYTES, clen, (const uint8_t *) ad,
            ad ? strlen (ad) : 0, sealed + 1, self->field_key)
        != 0) {
        free (out);
        return NULL;
    }
    *plain_len = (size_t) mlen;
    return out;
}

//  ASCII base letter of U+00C0..U+017F; ' ' where there is none.
static const char s_latin_fold[] =
    "AAAAAAACEEEEIIIIDNOOOOO OUUUUYTsaaaaaaaceeeeiiiidnooooo ouuuuyty"
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlL"
    "lLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
_Static_assert (sizeof s_latin_fold == 0x180 - 0xC0 + 1, "one letter per code point");

char *
kn_crypto_normalise_name (const char *name)
{
    size_t len = strlen (name);
    char *out = malloc (len + 1);
    if (!out)
        return NULL;
    size_t pos = 0;
    const unsigned char *s = (const unsigned char *) name;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                out[pos++] = (char) (c + 32);
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                out[pos++] = (char) c;
            i++;
            continue;
        }
        //  Decode one UTF-8 sequence; invalid bytes are dropped.
        unsigned cp = 0;
        size_t n = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC0) ? 2 : 1;
        if (n == 1 || i + n > len) {
            i++;
            continue;
        }
        cp = c & (0xFF >> (n + 1));
        for (size_t k = 1; k < n; k++)
            cp = (cp << 6) | (s[i + k] & 0x3F);
        if (cp >= 0xC0 && cp <= 0x17F) {
            char base = s_latin_fold[cp - 0xC0];
            if (base != ' ')
                out[pos++] = (char) ((base >= 'A' && base <= 'Z') ? base + 32 : base);
            i += n;
            continue;
        }
        //  Cyrillic capitals fold to small letters; other scripts pass unchanged.
        if (cp >= 0x400 && cp <= 0x40F)
            cp += 0x50;
        else if (cp >= 0x410 && cp <= 0x42F)
            cp += 0x20;
        if (cp >= 0x400 && cp <= 0x45F) {
            out[pos++] = (char) (0xC0 | (cp >> 6));
            out[pos++] = (char) (0x80 | (cp & 0x3F));
        }
        else if (!(cp >= 0x300 && cp <= 0x36F)) {   // combining marks are dropped
            memcpy (out + pos, s + i, n);
            pos += n;
        }
        i += n;
    }
    out[pos] = '\0';
    return out;
}

//  The index key of version, NULL when the file does not hold it.
static const uint8_t *
s_index_key (kn_crypto_t *self, int version)
{
    for (int i = 0; i < self->n_indexes; i++)
        if (self->indexes[i].version == version)
            return self->indexes[i].key;
    return NULL;
}

static void
s_blind_index (const uint8_t *key, const char *given_name, const char *family_name,
               const char *date_of_birth, uint8_t out[KN_BLIND_INDEX_BYTES])
{
    char *given = kn_crypto_normalise_name (given_name ? given_name : "");
    char *family = kn_crypto_normalise_name (family_name ? family_name : "");
    crypto_generichash_state state;
    crypto_generichash_init (&state, key, 32, KN_BLIND_INDEX_BYTES);
    static const uint8_t sep = 0x1f;
    if (given)
        crypto_generichash_update (&state, (const uint8_t *) given, strlen (given));
    crypto_generichash_update (&state, &sep, 1);
    if (family)
        crypto_generichash_update (&state, (const uint8_t *) family, strlen (family));
    crypto_generichash_update (&state, &sep, 1);
    if (date_of_birth)
        crypto_generichash_update (&state, (const uint8_t *) date_of_birth,
                                   strlen (date_of_birth));
    crypto_generichash_final (&state, out, KN_BLIND_INDEX_BYTES);
    if (given)
        sodium_memzero (given, strlen (given));
    if (family)
        sodium_memzero (family, strlen (family));
    free (given);
    free (family);
}

void
kn_crypto_blind_index (kn_crypto_t *self, const char *given_name, const char *family_name,
                       const char *date_of_birth, uint8_t out[KN_BLIND_INDEX_BYTES])
{
    s_blind_index (self->indexes[self->index_current].key, given_name, family_name,
                   date_of_birth, out);
}

int
kn_crypto_blind_index_under (kn_crypto_t *self, int version, const char *given_name,
                             const char *family_name, const char *date_of_birth,
                             uint8_t out[KN_BLIND_INDEX_BYTES])
{
    const uint8_t *key = s_index_key (self, version);
    if (!key)
        return -1;
    s_blind_index (key, given_name, family_name, date_of_birth, out);
    return 0;
}

static void
s_digest (const uint8_t *key, const uint8_t *data, size_t len,
          uint8_t out[KN_BLIND_INDEX_BYTES])
{
    //  Same key as the blind index, separated by a domain prefix no name starts with.
    static const uint8_t domain[] = {0x00, 'r', 'e', 'q', 0x1f};
    crypto_generichash_state state;
    crypto_generichash_init (&state, key, 32, KN_BLIND_INDEX_BYTES);
    crypto_generichash_update (&state, domain, sizeof domain);
    crypto_generichash_update (&state, data, len);
    crypto_generichash_final (&state, out, KN_BLIND_INDEX_BYTES);
}

void
kn_crypto_digest (kn_crypto_t *self, const uint8_t *data, size_t len,
                  uint8_t out[KN_BLIND_INDEX_BYTES])
{
    s_digest (self->indexes[self->index_current].key, data, len, out);
}

int
kn_crypto_digest_under (kn_crypto_t *self, int version, const uint8_t *data, size_t len,
                        uint8_t out[KN_BLIND_INDEX_BYTES])
{
    const uint8_t *key = s_index_key (self, version);
    if (!key)
        return -1;
    s_digest (key, data, len, out);
    return 0;
}

int
kn_crypto_index_version (kn_crypto_t *self)
{
    return self->indexes[self->index_current].version;
}

bool
kn_crypto_has_index (kn_crypto_t *self, int version)
{
    return s_index_key (self, version) != NULL;
}

int
kn_crypto_index_versions (kn_crypto_t *self, int versions[KN_INDEX_MAX])
{
    int n = 0;
    versions[n++] = kn_crypto_index_version (self);
    for (int i = 0; i < self->n_indexes; i++)
        if (i != self->index_current)
            versions[n++] = self->indexes[i].version;
    return n;
}

bool
kn_crypto_has_root (kn_crypto_t *self)
{
    return self->has_root;
}
