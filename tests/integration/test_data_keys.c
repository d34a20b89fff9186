/*  Per-person data keys against a real PostgreSQL: every person's data is sealed
    under their own key, destroying a key erases what was sealed under it and nothing
    else, values sealed before data keys still open, and two sessions making the same
    person's key at once end with one. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "intake_store.h"
#include "kn_agency.h"
#include "kn_keys.h"
#include "kn_keys_rotate.h"
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
    //  Agencies are in registered districts (migration 0048).
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('north')"));
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
    //  Each person's own part of it under their own key.
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM intake.referral_subject rs JOIN core.data_key k"
              " ON k.subject_id = rs.subject_id WHERE rs.referral_id = '%s'"
              " AND " KEY_OF ("rs.personal") " = replace (k.id::text, '-', '')",
              result.referral_id);
    cr_assert_eq (kn_test_count (url, sql), 2);
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

//  Re-seal a referral the way it was before migration 0028: format 1, under the
//  root key itself.
static void
s_make_legacy (const char *referral_id)
{
    Kinnet__V1__SubmitReferral referral = s_referral ("k1");
    size_t plain_len = kinnet__v1__submit_referral__get_packed_size (&referral);
    uint8_t *plain = malloc (plain_len);
    kinnet__v1__submit_referral__pack (&referral, plain);
    size_t sealed_len = 0;
    uint8_t *sealed = kn_crypto_seal (crypto, plain, plain_len, referral_id, &sealed_len);
    free (plain);
    char *hex = malloc (sealed_len * 2 + 1);
    sodium_bin2hex (hex, sealed_len * 2 + 1, sealed, sealed_len);
    free (sealed);
    char *sql = malloc (sealed_len * 2 + 300);
    sprintf (sql,
             "UPDATE intake.referral SET personal = '\\x%s' WHERE id = '%s';"
             "UPDATE intake.referral_subject SET personal = NULL WHERE referral_id = '%s'",
             hex, referral_id, referral_id);
    free (kn_test_sql (url, sql));
    free (sql);
    free (hex);
}

Test (data_keys, erasing_a_sibling_erases_their_part_and_nothing_of_the_childs)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    char sql[300];
    snprintf (sql, sizeof sql,
              "UPDATE core.data_key SET wrapped = NULL, destroyed_at = now ()"
              " WHERE subject_id = '%s'",
              result.subject_ids[1]);
    free (kn_test_sql (url, sql));
    intake_referral_t back;
    kn_error_t err;
    cr_assert_eq (
        intake_store_get (store, agency, result.referral_id, "cw-1", 1, &back, &err), 0,
        "%s", err.message);
    cr_assert_str_eq (back.submitted->child->given_name, "Zofia");
    cr_assert_not (back.submitted->child->erased);
    cr_assert_str_eq (back.submitted->needs[0]->description, "Low mood since the move.");
    cr_assert_eq (back.submitted->n_siblings, 1);
    const Kinnet__V1__Person *jan = back.submitted->siblings[0];
    cr_assert (jan->erased);
    cr_assert_str_eq (jan->given_name, "");
    cr_assert_str_eq (jan->date_of_birth, "");
    intake_referral_free (&back);
    //  The sibling is not inside the child's part either.
    char *hex = kn_test_sql (url, "SELECT encode (personal, 'hex') FROM intake.referral");
    size_t len = strlen (hex) / 2, plain_len = 0;
    uint8_t *sealed = malloc (len);
    cr_assert_eq (sodium_hex2bin (sealed, len, hex, strlen (hex), NULL, NULL, NULL), 0);
    uint8_t *plain = NULL;
    cr_assert_eq (kn_keys_open (db, crypto, sealed, len, result.referral_id, &plain,
                                &plain_len, &err),
                  KN_OPENED, "%s", err.message);
    cr_assert_null (memmem (plain, plain_len, "Jan", 3), "the sibling is in the child's part");
    cr_assert_null (memmem (plain, plain_len, "2017-09-30", 10));
    free (plain);
    free (sealed);
    free (hex);
}

Test (data_keys, values_sealed_before_data_keys_still_open)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    s_make_legacy (result.referral_id);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM intake.referral"
                                      " WHERE get_byte (personal, 0) = 1"),
                  1);
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

//  The key {9, 0, ...} the suite's crypto is made of, as a key file's root line.
#define ROOT_LINE "09000000000000000000000000000000000000000000000000000000000000" "00\n"
#define SECOND_LINE "field 2 a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1\n"

//  A key file at path (mode 600) holding text; its crypto.
static kn_crypto_t *
s_ring (char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
    chmod (path, 0600);
    kn_error_t err;
    kn_crypto_t *ring = kn_crypto_new_from_file (path, &err);
    cr_assert (ring, "%s", err.message);
    return ring;
}

//  Referrals submitted without pause, each by an intake store of its own session
//  holding the new key file, until stop: what a running intake does during a
//  rotation.
typedef struct {
    kn_crypto_t *ring;
    volatile int stop;
    int submitted, failed;
} load_t;

static void *
s_load (void *arg)
{
    load_t *load = arg;
    kn_error_t err;
    kn_db_t *own = kn_db_new (url, "kinnet_intake", &err);
    cr_assert (own, "%s", err.message);
    intake_store_t *writer = intake_store_new (own, load->ring, &err);
    cr_assert (writer, "%s", err.message);
    while (!load->stop) {
        char key[32];
        snprintf (key, sizeof key, "load-%d", load->submitted + load->failed);
        Kinnet__V1__SubmitReferral referral = s_referral (key);
        char given[32];
        snprintf (given, sizeof given, "Load%d", load->submitted + load->failed);
        referral.child->given_name = given;   // a new child each time: a new key
        intake_submit_result_t result;
        if (intake_store_submit (writer, agency, &referral, &result, &err) == 0)
            load->submitted++;
        else
            load->failed++;
    }
    intake_store_destroy (&writer);
    kn_db_destroy (&own);
    return NULL;
}

Test (data_keys, rewrap_under_a_running_intake_fails_nothing_and_everything_opens)
{
    intake_submit_result_t result;
    for (int i = 0; i < 12; i++) {
        char key[16];
        snprintf (key, sizeof key, "before-%d", i);
        s_submit (key, &result);
    }
    //  One value from before per-person keys too (format 1, under the root).
    s_make_legacy (result.referral_id);
    char dir[] = "/tmp/kn-rotate-XXXXXX";
    cr_assert (mkdtemp (dir));
    char path[80];
    snprintf (path, sizeof path, "%s/field.key", dir);
    load_t load = {.ring = s_ring (path, ROOT_LINE SECOND_LINE)};
    cr_assert_eq (kn_crypto_master_version (load.ring), 2);
    int before = kn_test_count (url, "SELECT count(*) FROM core.data_key");
    pthread_t thread;
    pthread_create (&thread, NULL, s_load, &load);
    //  Rotate while the load runs: await its first referrals under version 2.
    time_t deadline = time (NULL) + 30;
    while (kn_test_count (url, "SELECT count(*) FROM core.data_key WHERE master_version = 2")
               < 4 &&
           time (NULL) < deadline)
        ;
    cr_assert_geq (kn_test_count (url, "SELECT count(*) FROM core.data_key"
                                       " WHERE master_version = 2"),
                   4, "the load made no keys under version 2");
    kn_error_t err;
    kn_db_t *owner = kn_db_new (url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    kn_rewrap_report_t report;
    cr_assert_eq (kn_keys_rewrap (owner, load.ring, 3, false, &report, &err), 0, "%s",
                  err.message);
    load.stop = 1;
    pthread_join (thread, NULL);
    cr_assert_eq (load.failed, 0, "%d of %d requests failed during the rotation",
                  load.failed, load.failed + load.submitted);
    cr_assert_geq (report.keys_rewrapped, before);
    cr_assert_gt (report.batches, before / 3, "not in bounded batches");
    //  The value from before is now under the child's key, its people each under
    //  their own, and it opens (below).
    cr_assert_eq (report.values_forwarded, 1);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM intake.referral_subject"
                                      " WHERE personal IS NULL"),
                  0);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM intake.referral"
                                      " WHERE get_byte (personal, 0) <> 2"),
                  0);
    //  Nothing is left under version 1, and every referral opens with the new file.
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"
                                      " WHERE master_version <> 2"),
                  0);
    intake_store_t *reader = intake_store_new (db, load.ring, &err);
    cr_assert (reader, "%s", err.message);
    char *ids = kn_test_sql (url, "SELECT string_agg (id::text, ' ') FROM intake.referral");
    int opened = 0;
    for (char *save = NULL, *id = strtok_r (ids, " ", &save); id;
         id = strtok_r (NULL, " ", &save), opened++) {
        intake_referral_t back;
        cr_assert_eq (intake_store_get (reader, agency, id, "cw", 1, &back, &err), 0,
                      "%s: %s", id, err.message);
        intake_referral_free (&back);
    }
    free (ids);
    cr_assert_eq (opened, 12 + load.submitted);
    //  The old file can no longer open them: the rotation happened.
    intake_referral_t back;
    char *first = kn_test_sql (url, "SELECT min (id::text) FROM intake.referral");
    cr_assert_eq (intake_store_get (store, agency, first, "cw", 1, &back, &err), -1);
    free (first);
    intake_store_destroy (&reader);
    kn_db_destroy (&owner);
    kn_crypto_destroy (&load.ring);
    unlink (path);
    rmdir (dir);
}

Test (data_keys, rewrap_refuses_a_version_the_file_lacks_and_a_dry_run_changes_nothing)
{
    char dir[] = "/tmp/kn-rotate-XXXXXX";
    cr_assert (mkdtemp (dir));
    char path[80];
    snprintf (path, sizeof path, "%s/field.key", dir);
    kn_crypto_t *ring = s_ring (path, ROOT_LINE SECOND_LINE);
    kn_error_t err;
    intake_store_t *writer = intake_store_new (db, ring, &err);
    cr_assert (writer, "%s", err.message);
    Kinnet__V1__SubmitReferral referral = s_referral ("v2");
    intake_submit_result_t result;
    cr_assert_eq (intake_store_submit (writer, agency, &referral, &result, &err), 0, "%s",
                  err.message);
    intake_store_destroy (&writer);
    s_make_legacy (result.referral_id);
    kn_db_t *owner = kn_db_new (url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    //  A dry run with the new file counts the legacy value and changes nothing.
    kn_rewrap_report_t report;
    cr_assert_eq (kn_keys_rewrap (owner, ring, 1, true, &report, &err), 0, "%s",
                  err.message);
    cr_assert_eq (report.keys_rewrapped, 0);
    cr_assert_eq (report.values_forwarded, 1);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM intake.referral"
                                      " WHERE get_byte (personal, 0) = 1"),
                  1);
    //  The old file (version 1 only) cannot unwrap the version-2 keys: refused with
    //  what to do, and nothing of the batch written.
    cr_assert_eq (kn_keys_rewrap (owner, crypto, 10, false, &report, &err), -1);
    cr_assert_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_assert (strstr (err.message, "version 2"), "%s", err.message);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"
                                      " WHERE master_version = 2"),
                  2);
    kn_db_destroy (&owner);
    kn_crypto_destroy (&ring);
    unlink (path);
    rmdir (dir);
}

Test (data_keys, fieldkey_commands_add_use_status_and_rewrap)
{
    intake_submit_result_t result;
    s_submit ("k1", &result);
    char dir[] = "/tmp/kn-fieldkey-XXXXXX";
    cr_assert (mkdtemp (dir));
    char path[80], env[700], *out = NULL;
    snprintf (path, sizeof path, "%s/field.key", dir);
    kn_crypto_t *ring = s_ring (path, ROOT_LINE);
    kn_crypto_destroy (&ring);
    snprintf (env, sizeof env,
              "KINNET_DATABASE_URL='%s' KINNET_LOG_LEVEL=warn KINNET_FIELD_KEY='%s'", url,
              path);
    //  add: version 2, held back until `use`.
    cr_assert_eq (kn_test_run_cli (env, &out, "--format json admin fieldkey add %s", path), 0,
                  "%s", out);
    cr_assert (strstr (out, "\"added\": 2") && strstr (out, "\"current\": 1"), "%s", out);
    free (out);
    kn_error_t err;
    ring = kn_crypto_new_from_file (path, &err);
    cr_assert (ring, "%s", err.message);
    cr_assert_eq (kn_crypto_master_version (ring), 1);
    cr_assert (kn_crypto_has_master (ring, 2));
    kn_crypto_destroy (&ring);
    struct stat st;
    cr_assert_eq (stat (path, &st), 0);
    cr_assert_eq (st.st_mode & 0777, 0600);
    //  use: a version the file lacks is refused and the file is left as it was.
    cr_assert_eq (kn_test_run_cli (env, &out, "admin fieldkey use %s 3", path), 3, "%s", out);
    free (out);
    cr_assert_eq (kn_test_run_cli (env, &out, "admin fieldkey use %s 2", path), 0, "%s", out);
    free (out);
    //  status: both of the referral's keys are behind.
    cr_assert_eq (kn_test_run_cli (env, &out, "--format json admin fieldkey status"), 0, "%s",
                  out);
    cr_assert (strstr (out, "\"current\": 2") && strstr (out, "\"behind\": 2"), "%s", out);
    free (out);
    //  A dry run changes nothing; a mistyped option runs nothing.
    cr_assert_eq (kn_test_run_cli (env, &out, "admin fieldkey rewrap --dry-run"), 0, "%s", out);
    free (out);
    cr_assert_eq (kn_test_run_cli (env, &out, "admin fieldkey rewrap --dry-rnu"), 2, "%s", out);
    free (out);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"
                                      " WHERE master_version = 1"),
                  2);
    cr_assert_eq (kn_test_run_cli (env, &out, "--format json admin fieldkey rewrap --batch 1"),
                  0, "%s", out);
    cr_assert (strstr (out, "\"keys_rewrapped\": 2"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_count (url, "SELECT count(*) FROM core.data_key"
                                      " WHERE master_version = 2"),
                  2);
    unlink (path);
    rmdir (dir);
}
