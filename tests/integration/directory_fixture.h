/*  The fixture of the directory suites (test_directory.c, test_directory_manual.c,
    test_directory_pages.c, test_directory_reimport.c, test_directory_districts.c): a
    test database, the HSDS data of tests/data/hsds, a scratch folder of the suite's
    own, an import through a mapping file, the readings of an agency and of a report
    the suites compare, and the kinnet command run against a stack the command's
    tests start. Included by each suite's file, which names its own
    TestSuite and calls s_fixture_setup and s_fixture_teardown from it. */
#ifndef DIRECTORY_FIXTURE_H_INCLUDED
#define DIRECTORY_FIXTURE_H_INCLUDED

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kn_agency.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"
#include "kn_test.h"

//  HSDS organization ids in tests/data/hsds/directory.json.
#define SCHOOL      "c5b6b2c3-f06b-4203-91ad-a729d2ab0089"
#define SOCIAL_CARE "462fc498-beb0-412d-92fe-b00d46988910"
#define HEALTH      "8a47f7c0-a366-475e-85fb-4772845d211b"
#define SAFE_HAVEN  "db9a05ae-7169-44a5-a217-9a1f8baf8711"
#define NEW_ROOTS   "6d6c3e6d-79b8-4efc-913c-847460a54689"
#define HOUSING     "72f4df6a-e24d-4a06-8a69-deb07aad3f94"
#define ACORNS      "5a567a18-7358-4b56-b171-b319b036e934"
#define YOUTH_CLUB  "5e4b523f-92e1-4174-af4a-dde12e93f41d"
#define CARERS      "977b48fa-d2fb-4dda-a347-f748f0f4b6f7"

static char *url;
static kn_db_t *db;
static char data[512];         // tests/data/hsds
static char dir[64];           // scratch files of this test
static kn_test_stack_t *stack; // the command's tests only

//  scratch is the mkdtemp template of the suite's folder, "/tmp/kn-...-XXXXXX".
static __attribute__ ((unused)) void
s_fixture_setup (const char *scratch)
{
    url = kn_test_db_create ();
    kn_error_t err;
    db = kn_db_new (url, NULL, &err);
    cr_assert (db, "%s", err.message);
    snprintf (data, sizeof data, "%s/hsds", kn_test_data_dir ());
    snprintf (dir, sizeof dir, "%s", scratch);
    cr_assert (mkdtemp (dir));
    //  The districts tests/data/hsds/mapping.json names: an import refuses a code
    //  that is not a registered district.
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('central'),"
                            " ('north'), ('south'), ('east')"));
}

static __attribute__ ((unused)) void
s_fixture_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_db_destroy (&db);
    free (url);
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);
    kn_test_no_leaks ();
}

//  The stack of the command's tests, its database the suite's from now on. The
//  stack knows north, south, east and west; the mapping names central too.
static __attribute__ ((unused)) void
s_fixture_stack (void)
{
    stack = kn_test_stack_new ();
    free (url);
    url = strdup (kn_test_stack_db_url (stack));
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('central')"));
}

static __attribute__ ((unused)) char *
s_sql (const char *sql)
{
    char *value = kn_test_sql (url, sql);
    return value ? value : strdup ("(no row)");
}

//  tests/data/hsds/name in out.
static __attribute__ ((unused)) void
s_path (char *out, size_t size, const char *name)
{
    snprintf (out, size, "%s/%s", data, name);
}

//  tests/data/hsds/name (caller frees).
static __attribute__ ((unused)) char *
s_data (const char *name)
{
    char *path = malloc (600);
    snprintf (path, 600, "%s/%s", data, name);
    return path;
}

//  text written as dir/name; returns the path (caller frees).
static __attribute__ ((unused)) char *
s_write_text (const char *name, const char *text)
{
    char *path = malloc (600);
    snprintf (path, 600, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
    return path;
}

//  The mapping file at path (NULL: the built-in mapping).
static __attribute__ ((unused)) kn_directory_mapping_t *
s_mapping (const char *path)
{
    kn_error_t err;
    kn_directory_mapping_t *mapping = kn_directory_mapping_new (path, &err);
    cr_assert (mapping, "%s (%s)", err.message, err.field);
    return mapping;
}

//  Import file (a path) with the mapping file (path, NULL: tests/data/hsds/mapping.json)
//  and prune.
static __attribute__ ((unused)) json_t *
s_import_prune (const char *file, const char *mapping_path, bool dry_run,
                kn_directory_prune_t prune, kn_error_t *err)
{
    char *default_path = s_data ("mapping.json");
    kn_directory_mapping_t *mapping =
        s_mapping (mapping_path ? mapping_path : default_path);
    free (default_path);
    json_t *report = kn_directory_import (db, file, mapping, dry_run, prune, err);
    kn_directory_mapping_destroy (&mapping);
    return report;
}

//  Import file (a path) with the mapping file (path, NULL: tests/data/hsds/mapping.json).
static __attribute__ ((unused)) json_t *
s_import_with (const char *file, const char *mapping_path, bool dry_run, kn_error_t *err)
{
    return s_import_prune (file, mapping_path, dry_run, false, err);
}

static __attribute__ ((unused)) json_t *
s_import_ok (const char *file, const char *mapping_path)
{
    kn_error_t err;
    json_t *report = s_import_with (file, mapping_path, false, &err);
    cr_assert (report, "import failed: %s (field %s)", err.message, err.field);
    return report;
}

//  tests/data/hsds/directory.json imported: the report (caller frees).
static __attribute__ ((unused)) json_t *
s_import_directory (void)
{
    char *file = s_data ("directory.json");
    json_t *report = s_import_ok (file, NULL);
    free (file);
    return report;
}

//  The report's entry for an HSDS organization id (NULL when absent).
static __attribute__ ((unused)) json_t *
s_entry (json_t *report, const char *directory_id)
{
    size_t index;
    json_t *agency;
    json_array_foreach (
        json_object_get (report, "agencies"), index,
        agency) if (strcmp (json_string_value (json_object_get (agency, "directory_id")),
                            directory_id) == 0) return agency;
    return NULL;
}

//  "result: change,change" of an organization in a report.
static __attribute__ ((unused)) char *
s_outcome (json_t *report, const char *directory_id)
{
    json_t *entry = s_entry (report, directory_id);
    if (!entry)
        return strdup ("(absent)");
    char *text = calloc (1, 256);
    snprintf (text, 256, "%s:", json_string_value (json_object_get (entry, "result")));
    size_t index;
    json_t *change;
    json_array_foreach (json_object_get (entry, "changes"), index, change)
    {
        strcat (text, index ? "," : " ");
        strcat (text, json_string_value (change));
    }
    return text;
}

static __attribute__ ((unused)) void
s_expect_outcome (json_t *report, const char *directory_id, const char *expected)
{
    char *outcome = s_outcome (report, directory_id);
    cr_expect_str_eq (outcome, expected, "organization %s: %s", directory_id, outcome);
    free (outcome);
}

//  The agency id of an HSDS organization id.
static __attribute__ ((unused)) void
s_agency_id (const char *directory_id, char out[KN_UUID_STR])
{
    char sql[200];
    snprintf (sql, sizeof sql, "SELECT id FROM core.agency WHERE directory_id = '%s'",
              directory_id);
    char *id = s_sql (sql);
    snprintf (out, KN_UUID_STR, "%s", id);
    free (id);
}

//  A report's totals[name].
static __attribute__ ((unused)) long long
s_total (json_t *report, const char *name)
{
    return json_integer_value (
        json_object_get (json_object_get (report, "totals"), name));
}

//  Everything routing reads about the agency of an HSDS organization, on one line:
//  sector|home|accepting|capacity|interpreters|needs|other districts|languages
static __attribute__ ((unused)) char *
s_summary (const char *directory_id)
{
    char sql[1500];
    snprintf (sql, sizeof sql,
              "SELECT concat_ws('|', a.sector, a.district, a.accepting,"
              " coalesce(a.capacity::text, 'none'), a.interpreters,"
              " coalesce((SELECT string_agg(need::text, ',' ORDER BY need)"
              "   FROM core.agency_need WHERE agency_id = a.id), ''),"
              " coalesce((SELECT string_agg(district, ',' ORDER BY district)"
              "   FROM core.agency_district WHERE agency_id = a.id), ''),"
              " coalesce((SELECT string_agg(language, ',' ORDER BY language)"
              "   FROM core.agency_language WHERE agency_id = a.id), ''))"
              " FROM core.agency a WHERE a.directory_id = '%s'",
              directory_id);
    return s_sql (sql);
}

static __attribute__ ((unused)) void
s_expect_summary (const char *directory_id, const char *expected)
{
    char *summary = s_summary (directory_id);
    cr_expect_str_eq (summary, expected, "organization %s: %s", directory_id, summary);
    free (summary);
}

//  Row versions of the directory tables: an import that rewrote a row with the
//  same values would keep every value but change these.
static __attribute__ ((unused)) char *
s_versions (void)
{
    return s_sql (
        "SELECT md5(concat_ws('#',"
        " (SELECT string_agg(xmin::text || ctid::text, ';' ORDER BY id)"
        "   FROM core.agency),"
        " (SELECT string_agg(xmin::text || ctid::text, ';' ORDER BY agency_id, need)"
        "   FROM core.agency_need),"
        " (SELECT string_agg(xmin::text || ctid::text, ';' ORDER BY agency_id,"
        "   district) FROM core.agency_district),"
        " (SELECT string_agg(xmin::text || ctid::text, ';' ORDER BY agency_id,"
        "   language) FROM core.agency_language)))");
}

//  kinnet args as the stack's administrator: the exit code, standard output in *out
//  (caller frees) unless out is NULL.
static __attribute__ ((unused)) int
s_cli (const char *args, char **out)
{
    char *env = kn_test_stack_cli_env (stack, KN_TEST_ADMIN);
    char command[4096];
    snprintf (command, sizeof command, "%s KINNET_LOG_LEVEL=warn %s %s 2>%s/cli.err", env,
              kn_test_cli_bin (), args, dir);
    free (env);
    FILE *pipe = popen (command, "r");
    cr_assert (pipe);
    char *buffer = calloc (1, 1 << 20);
    size_t got = fread (buffer, 1, (1 << 20) - 1, pipe);
    buffer[got] = '\0';
    int status = pclose (pipe);
    if (out)
        *out = buffer;
    else
        free (buffer);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  kinnet args, which must exit with expected and print JSON: the JSON (caller frees).
static __attribute__ ((unused)) json_t *
s_cli_json (const char *args, int expected)
{
    char *out = NULL;
    int rc = s_cli (args, &out);
    cr_assert_eq (rc, expected, "kinnet %s: exit %d: %s", args, rc, out);
    json_t *json = json_loads (out, 0, NULL);
    cr_assert (json, "kinnet %s: not JSON: %s", args, out);
    free (out);
    return json;
}

#endif
