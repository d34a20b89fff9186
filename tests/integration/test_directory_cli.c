/*  The directory's re-imports and an imported agency's first certificate through
    the kinnet command, the broker and the admin service: an import that would
    take a need away exits 5 without --prune, --dry-run shows the diff in text and
    JSON, --prune applies it; an imported agency gets its certificate from
    `kinnet admin agency key add`, stays the same agency with its directory data,
    and `directory show` says when it can receive offers and why not; revoking a
    placeholder frees its organization; --prune withdraws only with --whole. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "kn_test.h"

#define CARERS    "977b48fa-d2fb-4dda-a347-f748f0f4b6f7"
#define CARERS_AT 8 // its index in directory.json
#define SCHOOL    "c5b6b2c3-f06b-4203-91ad-a729d2ab0089"

static kn_test_stack_t *stack;
static char data[512]; // tests/data/hsds
static char dir[300];  // the stack's folder, for files of this test

static void
s_setup (void)
{
    zsys_init ();
    stack = kn_test_stack_new ();
    snprintf (dir, sizeof dir, "%s", kn_test_stack_dir (stack));
    snprintf (data, sizeof data, "%s/hsds", kn_test_data_dir ());
    //  The stack knows north, south, east and west; the mapping names central too.
    free (kn_test_sql (kn_test_stack_db_url (stack),
                       "INSERT INTO core.district (code) VALUES ('central')"));
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (directory_cli, .init = s_setup, .fini = s_teardown, .timeout = 180);

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

static char *
s_sql (const char *sql)
{
    char *value = kn_test_sql (kn_test_stack_db_url (stack), sql);
    return value ? value : strdup ("(no row)");
}

//  tests/data/hsds/directory.json imported with its mapping through the command.
static void
s_import_directory (void)
{
    char args[2000], *out;
    snprintf (args, sizeof args,
              "admin directory import %s/directory.json --mapping %s/mapping.json", data,
              data);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    free (out);
}

//  The mapping of tests/data/hsds with organization linked to agency, written to
//  the stack's folder as name; the path in out.
static void
s_linked_mapping (const char *organization, const char *agency, const char *name,
                  char *out, size_t size)
{
    char path[600];
    snprintf (path, sizeof path, "%s/mapping.json", data);
    json_error_t error;
    json_t *map = json_load_file (path, 0, &error);
    cr_assert (map, "%s", error.text);
    json_object_set_new (json_object_get (map, "organizations"), organization,
                         json_pack ("{s:s}", "agency_id", agency));
    snprintf (out, size, "%s/%s", dir, name);
    cr_assert_eq (json_dump_file (map, out, 0), 0);
    json_decref (map);
}

//  `kinnet admin agency add` as JSON, its certificate in the stack's folder as
//  name: the new agency's id (caller frees).
static char *
s_agency_add (const char *name, const char *sector)
{
    char args[600], *out;
    snprintf (args, sizeof args,
              "--format json admin agency add --name %s --sector %s"
              " --district north --cert-out %s/%s",
              name, sector, dir, name);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    json_t *added = json_loads (out, 0, NULL);
    cr_assert (added, "not JSON: %s", out);
    free (out);
    char *id = strdup (json_string_value (json_object_get (added, "agency_id")));
    json_decref (added);
    return id;
}

Test (directory_cli, reimports_and_the_first_certificate)
{
    char args[2000], *out;
    s_import_directory ();
    char *agency = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");

    //  Imported: no key, so no offers, and the command says how to give one.
    cr_assert_eq (s_cli ("admin directory show " CARERS, &out), 0, "%s", out);
    cr_expect (strstr (out, "no: no active key: kinnet admin agency key add"), "%s", out);
    free (out);
    snprintf (args, sizeof args,
              "--format json admin agency key add %s --cert-out %s/carers", agency, dir);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (strstr (out, agency), "the same agency: %s", out);
    free (out);
    cr_assert_eq (s_cli ("--format json admin directory show " CARERS, &out), 0, "%s",
                  out);
    cr_expect (strstr (out, "\"can_receive_offers\": true") ||
                   strstr (out, "\"can_receive_offers\":true"),
               "%s", out);
    cr_expect (strstr (out, "young_carer"), "its directory data kept: %s", out);
    cr_expect (strstr (out, agency), "%s", out);
    free (out);

    //  Young Carers' own record now lists no service: its need would go.
    char path[600];
    snprintf (path, sizeof path, "%s/directory.json", data);
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert (root, "%s", error.text);
    json_object_set_new (json_array_get (root, CARERS_AT), "services", json_array ());
    snprintf (path, sizeof path, "%s/stripped.json", dir);
    cr_assert_eq (json_dump_file (root, path, 0), 0);
    json_decref (root);

    snprintf (args, sizeof args, "admin directory import %s --mapping %s/mapping.json",
              path, data);
    cr_expect_eq (s_cli (args, &out), 5, "refused without --prune: %s", out);
    cr_expect (strstr (out, "prune") && strstr (out, CARERS), "%s", out);
    free (out);
    snprintf (args, sizeof args,
              "admin directory import %s --mapping %s/mapping.json --dry-run", path,
              data);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (
        strstr (out, "needs        - -young_carer (before: young_carer; after: -)"), "%s",
        out);
    cr_expect (strstr (out, "without --prune this import is refused"), "%s", out);
    free (out);
    snprintf (
        args, sizeof args,
        "--format json admin directory import %s --mapping %s/mapping.json --dry-run",
        path, data);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    json_t *report = json_loads (out, 0, NULL);
    cr_assert (report, "not JSON: %s", out);
    free (out);
    cr_expect (json_is_true (json_object_get (report, "needsPrune")) ||
                   json_is_true (json_object_get (report, "needs_prune")),
               "needs_prune in the JSON report");
    json_decref (report);
    char *needs =
        s_sql ("SELECT count(*) FROM core.agency_need WHERE agency_id ="
               " (SELECT id FROM core.agency WHERE directory_id = '" CARERS "')");
    cr_expect_str_eq (needs, "1", "nothing written before --prune");
    free (needs);
    snprintf (args, sizeof args,
              "admin directory import %s --mapping %s/mapping.json --prune", path, data);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    free (out);
    needs = s_sql ("SELECT count(*) FROM core.agency_need WHERE agency_id ="
                   " (SELECT id FROM core.agency WHERE directory_id = '" CARERS "')");
    cr_expect_str_eq (needs, "0", "applied with --prune");
    free (needs);
    free (agency);

    //  The School registers after its import: the link in the mapping moves the
    //  organization to the registered agency (the placeholder never worked).
    char *school = s_agency_add ("School", "school");
    s_linked_mapping (SCHOOL, school, "linked.json", path, sizeof path);
    snprintf (args, sizeof args, "admin directory import %s/directory.json --mapping %s",
              data, path);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (strstr (out, "linked"), "%s", out);
    free (out);
    char *now = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" SCHOOL "'");
    cr_expect_str_eq (now, school);
    free (now);
    free (school);
}

//  Issue 20: an organization imported before its agency registered is a
//  placeholder; revoking it lets the organization go to the registered agency,
//  while an agency that worked keeps its organization and is told what to do.
Test (directory_cli, revoking_a_placeholder_frees_its_organization)
{
    char args[2000], *out;
    s_import_directory ();
    char *carers = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    char *school = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" SCHOOL "'");

    //  The placeholder never worked: revoked, it releases Young Carers.
    snprintf (args, sizeof args, "--format json admin agency revoke %s", carers);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    json_t *reply = json_loads (out, 0, NULL);
    cr_assert (reply, "not JSON: %s", out);
    free (out);
    cr_expect_str_eq (json_string_value (json_object_get (reply, "directory_id")),
                      CARERS);
    cr_expect (json_is_true (json_object_get (reply, "directory_released")));
    json_decref (reply);
    char sql[600];
    snprintf (sql, sizeof sql,
              "SELECT concat_ws('|', active, accepting, directory_id IS NULL,"
              " (SELECT count(*) FROM core.agency_directory_service"
              "  WHERE agency_id = a.id)) FROM core.agency a WHERE id = '%s'",
              carers);
    char *state = s_sql (sql);
    cr_expect_str_eq (state, "f|f|t|0", "released, its stored services gone");
    free (state);
    //  Audited as the revocation's write, saying what became of the organization.
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.audit WHERE operation = 'revoke_agency'"
              " AND object_id = '%s' AND result = 'ok'"
              " AND basis = 'directory released " CARERS "'",
              carers);
    char *audited = s_sql (sql);
    cr_expect_str_eq (audited, "1");
    free (audited);

    //  The real agency registers; the mapping's link binds the organization to it.
    char *registered = s_agency_add ("carers", "ngo_community");
    char map[700];
    s_linked_mapping (CARERS, registered, "carers-linked.json", map, sizeof map);
    snprintf (args, sizeof args,
              "--format json admin directory import %s/directory.json --mapping %s", data,
              map);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (strstr (out, "\"linked\""), "%s", out);
    free (out);
    char *now = s_sql ("SELECT id FROM core.agency WHERE directory_id = '" CARERS "'");
    cr_expect_str_eq (now, registered);
    free (now);

    //  The School's placeholder got its certificate and so worked: it keeps its
    //  organization when revoked, and the command says what to do.
    snprintf (args, sizeof args, "admin agency key add %s --cert-out %s/school", school,
              dir);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    free (out);
    snprintf (args, sizeof args, "admin agency revoke %s", school);
    cr_assert_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (strstr (out, "stays with agency") && strstr (out, SCHOOL) &&
                   strstr (out, "link it in the mapping"),
               "%s", out);
    free (out);
    now = s_sql ("SELECT concat_ws('|', id, active) FROM core.agency"
                 " WHERE directory_id = '" SCHOOL "'");
    snprintf (sql, sizeof sql, "%s|f", school);
    cr_expect_str_eq (now, sql, "the School keeps its organization, revoked");
    free (now);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM core.audit WHERE operation = 'revoke_agency'"
              " AND object_id = '%s' AND basis = 'directory kept " SCHOOL "'",
              school);
    audited = s_sql (sql);
    cr_expect_str_eq (audited, "1");
    free (audited);
    free (registered);
    free (carers);
    free (school);
}

//  Issue 20: --prune with one organization's file used to withdraw every other
//  directory agency. Now only --whole says the documents are the directory.
Test (directory_cli, prune_withdraws_only_with_whole)
{
    char args[2000], *out;
    s_import_directory ();
    char path[600];
    snprintf (path, sizeof path, "%s/directory.json", data);
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert (root, "%s", error.text);
    json_t *carers = json_pack ("[O]", json_array_get (root, CARERS_AT));
    json_decref (root);
    snprintf (path, sizeof path, "%s/carers-only.json", dir);
    cr_assert_eq (json_dump_file (carers, path, 0), 0);
    json_decref (carers);

    //  --whole alone does nothing it could: a usage mistake, refused.
    snprintf (args, sizeof args,
              "admin directory import %s --mapping %s/mapping.json --whole", path, data);
    cr_expect_eq (s_cli (args, &out), 3, "%s", out);
    cr_expect (strstr (out, "whole"), "%s", out);
    free (out);
    //  --prune alone: the seven others are left as they are, and the report says why.
    snprintf (args, sizeof args,
              "admin directory import %s --mapping %s/mapping.json --prune", path, data);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    cr_expect (strstr (out, "not in these documents (left as they are): "), "%s", out);
    cr_expect (strstr (out, "not withdrawn: the documents are not the whole directory"),
               "%s", out);
    cr_expect (strstr (out, ", 0 withdrawn,"), "%s", out);
    free (out);
    char *listed =
        s_sql ("SELECT count(*) FROM core.agency WHERE directory_id IS NOT NULL"
               " AND directory_status = 'listed'");
    cr_expect_str_eq (listed, "8", "every directory agency still listed: %s", listed);
    free (listed);
    //  --prune --whole: the administrator says it is the directory (a dry run).
    snprintf (args, sizeof args,
              "--format json admin directory import %s --mapping %s/mapping.json"
              " --prune --whole --dry-run",
              path, data);
    cr_expect_eq (s_cli (args, &out), 0, "%s", out);
    json_t *report = json_loads (out, 0, NULL);
    cr_assert (report, "not JSON: %s", out);
    free (out);
    cr_expect (json_is_true (json_object_get (report, "whole")));
    cr_expect_eq (json_integer_value (
                      json_object_get (json_object_get (report, "totals"), "withdrawn")),
                  7);
    json_decref (report);
}
