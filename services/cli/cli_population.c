/*  kinnet admin population import FILE.csv | show: the number of children in each
    district by year, for the equity report's rates per 1,000 children. The file is
    CSV (RFC 4180) with a header naming district, year and children (any order, other
    columns ignored). The whole file is checked here first, so a bad line names
    itself and nothing is sent; the admin service loads all figures in one
    transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "kn_alloc.h"

#define MAX_FIELDS 32
#define MAX_FIELD 256
#define MAX_FIGURES 10000   // the most one ImportPopulation takes (admin.proto)

static const char *s_usage
    = "usage: kinnet admin population import FILE.csv [--key KEY]\n"
      "       kinnet admin population show\n"
      "The CSV has a header with district, year and children (the number of children\n"
      "living in the district that year); at most 10,000 figures. A figure for a\n"
      "district and year already held replaces it. Both go through the broker to the\n"
      "admin service as an administrator agency (KINNET_CERT).\n";

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
s_import (const cli_options_t *options, const char *path, int argc, char **argv)
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
    //  Check everything here, so a bad line is named by its line number, then send
    //  all figures in one request: the service loads them in one transaction.
    Kinnet__V1__PopulationFigure *figures = kn_calloc (MAX_FIGURES, sizeof *figures);
    Kinnet__V1__PopulationFigure **pointers = kn_calloc (MAX_FIGURES, sizeof *pointers);
    size_t count = 0;
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
        else if (count == MAX_FIGURES)
            kn_error_set (&err, KN_E_TOO_LARGE, where,
                          "at most %d figures in one import; split the file", MAX_FIGURES);
        if (err.code != KN_OK)
            break;
        Kinnet__V1__PopulationFigure *figure = &figures[count];
        kinnet__v1__population_figure__init (figure);
        figure->district = kn_strdup (district);
        figure->year = (int32_t) year;
        figure->children = children;
        pointers[count++] = figure;
    }
    fclose (file);
    Kinnet__V1__AdminReply *reply = NULL;
    if (err.code == KN_OK && count == 0)
        kn_error_set (&err, KN_E_INVALID_ARGUMENT, "file", "%s holds no figures", path);
    if (err.code == KN_OK) {
        char key[200];
        Kinnet__V1__ImportPopulation op = KINNET__V1__IMPORT_POPULATION__INIT;
        op.idempotency_key
            = (char *) cli_admin_key (key, sizeof key, argc, argv, "population", NULL);
        op.n_figures = count;
        op.figures = pointers;
        Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
        request.op_case = KINNET__V1__ADMIN_REQUEST__OP_IMPORT_POPULATION;
        request.import_population = &op;
        reply = cli_admin_call (options, &request,
                                KINNET__V1__ADMIN_REPLY__RESULT_POPULATION_LOADED, &err);
    }
    for (size_t i = 0; i < count; i++)
        free (figures[i].district);
    free (figures);
    free (pointers);
    if (!reply)
        return cli_fail (options, &err);
    if (options->json)
        printf ("{\"loaded\": %d}\n", reply->population_loaded->loaded);
    else
        printf ("population figures loaded: %d\n", reply->population_loaded->loaded);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

static int
s_show (const cli_options_t *options)
{
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ShowPopulation op = KINNET__V1__SHOW_POPULATION__INIT;
    Kinnet__V1__AdminRequest request = KINNET__V1__ADMIN_REQUEST__INIT;
    request.op_case = KINNET__V1__ADMIN_REQUEST__OP_SHOW_POPULATION;
    request.show_population = &op;
    Kinnet__V1__AdminReply *reply
        = cli_admin_call (options, &request, KINNET__V1__ADMIN_REPLY__RESULT_POPULATION, &err);
    if (!reply)
        return cli_fail (options, &err);
    Kinnet__V1__Population *population = reply->population;
    json_t *list = json_array ();
    for (size_t r = 0; r < population->n_figures; r++) {
        const Kinnet__V1__PopulationFigure *figure = population->figures[r];
        if (options->json)
            json_array_append_new (list, json_pack ("{s:s,s:I,s:I}", "district",
                                                    figure->district, "year",
                                                    (json_int_t) figure->year, "children",
                                                    (json_int_t) figure->children));
        else
            printf ("%-24s %d %10lld\n", figure->district, figure->year,
                    (long long) figure->children);
    }
    if (options->json) {
        json_dumpf (list, stdout, JSON_INDENT (2));
        printf ("\n");
    }
    json_decref (list);
    kinnet__v1__admin_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

int
cli_population (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--key", NULL};
    if (cli_flag (argc, argv, "--help")) {
        fputs (s_usage, stdout);
        return CLI_OK;
    }
    if (!cli_options_ok (argc, argv, valued, NULL, s_usage))
        return CLI_USAGE;
    const char *action = cli_positional (argc, argv, valued, 1);
    const char *path = cli_positional (argc, argv, valued, 2);
    const char *extra = cli_positional (argc, argv, valued, path ? 3 : 2);
    action = action ? action : "";
    if (strcmp (action, "import") == 0 && path && !extra)
        return s_import (options, path, argc, argv);
    if (strcmp (action, "show") == 0 && !path && !cli_arg (argc, argv, "--key"))
        return s_show (options);
    fputs (s_usage, stderr);
    return CLI_USAGE;
}
