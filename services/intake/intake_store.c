/*  intake_store: the intake store object (a session, the field key, the consent
    policy's settings) and the few helpers its files share: the rollback, the audit
    row, one retry on a lost session. The jobs live next door; intake_store_int.h
    is the map. */
#include "intake_store_int.h"
#include "kn_write.h"
#include "kn_alloc.h"

intake_store_t *
intake_store_new (kn_db_t *db, kn_crypto_t *crypto, kn_error_t *err)
{
    if (intake_standing_prepare (db, err) || intake_submit_prepare (db, err) ||
        intake_insert_prepare (db, err) || intake_get_prepare (db, err) ||
        intake_withdraw_prepare (db, err))
        return NULL;
    if (kn_outbox_prepare (db, err) || kn_audit_prepare (db, err) ||
        kn_subject_prepare (db, err) ||
        kn_idempotency_prepare (db, "intake.idempotency", err))
        return NULL;
    if (kn_consent_policy_prepare (db, err))
        return NULL;
    intake_store_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->policy = kn_consent_policy_config ();
    return self;
}

void
intake_store_destroy (intake_store_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

//  -------------------------------------------------------------------------
//  What the job files share

void
intake_rollback (intake_store_t *self)
{
    kn_write_rollback (self->db);
}

int
intake_audit (intake_store_t *self, const char *agency_id, const char *caseworker_id,
              const char *operation, const char *family_id, const char *object_id,
              const char *basis, const char *result, kn_error_t *err)
{
    kn_audit_entry_t entry = {
        .agency_id = agency_id,
        .caseworker_id = caseworker_id,
        .service = "intake",
        .operation = operation,
        .subject_ref = family_id,
        .object_id = object_id,
        .basis = basis,
        .result = result,
    };
    return kn_audit_append (self->db, &entry, err);
}

void
intake_store_audit_failure (intake_store_t *self, const char *agency_id,
                            const char *caseworker_id, const char *operation,
                            const char *object_id, kn_code_t code)
{
    kn_error_t err;
    if (kn_db_ensure (self->db, &err) == 0)
        intake_audit (self, agency_id, caseworker_id, operation, NULL,
                      (object_id && kn_uuid_valid (object_id)) ? object_id : NULL, NULL,
                      kn_code_name (code), &err);
}

int
intake_status_value (const char *status)
{
    return strcmp (status, "withdrawn") == 0 ? KINNET__V1__REFERRAL_STATUS__WITHDRAWN
                                             : KINNET__V1__REFERRAL_STATUS__RECEIVED;
}

//  A connection lost mid-operation (server restart, failover) gets one retry on a
//  fresh session. Safe: writes are idempotent by key, so a transaction whose COMMIT
//  did land is found and replayed, not repeated. True when the error was a lost
//  connection and a new session is up.
bool
intake_reconnected (intake_store_t *self, const kn_error_t *err)
{
    if (err->code != KN_E_SERVICE_UNAVAILABLE ||
        PQstatus (kn_db_conn (self->db)) == CONNECTION_OK)
        return false;
    kn_error_t ignored;
    return kn_db_ensure (self->db, &ignored) == 0;
}
