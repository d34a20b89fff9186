/*  The directory's HSDS 3.0 export against a real PostgreSQL: a directory imported
    from tests/data/hsds, exported and imported with the built-in mapping into a
    fresh database, is the same directory (the listing, and the export made from
    it byte for byte), and the same referral is routed to the same agencies with
    the same rankings in both. The export holds only directory columns, leaves out
    withdrawn and revoked agencies, pages a large directory so every page imports
    (and --prune accepts them as whole), and the command writes it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kn_directory.h"
#include "kn_directory_export.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "routing_fixture.h"

//  HSDS organization ids in tests/data/hsds/directory.json.
#define HEALTH "8a47f7c0-a366-475e-85fb-4772845d211b"
#define ACORNS "5a567a18-7358-4b56-b171-b319b036e934"

static char *first_url, *second_url;

static void
s_export_setup (void)
{
    first_url = kn_test_db_create ();
    second_url = kn_test_db_create ();
    int fd = mkstemp (clock_file);
    cr_assert (fd >= 0);
    close (fd);
    cr_assert_eq (kn_clock_write (clock_file, now), 0);
    setenv ("KINNET_CLOCK_FILE", clock_file, 1);
    crypto = kn_crypto_new (key);
}

static void
s_close (void)
{
    consent_store_destroy (&consent);
    routing_store_destroy (&routing);
    intake_store_destroy (&intake);
    kn_db_destroy (&consent_db);
    kn_db_destroy (&routing_db);
    kn_db_destroy (&intake_db);
}

static void
s_export_teardown (void)
{
    s_close ();
    kn_crypto_destroy (&crypto);
    unlink (clock_file);
    free (first_url);
    free (second_url);
    kn_test_no_leaks ();
}

TestSuite (directory_export, .init = s_export_setup, .fini = s_export_teardown,
           .timeout = 180);

//  The routing fixture's stores on database database_url (its `url` from now on).
static void
s_open (char *database_url)
{
    s_close ();
    url = database_url;
    kn_error_t err;
    intake_db = kn_db_new (url, "kinnet_intake", &err);
    routing_db = kn_db_new (url, "kinnet_routing", &err);
    consent_db = kn_db_new (url, "kinnet_consent", &err);
    cr_assert (intake_db && routing_db && consent_db, "%s", err.message);
    intake = intake_store_new (intake_db, crypto, &err);
    routing = routing_store_new (routing_db, crypto, &err);
    consent = consent_store_new (consent_db, crypto, &err);
    cr_assert (intake && routing && consent, "%s", err.message);
}

//  Import the documents (count texts) into database_url in one transaction, with the
//  mapping file (NULL: the built-in mapping); the report (caller json_decref's).
static json_t *
s_import (const char *database_url, const char *const *texts, size_t count,
          const char *mapping_path, bool dry_run, kn_directory_prune_t prune)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new (database_url, NULL, &err);
    cr_assert (db, "%s", err.message);
    kn_directory_mapping_t *mapping = kn_directory_mapping_new (mapping_path, &err);
    cr_assert (mapping, "%s", err.message);
    size_t lens[64];
    cr_assert (count <= 64);
    for (size_t i = 0; i < count; i++)
        lens[i] = strlen (texts[i]);
    cr_assert_eq (kn_db_begin_write (db, NULL, &err), 0, "%s", err.message);
    json_t *report =
        kn_directory_import_texts (db, texts, lens, count, mapping, dry_run, prune, &err);
    cr_assert (report, "import: %s (field %s)", err.message, err.field);
    cr_assert_eq (kn_db_exec (db, "COMMIT", &err), 0, "%s", err.message);
    kn_directory_mapping_destroy (&mapping);
    kn_db_destroy (&db);
    return report;
}

static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "rb");
    cr_assert (file, "%s", path);
    char *text = calloc (1, 1 << 20);
    size_t got = fread (text, 1, (1 << 20) - 1, file);
    text[got] = '\0';
    fclose (file);
    return text;
}

//  The districts the fixture's mapping names, known to database_url as a Kinnet
//  that receives an export knows its own (an import refuses unknown codes).
static void
s_districts (const char *database_url)
{
    free (kn_test_sqlf (database_url, "INSERT INTO core.district (code, name) VALUES"
                                      " ('north', 'North Riverside'),"
                                      " ('south', 'South Riverside'),"
                                      " ('east', 'East Riverside'),"
                                      " ('central', 'Central Riverside') ON CONFLICT DO NOTHING"));
}

//  tests/data/hsds/directory.json with its mapping into database_url: eight
//  agencies, a children's centre among them accepting nobody.
static void
s_import_fixture (const char *database_url)
{
    char path[600], mapping[600];
    snprintf (path, sizeof path, "%s/hsds/directory.json", kn_test_data_dir ());
    snprintf (mapping, sizeof mapping, "%s/hsds/mapping.json", kn_test_data_dir ());
    char *text = s_read (path);
    const char *texts[] = {text};
    s_districts (database_url);
    json_t *report = s_import (database_url, texts, 1, mapping, false, KN_DIRECTORY_ADD_ONLY);
    cr_assert_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "added")),
                  8);
    json_decref (report);
    free (text);
}

//  The whole export of database_url as organizations, with a fixed timestamp.
static json_t *
s_organizations (const char *database_url)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new (database_url, NULL, &err);
    cr_assert (db, "%s", err.message);
    json_t *listing = kn_directory_show (db, NULL, &err);
    cr_assert (listing, "%s", err.message);
    json_t *organizations =
        kn_directory_export_organizations (listing, "2026-12-04T00:00:00Z");
    json_decref (listing);
    kn_db_destroy (&db);
    return organizations;
}

//  Page `page` of database_url's export, as the admin service makes it.
static char *
s_export_text (const char *database_url, int page)
{
    kn_error_t err;
    kn_db_t *db = kn_db_new (database_url, NULL, &err);
    cr_assert (db, "%s", err.message);
    json_t *json = kn_directory_export (db, page, &err);
    cr_assert (json, "%s", err.message);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    kn_db_destroy (&db);
    return text;
}

//  What routing reads of every directory agency, one line each, by directory id.
static char *
s_directory (const char *database_url)
{
    return kn_test_sqlf (
        database_url,
        "SELECT string_agg(concat_ws('|', a.directory_id, a.name, a.sector, a.district,"
        " a.accepting, coalesce(a.capacity::text, 'none'), a.interpreters,"
        " a.directory_status,"
        " coalesce((SELECT string_agg(need::text, ',' ORDER BY need)"
        "   FROM core.agency_need WHERE agency_id = a.id), ''),"
        " coalesce((SELECT string_agg(district, ',' ORDER BY district)"
        "   FROM core.agency_district WHERE agency_id = a.id), ''),"
        " coalesce((SELECT string_agg(language, ',' ORDER BY language)"
        "   FROM core.agency_language WHERE agency_id = a.id), '')),"
        " E'\\n' ORDER BY a.directory_id)"
        " FROM core.agency a WHERE a.directory_id IS NOT NULL");
}

//  A key for every directory agency (routing offers only agencies that hold one),
//  and the referring school, in the fixture's `school`.
static void
s_keys_and_referrer (void)
{
    kn_error_t err;
    kn_db_t *admin = kn_db_new (url, NULL, &err);
    cr_assert (admin, "%s", err.message);
    char *ids = s_sql ("SELECT string_agg(id::text, ' ' ORDER BY id) FROM core.agency");
    for (char *id = strtok (ids, " "); id; id = strtok (NULL, " ")) {
        zcert_t *cert = zcert_new ();
        int live;
        cr_assert_eq (kn_agency_key_add (admin, id, zcert_public_txt (cert), &live, &err),
                      0, "%s", err.message);
        zcert_destroy (&cert);
    }
    free (ids);
    s_agency (admin, "Referring school", "school", "north", school);
    kn_db_destroy (&admin);
}

//  The same referral on the open database: a child in the north speaking Arabic
//  with needs several agencies meet (one of them accepting nobody). Its offers as
//  "need:directory id:rank:ranking", by need.
static char *
s_route (void)
{
    s_keys_and_referrer ();
    referral_t r;
    const int needs[] = {KINNET__V1__NEED_CATEGORY__LANGUAGE_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__PARENTING_SUPPORT,
                         KINNET__V1__NEED_CATEGORY__EARLY_YEARS_DEVELOPMENT};
    s_refer (1, needs, 3, KINNET__V1__URGENCY__PRIORITY, "ar", &r);
    cr_assert_eq (s_consume (), 1);
    return s_sql ("SELECT string_agg(concat_ws(':', n.category, a.directory_id, i.rank,"
                  " encode(i.ranked_by, 'hex')), E'\\n' ORDER BY n.category, i.rank)"
                  " FROM routing.involvement i JOIN routing.need n ON n.id = i.need_id"
                  " JOIN core.agency a ON a.id = i.agency_id WHERE i.status = 'offered'");
}

//  -------------------------------------------------------------------------
//  Round trip

Test (directory_export, round_trip_gives_the_same_directory_and_offers)
{
    s_import_fixture (first_url);
    char *page = s_export_text (first_url, 1);
    json_t *json = json_loads (page, 0, NULL);
    cr_assert (json);
    cr_expect_eq (json_integer_value (json_object_get (json, "total_items")), 8);
    cr_expect_eq (json_integer_value (json_object_get (json, "total_pages")), 1);
    json_decref (json);
    //  A fresh Kinnet knows its districts; the built-in mapping reads the rest.
    s_districts (second_url);
    const char *texts[] = {page};
    json_t *report = s_import (second_url, texts, 1, NULL, false, KN_DIRECTORY_ADD_ONLY);
    cr_expect_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "added")),
                  8);
    cr_expect_eq (json_array_size (json_object_get (report, "ignored")), 0, "%s",
                  json_dumps (json_object_get (report, "ignored"), JSON_COMPACT));
    json_decref (report);
    char *first = s_directory (first_url);
    char *second = s_directory (second_url);
    cr_expect_str_eq (second, first);
    //  The children's centre accepts nobody in both, and keeps its needs.
    cr_expect (strstr (second, ACORNS), "%s", second);
    cr_expect (strstr (second, "|early_years|east|f|30|f|listed|8,14|"), "%s", second);
    free (first);
    free (second);
    //  Exported again, the copy is the same document, ids and all.
    json_t *a = s_organizations (first_url), *b = s_organizations (second_url);
    char *a_text = json_dumps (a, JSON_COMPACT | JSON_SORT_KEYS);
    char *b_text = json_dumps (b, JSON_COMPACT | JSON_SORT_KEYS);
    cr_expect_str_eq (b_text, a_text);
    free (a_text);
    free (b_text);
    json_decref (a);
    json_decref (b);
    //  Imported back where it came from, it changes nothing routing reads.
    report = s_import (first_url, texts, 1, NULL, true, KN_DIRECTORY_ADD_ONLY);
    size_t index;
    json_t *agency;
    json_array_foreach (json_object_get (report, "agencies"), index, agency)
        cr_expect_eq (json_array_size (json_object_get (agency, "changes")), 0, "%s",
                      json_dumps (agency, JSON_COMPACT));
    cr_expect_not (json_is_true (json_object_get (report, "needs_prune")));
    json_decref (report);
    free (page);
    //  The same referral routes to the same agencies with the same rankings.
    s_open (first_url);
    char *offers_first = s_route ();
    s_open (second_url);
    char *offers_second = s_route ();
    cr_assert (offers_first && *offers_first, "no offers");
    cr_expect_str_eq (offers_second, offers_first);
    cr_expect_eq (strchr (offers_first, '\n') != NULL, true, "one offer: %s",
                  offers_first);
    free (offers_first);
    free (offers_second);
}

//  -------------------------------------------------------------------------
//  What leaves

Test (directory_export, holds_directory_columns_only)
{
    s_import_fixture (first_url);
    char *withdrawn_id = kn_test_sqlf (first_url,
                                       "UPDATE core.agency SET"
                                       " directory_status = 'withdrawn',"
                                       " accepting = false WHERE directory_id = '%s'"
                                       " RETURNING id",
                                       HEALTH);
    cr_assert (withdrawn_id);
    char *page = s_export_text (first_url, 1);
    cr_expect_null (strstr (page, HEALTH), "a withdrawn agency was exported");
    json_t *json = json_loads (page, 0, NULL);
    cr_expect_eq (json_integer_value (json_object_get (json, "total_items")), 7);
    json_decref (json);
    //  No Kinnet agency id, key, load or district lead: none of them is in the text.
    char *ids =
        kn_test_sqlf (first_url, "SELECT string_agg(id::text, ' ') FROM core.agency");
    for (char *id = strtok (ids, " "); id; id = strtok (NULL, " "))
        cr_expect_null (strstr (page, id), "agency id %s exported", id);
    free (ids);
    const char *never[] = {"agency_id", "has_key",    "load",
                           "why_not",   "public_key", "can_receive_offers",
                           "lead"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        char quoted[64];
        snprintf (quoted, sizeof quoted, "\"%s\"", never[i]);
        cr_expect_null (strstr (page, quoted), "%s exported", never[i]);
    }
    free (page);
    free (withdrawn_id);
}

//  -------------------------------------------------------------------------
//  Pages

Test (directory_export, pages_import_whole_and_past_the_last_is_not_found)
{
    s_import_fixture (first_url);
    json_t *organizations = s_organizations (first_url);
    //  Pages of about three organizations: 3 pages for 8.
    size_t one = json_dumpb (json_array_get (organizations, 0), NULL, 0, JSON_COMPACT);
    size_t budget = one * 3 + 600;
    kn_error_t err;
    json_t *page1 = kn_directory_export_page (organizations, 1, budget, &err);
    cr_assert (page1, "%s", err.message);
    int pages = (int)json_integer_value (json_object_get (page1, "total_pages"));
    cr_assert (pages >= 3, "%d pages", pages);
    char *texts[16] = {0};
    size_t seen = 0;
    for (int p = 1; p <= pages; p++) {
        json_t *page = kn_directory_export_page (organizations, p, budget, &err);
        cr_assert (page, "page %d: %s", p, err.message);
        cr_expect_eq (json_integer_value (json_object_get (page, "page_number")), p);
        cr_expect_eq (json_integer_value (json_object_get (page, "total_pages")), pages);
        cr_expect_eq (json_integer_value (json_object_get (page, "total_items")), 8);
        cr_expect_eq (json_is_true (json_object_get (page, "last_page")), p == pages);
        json_t *contents = json_object_get (page, "contents");
        cr_expect (json_dumpb (contents, NULL, 0, JSON_COMPACT) <= budget + 2,
                   "page %d over its budget", p);
        seen += json_array_size (contents);
        texts[p - 1] = json_dumps (page, JSON_COMPACT);
        json_decref (page);
    }
    cr_expect_eq (seen, 8);
    json_decref (page1);
    cr_expect_null (kn_directory_export_page (organizations, pages + 1, budget, &err));
    cr_expect_eq (err.code, KN_E_NOT_FOUND);
    cr_expect_str_eq (err.field, "page");
    cr_expect_null (kn_directory_export_page (organizations, 1, 100, &err));
    cr_expect_eq (err.code, KN_E_TOO_LARGE);
    json_decref (organizations);
    //  The pages, in reverse order, are the whole directory: --prune accepts them.
    s_districts (second_url);
    const char *reversed[16];
    for (int p = 0; p < pages; p++)
        reversed[p] = texts[pages - 1 - p];
    json_t *report = s_import (second_url, reversed, (size_t)pages, NULL, false, KN_DIRECTORY_PRUNE);
    cr_expect_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "added")),
                  8);
    json_decref (report);
    char *first = s_directory (first_url);
    char *second = s_directory (second_url);
    cr_expect_str_eq (second, first);
    free (first);
    free (second);
    for (int p = 0; p < pages; p++)
        free (texts[p]);
}

//  -------------------------------------------------------------------------
//  The command, through the broker and the admin service

static kn_test_stack_t *stack;

static void
s_cli_setup (void)
{
    zsys_init ();
    stack = kn_test_stack_new ();
}

static void
s_cli_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (directory_export_cli, .init = s_cli_setup, .fini = s_cli_teardown,
           .timeout = 180);

//  kinnet args as the administrator: its exit code, stdout and stderr in *out.
static int
s_cli (const char *args, char **out)
{
    char *env = kn_test_stack_cli_env (stack, KN_TEST_ADMIN);
    char quiet[4096];
    snprintf (quiet, sizeof quiet, "%s KINNET_LOG_LEVEL=warn", env);
    free (env);
    return kn_test_run_cli (quiet, out, "%s", args);
}

static void
s_cli_expect (const char *args, int expected, const char *needle)
{
    char *out;
    int rc = s_cli (args, &out);
    cr_expect_eq (rc, expected, "kinnet %s: exit %d: %s", args, rc, out);
    cr_expect (!needle || strstr (out, needle), "kinnet %s: no '%s' in %s", args, needle,
               out);
    free (out);
}

Test (directory_export_cli, export_writes_what_import_reads_back)
{
    const char *data = kn_test_data_dir ();
    const char *dir = kn_test_stack_dir (stack);
    char args[2000];
    snprintf (
        args, sizeof args,
        "admin directory import %s/hsds/directory.json --mapping %s/hsds/mapping.json",
        data, data);
    const char *districts[] = {"north", "south", "east", "central"};
    for (size_t i = 0; i < 4; i++) {
        snprintf (args, sizeof args, "admin directory district set %s --name %s",
                  districts[i], districts[i]);
        s_cli_expect (args, 0, NULL);
    }
    snprintf (
        args, sizeof args,
        "admin directory import %s/hsds/directory.json --mapping %s/hsds/mapping.json",
        data, data);
    s_cli_expect (args, 0, NULL);
    //  Only an administrator may export: agency 0 is refused (exit 4).
    char *refused;
    int rc = kn_test_stack_cli (stack, 0, &refused, "admin directory export");
    cr_expect_eq (rc, 4, "exit %d: %s", rc, refused);
    free (refused);
    //  Usage errors: nothing is asked of the service.
    s_cli_expect ("admin directory export --bogus", 2, "unknown option --bogus");
    s_cli_expect ("admin directory export --out", 2, "--out needs a value");
    s_cli_expect ("admin directory export extra", 2, "usage:");

    //  To standard output: the document itself.
    char *out;
    cr_assert_eq (s_cli ("admin directory export", &out), 0, "%s", out);
    json_t *page = json_loads (out, 0, NULL);
    cr_assert (page, "not JSON: %s", out);
    free (out);
    cr_expect_eq (json_integer_value (json_object_get (page, "total_items")), 8);
    cr_expect_eq (json_array_size (json_object_get (page, "contents")), 8);
    json_decref (page);

    //  To a file, never over one; to a folder, as pages.
    snprintf (args, sizeof args, "admin directory export --out %s/export.json", dir);
    s_cli_expect (args, 0, "exported 8 organizations in 1 page to");
    s_cli_expect (args, 3, "out");
    char folder[400];
    snprintf (folder, sizeof folder, "%s/pages", dir);
    cr_assert_eq (mkdir (folder, 0700), 0);
    snprintf (args, sizeof args, "--format json admin directory export --out %s", folder);
    s_cli_expect (args, 0, "page-001.json");

    //  Read back with the built-in mapping, it changes nothing.
    snprintf (args, sizeof args,
              "--format json admin directory import %s/export.json --dry-run", dir);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    json_t *report = json_loads (out, 0, NULL);
    cr_assert (report, "not JSON: %s", out);
    json_t *totals = json_object_get (report, "totals");
    cr_expect_eq (json_integer_value (json_object_get (totals, "added")) +
                      json_integer_value (json_object_get (totals, "changed")),
                  0, "%s", out);
    free (out);
    json_decref (report);
    snprintf (args, sizeof args, "admin directory import %s --dry-run --prune", folder);
    s_cli_expect (args, 0, NULL);
}
