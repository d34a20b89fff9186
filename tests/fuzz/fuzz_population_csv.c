/*  Fuzz target: a population figures CSV file as `kinnet admin population import`
    reads it (cli_population_csv_read, from a stream over the input). What it
    accepts must be what the admin service would take: every figure's district 1 to
    64 characters, a year 1900 to 2200, children 0 to 100,000,000, at most 10,000
    figures; what it refuses leaves no figure and an error that names the line. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli_population_csv.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  fmemopen refuses an empty buffer; an empty file is an empty stream all the same.
    static const uint8_t nothing[1] = {0};
    FILE *file = fmemopen ((void *) (size ? data : nothing), size ? size : 1, "r");
    if (!file)
        __builtin_trap ();
    if (size == 0)
        fgetc (file);
    cli_population_csv_t figures;
    kn_error_t err;
    kn_error_clear (&err);
    int rc = cli_population_csv_read (file, &figures, &err);
    fclose (file);
    if (rc == 0) {
        if (err.code != KN_OK || figures.count > CLI_POPULATION_MAX_FIGURES)
            __builtin_trap ();
        for (size_t i = 0; i < figures.count; i++) {
            const Kinnet__V1__PopulationFigure *figure = figures.figures[i];
            size_t len = strlen (figure->district);
            if (len == 0 || len > 64 || figure->year < 1900 || figure->year > 2200
                || figure->children < 0 || figure->children > 100000000)
                __builtin_trap ();
        }
    }
    else if (err.code == KN_OK || figures.count != 0 || figures.figures != NULL
             || strncmp (err.field, "line ", 5) != 0)
        __builtin_trap ();
    cli_population_csv_free (&figures);
    return 0;
}
