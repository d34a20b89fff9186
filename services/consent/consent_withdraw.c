/*  consent_withdraw: a family withdraws a consent, wholly or in part. Only the
    recorder, an agency working with the family or a data-protection officer
    records it; the subject is locked so disclosures deciding now wait and see it,
    and every agency that received data under the consent is told to stop. */
#include "consent_store_int.h"

static const char *s_statements[][2] = {
    //  Who records a family's withdrawal: the consent's recorder, an agency working
    //  with the family (an accepted involvement on its case), a data-protection
    //  officer. Returns the recorder.
    {"may_withdraw",
     "SELECT c.recorded_by FROM consent.record c WHERE c.id = $1"
     " AND (c.recorded_by = $2"
     "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
     "   AND role = 'data_protection_officer')"
     "  OR EXISTS (SELECT 1 FROM core.subject s JOIN routing.case k ON k.family_id = s.family_id"
     "   JOIN routing.involvement i ON i.case_id = k.id WHERE s.id = c.subject_id"
     "   AND i.agency_id = $2 AND i.status = 'accepted'))"},
    {"withdrawal_insert",
     "INSERT INTO consent.withdrawal (id, consent_id, recipient_agencies, recipient_sectors,"
     " categories, purposes, channel, recorded_by, caseworker_id)"
     " VALUES ($1, $2, $3::uuid[], $4::smallint[], $5::smallint[], $6::smallint[], $7, $8,"
     " nullif ($9, '')) RETURNING " EPOCH ("at")},
    {"withdrawal_of", "SELECT consent_id FROM consent.withdrawal WHERE id = $1"},
    {"recipients_under",
     "SELECT DISTINCT recipient_id FROM core.disclosure WHERE ground_id = $1"},
};

int
consent_withdraw_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  One consent.withdrawn event with the withdrawal's scope w, addressed to
//  recipient ("" for the one that records the withdrawal itself).
static int
s_announce_withdrawal (consent_store_t *self, const char *consent_id,
                       const char *subject_id, const char *recipient,
                       const Kinnet__V1__Scope *w, Kinnet__V1__Timestamp *at,
                       kn_error_t *err)
{
    Kinnet__V1__ConsentWithdrawn event = KINNET__V1__CONSENT_WITHDRAWN__INIT;
    event.consent_id = (char *)consent_id;
    event.subject_id = (char *)subject_id;
    event.recipient_agency_id = (char *)recipient;
    event.agencies = w->agencies;
    event.n_agencies = w->n_agencies;
    event.sectors = w->sectors;
    event.n_sectors = w->n_sectors;
    event.categories = w->categories;
    event.n_categories = w->n_categories;
    event.purposes = w->purposes;
    event.n_purposes = w->n_purposes;
    event.withdrawn_at = at;
    return consent_outbox (self, "consent.withdrawn", consent_id, &event.base, err);
}

int
consent_store_withdraw (consent_store_t *self, const char *agency_id,
                        const Kinnet__V1__WithdrawConsent *withdraw,
                        Kinnet__V1__Consent **consent, kn_error_t *err)
{
    *consent = NULL;
    //  The ledger names the withdrawal; a replay answers with the consent.
    kn_write_t w = self->write;
    kn_uuid_generate_ordered (w.object_id);
    kn_claim_t claim = kn_write_begin (&w, agency_id, "withdraw", &withdraw->base, err);
    if (claim != KN_CLAIM_NEW)
        return claim == KN_CLAIM_REPLAY
                   ? consent_replayed (self, withdraw->consent_id, consent, err)
                   : -1;
    const char *withdrawal_id = w.object_id;
    //  Not any agency that can see the consent: one named in it could be the very
    //  person the family is protecting itself from (see may_withdraw).
    char recorder[KN_UUID_STR] = "";
    const char *who[] = {withdraw->consent_id, agency_id};
    PGresult *allowed = kn_db_run (self->db, "may_withdraw", 2, who, NULL, NULL, err);
    if (!allowed)
        goto fail;
    if (PQntuples (allowed))
        snprintf (recorder, sizeof recorder, "%s", PQgetvalue (allowed, 0, 0));
    PQclear (allowed);
    if (!*recorder) {
        if (consent_visible (self, withdraw->consent_id, agency_id, err) == 0)
            kn_error_set (err, KN_E_PERMISSION_DENIED, "consent_id",
                          "a withdrawal is recorded by the consent's recorder, an agency "
                          "working with the family or a data-protection officer");
        goto fail;
    }
    Kinnet__V1__Consent *current = consent_load (self, withdraw->consent_id, err);
    if (!current)
        goto fail;
    char subject_id[KN_UUID_STR];
    snprintf (subject_id, sizeof subject_id, "%s", current->subject_id);
    kinnet__v1__consent__free_unpacked (current, NULL);
    //  Exclusive on the subject: disclosures deciding now wait, and see this. The
    //  status is read again under the lock, so two withdrawals are ordered too.
    if (kn_consent_policy_lock_subject (self->db, subject_id, err))
        goto fail;
    current = consent_load (self, withdraw->consent_id, err);
    if (!current)
        goto fail;
    bool full = current->status == KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN;
    kinnet__v1__consent__free_unpacked (current, NULL);
    if (full) {
        kn_error_set (err, KN_E_CONFLICT, "consent_id",
                      "consent is already fully withdrawn");
        goto fail;
    }
    if (consent_agencies_exist (self, withdraw->scope, err))
        goto fail;
    scope_text_t scope;
    consent_scope_text (withdraw->scope, &scope);
    char channel[8];
    snprintf (channel, sizeof channel, "%d", withdraw->channel);
    const char *values[] = {
        withdrawal_id,          withdraw->consent_id, scope.agencies, scope.sectors,
        scope.categories,       scope.purposes,       channel,        agency_id,
        withdraw->caseworker_id};
    PGresult *result =
        kn_db_run (self->db, "withdrawal_insert", 9, values, NULL, NULL, err);
    if (!result)
        goto fail;
    int64_t at_seconds = strtoll (PQgetvalue (result, 0, 0), NULL, 10);
    PQclear (result);

    //  Tell every agency that received data under this consent to stop using it;
    //  one event addressed to nobody records the withdrawal itself.
    const char *ground[] = {withdraw->consent_id};
    result = kn_db_run (self->db, "recipients_under", 1, ground, NULL, NULL, err);
    if (!result)
        goto fail;
    static const Kinnet__V1__Scope empty = KINNET__V1__SCOPE__INIT;
    const Kinnet__V1__Scope *scoped = withdraw->scope ? withdraw->scope : &empty;
    Kinnet__V1__Timestamp at = KINNET__V1__TIMESTAMP__INIT;
    at.seconds = at_seconds;
    int rc = 0;
    for (int row = -1; rc == 0 && row < PQntuples (result); row++)
        rc = s_announce_withdrawal (self, withdraw->consent_id, subject_id,
                                    row < 0 ? "" : PQgetvalue (result, row, 0), scoped,
                                    &at, err);
    //  The recorder is told when another agency recorded the withdrawal (unless it
    //  already was, as an agency that received data under the consent).
    bool told = strcmp (recorder, agency_id) == 0;
    for (int row = 0; !told && row < PQntuples (result); row++)
        told = strcmp (PQgetvalue (result, row, 0), recorder) == 0;
    if (rc == 0 && !told)
        rc = s_announce_withdrawal (self, withdraw->consent_id, subject_id, recorder,
                                    scoped, &at, err);
    PQclear (result);
    w.audit.subject_ref = subject_id;
    w.audit.object_id = withdraw->consent_id;
    w.audit.basis = "consent";
    if (rc || kn_write_commit (&w, err))
        goto fail;
    *consent = consent_load (self, withdraw->consent_id, err);
    return *consent ? 0 : -1;

fail:
    return kn_write_abort (&w);
}
