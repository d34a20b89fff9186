/*  kinnet-bench-reports: how long each auditors' report takes over the database it
    is pointed at (ops/bench-reports fills one with a million referrals). It calls
    the reporting service's report code directly, as the service does, on sessions
    in the reporting role: the figure is the report's own cost; the broker adds the
    round trip ops/bench measures for the echo worker (about a millisecond). Each
    report runs on one session, then on KINNET_REPORT_SESSIONS (2) as the service
    does by default; each from raw rows only (KINNET_REPORT_ROLLUPS=off), then from
    the rollups (on), unless KINNET_BENCH_PATHS names one ("raw", "rollup").
    Prints one JSON object per report, path, breakdown and session count, then a
    table. When both paths run, each report's last result on the rollups is compared
    with its last on raw rows, cell by cell as tests/integration/test_report_rollups
    does, and the count of differing cells printed ("kind":"compare"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>

#include "kn_config.h"
#include "kn_log.h"
#include "reporting_report.h"
#include "reporting_rollup.h"

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool
s_same_cell (const Kinnet__V1__ReportCell *a, const Kinnet__V1__ReportCell *b)
{
    return a->withheld == b->withheld && a->value == b->value && a->number == b->number;
}

//  The published cells that differ between a and b, and how many were compared
//  (*cells); a table of another shape counts as all its cells differing. Statistics
//  read from the rollups' histograms may differ by half a bucket (0.05 h).
static int
s_differences (const Kinnet__V1__Report *a, const Kinnet__V1__Report *b, int *cells)
{
    int differ = 0;
    *cells = 0;
    if (a->n_sections != b->n_sections)
        return 1;
    for (size_t s = 0; s < a->n_sections; s++) {
        Kinnet__V1__ReportSection *x = a->sections[s], *y = b->sections[s];
        if (x->n_tables != y->n_tables) {
            differ++;
            continue;
        }
        for (size_t t = 0; t < x->n_tables; t++) {
            Kinnet__V1__ReportTable *p = x->tables[t], *q = y->tables[t];
            bool shape = strcmp (p->title, q->title) == 0 &&
                         p->n_row_labels == q->n_row_labels &&
                         p->n_column_labels == q->n_column_labels &&
                         p->n_cells == q->n_cells && p->n_row_totals == q->n_row_totals &&
                         p->n_column_totals == q->n_column_totals &&
                         !p->grand_total == !q->grand_total && p->withheld == q->withheld;
            for (size_t r = 0; shape && r < p->n_row_labels; r++)
                shape = strcmp (p->row_labels[r], q->row_labels[r]) == 0;
            for (size_t c = 0; shape && c < p->n_column_labels; c++)
                shape = strcmp (p->column_labels[c], q->column_labels[c]) == 0;
            if (!shape) {
                differ += (int)(p->n_cells > q->n_cells ? p->n_cells : q->n_cells) + 1;
                continue;
            }
            for (size_t c = 0; c < p->n_cells; c++) {
                const Kinnet__V1__ReportCell *u = p->cells[c], *v = q->cells[c];
                if (p->statistics)
                    differ += u->withheld != v->withheld || u->value != v->value ||
                              fabs (u->number - v->number) > 0.0500001;
                else
                    differ += !s_same_cell (u, v);
            }
            for (size_t c = 0; c < p->n_row_totals; c++)
                differ += !s_same_cell (p->row_totals[c], q->row_totals[c]);
            for (size_t c = 0; c < p->n_column_totals; c++)
                differ += !s_same_cell (p->column_totals[c], q->column_totals[c]);
            if (p->grand_total)
                differ += !s_same_cell (p->grand_total, q->grand_total);
            *cells += (int)(p->n_cells + p->n_row_totals + p->n_column_totals +
                            (p->grand_total != NULL));
        }
    }
    return differ;
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
        fprintf (
            stderr,
            "usage: KINNET_DATABASE_URL=... kinnet-bench-reports [FROM TO REPEAT]\n");
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
        if (!(dbs[k] = kn_db_new (
                  url, kn_config_str ("KINNET_DB_ROLE", "kinnet_reporting"), &err))) {
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
         2,
         "month,need"},
        {"declines", {KINNET__V1__REPORT_DIMENSION__BY_AGENCY}, 1, "agency"},
        {"timeliness", {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT}, 1, "district"},
        {"team", {KINNET__V1__REPORT_DIMENSION__BY_DISTRICT}, 1, "district"},
        {"consent", {0}, 0, "-"},
        {"equity", {0}, 0, "-"},
    };
    size_t n = sizeof runs / sizeof runs[0];
    //  The rollup path is timed with the job caught up, as the service keeps it: the
    //  passes it takes first (all of them, on a database just migrated) are printed.
    if (strstr (kn_config_str ("KINNET_BENCH_PATHS", "raw rollup"), "rollup")) {
        int64_t start = zclock_usecs ();
        int days = 0, total = 0, done;
        while ((done = reporting_rollup_run_once (dbs[0], 31, &days, &err)) == 0)
            total += days;
        total += days;
        if (done < 0) {
            fprintf (stderr, "kinnet-bench-reports: rollup job: %s\n", err.message);
            for (long k = 0; k < sessions; k++)
                kn_db_destroy (&dbs[k]);
            return 1;
        }
        printf ("{\"kind\":\"rollup_catch_up\",\"days\":%d,\"seconds\":%.1f}\n", total,
                (double)(zclock_usecs () - start) / 1e6);
        fflush (stdout);
    }
    //  Rounds: (path, sessions).
    const char *paths_env = kn_config_str ("KINNET_BENCH_PATHS", "raw rollup");
    const char *path_names[] = {"raw", "rollup"};
    size_t widths[4], n_widths = 0;
    int path_of[4];
    for (int p = 0; p < 2; p++) {
        if (!strstr (paths_env, path_names[p]))
            continue;
        path_of[n_widths] = p;
        widths[n_widths++] = 1;
        if (sessions > 1) {
            path_of[n_widths] = p;
            widths[n_widths++] = (size_t)sessions;
        }
    }
    double medians[4][16], maxima[4][16];
    Kinnet__V1__Report *last[4][16] = {{NULL}};
    int rc = 0, mismatch = 0;
    for (size_t w = 0; w < n_widths && rc == 0; w++) {
        setenv ("KINNET_REPORT_ROLLUPS", path_of[w] ? "on" : "off", 1);
        for (size_t i = 0; i < n && rc == 0; i++) {
            Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
            run.report = (char *)runs[i].report;
            run.from = (char *)from;
            run.to = (char *)to;
            run.by = (Kinnet__V1__ReportDimension *)runs[i].by;
            run.n_by = runs[i].n_by;
            double ms[64];
            int times = repeat < 64 ? repeat : 64;
            for (int k = 0; k < times && rc == 0; k++) {
                int64_t start = zclock_usecs ();
                Kinnet__V1__Report *report = NULL;
                if (reporting_report_validate (&run, &err) ||
                    reporting_report_run (dbs, widths[w], &config, &run,
                                          (int64_t)time (NULL), &report, &err)) {
                    fprintf (stderr, "kinnet-bench-reports: %s: %s\n", runs[i].report,
                             err.message);
                    rc = 1;
                }
                ms[k] = (double)(zclock_usecs () - start) / 1000.0;
                kinnet__v1__report__free_unpacked (last[w][i], NULL);
                last[w][i] = report;
            }
            if (rc)
                break;
            qsort (ms, (size_t)times, sizeof ms[0], s_compare);
            medians[w][i] = ms[times / 2];
            maxima[w][i] = ms[times - 1];
            printf (
                "{\"kind\":\"report\",\"report\":\"%s\",\"by\":\"%s\",\"path\":\"%s\","
                "\"sessions\":%zu,\"runs\":%d,\"median_ms\":%.1f,\"max_ms\":%.1f}\n",
                runs[i].report, runs[i].label, path_names[path_of[w]], widths[w], times,
                medians[w][i], maxima[w][i]);
            fflush (stdout);
        }
    }
    //  The rollup rounds against the raw round on as many sessions.
    for (size_t w = 0; w < n_widths && rc == 0; w++)
        for (size_t v = 0; v < n_widths; v++) {
            if (path_of[w] != 0 || path_of[v] != 1 || widths[w] != widths[v])
                continue;
            for (size_t i = 0; i < n; i++) {
                int cells = 0, differ = s_differences (last[w][i], last[v][i], &cells);
                printf ("{\"kind\":\"compare\",\"report\":\"%s\",\"by\":\"%s\","
                        "\"sessions\":%zu,\"cells\":%d,\"differ\":%d}\n",
                        runs[i].report, runs[i].label, widths[w], cells, differ);
                mismatch |= differ != 0;
            }
        }
    for (size_t w = 0; w < n_widths; w++)
        for (size_t i = 0; i < n; i++)
            kinnet__v1__report__free_unpacked (last[w][i], NULL);
    if (rc == 0) {
        fprintf (stderr, "\n%-12s %-12s", "report", "by");
        for (size_t w = 0; w < n_widths; w++)
            fprintf (stderr, " %6s %zu s: median max", path_names[path_of[w]], widths[w]);
        fprintf (stderr, "  (ms)\n");
        for (size_t i = 0; i < n; i++) {
            fprintf (stderr, "%-12s %-12s", runs[i].report, runs[i].label);
            for (size_t w = 0; w < n_widths; w++)
                fprintf (stderr, " %17.1f %6.1f", medians[w][i], maxima[w][i]);
            fprintf (stderr, "\n");
        }
    }
    for (long k = 0; k < sessions; k++)
        kn_db_destroy (&dbs[k]);
    return rc ? rc : mismatch;
}
