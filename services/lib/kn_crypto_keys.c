/*  kn_crypto_keys: the key file, per-person data keys and format-2 sealing.
    A data key is wrapped (XChaCha20-Poly1305) under a field master key, bound to the
    data key's id, so a wrapped key moved to another row does not unwrap. A format-2
    value is: 1 version byte (2), the data key's id (16 bytes), a 24-byte nonce, the
    ciphertext with its 16-byte tag; the caller's ad is bound as before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kn_crypto_int.h"
#include "kn_uuid.h"

#define SEAL_UNDER_VERSION 2
#define ID_BYTES 16
#define HEADER_BYTES (1 + ID_BYTES)

static int
s_hex_key (const char *hex, uint8_t key[32])
{
    size_t len = 0;
    return sodium_hex2bin (key, 32, hex, strlen (hex), NULL, &len, NULL) == 0 && len == 32
               ? 0
               : -1;
}

//  Parse the key file's text (NUL-terminated, the caller zeroes it) into a new
//  crypto; NULL with err naming the line that is wrong.
static kn_crypto_t *
s_parse (char *text, const char *path, kn_error_t *err)
{
    kn_crypto_t *self = NULL;
    int current = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save)) {
        line_no++;
        char *hash = strchr (line, '#');
        if (hash)
            *hash = '\0';
        char word[80] = "", hex[80] = "", extra[2] = "";
        int version = 0;
        uint8_t key[32];
        if (sscanf (line, "%79s", word) != 1)
            continue;   // blank or a comment
        if (strcmp (word, "field") == 0) {
            if (sscanf (line, "%79s %d %79s %1s", word, &version, hex, extra) != 3 ||
                version < 2 || s_hex_key (hex, key) != 0)
                goto bad;
            if (!self)
                goto no_root;
            for (int i = 0; i < self->n_masters; i++)
                if (self->masters[i].version == version)
                    goto bad;
            if (self->n_masters == KN_MASTER_MAX)
                goto bad;
            self->masters[self->n_masters].version = version;
            crypto_kdf_derive_from_key (self->masters[self->n_masters].key, 32, 1,
                                        "knfield_", key);
            self->n_masters++;
        }
        else if (strcmp (word, "current") == 0) {
            if (sscanf (line, "%79s %d %1s", word, &current, extra) != 2 || current < 1)
                goto bad;
        }
        else if (!self && s_hex_key (word, key) == 0 &&
                 sscanf (line, "%79s %1s", hex, extra) == 1) {
            sodium_memzero (word, sizeof word);
            self = kn_crypto_new (key);
            if (!self) {
                kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium failed to initialise");
                return NULL;
            }
        }
        else
            goto bad;
        sodium_memzero (key, sizeof key);
        sodium_memzero (hex, sizeof hex);
        continue;
    bad:
        sodium_memzero (key, sizeof key);
        sodium_memzero (hex, sizeof hex);
        sodium_memzero (word, sizeof word);
        kn_crypto_destroy (&self);
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s, line %d: expected the root key (64 hex characters),"
                      " 'field N HEX' (N from 2, each once) or 'current N'",
                      path, line_no);
        return NULL;
    no_root:
        sodium_memzero (key, sizeof key);
        break;
    }
    if (!self) {
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s must hold the root key (64 hex characters) first", path);
        return NULL;
    }
    self->current = -1;
    for (int i = 0; i < self->n_masters; i++)
        if (current ? self->masters[i].version == current
                    : self->current < 0 ||
                          self->masters[i].version > self->masters[self->current].version)
            self->current = i;
    if (self->current < 0) {
        kn_crypto_destroy (&self);
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s: 'current %d' names no field master in the file", path,
                      current);
    }
    return self;
}

kn_crypto_t *
kn_crypto_new_from_file (const char *path, kn_error_t *err)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "cannot open key file %s: %s", path,
                      strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (file), &st) == 0 && (st.st_mode & 077)) {
        fclose (file);
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s is readable by group or others; chmod 600 it", path);
        return NULL;
    }
    char text[4096];
    size_t got = fread (text, 1, sizeof text - 1, file);
    bool more = fgetc (file) != EOF;
    fclose (file);
    text[got] = '\0';
    kn_crypto_t *self = NULL;
    if (more)
        kn_error_set (err, KN_E_INTERNAL, NULL, "key file %s is over %zu bytes", path,
                      sizeof text - 1);
    else
        self = s_parse (text, path, err);
    sodium_memzero (text, sizeof text);
    return self;
}

int
kn_crypto_master_version (kn_crypto_t *self)
{
    return self->masters[self->current].version;
}

bool
kn_crypto_has_master (kn_crypto_t *self, int version)
{
    for (int i = 0; i < self->n_masters; i++)
        if (self->masters[i].version == version)
            return true;
    return false;
}

static void
s_wrap_ad (const char *id, char ad[64])
{
    snprintf (ad, 64, "kinnet data key %s", id);
}

void
kn_crypto_data_key_wrap (kn_crypto_t *self, const kn_data_key_t *key,
                         uint8_t wrapped[KN_WRAPPED_KEY_BYTES], int *version)
{
    char ad[64];
    s_wrap_ad (key->id, ad);
    randombytes_buf (wrapped, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt (
        wrapped + NONCE_BYTES, NULL, key->key, KN_DATA_KEY_BYTES, (const uint8_t *)ad,
        strlen (ad), NULL, wrapped, self->masters[self->current].key);
    *version = self->masters[self->current].version;
}

void
kn_crypto_data_key_new (kn_crypto_t *self, kn_data_key_t *key,
                        uint8_t wrapped[KN_WRAPPED_KEY_BYTES], int *version)
{
    kn_uuid_generate (key->id);
    randombytes_buf (key->key, KN_DATA_KEY_BYTES);
    kn_crypto_data_key_wrap (self, key, wrapped, version);
}

int
kn_crypto_data_key_unwrap (kn_crypto_t *self, const char *id, int version,
                           const uint8_t *wrapped, size_t len, kn_data_key_t *key)
{
    if (len != KN_WRAPPED_KEY_BYTES || !kn_uuid_valid (id))
        return -1;
    for (int i = 0; i < self->n_masters; i++) {
        if (self->masters[i].version != version)
            continue;
        char ad[64];
        s_wrap_ad (id, ad);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt (
                key->key, NULL, NULL, wrapped + NONCE_BYTES, len - NONCE_BYTES,
                (const uint8_t *)ad, strlen (ad), wrapped, self->masters[i].key) != 0)
            return -1;
        snprintf (key->id, sizeof key->id, "%s", id);
        for (char *c = key->id; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
        return 0;
    }
    return -1;
}

//  The 16 bytes of a canonical UUID; -1 when it is not one.
static int
s_uuid_bytes (const char *id, uint8_t out[ID_BYTES])
{
    char hex[33];
    size_t n = 0;
    for (const char *c = id; *c && n < 32; c++)
        if (*c != '-')
            hex[n++] = *c;
    hex[n] = '\0';
    size_t len = 0;
    return kn_uuid_valid (id) &&
                   sodium_hex2bin (out, ID_BYTES, hex, n, NULL, &len, NULL) == 0 &&
                   len == ID_BYTES
               ? 0
               : -1;
}

uint8_t *
kn_crypto_seal_under (const kn_data_key_t *key, const uint8_t *plain, size_t len,
                      const char *ad, size_t *sealed_len)
{
    uint8_t id[ID_BYTES];
    if (s_uuid_bytes (key->id, id) != 0)
        return NULL;
    size_t total = HEADER_BYTES + NONCE_BYTES + len + TAG_BYTES;
    uint8_t *out = malloc (total);
    if (!out)
        return NULL;
    out[0] = SEAL_UNDER_VERSION;
    memcpy (out + 1, id, ID_BYTES);
    uint8_t *nonce = out + HEADER_BYTES;
    randombytes_buf (nonce, NONCE_BYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (nonce + NONCE_BYTES, &clen, plain, len,
                                                (const uint8_t *)ad, ad ? strlen (ad) : 0,
                                                NULL, nonce, key->key);
    *sealed_len = HEADER_BYTES + NONCE_BYTES + (size_t)clen;
    return out;
}

bool
kn_crypto_sealed_key_id (const uint8_t *sealed, size_t len, char id[37])
{
    if (len < HEADER_BYTES + NONCE_BYTES + TAG_BYTES || sealed[0] != SEAL_UNDER_VERSION)
        return false;
    char hex[33];
    sodium_bin2hex (hex, sizeof hex, sealed + 1, ID_BYTES);
    snprintf (id, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
              hex + 20);
    return true;
}

uint8_t *
kn_crypto_open_under (const kn_data_key_t *key, const uint8_t *sealed, size_t len,
                      const char *ad, size_t *plain_len)
{
    uint8_t id[ID_BYTES];
    if (len < HEADER_BYTES + NONCE_BYTES + TAG_BYTES || sealed[0] != SEAL_UNDER_VERSION ||
        s_uuid_bytes (key->id, id) != 0 || sodium_memcmp (id, sealed + 1, ID_BYTES) != 0)
        return NULL;
    const uint8_t *nonce = sealed + HEADER_BYTES;
    size_t clen = len - HEADER_BYTES - NONCE_BYTES;
    uint8_t *out = malloc (clen - TAG_BYTES + 1);   // +1: never malloc (0)
    if (!out)
        return NULL;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (out, &mlen, NULL, nonce + NONCE_BYTES,
                                                    clen, (const uint8_t *)ad,
                                                    ad ? strlen (ad) : 0, nonce,
                                                    key->key) != 0) {
        free (out);
        return NULL;
    }
    *plain_len = (size_t)mlen;
    return out;
}
