/*  kinnet admin directory: the agency directory routing reads, and its import from
    Open Referral HSDS 3.0. Thin: kn_directory, kn_directory_mapping and
    kn_directory_import do the work so tests can drive them without a process; this
    file reads the command line and prints the reports. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "kn_directory.h"
#include "kn_directory_import.h"
#include "kn_directory_mapping.h"

static const char *s_usage =
    "usage: kinnet admin directory import FILE.json [--mapping MAP.json] [--dry-run]\n"
    "       kinnet admin directory show [AGENCY_ID | DIRECTORY_ID]\n"
    "       kinnet admin directory set AGENCY_ID [--accepting yes|no]\n"
    "              [--capacity N|none] [--interpreters yes|no]\n"
    "       kinnet admin directory district set CODE [--name NAME] [--lead "
    "AGENCY_ID|none]\n"
    "       kinnet admin directory district list\n"
    "import reads Open Referral HSDS 3.0 JSON (organizations with their services, or\n"
    "services with their organization) and writes what differs, in one transaction;\n"
    "--dry-run reports without writing. Without --mapping the built-in mapping is used.\n"
    "docs/directory.md describes the mapping file and every rule. All commands take\n"
    "--format json and use KINNET_DATABASE_URL.\n";

//  Options that take a value, this file's and the global ones kinnet.c reads, so
//  that positional arguments can be found wherever options stand.
static const char *s_valued[] = {
    "--mapping",      "--name",    "--lead",     "--accepting", "--capacity",
    "--interpreters", "--format",  "--endpoint", "--cert",      "--server-key",
    "--timeout",      "--retries", NULL};
static const char *s_global[] = {"--format",  "--endpoint", "--cert", "--server-key",
                                 "--timeout", "--retries",  "--help", NULL};

static bool
s_in (const char *name, const char **names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp (name, names[i]) == 0)
            return true;
    return false;
}

//  The index-th argument that is neither an option nor an option's value.
static const char *
s_positional (int argc, char **argv, int index)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp (argv[i], "--", 2) == 0) {
            i += s_in (argv[i], s_valued) ? 1 : 0;
            continue;
        }
        if (index-- == 0)
            return argv[i];
    }
    return NULL;
}

//  Usage error unless every option is one this command or kinnet itself takes: a
//  mistyped --dry-run must not turn into a real import.
static bool
s_options_ok (int argc, char **argv, const char **allowed)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp (argv[i], "--", 2) != 0)
            continue;
        if (!s_in (argv[i], allowed) && !s_in (argv[i], s_global)) {
            fprintf (stderr, "kinnet: unknown option %s\n\n%s", argv[i], s_usage);
            return false;
        }
        if (s_in (argv[i], s_valued) && i + 1 >= argc) {
            fprintf (stderr, "kinnet: %s needs a value\n\n%s", argv[i], s_usage);
            return false;
        }
        i += s_in (argv[i], s_valued) ? 1 : 0;
    }
    return true;
}

static int
s_usage_error (void)
{
    fputs (s_usage, stderr);
    return CLI_USAGE;
}

static void
s_print_json (json_t *json)
{
    json_dumpf (json, stdout, JSON_INDENT (2));
    printf ("\n");
}

//  A JSON array of strings as "a, b, c" ("-" when empty).
static void
s_print_list (const char *label, json_t *array)
{
    printf ("  %-10s ", label);
    if (json_array_size (array) == 0)
        printf ("-");
    size_t index;
    json_t *item;
    json_array_foreach (array, index, item)
        printf ("%s%s", index ? ", " : "", json_string_value (item));
    printf ("\n");
}

static int
s_import (const cli_options_t *options, int argc, char **argv)
{
    static const char *allowed[] = {"--mapping", "--dry-run", NULL};
    const char *file = s_positional (argc, argv, 2);
    if (!s_options_ok (argc, argv, allowed) || !file || s_positional (argc, argv, 3))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    kn_directory_mapping_t *mapping =
        kn_directory_mapping_new (cli_arg (argc, argv, "--mapping"), &err);
    kn_db_t *db = mapping ? cli_admin_db (&err) : NULL;
    bool dry_run = cli_flag (argc, argv, "--dry-run");
    json_t *report = db ? kn_directory_import (db, file, mapping, dry_run, &err) : NULL;
    kn_db_destroy (&db);
    kn_directory_mapping_destroy (&mapping);
    if (!report)
        return cli_fail (options, &err);
    if (options->json) {
        s_print_json (report);
        json_decref (report);
        return CLI_OK;
    }
    size_t index;
    json_t *agency;
    json_array_foreach (json_object_get (report, "agencies"), index, agency)
    {
        const char *result = json_string_value (json_object_get (agency, "result"));
        printf ("%-10s %s  %s [%s]", result,
                json_string_value (json_object_get (agency, "agency_id")),
                json_string_value (json_object_get (agency, "name")),
                json_string_value (json_object_get (agency, "directory_id")));
        json_t *changes = json_object_get (agency, "changes");
        size_t at;
        json_t *change;
        json_array_foreach (changes, at, change)
            printf ("%s%s", at ? ", " : ": ", json_string_value (change));
        printf ("\n");
    }
    json_t *ignored;
    json_array_foreach (json_object_get (report, "ignored"), index, ignored)
        printf ("%-10s %s: %s\n", "ignored",
                json_string_value (json_object_get (ignored, "path")),
                json_string_value (json_object_get (ignored, "reason")));
    json_t *missing = json_object_get (report, "not_in_file");
    if (json_array_size (missing)) {
        printf ("not in this file (left as they are): ");
        json_t *id;
        json_array_foreach (missing, index, id)
            printf ("%s%s", index ? ", " : "", json_string_value (id));
        printf ("\n");
    }
    json_t *totals = json_object_get (report, "totals");
    printf ("%lld added, %lld linked, %lld changed, %lld unchanged, %lld ignored%s\n",
            (long long)json_integer_value (json_object_get (totals, "added")),
            (long long)json_integer_value (json_object_get (totals, "linked")),
            (long long)json_integer_value (json_object_get (totals, "changed")),
            (long long)json_integer_value (json_object_get (totals, "unchanged")),
            (long long)json_integer_value (json_object_get (totals, "ignored")),
            dry_run ? " (dry run: nothing written)" : "");
    json_decref (report);
    return CLI_OK;
}

static int
s_show (const cli_options_t *options, int argc, char **argv)
{
    static const char *allowed[] = {NULL};
    if (!s_options_ok (argc, argv, allowed) || s_positional (argc, argv, 3))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    json_t *list = db ? kn_directory_show (db, s_positional (argc, argv, 2), &err) : NULL;
    kn_db_destroy (&db);
    if (!list)
        return cli_fail (options, &err);
    if (options->json) {
        s_print_json (list);
        json_decref (list);
        return CLI_OK;
    }
    size_t index;
    json_t *agency;
    json_array_foreach (list, index, agency)
    {
        json_t *directory_id = json_object_get (agency, "directory_id");
        json_t *capacity = json_object_get (agency, "capacity");
        printf ("%s  %s  %s%s\n",
                json_string_value (json_object_get (agency, "agency_id")),
                json_string_value (json_object_get (agency, "name")),
                json_string_value (json_object_get (agency, "sector")),
                json_is_true (json_object_get (agency, "active")) ? "" : " (revoked)");
        printf ("  %-10s %s\n", "directory",
                json_is_string (directory_id) ? json_string_value (directory_id)
                                              : "- (not imported)");
        printf ("  %-10s %s\n", "accepting",
                json_is_true (json_object_get (agency, "accepting")) ? "yes" : "no");
        if (json_is_integer (capacity))
            printf ("  %-10s %lld of %lld\n", "load",
                    (long long)json_integer_value (json_object_get (agency, "load")),
                    (long long)json_integer_value (capacity));
        else
            printf ("  %-10s %lld (no limit)\n", "load",
                    (long long)json_integer_value (json_object_get (agency, "load")));
        printf ("  %-10s %s\n", "interpret",
                json_is_true (json_object_get (agency, "interpreters")) ? "yes" : "no");
        s_print_list ("needs", json_object_get (agency, "needs"));
        s_print_list ("districts", json_object_get (agency, "districts"));
        s_print_list ("languages", json_object_get (agency, "languages"));
    }
    if (json_array_size (list) == 0)
        printf ("no agencies\n");
    json_decref (list);
    return CLI_OK;
}

//  yes|no into 1|0; KN_DIRECTORY_KEEP when absent; -1 for anything else.
static int
s_yes_no (const char *value)
{
    if (!value)
        return KN_DIRECTORY_KEEP;
    if (strcmp (value, "yes") == 0 || strcmp (value, "true") == 0)
        return 1;
    if (strcmp (value, "no") == 0 || strcmp (value, "false") == 0)
        return 0;
    return -1;
}

static int
s_set (const cli_options_t *options, int argc, char **argv)
{
    static const char *allowed[] = {"--accepting", "--capacity", "--interpreters", NULL};
    const char *id = s_positional (argc, argv, 2);
    const char *capacity = cli_arg (argc, argv, "--capacity");
    kn_directory_change_t change = {
        .accepting = s_yes_no (cli_arg (argc, argv, "--accepting")),
        .interpreters = s_yes_no (cli_arg (argc, argv, "--interpreters")),
        .capacity = KN_DIRECTORY_KEEP};
    if (capacity && strcmp (capacity, "none") == 0)
        change.capacity = KN_DIRECTORY_NO_LIMIT;
    else if (capacity) {
        char *end;
        long value = strtol (capacity, &end, 10);
        if (*capacity < '0' || *capacity > '9' || *end || value > INT_MAX)
            return s_usage_error ();
        change.capacity = (int)value;
    }
    if (!s_options_ok (argc, argv, allowed) || !id || s_positional (argc, argv, 3) ||
        change.accepting == -1 || change.interpreters == -1 ||
        (!capacity && change.accepting == KN_DIRECTORY_KEEP &&
         change.interpreters == KN_DIRECTORY_KEEP))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    json_t *report = db ? kn_directory_set (db, id, &change, &err) : NULL;
    kn_db_destroy (&db);
    if (!report)
        return cli_fail (options, &err);
    if (options->json)
        s_print_json (report);
    else {
        json_t *changes = json_object_get (report, "changes");
        printf ("agency %s %s", id, json_array_size (changes) ? "changed" : "unchanged");
        size_t index;
        json_t *change_name;
        json_array_foreach (changes, index, change_name)
            printf ("%s%s", index ? ", " : ": ", json_string_value (change_name));
        printf ("\n");
    }
    json_decref (report);
    return CLI_OK;
}

static int
s_district_set (const cli_options_t *options, int argc, char **argv)
{
    static const char *allowed[] = {"--name", "--lead", NULL};
    const char *code = s_positional (argc, argv, 3);
    if (!s_options_ok (argc, argv, allowed) || !code || s_positional (argc, argv, 4))
        return s_usage_error ();
    const char *lead = cli_arg (argc, argv, "--lead");
    if (lead && strcmp (lead, "none") == 0)
        lead = "";
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    json_t *report = db ? kn_directory_district_set (
                              db, code, cli_arg (argc, argv, "--name"), lead, &err)
                        : NULL;
    kn_db_destroy (&db);
    if (!report)
        return cli_fail (options, &err);
    if (options->json)
        s_print_json (report);
    else {
        printf ("district %s %s", code,
                json_string_value (json_object_get (report, "result")));
        size_t index;
        json_t *change;
        json_array_foreach (json_object_get (report, "changes"), index, change)
            printf ("%s%s", index ? ", " : ": ", json_string_value (change));
        printf ("\n");
    }
    json_decref (report);
    return CLI_OK;
}

static int
s_district_list (const cli_options_t *options, int argc, char **argv)
{
    static const char *allowed[] = {NULL};
    if (!s_options_ok (argc, argv, allowed) || s_positional (argc, argv, 3))
        return s_usage_error ();
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    json_t *list = db ? kn_directory_district_list (db, &err) : NULL;
    kn_db_destroy (&db);
    if (!list)
        return cli_fail (options, &err);
    if (options->json) {
        s_print_json (list);
        json_decref (list);
        return CLI_OK;
    }
    size_t index;
    json_t *district;
    json_array_foreach (list, index, district)
    {
        json_t *name = json_object_get (district, "name");
        json_t *lead = json_object_get (district, "child_protection_lead");
        printf ("%-16s %-28s agencies %-4lld lead ",
                json_string_value (json_object_get (district, "code")),
                json_is_string (name) ? json_string_value (name) : "-",
                (long long)json_integer_value (json_object_get (district, "agencies")));
        if (json_is_string (lead))
            printf ("%s (%s)\n",
                    json_string_value (json_object_get (district, "lead_name")),
                    json_string_value (lead));
        else
            printf ("none\n");
    }
    if (json_array_size (list) == 0)
        printf ("no districts\n");
    json_decref (list);
    return CLI_OK;
}

int
cli_directory (const cli_options_t *options, int argc, char **argv)
{
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    const char *action = s_positional (argc, argv, 1);
    const char *what = s_positional (argc, argv, 2);
    if (!action)
        return s_usage_error ();
    if (strcmp (action, "import") == 0)
        return s_import (options, argc, argv);
    if (strcmp (action, "show") == 0)
        return s_show (options, argc, argv);
    if (strcmp (action, "set") == 0)
        return s_set (options, argc, argv);
    if (strcmp (action, "district") == 0 && what && strcmp (what, "set") == 0)
        return s_district_set (options, argc, argv);
    if (strcmp (action, "district") == 0 && what && strcmp (what, "list") == 0)
        return s_district_list (options, argc, argv);
    return s_usage_error ();
}
