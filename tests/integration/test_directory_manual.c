/*  What an administrator gives the directory by hand, against a real PostgreSQL:
    the mapping (the built-in one and districts known by name, errors naming the
    member, language codes), manual changes to an agency with its current load,
    and the kinnet command through the broker and the admin service. Split from
    test_directory.c (imports), on the same data (tests/data/hsds). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "directory_fixture.h"
#include "kn_agency.h"
#include "kn_directory.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_language.h"
#include "kn_test.h"

static void
s_setup (void)
{
    s_fixture_setup ("/tmp/kn-directory-manual-XXXXXX");
}

static void
s_teardown (void)
{
    s_fixture_teardown ();
}

TestSuite (directory_manual, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  -------------------------------------------------------------------------
//  Helpers

//  -------------------------------------------------------------------------
//  The mapping

//  The built-in mapping (Kinnet's own names and common words) and districts that
//  Kinnet knows by name rather than through the mapping.
Test (directory_manual, builtin_mapping_and_known_district_names)
{
    kn_error_t err;
    json_t *district =
        kn_directory_district_set (db, "east", "Riverside East", NULL, &err);
    cr_assert (district, "%s", err.message);
    json_decref (district);
    char *file = s_write_text (
        "small.json",
        "{\"organizations\": [{\"id\": \"org-a\", \"name\": \"Eastside Advice Centre\","
        "  \"description\": \"Advice.\", \"attributes\": [{\"id\": \"t0\","
        "   \"taxonomy_term\": {\"id\": \"x0\", \"name\": \"Charity\"}}]}],"
        " \"services\": [{\"id\": \"s1\", \"name\": \"Housing advice\", \"status\": "
        "\"Active\","
        "  \"organization_id\": \"org-a\","
        "  \"taxonomy_terms\": [{\"id\": \"x1\", \"name\": \"Housing\"},"
        "                       {\"id\": \"x2\", \"code\": \"INCOME_POVERTY\", \"name\": "
        "\"Money\"}],"
        "  \"interpretation_services\": \"Language Line on request\","
        "  \"service_areas\": [{\"id\": \"a1\", \"name\": \"riverside east\"}],"
        "  \"languages\": [{\"code\": \"ger\"}, {\"code\": \"pt-BR\"}, {\"code\": "
        "\"EN\"}],"
        "  \"capacities\": [{\"id\": \"c1\", \"unit\": {\"id\": \"u1\", \"name\": "
        "\"Households\"},"
        "                    \"available\": 2, \"maximum\": 12, \"updated\": "
        "\"2024-09-01\"}]}]}");
    kn_directory_mapping_t *mapping = s_mapping (NULL);
    json_t *report = kn_directory_import (db, file, mapping, false, false, &err);
    kn_directory_mapping_destroy (&mapping);
    cr_assert (report, "%s (%s)", err.message, err.field);
    s_expect_outcome (report, "org-a", "added:");
    json_decref (report);
    s_expect_summary ("org-a", "ngo_community|east|t|12|t|6,7||de,en,pt");
    free (file);
}

Test (directory_manual, mapping_errors_name_the_member)
{
    static const struct {
        const char *text, *field, *message;
    } cases[] = {
        {"{\"needs\": {\"Housing\": \"housing\"}}", "mapping.needs.Housing",
         "unknown NeedCategory 'housing'"},
        {"{\"needs\": {\"HOUSING\": \"housing_need\", \"housing \": \"income_poverty\"}}",
         NULL, "given twice"},
        {"{\"needs\": {\"x\": []}}", "mapping.needs.x", "no need"},
        {"{\"sectors\": {\"ORG\": \"charity\"}}", "mapping.sectors.ORG", "AgencySector"},
        {"{\"districts\": {\"North\": 7}}", "mapping.districts.North", "district code"},
        {"{\"languages\": {\"Klingon\": \"tlh-x-\"}}", "mapping.languages.Klingon",
         "not a language"},
        {"{\"organizations\": {\"o1\": {\"agency_id\": \"42\"}}}",
         "mapping.organizations.o1.agency_id", "UUID"},
        {"{\"organisations\": {}}", "mapping.organisations", "unknown member"},
        {"{\"capacity_units\": \"families\"}", "mapping.capacity_units", "array"},
        {"{\"needs\": ", "mapping", "invalid JSON at line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kn_error_t err;
        kn_error_clear (&err);
        kn_directory_mapping_t *mapping =
            kn_directory_mapping_parse (cases[i].text, &err);
        cr_expect_null (mapping, "%s", cases[i].text);
        kn_directory_mapping_destroy (&mapping);
        cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT, "%s", cases[i].text);
        //  NULL: either of two keys, whichever the object yields second.
        if (cases[i].field)
            cr_expect_str_eq (err.field, cases[i].field, "%s: %s", cases[i].text,
                              err.message);
        else
            cr_expect (strncmp (err.field, "mapping.needs.", 14) == 0, "%s", err.field);
        cr_expect (strstr (err.message, cases[i].message), "%s: %s", cases[i].text,
                   err.message);
    }
    //  The shipped mapping and the built-in one load.
    char *path = s_data ("mapping.json");
    kn_directory_mapping_t *mapping = s_mapping (path);
    kn_directory_mapping_destroy (&mapping);
    mapping = s_mapping (NULL);
    kn_directory_mapping_destroy (&mapping);
    free (path);
}

Test (directory_manual, language_codes)
{
    static const struct {
        const char *code, *subtag; // subtag NULL: not a language
    } cases[] = {
        {"en", "en"},         {"EN", "en"},   {"en-GB", "en"}, {"pt_BR", "pt"},
        {"zh-Hant-TW", "zh"}, {"eng", "en"},  {"ara", "ar"},   {"ger", "de"},
        {"deu", "de"},        {"prs", "prs"}, {"ckb", "ckb"},  {"xx", NULL},
        {"und", NULL},        {"zxx", NULL},  {"qab", NULL},   {"english", NULL},
        {"e1", NULL},         {"en-", NULL},  {"", NULL},      {"en--gb", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char subtag[9] = "";
        int rc = kn_language_primary (cases[i].code, subtag);
        if (cases[i].subtag) {
            cr_expect_eq (rc, 0, "'%s' is a language", cases[i].code);
            cr_expect_str_eq (subtag, cases[i].subtag, "'%s'", cases[i].code);
        } else
            cr_expect_eq (rc, -1, "'%s' is not a language", cases[i].code);
    }
}

//  -------------------------------------------------------------------------
//  Manual changes and the load

//  An open offer, an accepted involvement and a declined offer for agency.
static void
s_involvements (const char *agency)
{
    char sql[2000];
    snprintf (
        sql, sizeof sql,
        "WITH f AS (INSERT INTO core.family (id) VALUES (gen_random_uuid()) RETURNING "
        "id),"
        " c AS (INSERT INTO routing.case (id, family_id, district, languages, urgency,"
        "   opened_at) SELECT gen_random_uuid(), f.id, 'north', '{en}', 1, now() FROM f"
        "   RETURNING id),"
        " n AS (INSERT INTO routing.need (id, case_id, referral_id, category, urgency, "
        "status,"
        "   created_at) SELECT gen_random_uuid(), c.id, gen_random_uuid(), k, 1, "
        "'offered',"
        "   now() FROM c, generate_series(1, 3) k RETURNING id, case_id, category)"
        " INSERT INTO routing.involvement (id, case_id, need_id, agency_id, status, rank,"
        "   ranked_by, waiting_for_consent, offered_at, deadline_at)"
        " SELECT gen_random_uuid(), n.case_id, n.id, '%s',"
        "   (ARRAY['offered', 'accepted', 'declined'])[n.category], 1, '', false, now(),"
        "   now() + interval '1 day' FROM n RETURNING 1",
        agency);
    free (s_sql (sql));
}

Test (directory_manual, manual_changes_show_and_load)
{
    json_decref (s_import_directory ());
    char school[KN_UUID_STR];
    s_agency_id (SCHOOL, school);
    s_involvements (school);
    kn_error_t err;
    kn_directory_change_t change = {
        .accepting = 0, .interpreters = KN_DIRECTORY_KEEP, .capacity = 2};
    json_t *report = kn_directory_set (db, school, &change, &err);
    cr_assert (report, "%s", err.message);
    char *changes = json_dumps (json_object_get (report, "changes"), JSON_COMPACT);
    cr_expect_str_eq (changes, "[\"accepting\",\"capacity\"]");
    free (changes);
    json_decref (report);
    //  The same again: nothing to change.
    report = kn_directory_set (db, school, &change, &err);
    cr_expect_eq (json_array_size (json_object_get (report, "changes")), 0);
    json_decref (report);

    //  By directory id; offered and accepted count as load, declined does not.
    json_t *list = kn_directory_show (db, SCHOOL, &err);
    cr_assert (list, "%s", err.message);
    cr_assert_eq (json_array_size (list), 1);
    json_t *agency = json_array_get (list, 0);
    cr_expect_str_eq (json_string_value (json_object_get (agency, "agency_id")), school);
    cr_expect_eq (json_integer_value (json_object_get (agency, "load")), 2);
    cr_expect_eq (json_integer_value (json_object_get (agency, "capacity")), 2);
    cr_expect (json_is_false (json_object_get (agency, "accepting")));
    char *needs = json_dumps (json_object_get (agency, "needs"), JSON_COMPACT);
    cr_expect_str_eq (
        needs, "[\"attendance_and_learning\",\"special_educational_needs_disability\","
               "\"language_support\"]");
    free (needs);
    json_decref (list);

    change = (kn_directory_change_t){.accepting = KN_DIRECTORY_KEEP,
                                     .interpreters = 1,
                                     .capacity = KN_DIRECTORY_NO_LIMIT};
    json_decref (kn_directory_set (db, school, &change, &err));
    list = kn_directory_show (db, school, &err);
    agency = json_array_get (list, 0);
    cr_expect (json_is_null (json_object_get (agency, "capacity")));
    cr_expect (json_is_true (json_object_get (agency, "interpreters")));
    json_decref (list);
    list = kn_directory_show (db, NULL, &err);
    cr_expect_eq (json_array_size (list), 8);
    json_decref (list);

    cr_expect_null (kn_directory_show (db, "00000000-0000-4000-8000-000000000009", &err));
    cr_expect_eq (err.code, KN_E_NOT_FOUND);
    cr_expect_null (
        kn_directory_set (db, "00000000-0000-4000-8000-000000000009", &change, &err));
    cr_expect_eq (err.code, KN_E_NOT_FOUND);
    change.capacity = -7;
    cr_expect_null (kn_directory_set (db, school, &change, &err));
    cr_expect_str_eq (err.field, "capacity");

    //  The directory is the source of truth: the next import puts its values back.
    report = s_import_directory ();
    s_expect_outcome (report, SCHOOL, "changed: accepting,capacity,interpreters");
    json_decref (report);
    s_expect_summary (SCHOOL, "school|north|t|65|f|1,2,3||en,pl");
}

//  -------------------------------------------------------------------------
//  The command

//  The command goes through the broker to the admin service: a stack of its own,
//  run as its administrator agency. The import and the checks below read the
//  stack's database.

Test (directory_manual, command_line)
{
    s_fixture_stack ();
    char args[2000], file[600], mapping[600];
    s_path (file, sizeof file, "directory.json");
    s_path (mapping, sizeof mapping, "mapping.json");
    snprintf (args, sizeof args, "--format json admin directory import %s --mapping %s",
              file, mapping);
    json_t *report = s_cli_json (args, 0);
    cr_expect_eq (s_total (report, "added"), 8);
    json_decref (report);

    //  Text: one line per agency and the totals.
    char *out = NULL;
    snprintf (args, sizeof args, "admin directory import %s --mapping %s --dry-run", file,
              mapping);
    cr_expect_eq (s_cli (args, &out), 0);
    cr_expect (strstr (out, "unchanged  "), "%s", out);
    cr_expect (
        strstr (
            out,
            "0 added, 0 linked, 0 changed, 8 unchanged, 0 withdrawn, 6 ignored (dry run"),
        "%s", out);
    free (out);

    //  A malformed file: exit 3, the record's path in the JSON error.
    char *bad = s_write_text ("bad.json", "[{\"id\": \"x\", \"name\": 3}]");
    snprintf (args, sizeof args, "admin directory import %s --mapping %s --format json",
              bad, mapping);
    free (bad);
    json_t *error = s_cli_json (args, 3);
    cr_expect_str_eq (
        json_string_value (json_object_get (json_object_get (error, "error"), "field")),
        "organizations[0].name");
    json_decref (error);
    //  An unknown need in the mapping: exit 3 before touching the database.
    char *bad_mapping =
        s_write_text ("map.json", "{\"needs\": {\"RS-HSG\": \"shelter\"}}");
    snprintf (args, sizeof args, "--format json admin directory import %s --mapping %s",
              file, bad_mapping);
    free (bad_mapping);
    error = s_cli_json (args, 3);
    cr_expect_str_eq (
        json_string_value (json_object_get (json_object_get (error, "error"), "field")),
        "mapping.needs.RS-HSG");
    json_decref (error);

    //  The directory's eight and the stack's own agencies.
    //  A file the service could not take in one request: refused before sending.
    char *huge = malloc ((1 << 20) + 64);
    memset (huge, ' ', (1 << 20) + 63);
    memcpy (huge, "[{\"id\": \"x\"", 11);
    memcpy (huge + (1 << 20) + 61, "}]", 2);
    huge[(1 << 20) + 63] = '\0';
    char *large = s_write_text ("large.json", huge);
    free (huge);
    snprintf (args, sizeof args, "--format json admin directory import %s", large);
    free (large);
    error = s_cli_json (args, 3);
    cr_expect_str_eq (
        json_string_value (json_object_get (json_object_get (error, "error"), "code")),
        "too_large");
    cr_expect_str_eq (
        json_string_value (json_object_get (json_object_get (error, "error"), "field")),
        "file");
    json_decref (error);

    json_t *list = s_cli_json ("admin directory show --format json", 0);
    char *agencies = s_sql ("SELECT count(*) FROM core.agency");
    cr_expect_eq (json_array_size (list), (size_t)atoi (agencies));
    cr_expect_geq (json_array_size (list), 8);
    free (agencies);
    json_decref (list);
    list = s_cli_json ("--format json admin directory show " NEW_ROOTS, 0);
    cr_expect_str_eq (json_string_value (json_array_get (
                          json_object_get (json_array_get (list, 0), "languages"), 3)),
                      "prs");
    json_decref (list);
    cr_expect_eq (
        s_cli ("admin directory show 00000000-0000-4000-8000-000000000009", NULL), 6);

    char school[KN_UUID_STR];
    s_agency_id (SCHOOL, school);
    snprintf (args, sizeof args, "admin directory set %s --capacity 3 --accepting no",
              school);
    cr_expect_eq (s_cli (args, &out), 0);
    cr_expect (strstr (out, "changed: accepting, capacity"), "%s", out);
    free (out);
    snprintf (args, sizeof args, "admin directory set %s --capacity lots", school);
    cr_expect_eq (s_cli (args, NULL), 2);
    snprintf (args, sizeof args, "admin directory set %s", school);
    cr_expect_eq (s_cli (args, NULL), 2, "nothing to set");
    char *capacity =
        s_sql ("SELECT capacity FROM core.agency WHERE directory_id = '" SCHOOL "'");
    cr_expect_str_eq (capacity, "3");
    free (capacity);

    snprintf (args, sizeof args,
              "admin directory district set north --name 'North Riverside' --lead %s",
              school);
    cr_expect_eq (s_cli (args, &out), 0);
    //  Registered (bare) before the import, which names it: now named, led.
    cr_expect (strstr (out, "district north changed: name, child_protection_lead"), "%s",
               out);
    free (out);
    cr_expect_eq (s_cli ("admin directory district list", &out), 0);
    cr_expect (strstr (out, "North Riverside"), "%s", out);
    cr_expect (strstr (out, "Riverside Primary School"), "%s", out);
    free (out);
    //  north and the stack's own districts, by code.
    list = s_cli_json ("admin directory district list --format json", 0);
    char *districts = s_sql ("SELECT count(*) FROM core.district");
    cr_expect_eq (json_array_size (list), (size_t)atoi (districts));
    free (districts);
    json_t *north = NULL, *item;
    size_t at;
    json_array_foreach (
        list, at, item) if (strcmp (json_string_value (json_object_get (item, "code")),
                                    "north") == 0) north = item;
    cr_assert (north, "no district north");
    cr_expect_str_eq (
        json_string_value (json_object_get (north, "child_protection_lead")), school);
    json_decref (list);

    cr_expect_eq (s_cli ("admin directory --help", &out), 0);
    cr_expect (strstr (out, "district set CODE"), "%s", out);
    free (out);
    cr_expect_eq (s_cli ("admin directory import --help", NULL), 0);
    snprintf (args, sizeof args, "admin directory import %s --dryrun", file);
    cr_expect_eq (s_cli (args, NULL), 2, "a mistyped option must not import");
    cr_expect_eq (s_cli ("admin directory import", NULL), 2);
    cr_expect_eq (s_cli ("admin directory frobnicate", NULL), 2);
    kn_test_stack_destroy (&stack);
}
