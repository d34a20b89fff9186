/*  Per-person data keys against a real PostgreSQL: every person's data is sealed
    under their own key, destroying a key erases what was sealed under it and nothing
    else, values sealed before data keys still open, and two sessions making the same
    person's key at once end with one. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "intake_store.h"
#include "kn_agency.h"
#include "kn_keys.h"
#include "kn_subject.h"
#include "kn_test.h"

static char *url;
static kn_db_t *db;
static kn_crypto_t *crypto;
static intake_store_t *store;
static char agency[KN_UUID_STR];

static void
s_setup (void)
{
    url = kn_test_db_create ();
    kn_error_t err;
    db = kn_db_new (url, NULL, &err);
    cr_assert (db, "%s", err.message);
    zcert_t *cert = zcert_new ();
    cr_assert_eq (kn_agency_add (db, "A", "school", "north", zcert_public_txt (cert), agency,
                                 &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
    kn_db_destroy (&db);
    db = kn_db_new (url, "kinnet_intake", &err);
    cr_assert (db, "%s", err.message);
    uint8_t key[32] = {9};
    crypto = kn_crypto_new (key);
    store = intake_store_new (db, crypto, &err);
    cr_assert (store, "%s", err.message);
}

static void
s_teardown (void)
{
    intake_store_destroy (&store);
    kn_crypto_destroy (&crypto);
    kn_db_destroy (&db);
    free (url);
    kn_test_no_leaks ();
}

TestSuite (data_keys, .init = s_setup, .fini = s_teardown, .timeout = 60);

static Kinnet__V1__Person child, sibling;
static Kinnet__V1__Person *siblings[] = {&sibling};
static Kinnet__V1__Need need;
static Kinnet__V1__Need *needs[] = {&need};
static Kinnet__V1__LawfulGround ground;

static Kinnet__V1__SubmitReferral
s_referral (const char *key)
{
    child = (Kinnet__V1__Person)KINNET__V1__PERSON__INIT;
    child.given_name = "Zofia";
    child.family_name = "Nowak";
    child.date_of_birth = "2014-05-06";
    sibling = (Kinnet__V1__Person)KINNET__V1__PERSON__INIT;
    sibling.given_name = "Jan";
    sibling.family_name = "Nowak";
    sibling.date_of_birth = "2017-09-30";
    need = (Kinnet__V1__Need)KINNET__V1__NEED__INIT;
    need.category = KINNET__V1__NEED_CATEGORY__MENTAL_HEALTH_NEED;
    need.description = "Low mood since the move.";
    ground = (Kinnet__V1__LawfulGround)KINNET__V1__LAWFUL_GROUND__INIT;
    ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
    ground.justification = "Early help assessment.";
    Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
    referral.idempotency_key = (char *)key;
    referral.child = &child;
    referral.siblings = siblings;
    referral.n_siblings = 1;
    referral.needs = needs;
    referral.n_needs = 1;
    referral.urgency = KINNET__V1__URGENCY__URGENT;
    referral.district = "north";
    referral.lawful_ground = &ground;
    return referral;
}

static void
s_submit (const char *key, intake_submit_result_t *result)
{
    Kinnet__V1__SubmitReferral referral = s_referral (key);
    kn_error_t err;
    cr_assert_eq (intake_store_submit (store, agency, &referral, result, &err), 0, "%s",
                  err.message);
    cr_assert_eq (result->subject_count, 2);
}

//  The data key id a sealed column names (format 2), as SQL.
#define KEY_OF(column) "replace (substring (encode (" column ", 'hex') from 3 for 32), '-', '')"

Test (data_keys, each_persons_data_is_sealed_under_their_own_key)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    char sql[900];
    //  One key per person, each wrapped under master version 1.
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.data_key WHERE subject_id IN ('%s', '%s')"
              " AND master_version = 1 AND length (wrapped) = 72",
              result.subject_ids[0], result.subject_ids[1]);
    cr_assert_eq (kn_test_count (url, sql), 2);
    //  Each date of birth under its own person's key.
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.subject s"
                                      " JOIN core.data_key k ON k.subject_id = s.id"
                                      " WHERE get_byte (s.birth_date, 0) = 2 AND " KEY_OF (
                                          "s.birth_date") " = replace (k.id::text, '-', '')"),
                  2);
    //  The referral (and so the family's story) under the child's key.
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.referral r JOIN core.data_key k"
              " ON k.subject_id = '%s' WHERE r.id = '%s' AND get_byte (r.personal, 0) = 2"
              " AND " KEY_OF ("r.personal") " = replace (k.id::text, '-', '')",
              result.subject_ids[0], result.referral_id);
    cr_assert_eq (kn_test_count (url, sql), 1);
    //  A second referral about the same child reuses the key.
    intake_submit_result_t again;
    s_submit ("k2", &again);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"), 2);
}

Test (data_keys, destroying_a_key_erases_what_it_sealed_and_nothing_else)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    kn_error_t err;
    time_t now = time (NULL);
    cr_assert_geq (kn_subject_age (db, crypto, result.subject_ids[0], now, &err), 11);
    char sql[300];
    snprintf (sql, sizeof sql,
              "UPDATE core.data_key SET wrapped = NULL, destroyed_at = now ()"
              " WHERE subject_id = '%s'",
              result.subject_ids[0]);
    free (kn_test_sql (url, sql));
    //  The referral sealed under the child's key no longer opens, for anyone.
    intake_referral_t back;
    cr_assert_eq (
        intake_store_get (store, agency, result.referral_id, "cw-1", 1, &back, &err), -1);
    cr_assert_eq (err.code, KN_E_NOT_FOUND);
    cr_assert (strstr (err.message, "erased"), "%s", err.message);
    //  The child's date of birth is gone; the sibling's, under their own key, is not.
    cr_assert_eq (kn_subject_age (db, crypto, result.subject_ids[0], now, &err), -1);
    cr_assert_geq (kn_subject_age (db, crypto, result.subject_ids[1], now, &err), 8);
    //  Nothing more is sealed about an erased person.
    size_t len = 0;
    const char *child_id = result.subject_ids[0];
    kn_error_clear (&err);
    cr_assert_null (kn_keys_seal (db, crypto, child_id, (const uint8_t *)"x", 1, "ad", &len,
                                  &err));
    cr_assert_eq (err.code, KN_E_CONFLICT);
    cr_assert_str_eq (err.field, "subject_id");
    //  The rows stay (counts, the audit trail); only their personal part is gone.
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM intake.referral"), 1);
}

Test (data_keys, values_sealed_before_data_keys_still_open)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    //  Re-seal the referral the way it was before migration 0028: format 1, under the
    //  root key itself.
    Kinnet__V1__SubmitReferral referral = s_referral ("k1");
    size_t plain_len = kinnet__v1__submit_referral__get_packed_size (&referral);
    uint8_t *plain = malloc (plain_len);
    kinnet__v1__submit_referral__pack (&referral, plain);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal (crypto, plain, plain_len, result.referral_id,
                                      &sealed_len);
    free (plain);
    char *hex = malloc (sealed_len * 2 + 1);
    sodium_bin2hex (hex, sealed_len * 2 + 1, sealed, sealed_len);
    free (sealed);
    char *sql = malloc (sealed_len * 2 + 200);
    sprintf (sql, "UPDATE intake.referral SET personal = '\\x%s' WHERE id = '%s'", hex,
             result.referral_id);
    free (kn_test_sql (url, sql));
    free (sql);
    free (hex);
    intake_referral_t back;
    kn_error_t err;
    cr_assert_eq (
        intake_store_get (store, agency, result.referral_id, "cw-1", 1, &back, &err), 0,
        "%s", err.message);
    cr_assert_str_eq (back.submitted->child->given_name, "Zofia");
    intake_referral_free (&back);
}

//  A second session making the same person's key, in a thread: it waits on the
//  first's uncommitted key and must then use it, not its own.
typedef struct {
    const char *subject;
    kn_data_key_t key;
    int rc;
} racer_t;

static void *
s_racer (void *arg)
{
    racer_t *racer = arg;
    kn_error_t err;
    kn_db_t *other = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (other, "%s", err.message);
    cr_assert_eq (kn_keys_prepare (other, &err), 0, "%s", err.message);
    cr_assert_eq (kn_db_begin_write (other, NULL, &err), 0, "%s", err.message);
    racer->rc = kn_keys_for_subjects (other, crypto, &racer->subject, 1, &racer->key, &err);
    cr_assert_eq (kn_db_exec (other, "COMMIT", &err), 0, "%s", err.message);
    kn_db_destroy (&other);
    return NULL;
}

Test (data_keys, two_sessions_making_one_persons_key_agree_on_one)
{
    free (kn_test_sql (url, "INSERT INTO core.family (id) VALUES"
                            " ('00000000-0000-4000-8000-00000000f001');"
                            "INSERT INTO core.subject (id, family_id, blind_index) VALUES"
                            " ('00000000-0000-4000-8000-00000000a001',"
                            "  '00000000-0000-4000-8000-00000000f001',"
                            "  '\\x0101010101010101010101010101010101010101010101010101010101"
                            "010101')"));
    racer_t racer = {.subject = "00000000-0000-4000-8000-00000000a001"};
    kn_error_t err;
    kn_db_t *first = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (first, "%s", err.message);
    cr_assert_eq (kn_keys_prepare (first, &err), 0, "%s", err.message);
    cr_assert_eq (kn_db_begin_write (first, NULL, &err), 0, "%s", err.message);
    kn_data_key_t mine;
    cr_assert_eq (kn_keys_for_subjects (first, crypto, &racer.subject, 1, &mine, &err), 0,
                  "%s", err.message);
    pthread_t thread;
    pthread_create (&thread, NULL, s_racer, &racer);
    //  Await the second session blocked on the first's key.
    int waiting = 0;
    for (int i = 0; i < 2000 && waiting == 0; i++) {
        waiting = kn_test_count (url, "SELECT count(*) FROM pg_stat_activity"
                                      " WHERE wait_event_type = 'Lock'"
                                      " AND query LIKE '%data_key%'");
        if (waiting == 0) {
            struct timespec pause = {0, 5 * 1000 * 1000};
            nanosleep (&pause, NULL);
        }
    }
    cr_assert_eq (waiting, 1, "the second session never waited on the first's key");
    cr_assert_eq (kn_db_exec (first, "COMMIT", &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    cr_assert_eq (racer.rc, 0);
    cr_assert_str_eq (racer.key.id, mine.id);
    cr_assert_eq (memcmp (racer.key.key, mine.key, sizeof mine.key), 0);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"), 1);
    kn_db_destroy (&first);
}
