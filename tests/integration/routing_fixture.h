/*  The fixture of the routing store suites (test_routing_store.c,
    test_routing_batch.c): a test database with six agencies and their directory
    entries, an intake, a routing and a consent store on the test's clock, and
    referrals made through intake's store. Included by each suite's file, which
    names its own TestSuite with s_setup and s_teardown. */
#ifndef ROUTING_FIXTURE_H_INCLUDED
#define ROUTING_FIXTURE_H_INCLUDED

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "consent_store.h"
#include "intake_store.h"
#include "kn_agency.h"
#include "kn_clock.h"
#include "kn_test.h"
#include "routing_store.h"

static char *url;
static kn_crypto_t *crypto;
static kn_db_t *intake_db, *routing_db, *consent_db;
static intake_store_t *intake;
static routing_store_t *routing;
static consent_store_t *consent;
static uint8_t key[32] = {7};
static int64_t now = 1800000000;   // the test's clock
static char clock_file[] = "/tmp/kn-routing-clock-XXXXXX";
static char school[KN_UUID_STR], social[KN_UUID_STR], ngo[KN_UUID_STR], ngo_pl[KN_UUID_STR],
    health[KN_UUID_STR], far_away[KN_UUID_STR];

static __attribute__ ((unused)) void
s_agency (kn_db_t *admin, const char *name, const char *sector, const char *district,
          char id[KN_UUID_STR])
{
    kn_error_t err;
    zcert_t *cert = zcert_new ();
    cr_assert_eq (kn_agency_add (admin, name, sector, district, zcert_public_txt (cert), id, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
}

//  A statement (printf-style) on the suite's database: its first value, to free.
#define s_sql(...) kn_test_sqlf (url, __VA_ARGS__)

//  The number a count statement (printf-style) gives, -1 when it failed.
#define s_count(...) kn_test_countf (url, __VA_ARGS__)

static __attribute__ ((unused)) void
s_setup (void)
{
    url = kn_test_db_create ();
    //  One clock: the consent store this process also runs reads the test's (kn_clock).
    int fd = mkstemp (clock_file);
    cr_assert (fd >= 0);
    close (fd);
    cr_assert_eq (kn_clock_write (clock_file, now), 0);
    setenv ("KINNET_CLOCK_FILE", clock_file, 1);
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    //  An agency's districts are registered ones (migration 0048).
    free (s_sql ("INSERT INTO core.district (code, name) VALUES ('north', 'North'),"
                 " ('east', NULL), ('south', NULL)"));
    s_agency (admin, "School", "school", "north", school);
    s_agency (admin, "Children's social care", "social_services", "north", social);
    s_agency (admin, "Family NGO", "ngo_community", "north", ngo);
    s_agency (admin, "Polish community centre", "ngo_community", "east", ngo_pl);
    s_agency (admin, "Health visitors", "health", "north", health);
    s_agency (admin, "Far away", "ngo_community", "south", far_away);
    kn_db_destroy (&admin);
    //  The directory: who serves what, where, in which languages.
    free (s_sql ("INSERT INTO core.agency_need VALUES ('%s', 10), ('%s', 8), ('%s', 8),"
                 " ('%s', 3), ('%s', 8), ('%s', 3), ('%s', 5), ('%s', 4), ('%s', 8)",
                 social, social, ngo, ngo, ngo_pl, ngo_pl, health, health, far_away));
    free (s_sql ("INSERT INTO core.agency_district VALUES ('%s', 'north')", ngo_pl));
    free (s_sql ("INSERT INTO core.agency_language VALUES ('%s', 'pl'), ('%s', 'en'),"
                 " ('%s', 'en')",
                 ngo_pl, ngo, social));
    free (s_sql ("UPDATE core.agency SET capacity = 5 WHERE id = '%s'", ngo));
    free (s_sql ("UPDATE core.agency SET interpreters = true WHERE id = '%s'", health));
    free (s_sql (
        "UPDATE core.district SET child_protection_lead = '%s' WHERE code = 'north'",
        social));

    crypto = kn_crypto_new (key);
    intake_db = kn_db_new (url, "kinnet_intake", &err);
    routing_db = kn_db_new (url, "kinnet_routing", &err);
    consent_db = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (intake_db && routing_db && consent_db, "%s", err.message);
    intake = intake_store_new (intake_db, crypto, &err);
    cr_assert (intake, "%s", err.message);
    routing = routing_store_new (routing_db, crypto, &err);
    cr_assert (routing, "%s", err.message);
    consent = consent_store_new (consent_db, crypto, &err);
    cr_assert (consent, "%s", err.message);
}

static __attribute__ ((unused)) void
s_teardown (void)
{
    consent_store_destroy (&consent);
    routing_store_destroy (&routing);
    intake_store_destroy (&intake);
    kn_db_destroy (&consent_db);
    kn_db_destroy (&routing_db);
    kn_db_destroy (&intake_db);
    kn_crypto_destroy (&crypto);
    unlink (clock_file);
    free (url);
    kn_test_no_leaks ();
}

typedef struct {
    char referral_id[KN_UUID_STR];
    char family_id[KN_UUID_STR];
    char child_id[KN_UUID_STR];
} referral_t;

//  Refer child `seed` (same seed: same child) for needs with urgency, languages,
//  living in district.
static __attribute__ ((unused)) void
s_refer_as (const char *agency, int seed, const int *needs, size_t n_needs, int urgency,
            const char *language, const char *district, referral_t *out)
{
    static int counter;
    char given[32], idem[32];
    snprintf (given, sizeof given, "Child%d", seed);
    snprintf (idem, sizeof idem, "ref-%d", ++counter);
    Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
    child.given_name = given;
    child.family_name = "Nowak";
    child.date_of_birth = "2016-04-02";
    char *languages[] = {(char *) language};
    child.languages = languages;
    child.n_languages = language ? 1 : 0;
    Kinnet__V1__Need need_msgs[4];
    Kinnet__V1__Need *need_ptrs[4];
    for (size_t i = 0; i < n_needs; i++) {
        kinnet__v1__need__init (&need_msgs[i]);
        need_msgs[i].category = needs[i];
        need_msgs[i].description = "Needs support.";
        need_ptrs[i] = &need_msgs[i];
    }
    Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment.";
    Kinnet__V1__SubmitReferral submit = KINNET__V1__SUBMIT_REFERRAL__INIT;
    submit.idempotency_key = idem;
    submit.child = &child;
    submit.needs = need_ptrs;
    submit.n_needs = n_needs;
    submit.urgency = urgency;
    submit.district = (char *) district;
    submit.lawful_ground = &ground;
    intake_submit_result_t result;
    kn_error_t err;
    cr_assert_eq (intake_store_submit (intake, agency, &submit, &result, &err), 0, "%s",
                  err.message);
    snprintf (out->referral_id, KN_UUID_STR, "%s", result.referral_id);
    snprintf (out->family_id, KN_UUID_STR, "%s", result.family_id);
    char *child_id = s_sql ("SELECT subject_id FROM intake.referral_subject"
                            " WHERE referral_id = '%s' AND position = 0",
                            out->referral_id);
    snprintf (out->child_id, KN_UUID_STR, "%s", child_id);
    free (child_id);
}

//  The child's guardian consents, for referral and assessment, to sharing the
//  categories with the agencies; the school records it. consent_id (may be NULL)
//  receives the consent's id.
static __attribute__ ((unused)) void
s_consent_for (const referral_t *r, const char *idempotency, char **agencies,
               size_t n_agencies, Kinnet__V1__DataCategory *categories, size_t n_categories,
               char consent_id[KN_UUID_STR])
{
    Kinnet__V1__SubjectRef subject = KINNET__V1__SUBJECT_REF__INIT;
    subject.subject_id = (char *) r->child_id;
    Kinnet__V1__Purpose purposes[] = {KINNET__V1__PURPOSE__REFERRAL_AND_ASSESSMENT};
    Kinnet__V1__Scope scope = KINNET__V1__SCOPE__INIT;
    scope.agencies = agencies;
    scope.n_agencies = n_agencies;
    scope.categories = categories;
    scope.n_categories = n_categories;
    scope.purposes = purposes;
    scope.n_purposes = 1;
    Kinnet__V1__Guardian guardian = KINNET__V1__GUARDIAN__INIT;
    guardian.given_name = "Ewa";
    guardian.family_name = "Nowak";
    guardian.relationship = KINNET__V1__RELATIONSHIP__MOTHER;
    guardian.parental_responsibility = true;
    Kinnet__V1__RecordConsent record = KINNET__V1__RECORD_CONSENT__INIT;
    record.idempotency_key = (char *) idempotency;
    record.subject = &subject;
    record.given_by = KINNET__V1__CONSENT_GIVER__GUARDIAN;
    record.guardian = &guardian;
    record.scope = &scope;
    record.method = KINNET__V1__COLLECTION_METHOD__WRITTEN;
    record.privacy_notice_version = "v1";
    record.privacy_notice_language = "pl";
    Kinnet__V1__Consent *recorded = NULL;
    kn_error_t err;
    cr_assert_eq (consent_store_record (consent, school, &record, &recorded, &err), 0, "%s",
                  err.message);
    if (consent_id)
        snprintf (consent_id, KN_UUID_STR, "%s", recorded->consent_id);
    kinnet__v1__consent__free_unpacked (recorded, NULL);
}

static __attribute__ ((unused)) void
s_refer_in (int seed, const int *needs, size_t n_needs, int urgency, const char *language,
            const char *district, referral_t *out)
{
    s_refer_as (school, seed, needs, n_needs, urgency, language, district, out);
}

static __attribute__ ((unused)) void
s_refer (int seed, const int *needs, size_t n_needs, int urgency, const char *language,
         referral_t *out)
{
    s_refer_in (seed, needs, n_needs, urgency, language, "north", out);
}

//  One pass of the consumer: what it can take now.
static __attribute__ ((unused)) int
s_consume_once (void)
{
    int handled = 0;
    kn_error_t err;
    cr_assert_eq (routing_store_consume (routing, now, 1000, &handled, &err), 0, "%s",
                  err.message);
    return handled;
}

//  Consume until the cursor has reached the newest outbox row. The consumer waits
//  for every older writing transaction in the cluster to end, and suites running in
//  parallel (other databases, same server) have some open: await that condition.
static __attribute__ ((unused)) int
s_consume (void)
{
    int total = 0;
    int64_t deadline = zclock_mono () + 20000;
    while (true) {
        total += s_consume_once ();
        if (kn_test_outbox_past_cursor (url) == 0) {
            cr_assert_eq (kn_test_outbox_skipped (url), 0, "the cursor passed unhandled events");
            return total;
        }
        cr_assert (zclock_mono () < deadline, "the consumer never caught up");
        zclock_sleep (10);
    }
}

//  The open offer for need category on the family's case: its id and agency.
static __attribute__ ((unused)) bool
s_offer (const referral_t *r, int category, char id[KN_UUID_STR], char agency[KN_UUID_STR])
{
    char *row = s_sql ("SELECT i.id || ' ' || i.agency_id FROM routing.involvement i"
                       " JOIN routing.need n ON n.id = i.need_id JOIN routing.case c"
                       " ON c.id = i.case_id WHERE c.family_id = '%s' AND n.category = %d"
                       " AND i.status = 'offered'",
                       r->family_id, category);
    if (!row)
        return false;
    sscanf (row, "%36s %36s", id, agency);
    free (row);
    return true;
}

static __attribute__ ((unused)) char *
s_case_of (const referral_t *r)
{
    return s_sql ("SELECT case_id FROM routing.case_referral WHERE referral_id = '%s'",
                  r->referral_id);
}

static __attribute__ ((unused)) Kinnet__V1__FeedBatch *
s_feed (const char *agency, int64_t after)
{
    Kinnet__V1__FeedBatch *batch = NULL;
    kn_error_t err;
    cr_assert_eq (routing_store_feed_read (routing, agency, after, 500, &batch, &err), 0, "%s",
                  err.message);
    return batch;
}

//  How many events of topic the agency's feed holds.
static __attribute__ ((unused)) int
s_feed_count (const char *agency, const char *topic)
{
    return s_count ("SELECT count (*) FROM routing.feed WHERE agency_id = '%s' AND topic = '%s'",
                    agency, topic);
}

#endif
