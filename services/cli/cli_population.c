/*  kinnet admin population import FILE.csv | show: the number of children in each
    district by year, for the equity report's rates per 1,000 children. The file is
    CSV (RFC 4180) with a header naming district, year and children (any order, other
    columns ignored). The whole file is checked first and loaded in one transaction:
    a bad line names itself and nothing is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define MAX_FIELDS 32
#define MAX_FIELD 256

static const char *s_usage = "usage: kinnet admin population import FILE.csv\n"
                             "       kinnet admin population show\n"
                             "The CSV has a header with district, year and children (the\n"
                             "number of children living in the district that year).\n";

//  One CSV record (RFC 4180: quoted fields, doubled quotes, CRLF or LF). Returns the
//  number of fields, 0 at end of file, -1 on a malformed record.
static int
s_record (FILE *file, char fields[MAX_FIELDS][MAX_FIELD], int *line)
{
    int count = 0, c = fgetc (file);
    if (c == EOF)
        return 0;
    (*line)++;
    while (true) {
        size_t len = 0;
        bool quoted = c == '"';
        if (quoted)
            c = fgetc (file);
        while (c != EOF) {
            if (quoted && c == '"') {
                c = fgetc (file);
                if (c != '"') {
                    quoted = false;   //  closing quote
                    continue;
                }
            }
            else if (!quoted && (c == ',' || c == '\n' || c == '\r'))
                break;
            if (c == '\n')
                (*line)++;
            if (len + 1 >= MAX_FIELD)
                return -1;
            fields[count][len++] = (char) c;
            c = fgetc (file);
        }
        if (quoted)
            return -1;   //  an open quote at end of file
        fields[count][len] = 0;
        if (++count == MAX_FIELDS && c == ',')
            return -1;
        if (c == ',') {
            c = fgetc (file);
            continue;
        }
        if (c == '\r' && (c = fgetc (file)) != '\n' && c != EOF)
            ungetc (c, file);
        return count;
    }
}

static int
s_import (const cli_options_t *options, const char *path)
{
    kn_error_t err;
    kn_error_clear (&err);
    FILE *file = fopen (path, "r");
    if (!file) {
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "file", "cannot read %s", path);
        return cli_fail (options, &err);
    }
    static char fields[MAX_FIELDS][MAX_FIELD];
    int line = 0, n = s_record (file, fields, &line);
    int column[3] = {-1, -1, -1};
    const char *names[] = {"district", "year", "children"};
    for (int f = 0; f < n; f++)
        for (int k = 0; k < 3; k++)
            if (strcmp (fields[f], names[k]) == 0)
                column[k] = f;
    for (int k = 0; k < 3 && n > 0; k++)
        if (column[k] < 0) {
            fclose (file);
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, "line 1",
                          "the header must name district, year and children");
            return cli_fail (options, &err);
        }
    //  Check everything, keeping the rows, before writing anything.
    json_t *rows = json_array ();
    while (n > 0 && (n = s_record (file, fields, &line)) != 0) {
        char where[32];
        snprintf (where, sizeof where, "line %d", line);
        if (n < 0) {
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, where, "not a CSV record");
            break;
        }
        if (n == 1 && !*fields[0])
            continue;   //  a blank line
        const char *district = column[0] < n ? fields[column[0]] : "";
        char *end_year, *end_children;
        long year = column[1] < n ? strtol (fields[column[1]], &end_year, 10) : 0;
        long children = column[2] < n ? strtol (fields[column[2]], &end_children, 10) : -1;
        if (!*district || strlen (district) > 64)
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, where, "district: 1 to 64 characters");
        else if (column[1] >= n || *end_year || year < 1900 || year > 2200)
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, where, "year: a year, such as 2026");
        else if (column[2] >= n || *end_children || children < 0 || children > 100000000)
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, where,
                          "children: a whole number, 0 or more");
        if (err.code != KN_OK)
            break;
        json_array_append_new (rows, json_pack ("{s:s,s:I,s:I}", "district", district, "year",
                                                (json_int_t) year, "children",
                                                (json_int_t) children));
    }
    fclose (file);
    if (err.code != KN_OK) {
        json_decref (rows);
        return cli_fail (options, &err);
    }
    kn_db_t *db = cli_admin_db (&err);
    int rc = db ? kn_db_exec (db, "BEGIN", &err) : -1;
    int added = 0, changed = 0, same = 0;
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row)
    {
        if (rc)
            break;
        char year[16], children[24];
        snprintf (year, sizeof year, "%lld", (long long) json_integer_value (json_object_get (row, "year")));
        snprintf (children, sizeof children, "%lld",
                  (long long) json_integer_value (json_object_get (row, "children")));
        const char *values[] = {json_string_value (json_object_get (row, "district")), year,
                                children};
        //  xmax = 0: the row was inserted, not updated.
        PGresult *result = kn_db_query (
            db,
            "INSERT INTO core.population (district, year, children) VALUES ($1, $2, $3)"
            " ON CONFLICT (district, year) DO UPDATE SET children = $3, loaded_at = now ()"
            " WHERE core.population.children <> $3 RETURNING (xmax = 0)",
            3, values, &err);
        if (!result)
            rc = -1;
        else if (PQntuples (result) == 0)
            same++;
        else if (PQgetvalue (result, 0, 0)[0] == 't')
            added++;
        else
            changed++;
        PQclear (result);
    }
    if (rc == 0)
        rc = kn_db_exec (db, "COMMIT", &err);
    else if (db) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    kn_db_destroy (&db);
    json_decref (rows);
    if (rc)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"added\": %d, \"changed\": %d, \"unchanged\": %d}\n", added, changed, same);
    else
        printf ("population figures: %d added, %d changed, %d unchanged\n", added, changed, same);
    return CLI_OK;
}

static int
s_show (const cli_options_t *options)
{
    kn_error_t err;
    kn_error_clear (&err);
    kn_db_t *db = cli_admin_db (&err);
    PGresult *rows = db ? kn_db_query (db,
                                       "SELECT district, year, children FROM core.population"
                                       " ORDER BY district, year",
                                       0, NULL, &err)
                        : NULL;
    kn_db_destroy (&db);
    if (!rows)
        return cli_fail (options, &err);
    json_t *list = json_array ();
    for (int r = 0; r < PQntuples (rows); r++) {
        if (options->json)
            json_array_append_new (list, json_pack ("{s:s,s:I,s:I}", "district",
                                                    PQgetvalue (rows, r, 0), "year",
                                                    (json_int_t) atoll (PQgetvalue (rows, r, 1)),
                                                    "children",
                                                    (json_int_t) atoll (PQgetvalue (rows, r, 2))));
        else
            printf ("%-24s %s %10s\n", PQgetvalue (rows, r, 0), PQgetvalue (rows, r, 1),
                    PQgetvalue (rows, r, 2));
    }
    if (options->json) {
        json_dumpf (list, stdout, JSON_INDENT (2));
        printf ("\n");
    }
    json_decref (list);
    PQclear (rows);
    return CLI_OK;
}

int
cli_population (const cli_options_t *options, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (strcmp (action, "import") == 0 && argc > 2)
        return s_import (options, argv[2]);
    if (strcmp (action, "show") == 0)
        return s_show (options);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
