/*  kn_write: a write request's transaction, begun with its claim, committed with
    its audit row, or rolled back. */
#include "kn_write.h"

#include <assert.h>
#include <string.h>

void
kn_write_rollback (kn_db_t *db)
{
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
}

void
kn_write_init (kn_write_t *self, kn_db_t *db, kn_crypto_t *crypto, const char *ledger,
               const char *service)
{
    memset (self, 0, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->ledger = ledger;
    self->audit.service = service;
}

kn_claim_t
kn_write_begin (kn_write_t *self, const char *agency_id, const char *operation,
                const ProtobufCMessage *request, kn_error_t *err)
{
    self->agency_id = agency_id;
    self->key = kn_idempotency_field (request, "idempotency_key");
    self->operation = operation;
    self->audit.caseworker_id = kn_idempotency_field (request, "caseworker_id");
    self->open = false;
    assert (self->key); // every write request carries its key
    if (kn_db_ensure (self->db, err))
        return KN_CLAIM_FAILED;
    kn_digests_t digests;
    kn_idempotency_digest (self->crypto, request, &digests);
    if (kn_db_begin_write (self->db, NULL, err))
        return KN_CLAIM_FAILED;
    kn_claim_t claim =
        kn_idempotency_claim (self->db, self->ledger, self->agency_id, self->key,
                              self->operation, &digests, self->object_id, err);
    if (claim == KN_CLAIM_NEW)
        self->open = true;
    else
        kn_write_rollback (self->db);
    return claim;
}

int
kn_write_commit (kn_write_t *self, kn_error_t *err)
{
    assert (self->open);
    kn_audit_entry_t entry = self->audit;
    entry.agency_id = entry.agency_id ? entry.agency_id : self->agency_id;
    entry.operation = entry.operation ? entry.operation : self->operation;
    entry.object_id = entry.object_id ? entry.object_id : self->object_id;
    entry.result = "ok";
    if (kn_audit_append (self->db, &entry, err) || kn_db_exec (self->db, "COMMIT", err))
        return kn_write_abort (self);
    self->open = false;
    return 0;
}

int
kn_write_abort (kn_write_t *self)
{
    if (self->open)
        kn_write_rollback (self->db);
    self->open = false;
    return -1;
}
