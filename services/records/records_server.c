/*  records_server: decode a RecordsRequest, run its operation's row of the table
    below (validate, check the caller's role, handle), audit what the write did not,
    encode. */
#include "records_ops.h"

#include <stdlib.h>
#include <string.h>

#include "kn_agency.h"
#include "kn_alloc.h"
#include "kn_audit.h"
#include "kn_dispatch.h"
#include "kn_idempotency.h"
#include "kn_keys.h"
#include "kn_log.h"
#include "kn_outbox.h"
#include "kn_service.h"
#include "kn_subject.h"
#include "records_keeper.h"
#include "records_ledger.h"

#define LEDGER "records.idempotency"
#define DPO "data_protection_officer"

//  One operation of RecordsRequest (as admin_server's table): op, audited as,
//  result, validate, handle, write, and a role that serves besides the DPO's
//  (NULL: none).
typedef struct {
    int op_case;
    const char *operation;
    Kinnet__V1__RecordsReply__ResultCase result_case;
    records_validate_fn *validate;
    records_handle_fn *handle;
    bool write;
    const char *also;
} op_t;

#define OP(name)     KINNET__V1__RECORDS_REQUEST__OP_##name
#define RESULT(name) KINNET__V1__RECORDS_REPLY__RESULT_##name

static const op_t s_ops[] = {
    {OP (ERASE), "erase", RESULT (ERASURE), records_validate_erase, records_erase, true, NULL},
    {OP (PLACE_HOLD), "place_hold", RESULT (HOLD), records_validate_place_hold,
     records_place_hold, true, NULL},
    {OP (LIFT_HOLD), "lift_hold", RESULT (HOLD), records_validate_lift_hold,
     records_lift_hold, true, NULL},
    {OP (HOLDS), "holds", RESULT (HOLDS), records_validate_holds, records_holds, false, NULL},
    {OP (RETENTION), "retention", RESULT (RETENTION), records_validate_retention,
     records_retention, false, "administrator"},
    {OP (SET_RETENTION), "set_retention", RESULT (SCHEDULE), records_validate_set_retention,
     records_set_retention, true, "administrator"},
    {OP (CANCEL_RETENTION), "cancel_retention", RESULT (SCHEDULE),
     records_validate_cancel_retention, records_cancel_retention, true, NULL},
    {OP (RUN_RETENTION), "run_retention", RESULT (RUN), records_validate_run_retention,
     records_run_retention, true, NULL},
    {OP (RECTIFY), "rectify", RESULT (RECTIFICATION), records_validate_rectify,
     records_rectify, true, NULL},
    {OP (MERGE), "merge", RESULT (MERGE), records_validate_merge, records_merge, true, NULL},
    {OP (UNMERGE), "unmerge", RESULT (MERGE), records_validate_unmerge, records_unmerge, true,
     NULL},
    {OP (SPLIT), "split", RESULT (SPLIT), records_validate_split, records_split, true, NULL},
};

#undef OP
#undef RESULT

records_server_t *
records_server_session (kn_db_t *db, kn_crypto_t *crypto, const char *ledger_path,
                        kn_error_t *err)
{
    if (kn_audit_prepare (db, err) || kn_outbox_prepare (db, err) ||
        kn_idempotency_prepare (db, LEDGER, err) ||
        kn_agency_prepare (db, err) || kn_subject_prepare (db, err) ||
        records_prepare (db, err) || records_keeper_prepare (db, err) ||
        records_rectify_prepare (db, err) || records_merge_prepare (db, err) ||
        records_split_prepare (db, err) || records_retention_prepare (db, err))
        return NULL;
    records_server_t *self = kn_calloc (1, sizeof *self);
    self->db = db;
    self->crypto = crypto;
    self->ledger_path = ledger_path && *ledger_path ? kn_strdup (ledger_path) : NULL;
    self->role = DPO;
    self->shorten_delay_days = RECORDS_SHORTEN_DELAY_DEFAULT;
    self->erase_hourly_limit = RECORDS_ERASE_LIMIT_DEFAULT;
    kn_write_init (&self->write, db, crypto, LEDGER, "records");
    return self;
}

records_server_t *
records_server_new (kn_db_t *db, kn_crypto_t *crypto, const char *ledger_path,
                    kn_error_t *err)
{
    records_server_t *self = records_server_session (db, crypto, ledger_path, err);
    if (!self)
        return NULL;
    int reapplied = 0, written = 0;
    if (records_ledger_sync (self, &reapplied, &written, err)) {
        records_server_destroy (&self);
        return NULL;
    }
    char counts[64];
    snprintf (counts, sizeof counts, "%d", reapplied);
    kn_log (reapplied ? KN_WARN : KN_INFO, "ledger.synced", "erased_again", counts,
            "ledger", self->ledger_path ? self->ledger_path : "none", NULL);
    if (!self->ledger_path)
        kn_log (KN_WARN, "ledger.none", "problem",
                "KINNET_ERASURE_LEDGER is not set: a restore from a backup taken before an"
                " erasure would bring the person back",
                NULL);
    (void)written;
    return self;
}

void
records_server_set_shorten_delay (records_server_t *self, int days)
{
    self->shorten_delay_days = days;
}

void
records_server_set_erase_limit (records_server_t *self, int per_hour)
{
    self->erase_hourly_limit = per_hour;
}

void
records_server_destroy (records_server_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->ledger_path);
        free (*self_p);
        *self_p = NULL;
    }
}

kn_claim_t
records_write_begin (records_server_t *self, kn_write_t *w, const char *agency,
                     const char *operation, const char *object_id,
                     const ProtobufCMessage *request, kn_error_t *err)
{
    *w = self->write;
    w->audit.role = self->role;
    if (object_id)
        snprintf (w->object_id, sizeof w->object_id, "%s", object_id);
    else
        kn_uuid_generate_ordered (w->object_id);
    kn_claim_t claim = kn_write_begin (w, agency, operation, request, err);
    self->replayed = claim == KN_CLAIM_REPLAY;
    return claim;
}

int
records_lock_subject (records_server_t *self, const char *subject_id,
                      char family_id[KN_UUID_STR], kn_error_t *err)
{
    if (kn_subject_lock_for_change (self->db, subject_id, family_id, err))
        return -1;
    const char *values[] = {subject_id};
    PGresult *row = kn_db_run (self->db, "records_subject_lock", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int found = PQntuples (row) == 1;
    if (found)
        snprintf (family_id, KN_UUID_STR, "%s", PQgetvalue (row, 0, 0));
    PQclear (row);
    return found ? 0 : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
}

int
records_lock_current (records_server_t *self, const char *subject_id,
                      char family_id[KN_UUID_STR], kn_error_t *err)
{
    return records_lock_subject (self, subject_id, family_id, err) ||
                   kn_subject_exists (self->db, subject_id, NULL, err) < 0
               ? -1
               : 0;
}

//  The person or hold a request names, for its audit row, when valid.
static const char *
s_object (const records_request_t *request)
{
    const char *id = request->op_case == KINNET__V1__RECORDS_REQUEST__OP_ERASE
                         ? request->erase->subject_id
                     : request->op_case == KINNET__V1__RECORDS_REQUEST__OP_PLACE_HOLD
                         ? (request->place_hold->case_id && *request->place_hold->case_id
                                ? request->place_hold->case_id
                                : request->place_hold->subject_id)
                     : request->op_case == KINNET__V1__RECORDS_REQUEST__OP_LIFT_HOLD
                         ? request->lift_hold->hold_id
                     : request->op_case == KINNET__V1__RECORDS_REQUEST__OP_HOLDS
                         ? request->holds->subject_id
                     : request->op_case == KINNET__V1__RECORDS_REQUEST__OP_RECTIFY
                         ? request->rectify->subject_id
                         : NULL;
    return id && kn_uuid_valid (id) ? id : NULL;
}

//  The DPO's role, or the operation's other one (self->role: the one it holds).
static int
s_require (records_server_t *self, const char *agency, const op_t *op, kn_error_t *err)
{
    if (kn_agency_require (self->db, agency, DPO, err) == 0)
        return 0;
    if (!op->also || err->code != KN_E_PERMISSION_DENIED)
        return -1;
    kn_error_t second;
    kn_error_clear (&second);
    if (kn_agency_require (self->db, agency, op->also, &second))
        return -1;   // the DPO's refusal stands
    kn_error_clear (err);
    self->role = op->also;
    return 0;
}

zmsg_t *
records_server_handle (records_server_t *self, zmsg_t *request)
{
    kn_error_t err;
    kn_error_clear (&err);
    char agency[KN_UUID_STR];
    if (kn_service_caller (request, agency, &err))
        return kn_service_error_reply (&err);
    records_request_t *decoded = (records_request_t *)kn_service_decode (
        request, &kinnet__v1__records_request__descriptor, &err);
    records_reply_t *reply = kn_malloc (sizeof *reply);
    kinnet__v1__records_reply__init (reply);
    const op_t *op = decoded ? KN_DISPATCH_FIND (s_ops, decoded->op_case,
                                                 "RecordsRequest must set one operation",
                                                 &err)
                             : NULL;
    self->replayed = false;
    self->role = DPO;
    int rc = op && ((op->validate && op->validate (decoded, &err)) ||
                    s_require (self, agency, op, &err) ||
                    op->handle (self, agency, decoded, reply, &err))
                 ? -1
                 : op ? 0 : -1;
    //  Set even on failure, so that what a handler allocated is freed with the reply.
    if (op)
        reply->result_case = op->result_case;
    //  Every request is on record, refusals included; a write that committed wrote
    //  its own row in its transaction.
    if (rc != 0 || !op->write || self->replayed) {
        kn_audit_entry_t entry = {.agency_id = agency,
                                  .service = "records",
                                  .operation = op ? op->operation : "unknown",
                                  .object_id = decoded ? s_object (decoded) : NULL,
                                  .result = rc == 0 ? "ok" : kn_code_name (err.code),
                                  .role = self->role};
        if (kn_audit_request (self->db, &entry, rc == 0 && !op->write, &err))
            rc = -1;
    }
    zmsg_t *msg = rc == 0 ? kn_service_reply (&reply->base) : kn_service_error_reply (&err);
    kn_log (KN_INFO, rc == 0 ? "records.handled" : "request.refused", "operation",
            op ? op->operation : "unknown", "agency_id", agency, "code",
            kn_code_name (err.code), "field", err.field, NULL);
    kinnet__v1__records_reply__free_unpacked (reply, NULL);
    if (decoded)
        kinnet__v1__records_request__free_unpacked (decoded, NULL);
    return msg;
}
