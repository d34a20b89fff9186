/*  kn_write: one write request as one transaction, run the same way by every
    service. Ensure the session, BEGIN as a writer of the outbox and the audit
    tables (kn_db_begin_write: announced before it has an xid, so the cursors of
    kn_cursor.h know to wait for it), claim the request's idempotency key
    (kn_idempotency: a retry finds the first answer, a reused key with other content
    is a conflict), the caller's body, the audit row, COMMIT. Whatever fails rolls
    the whole transaction back, the claim with it, so no part of a failed write
    survives and a retry runs it afresh.
    A store sets once what its writes share (kn_write_init); each write starts from
    a copy, and its body sits between a begin and a commit with one exit for every
    failure:

        kn_write_t w = self->write;
        kn_uuid_generate_ordered (w.object_id);
        kn_claim_t claim = kn_write_begin (&w, agency_id, "record", &request->base, err);
        if (claim != KN_CLAIM_NEW)
            return claim == KN_CLAIM_REPLAY ? <the answer for w.object_id> : -1;
        if (<a step of the body fails> || kn_write_commit (&w, err))
            goto fail;
        return <the answer>;
    fail:
        return kn_write_abort (&w);
*/
#ifndef KN_WRITE_H_INCLUDED
#define KN_WRITE_H_INCLUDED

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "kn_audit.h"
#include "kn_crypto.h"
#include "kn_db.h"
#include "kn_error.h"
#include "kn_idempotency.h"
#include "kn_uuid.h"

typedef struct {
    //  What every write of a store shares (kn_write_init).
    kn_db_t *db;
    kn_crypto_t *crypto; // keys the requests' digests
    const char *ledger;  // the idempotency table, a constant ("routing.idempotency")
    //  This write's (kn_write_begin).
    const char *agency_id;
    const char *key;       // the request's idempotency_key
    const char *operation; // the write's name in the ledger
    //  The caller's, before the begin: what the write makes or changes. After a
    //  replay: what the first request's did.
    char object_id[KN_UUID_STR];
    //  The row kn_write_commit appends, with result "ok". service is the init's,
    //  caseworker_id the request's; agency_id, operation and object_id, left NULL,
    //  are the write's own (object_id as it is at the commit); the rest as the body
    //  sets them.
    kn_audit_entry_t audit;
    bool open; // kn_write's own: the transaction is open
} kn_write_t;

//  What every write of a store shares: its session and field key, its ledger
//  (a constant) and the service its audit rows name. The rest is cleared.
void kn_write_init (kn_write_t *self, kn_db_t *db, kn_crypto_t *crypto,
                    const char *ledger, const char *service);

//  Ensure the session, BEGIN (kn_db_begin_write), claim request's idempotency_key
//  for object_id under operation, with a digest of request less its caseworker_id
//  (kn_idempotency).
//  KN_CLAIM_NEW: the transaction is open for the body. KN_CLAIM_REPLAY: rolled
//  back, the first request's object in object_id. KN_CLAIM_FAILED: rolled back,
//  err says why (another request under the key: KN_E_CONFLICT on
//  "idempotency_key"). request must be a write request: one with an
//  idempotency_key (and, if it names one, a caseworker_id).
kn_claim_t kn_write_begin (kn_write_t *self, const char *agency_id, const char *operation,
                           const ProtobufCMessage *request, kn_error_t *err);

//  Append the audit row and COMMIT. 0, or -1 with err and nothing kept.
int kn_write_commit (kn_write_t *self, kn_error_t *err);

//  Roll back what the write still has open, keeping err as it was. Returns -1, so
//  the failure exit reads `return kn_write_abort (&w);`. Harmless after a commit,
//  failed or not, and after a begin that did not return KN_CLAIM_NEW.
int kn_write_abort (kn_write_t *self);

//  The same ROLLBACK for a transaction that is not a kn_write (a batch, an audited
//  read): ends whatever db has open, keeping the caller's err.
void kn_write_rollback (kn_db_t *db);

#endif
