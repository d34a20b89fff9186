/*  Merging and unmerging on a running stack, through the CLI. Mira was referred
    twice, once as "Myra": two subjects. A DPO merges Myra into Mira: Myra's referral
    part and her legal hold become Mira's, sealed under Mira's key (the referral still
    opens), her identity finds Mira from then on, her id is refused, and the agency
    that received data about her is told, and so is every DPO. A referral naming both
    spellings is refused.
    Unmerging gives back exactly what the merge moved, and what came after stays. Bad
    merges (one person with herself, unknown, two people of one referral, not a DPO,
    twice) are refused and change nothing; erasing the merged person erases both. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "kn_crypto.h"
#include "kn_keys.h"
#include "kn_subject.h"
#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;
static char mira[KN_UUID_STR], tomas[KN_UUID_STR], myra[KN_UUID_STR];
static char mira_referral[KN_UUID_STR], myra_referral[KN_UUID_STR];

//  The CLI as agency (0: the referrer; 1: the DPO), its exit code.
#define s_cli(agency, out, ...) kn_test_stack_cli (stack, agency, out, __VA_ARGS__)
#define s_count(fmt, ...)       kn_test_countf (kn_test_stack_db_url (stack), fmt, __VA_ARGS__)

//  Refer a child (given name, born 2015-03-02) with a sibling (or none; Tomas is born
//  2018-07-21, anyone else as the child) as agency 0: 0, or the CLI's exit code; the
//  referral's id and the child's subject into ids.
static int
s_refer (const char *key, const char *given, const char *sibling, char referral[KN_UUID_STR],
         char child[KN_UUID_STR])
{
    char path[400], body[1400], siblings[200] = "", *out = NULL;
    if (sibling)
        snprintf (siblings, sizeof siblings,
                  " \"siblings\": [{\"given_name\": \"%s\", \"family_name\": \"Sousa\","
                  " \"date_of_birth\": \"%s\"}],",
                  sibling, strcmp (sibling, "Tomas") == 0 ? "2018-07-21" : "2015-03-02");
    snprintf (path, sizeof path, "%s/%s.json", kn_test_stack_dir (stack), key);
    snprintf (body, sizeof body,
              "{\"idempotency_key\": \"%s\","
              " \"child\": {\"given_name\": \"%s\", \"family_name\": \"Sousa\","
              "            \"date_of_birth\": \"2015-03-02\"},%s"
              " \"needs\": [{\"category\": \"attendance_and_learning\","
              "             \"description\": \"Attendance 64%% this term.\"}],"
              " \"urgency\": \"routine\", \"district\": \"north\","
              " \"lawful_ground\": {\"basis\": \"public_task\","
              "                   \"justification\": \"Statutory early help.\"}}",
              key, given, siblings);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (body, file);
    fclose (file);
    int code = s_cli (0, &out, "--format json refer --file %s", path);
    if (code == 0) {
        json_t *json = json_loads (out, 0, NULL);
        cr_assert (json, "%s", out);
        snprintf (referral, KN_UUID_STR, "%s",
                  json_string_value (json_object_get (json, "referral_id")));
        json_decref (json);
        char *id = kn_test_sqlf (kn_test_stack_db_url (stack),
                                 "SELECT subject_id FROM intake.referral_subject"
                                 " WHERE referral_id = '%s' AND position = 0",
                                 referral);
        cr_assert (id);
        snprintf (child, KN_UUID_STR, "%s", id);
        free (id);
    }
    free (out);
    return code;
}

static void
s_setup (void)
{
    stack = kn_test_stack_new ();
    //  Agency 1 is a DPO; so is the administrator's agency, a second DPO.
    kn_test_stack_grant (stack, 1, "data_protection_officer");
    kn_test_stack_grant (stack, KN_TEST_ADMIN, "data_protection_officer");
    kn_test_stack_start_records (stack);
    cr_assert_eq (s_refer ("MERGE-1", "Mira", "Tomas", mira_referral, mira), 0);
    cr_assert_eq (s_refer ("MERGE-2", "Myra", NULL, myra_referral, myra), 0);
    char *id = kn_test_sqlf (kn_test_stack_db_url (stack),
                             "SELECT subject_id FROM intake.referral_subject"
                             " WHERE referral_id = '%s' AND position = 1",
                             mira_referral);
    cr_assert (id);
    snprintf (tomas, sizeof tomas, "%s", id);
    free (id);
    cr_assert_str_neq (mira, myra, "two spellings found one person already");
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

//  Wait until routing has consumed every outbox event.
static void
s_routed (void)
{
    const char *url = kn_test_stack_db_url (stack);
    for (int i = 0; i < 3000 && kn_test_outbox_past_cursor (url) > 0; i++)
        zclock_sleep (10);
    cr_assert_eq (kn_test_outbox_past_cursor (url), 0, "routing did not catch up");
}

//  The merge id in a JSON reply, into id.
static void
s_merge_id (const char *out, char id[KN_UUID_STR])
{
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    snprintf (id, KN_UUID_STR, "%s", json_string_value (json_object_get (json, "merge_id")));
    json_decref (json);
    cr_assert (kn_uuid_valid (id), "%s", out);
}

TestSuite (merge, .init = s_setup, .fini = s_teardown, .timeout = 180);

Test (merge, a_merge_moves_everything_and_an_unmerge_gives_it_back)
{
    //  Agency 1 received data about Myra: it must be told. Myra is under a hold.
    free (kn_test_sqlf (kn_test_stack_db_url (stack),
                        "SELECT core.begin_write ();"
                        "INSERT INTO core.disclosure (subject_id, recipient_id, categories,"
                        " purpose, basis, service) VALUES ('%s', '%s', '{1}', 1, 'consent',"
                        " 'intake')",
                        myra, kn_test_stack_agency_id (stack, 1)));
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "subject hold place %s --reason 'Proceedings pending.'",
                         myra),
                  0, "%s", out);
    free (out);
    //  A dry run says what would move and moves nothing.
    cr_assert_eq (s_cli (1, &out, "--format json subject merge %s %s --reference DPO/M/1"
                                  " --dry-run", mira, myra),
                  0, "%s", out);
    cr_assert (strstr (out, "\"referrals\": 1") && strstr (out, "\"holds\": 1") &&
                   strstr (out, "\"dry_run\": true"),
               "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE %s", "merged_into IS NOT NULL"),
                  0);
    //  The merge.
    char merge_id[KN_UUID_STR];
    cr_assert_eq (s_cli (1, &out, "--format json subject merge %s %s --reference DPO/M/1",
                         mira, myra),
                  0, "%s", out);
    s_merge_id (out, merge_id);
    cr_assert (strstr (out, "\"referrals\": 1") && strstr (out, "\"holds\": 1"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE referral_id ="
                           " '%s' AND subject_id = '%s'", myra_referral, mira),
                  1, "Myra's part did not move");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.legal_hold WHERE subject_id = '%s'",
                           mira),
                  1, "Myra's hold did not move");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE id = '%s' AND"
                           " merged_into = '%s'", myra, mira),
                  1);
    //  Sealed under Mira's key now: the referral still opens, and Myra's key seals
    //  nothing but her date of birth.
    cr_assert_eq (s_cli (0, &out, "--format json referral show %s", myra_referral), 0, "%s",
                  out);
    cr_assert (strstr (out, "Myra"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject rs, core.data_key k"
                           " WHERE k.subject_id = '%s' AND rs.referral_id = '%s'"
                           " AND substring (rs.personal FROM 2 FOR 16) = uuid_send (k.id)",
                           mira, myra_referral),
                  1, "the part is not sealed under Mira's key");
    //  Myra's identity finds Mira; her id is refused; both spellings in one referral
    //  are one person named twice.
    char again[KN_UUID_STR], child[KN_UUID_STR];
    cr_assert_eq (s_refer ("MERGE-3", "Myra", NULL, again, child), 0);
    cr_assert_str_eq (child, mira, "Myra's identity did not find Mira");
    //  A referral naming both spellings is taken as any other (refusing it would tell
    //  anyone the two are one person on record): the second mention is a person of
    //  their own, found by no identity, for a DPO to merge.
    cr_assert_eq (s_refer ("MERGE-4", "Mira", "Myra", again, child), 0);
    cr_assert_str_eq (child, mira);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject rs JOIN core.subject s"
                           " ON s.id = rs.subject_id WHERE rs.referral_id = '%s' AND"
                           " rs.position = 1 AND s.split_from = '%s'", again, mira),
                  1, "the second mention is not an unlinked person of its own");
    //  Nothing more is sealed about the merged person, even by a request that found
    //  her before the merge and waited for it (kn_keys_seal reads it under the lock).
    {
        char key[600];
        snprintf (key, sizeof key, "%s/field.key", kn_test_stack_dir (stack));
        kn_error_t err;
        kn_crypto_t *crypto = kn_crypto_new_from_file (key, &err);
        cr_assert (crypto, "%s", err.message);
        kn_db_t *db = kn_db_new (kn_test_stack_db_url (stack), "kinnet_consent", &err);
        cr_assert (db, "%s", err.message);
        cr_assert (kn_subject_prepare (db, &err) == 0, "%s", err.message);
        cr_assert_eq (kn_db_exec (db, "BEGIN", &err), 0, "%s", err.message);
        size_t len = 0;
        kn_error_clear (&err);
        cr_assert_null (kn_keys_seal (db, crypto, myra, (const uint8_t *)"x", 1, "ad", &len,
                                      &err));
        cr_assert_eq (err.code, KN_E_CONFLICT, "%s", err.message);
        kn_db_exec (db, "ROLLBACK", &err);
        kn_db_destroy (&db);
        kn_crypto_destroy (&crypto);
    }
    cr_assert_eq (s_cli (1, &out, "subject erase %s --reference DPO/E/1", myra), 5, "%s", out);
    cr_assert (strstr (out, "merged"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "consent list --subject %s", myra), 5, "%s", out);
    cr_assert (!strstr (out, mira), "the refusal names whom she was merged into: %s", out);
    free (out);
    //  Mira's export holds the merge and the disclosure of Myra's data; Myra's says
    //  only whose records hers are now.
    cr_assert_eq (s_cli (1, &out, "subject export %s --out - --format json", mira), 0, "%s",
                  out);
    json_t *export = json_loads (out, 0, NULL);
    cr_assert (export, "%s", out);
    cr_assert_eq (json_array_size (json_object_get (export, "merges")), 1, "%s", out);
    //  Myra's data to agency 1, and the hold's reason read by the DPO.
    cr_assert_eq (json_array_size (json_object_get (export, "disclosures")), 2, "%s", out);
    cr_assert (strstr (out, "\"placed_at\"") && !strstr (out, "to_char"), "%s", out);
    json_decref (export);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject export %s --out - --format json", myra), 0, "%s",
                  out);
    cr_assert (strstr (out, "\"merged_into\"") && strstr (out, mira) && !strstr (out, "Myra"),
               "%s", out);
    free (out);
    //  Agency 1 is told.
    s_routed ();
    cr_assert_eq (s_cli (1, &out, "--format json feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "subject.merged") && strstr (out, merge_id), "%s", out);
    free (out);
    //  Every DPO hears of it, to review it (the second received nothing about either).
    cr_assert_eq (s_cli (KN_TEST_ADMIN, &out, "--format json feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "subject.merged") && strstr (out, merge_id), "%s", out);
    free (out);
    //  The unmerge gives back what the merge moved; the later referral stays Mira's.
    cr_assert_eq (s_cli (1, &out, "--format json subject unmerge %s --reference DPO/U/1",
                         merge_id),
                  0, "%s", out);
    cr_assert (strstr (out, "unmerged_at"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE referral_id ="
                           " '%s' AND subject_id = '%s'", myra_referral, myra),
                  1, "Myra's part did not come back");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.legal_hold WHERE subject_id = '%s'",
                           myra),
                  1, "Myra's hold did not come back");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE id = '%s' AND"
                           " merged_into IS NULL", myra),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE subject_id ="
                           " '%s'", mira),
                  3, "Mira's own referral and the two later ones stay hers");
    cr_assert_eq (s_cli (0, &out, "--format json referral show %s", myra_referral), 0, "%s",
                  out);
    cr_assert (strstr (out, "Myra"), "%s", out);
    free (out);
    cr_assert_eq (s_refer ("MERGE-5", "Myra", NULL, again, child), 0);
    cr_assert_str_eq (child, myra, "after the unmerge Myra's identity does not find her");
    //  Unmerged once only; told.
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference DPO/U/2", merge_id), 5,
                  "%s", out);
    free (out);
    s_routed ();
    cr_assert_eq (s_cli (1, &out, "--format json feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "subject.unmerged"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.audit WHERE operation IN ('merge',"
                           " 'unmerge') AND result = %s", "'ok'"),
                  2);
}

Test (merge, bad_merges_are_refused_and_change_nothing)
{
    char *out = NULL;
    //  One person with herself; a reference that is a sentence; unknown; not a DPO.
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R1", mira, mira), 3, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference 'a reason'", mira, myra),
                  3, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject merge %s 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44"
                                  " --reference R1", mira),
                  6, "%s", out);
    free (out);
    cr_assert_eq (s_cli (0, &out, "subject merge %s %s --reference R1", mira, myra), 4, "%s",
                  out);
    free (out);
    //  Mira and Tomas are named in one referral: two people.
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R1", mira, tomas), 5, "%s",
                  out);
    cr_assert (strstr (out, mira_referral), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject_merge WHERE %s", "true"), 0);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE %s",
                           "merged_into IS NOT NULL"),
                  0);
    //  Merged once; then not again, into anyone; an unknown merge cannot be undone.
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R1", mira, myra), 0, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R2", tomas, myra), 5, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R2", myra, tomas), 5, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject unmerge 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44"
                                  " --reference R3"),
                  6, "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject_merge WHERE %s", "true"), 1);
}

Test (merge, erasing_the_merged_person_erases_both)
{
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "subject merge %s %s --reference R1", mira, myra), 0, "%s",
                  out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject erase %s --reference DPO/E/2", mira), 0, "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.data_key WHERE subject_id IN ('%s', '%s')"
                           " AND wrapped IS NULL", mira, myra),
                  2, "a key of the merged person is live");
    cr_assert_eq (s_count ("SELECT count(*) FROM core.erasure WHERE subject_id = '%s'", myra),
                  1);
    //  Each has its line in the erasure ledger: a restore from before the merge would
    //  bring Myra back apart.
    char ledger[400];
    snprintf (ledger, sizeof ledger, "%s/erasures.ledger", kn_test_stack_dir (stack));
    char *lines = kn_test_read_file (ledger);
    cr_assert (lines && strstr (lines, mira) && strstr (lines, myra), "%s",
               lines ? lines : "(no ledger)");
    free (lines);
    //  Neither identity finds them any more.
    char referral[KN_UUID_STR], child[KN_UUID_STR];
    cr_assert_eq (s_refer ("MERGE-6", "Myra", NULL, referral, child), 0);
    cr_assert (strcmp (child, mira) && strcmp (child, myra), "Myra's identity finds the erased");
}

Test (merge, a_split_separates_two_children_taken_for_one)
{
    //  Two children with one identity: the second referral finds the first.
    char first[KN_UUID_STR], second[KN_UUID_STR], lena[KN_UUID_STR], child[KN_UUID_STR];
    char unseen[KN_UUID_STR];
    cr_assert_eq (s_refer ("SPLIT-1", "Lena", NULL, first, lena), 0);
    cr_assert_eq (s_refer ("SPLIT-2", "Lena", NULL, second, child), 0);
    cr_assert_str_eq (child, lena);
    //  A third referral, also the other child's, whose data agency 1 never received.
    cr_assert_eq (s_refer ("SPLIT-2B", "Lena", NULL, unseen, child), 0);
    cr_assert_str_eq (child, lena);
    //  Agency 1 received the second referral's data.
    free (kn_test_sqlf (kn_test_stack_db_url (stack),
                        "SELECT core.begin_write ();"
                        "INSERT INTO core.disclosure (subject_id, recipient_id, categories,"
                        " purpose, basis, service, object_id) VALUES ('%s', '%s', '{1}', 1,"
                        " 'consent', 'intake', '%s')",
                        lena, kn_test_stack_agency_id (stack, 1), second));
    char *out = NULL;
    //  Bad splits: a record not about Lena, no referral named, an unknown person.
    cr_assert_eq (s_cli (1, &out, "subject split %s %s --reference S1", lena, myra_referral),
                  3, "%s", out);
    cr_assert (strstr (out, "record_ids[0]"), "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject split 6d0f5f0e-8f5c-4f57-a3d5-0f3a7c1b2e44 %s"
                                  " --reference S1", second),
                  6, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject hold place %s --reason 'Inquiry.'", lena), 0, "%s",
                  out);
    free (out);
    char *hold = kn_test_sqlf (kn_test_stack_db_url (stack),
                               "SELECT id FROM core.legal_hold WHERE subject_id = '%s'", lena);
    cr_assert_eq (s_cli (1, &out, "subject split %s %s --reference S1", lena, hold), 3, "%s",
                  out);
    cr_assert (strstr (out, "referral"), "%s", out);
    free (out);
    free (hold);
    //  A dry run counts; then the split.
    cr_assert_eq (s_cli (1, &out, "--format json subject split %s %s %s --reference S1"
                                  " --dry-run", lena, second, unseen),
                  0, "%s", out);
    cr_assert (strstr (out, "\"referrals\": 2"), "%s", out);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE %s", "split_from IS NOT NULL"),
                  0);
    cr_assert_eq (s_cli (1, &out, "--format json subject split %s %s %s --reference S1", lena,
                         second, unseen),
                  0, "%s", out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    char other[KN_UUID_STR], split_id[KN_UUID_STR];
    snprintf (other, sizeof other, "%s",
              json_string_value (json_object_get (json, "new_subject_id")));
    snprintf (split_id, sizeof split_id, "%s",
              json_string_value (json_object_get (json, "split_id")));
    json_decref (json);
    free (out);
    cr_assert (kn_uuid_valid (other) && strcmp (other, lena), "%s", other);
    //  The second referral is the other child's, sealed under her key; the first stays.
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral_subject WHERE referral_id ="
                           " '%s' AND subject_id = '%s'", second, other),
                  1);
    cr_assert_eq (s_count ("SELECT count(*) FROM intake.referral r, core.data_key k"
                           " WHERE k.subject_id = '%s' AND r.id = '%s'"
                           " AND substring (r.personal FROM 2 FOR 16) = uuid_send (k.id)",
                           other, second),
                  1, "the rest of the referral is not under her key");
    cr_assert_eq (s_cli (0, &out, "--format json referral show %s", second), 0, "%s", out);
    cr_assert (strstr (out, "Lena"), "%s", out);
    free (out);
    //  The identity still finds the first child.
    char third[KN_UUID_STR];
    cr_assert_eq (s_refer ("SPLIT-3", "Lena", NULL, third, child), 0);
    cr_assert_str_eq (child, lena, "the identity no longer finds the first child");
    //  Exports: the disclosure is the other child's, with her date of birth.
    cr_assert_eq (s_cli (1, &out, "subject export %s --out - --format json", other), 0, "%s",
                  out);
    json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    cr_assert_eq (json_array_size (json_object_get (json, "disclosures")), 1, "%s", out);
    cr_assert_str_eq (json_string_value (json_object_get (json, "date_of_birth")),
                      "2015-03-02");
    json_decref (json);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject export %s --out - --format json", lena), 0, "%s",
                  out);
    json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (json, "disclosures"), i, item)
    {
        const char *object = json_string_value (json_object_get (item, "object_id"));
        cr_assert (!object || strcmp (object, second), "the split-off disclosure: %s", out);
    }
    json_decref (json);
    free (out);
    //  Agency 1 is told which record it received was the other child's, and not of the
    //  one it never saw; a split is not unmerged.
    s_routed ();
    cr_assert_eq (s_cli (1, &out, "--format json feed --after 0"), 0, "%s", out);
    cr_assert (strstr (out, "subject.split") && strstr (out, other) && strstr (out, second),
               "%s", out);
    //  Its own copy (addressed to it: the copy routing sends every DPO, agency 1
    //  among them, lists every record for their oversight) names only what it saw.
    json = json_loads (out, 0, NULL);
    cr_assert (json, "%s", out);
    int addressed = 0;
    json_array_foreach (json_object_get (json, "events"), i, item)
    {
        json_t *event = json_object_get (item, "subject_merged");
        const char *to = json_string_value (json_object_get (event, "recipient_agency_id"));
        if (!to || strcmp (to, kn_test_stack_agency_id (stack, 1)))
            continue;
        addressed++;
        json_t *ids = json_object_get (event, "record_ids");
        cr_assert_eq (json_array_size (ids), 1, "agency 1 learned of a record it never saw: %s",
                      out);
        cr_assert_str_eq (json_string_value (json_array_get (ids, 0)), second);
    }
    json_decref (json);
    cr_assert_eq (addressed, 1, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference S2", split_id), 5, "%s",
                  out);
    free (out);
}

Test (merge, an_unmerge_is_refused_once_it_cannot_give_back_what_it_moved)
{
    char lena[KN_UUID_STR], referral[KN_UUID_STR], first[KN_UUID_STR], later[KN_UUID_STR];
    cr_assert_eq (s_refer ("MERGE-7", "Lena", NULL, referral, lena), 0);
    char *out = NULL;
    cr_assert_eq (s_cli (1, &out, "--format json subject merge %s %s --reference M1", mira,
                         myra),
                  0, "%s", out);
    s_merge_id (out, first);
    free (out);
    //  Mira merged on into Lena: undoing the first merge now would take nothing back.
    cr_assert_eq (s_cli (1, &out, "--format json subject merge %s %s --reference M2", lena,
                         mira),
                  0, "%s", out);
    s_merge_id (out, later);
    free (out);
    cr_assert_eq (s_count ("SELECT count(*) FROM core.subject WHERE merged_into = '%s'", lena),
                  2, "Myra did not follow Mira into Lena");
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference U1", first), 5, "%s", out);
    cr_assert (strstr (out, "undo that merge first"), "%s", out);
    free (out);
    //  In the right order both undo.
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference U2", later), 0, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference U3", first), 0, "%s", out);
    free (out);
    //  Merged again, then Mira corrected: Myra's parts now hold the correction too.
    cr_assert_eq (s_cli (1, &out, "--format json subject merge %s %s --reference M3", mira,
                         myra),
                  0, "%s", out);
    s_merge_id (out, first);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject rectify %s --family-name Sousa-Lima --reference R1",
                         mira),
                  0, "%s", out);
    free (out);
    cr_assert_eq (s_cli (1, &out, "subject unmerge %s --reference U4", first), 5, "%s", out);
    cr_assert (strstr (out, "corrected"), "%s", out);
    free (out);
}
