/*  Rotating the blind-index key with the stack running (docs/operations.md,
    "Blind-index key"): matching keeps working before, during and after the
    re-index; erased people stay unlinked; a retry across the rotation is a replay;
    the old version (the root) can then leave the key file, and a file that lost a
    version still in use is refused at start. And, on the library, two sessions that
    disagree on the current version still make one subject of one new person. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "intake_store.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kn_agency.h"
#include "kn_clock.h"
#include "kn_index.h"
#include "kn_subject.h"
#include "kn_test.h"

static kn_test_stack_t *stack;
static char key_file[400];
static char cli_env[1200];

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    snprintf (key_file, sizeof key_file, "%s/field.key", kn_test_stack_dir (stack));
    snprintf (cli_env, sizeof cli_env,
              "KINNET_DATABASE_URL='%s' KINNET_LOG_LEVEL=warn KINNET_FIELD_KEY='%s'",
              kn_test_stack_db_url (stack), key_file);
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_start_records (stack);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (index_rotation, .init = s_setup, .fini = s_teardown, .timeout = 300);

static int s_count (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_count (const char *fmt, ...)
{
    char sql[600];
    va_list args;
    va_start (args, fmt);
    vsnprintf (sql, sizeof sql, fmt, args);
    va_end (args);
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

//  The kinnet CLI on the key file and the owner's login; its exit code, and its
//  output in *out (caller frees).
static int
s_keys (char **out, const char *args)
{
    return kn_test_run_cli (cli_env, out, "%s", args);
}

//  A referral about child seed with idempotency key; the child's subject id into
//  subject. Returns the reply (caller frees) after checking it is no error unless
//  allowed.
static Kinnet__V1__IntakeReply *
s_refer (kn_client_t *client, int seed, const char *key, char subject[KN_UUID_STR],
         bool may_fail)
{
    Kinnet__V1__IntakeReply *decoded = kn_test_refer_via (client, seed, key);
    if (may_fail && decoded->error)
        return decoded;
    cr_assert_null (decoded->error, "%s: %s", key,
                    decoded->error ? decoded->error->message : "");
    if (subject) {
        char sql[300];
        snprintf (sql, sizeof sql,
                  "SELECT subject_id FROM intake.referral_subject"
                  " WHERE referral_id = '%s' AND position = 0",
                  decoded->submitted->referral_id);
        char *id = kn_test_sql (kn_test_stack_db_url (stack), sql);
        cr_assert (id);
        snprintf (subject, KN_UUID_STR, "%s", id);
        free (id);
    }
    return decoded;
}

static void
s_refer_quietly (kn_client_t *client, int seed, const char *key,
                 char subject[KN_UUID_STR])
{
    kinnet__v1__intake_reply__free_unpacked (s_refer (client, seed, key, subject, false),
                                             NULL);
}

static void
s_restart (void)
{
    kn_test_stack_stop_intake (stack, SIGTERM);
    kn_test_stack_start_intake (stack);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 20000),
               "intake did not come back (logs in %s)", kn_test_stack_dir (stack));
    kn_test_stack_stop_routing (stack, 0, SIGTERM);
    kn_test_stack_start_routing (stack, 0);
}

//  One number of a JSON object.
static long
s_json_long (const char *text, const char *name)
{
    json_t *json = json_loads (text, 0, NULL);
    cr_assert (json, "not JSON: %s", text);
    json_t *value = json_object_get (json, name);
    cr_assert (json_is_integer (value), "no %s in %s", name, text);
    long n = (long)json_integer_value (value);
    json_decref (json);
    return n;
}

//  Referrals arriving while the re-index runs: known children and new ones.
typedef struct {
    volatile int stop;
    int sent, failed;
    char a[KN_UUID_STR];
    int a_mismatched;
} traffic_t;

static void *
s_traffic (void *arg)
{
    traffic_t *traffic = arg;
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 2);
    while (!traffic->stop) {
        char key[32], subject[KN_UUID_STR];
        int seed = traffic->sent % 2 ? 1 : 100 + traffic->sent; // A, or someone new
        snprintf (key, sizeof key, "during-%d", traffic->sent);
        Kinnet__V1__IntakeReply *reply = s_refer (client, seed, key, subject, true);
        if (reply->error)
            traffic->failed++;
        else if (seed == 1 && strcmp (subject, traffic->a) != 0)
            traffic->a_mismatched++;
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
        traffic->sent++;
    }
    kn_client_destroy (&client);
    return NULL;
}

//  The key file's text with every line starting with prefix left out.
static void
s_drop_lines (const char *prefix)
{
    char *text = kn_test_read_file (key_file);
    cr_assert (text);
    FILE *file = fopen (key_file, "w");
    cr_assert (file);
    for (char *save = NULL, *line = strtok_r (text, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save))
        if (strncmp (line, prefix, strlen (prefix)) != 0)
            fprintf (file, "%s\n", line);
    fclose (file);
    chmod (key_file, 0600);
    free (text);
}

//  The root key's line (64 hex characters alone) left out of the key file.
static void
s_drop_root (void)
{
    char *text = kn_test_read_file (key_file);
    cr_assert (text);
    FILE *file = fopen (key_file, "w");
    cr_assert (file);
    for (char *save = NULL, *line = strtok_r (text, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save))
        if (!(strlen (line) == 64 && strspn (line, "0123456789abcdef") == 64))
            fprintf (file, "%s\n", line);
    fclose (file);
    chmod (key_file, 0600);
    free (text);
}

Test (index_rotation, matching_survives_a_rotation_and_the_root_retires)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    char a[KN_UUID_STR], b[KN_UUID_STR], erased[KN_UUID_STR], again[KN_UUID_STR];
    char *out = NULL, args[600];
    //  Under version 1 (the root's): A, B, a person to erase, and a few more.
    s_refer_quietly (client, 1, "a-1", a);
    s_refer_quietly (client, 2, "b-1", b);
    s_refer_quietly (client, 3, "e-1", erased);
    for (int i = 0; i < 7; i++) {
        char key[16];
        snprintf (key, sizeof key, "o-%d", i);
        s_refer_quietly (client, 10 + i, key, NULL);
    }
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/21", erased);
    char *dpo = kn_test_stack_cli_env (stack, 1);
    cr_assert_eq (kn_test_run_cli (dpo, &out, "%s", args), 0, "%s", out);
    free (out);
    //  One person known twice (seed 50, merged into A) and two people taken for one
    //  (seed 60, the second referral split off): the re-index must keep the merged
    //  identity finding A, and leave the split-off person found by none, as resolved.
    char alias[KN_UUID_STR], twice[KN_UUID_STR];
    s_refer_quietly (client, 50, "m-1", alias);
    s_refer_quietly (client, 60, "s-1", twice);
    Kinnet__V1__IntakeReply *second = s_refer (client, 60, "s-2", NULL, false);
    cr_assert_eq (kn_test_run_cli (dpo, &out, "subject merge %s %s --reference M1", a, alias),
                  0, "%s", out);
    free (out);
    cr_assert_eq (kn_test_run_cli (dpo, &out, "subject split %s %s --reference S1", twice,
                                   second->submitted->referral_id),
                  0, "%s", out);
    free (out);
    kinnet__v1__intake_reply__free_unpacked (second, NULL);
    free (dpo);

    //  Version 2 added (held back), then made current; intake restarted with it.
    snprintf (args, sizeof args, "--format json admin indexkey add %s", key_file);
    cr_assert_eq (s_keys (&out, args), 0, "%s", out);
    cr_assert_eq (s_json_long (out, "added"), 2);
    cr_assert_eq (s_json_long (out, "current"), 1);
    free (out);
    snprintf (args, sizeof args, "admin indexkey use %s 2", key_file);
    cr_assert_eq (s_keys (&out, args), 0, "%s", out);
    free (out);
    s_restart ();
    //  Before the re-index: A is found under version 1, a new child is made under 2.
    s_refer_quietly (client, 1, "a-2", again);
    cr_assert_str_eq (again, a, "A was not matched under version 1");
    s_refer_quietly (client, 40, "n-1", again);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE id = '%s'"
                           " AND blind_index_version = 2",
                           again),
                  1);
    //  A retry of A's first referral, digested under version 1: the first answer.
    Kinnet__V1__IntakeReply *replay = s_refer (client, 1, "a-1", NULL, false);
    cr_assert (replay->submitted->replayed,
               "a retry across the rotation was not a replay");
    kinnet__v1__intake_reply__free_unpacked (replay, NULL);

    //  A dry run counts and changes nothing.
    int behind =
        s_count ("SELECT count(*) FROM core.subject WHERE blind_index_version = 1");
    cr_assert_geq (behind, 10);
    char *before =
        kn_test_sql (kn_test_stack_db_url (stack),
                     "SELECT string_agg (id || encode (blind_index, 'hex')"
                     " || blind_index_version, ',' ORDER BY id) FROM core.subject");
    cr_assert_eq (
        s_keys (&out, "--format json admin indexkey reindex --dry-run --batch 4"), 0,
        "%s", out);
    cr_assert_eq (s_json_long (out, "reindexed") + s_json_long (out, "erased"), behind,
                  "%s", out);
    cr_assert_eq (s_json_long (out, "batches"), 0);
    free (out);
    //  A bad batch size or a mistyped --dry-run runs nothing.
    cr_assert_eq (s_keys (&out, "admin indexkey reindex --batch 0"), 3, "%s", out);
    free (out);
    cr_assert_eq (s_keys (&out, "admin indexkey reindex --dry-rnu"), 2, "%s", out);
    free (out);
    char *after =
        kn_test_sql (kn_test_stack_db_url (stack),
                     "SELECT string_agg (id || encode (blind_index, 'hex')"
                     " || blind_index_version, ',' ORDER BY id) FROM core.subject");
    cr_assert_str_eq (before, after, "a dry run changed the index");
    free (before);
    free (after);

    //  The re-index, in batches of 3, while referrals keep arriving.
    traffic_t traffic = {0};
    memcpy (traffic.a, a, KN_UUID_STR);
    pthread_t thread;
    pthread_create (&thread, NULL, s_traffic, &traffic);
    while (traffic.sent < 2)
        zclock_sleep (10); // polled: the traffic has begun
    cr_assert_eq (s_keys (&out, "--format json admin indexkey reindex --batch 3"), 0,
                  "%s", out);
    traffic.stop = 1;
    pthread_join (thread, NULL);
    cr_assert_eq (s_json_long (out, "erased"), 1, "%s", out);
    cr_assert_geq (s_json_long (out, "reindexed"), behind - 1, "%s", out);
    cr_assert_eq (s_json_long (out, "unresolved"), 0, "%s", out);
    cr_assert_gt (s_json_long (out, "batches"), 2, "not in batches: %s", out);
    free (out);
    cr_assert_eq (traffic.failed, 0, "%d of %d referrals failed during the re-index",
                  traffic.failed, traffic.sent);
    cr_assert_eq (traffic.a_mismatched, 0, "A was not matched during the re-index");
    cr_assert_eq (
        s_count ("SELECT count(*) FROM core.subject WHERE blind_index_version <> 2"), 0,
        "a subject was left under version 1");
    //  A and B still match; the erased person makes a new, unlinked subject.
    s_refer_quietly (client, 1, "a-3", again);
    cr_assert_str_eq (again, a);
    s_refer_quietly (client, 2, "b-2", again);
    cr_assert_str_eq (again, b);
    s_refer_quietly (client, 3, "e-2", again);
    cr_assert_str_neq (again, erased, "an erased person was matched again");
    s_refer_quietly (client, 50, "m-2", again);
    cr_assert_str_eq (again, a, "the merged identity no longer finds A");
    s_refer_quietly (client, 60, "s-3", again);
    cr_assert_str_eq (again, twice, "the split identity no longer finds its first person");

    //  status: nothing is indexed under version 1, but fingerprints of today are.
    cr_assert_eq (s_keys (&out, "--format json admin indexkey status"), 0, "%s", out);
    cr_assert_eq (s_json_long (out, "behind"), 0, "%s", out);
    cr_assert (strstr (out, "\"removable\": []"), "%s", out);
    free (out);
    //  Forty days on, the window has passed: version 1 may leave the file.
    char clock[450], env[1700];
    snprintf (clock, sizeof clock, "%s/later.clock", kn_test_stack_dir (stack));
    cr_assert_eq (kn_clock_write (clock, (int64_t)time (NULL) + 40 * 86400), 0);
    snprintf (env, sizeof env, "%s KINNET_CLOCK_FILE='%s'", cli_env, clock);
    cr_assert_eq (kn_test_run_cli (env, &out, "--format json admin indexkey status"), 0,
                  "%s", out);
    cr_assert (strstr (out, "\"removable\": [1]"), "%s", out);
    free (out);
    cr_assert_eq (kn_test_run_cli (env, &out, "admin indexkey status"), 0, "%s", out);
    cr_assert (
        strstr (out, "version 1 is no longer in use: its line can leave the key file"),
        "%s", out);
    free (out);
    //  Nothing is left to re-index.
    cr_assert_eq (s_keys (&out, "admin indexkey reindex"), 0, "%s", out);
    cr_assert (strstr (out, "0 indexes recomputed under version 2"), "%s", out);
    free (out);

    //  Version 1 is the root's line, which is also field master version 1: rotate
    //  that too, then the root leaves the file.
    snprintf (args, sizeof args, "admin fieldkey add %s", key_file);
    cr_assert_eq (s_keys (&out, args), 0, "%s", out);
    free (out);
    s_restart ();
    snprintf (args, sizeof args, "admin fieldkey use %s 2", key_file);
    cr_assert_eq (s_keys (&out, args), 0, "%s", out);
    free (out);
    s_restart ();
    cr_assert_eq (s_keys (&out, "admin fieldkey rewrap"), 0, "%s", out);
    free (out);
    s_drop_root ();
    s_restart ();
    kn_error_t err;
    kn_crypto_t *rootless = kn_crypto_new_from_file (key_file, &err);
    cr_assert (rootless, "%s", err.message);
    cr_assert_not (kn_crypto_has_root (rootless));
    kn_crypto_destroy (&rootless);
    //  Matching still works without the root.
    s_refer_quietly (client, 1, "a-4", again);
    cr_assert_str_eq (again, a, "A was not matched after the root left the file");
    s_refer_quietly (client, 2, "b-3", again);
    cr_assert_str_eq (again, b);
    //  A retry whose first request was digested under the retired version cannot be
    //  compared: a conflict that says so, not a guess either way.
    replay = s_refer (client, 1, "a-1", NULL, true);
    cr_assert (replay->error);
    cr_assert_eq (replay->error->code, KINNET__V1__ERROR_CODE__CONFLICT);
    cr_assert (strstr (replay->error->message, "retired"), "%s", replay->error->message);
    kinnet__v1__intake_reply__free_unpacked (replay, NULL);

    //  A file that lost a version still in use: version 3 added, version 2's line
    //  removed. Intake refuses to start, saying which.
    char *kept = kn_test_read_file (key_file);
    snprintf (args, sizeof args, "admin indexkey add %s", key_file);
    cr_assert_eq (s_keys (&out, args), 0, "%s", out);
    free (out);
    s_drop_lines ("index 2 ");
    s_drop_lines ("index-current");
    cr_assert_eq (s_keys (&out, "admin indexkey status"), 0, "%s", out);
    cr_assert (strstr (out, "version 2: ") && strstr (out, "NOT IN THE KEY FILE"), "%s",
               out);
    free (out);
    kn_test_stack_stop_intake (stack, SIGTERM);
    kn_test_stack_start_intake (stack);
    char log[450];
    snprintf (log, sizeof log, "%s/intake.log", kn_test_stack_dir (stack));
    bool refused = false;
    for (int64_t deadline = zclock_mono () + 20000;
         !refused && zclock_mono () < deadline;) {
        char *text = kn_test_read_file (log);
        refused = text && strstr (text, "index key version 2 is in use");
        free (text);
        if (!refused)
            zclock_sleep (20); // polled: the daemon's start
    }
    cr_assert (refused, "intake started with a key file that lost version 2");
    kn_test_stack_stop_intake (stack, SIGKILL);
    //  With version 2 back it serves again.
    FILE *file = fopen (key_file, "w");
    cr_assert (file);
    fputs (kept, file);
    fclose (file);
    free (kept);
    kn_test_stack_start_intake (stack);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 20000));
    s_refer_quietly (client, 1, "a-5", again);
    cr_assert_str_eq (again, a);
    kn_client_destroy (&client);
}

//  Two sessions resolving one new person, on the library: the first holds the key
//  file that makes version 2 current, the second the one that holds it back (a
//  daemon not yet restarted after `indexkey use`).
static char *race_url;

static void
s_race_setup (void)
{
    race_url = kn_test_db_create ();
    //  Agencies are in registered districts (migration 0048).
    free (kn_test_sql (race_url, "INSERT INTO core.district (code) VALUES ('north')"));
}

static void
s_race_teardown (void)
{
    free (race_url);
    kn_test_no_leaks ();
}

TestSuite (index_race, .init = s_race_setup, .fini = s_race_teardown, .timeout = 60);

#define RACE_ROOT "0909090909090909090909090909090909090909090909090909090909090909"
#define RACE_TWO  "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"

static kn_crypto_t *
s_ring (const char *text)
{
    char path[] = "/tmp/kn-index-ring-XXXXXX";
    int fd = mkstemp (path);
    cr_assert (fd >= 0);
    cr_assert_eq (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    kn_error_t err;
    kn_crypto_t *crypto = kn_crypto_new_from_file (path, &err);
    unlink (path);
    cr_assert (crypto, "%s", err.message);
    return crypto;
}

static const kn_person_t s_newcomer = {"Lena", "Berg", "2016-02-29"};

typedef struct {
    kn_crypto_t *crypto;
    char subject[KN_UUID_STR];
    bool matched;
} racer_t;

static void *
s_racer (void *arg)
{
    racer_t *racer = arg;
    kn_error_t err;
    kn_db_t *db = kn_db_new (race_url, "kinnet_consent", &err);
    cr_assert (db, "%s", err.message);
    cr_assert_eq (kn_subject_prepare (db, &err), 0, "%s", err.message);
    cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0, "%s", err.message);
    char subjects[1][KN_UUID_STR], family[KN_UUID_STR];
    cr_assert_eq (kn_subject_resolve (db, racer->crypto, &s_newcomer, 1, subjects, family,
                                      &racer->matched, &err),
                  0, "%s", err.message);
    memcpy (racer->subject, subjects[0], KN_UUID_STR);
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), 0, "%s", err.message);
    kn_db_destroy (&db);
    return NULL;
}

Test (index_race, two_processes_on_either_side_of_use_make_one_subject)
{
    kn_crypto_t *ahead = s_ring (RACE_ROOT "\nindex 2 " RACE_TWO "\n");
    racer_t behind = {.crypto =
                          s_ring (RACE_ROOT "\nindex 2 " RACE_TWO "\nindex-current 1\n")};
    cr_assert_eq (kn_crypto_index_version (ahead), 2);
    cr_assert_eq (kn_crypto_index_version (behind.crypto), 1);
    kn_error_t err;
    kn_db_t *first = kn_db_new (race_url, "kinnet_intake", &err);
    cr_assert (first, "%s", err.message);
    cr_assert_eq (kn_subject_prepare (first, &err), 0, "%s", err.message);
    cr_assert_eq (kn_db_exec (first, "BEGIN", &err), 0, "%s", err.message);
    char subjects[1][KN_UUID_STR], family[KN_UUID_STR];
    bool matched = true;
    cr_assert_eq (kn_subject_resolve (first, ahead, &s_newcomer, 1, subjects, family,
                                      &matched, &err),
                  0, "%s", err.message);
    cr_assert_not (matched);
    pthread_t thread;
    pthread_create (&thread, NULL, s_racer, &behind);
    //  The second must wait for the first's uncommitted subject.
    int waiting = 0;
    for (int64_t deadline = zclock_mono () + 5000;
         !waiting && zclock_mono () < deadline;) {
        waiting = kn_test_count (race_url, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE wait_event = 'advisory'");
        if (!waiting)
            zclock_sleep (5); // polled: the other session's progress
    }
    cr_assert_eq (kn_db_exec (first, "COMMIT", &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    cr_assert_eq (waiting, 1, "the second session never waited for the first");
    cr_assert (behind.matched);
    cr_assert_str_eq (behind.subject, subjects[0]);
    cr_assert_eq (kn_test_count (race_url, "SELECT count(*) FROM core.subject"), 1);
    kn_db_destroy (&first);
    kn_crypto_destroy (&ahead);
    kn_crypto_destroy (&behind.crypto);
}

//  A re-index in a thread of its own.
typedef struct {
    kn_db_t *db;
    kn_crypto_t *crypto;
    kn_reindex_report_t report;
    kn_error_t err;
    int rc;
} reindex_t;

static void *
s_reindex (void *arg)
{
    reindex_t *run = arg;
    run->rc = kn_index_reindex (run->db, run->crypto, 2, false, &run->report, &run->err);
    return NULL;
}

//  What the re-index cannot recompute stays where it is and is reported: a person
//  with no referral or consent naming them, and one whose stored index the inputs
//  on record do not reproduce (they are never moved onto what the inputs give).
//  And a row another transaction holds is waited for, not left behind.
Test (index_race, what_cannot_be_recomputed_is_left_and_reported)
{
    kn_crypto_t *old_ring = s_ring (RACE_ROOT "\n");
    kn_crypto_t *new_ring = s_ring (RACE_ROOT "\nindex 2 " RACE_TWO "\n");
    kn_error_t err;
    kn_db_t *owner = kn_db_new (race_url, NULL, &err);
    cr_assert (owner, "%s", err.message);
    zcert_t *cert = zcert_new ();
    char agency[KN_UUID_STR];
    cr_assert_eq (kn_agency_add (owner, "A", "school", "north", zcert_public_txt (cert),
                                 agency, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
    kn_db_t *db = kn_db_new (race_url, "kinnet_intake", &err);
    cr_assert (db, "%s", err.message);
    intake_store_t *store = intake_store_new (db, old_ring, &err);
    cr_assert (store, "%s", err.message);
    const char *names[][2] = {{"Ida", "Nyberg"}, {"Oskar", "Nyberg"}, {"Maja", "Holm"}};
    char ids[3][KN_UUID_STR];
    for (int i = 0; i < 3; i++) {
        Kinnet__V1__Person child = KINNET__V1__PERSON__INIT;
        child.given_name = (char *)names[i][0];
        child.family_name = (char *)names[i][1];
        child.date_of_birth = "2015-05-05";
        Kinnet__V1__Need need = KINNET__V1__NEED__INIT;
        need.category = KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT;
        need.description = "Support at school.";
        Kinnet__V1__Need *needs[] = {&need};
        Kinnet__V1__LawfulGround ground = KINNET__V1__LAWFUL_GROUND__INIT;
        ground.basis = KINNET__V1__LAWFUL_BASIS__PUBLIC_TASK;
        ground.justification = "Early help.";
        Kinnet__V1__SubmitReferral referral = KINNET__V1__SUBMIT_REFERRAL__INIT;
        char key[16];
        snprintf (key, sizeof key, "k-%d", i);
        referral.idempotency_key = key;
        referral.child = &child;
        referral.needs = needs;
        referral.n_needs = 1;
        referral.urgency = KINNET__V1__URGENCY__ROUTINE;
        referral.district = "north";
        referral.lawful_ground = &ground;
        intake_submit_result_t result;
        cr_assert_eq (intake_store_submit (store, agency, &referral, &result, &err), 0,
                      "%s", err.message);
        memcpy (ids[i], result.subject_ids[0], KN_UUID_STR);
    }
    char sql[400];
    //  Oskar's index no longer what his inputs give; Maja's referral part gone.
    snprintf (sql, sizeof sql,
              "UPDATE core.subject SET blind_index = decode (repeat ('ab', 32), 'hex')"
              " WHERE id = '%s'",
              ids[1]);
    free (kn_test_sql (race_url, sql));
    snprintf (
        sql, sizeof sql,
        "UPDATE intake.referral_subject SET personal = NULL WHERE subject_id = '%s'",
        ids[2]);
    free (kn_test_sql (race_url, sql));
    kn_index_use_t uses[4];
    cr_assert_eq (kn_index_status (owner, 30, uses, 4, &err), 1, "%s", err.message);
    cr_assert_eq (uses[0].version, 1);
    cr_assert_eq (uses[0].subjects, 3);
    cr_assert_eq (uses[0].without_inputs, 1);
    cr_assert_eq (uses[0].fingerprints, 3);
    cr_assert_eq (uses[0].recent, 3);
    //  Ida's row held by a disclosure (a share lock) while the re-index runs: passed
    //  over first, then waited for, and re-indexed all the same.
    kn_db_t *holder = kn_db_new (race_url, NULL, &err);
    cr_assert (holder, "%s", err.message);
    snprintf (sql, sizeof sql, "SELECT 1 FROM core.subject WHERE id = '%s' FOR SHARE",
              ids[0]);
    cr_assert_eq (kn_db_exec (holder, "BEGIN", &err), 0, "%s", err.message);
    PGresult *held = kn_db_query (holder, sql, 0, NULL, &err);
    cr_assert (held, "%s", err.message);
    PQclear (held);
    reindex_t run = {.db = owner, .crypto = new_ring};
    pthread_t thread;
    pthread_create (&thread, NULL, s_reindex, &run);
    int waiting = 0;
    for (int64_t deadline = zclock_mono () + 5000;
         !waiting && zclock_mono () < deadline;) {
        waiting = kn_test_count (race_url, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE wait_event_type = 'Lock'"
                                           " AND query LIKE '%FOR UPDATE OF s'");
        if (!waiting)
            zclock_sleep (5); // polled: the re-index's progress
    }
    cr_assert_eq (kn_db_exec (holder, "COMMIT", &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    kn_db_destroy (&holder);
    cr_assert_eq (waiting, 1, "the re-index never waited for the held row");
    cr_assert_eq (run.rc, 0, "%s", run.err.message);
    kn_reindex_report_t report = run.report;
    cr_assert_eq (report.reindexed, 1);
    cr_assert_eq (report.unresolved, 2);
    cr_assert_eq (report.n_listed, 2);
    for (int i = 1; i < 3; i++) {
        bool listed = false;
        for (int k = 0; k < report.n_listed; k++)
            listed = listed || strcmp (report.listed[k], ids[i]) == 0;
        cr_assert (listed, "%s was not reported", ids[i]);
        snprintf (sql, sizeof sql,
                  "SELECT count(*) FROM core.subject WHERE id = '%s'"
                  " AND blind_index_version = 1",
                  ids[i]);
        cr_assert_eq (kn_test_count (race_url, sql), 1, "%s was moved", ids[i]);
    }
    //  Version 1 is still in use, so a file without it is refused.
    kn_crypto_t *rootless = s_ring ("field 2 " RACE_TWO "\nindex 2 " RACE_TWO "\n");
    cr_assert_eq (kn_index_check (db, rootless, &err), -1);
    cr_assert (strstr (err.message, "version 1 is in use"), "%s", err.message);
    cr_assert_eq (kn_index_check (db, new_ring, &err), 0, "%s", err.message);
    kn_crypto_destroy (&rootless);
    intake_store_destroy (&store);
    kn_db_destroy (&db);
    kn_db_destroy (&owner);
    kn_crypto_destroy (&old_ring);
    kn_crypto_destroy (&new_ring);
}

//  The re-index is the owner's: no service may rewrite an index's version (records
//  replaces an index, with random bytes on an erasure or with the corrected
//  identity's on a rectification, under the version it reads and keeps), and the
//  versions in use are told to the daemons that check them, no one else.
Test (index_race, only_the_owner_rewrites_an_index_version)
{
    cr_assert_eq (kn_test_count (race_url,
                                 "SELECT count(*) FROM unnest (ARRAY['kinnet_broker',"
                                 " 'kinnet_intake', 'kinnet_consent', 'kinnet_routing',"
                                 " 'kinnet_reporting', 'kinnet_audit', 'kinnet_admin',"
                                 " 'kinnet_records']) r WHERE has_column_privilege (r,"
                                 " 'core.subject', 'blind_index_version', 'UPDATE')"),
                  0);
    cr_assert_eq (kn_test_count (
                      race_url, "SELECT count(*) FROM unnest (ARRAY['kinnet_intake',"
                                " 'kinnet_consent', 'kinnet_routing', 'kinnet_reporting',"
                                " 'kinnet_admin']) r WHERE has_column_privilege (r,"
                                " 'intake.referral_subject', 'personal', 'UPDATE')"),
                  0);
    cr_assert_eq (kn_test_count (race_url,
                                 "SELECT count(*) FROM unnest (ARRAY['kinnet_broker',"
                                 " 'kinnet_audit']) r WHERE has_function_privilege (r,"
                                 " 'core.blind_index_versions ()', 'EXECUTE')"),
                  0);
    cr_assert_eq (kn_test_count (
                      race_url, "SELECT count(*) FROM unnest (ARRAY['kinnet_intake',"
                                " 'kinnet_consent', 'kinnet_routing', 'kinnet_reporting',"
                                " 'kinnet_admin', 'kinnet_records']) r"
                                " WHERE has_function_privilege (r,"
                                " 'core.blind_index_versions ()', 'EXECUTE')"),
                  6);
}
