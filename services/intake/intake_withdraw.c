/*  intake_withdraw: the referring agency takes its referral back, with a reason
    (sealed, bound to the referral). One transaction, idempotent by key: the status,
    the referral.withdrawn event routing acts on, and the audit row. */
#include "intake_store_int.h"
#include "kn_write.h"

static const char *s_statements[][2] = {
    //  The child (position 0) whose data key seals the reason, as it seals the
    //  referral.
    {"referral_lock",
     "SELECT referring_agency_id, status, family_id,"
     " (SELECT subject_id FROM intake.referral_subject s"
     "   WHERE s.referral_id = r.id ORDER BY position LIMIT 1)"
     " FROM intake.referral r WHERE id = $1 FOR UPDATE OF r"},
    {"referral_withdraw",
     "UPDATE intake.referral SET status = 'withdrawn', withdrawn_at = now(),"
     " withdraw_reason = $2 WHERE id = $1"
     " RETURNING (extract(epoch FROM withdrawn_at) * 1000000)::bigint"},
};

int
intake_withdraw_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  Run a prepared statement; the single text value of row 0 col 0 into out (may be
//  NULL). Returns rows, or -1.
static int
s_run (intake_store_t *self, const char *name, int n, const char *const *values,
       const int *lengths, const int *formats, char *out, size_t out_size,
       kn_error_t *err)
{
    PGresult *result = kn_db_run (self->db, name, n, values, lengths, formats, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    if (out && rows > 0)
        snprintf (out, out_size, "%s", PQgetvalue (result, 0, 0));
    PQclear (result);
    return rows;
}

static int
s_withdrawn_state (intake_store_t *self, intake_withdraw_result_t *result,
                   kn_error_t *err)
{
    const char *values[] = {result->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_get", 1, values, NULL, NULL, err);
    if (!row)
        return -1;
    int rc = 0;
    if (PQntuples (row) == 1) {
        result->status = intake_status_value (PQgetvalue (row, 0, 2));
        result->withdrawn_at_us = strtoll (PQgetvalue (row, 0, 4), NULL, 10);
        result->replayed = true;
    } else
        rc = kn_error_set (err, KN_E_INTERNAL, NULL, "replayed referral missing");
    PQclear (row);
    return rc;
}

static int
s_withdraw_once (intake_store_t *self, const char *agency_id,
                 const Kinnet__V1__WithdrawReferral *withdraw,
                 intake_withdraw_result_t *result, kn_error_t *err)
{
    memset (result, 0, sizeof *result);
    snprintf (result->referral_id, KN_UUID_STR, "%s", withdraw->referral_id);
    kn_write_t w;
    kn_write_init (&w, self->db, self->crypto, "intake.idempotency", "intake");
    snprintf (w.object_id, sizeof w.object_id, "%s", withdraw->referral_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "withdraw", &withdraw->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY ? s_withdrawn_state (self, result, err) : -1;
    const char *values[] = {withdraw->referral_id};
    PGresult *row = kn_db_run (self->db, "referral_lock", 1, values, NULL, NULL, err);
    if (!row)
        goto fail;
    if (PQntuples (row) != 1 || strcmp (PQgetvalue (row, 0, 0), agency_id) != 0) {
        PQclear (row);
        kn_error_set (err, KN_E_NOT_FOUND, "referral_id", "no such referral");
        goto fail;
    }
    bool withdrawn = strcmp (PQgetvalue (row, 0, 1), "withdrawn") == 0;
    char family_id[KN_UUID_STR], child_id[KN_UUID_STR];
    snprintf (family_id, sizeof family_id, "%s", PQgetvalue (row, 0, 2));
    snprintf (child_id, sizeof child_id, "%s", PQgetvalue (row, 0, 3));
    PQclear (row);
    if (withdrawn) {
        kn_error_set (err, KN_E_CONFLICT, "referral_id", "referral is already withdrawn");
        goto fail;
    }
    char ad[KN_UUID_STR + 16];
    snprintf (ad, sizeof ad, "%s:withdraw", withdraw->referral_id);
    size_t sealed_len = 0;
    uint8_t *sealed =
        kn_keys_seal (self->db, self->crypto, child_id, (const uint8_t *)withdraw->reason,
                      strlen (withdraw->reason), ad, &sealed_len, err);
    if (!sealed)
        goto fail;
    const char *update[] = {withdraw->referral_id, (const char *)sealed};
    int lengths[] = {0, (int)sealed_len};
    int formats[] = {0, 1};
    char withdrawn_at[32] = "";
    int rows = s_run (self, "referral_withdraw", 2, update, lengths, formats,
                      withdrawn_at, sizeof withdrawn_at, err);
    free (sealed);
    if (rows != 1)
        goto fail;
    result->withdrawn_at_us = strtoll (withdrawn_at, NULL, 10);
    result->status = KINNET__V1__REFERRAL_STATUS__WITHDRAWN;

    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = result->withdrawn_at_us / 1000000;
    at.nanos = (int32_t)(result->withdrawn_at_us % 1000000) * 1000;
    Kinnet__V1__ReferralWithdrawn event = KINNET__V1__REFERRAL_WITHDRAWN__INIT;
    event.referral_id = withdraw->referral_id;
    event.family_id = family_id;
    event.referring_agency_id = (char *)agency_id;
    event.withdrawn_at = &at;
    uint8_t payload[512];
    size_t payload_len = kinnet__v1__referral_withdrawn__pack (&event, payload);
    w.audit.subject_ref = family_id;
    if (kn_outbox_append (self->db, "referral.withdrawn", withdraw->referral_id, payload,
                          payload_len, err) ||
        kn_write_commit (&w, err))
        goto fail;
    return 0;

fail:
    return kn_write_abort (&w);
}

int
intake_store_withdraw (intake_store_t *self, const char *agency_id,
                       const Kinnet__V1__WithdrawReferral *withdraw,
                       intake_withdraw_result_t *result, kn_error_t *err)
{
    int rc = s_withdraw_once (self, agency_id, withdraw, result, err);
    if (rc && intake_reconnected (self, err))
        rc = s_withdraw_once (self, agency_id, withdraw, result, err);
    return rc;
}
