/*  kn_audit_chain: the tamper-evident audit trail and disclosure log.
    Services only insert into core.audit and core.disclosure. The sealer
    (kn_audit_chain_seal) links committed rows of each, oldest transaction first,
    into a chain of its own (core.audit_chain, core.disclosure_chain):
        link(n) = SHA-256 (link(n-1) || canonical bytes of row n), link(0) = 32 zeros
    and, with a signing key, signs numbered checkpoints: checkpoint n signs both
    chains' heads (position = rows chained) and the hash of checkpoint n-1, so a
    checkpoint cannot be taken out of the middle. kn_audit_chain_verify recomputes
    every link and checkpoint against trusted public keys, each with its validity
    period (kn_audit_trust.h; none given: it refuses)
    and names the first place where a log was changed, deleted, reordered,
    inserted into or truncated. Retention may prune a chain's oldest part, but only
    up to a position a checkpoint signs (core.audit_prune, migration 0036): the
    chain is then verified from there, with the link that checkpoint signed, and
    checkpoints before it are still checked. Cutting the newest checkpoints together with the
    rows after an older one leaves a shorter trail that checks; only an anchor
    held apart from the database (the last checkpoint verified: its number,
    positions and hash) shows it, so auditors keep one (kn_audit_anchor_*).
    Checkpoints signed before migration 0025 (version 1: position, link, time;
    not chained to each other, audit chain only) are verified as before.

    Canonical bytes of a row (docs/privacy.md): for each field in order, a 4-byte
    big-endian length and the field's UTF-8 text, or 0xFFFFFFFF for NULL. An audit
    record: id, at (microseconds since 1970, decimal), agency_id, caseworker_id,
    role, service, operation, subject_ref, object_id, basis, result. A disclosure:
    id, at, subject_id, recipient_id, categories (PostgreSQL array text, "{1,3}"),
    purpose, basis, ground_id, service, object_id. */
#ifndef KN_AUDIT_CHAIN_H_INCLUDED
#define KN_AUDIT_CHAIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kn_audit_trust.h"
#include "kn_db.h"
#include "kn_error.h"

typedef struct {
    uint8_t public_key[KN_AUDIT_KEY_BYTES];
    uint8_t secret_key[64];
} kn_audit_signer_t;

//  Write a new signing key to path (the 32-byte seed as 64 hex characters, mode
//  0600) and its public key to path.pub (64 hex characters); public_hex receives it.
int kn_audit_signer_create (const char *path, char public_hex[2 * KN_AUDIT_KEY_BYTES + 1],
                            kn_error_t *err);
//  Refuses a key file that group or others may read (as ssh does).
int kn_audit_signer_load (const char *path, kn_audit_signer_t *signer, kn_error_t *err);

int kn_audit_chain_prepare (kn_db_t *db, kn_error_t *err);

//  Link up to max committed rows that are not chained yet (audit records first,
//  then disclosures), in one transaction. Two sealers may run: they take turns.
//  *sealed: rows linked (max: more may be waiting).
int kn_audit_chain_seal (kn_db_t *db, int max, int *sealed, kn_error_t *err);

//  Sign the chains' heads when one moved since the last checkpoint. *made: signed.
int kn_audit_chain_checkpoint (kn_db_t *db, const kn_audit_signer_t *signer, bool *made,
                               kn_error_t *err);

//  A key that signed checkpoints: how many, the first and last (by number) and
//  their signing times (seconds since 1970).
typedef struct {
    uint8_t public_key[KN_AUDIT_KEY_BYTES];
    int64_t checkpoints;
    int64_t first_number, last_number;
    int64_t first_signed_at, last_signed_at;
} kn_audit_signer_use_t;

//  Up to max keys that signed checkpoints, in the order they first signed. What the
//  trail says of itself: an operator writes a rotation's periods from it, but an
//  auditor's trust comes from keys and periods kept apart from the database.
int kn_audit_chain_signers (kn_db_t *db, kn_audit_signer_use_t *signers, size_t max,
                            size_t *count, kn_error_t *err);

//  What an auditor keeps of the last checkpoint verified.
typedef struct {
    int64_t number;         // the checkpoint's number (1, 2, ...)
    int64_t seq;            // audit records chained up to it
    int64_t disclosure_seq; // disclosures chained up to it (0 in a version 1 one)
    uint8_t hash[32];       // SHA-256 of the checkpoint (signed bytes, key, signature)
} kn_audit_anchor_t;

//  One prune of a chain (migration 0036, core.audit_prune), as verification shows
//  it: an auditor compares the moment it claimed with when it ran and with the
//  signing time of the checkpoint it went up to, to see a prune that was not due.
typedef struct {
    bool disclosures;   // the disclosure log's chain (false: the audit trail's)
    int64_t checkpoint; // the checkpoint whose position it pruned up to
    int64_t seq;        // that position: entries 1..seq of the chain are gone
    int64_t removed;    // rows removed
    int64_t signed_at;  // the checkpoint's signing time (seconds since 1970)
    int64_t moment;     // the clock moment the prune claimed (seconds)
    int64_t at;         // when it ran, by the database's time (seconds)
} kn_audit_prune_t;

#define KN_AUDIT_PRUNES_SHOWN 16

typedef struct {
    bool intact;
    bool signer_trusted; // always true now: verify refuses to run without a key
    int64_t records;     // audit chain entries recomputed
    int64_t disclosures; // disclosure chain entries recomputed
    int64_t disclosures_unsealed; // disclosures newer than their chain
    int64_t checkpoints;     // checkpoints checked
    int64_t unsealed;        // records newer than the chain (not sealed yet)
    int64_t head_seq;        // the chain's length
    int64_t last_checkpoint; // the newest checkpoint's position (0: none)
    int64_t broken_seq;      // first chain position that fails (0: none)
    int64_t broken_audit_id; // the record there, when known (0: none)
    char problem[300];       // what failed, for people ("" when intact)
    bool has_anchor;         // a checkpoint exists: anchor is the newest one
    kn_audit_anchor_t anchor;
    //  Pruning (retention): each chain starts after the highest position pruned.
    int64_t audit_start;      // audit chain entries 1..audit_start were pruned
    int64_t disclosure_start; // disclosure chain entries 1..this were pruned
    int64_t prunes;           // prune steps recorded
    int64_t prunes_ahead;     // of them, claiming a moment over a day after they ran
    size_t n_shown;           // the newest prunes, oldest first (at most _SHOWN)
    kn_audit_prune_t shown[KN_AUDIT_PRUNES_SHOWN];
} kn_audit_verdict_t;

//  Recompute both chains and every checkpoint. trusted: the public keys
//  checkpoints must be signed with, each within its period of validity at the
//  checkpoint's signing time (n_trusted 0: refused, -1 with err). anchor
//  (NULL: none): the checkpoint a previous verification ended at, which must still
//  be there, unchanged. 0 when the check ran (intact or not); -1 on failure. A
//  batch of each chain in memory at a time, whatever the trail's length.
int kn_audit_chain_verify (kn_db_t *db, const kn_audit_trusted_t *trusted,
                           size_t n_trusted, const kn_audit_anchor_t *anchor,
                           kn_audit_verdict_t *verdict, kn_error_t *err);

//  An anchor file: *found false (and 0) when there is none at path yet; -1 when
//  the file is not an anchor.
int kn_audit_anchor_read (const char *path, kn_audit_anchor_t *anchor, bool *found,
                          kn_error_t *err);
//  Replace the anchor at path, atomically (written beside it, then renamed).
int kn_audit_anchor_write (const char *path, const kn_audit_anchor_t *anchor,
                           kn_error_t *err);

#endif
