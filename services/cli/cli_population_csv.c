/*  cli_population_csv: reading population figures from CSV (RFC 4180: quoted
    fields, doubled quotes, CRLF or LF), one record at a time from the stream, with
    fixed limits on fields and their length, so a file of any size costs bounded
    memory per record. */
#include "cli_population_csv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 32
#define MAX_FIELD 256

//  One CSV record. Returns the number of fields, 0 at end of file, -1 on a
//  malformed record.
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

//  One figure from a record whose columns column[] names; -1 with err (where: the
//  line) when a field is not what it should be.
static int
s_figure (char fields[MAX_FIELDS][MAX_FIELD], int n, const int column[3],
          const char *where, Kinnet__V1__PopulationFigure *figure, kn_error_t *err)
{
    const char *district = column[0] < n ? fields[column[0]] : "";
    char *end_year = NULL, *end_children = NULL;
    long year = column[1] < n ? strtol (fields[column[1]], &end_year, 10) : 0;
    long children = column[2] < n ? strtol (fields[column[2]], &end_children, 10) : -1;
    if (!*district || strlen (district) > 64)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, where, "district: 1 to 64 characters");
    if (column[1] >= n || *end_year || year < 1900 || year > 2200)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, where, "year: a year, such as 2026");
    if (column[2] >= n || *end_children || children < 0 || children > 100000000)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, where,
                             "children: a whole number, 0 or more");
    kinnet__v1__population_figure__init (figure);
    figure->district = strdup (district);
    if (!figure->district)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    figure->year = (int32_t) year;
    figure->children = children;
    return 0;
}

//  figure appended to figures (taken); -1 with err when there is no room.
static int
s_append (cli_population_csv_t *figures, Kinnet__V1__PopulationFigure *figure,
          const char *where, kn_error_t *err)
{
    if (figures->count == CLI_POPULATION_MAX_FIGURES)
        return kn_error_set (err, KN_E_TOO_LARGE, where,
                             "at most %d figures in one import; split the file",
                             CLI_POPULATION_MAX_FIGURES);
    //  Doubled as it fills, so a small file costs little and a large one few copies.
    size_t count = figures->count;
    if (count == 0 || (count >= 16 && (count & (count - 1)) == 0)) {
        size_t room = count ? count * 2 : 16;
        Kinnet__V1__PopulationFigure **grown
            = realloc (figures->figures, room * sizeof *grown);
        if (!grown)
            return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
        figures->figures = grown;
    }
    figures->figures[count] = malloc (sizeof *figure);
    if (!figures->figures[count])
        return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    *figures->figures[count] = *figure;
    figures->count++;
    return 0;
}

int
cli_population_csv_read (FILE *file, cli_population_csv_t *figures, kn_error_t *err)
{
    *figures = (cli_population_csv_t) {0};
    //  One record's fields: 8 KiB, not for the stack of a command's deep call.
    char (*fields)[MAX_FIELD] = malloc (MAX_FIELDS * sizeof *fields);
    if (!fields)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    int line = 0, n = s_record (file, fields, &line);
    int column[3] = {-1, -1, -1};
    const char *names[] = {"district", "year", "children"};
    for (int f = 0; f < n; f++)
        for (int k = 0; k < 3; k++)
            if (strcmp (fields[f], names[k]) == 0)
                column[k] = f;
    int rc = 0;
    for (int k = 0; k < 3 && n > 0 && rc == 0; k++)
        if (column[k] < 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, "line 1",
                               "the header must name district, year and children");
    while (rc == 0 && n > 0 && (n = s_record (file, fields, &line)) != 0) {
        char where[32];
        snprintf (where, sizeof where, "line %d", line);
        if (n < 0)
            rc = kn_error_set (err, KN_E_INVALID_ARGUMENT, where, "not a CSV record");
        else if (n == 1 && !*fields[0])
            continue;   //  a blank line
        else {
            Kinnet__V1__PopulationFigure figure;
            rc = s_figure (fields, n, column, where, &figure, err);
            if (rc == 0 && (rc = s_append (figures, &figure, where, err)) != 0)
                free (figure.district);
        }
    }
    free (fields);
    if (rc)
        cli_population_csv_free (figures);
    return rc;
}

void
cli_population_csv_free (cli_population_csv_t *figures)
{
    for (size_t i = 0; i < figures->count; i++) {
        free (figures->figures[i]->district);
        free (figures->figures[i]);
    }
    free (figures->figures);
    *figures = (cli_population_csv_t) {0};
}
