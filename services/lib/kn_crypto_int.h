/*  kn_crypto's state, shared by kn_crypto.c (legacy sealing, blind index, digest)
    and kn_crypto_keys.c (the key file, data keys and format-2 sealing). */
#ifndef KN_CRYPTO_INT_H_INCLUDED
#define KN_CRYPTO_INT_H_INCLUDED

#include <sodium.h>

#include "kn_crypto.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

//  A versioned subkey: a field master (wrapping) or a blind-index (and digest) key.
typedef struct {
    int version;
    uint8_t key[32];
} kn_versioned_key_t;

struct _kn_crypto_t {
    bool has_root;           // the file holds the root key (version 1 of both)
    uint8_t field_key[32];   // the root key's field subkey: format-1 values
    //  Field master keys by version (wrapping subkeys); masters[0] is version 1,
    //  the root key's field subkey. current wraps new data keys.
    kn_versioned_key_t masters[KN_MASTER_MAX];
    int n_masters;
    int current;
    //  Blind-index keys by version: version 1 is the root key's index subkey, `index
    //  N HEX` lines add versions. index_current indexes and digests new requests.
    kn_versioned_key_t indexes[KN_INDEX_MAX];
    int n_indexes;
    int index_current;
};

//  An empty crypto (no key of any kind), NULL when libsodium fails.
kn_crypto_t *kn_crypto_new_empty (void);

#endif
