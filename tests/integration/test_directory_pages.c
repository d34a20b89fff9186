/*  A directory in several HSDS 3.0 documents against a real PostgreSQL: the data of
    tests/data/hsds/directory.json cut the way an API exports it (pages of services
    naming their organization by organization_id, then a page of organizations,
    one page in service_at_location records) imports as the one file does, and
    importing the file after it changes nothing; a wrong record on one page names
    the page and writes nothing; and the kinnet command reads a folder of pages,
    a single service_at_location, and says which file an error is in. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "directory_fixture.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_test.h"

//  Services per page: the fifteen services of directory.json in three pages.
#define PAGE_SIZE 5
#define PAGES     4 // three of services, one of organizations

static char *pages[PAGES]; // the directory as an API's pages
static size_t lens[PAGES];

static void
s_setup (void)
{
    s_fixture_setup ("/tmp/kn-directory-pages-XXXXXX");
}

static void
s_teardown (void)
{
    for (int i = 0; i < PAGES; i++) {
        free (pages[i]);
        pages[i] = NULL;
    }
    s_fixture_teardown ();
}

TestSuite (directory_pages, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  -------------------------------------------------------------------------
//  Helpers

static json_t *
s_page (size_t number, json_t *contents)
{
    return json_pack ("{s:i,s:i,s:i,s:i,s:b,s:b,s:b,s:o}", "total_items", 15,
                      "total_pages", PAGES, "page_number", (int)number, "size", PAGE_SIZE,
                      "first_page", number == 1, "last_page", number == PAGES, "empty", 0,
                      "contents", contents);
}

//  directory.json as pages: three of its services (each naming its organization
//  by organization_id only), the second as service_at_location records, then the
//  organizations without their services: every service comes before its
//  organization. breaker, when set, changes the pages before they are written.
static void
s_make_pages (void (*breaker) (json_t *pages[PAGES]))
{
    char *path = s_data ("directory.json");
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert (root, "%s: %s", path, error.text);
    free (path);
    json_t *built[PAGES];
    for (int i = 0; i < PAGES; i++)
        built[i] = NULL;
    json_t *organizations = json_array (), *contents = json_array ();
    size_t index, at, page = 0;
    json_t *org, *service;
    json_array_foreach (root, index, org)
    {
        json_array_foreach (json_object_get (org, "services"), at, service)
        {
            json_t *record = json_incref (service);
            if (page == 1) //  the same service at a place of its own
                record = json_pack ("{s:s+,s:o,s:{s:s,s:s,s:s}}", "id", "at-",
                                    json_string_value (json_object_get (service, "id")),
                                    "service", record, "location", "id", "loc-1",
                                    "location_type", "physical", "name", "Civic Centre");
            json_array_append_new (contents, record);
            if (json_array_size (contents) == PAGE_SIZE) {
                built[page] = s_page (page + 1, contents);
                page++;
                contents = json_array ();
            }
        }
        json_t *alone = json_deep_copy (org);
        json_object_del (alone, "services");
        json_array_append_new (organizations, alone);
    }
    cr_assert_eq (page, PAGES - 1, "directory.json has %d services", PAGE_SIZE * 3);
    json_decref (contents);
    built[PAGES - 1] = s_page (PAGES, organizations);
    if (breaker)
        breaker (built);
    for (int i = 0; i < PAGES; i++) {
        pages[i] = json_dumps (built[i], JSON_INDENT (1));
        lens[i] = strlen (pages[i]);
        json_decref (built[i]);
    }
    json_decref (root);
}

//  tests/data/hsds/mapping.json.
static kn_directory_mapping_t *
s_hsds_mapping (void)
{
    char *path = s_data ("mapping.json");
    kn_directory_mapping_t *mapping = s_mapping (path);
    free (path);
    return mapping;
}

//  The pages imported in one transaction, as the admin service does.
static json_t *
s_import_pages (kn_error_t *err)
{
    kn_directory_mapping_t *mapping = s_hsds_mapping ();
    cr_assert_eq (kn_db_begin_write (db, NULL, err), 0, "%s", err->message);
    json_t *report = kn_directory_import_texts (db, (const char *const *)pages, lens,
                                                PAGES, mapping, false, false, err);
    kn_error_t ignored;
    kn_db_exec (db, report ? "COMMIT" : "ROLLBACK", report ? err : &ignored);
    kn_directory_mapping_destroy (&mapping);
    return report;
}

//  -------------------------------------------------------------------------
//  The import

Test (directory_pages, pages_import_as_the_one_file_does)
{
    s_make_pages (NULL);
    kn_error_t err;
    json_t *report = s_import_pages (&err);
    cr_assert (report, "%s (field %s)", err.message, err.field);
    cr_expect_eq (s_total (report, "added"), 8);
    //  The rows test_directory.c expects from directory.json.
    s_expect_summary (SCHOOL, "school|north|t|65|f|1,2,3||en,pl");
    s_expect_summary (HEALTH, "health|south|t|120|f|5,14|central|en,so,ur");
    s_expect_summary (ACORNS, "early_years|east|f|30|f|8,14||en,pl");
    s_expect_summary (CARERS, "ngo_community|south|t|35|f|13||en");
    //  Ignored parts name their page.
    char *ignored = json_dumps (json_object_get (report, "ignored"), JSON_COMPACT);
    cr_expect (strstr (ignored, "\"hsds[3].contents[7]\""), "%s", ignored);
    cr_expect (strstr (ignored, "\"hsds[1].contents["), "%s", ignored);
    free (ignored);
    json_decref (report);

    //  The one file says the same: nothing to change, no row rewritten.
    char *versions = s_versions ();
    char *file = s_data ("directory.json");
    kn_directory_mapping_t *mapping = s_hsds_mapping ();
    report = kn_directory_import (db, file, mapping, false, false, &err);
    cr_assert (report, "%s (field %s)", err.message, err.field);
    cr_expect_eq (s_total (report, "unchanged"), 8);
    json_decref (report);
    kn_directory_mapping_destroy (&mapping);
    free (file);
    char *versions_after = s_versions ();
    cr_expect_str_eq (versions_after, versions, "the file rewrote rows the pages wrote");
    free (versions);
    free (versions_after);
}

//  The second page's third service at its place: a negative maximum.
static void
s_negative_maximum (json_t *built[PAGES])
{
    json_t *record = json_array_get (json_object_get (built[1], "contents"), 2);
    json_t *capacities =
        json_object_get (json_object_get (record, "service"), "capacities");
    cr_assert (json_array_size (capacities), "that service has a capacity");
    json_object_set_new (json_array_get (capacities, 0), "maximum", json_integer (-1));
}

Test (directory_pages, a_wrong_record_names_its_page_and_nothing_is_written)
{
    s_make_pages (s_negative_maximum);
    kn_error_t err;
    json_t *report = s_import_pages (&err);
    cr_expect_null (report);
    json_decref (report);
    cr_expect_eq (err.code, KN_E_INVALID_ARGUMENT);
    cr_expect_str_eq (err.field, "hsds[1].contents[2].service.capacities[0].maximum",
                      "%s", err.message);
    cr_expect (strstr (err.message, "(found -1)"), "%s", err.message);
    char *count =
        s_sql ("SELECT count(*) FROM core.agency WHERE directory_id IS NOT NULL");
    cr_expect_str_eq (count, "0");
    free (count);
}

//  -------------------------------------------------------------------------
//  The command

static char *
s_write (const char *name, const char *text)
{
    char *path = malloc (600);
    snprintf (path, 600, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    cr_assert (file, "%s", path);
    fputs (text, file);
    fclose (file);
    return path;
}

//  A food bank no page mentions, as the API's /service_at_locations/{id} sends it.
#define FOOD_BANK "0c7a2e55-3f7e-4c59-9c1e-6a0d2f1b9e01"
static const char s_at_location[] =
    "{\"id\": \"e1f0c1aa-0000-4000-8000-000000000001\", \"description\": \"Tuesdays\","
    " \"location\": {\"id\": \"loc-2\", \"location_type\": \"physical\", \"name\": \"Hall\"},"
    " \"service\": {\"id\": \"e1f0c1aa-0000-4000-8000-000000000002\", \"name\": \"Food "
    "parcels\", \"status\": \"active\", \"attributes\": [{\"taxonomy_term\": {\"code\": "
    "\"RS-MON\", \"name\": \"Money and food\"}}], \"service_areas\": [{\"name\": \"North "
    "Riverside\"}], \"organization\": {\"id\": \"" FOOD_BANK "\", \"name\": \"Riverside "
    "Food Bank\", \"description\": \"Food parcels\", \"attributes\": [{\"taxonomy_term\": "
    "{\"code\": \"ORG-VCS\"}}]}}}";

Test (directory_pages, the_command_reads_a_folder_of_pages_and_one_record)
{
    s_fixture_stack ();
    s_make_pages (NULL);
    char folder[600], args[2000];
    snprintf (folder, sizeof folder, "%s/export", dir);
    cr_assert_eq (mkdir (folder, 0700), 0);
    for (int i = 0; i < PAGES; i++) {
        char name[64];
        snprintf (name, sizeof name, "export/page-%d.json", i + 1);
        free (s_write (name, pages[i]));
    }
    free (s_write ("export/README.txt", "not a page"));
    char *mapping = s_data ("mapping.json");

    //  The folder: its *.json files in name order, one directory.
    snprintf (args, sizeof args, "--format json admin directory import %s --mapping %s",
              folder, mapping);
    json_t *report = s_cli_json (args, 0);
    cr_expect_eq (s_total (report, "added"), 8);
    json_decref (report);

    //  One service_at_location alone, by --file.
    char *single = s_write ("at-location.json", s_at_location);
    snprintf (args, sizeof args,
              "--format json admin directory import --file %s --mapping %s", single,
              mapping);
    report = s_cli_json (args, 0);
    cr_expect_eq (s_total (report, "added"), 1);
    json_decref (report);
    s_expect_summary (FOOD_BANK, "ngo_community|north|t|none|f|7||");

    //  An error on the fifth document names it and its file; nothing is written.
    char *bad = s_write (
        "bad.json", "{\"contents\": [{\"id\": \"s-9\", \"name\": \"Lost\", \"status\":"
                    " \"active\", \"organization_id\": \"nowhere\"}]}");
    snprintf (args, sizeof args,
              "--format json admin directory import %s --file %s --mapping %s", folder,
              bad, mapping);
    json_t *error = s_cli_json (args, 3);
    json_t *what = json_object_get (error, "error");
    cr_expect_str_eq (json_string_value (json_object_get (what, "field")),
                      "hsds[4].contents[0].organization");
    const char *message = json_string_value (json_object_get (what, "message"));
    cr_expect (strstr (message, "bad.json]"), "%s", message);
    json_decref (error);

    //  A folder without pages.
    char empty[600];
    snprintf (empty, sizeof empty, "%s/empty", dir);
    cr_assert_eq (mkdir (empty, 0700), 0);
    snprintf (args, sizeof args, "--format json admin directory import %s", empty);
    error = s_cli_json (args, 3);
    what = json_object_get (error, "error");
    cr_expect_str_eq (json_string_value (json_object_get (what, "field")), "file");
    cr_expect (
        strstr (json_string_value (json_object_get (what, "message")), "no *.json"));
    json_decref (error);
    char *count =
        s_sql ("SELECT count(*) FROM core.agency WHERE directory_id IS NOT NULL");
    cr_expect_str_eq (count, "9");
    free (count);
    free (bad);
    free (single);
    free (mapping);
}
