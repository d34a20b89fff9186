/*  consent_standing: whether the caller may ask about a subject or a consent at
    all. Standing on a subject comes from what the agency recorded, received or
    referred, or from the data-protection role; a consent it may not see is
    reported exactly like a missing one. */
#include "consent_store_int.h"
#include "kn_agency.h"

//  Standing on a subject: recorded or received something about them, referred
//  their family, or holds the data-protection role.
#define STANDING                                                                           \
    "SELECT EXISTS (SELECT 1 FROM consent.record WHERE subject_id = $1"                    \
    "   AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)))"                          \
    " OR EXISTS (SELECT 1 FROM consent.basis WHERE subject_id = $1"                        \
    "   AND (recorded_by = $2 OR $2 = ANY (recipient_agencies)))"                          \
    " OR EXISTS (SELECT 1 FROM consent.override WHERE subject_id = $1"                     \
    "   AND (requested_by = $2 OR $2 = ANY (recipient_agencies)))"                         \
    " OR EXISTS (SELECT 1 FROM intake.referral_subject rs JOIN intake.referral r"          \
    "   ON r.id = rs.referral_id WHERE rs.subject_id = $1 AND r.referring_agency_id = $2)" \
    " OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"                      \
    "   AND role = 'data_protection_officer')"

static const char *s_statements[][2] = {
    {"standing", STANDING},
    {"record_visible", "SELECT 1 FROM consent.record c WHERE c.id = $1"
                       " AND (c.recorded_by = $2 OR $2 = ANY (c.recipient_agencies)"
                       "  OR EXISTS (SELECT 1 FROM core.agency_role WHERE agency_id = $2"
                       "   AND role = 'data_protection_officer'))"},
};

int
consent_standing_prepare (kn_db_t *db, kn_error_t *err)
{
    return kn_db_prepare_all (db, s_statements, sizeof s_statements / sizeof s_statements[0],
                              err)
               ?: kn_agency_prepare (db, err);
}

int
consent_standing (consent_store_t *self, const char *subject_id, const char *agency_id,
                  const char *field, kn_error_t *err)
{
    const char *values[] = {subject_id, agency_id};
    PGresult *result = kn_db_run (self->db, "standing", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    bool standing = PQgetvalue (result, 0, 0)[0] == 't';
    PQclear (result);
    return standing
               ? 0
               : kn_error_set (err, KN_E_PERMISSION_DENIED, field,
                               "your agency has no standing for this subject (it has "
                               "not recorded, received or referred anything about them)");
}

int
consent_has_role (consent_store_t *self, const char *agency_id, const char *role,
                  kn_error_t *err)
{
    return kn_agency_holds (self->db, agency_id, role, err);
}

//  A consent the caller may not see is reported exactly like a missing one: it sees
//  those it recorded or is named in, and the data-protection role sees all
//  (referring the subject gives no view of them: see record_by_subject).
int
consent_visible (consent_store_t *self, const char *consent_id, const char *agency_id,
                 kn_error_t *err)
{
    const char *values[] = {consent_id, agency_id};
    PGresult *result = kn_db_run (self->db, "record_visible", 2, values, NULL, NULL, err);
    if (!result)
        return -1;
    int rows = PQntuples (result);
    PQclear (result);
    return rows ? 0 : kn_error_set (err, KN_E_NOT_FOUND, "consent_id", "no such consent");
}
