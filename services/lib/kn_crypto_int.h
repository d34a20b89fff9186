/*  kn_crypto's state, shared by kn_crypto.c (legacy sealing, blind index, digest)
    and kn_crypto_keys.c (the key file, data keys and format-2 sealing). */
#ifndef KN_CRYPTO_INT_H_INCLUDED
#define KN_CRYPTO_INT_H_INCLUDED

#include <sodium.h>

#include "kn_crypto.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

struct _kn_crypto_t {
    uint8_t field_key[32];   // the root key's field subkey: format-1 values
    uint8_t index_key[32];   // the root key's blind-index and digest subkey
    //  Field master keys by version (wrapping subkeys); masters[0] is version 1,
    //  the root key's field subkey. current wraps new data keys.
    struct {
        int version;
        uint8_t key[32];
    } masters[KN_MASTER_MAX];
    int n_masters;
    int current;
};

#endif
