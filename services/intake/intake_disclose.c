/*  intake_disclose: what an agency other than the referrer may see of a referral.
    The consent policy decides each data category (identity, family circumstances,
    the narrative, and the category each need implies) and each sibling, who is a
    subject of their own; what is not permitted is blanked in place, and what is
    disclosed is recorded in the reader's transaction before it leaves. */
#include "intake_store_int.h"

//  Empty a string field of an unpacked message. An absent field points at
//  protobuf-c's shared empty string, which is not ours to free.
static void
s_blank (char **text)
{
    if (*text && *text != protobuf_c_empty_string)
        free (*text);
    *text = strdup ("");
}

static void
s_blank_person (Kinnet__V1__Person *person)
{
    s_blank (&person->given_name);
    s_blank (&person->family_name);
    s_blank (&person->date_of_birth);
    for (size_t i = 0; i < person->n_languages; i++)
        free (person->languages[i]);
    person->n_languages = 0;
}

static bool
s_permitted (const kn_policy_decision_t *decision, int category)
{
    for (size_t i = 0; i < decision->count; i++)
        if (decision->categories[i].category == category)
            return decision->categories[i].permitted;
    return false;
}

//  Decide, withhold and record what another agency may see of a referral.
int
intake_disclose (intake_store_t *self, const char *agency_id, int purpose,
                 intake_referral_t *referral, char *basis, size_t basis_size,
                 kn_error_t *err)
{
    //  Identity, the guardians, the narrative, and the category each need implies
    //  (core.need_data_category): a mental-health need's description goes out only
    //  where mental-health data may.
    Kinnet__V1__SubmitReferral *submitted = referral->submitted;
    int categories[KN_POLICY_MAX_CATEGORIES] = {
        KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT,
        KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES,
        KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE};
    size_t n_categories = 3;
    int needs[32], need_categories[32];
    size_t n_needs = submitted->n_needs < 32 ? submitted->n_needs : 32;
    for (size_t i = 0; i < n_needs; i++)
        needs[i] = submitted->needs[i]->category;
    if (n_needs && kn_consent_policy_need_categories (self->db, needs, n_needs,
                                                      need_categories, err))
        return -1;
    for (size_t i = 0; i < n_needs; i++) {
        bool seen = false;
        for (size_t k = 0; k < n_categories && !seen; k++)
            seen = categories[k] == need_categories[i];
        if (!seen && n_categories < KN_POLICY_MAX_CATEGORIES)
            categories[n_categories++] = need_categories[i];
    }
    const char *values[] = {referral->referral_id};
    PGresult *rows =
        kn_db_run (self->db, "referral_subjects", 1, values, NULL, NULL, err);
    if (!rows)
        return -1;
    int people = PQntuples (rows);
    char subjects[16][KN_UUID_STR];
    for (int i = 0; i < people && i < 16; i++)
        snprintf (subjects[i], KN_UUID_STR, "%s", PQgetvalue (rows, i, 0));
    PQclear (rows);
    if (people == 0)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "referral has no subjects");
    kn_policy_decision_t decision;
    if (kn_consent_policy_decide (self->db, self->crypto, &self->policy, subjects[0],
                                  agency_id, referral->agency_id, categories,
                                  n_categories, purpose, &decision, err))
        return -1;
    if (decision.decision == KINNET__V1__DECISION__DENIED)
        return kn_error_set (
            err, KN_E_PERMISSION_DENIED, "referral_id",
            "nothing of this referral may be disclosed to your agency: %s",
            decision.categories[0].reason);
    for (size_t i = 0; i < decision.count; i++) {
        const kn_policy_category_t *entry = &decision.categories[i];
        if (!entry->permitted) {
            referral->withheld[referral->n_withheld++] = entry->category;
            continue;
        }
        if (!referral->disclosure_basis) {
            referral->disclosure_basis = entry->basis;
            snprintf (referral->ground_id, KN_UUID_STR, "%s", entry->ground_id);
            const ProtobufCEnumValue *name = protobuf_c_enum_descriptor_get_value (
                &kinnet__v1__lawful_basis__descriptor, entry->basis);
            for (size_t k = 0; name && name->name[k] && k + 1 < basis_size; k++)
                basis[k] = (char)tolower ((unsigned char)name->name[k]),
                basis[k + 1] = '\0';
        }
    }
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT))
        s_blank_person (submitted->child);
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__FAMILY_CIRCUMSTANCES)) {
        for (size_t i = 0; i < submitted->n_guardians; i++)
            kinnet__v1__guardian__free_unpacked (submitted->guardians[i], NULL);
        submitted->n_guardians = 0;
    }
    //  What a need is is part of its story too (a mental-health or domestic-abuse
    //  need says as much as its description): both go under the need's category.
    for (size_t i = 0; i < n_needs; i++)
        if (!s_permitted (&decision, need_categories[i])) {
            s_blank (&submitted->needs[i]->description);
            submitted->needs[i]->category =
                KINNET__V1__NEED_CATEGORY__NEED_CATEGORY_UNSPECIFIED;
        }
    if (!s_permitted (&decision, KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE)) {
        s_blank (&submitted->lawful_ground->justification);
        s_blank (&submitted->lawful_ground->consent_reference);
        free (referral->withdraw_reason);
        referral->withdraw_reason = NULL;
    }
    s_blank (&submitted->idempotency_key); // the referrer's own reference
    s_blank (&submitted->caseworker_id);
    if (kn_consent_policy_record (self->db, &decision, subjects[0], agency_id, purpose,
                                  "intake", referral->referral_id, err))
        return -1;
    //  Each sibling is a subject of their own: their identity needs its own ground.
    size_t kept = 0;
    for (size_t i = 0; i < submitted->n_siblings; i++) {
        Kinnet__V1__Person *sibling = submitted->siblings[i];
        bool shown = false;
        if ((int)i + 1 < people) {
            kn_policy_decision_t own;
            if (kn_consent_policy_decide (self->db, self->crypto, &self->policy,
                                          subjects[i + 1], agency_id, referral->agency_id,
                                          categories, 1, purpose, &own, err))
                return -1;
            shown = own.decision == KINNET__V1__DECISION__PERMITTED;
            if (shown &&
                kn_consent_policy_record (self->db, &own, subjects[i + 1], agency_id,
                                          purpose, "intake", referral->referral_id, err))
                return -1;
        }
        if (shown)
            submitted->siblings[kept++] = sibling;
        else
            kinnet__v1__person__free_unpacked (sibling, NULL);
    }
    submitted->n_siblings = kept;
    return 0;
}
