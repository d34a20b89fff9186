/*  bench_report: turns the results ops/bench collects (one JSON object per line:
    machine, settings, sample, pgbench, echo and kinnet runs, rss readings) into the
    table people read and the single JSON document tools read. The ratio of
    Kinnet's throughput to the pgbench baseline is computed here, per client count. */
#ifndef BENCH_REPORT_H_INCLUDED
#define BENCH_REPORT_H_INCLUDED

#include <stdio.h>

//  Print the table for results_path on out; when json_path is given, also write
//  the whole document there. 0, or -1 with the reason on stderr.
int bench_report_print (const char *results_path, const char *json_path, FILE *out);

#endif
