/*  consent_check: whether a disclosure would be permitted, answered by the consent
    policy without disclosing or writing anything. An agency asks only about its
    own disclosures, as the recipient or as the data's controller (a DPO about
    any), so a check never reveals which grounds other agencies hold. */
#include "consent_store_int.h"

int
consent_store_check (consent_store_t *self, const char *agency_id,
                     const Kinnet__V1__CheckDisclosure *check,
                     kn_policy_decision_t *decision, kn_error_t *err)
{
    if (kn_db_ensure (self->db, err))
        return -1;
    int exists = kn_subject_exists (self->db, check->subject_id, NULL, err);
    if (exists <= 0)
        return exists < 0
                   ? -1
                   : kn_error_set (err, KN_E_NOT_FOUND, "subject_id", "no such subject");
    if (consent_standing (self, check->subject_id, agency_id, "subject_id", err) ||
        kn_db_begin_write (self->db, NULL, err))
        return -1;
    int categories[KN_POLICY_MAX_CATEGORIES];
    for (size_t i = 0; i < check->n_categories && i < KN_POLICY_MAX_CATEGORIES; i++)
        categories[i] = check->categories[i];
    //  Whose data: the caller's own unless it names another controller.
    const char *controller = check->controller_agency_id && *check->controller_agency_id
                                 ? check->controller_agency_id
                                 : agency_id;
    if (!kn_uuid_valid (controller)) {
        kn_write_rollback (self->db);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "controller_agency_id",
                             "not an agency id");
    }
    //  A check is about the caller's own disclosures: as the recipient or as the
    //  controller. Otherwise it would tell anyone with standing which grounds other
    //  agencies hold about the subject, and for whom (a safeguarding override above
    //  all). A DPO oversees every disclosure.
    bool recipient = strcmp (check->agency_id, agency_id) == 0;
    bool own_data = strcmp (controller, agency_id) == 0;
    int dpo = recipient || own_data
                  ? 0
                  : consent_has_role (self, agency_id, "data_protection_officer", err);
    if (dpo < 0 || (!recipient && !own_data && !dpo)) {
        kn_write_rollback (self->db);
        return dpo < 0 ? -1
                       : kn_error_set (err, KN_E_PERMISSION_DENIED, "agency_id",
                                       "a check must be about your agency: as the "
                                       "recipient, or as the controller of the data");
    }
    int rc = kn_consent_policy_decide (
        self->db, self->crypto, &self->policy, check->subject_id, check->agency_id,
        controller, categories, check->n_categories, check->purpose, decision, err);
    kn_write_rollback (self->db); // a check discloses nothing and writes nothing
    //  A controller asking about another recipient learns what it decided, not which
    //  grounds other agencies recorded for that recipient.
    for (size_t i = 0; rc == 0 && !recipient && !dpo && i < decision->count; i++)
        if (!decision->categories[i].permitted && decision->categories[i].undecided)
            snprintf (decision->categories[i].reason,
                      sizeof decision->categories[i].reason,
                      "nothing your agency decided covers this recipient, category and "
                      "purpose");
    return rc;
}
