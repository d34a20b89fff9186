/*  kn_audit_chain: the tamper-evident audit trail.
    Services only insert into core.audit. The sealer (kn_audit_chain_seal) links
    committed records, oldest transaction first, into core.audit_chain:
        link(n) = SHA-256 (link(n-1) || canonical bytes of record n), link(0) = 32 zeros
    and, with a signing key, seals the chain's head in an Ed25519-signed checkpoint.
    Sealing runs after commit, in the background, so it never serialises requests.
    kn_audit_chain_verify recomputes every link and checkpoint and names the first
    place where the trail was changed, deleted, reordered, inserted into or
    truncated (a truncation after the last checkpoint cannot be told from a trail
    that simply ended there: checkpoint often).

    Canonical bytes of a record (docs/privacy.md): for each of id, at (microseconds
    since 1970, decimal), agency_id, caseworker_id, role, service, operation,
    subject_ref, object_id, basis, result in that order: a 4-byte big-endian length
    and the field's UTF-8 text, or 0xFFFFFFFF for NULL. */
#ifndef KN_AUDIT_CHAIN_H_INCLUDED
#define KN_AUDIT_CHAIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_db.h"
#include "kn_error.h"

#define KN_AUDIT_KEY_BYTES 32

typedef struct {
    uint8_t public_key[KN_AUDIT_KEY_BYTES];
    uint8_t secret_key[64];
} kn_audit_signer_t;

//  Write a new signing key to path (the 32-byte seed as 64 hex characters, mode
//  0600) and its public key to path.pub (64 hex characters); public_hex receives it.
int kn_audit_signer_create (const char *path, char public_hex[2 * KN_AUDIT_KEY_BYTES + 1],
                            kn_error_t *err);
int kn_audit_signer_load (const char *path, kn_audit_signer_t *signer, kn_error_t *err);

//  A public key given as 64 hex characters, or as a file holding them.
int kn_audit_public_key_parse (const char *text_or_path, uint8_t key[KN_AUDIT_KEY_BYTES],
                               kn_error_t *err);

int kn_audit_chain_prepare (kn_db_t *db, kn_error_t *err);

//  Link up to max committed records that are not chained yet, in one transaction.
//  Two sealers may run: they take turns. *sealed: records linked.
int kn_audit_chain_seal (kn_db_t *db, int max, int *sealed, kn_error_t *err);

//  Sign the chain's head when it moved since the last checkpoint. *made: signed.
int kn_audit_chain_checkpoint (kn_db_t *db, const kn_audit_signer_t *signer, bool *made,
                               kn_error_t *err);

typedef struct {
    bool intact;
    bool signer_trusted;     // every checkpoint's key was one of the trusted keys given
    int64_t records;         // chain entries recomputed
    int64_t checkpoints;     // checkpoints checked
    int64_t unsealed;        // records newer than the chain (not sealed yet)
    int64_t head_seq;        // the chain's length
    int64_t last_checkpoint; // the newest checkpoint's position (0: none)
    int64_t broken_seq;      // first chain position that fails (0: none)
    int64_t broken_audit_id; // the record there, when known (0: none)
    char problem[300];       // what failed, for people ("" when intact)
} kn_audit_verdict_t;

//  Recompute the chain and the checkpoints. trusted: public keys the checkpoints
//  must be signed with (n_trusted 0: accept any valid signature, and say so in
//  signer_trusted). 0 when the check ran (intact or not); -1 on a database failure.
int kn_audit_chain_verify (kn_db_t *db, const uint8_t (*trusted)[KN_AUDIT_KEY_BYTES],
                           size_t n_trusted, kn_audit_verdict_t *verdict, kn_error_t *err);

#endif
