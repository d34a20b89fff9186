/*  kn_idempotency: the per-agency ledger of write requests' idempotency keys that
    every service keeps (<schema>.idempotency: agency_id, key, operation,
    request_hash, object_id). Claiming a key inside the write's transaction makes a
    retry find the first answer and a reused key with other content a conflict;
    a rolled-back write releases its claim. A single write runs through kn_write,
    which claims here.
    A request's digest is keyed by the key file's index key (kn_crypto.h), which
    rotates: the ledger row names the version its digest was made under
    (request_hash_version), and a retry is compared under that version, so a retry
    across a rotation is still the same request. A row under a version the key
    file no longer holds cannot be compared: its key reused is a conflict, never a
    guess. */
#ifndef KN_IDEMPOTENCY_H_INCLUDED
#define KN_IDEMPOTENCY_H_INCLUDED

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_uuid.h"

typedef enum { KN_CLAIM_NEW, KN_CLAIM_REPLAY, KN_CLAIM_FAILED } kn_claim_t;

//  table: a constant such as "intake.idempotency", never input.
int kn_idempotency_prepare (kn_db_t *db, const char *table, kn_error_t *err);

//  A request's digests under every index version of the key file, the current
//  (the one a new ledger row records) first.
typedef struct {
    int n;
    int versions[KN_INDEX_MAX];
    uint8_t hashes[KN_INDEX_MAX][32];
} kn_digests_t;

//  Keyed digests of a request message less its caseworker_id: who on the agency's
//  staff sends a request is audit detail, so a colleague's retry is the same request.
void kn_idempotency_digest (kn_crypto_t *crypto, const ProtobufCMessage *message,
                            kn_digests_t *digests);

//  The string field name of a request message (its "idempotency_key", its
//  "caseworker_id"), or NULL when it has none.
const char *kn_idempotency_field (const ProtobufCMessage *message, const char *name);

//  Claim key for this request, naming object_id as its result. On KN_CLAIM_REPLAY
//  object_id receives the first request's object; a different operation or digest
//  under the key is KN_CLAIM_FAILED with KN_E_CONFLICT on field "idempotency_key".
kn_claim_t kn_idempotency_claim (kn_db_t *db, const char *table, const char *agency_id,
                                 const char *key, const char *operation,
                                 const kn_digests_t *digests, char object_id[KN_UUID_STR],
                                 kn_error_t *err);

//  One request's claim in a batch: the first four fields in, the rest out.
typedef struct {
    const char *agency_id;
    const char *key;
    const char *operation;
    kn_digests_t digests;
    char object_id[KN_UUID_STR];   // in: this request's object; on a replay, the first's
    kn_claim_t claim;
    kn_error_t err;                // why, when claim is KN_CLAIM_FAILED
} kn_idempotency_claim_t;

//  Claim n distinct keys in one statement (and find the ones already taken in a
//  second). Keys are inserted in (agency, key) order, so batches that share keys
//  wait for each other in one order and never deadlock. -1 with err when the
//  statements failed (the transaction is then aborted); otherwise 0, each claim's
//  outcome in its own fields, as kn_idempotency_claim would give it.
int kn_idempotency_claim_many (kn_db_t *db, const char *table, kn_idempotency_claim_t *claims,
                               size_t n, kn_error_t *err);

#endif
