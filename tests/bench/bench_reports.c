/*  kinnet-bench-reports: how long each auditors' report takes over the database it
    is pointed at (ops/bench-reports fills one with a million referrals). It calls
    the reporting service's report code directly, as the service does, on sessions
    in the reporting role: the figure is the report's own cost; the broker adds the
    round trip ops/bench measures for the echo worker (about a millisecond). Each
    report runs on one session, then on KINNET_REPORT_SESSIONS (2) as the service
    does by default.
    Prints one JSON object per report, breakdown and session count, then a table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>

#include "kn_config.h"
#include "kn_log.h"
#include "reporting_report.h"

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int
main (int argc, char *argv[])
{
    kn_log_init ("bench-reports");
    const char *url = kn_config_str ("KINNET_DATABASE_URL", NULL);
    const char *from = argc > 1 ? argv[1] : "2026-01-01";
    const char *to = argc > 2 ? argv[2] : "2027-01-01";
    int repeat = argc > 3 ? atoi (argv[3]) : 5;
    if (!url || repeat < 1) {
        fprintf (stderr, "usage: KINNET_DATABASE_URL=... kinnet-bench-reports [FROM TO REPEAT]\n");
        return 2;
    }
    long sessions = kn_config_int ("KINNET_REPORT_SESSIONS", 2);
    if (sessions < 1 || sessions > REPORTING_MAX_SESSIONS) {
        fprintf (stderr, "kinnet-bench-reports: KINNET_REPORT_SESSIONS must be 1 to %d\n",
                 REPORTING_MAX_SESSIONS);
        return 2;
    }
    kn_error_t err;
    kn_db_t *dbs[REPORTING_MAX_SESSIONS] = {NULL};
    for (long k = 0; k < sessions; k++)
        if (!(dbs[k] = kn_db_new (url, kn_config_str ("KINNET_DB_ROLE", "kinnet_reporting"),
                                  &err))) {
            fprintf (stderr, "kinnet-bench-reports: %s\n", err.message);
            for (long j = 0; j < k; j++)
                kn_db_destroy (&dbs[j]);
            return 1;
        }
    kn_sdc_config_t config = kn_sdc_config_default ();
    const struct {
        const char *report;
        Kinnet__V1__ReportDimension by[2];
        size_t n_by;
        const char *label;
    } runs[] = {
        {"referrals", {0}, 0, "-"},
        {"referrals", {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT}, 1, "district"},
        {"referrals",
         {KINNET__V1__REPORT_DIMENSION__BY_MONTH, KINNET__V1__REPORT_DIMENSION__BY_NEED},
         2, "month,need"},
        {"declines", {KINNET__V1__REPORT_DIMENSION__BY_AGENCY}, 1, "agency"},
        {"timeliness", {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT}, 1, "district"},
        {"team", {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT}, 1, "district"},
        {"consent", {0}, 0, "-"},
        {"equity", {0}, 0, "-"},
    };
    size_t n = sizeof runs / sizeof runs[0];
    size_t widths[] = {1, (size_t) sessions};
    size_t n_widths = sessions > 1 ? 2 : 1;
    double medians[2][16], maxima[2][16];
    int rc = 0;
    for (size_t w = 0; w < n_widths && rc == 0; w++)
        for (size_t i = 0; i < n && rc == 0; i++) {
            Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
            run.report = (char *) runs[i].report;
            run.from = (char *) from;
            run.to = (char *) to;
            run.by = (Kinnet__V1__ReportDimension *) runs[i].by;
            run.n_by = runs[i].n_by;
            double ms[64];
            int times = repeat < 64 ? repeat : 64;
            for (int k = 0; k < times && rc == 0; k++) {
                int64_t start = zclock_usecs ();
                Kinnet__V1__Report *report = NULL;
                if (reporting_report_validate (&run, &err)
                    || reporting_report_run (dbs, widths[w], &config, &run, (int64_t) time (NULL),
                                             &report, &err)) {
                    fprintf (stderr, "kinnet-bench-reports: %s: %s\n", runs[i].report,
                             err.message);
                    rc = 1;
                }
                ms[k] = (double) (zclock_usecs () - start) / 1000.0;
                kinnet__v1__report__free_unpacked (report, NULL);
            }
            if (rc)
                break;
            qsort (ms, (size_t) times, sizeof ms[0], s_compare);
            medians[w][i] = ms[times / 2];
            maxima[w][i] = ms[times - 1];
            printf ("{\"kind\":\"report\",\"report\":\"%s\",\"by\":\"%s\",\"sessions\":%zu,"
                    "\"runs\":%d,\"median_ms\":%.1f,\"max_ms\":%.1f}\n",
                    runs[i].report, runs[i].label, widths[w], times, medians[w][i],
                    maxima[w][i]);
        }
    if (rc == 0) {
        fprintf (stderr, "\n%-12s %-12s", "report", "by");
        for (size_t w = 0; w < n_widths; w++)
            fprintf (stderr, " %6s %zu: median max", "sessions", widths[w]);
        fprintf (stderr, "  (ms)\n");
        for (size_t i = 0; i < n; i++) {
            fprintf (stderr, "%-12s %-12s", runs[i].report, runs[i].label);
            for (size_t w = 0; w < n_widths; w++)
                fprintf (stderr, " %18.1f %6.1f", medians[w][i], maxima[w][i]);
            fprintf (stderr, "\n");
        }
    }
    for (long k = 0; k < sessions; k++)
        kn_db_destroy (&dbs[k]);
    return rc;
}
