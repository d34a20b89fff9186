/*  kn_crypto: field encryption at rest and the keyed blind index used for matching.
    The key file holds the root key (64 hex characters) and any further field master
    keys. Two independent subkeys are derived from the root with crypto_kdf: one for
    XChaCha20-Poly1305, one for the BLAKE2b blind index, so an index leak says nothing
    about the ciphertexts and vice versa.
    Personal data is sealed under per-person data keys (envelope encryption): each
    data key is random, stored only wrapped by a field master key (the root's field
    subkey is master version 1; `field N HEX` lines add versions), and names itself
    in every value sealed under it. Destroying a data key makes everything sealed
    under it unreadable, in every copy. Rotating the master rewraps data keys only.
    The blind index and the request digests are keyed the same way, by versions:
    version 1 is the root's index subkey, `index N HEX` lines add versions, and a
    subject's index (core.subject.blind_index_version) and a ledger's digest
    (request_hash_version) name the version they were made under, so an index can
    be rotated online (kn_index.h) and, with the field master, the root retired.
    Key file lines (blank lines and # comments ignored):
      HEX              the root key: blind index and digests version 1, field master
                       version 1, format-1 values. Optional, but first when present;
                       without it the file needs a field and an index version.
      field N HEX      field master version N (2..), derived the same way from HEX
      current N        which master version wraps new data keys (default: highest)
      index N HEX      blind-index version N (2..), derived the same way from HEX
      index-current N  which index version indexes and digests new requests
                       (default: highest) */
#ifndef KN_CRYPTO_H_INCLUDED
#define KN_CRYPTO_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"

typedef struct _kn_crypto_t kn_crypto_t;

#define KN_BLIND_INDEX_BYTES 32
#define KN_MASTER_MAX 8
#define KN_INDEX_MAX 8
#define KN_DATA_KEY_BYTES 32
#define KN_WRAPPED_KEY_BYTES (24 + KN_DATA_KEY_BYTES + 16)

//  A data key in the clear, with its id (core.data_key.id). Zero it after use.
typedef struct {
    char id[37];
    uint8_t key[KN_DATA_KEY_BYTES];
} kn_data_key_t;

//  Load the key file at path (must not be readable by group or others).
kn_crypto_t *kn_crypto_new_from_file (const char *path, kn_error_t *err);
//  Build from raw key bytes (tests, key rotation tools).
kn_crypto_t *kn_crypto_new (const uint8_t key[32]);
void kn_crypto_destroy (kn_crypto_t **self_p);

//  Write a fresh random key file with mode 0600. Fails if path exists.
int kn_crypto_generate_key_file (const char *path, kn_error_t *err);

//  Encrypt plain (len bytes) bound to additional data ad (e.g. the row id).
//  Returns a malloc'd sealed buffer the caller owns and sets *sealed_len.
uint8_t *kn_crypto_seal (kn_crypto_t *self, const uint8_t *plain, size_t len,
                         const char *ad, size_t *sealed_len);

//  Decrypt; NULL when the data or the ad does not authenticate. Caller owns result.
uint8_t *kn_crypto_open (kn_crypto_t *self, const uint8_t *sealed, size_t len,
                         const char *ad, size_t *plain_len);

//  The master version that wraps new data keys.
int kn_crypto_master_version (kn_crypto_t *self);
//  Whether master version is in the key file.
bool kn_crypto_has_master (kn_crypto_t *self, int version);

//  A fresh random data key with a new id, and its wrapping under the current master:
//  wrapped (KN_WRAPPED_KEY_BYTES) and *version receive it.
void kn_crypto_data_key_new (kn_crypto_t *self, kn_data_key_t *key,
                             uint8_t wrapped[KN_WRAPPED_KEY_BYTES], int *version);
//  Wrap key under the current master (rotation): *version receives which.
void kn_crypto_data_key_wrap (kn_crypto_t *self, const kn_data_key_t *key,
                              uint8_t wrapped[KN_WRAPPED_KEY_BYTES], int *version);
//  Unwrap the data key id wrapped under master version; -1 when the version is not
//  in the key file or the wrapping does not authenticate (for this id).
int kn_crypto_data_key_unwrap (kn_crypto_t *self, const char *id, int version,
                               const uint8_t *wrapped, size_t len, kn_data_key_t *key);

//  Seal under a data key (format 2: the key's id travels in the value). Caller owns.
uint8_t *kn_crypto_seal_under (const kn_data_key_t *key, const uint8_t *plain, size_t len,
                               const char *ad, size_t *sealed_len);
//  Open a format-2 value under key; NULL when it does not authenticate.
uint8_t *kn_crypto_open_under (const kn_data_key_t *key, const uint8_t *sealed,
                               size_t len, const char *ad, size_t *plain_len);
//  The data key a sealed value names (format 2): true and id filled; false for a
//  format-1 value (sealed under the root key) or a value too short to be either.
bool kn_crypto_sealed_key_id (const uint8_t *sealed, size_t len, char id[37]);

//  Normalise a name for matching: case folded, common Latin diacritics removed,
//  everything but letters and digits dropped. Returns a malloc'd string.
char *kn_crypto_normalise_name (const char *name);

//  Keyed hash over the normalised given name, family name and date of birth, under
//  the current index version.
void kn_crypto_blind_index (kn_crypto_t *self, const char *given_name,
                            const char *family_name, const char *date_of_birth,
                            uint8_t out[KN_BLIND_INDEX_BYTES]);
//  The same under index version; -1 when the file does not hold it.
int kn_crypto_blind_index_under (kn_crypto_t *self, int version, const char *given_name,
                                 const char *family_name, const char *date_of_birth,
                                 uint8_t out[KN_BLIND_INDEX_BYTES]);

//  Keyed digest of a request (for idempotency comparisons) that reveals nothing
//  about its content without the key, under the current index version.
void kn_crypto_digest (kn_crypto_t *self, const uint8_t *data, size_t len,
                       uint8_t out[KN_BLIND_INDEX_BYTES]);
//  The same under index version; -1 when the file does not hold it.
int kn_crypto_digest_under (kn_crypto_t *self, int version, const uint8_t *data,
                            size_t len, uint8_t out[KN_BLIND_INDEX_BYTES]);

//  The index version new indexes and digests are made under.
int kn_crypto_index_version (kn_crypto_t *self);
//  Whether index version is in the key file.
bool kn_crypto_has_index (kn_crypto_t *self, int version);
//  Every index version in the key file, the current one first; how many.
int kn_crypto_index_versions (kn_crypto_t *self, int versions[KN_INDEX_MAX]);
//  Whether the file holds the root key (format-1 values open only with it).
bool kn_crypto_has_root (kn_crypto_t *self);

#endif
