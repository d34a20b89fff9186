/*  intake_validate: field-level validation of intake requests. */
#include "intake_validate.h"

#include <stdio.h>
#include <string.h>

#include <stdbool.h>
#include <stdlib.h>

#include "kn_crypto.h"
#include "kn_uuid.h"
#include "kn_validate.h"

//  Whether a and b are one person for matching: the same normalised names and date
//  of birth, so the same blind index.
static bool
s_same_person (const Kinnet__V1__Person *a, const Kinnet__V1__Person *b)
{
    if (strcmp (a->date_of_birth, b->date_of_birth) != 0)
        return false;
    bool same = true;
    const char *names[][2] = {{a->given_name, b->given_name}, {a->family_name, b->family_name}};
    for (int i = 0; i < 2 && same; i++) {
        char *x = kn_crypto_normalise_name (names[i][0]);
        char *y = kn_crypto_normalise_name (names[i][1]);
        same = strcmp (x, y) == 0;
        free (x);
        free (y);
    }
    return same;
}

int
intake_validate_submit (const Kinnet__V1__SubmitReferral *referral, time_t now,
                        kn_error_t *err)
{
    if (kn_validate_text (referral->idempotency_key, "idempotency_key", 1, INTAKE_MAX_KEY,
                          false, err))
        return -1;
    if (kn_validate_person (referral->child, "child", now, INTAKE_MAX_CHILD_AGE, err))
        return -1;
    if (referral->n_siblings > INTAKE_MAX_SIBLINGS)
        return kn_error_set (err, KN_E_TOO_LARGE, "siblings", "at most %d siblings",
                             INTAKE_MAX_SIBLINGS);
    char path[128];
    for (size_t i = 0; i < referral->n_siblings; i++) {
        snprintf (path, sizeof path, "siblings[%zu]", i);
        if (kn_validate_person (referral->siblings[i], path, now, INTAKE_MAX_CHILD_AGE,
                                err))
            return -1;
    }
    //  Each person once: a repeat would shift which subject each ground is decided
    //  for, so one child's data could go out on a sibling's consent.
    for (size_t i = 0; i < referral->n_siblings; i++) {
        const Kinnet__V1__Person *sibling = referral->siblings[i];
        if (s_same_person (referral->child, sibling))
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "siblings",
                                 "siblings[%zu] is the same person as child: list each "
                                 "person once",
                                 i);
        for (size_t k = 0; k < i; k++)
            if (s_same_person (referral->siblings[k], sibling))
                return kn_error_set (err, KN_E_INVALID_ARGUMENT, "siblings",
                                     "siblings[%zu] is the same person as siblings[%zu]: list "
                                     "each person once",
                                     i, k);
    }
    if (referral->n_guardians > INTAKE_MAX_GUARDIANS)
        return kn_error_set (err, KN_E_TOO_LARGE, "guardians", "at most %d guardians",
                             INTAKE_MAX_GUARDIANS);
    for (size_t i = 0; i < referral->n_guardians; i++) {
        const Kinnet__V1__Guardian *guardian = referral->guardians[i];
        snprintf (path, sizeof path, "guardians[%zu].given_name", i);
        if (kn_validate_text (guardian->given_name, path, 1, INTAKE_MAX_NAME, false, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].family_name", i);
        if (kn_validate_text (guardian->family_name, path, 1, INTAKE_MAX_NAME, false,
                              err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].relationship", i);
        if (kn_validate_enum (&kinnet__v1__relationship__descriptor,
                              guardian->relationship, path, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].phone", i);
        if (kn_validate_text (guardian->phone, path, 0, 32, false, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].languages", i);
        if (kn_validate_languages (guardian->languages, guardian->n_languages, path, err))
            return -1;
    }
    if (referral->n_needs == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "needs",
                             "at least one need is required");
    if (referral->n_needs > INTAKE_MAX_NEEDS)
        return kn_error_set (err, KN_E_TOO_LARGE, "needs", "at most %d needs",
                             INTAKE_MAX_NEEDS);
    for (size_t i = 0; i < referral->n_needs; i++) {
        snprintf (path, sizeof path, "needs[%zu].category", i);
        if (kn_validate_enum (&kinnet__v1__need_category__descriptor,
                              referral->needs[i]->category, path, err))
            return -1;
        snprintf (path, sizeof path, "needs[%zu].description", i);
        if (kn_validate_text (referral->needs[i]->description, path, 0,
                              INTAKE_MAX_DESCRIPTION, true, err))
            return -1;
    }
    if (kn_validate_enum (&kinnet__v1__urgency__descriptor, referral->urgency, "urgency",
                          err))
        return -1;
    if (kn_validate_text (referral->district, "district", 1, INTAKE_MAX_DISTRICT, false,
                          err))
        return -1;
    const Kinnet__V1__LawfulGround *ground = referral->lawful_ground;
    if (!ground)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "lawful_ground",
                             "lawful_ground is required");
    if (kn_validate_enum (&kinnet__v1__lawful_basis__descriptor, ground->basis,
                          "lawful_ground.basis", err))
        return -1;
    bool consent = ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT;
    //  The field the basis requires must be there; the other is checked if given.
    if (kn_validate_text (ground->consent_reference, "lawful_ground.consent_reference",
                          consent ? 1 : 0, INTAKE_MAX_REFERENCE, false, err))
        return -1;
    if (kn_validate_text (ground->justification, "lawful_ground.justification",
                          consent ? 0 : INTAKE_MIN_JUSTIFICATION,
                          INTAKE_MAX_JUSTIFICATION, true, err))
        return -1;
    return kn_validate_text (referral->caseworker_id, "caseworker_id", 0,
                             INTAKE_MAX_REFERENCE, false, err);
}

int
intake_validate_withdraw (const Kinnet__V1__WithdrawReferral *withdraw, kn_error_t *err)
{
    if (kn_validate_text (withdraw->idempotency_key, "idempotency_key", 1, INTAKE_MAX_KEY,
                          false, err))
        return -1;
    if (!kn_uuid_valid (withdraw->referral_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "referral_id",
                             "referral_id must be a UUID");
    if (kn_validate_text (withdraw->reason, "reason", 1, INTAKE_MAX_REASON, true, err))
        return -1;
    return kn_validate_text (withdraw->caseworker_id, "caseworker_id", 0,
                             INTAKE_MAX_REFERENCE, false, err);
}

int
intake_validate_get (const Kinnet__V1__GetReferral *get, kn_error_t *err)
{
    if (!kn_uuid_valid (get->referral_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "referral_id",
                             "referral_id must be a UUID");
    return kn_validate_text (get->caseworker_id, "caseworker_id", 0, INTAKE_MAX_REFERENCE,
                             false, err);
}
