/*  consent_validate: consent request rules. */
#include "consent_validate.h"

#include <stdio.h>
#include <string.h>

#include "kn_validate.h"

static int
s_subject (const Kinnet__V1__SubjectRef *subject, time_t now, kn_error_t *err)
{
    if (!subject || (!*subject->subject_id && !subject->person))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "subject",
                             "subject is required: subject_id or person");
    if (*subject->subject_id && subject->person)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "subject",
                             "give subject_id or person, not both");
    if (*subject->subject_id)
        return kn_validate_uuid (subject->subject_id, "subject.subject_id", err);
    //  Family members of any age may be subjects.
    return kn_validate_person (subject->person, "subject.person", now, -1, err);
}

int
consent_validate_scope (const Kinnet__V1__Scope *scope, const char *field,
                        bool require_recipients, bool require_categories,
                        bool require_purposes, kn_error_t *err)
{
    char path[96];
    static const Kinnet__V1__Scope empty = KINNET__V1__SCOPE__INIT;
    if (!scope)
        scope = &empty;
    if (scope->n_agencies + scope->n_sectors > CONSENT_MAX_RECIPIENTS) {
        snprintf (path, sizeof path, "%s.agencies", field);
        return kn_error_set (err, KN_E_TOO_LARGE, path, "at most %d recipients",
                             CONSENT_MAX_RECIPIENTS);
    }
    if (require_recipients && scope->n_agencies + scope->n_sectors == 0) {
        snprintf (path, sizeof path, "%s.agencies", field);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "name at least one recipient agency or sector");
    }
    for (size_t i = 0; i < scope->n_agencies; i++) {
        snprintf (path, sizeof path, "%s.agencies[%zu]", field, i);
        if (kn_validate_uuid (scope->agencies[i], path, err))
            return -1;
    }
    for (size_t i = 0; i < scope->n_sectors; i++) {
        snprintf (path, sizeof path, "%s.sectors[%zu]", field, i);
        if (kn_validate_enum (&kinnet__v1__agency_sector__descriptor, scope->sectors[i], path,
                              err))
            return -1;
    }
    snprintf (path, sizeof path, "%s.categories", field);
    if (require_categories && scope->n_categories == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "name at least one data category");
    if (scope->n_categories > 32)
        return kn_error_set (err, KN_E_TOO_LARGE, path, "at most 32 categories");
    for (size_t i = 0; i < scope->n_categories; i++) {
        snprintf (path, sizeof path, "%s.categories[%zu]", field, i);
        if (kn_validate_enum (&kinnet__v1__data_category__descriptor, scope->categories[i],
                              path, err))
            return -1;
    }
    snprintf (path, sizeof path, "%s.purposes", field);
    if (require_purposes && scope->n_purposes == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "name at least one purpose");
    if (scope->n_purposes > 32)
        return kn_error_set (err, KN_E_TOO_LARGE, path, "at most 32 purposes");
    for (size_t i = 0; i < scope->n_purposes; i++) {
        snprintf (path, sizeof path, "%s.purposes[%zu]", field, i);
        if (kn_validate_enum (&kinnet__v1__purpose__descriptor, scope->purposes[i], path, err))
            return -1;
    }
    return 0;
}

//  Optional timestamps: from before until; until in the future.
static int
s_period (const Kinnet__V1__Timestamp *from, const Kinnet__V1__Timestamp *until, time_t now,
          kn_error_t *err)
{
    //  A minute's margin: the record's own clock (the database's) starts a little
    //  later than this check.
    if (until && until->seconds <= now + 60)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "valid_until",
                             "valid_until must be at least a minute in the future");
    if (from && until && until->seconds <= from->seconds)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "valid_until",
                             "valid_until must be after valid_from");
    return 0;
}

int
consent_validate_record (const Kinnet__V1__RecordConsent *record, time_t now, kn_error_t *err)
{
    if (kn_validate_text (record->idempotency_key, "idempotency_key", 1, 128, false, err)
        || s_subject (record->subject, now, err)
        || kn_validate_enum (&kinnet__v1__consent_giver__descriptor, record->given_by,
                             "given_by", err))
        return -1;
    if (record->given_by == KINNET__V1__CONSENT_GIVER__GUARDIAN) {
        const Kinnet__V1__Guardian *guardian = record->guardian;
        if (!guardian)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "guardian",
                                 "guardian is required when given_by is GUARDIAN");
        if (kn_validate_text (guardian->given_name, "guardian.given_name", 1, KN_MAX_NAME, false,
                              err)
            || kn_validate_text (guardian->family_name, "guardian.family_name", 1, KN_MAX_NAME,
                                 false, err)
            || kn_validate_enum (&kinnet__v1__relationship__descriptor, guardian->relationship,
                                 "guardian.relationship", err))
            return -1;
        if (kn_validate_text (guardian->phone, "guardian.phone", 0, 32, false, err)
            || kn_validate_languages (guardian->languages, guardian->n_languages,
                                      "guardian.languages", err))
            return -1;
        if (!guardian->parental_responsibility)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "guardian.parental_responsibility",
                                 "only a guardian with parental responsibility can consent "
                                 "for a child");
    }
    else if (record->guardian)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "guardian",
                             "guardian is only given when given_by is GUARDIAN");
    if (consent_validate_scope (record->scope, "scope", true, true, true, err)
        || s_period (record->valid_from, record->valid_until, now, err)
        || kn_validate_enum (&kinnet__v1__collection_method__descriptor, record->method,
                             "method", err)
        || kn_validate_text (record->evidence_reference, "evidence_reference", 1,
                             CONSENT_MAX_REFERENCE, false, err)
        || kn_validate_text (record->privacy_notice_version, "privacy_notice_version", 1, 64,
                             false, err))
        return -1;
    char *language = record->privacy_notice_language;
    if (!language || !*language)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "privacy_notice_language",
                             "privacy_notice_language is required");
    if (kn_validate_languages (&language, 1, "privacy_notice_language", err)) {
        //  One tag, not a list: report the field itself.
        snprintf (err->field, sizeof err->field, "privacy_notice_language");
        return -1;
    }
    return kn_validate_text (record->caseworker_id, "caseworker_id", 0, 128, false, err);
}

int
consent_validate_withdraw (const Kinnet__V1__WithdrawConsent *withdraw, kn_error_t *err)
{
    if (kn_validate_text (withdraw->idempotency_key, "idempotency_key", 1, 128, false, err)
        || kn_validate_uuid (withdraw->consent_id, "consent_id", err)
        || consent_validate_scope (withdraw->scope, "scope", false, false, false, err)
        || kn_validate_enum (&kinnet__v1__collection_method__descriptor, withdraw->channel,
                             "channel", err))
        return -1;
    return kn_validate_text (withdraw->caseworker_id, "caseworker_id", 0, 128, false, err);
}

static bool
s_has_health (const Kinnet__V1__Scope *scope)
{
    for (size_t i = 0; scope && i < scope->n_categories; i++)
        if (scope->categories[i] == KINNET__V1__DATA_CATEGORY__PHYSICAL_HEALTH_DATA
            || scope->categories[i] == KINNET__V1__DATA_CATEGORY__MENTAL_HEALTH_DATA)
            return true;
    return false;
}

int
consent_validate_basis (const Kinnet__V1__RecordBasis *basis, time_t now, kn_error_t *err)
{
    if (kn_validate_text (basis->idempotency_key, "idempotency_key", 1, 128, false, err)
        || s_subject (basis->subject, now, err))
        return -1;
    if (basis->basis != KINNET__V1__LAWFUL_BASIS__LEGAL_OBLIGATION
        && basis->basis != KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK
        && basis->basis != KINNET__V1__LAWFUL_BASIS__VITAL_INTERESTS)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "basis",
                             "basis must be LEGAL_OBLIGATION, PUBLIC_TASK or VITAL_INTERESTS "
                             "(consent and overrides have their own requests)");
    if (basis->special_condition
        && kn_validate_enum (&kinnet__v1__special_category_condition__descriptor,
                             basis->special_condition, "special_condition", err))
        return -1;
    if (consent_validate_scope (basis->scope, "scope", true, true, true, err))
        return -1;
    if (s_has_health (basis->scope) && !basis->special_condition)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "special_condition",
                             "health data needs a special-category condition");
    if (s_period (NULL, basis->valid_until, now, err)
        || kn_validate_text (basis->justification, "justification", CONSENT_MIN_TEXT,
                             CONSENT_MAX_TEXT, true, err))
        return -1;
    return kn_validate_text (basis->caseworker_id, "caseworker_id", 0, 128, false, err);
}

int
consent_validate_override (const Kinnet__V1__RequestOverride *request, time_t now,
                           kn_error_t *err)
{
    if (kn_validate_text (request->idempotency_key, "idempotency_key", 1, 128, false, err)
        || s_subject (request->subject, now, err)
        || kn_validate_enum (&kinnet__v1__override_reason__descriptor, request->reason,
                             "reason", err)
        || kn_validate_text (request->details, "details", CONSENT_MIN_TEXT, CONSENT_MAX_TEXT,
                             true, err)
        || kn_validate_enum (&kinnet__v1__approver_role__descriptor, request->approver_role,
                             "approver_role", err)
        || kn_validate_text (request->approver_id, "approver_id", 1, 128, false, err)
        || consent_validate_scope (request->scope, "scope", true, true, false, err))
        return -1;
    if (request->expires_in_hours < 0 || request->expires_in_hours > CONSENT_MAX_OVERRIDE_HOURS)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "expires_in_hours",
                             "expires_in_hours must be 1 to %d (0 for the default, 72)",
                             CONSENT_MAX_OVERRIDE_HOURS);
    return kn_validate_text (request->caseworker_id, "caseworker_id", 0, 128, false, err);
}

int
consent_validate_review (const Kinnet__V1__ReviewOverride *review, kn_error_t *err)
{
    if (kn_validate_text (review->idempotency_key, "idempotency_key", 1, 128, false, err)
        || kn_validate_uuid (review->override_id, "override_id", err)
        || kn_validate_enum (&kinnet__v1__review_decision__descriptor, review->decision,
                             "decision", err)
        || kn_validate_text (review->notes, "notes", 1, CONSENT_MAX_TEXT, true, err))
        return -1;
    return kn_validate_text (review->caseworker_id, "caseworker_id", 0, 128, false, err);
}

int
consent_validate_check (const Kinnet__V1__CheckDisclosure *check, kn_error_t *err)
{
    if (kn_validate_uuid (check->subject_id, "subject_id", err)
        || kn_validate_uuid (check->agency_id, "agency_id", err))
        return -1;
    if (check->n_categories == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "categories", "name 1 to 16 categories");
    if (check->n_categories > 16)
        return kn_error_set (err, KN_E_TOO_LARGE, "categories", "at most 16 categories");
    char path[48];
    for (size_t i = 0; i < check->n_categories; i++) {
        snprintf (path, sizeof path, "categories[%zu]", i);
        if (kn_validate_enum (&kinnet__v1__data_category__descriptor, check->categories[i],
                              path, err))
            return -1;
    }
    return kn_validate_enum (&kinnet__v1__purpose__descriptor, check->purpose, "purpose", err);
}

int
consent_validate_request_release (const Kinnet__V1__RequestRelease *request, kn_error_t *err)
{
    return kn_validate_text (request->idempotency_key, "idempotency_key", 1, 128, false, err)
               ?: kn_validate_uuid (request->ground_id, "ground_id", err)
               ?: kn_validate_uuid (request->controller_agency_id, "controller_agency_id", err)
               ?: kn_validate_text (request->reason, "reason", CONSENT_MIN_TEXT,
                                    CONSENT_MAX_TEXT, true, err)
               ?: kn_validate_text (request->caseworker_id, "caseworker_id", 0, 128, false,
                                    err);
}

int
consent_validate_decide_release (const Kinnet__V1__DecideRelease *decision, kn_error_t *err)
{
    return kn_validate_text (decision->idempotency_key, "idempotency_key", 1, 128, false, err)
               ?: kn_validate_uuid (decision->release_id, "release_id", err)
               ?: kn_validate_text (decision->reason, "reason", 1, CONSENT_MAX_TEXT, true, err)
               ?: kn_validate_text (decision->caseworker_id, "caseworker_id", 0, 128, false,
                                    err);
}
