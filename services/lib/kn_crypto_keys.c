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

//  Add version (from 2) of a field master or index key, derived from key as the
//  root's subkey of that kind is; -1 when the version is there already or full.
static int
s_add_version (kn_versioned_key_t *keys, int *n, int max, int version, const uint8_t *key,
               uint64_t subkey, const char *context)
{
    for (int i = 0; i < *n; i++)
        if (keys[i].version == version)
            return -1;
    if (version < 2 || *n == max)
        return -1;
    keys[*n].version = version;
    crypto_kdf_derive_from_key (keys[*n].key, 32, subkey, context, key);
    (*n)++;
    return 0;
}

//  The position of the current version among keys: wanted, or else the highest;
//  -1 when wanted names none.
static int
s_current (const kn_versioned_key_t *keys, int n, int wanted)
{
    int at = -1;
    for (int i = 0; i < n; i++)
        if (wanted ? keys[i].version == wanted
                   : at < 0 || keys[i].version > keys[at].version)
            at = i;
    return at;
}

//  Parse the key file's text (NUL-terminated, the caller zeroes it) into a new
//  crypto; NULL with err naming the line that is wrong.
static kn_crypto_t *
s_parse (char *text, const char *path, kn_error_t *err)
{
    kn_crypto_t *self = kn_crypto_new_empty ();
    if (!self) {
        kn_error_set (err, KN_E_INTERNAL, NULL, "libsodium failed to initialise");
        return NULL;
    }
    int current = 0, index_current = 0, line_no = 0;
    bool seen_key = false;   // a key line: the root may only come first
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
        bool ok = true;
        if (sscanf (line, "%79s", word) != 1)
            continue;   // blank or a comment
        if (strcmp (word, "field") == 0 || strcmp (word, "index") == 0) {
            bool field = word[0] == 'f';
            ok = sscanf (line, "%79s %d %79s %1s", word, &version, hex, extra) == 3 &&
                 s_hex_key (hex, key) == 0 &&
                 (field ? s_add_version (self->masters, &self->n_masters, KN_MASTER_MAX,
                                         version, key, 1, "knfield_")
                        : s_add_version (self->indexes, &self->n_indexes, KN_INDEX_MAX,
                                         version, key, 2, "knblind_")) == 0;
            seen_key = true;
        }
        else if (strcmp (word, "current") == 0)
            ok = sscanf (line, "%79s %d %1s", word, &current, extra) == 2 && current >= 1;
        else if (strcmp (word, "index-current") == 0)
            ok = sscanf (line, "%79s %d %1s", word, &index_current, extra) == 2 &&
                 index_current >= 1;
        else if (!seen_key && s_hex_key (word, key) == 0 &&
                 sscanf (line, "%79s %1s", hex, extra) == 1) {
            kn_crypto_t *root = kn_crypto_new (key);
            if (!root)
                ok = false;
            else {
                //  The root's versions 1 go first; nothing else was read yet.
                memcpy (self, root, sizeof *self);
                kn_crypto_destroy (&root);
            }
            seen_key = true;
        }
        else
            ok = false;
        sodium_memzero (key, sizeof key);
        sodium_memzero (hex, sizeof hex);
        sodium_memzero (word, sizeof word);
        if (!ok) {
            kn_crypto_destroy (&self);
            kn_error_set (err, KN_E_INTERNAL, NULL,
                          "key file %s, line %d: expected the root key (64 hex characters,"
                          " first), 'field N HEX' or 'index N HEX' (N from 2, each once),"
                          " 'current N' or 'index-current N'",
                          path, line_no);
            return NULL;
        }
    }
    if (self->n_masters == 0 || self->n_indexes == 0) {
        kn_crypto_destroy (&self);
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s must hold the root key (64 hex characters) first, or"
                      " without it at least one 'field N HEX' and one 'index N HEX'",
                      path);
        return NULL;
    }
    self->current = s_current (self->masters, self->n_masters, current);
    self->index_current = s_current (self->indexes, self->n_indexes, index_current);
    if (self->current < 0 || self->index_current < 0) {
        bool field = self->current < 0;
        kn_crypto_destroy (&self);
        kn_error_set (err, KN_E_INTERNAL, NULL,
                      "key file %s: '%s %d' names no %s version in the file", path,
                      field ? "current" : "index-current", field ? current : index_current,
                      field ? "field master" : "index");
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
