/*  The fixture of the directory suites (test_directory.c, test_directory_pages.c,
    test_directory_reimport.c): a test database, the HSDS data of tests/data/hsds, a
    scratch folder of the suite's own, the readings of an agency and of a report
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

#include "kn_test.h"

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
//  stack knows south, east and west; the mapping names central and north too.
static __attribute__ ((unused)) void
s_fixture_stack (void)
{
    stack = kn_test_stack_new ();
    free (url);
    url = strdup (kn_test_stack_db_url (stack));
    free (kn_test_sql (url, "INSERT INTO core.district (code) VALUES ('central'),"
                            " ('north')"));
}

static __attribute__ ((unused)) char *
s_sql (const char *sql)
{
    char *value = kn_test_sql (url, sql);
    return value ? value : strdup ("(no row)");
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
