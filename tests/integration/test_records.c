/*  The records service on a running stack: a DPO erases a person and places and
    lifts legal holds, through the CLI. Erasure makes the person's data unreadable
    everywhere and leaves the rest; a hold stops it; a database restored from before
    an erasure is erased again from the ledger when the records daemon starts. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;
static char dir[300];
static char referral_id[KN_UUID_STR], child[KN_UUID_STR], sibling[KN_UUID_STR];

static const char *s_referral =
    "{\"idempotency_key\": \"REC-1\","
    " \"child\": {\"given_name\": \"Mira\", \"family_name\": \"Sousa\","
    "            \"date_of_birth\": \"2015-03-02\"},"
    " \"siblings\": [{\"given_name\": \"Tomas\", \"family_name\": \"Sousa\","
    "                \"date_of_birth\": \"2018-07-21\"}],"
    " \"needs\": [{\"category\": \"attendance_and_learning\","
    "             \"description\": \"Attendance 64% this term.\"}],"
    " \"urgency\": \"routine\", \"district\": \"north\","
    " \"lawful_ground\": {\"basis\": \"public_task\","
    "                   \"justification\": \"Statutory early help.\"}}";

//  The CLI as agency (0: the referrer; 1: the DPO), its exit code; output in *out.
static int
s_cli (int agency, char **out, const char *args)
{
    char *env = kn_test_stack_cli_env (stack, agency);
    int rc = kn_test_run_cli (env, out, "%s", args);
    free (env);
    return rc;
}

static char *
s_sql (const char *sql)
{
    return kn_test_sql (kn_test_stack_db_url (stack), sql);
}

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    snprintf (dir, sizeof dir, "%s", kn_test_stack_dir (stack));
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_start_records (stack);
    char path[400], *out = NULL;
    snprintf (path, sizeof path, "%s/referral.json", dir);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (s_referral, file);
    fclose (file);
    char args[500];
    snprintf (args, sizeof args, "--format json refer --file %s", path);
    cr_assert_eq (s_cli (0, &out, args), 0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    snprintf (referral_id, sizeof referral_id, "%s",
              json_string_value (json_object_get (json, "referral_id")));
    json_decref (json);
    free (out);
    char query[300];
    for (int position = 0; position < 2; position++) {
        snprintf (query, sizeof query,
                  "SELECT subject_id FROM intake.referral_subject"
                  " WHERE referral_id = '%s' AND position = %d",
                  referral_id, position);
        char *id = s_sql (query);
        snprintf (position ? sibling : child, KN_UUID_STR, "%s", id);
        free (id);
    }
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (records, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  A count of rows about one id: the SQL's one %s is the id.
#define s_count(fmt, id)                                                                 \
    ({                                                                                   \
        char sql_[400];                                                                  \
        snprintf (sql_, sizeof sql_, fmt, id);                                           \
        kn_test_count (kn_test_stack_db_url (stack), sql_);                              \
    })

Test (records, erase_destroys_the_persons_key_and_only_theirs)
{
    char args[300], *out = NULL, sql[300];
    snprintf (sql, sizeof sql, "SELECT encode (blind_index, 'hex') FROM core.subject"
                               " WHERE id = '%s'", sibling);
    char *before = s_sql (sql);
    //  Not a DPO: refused, and on record.
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/17", sibling);
    cr_assert_eq (s_cli (0, &out, args), 4, "%s", out);
    free (out);
    //  A reference that is a sentence, an unknown person: refused, nothing changed.
    snprintf (args, sizeof args, "subject erase %s --reference 'asked by Tomas'", sibling);
    cr_assert_eq (s_cli (1, &out, args), 3, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject erase 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44"
                                  " --reference X1"),
                  6, "%s", out);
    free (out);
    //  A dry run counts and changes nothing.
    snprintf (args, sizeof args,
              "--format json subject erase %s --reference DPO/2026/17 --dry-run", sibling);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "\"referrals\": 1"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NULL", sibling),
                  0);
    //  Agency 1 received data about the sibling once (the disclosure log): it must be
    //  told of the erasure. Agency 0 received nothing.
    char disclosed[600];
    snprintf (disclosed, sizeof disclosed,
              "SELECT core.begin_write ();"
              "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose,"
              " basis, service) VALUES ('%s', '%s', '{1}', 1, 'consent', 'intake')",
              sibling, kn_test_stack_agency_id (stack, 1));
    free (s_sql (disclosed));
    //  The erasure.
    snprintf (args, sizeof args, "--format json subject erase %s --reference DPO/2026/17",
              sibling);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "\"erased_at\""), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NULL AND destroyed_at IS NOT NULL", sibling),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.erasure WHERE subject_id = '%s'"
                           " AND reference = 'DPO/2026/17'", sibling),
                  1);
    //  The referrer still reads the referral: the child whole, the sibling erased.
    snprintf (args, sizeof args, "--format json referral show %s", referral_id);
    cr_assert_eq (s_cli (0, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "Mira"), "%s", out);
    cr_assert_null (strstr (out, "Tomas"), "%s", out);
    cr_assert_null (strstr (out, "2018-07-21"), "%s", out);
    cr_assert (strstr (out, "\"erased\": true"), "%s", out);
    free (out);
    //  Again, as a new request: refused, the person is already erased.
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/17 --key other",
              sibling);
    cr_assert_eq (s_cli (1, &out, args), 5, "%s", out);
    cr_assert (strstr (out, "already erased"), "%s", out);
    free (out);
    //  The agency that received data about them is told in its feed; the other is not.
    cr_assert_eq (s_cli (1, &out, "--format json feed --wait 5000"), 0, "%s", out);
    for (int i = 0; i < 50 && !strstr (out, "subject.erased"); i++) {
        free (out);
        cr_assert_eq (s_cli (1, &out, "--format json feed --wait 200"), 0, "%s", out);
    }
    cr_assert (strstr (out, "subject.erased") && strstr (out, sibling), "%s", out);
    free (out);
    cr_assert_eq (s_cli (0, &out, "--format json feed"), 0, "%s", out);
    cr_assert_null (strstr (out, "subject.erased"), "%s", out);
    free (out);
    //  Their subject export is the fact and date of the erasure, nothing more.
    snprintf (args, sizeof args, "subject export %s --out - --format json", sibling);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "\"erased\": true") && strstr (out, "\"erased_at\""), "%s", out);
    cr_assert_null (strstr (out, "\"referrals\""), "%s", out);
    cr_assert_null (strstr (out, "\"audit\""), "%s", out);
    free (out);
    //  Their blind index is unlinked: a new referral naming them makes a new person.
    char *after = s_sql (sql);
    cr_assert_str_neq (after, before);
    free (after);
    free (before);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE object_id = '%s'"
                           " AND service = 'records' AND operation = 'erase'"
                           " AND result = 'permission_denied'", sibling),
                  1);
}

Test (records, a_hold_stops_erasure_until_lifted)
{
    char args[300], *out = NULL;
    snprintf (args, sizeof args, "subject hold place %s --reason ''", child);
    cr_assert_eq (s_cli (1, &out, args), 3, "%s", out);   // a hold needs a reason
    free (out);
    snprintf (args, sizeof args,
              "--format json subject hold place %s --reason 'Care proceedings pending'",
              child);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    json_t *hold = json_loads (out, 0, NULL);
    cr_assert (hold, "%s", out);
    free (out);
    char hold_id[KN_UUID_STR];
    snprintf (hold_id, sizeof hold_id, "%s",
              json_string_value (json_object_get (hold, "hold_id")));
    json_decref (hold);
    //  Sealed: the reason is not in the table in clear.
    cr_assert_eq (s_count ("SELECT count(*) FROM core.legal_hold WHERE id = '%s'"
                           " AND position ('Care'::bytea IN reason) = 0", hold_id),
                  1);
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/18", child);
    cr_assert_eq (s_cli (1, &out, args), 5, "%s", out);
    cr_assert (strstr (out, "legal hold"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NULL", child),
                  0);
    snprintf (args, sizeof args, "--format json subject holds %s", child);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "Care proceedings pending"), "%s", out);
    free (out);
    //  The export shows the hold with its reason.
    snprintf (args, sizeof args, "subject export %s --out - --format json", child);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    cr_assert (strstr (out, "\"legal_holds\"") && strstr (out, "Care proceedings pending"),
               "%s", out);
    free (out);
    snprintf (args, sizeof args, "subject hold lift %s --reason 'Proceedings ended'",
              hold_id);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);   // the retry is answered
    free (out);
    snprintf (args, sizeof args, "subject hold lift %s --reason 'again' --key k2", hold_id);
    cr_assert_eq (s_cli (1, &out, args), 5, "%s", out);   // lifted already
    free (out);
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/18", child);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    free (out);
    //  The child's erasure takes the family's part of the referral with it.
    snprintf (args, sizeof args, "referral show %s", referral_id);
    cr_assert_eq (s_cli (0, &out, args), 6, "%s", out);
    free (out);
}

Test (records, a_restore_from_before_an_erasure_is_erased_again_from_the_ledger)
{
    //  The backup: the person's key row as it was before the erasure.
    char sql[400];
    snprintf (sql, sizeof sql,
              "SELECT encode (wrapped, 'hex') || ' ' || encode (blind_index, 'hex')"
              " FROM core.data_key k JOIN core.subject s ON s.id = k.subject_id"
              " WHERE s.id = '%s'", sibling);
    char *saved = s_sql (sql);
    char wrapped[200], blind[80];
    cr_assert_eq (sscanf (saved, "%199s %79s", wrapped, blind), 2);
    free (saved);
    char args[300], *out = NULL;
    snprintf (args, sizeof args, "subject erase %s --reference DPO/2026/19", sibling);
    cr_assert_eq (s_cli (1, &out, args), 0, "%s", out);
    free (out);
    char ledger[400];
    snprintf (ledger, sizeof ledger, "%s/erasures.ledger", dir);
    char *lines = kn_test_read_file (ledger);
    cr_assert (lines && strstr (lines, sibling), "no ledger line: %s", lines);
    free (lines);
    //  "Restore": the database as it was (the key live, the index linked, no
    //  record of the erasure), as pg_restore of an older backup leaves it.
    kn_test_stack_stop_records (stack, SIGTERM);
    char restore[1200];
    snprintf (restore, sizeof restore,
              "ALTER TABLE core.data_key DISABLE TRIGGER data_key_final;"
              "DELETE FROM core.erasure WHERE subject_id = '%s';"
              "UPDATE core.data_key SET wrapped = '\\x%s', destroyed_at = NULL"
              " WHERE subject_id = '%s';"
              "UPDATE core.subject SET blind_index = '\\x%s' WHERE id = '%s';"
              "ALTER TABLE core.data_key ENABLE TRIGGER data_key_final",
              sibling, wrapped, sibling, blind, sibling);
    free (s_sql (restore));
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NOT NULL", sibling),
                  1);
    //  The records daemon's start erases them again.
    kn_test_stack_start_records (stack);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id = '%s'"
                           " AND wrapped IS NULL", sibling),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.erasure WHERE subject_id = '%s'"
                           " AND erased_by IS NULL", sibling),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE object_id = '%s'"
                           " AND operation = 'erase_from_ledger'", sibling),
                  1);
    snprintf (args, sizeof args, "--format json referral show %s", referral_id);
    cr_assert_eq (s_cli (0, &out, args), 0, "%s", out);
    cr_assert_null (strstr (out, "Tomas"), "%s", out);
    free (out);
}
