/*  The agency directory against a real PostgreSQL: a realistic Open Referral HSDS 3.0
    directory (tests/data/hsds) imports with the right rows; importing it again, or in
    the API's service shape, changes nothing (not even row versions); a changed file
    reports exactly its changes; every malformed file names the record and leaves
    the directory tables byte for byte as they were; a failure while writing rolls
    everything back; linking to an agency registered by `kinnet admin agency add`;
    two imports at once. The mapping, manual changes and the command are
    test_directory_manual.c's. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
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
    s_fixture_setup ("/tmp/kn-directory-XXXXXX");
}

static void
s_teardown (void)
{
    s_fixture_teardown ();
}

TestSuite (directory, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  -------------------------------------------------------------------------
//  Helpers

//  Write json (stolen) as dir/name; returns the path (caller frees).
static char *
s_write_json (const char *name, json_t *json)
{
    char *path = malloc (600);
    snprintf (path, 600, "%s/%s", dir, name);
    cr_assert_eq (json_dump_file (json, path, JSON_INDENT (1)), 0);
    json_decref (json);
    return path;
}

static json_t *
s_load (const char *name)
{
    char *path = s_data (name);
    json_error_t error;
    json_t *json = json_load_file (path, 0, &error);
    cr_assert (json, "%s: %s", path, error.text);
    free (path);
    return json;
}

//  organizations[org].services[service] of a directory.json document.
static json_t *
s_service (json_t *root, size_t org, size_t service)
{
    json_t *found = json_array_get (
        json_object_get (json_array_get (root, org), "services"), service);
    cr_assert (found, "no organizations[%zu].services[%zu]", org, service);
    return found;
}

//  The directory tables' content, for "exactly as before".
static char *
s_checksum (void)
{
    return s_sql (
        "SELECT md5(concat_ws('#',"
        " (SELECT string_agg(concat_ws(',', id, name, sector, district, directory_id, "
        "active,"
        "   accepting, capacity, interpreters), ';' ORDER BY id) FROM core.agency),"
        " (SELECT string_agg(agency_id || ':' || need, ';' ORDER BY agency_id, need)"
        "   FROM core.agency_need),"
        " (SELECT string_agg(agency_id || ':' || district, ';' ORDER BY agency_id, "
        "district)"
        "   FROM core.agency_district),"
        " (SELECT string_agg(agency_id || ':' || language, ';' ORDER BY agency_id, "
        "language)"
        "   FROM core.agency_language),"
        " (SELECT string_agg(concat_ws(',', code, name, child_protection_lead), ';'"
        "   ORDER BY code) FROM core.district)))");
}

//  -------------------------------------------------------------------------
//  Import

Test (directory, realistic_directory_imports_the_right_rows)
{
    json_t *report = s_import_directory ();
    cr_expect_eq (s_total (report, "added"), 8);
    cr_expect_eq (s_total (report, "changed") + s_total (report, "unchanged") +
                      s_total (report, "linked"),
                  0);
    //  Sector from the organization's type term, home district from its service areas
    //  (the mapping names Social Care's), needs from service terms through the mapping.
    //  Capacity sums maxima in counted units: Safe Haven's hours and sessions are not.
    s_expect_summary (SCHOOL, "school|north|t|65|f|1,2,3||en,pl");
    s_expect_summary (SOCIAL_CARE,
                      "social_services|central|t|85|t|8,9,10|east,north,south|ar,en");
    //  CAMHS is temporarily closed: no mental health, no East Riverside, no 30 cases.
    s_expect_summary (HEALTH, "health|south|t|120|f|5,14|central|en,so,ur");
    s_expect_summary (SAFE_HAVEN, "ngo_community|north|t|8|f|4,9|south|bn,en,pa");
    //  Interpreting by term; no capacity published: no limit; Dari is ISO 639-3 "prs".
    s_expect_summary (
        NEW_ROOTS,
        "ngo_community|central|t|none|t|3,11|east,north,south|ar,en,fa,prs,ru,ti,uk");
    s_expect_summary (HOUSING, "housing|central|t|150|f|6,7||en");
    //  Nothing active: described by all its mapped services, accepting nobody.
    s_expect_summary (ACORNS, "early_years|east|f|30|f|8,14||en,pl");
    s_expect_summary (CARERS, "ngo_community|south|t|35|f|13||en");
    char *count = s_sql ("SELECT count(*) || '/' || count(*) FILTER (WHERE name ="
                         " 'Riverside Primary School') FROM core.agency");
    cr_expect_str_eq (count, "8/1");
    free (count);
    //  The youth club maps to no need: not added, and said so.
    cr_expect_null (s_entry (report, YOUTH_CLUB));
    char *ignored = json_dumps (json_object_get (report, "ignored"), JSON_COMPACT);
    cr_expect (strstr (ignored, "\"organizations[7]\""), "%s", ignored);
    cr_expect (
        strstr (ignored, "organizations[3].services[0].attributes[1].taxonomy_term"),
        "%s", ignored);
    cr_expect (strstr (ignored, "'Food bank' is not in the mapping"), "%s", ignored);
    cr_expect (strstr (ignored, "unit 'Hours'"), "%s", ignored);
    free (ignored);
    cr_expect_eq (json_array_size (json_object_get (report, "not_in_file")), 0);
    json_decref (report);
}

Test (directory, reimport_and_service_shape_change_nothing)
{
    json_decref (s_import_directory ());
    char *before = s_checksum ();
    char *versions = s_versions ();
    json_t *again = s_import_directory ();
    cr_expect_eq (s_total (again, "unchanged"), 8);
    cr_expect_eq (s_total (again, "added") + s_total (again, "changed"), 0);
    s_expect_outcome (again, HEALTH, "unchanged:");
    json_decref (again);
    //  The same directory as the HSDS API's full services, each with its organization.
    char *services = s_data ("directory-services.json");
    json_t *shaped = s_import_ok (services, NULL);
    free (services);
    cr_expect_eq (s_total (shaped, "unchanged"), 8);
    cr_expect_eq (s_total (shaped, "added") + s_total (shaped, "changed"), 0);
    json_decref (shaped);
    char *after = s_checksum ();
    char *versions_after = s_versions ();
    cr_expect_str_eq (after, before);
    cr_expect_str_eq (versions_after, versions, "an unchanged import rewrote rows");
    free (before);
    free (after);
    free (versions);
    free (versions_after);
}

Test (directory, changed_file_reports_exactly_its_changes)
{
    json_decref (s_import_directory ());
    json_t *root = s_load ("directory.json");
    //  School: 45 children instead of 40 in attendance.
    json_object_set_new (
        json_array_get (json_object_get (s_service (root, 0, 0), "capacities"), 0),
        "maximum", json_integer (45));
    //  Health: CAMHS reopens (mental health, East Riverside and 30 more cases).
    json_object_set_new (s_service (root, 2, 1), "status", json_string ("active"));
    //  Safe Haven renamed.
    json_object_set_new (json_array_get (root, 3), "name",
                         json_string ("Safe Haven Riverside"));
    //  New Roots: Tigrinya out, Somali in (a set replaced, not merged).
    json_t *languages = json_object_get (s_service (root, 4, 0), "languages");
    json_array_remove (languages, 5);
    json_array_append_new (languages,
                           json_pack ("{s:s,s:s}", "code", "som", "name", "Somali"));
    //  Little Acorns: Stay and Play reopens; the defunct course no longer counts.
    json_object_set_new (s_service (root, 6, 0), "status", json_string ("active"));
    char *file = s_write_json ("changed.json", root);

    json_t *report = s_import_ok (file, NULL);
    cr_expect_eq (s_total (report, "changed"), 5);
    cr_expect_eq (s_total (report, "unchanged"), 3);
    cr_expect_eq (s_total (report, "added"), 0);
    s_expect_outcome (report, SCHOOL, "changed: capacity");
    s_expect_outcome (report, HEALTH, "changed: capacity,needs,districts");
    s_expect_outcome (report, SAFE_HAVEN, "changed: name");
    s_expect_outcome (report, NEW_ROOTS, "changed: languages");
    s_expect_outcome (report, ACORNS, "changed: accepting,needs");
    s_expect_outcome (report, SOCIAL_CARE, "unchanged:");
    s_expect_outcome (report, HOUSING, "unchanged:");
    s_expect_outcome (report, CARERS, "unchanged:");
    json_decref (report);
    s_expect_summary (SCHOOL, "school|north|t|70|f|1,2,3||en,pl");
    s_expect_summary (HEALTH, "health|south|t|150|f|4,5,14|central,east|en,so,ur");
    s_expect_summary (
        NEW_ROOTS,
        "ngo_community|central|t|none|t|3,11|east,north,south|ar,en,fa,prs,ru,so,uk");
    s_expect_summary (ACORNS, "early_years|east|t|30|f|14||en,pl");
    char *name =
        s_sql ("SELECT name FROM core.agency WHERE directory_id = '" SAFE_HAVEN "'");
    cr_expect_str_eq (name, "Safe Haven Riverside");
    free (name);

    //  And the changed file is now the directory: importing it again is a no-op.
    char *versions = s_versions ();
    report = s_import_ok (file, NULL);
    cr_expect_eq (s_total (report, "unchanged"), 8);
    json_decref (report);
    char *versions_after = s_versions ();
    cr_expect_str_eq (versions_after, versions);
    free (versions);
    free (versions_after);
    free (file);
}

Test (directory, dry_run_reports_without_writing)
{
    json_decref (s_import_directory ());
    json_t *root = s_load ("directory.json");
    json_object_set_new (s_service (root, 5, 0), "status", json_string ("inactive"));
    char *file = s_write_json ("closed.json", root);
    char *before = s_checksum ();
    kn_error_t err;
    json_t *report = s_import_with (file, NULL, true, &err);
    cr_assert (report, "%s", err.message);
    cr_expect (json_is_true (json_object_get (report, "dry_run")));
    s_expect_outcome (report, HOUSING, "changed: accepting");
    json_decref (report);
    char *after = s_checksum ();
    cr_expect_str_eq (after, before);
    free (before);
    free (after);
    free (file);
}

//  A malformed case: how to break directory.json (or literal text), and what the
//  error must say.
typedef struct {
    const char *label;
    void (*breaker) (json_t *root);
    const char *text; // used instead of a broken directory.json when set
    kn_code_t code;
    const char *field;
    const char *message; // a part of the message
} malformed_t;

static void
s_no_org_id (json_t *root)
{
    json_object_del (json_array_get (root, 1), "id");
}

static void
s_area_not_object (json_t *root)
{
    json_array_set_new (json_object_get (s_service (root, 3, 1), "service_areas"), 0,
                        json_string ("North Riverside"));
}

static void
s_status_number (json_t *root)
{
    json_object_set_new (s_service (root, 0, 0), "status", json_integer (1));
}

static void
s_bad_language (json_t *root)
{
    json_object_set_new (
        json_array_get (json_object_get (s_service (root, 2, 0), "languages"), 1), "code",
        json_string ("xx"));
}

static void
s_negative_capacity (json_t *root)
{
    json_object_set_new (
        json_array_get (json_object_get (s_service (root, 0, 1), "capacities"), 0),
        "maximum", json_integer (-5));
}

static void
s_fractional_capacity (json_t *root)
{
    json_object_set_new (
        json_array_get (json_object_get (s_service (root, 0, 1), "capacities"), 0),
        "maximum", json_real (2.5));
}

//  The very last record: everything before it was read and would have been written.
static void
s_last_unit_missing (json_t *root)
{
    json_object_del (
        json_array_get (json_object_get (s_service (root, 8, 0), "capacities"), 0),
        "unit");
}

static void
s_duplicate_org (json_t *root)
{
    json_object_set_new (json_array_get (root, 1), "id", json_string (SCHOOL));
}

static void
s_services_not_array (json_t *root)
{
    json_object_set_new (json_array_get (root, 5), "services", json_string ("housing"));
}

static void
s_term_not_object (json_t *root)
{
    json_object_set_new (
        json_array_get (json_object_get (s_service (root, 1, 1), "attributes"), 0),
        "taxonomy_term", json_string ("RS-FAM-PAR"));
}

//  A new organization whose only area maps to no district.
static void
s_no_district (json_t *root)
{
    json_t *org = json_deep_copy (json_array_get (root, 8));
    json_object_set_new (org, "id", json_string ("new-org-1"));
    json_t *service = json_array_get (json_object_get (org, "services"), 0);
    //  A copy of a record is another record: ids of its own.
    json_object_set_new (service, "id", json_string ("new-service-1"));
    json_object_set_new (service, "organization_id", json_string ("new-org-1"));
    json_t *area = json_array_get (json_object_get (service, "service_areas"), 0);
    json_object_set_new (area, "name", json_string ("Elsewhere"));
    json_array_append_new (root, org);
}

static const malformed_t s_malformed[] = {
    {"syntax", NULL, "[{\"id\": \"a\",\n  \"name\": }]", KN_E_INVALID_ARGUMENT, "file",
     "line 2"},
    {"not an HSDS document", NULL, "{\"directory\": []}", KN_E_INVALID_ARGUMENT, "",
     "not an HSDS 3.0 document: members 'directory'"},
    {"missing id", s_no_org_id, NULL, KN_E_INVALID_ARGUMENT, "organizations[1].id",
     "'id' is required"},
    {"area not an object", s_area_not_object, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[3].services[1].service_areas[0]", SAFE_HAVEN},
    {"status a number", s_status_number, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[0].services[0].status", "must be a string"},
    {"not a language", s_bad_language, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[2].services[0].languages[1].code", "'xx' is not a language"},
    {"negative capacity", s_negative_capacity, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[0].services[1].capacities[0].maximum", "whole number"},
    {"fractional capacity", s_fractional_capacity, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[0].services[1].capacities[0].maximum", "whole number"},
    {"last record", s_last_unit_missing, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[8].services[0].capacities[0].unit", CARERS},
    {"duplicate organization", s_duplicate_org, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[1].id", "given twice"},
    {"services not an array", s_services_not_array, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[5].services", "must be an array"},
    {"term not an object", s_term_not_object, NULL, KN_E_INVALID_ARGUMENT,
     "organizations[1].services[1].attributes[0].taxonomy_term", "must be an object"},
    {"no district", s_no_district, NULL, KN_E_INVALID_ARGUMENT, "organizations[9]",
     "no district"},
    {"service without organization", NULL,
     "[{\"id\": \"s1\", \"name\": \"Advice\", \"status\": \"active\","
     " \"organization_id\": \"nowhere\"}]",
     KN_E_INVALID_ARGUMENT, "services[0].organization", "'organization' is required"},
};

Test (directory, malformed_files_name_the_record_and_change_nothing)
{
    json_decref (s_import_directory ());
    //  Districts too are in the checksum.
    kn_error_t err;
    json_decref (kn_directory_district_set (db, "north", "North Riverside", NULL, &err));
    char *before = s_checksum ();
    for (size_t i = 0; i < sizeof s_malformed / sizeof s_malformed[0]; i++) {
        const malformed_t *test = &s_malformed[i];
        char *file;
        if (test->text)
            file = s_write_text ("bad.json", test->text);
        else {
            json_t *root = s_load ("directory.json");
            //  Something worth writing first, so a half import would show.
            json_object_set_new (json_array_get (root, 0), "name",
                                 json_string ("Riverside Primary Academy"));
            test->breaker (root);
            file = s_write_json ("bad.json", root);
        }
        kn_error_clear (&err);
        json_t *report = s_import_with (file, NULL, false, &err);
        free (file);
        cr_expect_null (report, "%s: imported", test->label);
        json_decref (report);
        cr_expect_eq (err.code, test->code, "%s: code %d (%s)", test->label, err.code,
                      err.message);
        cr_expect_str_eq (err.field, test->field, "%s: %s", test->label, err.message);
        cr_expect (strstr (err.message, test->message), "%s: message '%s' lacks '%s'",
                   test->label, err.message, test->message);
        char *after = s_checksum ();
        cr_expect_str_eq (after, before, "%s: the directory changed", test->label);
        free (after);
    }
    free (before);
}

//  A failure found while writing (not while reading) rolls back what was written.
Test (directory, failure_while_writing_rolls_everything_back)
{
    json_decref (s_import_directory ());
    char school_agency[KN_UUID_STR];
    s_agency_id (SCHOOL, school_agency);
    json_t *root = s_load ("directory.json");
    json_object_set_new (json_array_get (root, 0), "name",
                         json_string ("Riverside Academy"));
    char *file = s_write_json ("renamed.json", root);
    //  Young Carers, the last organization, is linked to the school's agency.
    json_t *mapping = s_load ("mapping.json");
    json_object_set_new (json_object_get (mapping, "organizations"), CARERS,
                         json_pack ("{s:s}", "agency_id", school_agency));
    char *mapping_file = s_write_json ("mapping.json", mapping);
    char *before = s_checksum ();
    kn_error_t err;
    json_t *report = s_import_with (file, mapping_file, false, &err);
    cr_expect_null (report);
    json_decref (report);
    cr_expect_eq (err.code, KN_E_CONFLICT, "%s", err.message);
    cr_expect_str_eq (err.field, "mapping.organizations." CARERS ".agency_id");
    char *after = s_checksum ();
    cr_expect_str_eq (after, before, "the school's rename was not rolled back");
    free (before);
    free (after);
    free (file);
    free (mapping_file);
}

Test (directory, link_to_an_agency_registered_by_hand)
{
    //  Registered by `kinnet admin agency add`, with a key, before the directory.
    char existing[KN_UUID_STR];
    kn_error_t err;
    zcert_t *cert = zcert_new ();
    cr_assert_eq (kn_agency_add (db, "Young Carers", "ngo_community", "north",
                                 zcert_public_txt (cert), existing, &err),
                  0, "%s", err.message);
    zcert_destroy (&cert);
    json_t *mapping = s_load ("mapping.json");
    json_object_set_new (json_object_get (mapping, "organizations"), CARERS,
                         json_pack ("{s:s}", "agency_id", existing));
    char *mapping_file = s_write_json ("mapping.json", mapping);
    char *file = s_data ("directory.json");

    json_t *report = s_import_ok (file, mapping_file);
    cr_expect_eq (s_total (report, "linked"), 1);
    cr_expect_eq (s_total (report, "added"), 7);
    s_expect_outcome (report, CARERS,
                      "linked: directory_id,name,district,capacity,needs,languages");
    cr_expect_str_eq (
        json_string_value (json_object_get (s_entry (report, CARERS), "agency_id")),
        existing);
    json_decref (report);
    char linked[KN_UUID_STR];
    s_agency_id (CARERS, linked);
    cr_expect_str_eq (linked, existing);
    s_expect_summary (CARERS, "ngo_community|south|t|35|f|13||en");
    char sql[200];
    snprintf (sql, sizeof sql,
              "SELECT (SELECT count(*) FROM core.agency) || '/' ||"
              " (SELECT count(*) FROM core.agency_key WHERE agency_id = '%s'"
              "  AND revoked_at IS NULL)",
              existing);
    char *counts = s_sql (sql);
    cr_expect_str_eq (counts, "8/1", "no second agency; the key still works");
    free (counts);

    //  Linked once, matched by directory id from then on, with or without the link.
    report = s_import_ok (file, mapping_file);
    s_expect_outcome (report, CARERS, "unchanged:");
    json_decref (report);
    report = s_import_ok (file, NULL);
    s_expect_outcome (report, CARERS, "unchanged:");
    json_decref (report);

    //  A link to an agency that does not exist.
    mapping = s_load ("mapping.json");
    json_object_set_new (
        json_object_get (mapping, "organizations"), YOUTH_CLUB,
        json_pack ("{s:s}", "agency_id", "00000000-0000-4000-8000-000000000001"));
    free (mapping_file);
    mapping_file = s_write_json ("mapping.json", mapping);
    char *before = s_checksum ();
    report = s_import_with (file, mapping_file, false, &err);
    cr_expect_null (report);
    cr_expect_eq (err.code, KN_E_NOT_FOUND);
    cr_expect_str_eq (err.field, "mapping.organizations." YOUTH_CLUB ".agency_id");
    char *after = s_checksum ();
    cr_expect_str_eq (after, before);
    free (before);
    free (after);
    free (file);
    free (mapping_file);
}

//  Two imports of a new directory at once: one adds, the other then finds it all
//  unchanged; neither fails on the other's rows.
typedef struct {
    const char *file;
    json_t *report;
    kn_error_t err;
} racer_t;

static void *
s_racer (void *arg)
{
    racer_t *racer = arg;
    kn_db_t *own = kn_db_new (url, NULL, &racer->err);
    char *path = s_data ("mapping.json");
    kn_directory_mapping_t *mapping = kn_directory_mapping_new (path, &racer->err);
    free (path);
    if (own && mapping)
        racer->report =
            kn_directory_import (own, racer->file, mapping, false, false, &racer->err);
    kn_directory_mapping_destroy (&mapping);
    kn_db_destroy (&own);
    return NULL;
}

Test (directory, concurrent_imports_serialise)
{
    char *file = s_data ("directory.json");
    racer_t racers[2] = {{.file = file}, {.file = file}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq (pthread_create (&threads[i], NULL, s_racer, &racers[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join (threads[i], NULL);
    cr_assert (racers[0].report, "%s", racers[0].err.message);
    cr_assert (racers[1].report, "%s", racers[1].err.message);
    long long added =
        s_total (racers[0].report, "added") + s_total (racers[1].report, "added");
    long long unchanged =
        s_total (racers[0].report, "unchanged") + s_total (racers[1].report, "unchanged");
    cr_expect_eq (added, 8);
    cr_expect_eq (unchanged, 8);
    json_decref (racers[0].report);
    json_decref (racers[1].report);
    char *count = s_sql ("SELECT count(*) FROM core.agency");
    cr_expect_str_eq (count, "8");
    free (count);
    free (file);
}
