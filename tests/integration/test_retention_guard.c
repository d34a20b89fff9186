/*  The retention guard on a running stack, with the clock moved: an administrator
    may lengthen a schedule but not shorten one; a DPO's shortening waits (the
    records daemon's KINNET_RETENTION_SHORTEN_DELAY_DAYS) and runs before its moment
    do not use it, runs after it do; every DPO (two agencies here) is told in its
    feed and a non-DPO is not; another DPO cancels it and both are told; a
    lengthening removes it and a second shortening restarts the delay; a run that
    is no dry run starts at most once a minute, one waiting at the gate included. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kn_clock.h"
#include "kn_test.h"
#include "kn_uuid.h"

#define DAY        (24 * 3600)
#define DELAY_DAYS 7 // KINNET_RETENTION_SHORTEN_DELAY_DAYS below

static kn_test_stack_t *stack;
static int64_t t0;

static void
s_setup (void)
{
    const char *env[] = {"records", "KINNET_RETENTION_INTERVAL_S",         "0",
                         "records", "KINNET_RETENTION_SHORTEN_DELAY_DAYS", "7",
                         NULL};
    stack = kn_test_stack_new_with_env (env);
    //  Two DPOs (agencies 0 and 1); the administrator (3) is none.
    for (int agency = 0; agency < 2; agency++)
        kn_test_stack_grant (stack, agency, "data_protection_officer");
    kn_test_stack_start_records (stack);
    t0 = kn_clock_now ();
    kn_test_stack_set_clock (stack, t0);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (retention_guard, .init = s_setup, .fini = s_teardown, .timeout = 180);

#define s_cli(agency, out, ...) kn_test_stack_cli (stack, agency, out, __VA_ARGS__)
#define s_count(...)            kn_test_countf (kn_test_stack_db_url (stack), __VA_ARGS__)

//  The schedule of type, as the database holds it: "days/pending_days/pending_by"
//  ("-" for NULL; caller frees).
static char *
s_row (const char *type)
{
    return kn_test_sqlf (kn_test_stack_db_url (stack),
                         "SELECT coalesce (days::text, '-') || '/'"
                         " || coalesce (pending_days::text, '-') || '/'"
                         " || coalesce (pending_by::text, '-')"
                         " FROM core.retention_schedule WHERE record_type = '%s'",
                         type);
}

static void
s_row_is (const char *type, const char *want)
{
    char *row = s_row (type);
    cr_assert_str_eq (row, want, "%s: %s, not %s", type, row, want);
    free (row);
}

//  "days/pending/agency id" for s_row_is.
static const char *
s_pending (int days, int pending, int agency)
{
    static char text[120];
    snprintf (text, sizeof text, "%d/%d/%s", days, pending,
              kn_test_stack_agency_id (stack, agency));
    return text;
}

//  Feed events of topic in agency's feed.
static int
s_told (int agency, const char *topic)
{
    return s_count ("SELECT count(*) FROM routing.feed WHERE agency_id = '%s'"
                    " AND topic = '%s'",
                    kn_test_stack_agency_id (stack, agency), topic);
}

//  Await n events of topic in both DPOs' feeds (routing copies the outbox event).
static void
s_await_told (const char *topic, int n)
{
    for (int i = 0; i < 3000 && (s_told (0, topic) < n || s_told (1, topic) < n); i++)
        zclock_sleep (10);
    cr_assert_eq (s_told (0, topic), n, "DPO 0 was not told of %s", topic);
    cr_assert_eq (s_told (1, topic), n, "DPO 1 was not told of %s", topic);
}

//  A run (options: "--dry-run", "") as agency at the clock now; its JSON.
static json_t *
s_run (int agency, const char *options)
{
    char *out = NULL;
    cr_assert_eq (s_cli (agency, &out, "--format json retention run %s", options), 0,
                  "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    free (out);
    return json;
}

static bool
s_lists (json_t *run, const char *id)
{
    json_t *ids = json_object_get (run, "erased_subjects"), *value;
    size_t i;
    json_array_foreach (ids, i, value) if (strcmp (json_string_value (value), id) ==
                                           0) return true;
    return false;
}

//  A referral of one child as agency 0, withdrawn at once: the child's subject id.
static void
s_withdrawn_child (const char *key, const char *name, char child[KN_UUID_STR])
{
    char path[400], *out = NULL;
    snprintf (path, sizeof path, "%s/%s.json", kn_test_stack_dir (stack), key);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fprintf (file,
             "{\"idempotency_key\": \"%s\","
             " \"child\": {\"given_name\": \"%s\", \"family_name\": \"Moss\","
             "            \"date_of_birth\": \"2015-02-11\"},"
             " \"needs\": [{\"category\": \"attendance_and_learning\","
             "             \"description\": \"Missed school.\"}],"
             " \"urgency\": \"routine\", \"district\": \"north\","
             " \"lawful_ground\": {\"basis\": \"public_task\","
             "                   \"justification\": \"Statutory early help.\"}}",
             key, name);
    fclose (file);
    cr_assert_eq (s_cli (0, &out, "--format json refer --file %s", path), 0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    char referral[KN_UUID_STR];
    snprintf (referral, sizeof referral, "%s",
              json_string_value (json_object_get (json, "referral_id")));
    json_decref (json);
    free (out);
    cr_assert_eq (
        s_cli (0, &out, "referral withdraw %s --reason 'Sent in error'", referral), 0,
        "%s", out);
    free (out);
    char *id = kn_test_sqlf (kn_test_stack_db_url (stack),
                             "SELECT subject_id FROM intake.referral_subject"
                             " WHERE referral_id = '%s'",
                             referral);
    cr_assert (id);
    snprintf (child, KN_UUID_STR, "%s", id);
    free (id);
}

Test (retention_guard, an_administrator_lengthens_but_never_shortens)
{
    char *out = NULL;
    //  Fewer days, or a number of days where records were kept without limit:
    //  refused, on field days, with nothing changed and the refusal on record.
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "--format json retention set case 10"), 4,
                  "%s", out);
    cr_assert (strstr (out, "permission_denied") && strstr (out, "\"days\"") &&
                   strstr (out, "data_protection_officer"),
               "%s", out);
    free (out);
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set audit_trail 36500"), 4, "%s",
                  out);
    free (out);
    s_row_is ("case", "1095/-/-");
    s_row_is ("audit_trail", "-/-/-");
    cr_assert_eq (
        s_count ("SELECT count(*) FROM core.audit WHERE operation = 'set_retention'"
                 " AND result = 'permission_denied' AND role = 'administrator'"),
        2);
    cr_assert_eq (
        s_count ("SELECT count(*) FROM core.outbox WHERE topic LIKE 'retention.%%'"), 0);
    //  Longer, or the same: in force at once.
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set case 2000"), 0, "%s", out);
    cr_assert (strstr (out, "in force now"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set feed forever"), 0, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set outbox 30"), 0, "%s", out);
    free (out);
    s_row_is ("case", "2000/-/-");
    s_row_is ("feed", "-/-/-");
    s_row_is ("outbox", "30/-/-");
    //  Nor may an administrator cancel (a DPO's decision).
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention cancel case"), 4, "%s", out);
    free (out);
}

Test (retention_guard, a_dpo_shortening_waits_and_every_dpo_is_told)
{
    char ana[KN_UUID_STR];
    s_withdrawn_child ("GUARD-A", "Ana", ana);
    //  A day on, DPO 1 shortens `referral` from 365 to 5 days: pending, in force
    //  DELAY_DAYS later.
    kn_test_stack_set_clock (stack, t0 + DAY);
    int64_t from = t0 + DAY + DELAY_DAYS * DAY;
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "retention set referral 5"), 0, "%s", out);
    cr_assert (strstr (out, "pending") && strstr (out, "PENDING: 5 days"), "%s", out);
    free (out);
    s_row_is ("referral", s_pending (365, 5, 1));
    cr_assert_eq (s_count ("SELECT count(*) FROM core.retention_schedule"
                           " WHERE record_type = 'referral'"
                           " AND pending_from = to_timestamp (%lld)",
                           (long long)from),
                  1);
    cr_assert_eq (s_cli (0, &out, "--format json retention list"), 0, "%s", out);
    cr_assert (strstr (out, "\"pending_days\": 5,") && strstr (out, "\"days\": 365"),
               "%s", out);
    free (out);
    //  Every DPO is told, the administrator (no DPO) is not.
    s_await_told ("retention.shortening", 1);
    cr_assert_eq (s_told (KN_TEST_ADMIN, "retention.shortening"), 0);
    cr_assert_eq (s_cli (0, &out, "feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "retention.shortening") &&
                   strstr (out, "referral: 365 days shortened to 5 days by"),
               "%s", out);
    free (out);
    //  A minute before its moment, Ana (withdrawn 5 days and more before) is not due:
    //  365 days are still in force, for a dry run and a run alike.
    kn_test_stack_set_clock (stack, from - 60);
    json_t *run = s_run (1, "--dry-run");
    cr_assert (!s_lists (run, ana), "a pending period was applied before its moment");
    json_decref (run);
    run = s_run (1, "");
    cr_assert_eq (json_integer_value (json_object_get (run, "erased")), 0);
    json_decref (run);
    //  From its moment, the 5 days are in force: the list says so, a dry run sees
    //  Ana due and a run erases her.
    kn_test_stack_set_clock (stack, from + 1);
    cr_assert_eq (s_cli (0, &out, "--format json retention list"), 0, "%s", out);
    cr_assert (strstr (out, "\"days\": 5,") && !strstr (out, "\"pending_days\": 5,"),
               "%s", out);
    free (out);
    run = s_run (0, "--dry-run");
    cr_assert (s_lists (run, ana),
               "the period in force at the run's moment was not used");
    json_decref (run);
    run = s_run (0, "");
    cr_assert (s_lists (run, ana));
    json_decref (run);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NULL",
                           ana),
                  1);
    //  In force, it can no longer be cancelled.
    cr_assert_eq (s_cli (0, &out, "retention cancel referral"), 5, "%s", out);
    free (out);
}

Test (retention_guard, another_dpo_cancels_and_both_are_told)
{
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "retention set case 10"), 0, "%s", out);
    free (out);
    s_row_is ("case", s_pending (1095, 10, 1));
    s_await_told ("retention.shortening", 1);
    //  DPO 0 cancels DPO 1's shortening; the retry with the same key answers again.
    cr_assert_eq (s_cli (0, &out, "--format json retention cancel case --key C-1"), 0,
                  "%s", out);
    cr_assert (strstr (out, "\"days\": 1095") && !strstr (out, "pending_days"), "%s",
               out);
    free (out);
    cr_assert_eq (s_cli (0, &out, "--format json retention cancel case --key C-1"), 0,
                  "%s", out);
    cr_assert (strstr (out, "\"replayed\": true"), "%s", out);
    free (out);
    s_row_is ("case", "1095/-/-");
    s_await_told ("retention.shortening_cancelled", 1);
    cr_assert_eq (s_told (KN_TEST_ADMIN, "retention.shortening_cancelled"), 0);
    cr_assert_eq (s_cli (1, &out, "feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "case: shortening to 10 days") &&
                   strstr (out, "cancelled by"),
               "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE operation ="
                           " 'cancel_retention' AND result = 'ok' AND agency_id = '%s'",
                           kn_test_stack_agency_id (stack, 0)),
                  2);
    //  Cancelled, the shorter period never applies.
    kn_test_stack_set_clock (stack, t0 + (DELAY_DAYS + 1) * DAY);
    cr_assert_eq (s_cli (0, &out, "--format json retention list"), 0, "%s", out);
    cr_assert (strstr (out, "\"days\": 1095") && !strstr (out, "\"days\": 10,"), "%s",
               out);
    free (out);
    //  Nothing pending: a clear refusal, nothing written; a type that is none; a
    //  request with no type.
    cr_assert_eq (s_cli (1, &out, "--format json retention cancel case"), 5, "%s", out);
    cr_assert (strstr (out, "no shortening of the case period is pending") &&
                   strstr (out, "record_type"),
               "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "--format json retention cancel cases"), 3, "%s", out);
    cr_assert (strstr (out, "record_type"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "retention cancel"), 2, "%s", out);
    free (out);
    s_row_is ("case", "1095/-/-");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.outbox"
                           " WHERE topic = 'retention.shortening_cancelled'"),
                  1);
}

Test (retention_guard, a_lengthening_removes_it_and_a_second_shortening_restarts)
{
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "retention set consent 100"), 0, "%s", out);
    free (out);
    //  Three days on, DPO 0 shortens further: it replaces the pending one and waits
    //  the whole delay from now.
    kn_test_stack_set_clock (stack, t0 + 3 * DAY);
    cr_assert_eq (s_cli (0, &out, "retention set consent 50"), 0, "%s", out);
    free (out);
    s_row_is ("consent", s_pending (1095, 50, 0));
    cr_assert_eq (s_count ("SELECT count(*) FROM core.retention_schedule"
                           " WHERE record_type = 'consent'"
                           " AND pending_from = to_timestamp (%lld)",
                           (long long)(t0 + 3 * DAY + DELAY_DAYS * DAY)),
                  1);
    s_await_told ("retention.shortening", 2);
    //  An administrator lengthens it: in force at once, the pending one gone, and
    //  the DPOs told it was.
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set consent 1200"), 0, "%s",
                  out);
    free (out);
    s_row_is ("consent", "1200/-/-");
    s_await_told ("retention.shortening_cancelled", 1);
    //  A shortening that came into force is the period then: a shorter one again
    //  waits, and is measured from it.
    cr_assert_eq (s_cli (1, &out, "retention set consent 400"), 0, "%s", out);
    free (out);
    kn_test_stack_set_clock (stack, t0 + 3 * DAY + (DELAY_DAYS + 1) * DAY);
    cr_assert_eq (s_cli (1, &out, "retention set consent 300"), 0, "%s", out);
    free (out);
    s_row_is ("consent", s_pending (400, 300, 1));
    //  The same period as in force is no shortening: it applies and clears.
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "retention set consent 400"), 0, "%s", out);
    cr_assert (strstr (out, "in force now"), "%s", out);
    free (out);
    s_row_is ("consent", "400/-/-");
}

Test (retention_guard, a_run_starts_at_most_once_a_minute)
{
    json_t *run = s_run (1, "--key RUN-1");
    json_decref (run);
    char *out = NULL;
    //  Another DPO at once: refused, with nothing run or recorded; a dry run and a
    //  retry of the first run are answered.
    cr_assert_eq (s_cli (0, &out, "--format json retention run"), 8, "%s", out);
    cr_assert (strstr (out, "resource_exhausted") && strstr (out, "at most one a minute"),
               "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.retention_run WHERE NOT dry_run"),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE operation ="
                           " 'run_retention' AND result = 'resource_exhausted'"),
                  1);
    run = s_run (0, "--dry-run");
    json_decref (run);
    run = s_run (1, "--key RUN-1");
    cr_assert (json_is_true (json_object_get (run, "replayed")));
    json_decref (run);
    //  59 seconds on: still refused; a minute on: runs.
    kn_test_stack_set_clock (stack, t0 + 59);
    cr_assert_eq (s_cli (0, &out, "retention run"), 8, "%s", out);
    free (out);
    kn_test_stack_set_clock (stack, t0 + 60);
    run = s_run (0, "");
    json_decref (run);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.retention_run WHERE NOT dry_run"),
                  2);
}

//  The operational rows' periods (read in the keeper's own statements) follow the
//  pending change the same way: idempotency entries a day old are not due under 30
//  days, and are under a pending 1 day only from its moment on.
Test (retention_guard, operational_periods_follow_a_pending_shortening_too)
{
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "retention set idempotency 1"), 0, "%s", out);
    free (out);
    cr_assert (s_count ("SELECT count(*) FROM records.idempotency") > 0);
    kn_test_stack_set_clock (stack, t0 + DELAY_DAYS * DAY - 60);
    json_t *run = s_run (1, "--dry-run");
    cr_assert_eq (json_integer_value (json_object_get (run, "idempotency")), 0,
                  "a pending period was applied to operational rows before its moment");
    json_decref (run);
    kn_test_stack_set_clock (stack, t0 + DELAY_DAYS * DAY + 1);
    run = s_run (1, "--dry-run");
    cr_assert (json_integer_value (json_object_get (run, "idempotency")) > 0,
               "the period in force was not used for operational rows");
    json_decref (run);
}

//  Two runs at once (records workers side by side): the gate decides under one lock,
//  so a run that waited for it sees the one that started meanwhile. Here the test
//  is the other run: it holds the lock while a run waits, records its own run, and
//  commits; the waiting run must then be refused.
typedef struct {
    int code;
    char *out;
} s_runner_t;

static void *
s_runner (void *arg)
{
    s_runner_t *runner = arg;
    runner->code = s_cli (1, &runner->out, "--format json retention run");
    return NULL;
}

Test (retention_guard, a_run_waiting_at_the_gate_sees_the_one_before)
{
    kn_error_t err;
    kn_db_t *other = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (other, "%s", err.message);
    cr_assert_eq (kn_db_exec (other,
                              "BEGIN; SELECT pg_advisory_xact_lock (hashtext"
                              " ('kinnet.retention.run'))",
                              &err),
                  0, "%s", err.message);
    s_runner_t runner = {0};
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_runner, &runner), 0);
    const char *waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                          " 'Lock' AND wait_event = 'advisory'"
                          " AND datname = current_database()";
    for (int i = 0; i < 3000 && s_count ("%s", waiting) < 1; i++)
        zclock_sleep (10);
    int waited = s_count ("%s", waiting);
    char sql[400];
    snprintf (
        sql, sizeof sql,
        "INSERT INTO core.retention_run (id, clock, run_by, dry_run, erased, held,"
        " outbox, feed, idempotency) VALUES (gen_random_uuid (), to_timestamp (%lld),"
        " '%s', false, 0, 0, 0, 0, 0); COMMIT",
        (long long)t0, kn_test_stack_agency_id (stack, 0));
    cr_assert_eq (kn_db_exec (other, sql, &err), 0, "%s", err.message);
    pthread_join (thread, NULL);
    kn_db_destroy (&other);
    cr_assert_eq (waited, 1, "the run did not wait for the gate's lock");
    cr_assert_eq (runner.code, 8, "%s", runner.out);
    cr_assert (strstr (runner.out, "resource_exhausted"), "%s", runner.out);
    free (runner.out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.retention_run WHERE NOT dry_run"),
                  1);
}
