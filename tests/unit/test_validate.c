/*  intake_validate: each rule, with the field path it reports. */
#include <criterion/criterion.h>
#include <string.h>

#include "intake_validate.h"
#include "kn_test.h"

//  2026-11-22 12:00 UTC, so ages and "future" are stable.
#define TODAY ((time_t) 1795348800)

static Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
static Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
static Kinnet__V1__Need *needs[] = {&need};
static Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
static Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
static char *languages[] = {"ar", "en-GB"};

static void
s_valid (void)
{
    child = (Kinnet__V1__Person) KINNET__V1__PERSON__INIT;
    child.given_name = "Amira";
    child.family_name = "Haddad";
    child.date_of_birth = "2016-04-09";
    child.languages = languages;
    child.n_languages = 2;
    need = (Kinnet__V1__Need) KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__HOUSING_NEED;
    need.description = "Family in temporary accommodation.";
    ground = (Kinnet__V1__LawfulGround) KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__CONSENT;
    ground.consent_reference = "C-1";
    referral = (Kinnet__V1__SubmitReferral) KINNET__V1__SUBMIT_REFERRAL__INIT;
    referral.idempotency_key = "SCH-1";
    referral.child = &child;
    referral.needs = needs;
    referral.n_needs = 1;
    referral.urgency = KINNET__V1__URGENCY__ROUTINE;
    referral.district = "north";
    referral.lawful_ground = &ground;
}

static void
s_expect (kn_code_t code, const char *field)
{
    kn_error_t err;
    kn_error_clear (&err);
    cr_assert_eq (intake_validate_submit (&referral, TODAY, &err), -1, "expected %s to fail",
                  field);
    cr_assert_eq (err.code, code, "%s: code %s", field, kn_code_name (err.code));
    cr_assert_str_eq (err.field, field);
    cr_assert (strlen (err.message) > 0);
}

TestSuite (validate, .init = s_valid, .fini = kn_test_no_leaks);

Test (validate, valid_referral_passes)
{
    kn_error_t err;
    cr_assert_eq (intake_validate_submit (&referral, TODAY, &err), 0, "%s", err.message);
}

Test (validate, missing_child)
{
    referral.child = NULL;
    s_expect (KN_E_INVALID_ARGUMENT, "child");
}

Test (validate, impossible_dates)
{
    const char *bad[] = {"2019-02-29", "2016-13-01", "2016-04-31", "16-04-09", "2016/04/09",
                         "2016-4-9", "abcd-ef-gh"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        child.date_of_birth = (char *) bad[i];
        s_expect (KN_E_INVALID_ARGUMENT, "child.date_of_birth");
    }
    child.date_of_birth = "2020-02-29";   // a leap day is real
    kn_error_t err;
    cr_assert_eq (intake_validate_submit (&referral, TODAY, &err), 0);
}

Test (validate, future_and_too_old)
{
    child.date_of_birth = "2026-11-23";
    s_expect (KN_E_INVALID_ARGUMENT, "child.date_of_birth");
    child.date_of_birth = "1990-01-01";
    s_expect (KN_E_INVALID_ARGUMENT, "child.date_of_birth");
}

Test (validate, empty_needs_and_unknown_enums)
{
    referral.n_needs = 0;
    s_expect (KN_E_INVALID_ARGUMENT, "needs");
    referral.n_needs = 1;
    need.category = 999;
    s_expect (KN_E_INVALID_ARGUMENT, "needs[0].category");
    need.category = KINNET__V1__NEED_CATEGORY__HOUSING_NEED;
    referral.urgency = 0;
    s_expect (KN_E_INVALID_ARGUMENT, "urgency");
    referral.urgency = 77;
    s_expect (KN_E_INVALID_ARGUMENT, "urgency");
}

Test (validate, strings_over_limits_and_bad_text)
{
    char long_name[INTAKE_MAX_NAME + 2];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    child.given_name = long_name;
    s_expect (KN_E_TOO_LARGE, "child.given_name");
    child.given_name = "Am\x01ra";
    s_expect (KN_E_INVALID_ARGUMENT, "child.given_name");
    child.given_name = "Am\xc3ra";   // truncated UTF-8
    s_expect (KN_E_INVALID_ARGUMENT, "child.given_name");
    child.given_name = "";
    s_expect (KN_E_INVALID_ARGUMENT, "child.given_name");
    child.given_name = "Amira";
    static char description[INTAKE_MAX_DESCRIPTION + 2];
    memset (description, 'x', sizeof description - 1);
    need.description = description;
    s_expect (KN_E_TOO_LARGE, "needs[0].description");
}

Test (validate, languages_are_tags)
{
    char *bad[] = {"english please"};
    child.languages = bad;
    child.n_languages = 1;
    s_expect (KN_E_INVALID_ARGUMENT, "child.languages[0]");
}

Test (validate, sibling_paths)
{
    Kinnet__V1__Person sibling = KINNET__V1__PERSON__INIT;
    sibling.given_name = "Omar";
    sibling.family_name = "Haddad";
    sibling.date_of_birth = "2018-02-30";
    Kinnet__V1__Person *siblings[] = {&child, &sibling};
    referral.siblings = siblings;
    referral.n_siblings = 2;
    s_expect (KN_E_INVALID_ARGUMENT, "siblings[1].date_of_birth");
}

Test (validate, lawful_ground_rules)
{
    referral.lawful_ground = NULL;
    s_expect (KN_E_INVALID_ARGUMENT, "lawful_ground");
    referral.lawful_ground = &ground;
    ground.consent_reference = "";
    s_expect (KN_E_INVALID_ARGUMENT, "lawful_ground.consent_reference");
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "short";
    s_expect (KN_E_INVALID_ARGUMENT, "lawful_ground.justification");
    ground.justification = "Section 17 assessment of a child in need.";
    kn_error_t err;
    cr_assert_eq (intake_validate_submit (&referral, TODAY, &err), 0, "%s", err.message);
}

Test (validate, guardian_relationship_required)
{
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Layla";
    guardian.family_name = "Haddad";
    Kinnet__V1__Guardian *guardians[] = {&guardian};
    referral.guardians = guardians;
    referral.n_guardians = 1;
    s_expect (KN_E_INVALID_ARGUMENT, "guardians[0].relationship");
}

Test (validate, withdraw_and_get)
{
    kn_error_t err;
    Kinnet__V1__WithdrawReferral withdraw = KINNET__V1__WITHDRAW_REFERRAL__INIT;
    withdraw.idempotency_key = "w-1";
    withdraw.referral_id = "not-a-uuid";
    withdraw.reason = "Family moved away";
    cr_assert_eq (intake_validate_withdraw (&withdraw, &err), -1);
    cr_assert_str_eq (err.field, "referral_id");
    withdraw.referral_id = "6f1c3a52-1b7e-4c1e-9d8a-0e5b2f3c4d5e";
    withdraw.reason = "";
    cr_assert_eq (intake_validate_withdraw (&withdraw, &err), -1);
    cr_assert_str_eq (err.field, "reason");
    withdraw.reason = "Family moved away";
    cr_assert_eq (intake_validate_withdraw (&withdraw, &err), 0);
    Kinnet__V1__GetReferral get = KINNET__V1__GET_REFERRAL__INIT;
    get.referral_id = "";
    cr_assert_eq (intake_validate_get (&get, &err), -1);
    cr_assert_str_eq (err.field, "referral_id");
}
