/*  The consent policy against a real PostgreSQL: the decision matrix (recipient x
    category x purpose x period x status x basis), both age configurations, partial
    withdrawal, expiry, the override lifecycle with an overdue review, and
    withdrawals racing disclosures. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consent_store.h"
#include "kn_agency.h"
#include "kn_clock.h"
#include "kn_subject.h"
#include "kn_test.h"

static char *url;
static kn_db_t *db;             // as kinnet_consent
static kn_crypto_t *crypto;
static consent_store_t *store;
static char recorder[KN_UUID_STR], school[KN_UUID_STR], health[KN_UUID_STR],
    outsider[KN_UUID_STR], dpo[KN_UUID_STR];
static uint8_t key[32] = {42};
static char *recorder_override;   // records as this agency instead, when set
static const char *controller;    // whose data s_decide asks about: `recorder` unless set

static void
s_agency (const char *name, const char *sector, char id[KN_UUID_STR])
{
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    zcert_t *cert = zcert_new ();
    cr_assert_eq (kn_agency_add (admin, name, sector, "north", zcert_public_txt (cert), id, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
    kn_db_destroy (&admin);
}

static void
s_setup (void)
{
    url = kn_test_db_create ();
    //  Agencies are in registered districts (migration 0048).
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('north')"));
    s_agency ("Social care", "social_services", recorder);
    s_agency ("School", "school", school);
    s_agency ("Clinic", "health", health);
    s_agency ("Elsewhere", "housing", outsider);
    s_agency ("DPO", "local_authority", dpo);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, dpo, "data_protection_officer", true, &err), 0);
    kn_db_destroy (&admin);
    db = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (db, "%s", err.message);
    crypto = kn_crypto_new (key);
    store = consent_store_new (db, crypto, &err);
    cr_assert (store, "%s", err.message);
}

static void
s_teardown (void)
{
    consent_store_destroy (&store);
    kn_crypto_destroy (&crypto);
    kn_db_destroy (&db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (policy, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  A date of birth `years` old today (minus a day, so the birthday has passed).
static void
s_dob (int years, char out[16])
{
    time_t now = time (NULL) - 86400;
    struct tm tm;
    gmtime_r (&now, &tm);
    snprintf (out, 16, "%04d-%02d-%02d", (tm.tm_year + 1900 - years) % 10000, (tm.tm_mon + 1) % 100,
              tm.tm_mday % 100);
}

typedef struct {
    char *agencies[4];
    size_t n_agencies;
    Kinnet__V1__AgencySector sectors[4];
    size_t n_sectors;
    Kinnet__V1__DataCategory categories[8];
    size_t n_categories;
    Kinnet__V1__Purpose purposes[4];
    size_t n_purposes;
} scope_t;

static void
s_scope (Kinnet__V1__Scope *out, scope_t *in)
{
    kinnet__v1__scope__init (out);
    out->agencies = in->agencies;
    out->n_agencies = in->n_agencies;
    out->sectors = in->sectors;
    out->n_sectors = in->n_sectors;
    out->categories = in->categories;
    out->n_categories = in->n_categories;
    out->purposes = in->purposes;
    out->n_purposes = in->n_purposes;
}

//  Record a consent; returns its id (static buffer per call site is fine in tests).
static void
s_consent (const char *given, int age, int giver, scope_t *in, int64_t from, int64_t until,
           char consent_id[KN_UUID_STR], char subject_id[KN_UUID_STR])
{
    static int counter;
    char key_text[32], dob[16];
    snprintf (key_text, sizeof key_text, "c-%d", ++counter);
    s_dob (age, dob);
    Kinnet__V1__Person person = KINNET__V1__PERSON__INIT;
    person.given_name = (char *) given;
    person.family_name = "Mensah";
    person.date_of_birth = dob;
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.person = &person;
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Abena";
    guardian.family_name = "Mensah";
    guardian.relationship = KINNET__V1__RELATIONSHIP__MOTHER;
    guardian.parental_responsibility = true;
    Kinnet__V1__Scope scope;
    s_scope (&scope, in);
    Kinnet__V1__Timestamp ts_from = KINNET__V1__TIMESTAMP__INIT, ts_until = KINNET__V1__TIMESTAMP__INIT;
    ts_from.seconds = from;
    ts_until.seconds = until;
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = key_text;
    record.subject = &subject;
    record.given_by = giver;
    record.guardian = giver == KINNET__V1__CONSENT_GIVER__GUARDIAN ? &guardian : NULL;
    record.scope = &scope;
    record.valid_from = from ? &ts_from : NULL;
    record.valid_until = until ? &ts_until : NULL;
    record.method = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    record.evidence_reference = "DOC-1";
    record.privacy_notice_version = "2026-09";
    record.privacy_notice_language = "en";
    Kinnet__V1__Consent *consent = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_record (store, recorder_override ? recorder_override : recorder,
                                        &record, &consent, &err),
                  0, "%s", err.message);
    snprintf (consent_id, KN_UUID_STR, "%s", consent->consent_id);
    snprintf (subject_id, KN_UUID_STR, "%s", consent->subject_id);
    kinnet__v1__consent__free_unpacked (consent, NULL);
}

static kn_policy_decision_t
s_decide (const kn_policy_config_t *config, const char *subject, const char *agency,
          int category, int purpose)
{
    kn_policy_decision_t decision;
    kn_error_t err;
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0);
    cr_assert_eq (kn_consent_policy_decide (db, crypto, config, subject, agency,
                                            controller ? controller : recorder, &category, 1,
                                            purpose, &decision, &err),
                  0, "%s", err.message);
    kn_db_exec (db, "ROLLBACK", &err);
    return decision;
}

static bool
s_permitted (const char *subject, const char *agency, int category, int purpose)
{
    kn_policy_config_t config = {13, KN_DISAGREE_CHILD};
    return s_decide (&config, subject, agency, category, purpose).categories[0].permitted;
}

#define IDENTITY KINNET__V1__DATA_CATEGORY__IDENTITY_AND_CONTACT
#define HEALTH KINNET__V1__DATA_CATEGORY__MENTAL_HEALTH_DATA
#define NARRATIVE KINNET__V1__DATA_CATEGORY__REFERRAL_NARRATIVE
#define REFERRAL KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT
#define STATISTICS KINNET__V1__PURPOSE__ANONYMISED_STATISTICS

Test (policy, decision_matrix_recipient_category_purpose_period)
{
    scope_t in = {.agencies = {school}, .n_agencies = 1,
                  .sectors = {KINNET__V1__AGENCY_SECTOR__HEALTH}, .n_sectors = 1,
                  .categories = {IDENTITY, NARRATIVE}, .n_categories = 2,
                  .purposes = {REFERRAL}, .n_purposes = 1};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    s_consent ("Kofi", 8, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, consent, subject);
    //  recipient: named agency, by sector, neither
    cr_assert (s_permitted (subject, school, IDENTITY, REFERRAL));
    cr_assert (s_permitted (subject, health, IDENTITY, REFERRAL));
    cr_assert_not (s_permitted (subject, outsider, IDENTITY, REFERRAL));
    //  category and purpose outside the scope
    cr_assert_not (s_permitted (subject, school, HEALTH, REFERRAL));
    cr_assert_not (s_permitted (subject, school, IDENTITY, STATISTICS));
    //  the ground is named
    kn_policy_config_t config = {13, KN_DISAGREE_CHILD};
    kn_policy_decision_t d = s_decide (&config, subject, school, NARRATIVE, REFERRAL);
    cr_assert_eq (d.decision, KINNET__V1__DECISION__PERMITTED);
    cr_assert_eq (d.categories[0].basis, KINNET__V1__LAWFUL_BASIS__CONSENT);
    cr_assert_str_eq (d.categories[0].ground_id, consent);
    d = s_decide (&config, subject, outsider, NARRATIVE, REFERRAL);
    cr_assert_eq (d.decision, KINNET__V1__DECISION__DENIED);
    cr_assert (strstr (d.categories[0].reason, "no consent"), "%s", d.categories[0].reason);

    //  period: not yet valid, expired (set in the past directly: the API refuses it)
    char later[KN_UUID_STR], later_subject[KN_UUID_STR];
    s_consent ("Ama", 8, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, time (NULL) + 86400,
               time (NULL) + 2 * 86400, later, later_subject);
    cr_assert_not (s_permitted (later_subject, school, IDENTITY, REFERRAL));
    char sql[200];
    snprintf (sql, sizeof sql,
              "UPDATE consent.record SET valid_from = now () - interval '2 days',"
              " valid_until = now () - interval '1 day' WHERE id = '%s'",
              later);
    free (kn_test_sql (url, sql));
    cr_assert_not (s_permitted (later_subject, school, IDENTITY, REFERRAL));
    snprintf (sql, sizeof sql,
              "UPDATE consent.record SET valid_until = now () + interval '1 day' WHERE id = '%s'",
              later);
    free (kn_test_sql (url, sql));
    cr_assert (s_permitted (later_subject, school, IDENTITY, REFERRAL));
}

Test (policy, partial_and_full_withdrawal)
{
    scope_t in = {.agencies = {school, health}, .n_agencies = 2,
                  .categories = {IDENTITY, NARRATIVE}, .n_categories = 2,
                  .purposes = {REFERRAL}, .n_purposes = 1};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    s_consent ("Yaw", 9, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, consent, subject);
    //  Withdraw the narrative for the school only.
    Kinnet__V1__DataCategory narrative[] = {NARRATIVE};
    char *agencies[] = {school};
    Kinnet__V1__Scope part = KINNET__V1__SCOPE__INIT;
    part.categories = narrative;
    part.n_categories = 1;
    part.agencies = agencies;
    part.n_agencies = 1;
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "w-part";
    withdraw.consent_id = consent;
    withdraw.scope = &part;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__VERBAL_WITNESSED;
    Kinnet__V1__Consent *after = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_withdraw (store, recorder, &withdraw, &after, &err), 0, "%s",
                  err.message);
    cr_assert_eq (after->status, KINNET__V1__CONSENT_STATUS__PARTLY_WITHDRAWN);
    kinnet__v1__consent__free_unpacked (after, NULL);
    cr_assert_not (s_permitted (subject, school, NARRATIVE, REFERRAL));
    cr_assert (s_permitted (subject, school, IDENTITY, REFERRAL));
    cr_assert (s_permitted (subject, health, NARRATIVE, REFERRAL));
    //  Then everything.
    withdraw.idempotency_key = "w-all";
    withdraw.scope = NULL;
    cr_assert_eq (consent_store_withdraw (store, recorder, &withdraw, &after, &err), 0);
    cr_assert_eq (after->status, KINNET__V1__CONSENT_STATUS__FULLY_WITHDRAWN);
    kinnet__v1__consent__free_unpacked (after, NULL);
    cr_assert_not (s_permitted (subject, health, NARRATIVE, REFERRAL));
    cr_assert_not (s_permitted (subject, school, IDENTITY, REFERRAL));
    //  Withdrawing again: conflict, nothing written.
    withdraw.idempotency_key = "w-again";
    cr_assert_eq (consent_store_withdraw (store, recorder, &withdraw, &after, &err), -1);
    cr_assert_eq (err.code, KN_E_CONFLICT);
    char *rows = kn_test_sql (url, "SELECT count (*) FROM consent.withdrawal");
    cr_assert_str_eq (rows, "2");
    free (rows);
}

Test (policy, child_and_guardian_under_both_age_settings)
{
    scope_t in = {.agencies = {school}, .n_agencies = 1, .categories = {IDENTITY},
                  .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    kn_policy_config_t at13 = {13, KN_DISAGREE_CHILD}, at16 = {16, KN_DISAGREE_CHILD};
    kn_policy_config_t both = {13, KN_DISAGREE_BOTH};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    //  A 14-year-old's own consent counts from 13, not from 16.
    s_consent ("Esi", 14, KINNET__V1__CONSENT_GIVER__CHILD, &in, 0, 0, consent, subject);
    cr_assert (s_decide (&at13, subject, school, IDENTITY, REFERRAL).categories[0].permitted);
    kn_policy_decision_t d = s_decide (&at16, subject, school, IDENTITY, REFERRAL);
    cr_assert_not (d.categories[0].permitted);
    cr_assert (strstr (d.categories[0].reason, "guardian"), "%s", d.categories[0].reason);
    //  Rule "both": the child's alone is not enough; with a guardian's it is.
    cr_assert_not (s_decide (&both, subject, school, IDENTITY, REFERRAL).categories[0].permitted);
    char guardian_consent[KN_UUID_STR], same[KN_UUID_STR];
    s_consent ("Esi", 14, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, guardian_consent, same);
    cr_assert_str_eq (same, subject);
    cr_assert (s_decide (&both, subject, school, IDENTITY, REFERRAL).categories[0].permitted);
    //  The child withdraws: under rule "child" the guardian's consent no longer
    //  carries it; at 16 (child not yet deciding) the guardian's still does.
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "w-child";
    withdraw.consent_id = consent;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__VERBAL_WITNESSED;
    Kinnet__V1__Consent *after = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_withdraw (store, recorder, &withdraw, &after, &err), 0);
    kinnet__v1__consent__free_unpacked (after, NULL);
    d = s_decide (&at13, subject, school, IDENTITY, REFERRAL);
    cr_assert_not (d.categories[0].permitted);
    cr_assert (strstr (d.categories[0].reason, "withdrew"), "%s", d.categories[0].reason);
    cr_assert (s_decide (&at16, subject, school, IDENTITY, REFERRAL).categories[0].permitted);
    //  A 9-year-old's own consent does not count; a guardian's does.
    char young[KN_UUID_STR], young_subject[KN_UUID_STR];
    s_consent ("Kwame", 9, KINNET__V1__CONSENT_GIVER__CHILD, &in, 0, 0, young, young_subject);
    cr_assert_not (s_decide (&at13, young_subject, school, IDENTITY, REFERRAL).categories[0].permitted);
}

Test (policy, statutory_basis_and_health_condition)
{
    char dob[16];
    s_dob (11, dob);
    Kinnet__V1__Person person = KINNET__V1__PERSON__INIT;
    person.given_name = "Afua";
    person.family_name = "Boateng";
    person.date_of_birth = dob;
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.person = &person;
    scope_t in = {.sectors = {KINNET__V1__AGENCY_SECTOR__SCHOOL}, .n_sectors = 1,
                  .categories = {IDENTITY, HEALTH}, .n_categories = 2,
                  .purposes = {KINNET__V1__PURPOSE__SAFEGUARDING}, .n_purposes = 1};
    Kinnet__V1__Scope scope;
    s_scope (&scope, &in);
    Kinnet__V1__RecordBasis basis = KINNET__V1__RECORD_BASIS__INIT;
    basis.idempotency_key = "b-1";
    basis.subject = &subject;
    basis.basis = KINNET__V1__LAWFUL_BASIS__LEGAL_OBLIGATION;
    basis.special_condition = KINNET__V1__SPECIAL_CATEGORY_CONDITION__SAFEGUARDING_OF_CHILDREN;
    basis.scope = &scope;
    basis.justification = "Section 47 enquiry: information sharing is a legal duty.";
    Kinnet__V1__BasisRecorded *recorded = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_basis (store, recorder, &basis, &recorded, &err), 0, "%s",
                  err.message);
    kn_policy_config_t config = {13, KN_DISAGREE_CHILD};
    kn_policy_decision_t d = s_decide (&config, recorded->subject_id, school, HEALTH,
                                       KINNET__V1__PURPOSE__SAFEGUARDING);
    cr_assert (d.categories[0].permitted);
    cr_assert_eq (d.categories[0].basis, KINNET__V1__LAWFUL_BASIS__LEGAL_OBLIGATION);
    cr_assert_str_eq (d.categories[0].ground_id, recorded->basis_id);
    cr_assert_not (s_permitted (recorded->subject_id, health, IDENTITY,
                                KINNET__V1__PURPOSE__SAFEGUARDING));
    kinnet__v1__basis_recorded__free_unpacked (recorded, NULL);
}

Test (policy, override_lifecycle_with_overdue_review)
{
    scope_t none = {.agencies = {school}, .n_agencies = 1, .categories = {IDENTITY},
                    .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    s_consent ("Kojo", 7, KINNET__V1__CONSENT_GIVER__GUARDIAN, &none, 0, 0, consent, subject);
    cr_assert_not (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));

    scope_t in = {.agencies = {outsider}, .n_agencies = 1, .categories = {NARRATIVE},
                  .n_categories = 1};
    Kinnet__V1__Scope scope;
    s_scope (&scope, &in);
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = subject;
    Kinnet__V1__RequestOverride request = KINNET__V1__REQUEST_OVERRIDE__INIT;
    request.idempotency_key = "o-1";
    request.subject = &ref;
    request.reason = KINNET__V1__OVERRIDE_REASON__RISK_OF_SIGNIFICANT_HARM;
    request.details = "Disclosure by the child at school; parent implicated.";
    request.approver_role = KINNET__V1__APPROVER_ROLE__DESIGNATED_SAFEGUARDING_LEAD;
    request.approver_id = "dsl-3";
    request.scope = &scope;
    Kinnet__V1__Override *override = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_override (store, recorder, &request, &override, &err), 0, "%s",
                  err.message);
    char id[KN_UUID_STR];
    snprintf (id, sizeof id, "%s", override->override_id);
    cr_assert_eq (override->expires_at->seconds - override->requested_at->seconds, 72 * 3600);
    kinnet__v1__override__free_unpacked (override, NULL);
    cr_assert (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));

    //  Overdue: its review date passed with no review.
    char sql[200];
    snprintf (sql, sizeof sql,
              "UPDATE consent.override SET review_due_at = now () - interval '1 hour'"
              " WHERE id = '%s'",
              id);
    free (kn_test_sql (url, sql));
    Kinnet__V1__OverrideList *list = NULL;
    cr_assert_eq (consent_store_overrides (store, dpo, true, &list, &err), 0);
    cr_assert_eq (list->n_overrides, 1);
    cr_assert (list->overrides[0]->review_overdue);
    kinnet__v1__override_list__free_unpacked (list, NULL);
    //  An agency never reviews its own override, whatever its role.
    request.idempotency_key = "o-own";
    in.agencies[0] = school;   // a different recipient, so the first one stays the test
    s_scope (&scope, &in);
    Kinnet__V1__Override *own = NULL;
    cr_assert_eq (consent_store_override (store, dpo, &request, &own, &err), 0, "%s", err.message);
    Kinnet__V1__ReviewOverride self_review = KINNET__V1__REVIEW_OVERRIDE__INIT;
    self_review.idempotency_key = "r-own";
    self_review.override_id = own->override_id;
    self_review.decision = KINNET__V1__REVIEW_DECISION__UPHELD;
    self_review.notes = "Looks fine to me.";
    Kinnet__V1__Override *reviewed = NULL;
    cr_assert_eq (consent_store_review (store, dpo, &self_review, &reviewed, &err), -1);
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED);
    kinnet__v1__override__free_unpacked (own, NULL);
    //  Only the data-protection role may review.
    Kinnet__V1__ReviewOverride review = KINNET__V1__REVIEW_OVERRIDE__INIT;
    review.idempotency_key = "r-1";
    review.override_id = id;
    review.decision = KINNET__V1__REVIEW_DECISION__NOT_JUSTIFIED;
    review.notes = "Threshold not met; family should have been asked.";
    cr_assert_eq (consent_store_review (store, recorder, &review, &override, &err), -1);
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED);
    cr_assert_eq (consent_store_review (store, dpo, &review, &override, &err), 0, "%s",
                  err.message);
    cr_assert_eq (override->review_decision, KINNET__V1__REVIEW_DECISION__NOT_JUSTIFIED);
    kinnet__v1__override__free_unpacked (override, NULL);
    //  Found unjustified: it stops permitting at once; no longer open.
    cr_assert_not (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));
    cr_assert_eq (consent_store_overrides (store, dpo, true, &list, &err), 0);
    cr_assert_eq (list->n_overrides, 1);   // only the DPO's own, still open
    cr_assert_str_neq (list->overrides[0]->override_id, id);
    kinnet__v1__override_list__free_unpacked (list, NULL);
}

Test (policy, bad_input_writes_nothing)
{
    kn_error_t err;
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = "00000000-0000-4000-8000-000000000001";
    scope_t in = {.agencies = {school}, .n_agencies = 1, .categories = {IDENTITY},
                  .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    Kinnet__V1__Scope scope;
    s_scope (&scope, &in);
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = "bad-1";
    record.subject = &ref;
    record.given_by = KINNET__V1__CONSENT_GIVER__CHILD;
    record.scope = &scope;
    record.method = KINNET__V1__COLLECTION_METHOD__DIGITAL;
    record.evidence_reference = "E";
    record.privacy_notice_version = "1";
    record.privacy_notice_language = "en";
    Kinnet__V1__Consent *consent = NULL;
    cr_assert_eq (consent_store_record (store, recorder, &record, &consent, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    cr_assert_str_eq (err.field, "subject.subject_id");
    //  A recipient that is not registered.
    char dob[16];
    s_dob (10, dob);
    Kinnet__V1__Person person = KINNET__V1__PERSON__INIT;
    person.given_name = "Nana";
    person.family_name = "Owusu";
    person.date_of_birth = dob;
    ref.subject_id = "";
    ref.person = &person;
    in.agencies[0] = "00000000-0000-4000-8000-000000000002";
    s_scope (&scope, &in);
    cr_assert_eq (consent_store_record (store, recorder, &record, &consent, &err), -1);
    cr_assert_str_eq (err.field, "scope.agencies");
    char *count = kn_test_sql (url, "SELECT (SELECT count (*) FROM consent.record)"
                                    " + (SELECT count (*) FROM core.subject)"
                                    " + (SELECT count (*) FROM consent.idempotency)");
    cr_assert_str_eq (count, "0", "a refused request left rows behind");
    free (count);

    //  A withdrawal by an agency with no standing.
    in.agencies[0] = school;
    char consent_id[KN_UUID_STR], subject[KN_UUID_STR];
    s_consent ("Adjoa", 10, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, consent_id, subject);
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "w-stranger";
    withdraw.consent_id = consent_id;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    cr_assert_eq (consent_store_withdraw (store, outsider, &withdraw, &consent, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);   // not even its existence is revealed
    count = kn_test_sql (url, "SELECT count (*) FROM consent.withdrawal");
    cr_assert_str_eq (count, "0");
    free (count);
    //  Recording a consent of one's own gives standing on the subject, but not a
    //  view of other agencies' consents about them.
    Kinnet__V1__ConsentList *visible = NULL;
    char own_consent[KN_UUID_STR], same_subject[KN_UUID_STR];
    consent_store_t *as_outsider = store;   // same store; the caller is a parameter
    {
        scope_t mine = {.agencies = {outsider}, .n_agencies = 1, .categories = {IDENTITY},
                        .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
        char *saved = recorder_override;
        recorder_override = outsider;
        s_consent ("Adjoa", 10, KINNET__V1__CONSENT_GIVER__GUARDIAN, &mine, 0, 0, own_consent,
                   same_subject);
        recorder_override = saved;
    }
    cr_assert_str_eq (same_subject, subject);
    cr_assert_eq (consent_store_list (as_outsider, outsider, subject, &visible, &err), 0);
    cr_assert_eq (visible->n_consents, 1);
    cr_assert_str_eq (visible->consents[0]->consent_id, own_consent);
    kinnet__v1__consent_list__free_unpacked (visible, NULL);
    cr_assert_eq (consent_store_get (store, outsider, consent_id, &consent, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    //  The named recipient sees it but may not withdraw it (it could be the very
    //  agency the family is protecting itself from); the recorder may, and so may a
    //  data-protection officer.
    cr_assert_eq (consent_store_withdraw (store, school, &withdraw, &consent, &err), -1);
    cr_assert_eq (err.code, KN_E_PERMISSION_DENIED);
    withdraw.idempotency_key = "w-dpo";
    cr_assert_eq (consent_store_withdraw (store, dpo, &withdraw, &consent, &err), 0, "%s",
                  err.message);
    kinnet__v1__consent__free_unpacked (consent, NULL);
    //  The recorder is told that another agency recorded the withdrawal.
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.outbox WHERE topic = 'consent.withdrawn'"
              " AND aggregate_id = '%s'",
              consent_id);
    cr_assert_eq (kn_test_count (url, sql), 2);   // the withdrawal itself, the recorder
}

//  -------------------------------------------------------------------------
//  Withdrawal against disclosures, concurrently.

#define DISCLOSERS 3

static char race_subject[KN_UUID_STR], race_consent[KN_UUID_STR];
static atomic_bool race_stop;
static _Atomic int64_t withdrawal_committed_ns;
static _Atomic int64_t late_commits;
static atomic_int permitted_total;

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *
s_discloser (void *arg)
{
    (void) arg;
    kn_error_t err;
    kn_db_t *session = kn_db_new (url, "kinnet_intake", &err);
    kn_consent_policy_prepare (session, &err);
    kn_subject_prepare (session, &err);
    kn_crypto_t *own = kn_crypto_new (key);
    kn_policy_config_t config = {13, KN_DISAGREE_CHILD};
    int category = NARRATIVE;
    while (!atomic_load (&race_stop)) {
        kn_policy_decision_t decision;
        kn_db_begin_write (session, NULL, &err);   // it may log a disclosure
        if (kn_consent_policy_decide (session, own, &config, race_subject, school, recorder,
                                      &category, 1, REFERRAL, &decision, &err)
            || (decision.categories[0].permitted
                && kn_consent_policy_record (session, &decision, race_subject, school, REFERRAL,
                                             "test", NULL, &err))) {
            kn_db_exec (session, "ROLLBACK", &err);
            continue;
        }
        kn_db_exec (session, "COMMIT", &err);
        int64_t committed = s_now_ns ();
        if (decision.categories[0].permitted) {
            atomic_fetch_add (&permitted_total, 1);
            int64_t withdrawn = atomic_load (&withdrawal_committed_ns);
            //  A permitted disclosure whose COMMIT returned after the withdrawal's did.
            if (withdrawn && committed > withdrawn)
                atomic_fetch_add (&late_commits, 1);
        }
    }
    kn_crypto_destroy (&own);
    kn_db_destroy (&session);
    return NULL;
}

Test (policy, no_disclosure_commits_after_a_withdrawal)
{
    scope_t in = {.agencies = {school}, .n_agencies = 1, .categories = {NARRATIVE},
                  .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    s_consent ("Akosua", 8, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, race_consent,
               race_subject);
    pthread_t threads[DISCLOSERS];
    for (int i = 0; i < DISCLOSERS; i++)
        pthread_create (&threads[i], NULL, s_discloser, NULL);
    //  Let disclosures flow, then withdraw in the middle of them.
    while (atomic_load (&permitted_total) < 50)
        zclock_sleep (1);   // polls the disclosers' progress counter
    Kinnet__V1__WithdrawConsent withdraw = KINNET__V1__WITHDRAW_CONSENT__INIT;
    withdraw.idempotency_key = "w-race";
    withdraw.consent_id = race_consent;
    withdraw.channel = KINNET__V1__COLLECTION_METHOD__DIGITAL;
    Kinnet__V1__Consent *after = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_withdraw (store, recorder, &withdraw, &after, &err), 0, "%s",
                  err.message);
    atomic_store (&withdrawal_committed_ns, s_now_ns ());
    kinnet__v1__consent__free_unpacked (after, NULL);
    int before = atomic_load (&permitted_total);
    //  Keep disclosing for a while after the withdrawal.
    int64_t until = s_now_ns () + 500000000;
    while (s_now_ns () < until)
        zclock_sleep (10);
    atomic_store (&race_stop, true);
    for (int i = 0; i < DISCLOSERS; i++)
        pthread_join (threads[i], NULL);
    cr_assert_eq (atomic_load (&late_commits), 0,
                  "%ld disclosures committed after the withdrawal had", (long) late_commits);
    cr_assert_eq (atomic_load (&permitted_total), before,
                  "disclosures were permitted after the withdrawal");
    //  Every recorded disclosure under the consent precedes the withdrawal.
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.disclosure d, consent.withdrawal w"
              " WHERE d.ground_id = '%s' AND w.consent_id = d.ground_id AND d.at > w.at",
              race_consent);
    char *late = kn_test_sql (url, sql);
    cr_assert_str_eq (late, "0");
    free (late);
    //  The school received data under it, so it is told: an event addressed to it.
    snprintf (sql, sizeof sql,
              "SELECT count (*) FROM core.outbox WHERE topic = 'consent.withdrawn'"
              " AND aggregate_id = '%s'",
              race_consent);
    char *events = kn_test_sql (url, sql);
    cr_assert_str_eq (events, "2", "expected the withdrawal event and one for the school");
    free (events);
}

//  A child (given name, age) whose only consent is to the school, and an override of
//  one hour letting the outsider read the narrative; its subject id into subject.
static Kinnet__V1__Override *
s_hour_override (const char *given, int age, const char *idempotency_key,
                 char subject[KN_UUID_STR])
{
    scope_t none = {.agencies = {school}, .n_agencies = 1, .categories = {IDENTITY},
                    .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    char consent[KN_UUID_STR];
    s_consent (given, age, KINNET__V1__CONSENT_GIVER__GUARDIAN, &none, 0, 0, consent, subject);
    scope_t in = {.agencies = {outsider}, .n_agencies = 1, .categories = {NARRATIVE},
                  .n_categories = 1};
    Kinnet__V1__Scope scope;
    s_scope (&scope, &in);
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = subject;
    Kinnet__V1__RequestOverride request = KINNET__V1__REQUEST_OVERRIDE__INIT;
    request.idempotency_key = (char *) idempotency_key;
    request.subject = &ref;
    request.reason = KINNET__V1__OVERRIDE_REASON__IMMEDIATE_DANGER;
    request.details = "Child left alone overnight; police attending now.";
    request.approver_role = KINNET__V1__APPROVER_ROLE__DESIGNATED_SAFEGUARDING_LEAD;
    request.approver_id = "dsl-9";
    request.scope = &scope;
    request.expires_in_hours = 1;
    Kinnet__V1__Override *override = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_override (store, recorder, &request, &override, &err), 0, "%s",
                  err.message);
    return override;
}

Test (policy, an_expired_override_permits_nothing)
{
    char subject[KN_UUID_STR];
    Kinnet__V1__Override *override = s_hour_override ("Ama", 9, "o-expiring", subject);
    cr_assert (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));
    //  The hour passes (no review needed for it to stop).
    char sql[200];
    snprintf (sql, sizeof sql,
              "UPDATE consent.override SET expires_at = now () - interval '1 second'"
              " WHERE id = '%s'",
              override->override_id);
    free (kn_test_sql (url, sql));
    kinnet__v1__override__free_unpacked (override, NULL);
    cr_assert_not (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));
}

Test (policy, every_rule_reads_one_clock)
{
    //  The policy reads kn_clock, as routing's deadlines and an override's own expiry
    //  do: with the clock two hours on, an override of one hour permits nothing,
    //  although the database's own clock has not moved.
    char clock_file[] = "/tmp/kn-policy-clock-XXXXXX";
    int fd = mkstemp (clock_file);
    cr_assert (fd >= 0);
    close (fd);
    int64_t start = (int64_t) time (NULL);
    cr_assert_eq (kn_clock_write (clock_file, start), 0);
    setenv ("KINNET_CLOCK_FILE", clock_file, 1);
    char subject[KN_UUID_STR];
    Kinnet__V1__Override *override = s_hour_override ("Kofi", 8, "o-clock", subject);
    cr_assert_eq (override->expires_at->seconds, start + 3600, "expiry from kn_clock");
    kinnet__v1__override__free_unpacked (override, NULL);
    cr_assert (s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING));
    cr_assert_eq (kn_clock_write (clock_file, start + 7200), 0);
    bool permitted = s_permitted (subject, outsider, NARRATIVE, KINNET__V1__PURPOSE__SAFEGUARDING);
    unsetenv ("KINNET_CLOCK_FILE");
    unlink (clock_file);
    cr_assert_not (permitted, "the policy read another clock than kn_clock");
}

Test (policy, a_dpo_ground_counts_for_every_controller)
{
    //  A statutory basis recorded by the data-protection officer releases any
    //  controller's data; the same basis recorded by another agency releases only its
    //  own, and a DPO role granted after recording does not reach back.
    scope_t in = {.agencies = {school}, .n_agencies = 1, .categories = {IDENTITY},
                  .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    scope_t none = {.agencies = {recorder}, .n_agencies = 1, .categories = {IDENTITY},
                    .n_categories = 1, .purposes = {REFERRAL}, .n_purposes = 1};
    s_consent ("Yaw", 10, KINNET__V1__CONSENT_GIVER__GUARDIAN, &none, 0, 0, consent, subject);
    Kinnet__V1__Scope scope;
    s_scope (&scope, &in);
    Kinnet__V1__SubjectRef ref = KINNET__V1__SUBJECT_REF__INIT;
    ref.subject_id = subject;
    Kinnet__V1__RecordBasis basis = KINNET__V1__RECORD_BASIS__INIT;
    basis.idempotency_key = "b-by-health";
    basis.subject = &ref;
    basis.basis = KINNET__V1__LAWFUL_BASIS__LEGAL_OBLIGATION;
    basis.scope = &scope;
    basis.justification = "Section 47 enquiry: information sharing is a legal duty.";
    Kinnet__V1__BasisRecorded *recorded = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_basis (store, health, &basis, &recorded, &err), 0, "%s",
                  err.message);
    kinnet__v1__basis_recorded__free_unpacked (recorded, NULL);
    //  The clinic's basis: not for the recorder's data (the controller here).
    cr_assert_not (s_permitted (subject, school, IDENTITY, REFERRAL));
    //  Made a DPO now: its earlier basis still does not count.
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    cr_assert_eq (kn_agency_set_role (admin, health, "data_protection_officer", true, &err), 0);
    cr_assert_not (s_permitted (subject, school, IDENTITY, REFERRAL));
    cr_assert_eq (kn_agency_set_role (admin, health, "data_protection_officer", false, &err), 0);
    kn_db_destroy (&admin);
    //  The DPO's own basis counts for the recorder's data.
    basis.idempotency_key = "b-by-dpo";
    cr_assert_eq (consent_store_basis (store, dpo, &basis, &recorded, &err), 0, "%s",
                  err.message);
    kn_policy_config_t config = {13, KN_DISAGREE_CHILD};
    kn_policy_decision_t d = s_decide (&config, subject, school, IDENTITY, REFERRAL);
    cr_assert (d.categories[0].permitted, "%s", d.categories[0].reason);
    cr_assert_str_eq (d.categories[0].ground_id, recorded->basis_id);
    kinnet__v1__basis_recorded__free_unpacked (recorded, NULL);
}

Test (policy, a_sector_grant_covers_its_members_when_recorded)
{
    //  A consent for the health sector: the clinic is in it when it is recorded.
    scope_t in = {.sectors = {KINNET__V1__AGENCY_SECTOR__HEALTH}, .n_sectors = 1,
                  .categories = {IDENTITY}, .n_categories = 1, .purposes = {REFERRAL},
                  .n_purposes = 1};
    char consent[KN_UUID_STR], subject[KN_UUID_STR];
    s_consent ("Esi", 9, KINNET__V1__CONSENT_GIVER__GUARDIAN, &in, 0, 0, consent, subject);
    cr_assert (s_permitted (subject, health, IDENTITY, REFERRAL));
    //  A health agency registered afterwards, and one moved into health afterwards
    //  (by hand or by a directory import), gain nothing under it.
    char later[KN_UUID_STR];
    s_agency ("New clinic", "health", later);
    cr_assert_not (s_permitted (subject, later, IDENTITY, REFERRAL));
    char sql[200];
    snprintf (sql, sizeof sql, "UPDATE core.agency SET sector = 'health' WHERE id = '%s'",
              outsider);
    free (kn_test_sql (url, sql));
    cr_assert_not (s_permitted (subject, outsider, IDENTITY, REFERRAL));
    //  A member that leaves the sector leaves the grant.
    snprintf (sql, sizeof sql, "UPDATE core.agency SET sector = 'housing' WHERE id = '%s'", health);
    free (kn_test_sql (url, sql));
    cr_assert_not (s_permitted (subject, health, IDENTITY, REFERRAL));
    snprintf (sql, sizeof sql, "UPDATE core.agency SET sector = 'health' WHERE id = '%s'", health);
    free (kn_test_sql (url, sql));
    snprintf (sql, sizeof sql, "UPDATE core.agency SET sector = 'housing' WHERE id = '%s'",
              outsider);
    free (kn_test_sql (url, sql));
}
