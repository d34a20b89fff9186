/*  kn_crypto: field encryption at rest and the keyed blind index used for matching.
    One 32-byte master key lives in a key file (64 hex characters). Two independent
    subkeys are derived from it with crypto_kdf: one for XChaCha20-Poly1305 field
    encryption, one for the BLAKE2b blind index, so an index leak says nothing about
    the ciphertexts and vice versa. */
#ifndef KN_CRYPTO_H_INCLUDED
#define KN_CRYPTO_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "kn_error.h"

typedef struct _kn_crypto_t kn_crypto_t;

#define KN_BLIND_INDEX_BYTES 32

//  Load the master key from path (must not be readable by group or others).
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

//  Normalise a name for matching: case folded, common Latin diacritics removed,
//  everything but letters and digits dropped. Returns a malloc'd string.
char *kn_crypto_normalise_name (const char *name);

//  Keyed hash over the normalised given name, family name and date of birth.
void kn_crypto_blind_index (kn_crypto_t *self, const char *given_name,
                            const char *family_name, const char *date_of_birth,
                            uint8_t out[KN_BLIND_INDEX_BYTES]);

//  Keyed digest of a request (for idempotency comparisons) that reveals nothing
//  about its content without the key.
void kn_crypto_digest (kn_crypto_t *self, const uint8_t *data, size_t len,
                       uint8_t out[KN_BLIND_INDEX_BYTES]);

#endif
