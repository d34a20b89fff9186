/*  Rectification on a running stack, through the CLI: a DPO corrects a child's date
    of birth; the referral shows the corrected value, a later referral with the
    corrected identity finds the same child and one with the old identity does not,
    the correction is on record without its values, and the agency that had received
    data about the child is told in its feed. Bad corrections (nothing to correct, a
    bad date, an unknown or erased person, another person's identity, not a DPO) are
    refused and change nothing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;
static char referral_id[KN_UUID_STR], child[KN_UUID_STR], sibling[KN_UUID_STR];

//  The CLI as agency (0: the referrer; 1: the DPO; KN_TEST_ADMIN), its exit code.
#define s_cli(agency, out, ...) kn_test_stack_cli (stack, agency, out, __VA_ARGS__)

//  A count from SQL whose one %s is id.
#define s_count(fmt, id) kn_test_countf (kn_test_stack_db_url (stack), fmt, id)

//  Refer Mira Sousa (born dob) with her brother Tomas as agency 0; the reply.
static json_t *
s_refer (const char *key, const char *dob)
{
    char path[400], body[1200], *out = NULL;
    snprintf (path, sizeof path, "%s/%s.json", kn_test_stack_dir (stack), key);
    snprintf (body, sizeof body,
              "{\"idempotency_key\": \"%s\","
              " \"child\": {\"given_name\": \"Mira\", \"family_name\": \"Sousa\","
              "            \"date_of_birth\": \"%s\"},"
              " \"siblings\": [{\"given_name\": \"Tomas\", \"family_name\": \"Sousa\","
              "                \"date_of_birth\": \"2018-07-21\"}],"
              " \"needs\": [{\"category\": \"attendance_and_learning\","
              "             \"description\": \"Attendance 64%% this term.\"}],"
              " \"urgency\": \"routine\", \"district\": \"north\","
              " \"lawful_ground\": {\"basis\": \"public_task\","
              "                   \"justification\": \"Statutory early help.\"}}",
              key, dob);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (body, file);
    fclose (file);
    cr_assert_eq (s_cli (0, &out, "--format json refer --file %s", path), 0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    free (out);
    return json;
}

//  The subject of the referral in reply at position i (0: the child), into id.
static void
s_subject (json_t *reply, int i, char id[KN_UUID_STR])
{
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT subject_id FROM intake.referral_subject WHERE referral_id = '%s'"
              " AND position = %d",
              json_string_value (json_object_get (reply, "referral_id")), i);
    char *value = kn_test_sql (kn_test_stack_db_url (stack), sql);
    cr_assert (value, "no person at %d", i);
    snprintf (id, KN_UUID_STR, "%s", value);
    free (value);
}

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_start_records (stack);
    json_t *reply = s_refer ("RECT-1", "2015-03-02");
    snprintf (referral_id, sizeof referral_id, "%s",
              json_string_value (json_object_get (reply, "referral_id")));
    s_subject (reply, 0, child);
    s_subject (reply, 1, sibling);
    json_decref (reply);
    cr_assert (kn_uuid_valid (child) && kn_uuid_valid (sibling));
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (rectify, .init = s_setup, .fini = s_teardown, .timeout = 120);

Test (rectify, a_correction_is_sealed_reindexed_and_told)
{
    //  Agency 1 received data about the child (the disclosure log): it must be told.
    char sql[600];
    snprintf (sql, sizeof sql,
              "SELECT core.begin_write ();"
              "INSERT INTO core.disclosure (subject_id, recipient_id, categories, purpose,"
              " basis, service) VALUES ('%s', '%s', '{1}', 1, 'consent', 'intake')",
              child, kn_test_stack_agency_id (stack, 1));
    free (kn_test_sql (kn_test_stack_db_url (stack), sql));
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out,
                         "--format json subject rectify %s --date-of-birth 2015-03-12"
                         " --reference DPO/R/1",
                         child),
                  0, "%s", out);
    cr_assert (strstr (out, "\"date_of_birth\"") && strstr (out, "\"referrals\": 1"), "%s",
               out);
    free (out);
    //  The referral says the corrected date; the old one is nowhere.
    cr_assert_eq (s_cli (0, &out, "--format json referral show %s", referral_id), 0, "%s",
                  out);
    cr_assert (strstr (out, "2015-03-12") && !strstr (out, "2015-03-02"), "%s", out);
    cr_assert (strstr (out, "2018-07-21"), "the sibling changed: %s", out);
    free (out);
    //  On record, without the values; audited.
    cr_assert_eq (s_count ("SELECT count(*) FROM core.rectification WHERE subject_id = '%s'"
                           " AND fields = '{date_of_birth}' AND reference = 'DPO/R/1'",
                           child),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.rectification WHERE %s",
                           "position ('2015' IN array_to_string (fields, ',')) > 0"),
                  0);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE operation = 'rectify'"
                           " AND result = 'ok' AND subject_ref = (SELECT family_id FROM"
                           " core.subject WHERE id = '%s')",
                           child),
                  1);
    //  The corrected identity finds Mira; the old one is a new person.
    char found[KN_UUID_STR];
    json_t *again = s_refer ("RECT-2", "2015-03-12");
    s_subject (again, 0, found);
    json_decref (again);
    cr_assert_str_eq (found, child, "the corrected identity did not find Mira");
    json_t *old = s_refer ("RECT-3", "2015-03-02");
    s_subject (old, 0, found);
    json_decref (old);
    cr_assert_str_neq (found, child, "the old identity still finds Mira");
    //  Agency 1 is told, with the field's name only.
    const char *url = kn_test_stack_db_url (stack);
    for (int i = 0; i < 3000 && kn_test_outbox_past_cursor (url) > 0; i++)
        zclock_sleep (10);
    cr_assert_eq (s_cli (1, &out, "--format json feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "subject.rectified") && strstr (out, child), "%s", out);
    cr_assert (!strstr (out, "2015-03-12"), "a value in the feed: %s", out);
    free (out);
    //  The retry with the same key is answered as the first was.
    cr_assert_eq (s_cli (1, &out,
                         "subject rectify %s --date-of-birth 2015-03-12 --reference DPO/R/1"
                         " --key fix-1",
                         child),
                  0, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out,
                         "subject rectify %s --date-of-birth 2015-03-12 --reference DPO/R/1"
                         " --key fix-1",
                         child),
                  0, "%s", out);
    cr_assert (strstr (out, "earlier request"), "%s", out);
    free (out);
}

Test (rectify, bad_corrections_are_refused_and_change_nothing)
{
#define index                                                                            \
    "SELECT count(*) FROM core.subject WHERE blind_index = (SELECT"                      \
    " blind_index FROM core.subject WHERE id = '%s')"
    char *before = NULL, sql[300];
    snprintf (sql, sizeof sql, "SELECT encode (blind_index, 'hex') || encode (birth_date,"
                               " 'hex') FROM core.subject WHERE id = '%s'", sibling);
    before = kn_test_sql (kn_test_stack_db_url (stack), sql);
    char *out = NULL;
    //  Nothing to correct; not a date; in the future; a sentence for a reference.
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --reference R1", sibling), 3, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --date-of-birth 2018-02-30"
                                  " --reference R1", sibling),
                  3, "%s", out);
    cr_assert (strstr (out, "date_of_birth"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --date-of-birth 2099-01-01"
                                  " --reference R1", sibling),
                  3, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --given-name Tom --reference 'a"
                                  " reason'", sibling),
                  3, "%s", out);
    free (out);
    //  Unknown person; not a DPO.
    cr_assert_eq (s_cli (1, &out, "subject rectify 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44"
                                  " --given-name Tom --reference R1"),
                  6, "%s", out);
    free (out);
    cr_assert_eq (s_cli (0, &out, "subject rectify %s --given-name Tom --reference R1",
                         sibling),
                  4, "%s", out);
    free (out);
    //  Tomas corrected into Mira's identity: another person's, to merge instead.
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --given-name Mira --date-of-birth"
                                  " 2015-03-02 --reference R1", sibling),
                  5, "%s", out);
    //  Without naming who holds it: no identity-to-subject oracle for a DPO.
    cr_assert (strstr (out, "another person's"), "%s", out);
    cr_assert (!strstr (out, child), "the holder is named: %s", out);
    free (out);
    char *after = kn_test_sql (kn_test_stack_db_url (stack), sql);
    cr_assert_str_eq (after, before, "a refused correction changed the person");
    free (before);
    free (after);
    cr_assert_eq (s_count (index, sibling), 1);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.rectification WHERE %s", "true"), 0);
    //  An erased person cannot be corrected.
    cr_assert_eq (s_cli (1, &out, "subject erase %s --reference DPO/E/1", sibling), 0, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --given-name Tom --reference R1",
                         sibling),
                  5, "%s", out);
    free (out);
}
