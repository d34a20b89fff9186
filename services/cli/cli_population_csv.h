/*  cli_population_csv: the population figures of a CSV file (RFC 4180) with a
    header naming district, year and children (any order, other columns ignored),
    checked whole: a bad line names itself ("line 7") and no figure is returned.
    Pure: reads the stream it is given, nothing else, so it can be fuzzed. */
#ifndef CLI_POPULATION_CSV_H_INCLUDED
#define CLI_POPULATION_CSV_H_INCLUDED

#include <stdio.h>

#include "kinnet/v1/admin.pb-c.h"
#include "kn_error.h"

#define CLI_POPULATION_MAX_FIGURES 10000   // the most one ImportPopulation takes (admin.proto)

typedef struct {
    size_t count;
    Kinnet__V1__PopulationFigure **figures;   // count of them, each with its district
} cli_population_csv_t;

//  Read and check every figure of file. Returns 0 with figures filled (count 0 when
//  the file has no header, or a header and no figure), or -1 with err naming the
//  line and figures empty. Free with cli_population_csv_free.
int cli_population_csv_read (FILE *file, cli_population_csv_t *figures, kn_error_t *err);
void cli_population_csv_free (cli_population_csv_t *figures);

#endif
