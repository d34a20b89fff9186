/*  intake_validate: field-level validation of intake requests. */
#include "intake_validate.h"

#include <stdio.h>
#include <string.h>

#include "kn_uuid.h"

//  Valid UTF-8 without control characters, within max bytes.
static bool
s_clean_text (const char *text, size_t max, bool allow_newlines)
{
    size_t len = strlen (text);
    if (len > max)
        return false;
    const unsigned char *s = (const unsigned char *) text;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f) {
            if (!(allow_newlines && (c == '\n' || c == '\r' || c == '\t')))
                return false;
            i++;
        }
        else if (c < 0x80)
            i++;
        else {
            size_t n = (c >= 0xF0 && c < 0xF5) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC2) ? 2 : 0;
            if (n == 0 || c >= 0xF5 || i + n > len)
                return false;
            for (size_t k = 1; k < n; k++)
                if ((s[i + k] & 0xC0) != 0x80)
                    return false;
            i += n;
        }
    }
    return true;
}

static int
s_text (const char *value, const char *field, size_t min, size_t max, bool newlines,
        kn_error_t *err)
{
    if (!value || strlen (value) < min) {
        if (min <= 1)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                             "%s must be at least %zu bytes", field, min);
    }
    if (strlen (value) > max)
        return kn_error_set (err, KN_E_TOO_LARGE, field, "%s is over %zu bytes", field, max);
    if (!s_clean_text (value, max, newlines))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                             "%s must be UTF-8 text without control characters", field);
    return 0;
}

static int
s_enum (const ProtobufCEnumDescriptor *descriptor, int value, const char *field,
        kn_error_t *err)
{
    if (value == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
    if (!protobuf_c_enum_descriptor_get_value (descriptor, value))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s: unknown value %d",
                             field, value);
    return 0;
}

int
intake_parse_date (const char *text, int *year, int *month, int *day)
{
    if (!text || strlen (text) != 10 || text[4] != '-' || text[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    int y, m, d;
    if (sscanf (text, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > days[m - 1] + (m == 2 && leap))
        return -1;
    *year = y;
    *month = m;
    *day = d;
    return 0;
}

static int
s_languages (char **languages, size_t count, const char *field, kn_error_t *err)
{
    if (count > INTAKE_MAX_LANGUAGES)
        return kn_error_set (err, KN_E_TOO_LARGE, field, "%s: at most %d languages", field,
                             INTAKE_MAX_LANGUAGES);
    for (size_t i = 0; i < count; i++) {
        const char *tag = languages[i];
        size_t len = strlen (tag);
        bool ok = len >= 2 && len <= 35;
        for (size_t k = 0; ok && k < len; k++) {
            char c = tag[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                 || (c == '-' && k > 0 && k + 1 < len && tag[k - 1] != '-');
        }
        if (!ok) {
            char path[128];
            snprintf (path, sizeof path, "%s[%zu]", field, i);
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                                 "%s is not a BCP 47 language tag", path);
        }
    }
    return 0;
}

static int
s_person (const Kinnet__V1__Person *person, const char *field, struct tm *today,
          kn_error_t *err)
{
    char path[128];
    if (!person)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, field, "%s is required", field);
    snprintf (path, sizeof path, "%s.given_name", field);
    if (s_text (person->given_name, path, 1, INTAKE_MAX_NAME, false, err))
        return -1;
    snprintf (path, sizeof path, "%s.family_name", field);
    if (s_text (person->family_name, path, 1, INTAKE_MAX_NAME, false, err))
        return -1;
    snprintf (path, sizeof path, "%s.date_of_birth", field);
    int y, m, d;
    if (!person->date_of_birth || !*person->date_of_birth)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "%s is required", path);
    if (intake_parse_date (person->date_of_birth, &y, &m, &d))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "%s must be a real date as YYYY-MM-DD", path);
    int ty = today->tm_year + 1900, tm = today->tm_mon + 1, td = today->tm_mday;
    if (y > ty || (y == ty && (m > tm || (m == tm && d > td))))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path, "%s is in the future", path);
    int age = ty - y - ((m > tm || (m == tm && d > td)) ? 1 : 0);
    if (age > INTAKE_MAX_CHILD_AGE)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, path,
                             "%s: a referred child must be %d or younger", path,
                             INTAKE_MAX_CHILD_AGE);
    snprintf (path, sizeof path, "%s.languages", field);
    return s_languages (person->languages, person->n_languages, path, err);
}

int
intake_validate_submit (const Kinnet__V1__SubmitReferral *referral, time_t now,
                        kn_error_t *err)
{
    struct tm today;
    gmtime_r (&now, &today);
    if (s_text (referral->idempotency_key, "idempotency_key", 1, INTAKE_MAX_KEY, false, err))
        return -1;
    if (s_person (referral->child, "child", &today, err))
        return -1;
    if (referral->n_siblings > INTAKE_MAX_SIBLINGS)
        return kn_error_set (err, KN_E_TOO_LARGE, "siblings", "at most %d siblings",
                             INTAKE_MAX_SIBLINGS);
    char path[128];
    for (size_t i = 0; i < referral->n_siblings; i++) {
        snprintf (path, sizeof path, "siblings[%zu]", i);
        if (s_person (referral->siblings[i], path, &today, err))
            return -1;
    }
    if (referral->n_guardians > INTAKE_MAX_GUARDIANS)
        return kn_error_set (err, KN_E_TOO_LARGE, "guardians", "at most %d guardians",
                             INTAKE_MAX_GUARDIANS);
    for (size_t i = 0; i < referral->n_guardians; i++) {
        const Kinnet__V1__Guardian *guardian = referral->guardians[i];
        snprintf (path, sizeof path, "guardians[%zu].given_name", i);
        if (s_text (guardian->given_name, path, 1, INTAKE_MAX_NAME, false, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].family_name", i);
        if (s_text (guardian->family_name, path, 1, INTAKE_MAX_NAME, false, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].relationship", i);
        if (s_enum (&kinnet__v1__relationship__descriptor, guardian->relationship, path, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].phone", i);
        if (s_text (guardian->phone, path, 0, 32, false, err))
            return -1;
        snprintf (path, sizeof path, "guardians[%zu].languages", i);
        if (s_languages (guardian->languages, guardian->n_languages, path, err))
            return -1;
    }
    if (referral->n_needs == 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "needs", "at least one need is required");
    if (referral->n_needs > INTAKE_MAX_NEEDS)
        return kn_error_set (err, KN_E_TOO_LARGE, "needs", "at most %d needs",
                             INTAKE_MAX_NEEDS);
    for (size_t i = 0; i < referral->n_needs; i++) {
        snprintf (path, sizeof path, "needs[%zu].category", i);
        if (s_enum (&kinnet__v1__need_category__descriptor, referral->needs[i]->category,
                    path, err))
            return -1;
        snprintf (path, sizeof path, "needs[%zu].description", i);
        if (s_text (referral->needs[i]->description, path, 0, INTAKE_MAX_DESCRIPTION, true,
                    err))
            return -1;
    }
    if (s_enum (&kinnet__v1__urgency__descriptor, referral->urgency, "urgency", err))
        return -1;
    if (s_text (referral->district, "district", 1, INTAKE_MAX_DISTRICT, false, err))
        return -1;
    const Kinnet__V1__LawfulGround *ground = referral->lawful_ground;
    if (!ground)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "lawful_ground",
                             "lawful_ground is required");
    if (s_enum (&kinnet__v1__lawful_basis__descriptor, ground->basis, "lawful_ground.basis",
                err))
        return -1;
    bool consent = ground->basis == KINNET__V1__LAWFUL_BASIS__CONSENT;
    //  The field the basis requires must be there; the other is checked if given.
    if (s_text (ground->consent_reference, "lawful_ground.consent_reference", consent ? 1 : 0,
                INTAKE_MAX_REFERENCE, false, err))
        return -1;
    if (s_text (ground->justification, "lawful_ground.justification",
                consent ? 0 : INTAKE_MIN_JUSTIFICATION, INTAKE_MAX_JUSTIFICATION, true, err))
        return -1;
    return s_text (referral->caseworker_id, "caseworker_id", 0, INTAKE_MAX_REFERENCE, false,
                   err);
}

int
intake_validate_withdraw (const Kinnet__V1__WithdrawReferral *withdraw, kn_error_t *err)
{
    if (s_text (withdraw->idempotency_key, "idempotency_key", 1, INTAKE_MAX_KEY, false, err))
        return -1;
    if (!kn_uuid_valid (withdraw->referral_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "referral_id",
                             "referral_id must be a UUID");
    if (s_text (withdraw->reason, "reason", 1, INTAKE_MAX_REASON, true, err))
        return -1;
    return s_text (withdraw->caseworker_id, "caseworker_id", 0, INTAKE_MAX_REFERENCE, false,
                   err);
}

int
intake_validate_get (const Kinnet__V1__GetReferral *get, kn_error_t *err)
{
    if (!kn_uuid_valid (get->referral_id))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "referral_id",
                             "referral_id must be a UUID");
    return s_text (get->caseworker_id, "caseworker_id", 0, INTAKE_MAX_REFERENCE, false, err);
}
