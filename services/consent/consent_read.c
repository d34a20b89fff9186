/*  consent_read: consents read back (one, a subject's, the caller's expiring
    ones). Each read is decided by the consent policy, logged in core.disclosure
    and audited in one transaction, so no personal data leaves without its record;
    what the reader may not see of a consent is blanked. */
#include "consent_store_int.h"
#include "kn_clock.h"

static const char *s_statements[][2] = {
    //  Of a subject's consents an agency sees those it recorded or is named in, and
    //  the data-protection role sees all. Referring a child gives no view of other
    //  agencies' consents about them: a name and a date of birth open nothing.
    {"record_by_subject",
     "SELECT " RECORD_COLUMNS " FROM consent.record WHERE subject_id = $1"
     " AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)"
     "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
     "   AND role = 'data_protection_officer'))"
     " ORDER BY recorded_at"},
    {"record_expiring",
     "SELECT " RECORD_COLUMNS " FROM consent.record r WHERE recorded_by = $1"
     " AND valid_until > to_timestamp ($3::bigint)"
     " AND valid_until <= to_timestamp ($3::bigint) + make_interval (days => $2::int)"
     " AND NOT EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = r.id"
     "  AND cardinality (w.recipient_agencies) = 0 AND cardinality (w.recipient_sectors) = 0"
     "  AND cardinality (w.categories) = 0 AND cardinality (w.purposes) = 0)"
     " ORDER BY valid_until"},
    //  A data-protection officer's read of a consent's personal part: no ground of
    //  the policy's, logged as oversight (purpose 0: none of the recipient's own).
    {"disclose_oversight",
     "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose, basis,"
     " ground_id, service, object_id) VALUES ($1, $2, '{6}', 0, 'data_protection_officer',"
     " NULL, 'consent', $3)"},
};

int
consent_read_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err);
}

//  What of a consent's personal part (the guardian, the evidence reference, the
//  recorder's caseworker) may go to agency_id, decided and logged in the caller's
//  transaction; what may not is blanked. Its controller is the recorder: the
//  recorder reads its own; a data-protection officer reads it in oversight, logged
//  as such; anyone else only where the policy permits FAMILY_CIRCUMSTANCES for one
//  of the consent's purposes on a ground the recorder decided.
static int
s_disclose_consent (consent_store_t *self, const char *agency_id, bool dpo,
                    Kinnet__V1__Consent *consent, kn_error_t *err)
{
    if (strcmp (consent->recorded_by_agency_id, agency_id) == 0)
        return 0;
    static const int family = KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES;
    if (dpo) {
        const char *values[] = {consent->subject_id, agency_id, consent->consent_id};
        PGresult *result =
            kn_db_run (self->db, "disclose_oversight", 3, values, NULL, NULL, err);
        PQclear (result);
        return result ? 0 : -1;
    }
    kn_policy_decision_t decision = {0};
    int purpose = 0;
    for (size_t i = 0; consent->scope && i < consent->scope->n_purposes; i++) {
        purpose = consent->scope->purposes[i];
        if (kn_consent_policy_decide (
                self->db, self->crypto, &self->policy, consent->subject_id, agency_id,
                consent->recorded_by_agency_id, &family, 1, purpose, &decision, err))
            return -1;
        if (decision.decision == KINNET__V1__DECISION__PERMITTED)
            return kn_consent_policy_record (self->db, &decision, consent->subject_id,
                                             agency_id, purpose, "consent",
                                             consent->consent_id, err);
    }
    if (consent->guardian)
        kinnet__v1__guardian__free_unpacked (consent->guardian, NULL);
    consent->guardian = NULL;
    free (consent->evidence_reference);
    consent->evidence_reference = kn_pb_string ("");
    free (consent->caseworker_id);
    consent->caseworker_id = kn_pb_string ("");
    return 0;
}

//  A read of consents: decided, logged and audited in one transaction, so that no
//  personal data leaves without its record (if the log or audit write fails, the
//  read fails). consents[0..n) are changed in place.
static int
s_read_consents (consent_store_t *self, const char *agency_id, const char *operation,
                 const char *subject_id, const char *object_id,
                 Kinnet__V1__Consent **consents, size_t n, kn_error_t *err)
{
    int dpo = consent_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s_disclose_consent (self, agency_id, dpo, consents[i], err))
            return -1;
    return consent_audit (self, agency_id, NULL, operation, subject_id, object_id, NULL,
                          "ok", err)
               ?: kn_db_exec (self->db, "COMMIT", err);
}

int
consent_store_get (consent_store_t *self, const char *agency_id, const char *consent_id,
                   Kinnet__V1__Consent **consent, kn_error_t *err)
{
    return consent_store_read (self, agency_id, "get", consent_id, consent, err);
}

int
consent_store_read (consent_store_t *self, const char *agency_id, const char *operation,
                    const char *consent_id, Kinnet__V1__Consent **consent,
                    kn_error_t *err)
{
    *consent = NULL;
    if (kn_db_ensure (self->db, err) || kn_db_begin_write (self->db, NULL, err))
        return -1;
    *consent = consent_visible (self, consent_id, agency_id, err) == 0
                   ? consent_load (self, consent_id, err)
                   : NULL;
    if (*consent && s_read_consents (self, agency_id, operation, (*consent)->subject_id,
                                     consent_id, consent, 1, err)) {
        kinnet__v1__consent__free_unpacked (*consent, NULL);
        *consent = NULL;
    }
    if (!*consent)
        kn_write_rollback (self->db);
    return *consent ? 0 : -1;
}

int
consent_store_list (consent_store_t *self, const char *agency_id, const char *subject_id,
                    Kinnet__V1__ConsentList **list, kn_error_t *err)
{
    *list = NULL;
    if (kn_db_ensure (self->db, err))
        return -1;
    int exists = kn_subject_exists (self->db, subject_id, NULL, err);
    if (exists <= 0)
        return exists < 0
                   ? -1
                   : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    if (consent_standing (self, subject_id, agency_id, "subject_id", err) ||
        kn_db_begin_write (self->db, NULL, err))
        return -1;
    const char *values[] = {subject_id, agency_id};
    PGresult *result =
        kn_db_run (self->db, "record_by_subject", 2, values, NULL, NULL, err);
    *list = result ? consent_list (self, result, err) : NULL;
    PQclear (result);
    if (*list && s_read_consents (self, agency_id, "list", subject_id, NULL,
                                  (*list)->consents, (*list)->n_consents, err)) {
        kinnet__v1__consent_list__free_unpacked (*list, NULL);
        *list = NULL;
    }
    if (!*list)
        kn_write_rollback (self->db);
    return *list ? 0 : -1;
}

int
consent_store_subject_consents (consent_store_t *self, const char *agency_id,
                                const char *subject_id, Kinnet__V1__ConsentList **list,
                                kn_error_t *err)
{
    const char *values[] = {subject_id, agency_id};
    PGresult *result =
        kn_db_run (self->db, "record_by_subject", 2, values, NULL, NULL, err);
    *list = result ? consent_list (self, result, err) : NULL;
    PQclear (result);
    return *list ? 0 : -1;
}

int
consent_store_expiring (consent_store_t *self, const char *agency_id, int days,
                        Kinnet__V1__ConsentList **list, kn_error_t *err)
{
    *list = NULL;
    if (days < 1 || days > 366)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "days", "days must be 1 to 366");
    if (kn_db_ensure (self->db, err))
        return -1;
    char days_text[8], now_text[24];
    snprintf (days_text, sizeof days_text, "%d", days);
    snprintf (now_text, sizeof now_text, "%lld", (long long) kn_clock_now ());
    const char *values[] = {agency_id, days_text, now_text};
    PGresult *result =
        kn_db_run (self->db, "record_expiring", 3, values, NULL, NULL, err);
    if (!result)
        return -1;
    *list = consent_list (self, result, err);
    PQclear (result);
    return *list ? 0 : -1;
}
