/*  Re-imports against a real PostgreSQL (issue 20): an import is a diff of the
    services the directory holds. A document holding some of an organization's
    services adds to the others instead of taking them away; an organization's own
    record listing its services speaks for all of them; a change that takes a need
    or acceptance from an accepting agency is refused without prune and reported
    with it; prune needs every page and withdraws, never deletes, an agency the
    directory no longer lists, only when the documents are whole (every page of
    an export, or said whole); and the kinnet command shows the same in text and
    JSON. Built on tests/data/hsds/directory.json, as test_directory.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "directory_fixture.h"
#include "kn_agency.h"
#include "kn_directory.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_test.h"

//  HSDS service ids in tests/data/hsds/directory.json (organization ids: the fixture's).
#define ATTENDANCE "2ace9e96-8228-45eb-91e3-9a526ba365f3" // School's first service
#define SEND       "d8401a1a-bf6d-43ed-bfc5-37dfa14e8751" // School's second
#define SCHOOL_AT  0                                      // its index in the file
#define CARERS_AT  8
#define ORGS       9

static void
s_setup (void)
{
    s_fixture_setup ("/tmp/kn-directory-reimport-XXXXXX");
}

static void
s_teardown (void)
{
    s_fixture_teardown ();
}

TestSuite (directory_reimport, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  -------------------------------------------------------------------------
//  Helpers

static void
s_expect_sql (const char *sql, const char *expected)
{
    char *value = s_sql (sql);
    cr_expect_str_eq (value, expected, "%s", sql);
    free (value);
}

//  directory.json as JSON, to change.
static json_t *
s_directory (void)
{
    char path[600];
    s_path (path, sizeof path, "directory.json");
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert (root, "%s: %s", path, error.text);
    return root;
}

//  root written to the scratch folder as name (root taken); the path, freed by caller.
static char *
s_write (const char *name, json_t *root)
{
    char *path = malloc (200);
    cr_assert (path);
    snprintf (path, 200, "%s/%s", dir, name);
    cr_assert_eq (json_dump_file (root, path, JSON_INDENT (1)), 0);
    json_decref (root);
    return path;
}

//  Import file with tests/data/hsds/mapping.json, which must succeed.
static json_t *
s_import_prune_ok (const char *file, bool dry_run, kn_directory_prune_t prune)
{
    kn_error_t err;
    json_t *report = s_import_prune (file, NULL, dry_run, prune, &err);
    cr_assert (report, "import failed: %s (field %s)", err.message, err.field);
    return report;
}

//  The report's entry for an organization, which must be there.
static json_t *
s_listed (json_t *report, const char *directory_id)
{
    json_t *entry = s_entry (report, directory_id);
    cr_assert (entry, "no %s in the report", directory_id);
    return entry;
}

//  A member of an entry's set change ("needs", "removed") as compact JSON.
static char *
s_set (json_t *entry, const char *field, const char *member)
{
    size_t index;
    json_t *set;
    json_array_foreach (
        json_object_get (entry, "sets"), index,
        set) if (strcmp (json_string_value (json_object_get (set, "field")), field) ==
                 0) return json_dumps (json_object_get (set, member), JSON_COMPACT);
    return strdup ("(no change)");
}

static char *
s_json (json_t *entry, const char *member)
{
    return json_dumps (json_object_get (entry, member), JSON_COMPACT | JSON_ENCODE_ANY);
}

static void
s_expect_json (json_t *object, const char *member, const char *expected)
{
    char *value = s_json (object, member);
    cr_expect_str_eq (value, expected, "%s", member);
    free (value);
}

#define NEEDS_OF(id)                                                                       \
    "SELECT coalesce(string_agg(need::text, ',' ORDER BY need), '') FROM core.agency_need" \
    " WHERE agency_id = (SELECT id FROM core.agency WHERE directory_id = '" id "')"
#define SERVICES_OF(id)                                                                  \
    "SELECT count(*) FROM core.agency_directory_service WHERE agency_id ="               \
    " (SELECT id FROM core.agency WHERE directory_id = '" id "')"
#define STATE_OF(id)                                                                     \
    "SELECT concat_ws('|', active, accepting, directory_status) FROM core.agency"        \
    " WHERE directory_id = '" id "'"

//  -------------------------------------------------------------------------
//  Partial imports add

Test (directory_reimport, one_service_alone_takes_nothing_from_the_others)
{
    json_decref (s_import_directory ());
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3");
    s_expect_sql (SERVICES_OF (SCHOOL), "2");

    //  The School's attendance service alone, as /services/{id} sends it.
    json_t *root = s_directory ();
    json_t *school = json_array_get (root, SCHOOL_AT);
    json_t *service =
        json_deep_copy (json_array_get (json_object_get (school, "services"), 0));
    json_object_set_new (
        service, "organization",
        json_pack ("{s:s,s:O}", "id", SCHOOL, "name", json_object_get (school, "name")));
    json_decref (root);
    char *file = s_write ("one-service.json", json_incref (service));
    json_t *report = s_import_prune_ok (file, false, false);
    json_t *entry = s_listed (report, SCHOOL);
    s_expect_json (entry, "result", "\"unchanged\"");
    s_expect_json (entry, "needs_prune", "false");
    json_decref (report);
    free (file);
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3");
    s_expect_sql (SERVICES_OF (SCHOOL), "2");

    //  A new service of the School on its own: added to what it offers.
    json_object_set_new (service, "id", json_string ("a-new-service"));
    json_t *terms = json_object_get (service, "attributes");
    json_array_clear (terms);
    json_array_append_new (terms, json_pack ("{s:s,s:{s:s,s:s,s:s}}", "id", "t-new",
                                             "taxonomy_term", "id", "young-carers",
                                             "code", "RS-YC", "name", "Young carers"));
    file = s_write ("new-service.json", service);
    report = s_import_prune_ok (file, false, false);
    entry = s_listed (report, SCHOOL);
    s_expect_json (entry, "result", "\"changed\"");
    s_expect_json (entry, "services_added", "[\"a-new-service\"]");
    char *added = s_set (entry, "needs", "added"),
         *removed = s_set (entry, "needs", "removed");
    cr_expect_str_eq (added, "[\"young_carer\"]");
    cr_expect_str_eq (removed, "[]");
    free (added);
    free (removed);
    json_decref (report);
    free (file);
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3,13");
    s_expect_sql (SERVICES_OF (SCHOOL), "3");
}

//  -------------------------------------------------------------------------
//  Removals need prune

Test (directory_reimport, a_record_listing_services_speaks_for_them_and_losses_need_prune)
{
    json_decref (s_import_directory ());
    //  The School's own record now lists its attendance service only.
    json_t *root = s_directory ();
    json_array_remove (json_object_get (json_array_get (root, SCHOOL_AT), "services"), 1);
    char *file = s_write ("fewer.json", root);

    //  Without prune: refused, nothing written.
    kn_error_t err;
    json_t *report = s_import_prune (file, NULL, false, false, &err);
    cr_assert_null (report, "an import that strips needs went through");
    cr_expect_eq (err.code, KN_E_CONFLICT);
    cr_expect_str_eq (err.field, "prune");
    cr_expect (strstr (err.message, SCHOOL), "%s", err.message);
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3");
    s_expect_sql (SERVICES_OF (SCHOOL), "2");

    //  A dry run says the same as a report.
    report = s_import_prune_ok (file, true, false);
    s_expect_json (report, "needs_prune", "true");
    json_t *entry = s_listed (report, SCHOOL);
    s_expect_json (entry, "needs_prune", "true");
    s_expect_json (entry, "services_removed", "[\"" SEND "\"]");
    char *removed = s_set (entry, "needs", "removed");
    char *before = s_set (entry, "needs", "before"),
         *after = s_set (entry, "needs", "after");
    cr_expect_str_eq (removed, "[\"special_educational_needs_disability\","
                               "\"language_support\"]");
    cr_expect_str_eq (after, "[\"attendance_and_learning\"]");
    cr_expect (strstr (before, "attendance_and_learning"), "%s", before);
    free (removed);
    free (before);
    free (after);
    json_decref (report);
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3");

    //  With prune (one file is the whole directory): applied and reported.
    report = s_import_prune_ok (file, false, KN_DIRECTORY_PRUNE);
    entry = s_listed (report, SCHOOL);
    s_expect_json (entry, "result", "\"changed\"");
    s_expect_json (entry, "services_removed", "[\"" SEND "\"]");
    json_decref (report);
    free (file);
    s_expect_sql (NEEDS_OF (SCHOOL), "1");
    s_expect_sql (SERVICES_OF (SCHOOL), "1");
}

Test (directory_reimport, an_agency_that_would_stop_accepting_needs_prune)
{
    json_decref (s_import_directory ());
    //  Every service of the School closes: it would accept nobody.
    json_t *root = s_directory ();
    size_t index;
    json_t *service;
    json_array_foreach (json_object_get (json_array_get (root, SCHOOL_AT), "services"),
                        index, service)
        json_object_set_new (service, "status", json_string ("inactive"));
    char *file = s_write ("closed.json", root);
    kn_error_t err;
    cr_expect_null (s_import_prune (file, NULL, false, false, &err));
    cr_expect (strstr (err.message, "stops accepting"), "%s", err.message);
    s_expect_sql (STATE_OF (SCHOOL), "t|t|listed");
    json_t *report = s_import_prune_ok (file, false, KN_DIRECTORY_PRUNE);
    s_expect_sql (STATE_OF (SCHOOL), "t|f|listed");
    json_t *entry = s_listed (report, SCHOOL);
    s_expect_json (json_array_get (json_object_get (entry, "values"), 0), "field",
                   "\"accepting\"");
    s_expect_json (entry, "services_changed", "[\"" ATTENDANCE "\",\"" SEND "\"]");
    json_decref (report);
    free (file);
}

//  -------------------------------------------------------------------------
//  Prune

//  directory.json's organizations as pages: numbers lists the pages to give (of
//  two), total_items of each; written as page-N.json, their paths in paths.
static size_t
s_pages (const int *numbers, const int *totals, size_t count, char *texts[2],
         size_t lens[2])
{
    json_t *root = s_directory ();
    for (size_t i = 0; i < count; i++) {
        json_t *contents = json_array ();
        for (size_t k = numbers[i] == 1 ? 0 : 5; k < (numbers[i] == 1 ? 5 : ORGS); k++)
            json_array_append (contents, json_array_get (root, k));
        json_t *page =
            json_pack ("{s:i,s:i,s:i,s:o}", "total_items", totals[i], "total_pages", 2,
                       "page_number", numbers[i], "contents", contents);
        texts[i] = json_dumps (page, JSON_COMPACT);
        lens[i] = strlen (texts[i]);
        json_decref (page);
    }
    json_decref (root);
    return count;
}

static json_t *
s_import_pages (const int *numbers, const int *totals, size_t count,
                kn_directory_prune_t prune, kn_error_t *err)
{
    char *texts[2];
    size_t lens[2];
    s_pages (numbers, totals, count, texts, lens);
    char path[600];
    s_path (path, sizeof path, "mapping.json");
    kn_directory_mapping_t *mapping = kn_directory_mapping_new (path, err);
    cr_assert (mapping);
    cr_assert_eq (kn_db_begin_write (db, NULL, err), 0, "%s", err->message);
    json_t *report = kn_directory_import_texts (db, (const char *const *)texts, lens,
                                                count, mapping, false, prune, err);
    kn_error_t ignored;
    kn_db_exec (db, report ? "COMMIT" : "ROLLBACK", report ? err : &ignored);
    kn_directory_mapping_destroy (&mapping);
    for (size_t i = 0; i < count; i++)
        free (texts[i]);
    return report;
}

Test (directory_reimport, prune_needs_every_page)
{
    json_decref (s_import_directory ());
    kn_error_t err;
    //  One page of two: read and applied without prune, refused with it.
    int first[] = {1}, nine[] = {9, 9}, odd[] = {9, 10}, both[] = {2, 1};
    json_t *report = s_import_pages (first, nine, 1, false, &err);
    cr_assert (report, "%s", err.message);
    json_decref (report);
    //  Saying the pages are whole does not make the missing one appear.
    for (int mode = KN_DIRECTORY_PRUNE; mode <= KN_DIRECTORY_PRUNE_WHOLE; mode++) {
        cr_expect_null (s_import_pages (first, nine, 1, mode, &err));
        cr_expect_eq (err.code, KN_E_CONFLICT);
        cr_expect_str_eq (err.field, "prune");
        cr_expect (strstr (err.message, "page 2 of 2 is missing"), "%s", err.message);
    }
    //  Pages that disagree about the whole.
    cr_expect_null (s_import_pages (both, odd, 2, KN_DIRECTORY_PRUNE, &err));
    cr_expect (strstr (err.message, "total_items"), "%s", err.message);
    //  Both pages, in any order: the whole directory without being told, nothing
    //  to withdraw.
    report = s_import_pages (both, nine, 2, KN_DIRECTORY_PRUNE, &err);
    cr_assert (report, "%s (%s)", err.message, err.field);
    s_expect_json (report, "whole", "true");
    cr_expect_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "withdrawn")),
                  0);
    cr_expect_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "unchanged")),
                  8);
    json_decref (report);
}

Test (directory_reimport, prune_withdraws_and_never_deletes)
{
    json_decref (s_import_directory ());
    //  Young Carers has a key: withdrawal keeps it.
    free (s_sql ("INSERT INTO core.agency_key (public_key, agency_id)"
                 " SELECT repeat('k', 40), id FROM core.agency"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    json_t *root = s_directory ();
    json_array_remove (root, CARERS_AT);
    char *file = s_write ("without-carers.json", root);

    //  Without prune it is only reported.
    json_t *report = s_import_prune_ok (file, false, false);
    s_expect_json (report, "not_in_file", "[\"" CARERS "\"]");
    json_decref (report);
    s_expect_sql (STATE_OF (CARERS), "t|t|listed");

    //  One file with prune alone is not the whole directory: the agencies it
    //  names may lose what it no longer gives, the others stay (issue 20).
    report = s_import_prune_ok (file, false, KN_DIRECTORY_PRUNE);
    s_expect_json (report, "whole", "false");
    s_expect_json (report, "not_in_file", "[\"" CARERS "\"]");
    s_expect_json (json_object_get (report, "totals"), "withdrawn", "0");
    json_decref (report);
    s_expect_sql (STATE_OF (CARERS), "t|t|listed");
    s_expect_sql (SERVICES_OF (CARERS), "1");

    //  Told it is whole, prune withdraws what it does not name.
    report = s_import_prune_ok (file, false, KN_DIRECTORY_PRUNE_WHOLE);
    s_expect_json (report, "whole", "true");
    json_t *entry = s_listed (report, CARERS);
    s_expect_json (entry, "result", "\"withdrawn\"");
    s_expect_json (entry, "changes", "[\"directory_status\",\"accepting\"]");
    s_expect_json (json_object_get (report, "totals"), "withdrawn", "1");
    json_decref (report);
    free (file);
    s_expect_sql (STATE_OF (CARERS), "t|f|withdrawn");
    s_expect_sql (NEEDS_OF (CARERS), "13");
    s_expect_sql (SERVICES_OF (CARERS), "0");
    s_expect_sql ("SELECT count(*) FROM core.agency_key k JOIN core.agency a"
                  " ON a.id = k.agency_id WHERE a.directory_id = '" CARERS "'"
                  " AND k.revoked_at IS NULL",
                  "1");

    //  Nor can an administrator make it accept by hand: only a listing import.
    char *id = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    kn_directory_change_t change = {
        .accepting = 1, .interpreters = KN_DIRECTORY_KEEP, .capacity = KN_DIRECTORY_KEEP};
    kn_error_t err;
    cr_expect_null (kn_directory_set (db, id, &change, &err));
    cr_expect_str_eq (err.field, "accepting");
    free (id);
    s_expect_sql (STATE_OF (CARERS), "t|f|withdrawn");

    //  Listed again by the next import that names it.
    json_decref (s_import_directory ());
    s_expect_sql (STATE_OF (CARERS), "t|t|listed");
    s_expect_sql (SERVICES_OF (CARERS), "1");
}

//  -------------------------------------------------------------------------
//  Whether an agency can receive offers

static void
s_expect_offers (const char *directory_id, bool can, const char *why)
{
    kn_error_t err;
    json_t *list = kn_directory_show (db, directory_id, &err);
    cr_assert (list, "%s", err.message);
    json_t *agency = json_array_get (list, 0);
    cr_expect_eq (json_is_true (json_object_get (agency, "can_receive_offers")), can,
                  "%s", directory_id);
    const char *why_not = json_string_value (json_object_get (agency, "why_not"));
    cr_expect (why_not && strstr (why_not, why), "%s: '%s'", directory_id, why_not);
    json_decref (list);
}

Test (directory_reimport, show_says_why_an_agency_receives_no_offers)
{
    json_decref (s_import_directory ());
    //  Imported, so no key yet.
    s_expect_offers (CARERS, false, "no active key: kinnet admin agency key add");
    free (s_sql ("INSERT INTO core.agency_key (public_key, agency_id)"
                 " SELECT repeat('k', 40), id FROM core.agency"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    s_expect_offers (CARERS, true, "");
    free (s_sql ("UPDATE core.agency SET capacity = 0"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    s_expect_offers (CARERS, false, "at capacity");
    free (s_sql ("UPDATE core.agency SET accepting = false"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    s_expect_offers (CARERS, false, "not accepting");
    free (s_sql ("UPDATE core.agency SET directory_status = 'withdrawn'"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    s_expect_offers (CARERS, false, "withdrawn");
}

//  -------------------------------------------------------------------------
//  Linking in either order

//  An import of directory.json with CARERS linked to agency_id in the mapping.
static json_t *
s_import_linked (const char *agency_id, kn_error_t *err)
{
    char path[600];
    s_path (path, sizeof path, "mapping.json");
    json_error_t error;
    json_t *map = json_load_file (path, 0, &error);
    cr_assert (map, "%s", error.text);
    json_object_set_new (json_object_get (map, "organizations"), CARERS,
                         json_pack ("{s:s}", "agency_id", agency_id));
    char *text = json_dumps (map, 0);
    json_decref (map);
    kn_directory_mapping_t *mapping = kn_directory_mapping_parse (text, err);
    free (text);
    cr_assert (mapping, "%s (%s)", err->message, err->field);
    s_path (path, sizeof path, "directory.json");
    json_t *report = kn_directory_import (db, path, mapping, false, false, err);
    kn_directory_mapping_destroy (&mapping);
    return report;
}

//  A new agency as `kinnet admin agency add` registers it, with a key.
static void
s_register (char id[KN_UUID_STR], const char *public_key)
{
    kn_error_t err;
    cr_assert_eq (kn_agency_add (db, "Young Carers", "ngo_community", "north", public_key,
                                 id, &err),
                  0, "%s", err.message);
}

Test (directory_reimport, an_organization_imported_first_moves_to_its_registered_agency)
{
    json_decref (s_import_directory ());
    char *first = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    zcert_t *cert = zcert_new ();
    char registered[KN_UUID_STR];
    s_register (registered, zcert_public_txt (cert));
    zcert_destroy (&cert);

    kn_error_t err;
    json_t *report = s_import_linked (registered, &err);
    cr_assert (report, "%s (%s)", err.message, err.field);
    json_t *entry = s_listed (report, CARERS);
    s_expect_json (entry, "result", "\"linked\"");
    cr_expect_str_eq (json_string_value (json_object_get (entry, "agency_id")),
                      registered);
    //  The report says where the organization came from.
    char *values = s_json (entry, "values");
    cr_expect (strstr (values, first), "%s", values);
    free (values);
    json_decref (report);
    char *now = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    cr_expect_str_eq (now, registered);
    free (now);
    //  Its directory data came along; the placeholder is released for good.
    s_expect_sql (NEEDS_OF (CARERS), "13");
    s_expect_sql (SERVICES_OF (CARERS), "1");
    char sql[300];
    snprintf (sql, sizeof sql,
              "SELECT concat_ws('|', active, accepting, directory_id IS NULL)"
              " FROM core.agency WHERE id = '%s'",
              first);
    s_expect_sql (sql, "f|f|t");
    free (first);
}

Test (directory_reimport, an_agency_that_worked_keeps_its_organization)
{
    json_decref (s_import_directory ());
    char *first = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    //  It got its certificate (as `kinnet admin agency key add` gives it).
    free (s_sql ("INSERT INTO core.agency_key (public_key, agency_id)"
                 " SELECT repeat('k', 40), id FROM core.agency"
                 " WHERE directory_id = '" CARERS "' RETURNING 1"));
    zcert_t *cert = zcert_new ();
    char registered[KN_UUID_STR];
    s_register (registered, zcert_public_txt (cert));
    zcert_destroy (&cert);
    kn_error_t err;
    cr_expect_null (s_import_linked (registered, &err));
    cr_expect_eq (err.code, KN_E_CONFLICT);
    cr_expect (strstr (err.message, first), "names the agency it is: %s", err.message);
    cr_expect (strstr (err.message, "agency key add"), "%s", err.message);
    char *now = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    cr_expect_str_eq (now, first);
    free (now);
    free (first);
}

//  The case: the same file again without the mapping (the built-in one
//  knows none of its local terms) used to strip every agency with exit 0.
Test (directory_reimport, the_file_again_without_its_mapping_is_refused)
{
    json_decref (s_import_directory ());
    kn_error_t err;
    kn_directory_mapping_t *builtin = kn_directory_mapping_new (NULL, &err);
    cr_assert (builtin, "%s", err.message);
    char path[600];
    s_path (path, sizeof path, "directory.json");
    json_t *report = kn_directory_import (db, path, builtin, false, false, &err);
    kn_directory_mapping_destroy (&builtin);
    cr_expect_null (report, "the built-in mapping stripped the directory");
    json_decref (report);
    cr_expect_eq (err.code, KN_E_CONFLICT, "%s", err.message);
    cr_expect_str_eq (err.field, "prune");
    s_expect_sql (NEEDS_OF (SCHOOL), "1,2,3");
    s_expect_sql (STATE_OF (SCHOOL), "t|t|listed");
}
