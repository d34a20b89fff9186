/*  reporting_report: a report request, from its field rules to the finished Report.
    The catalogue in reporting_report_run names each report's function. A run opens
    the sessions (reporting_sessions.c), lets the report say which sections and
    queries it needs, runs the queries, then makes the tables in the report's order
    and lets every session go. reporting_report_int.h says which file does what. */
#include "reporting_report_int.h"

#include <time.h>

#include "kn_config.h"
#include "kn_validate.h"
#include "kn_alloc.h"

#define MAX_SPAN_DAYS 1100

//  -------------------------------------------------------------------------
//  Validation

int
reporting_report_validate (const Kinnet__V1__RunReport *request, kn_error_t *err)
{
    static const char *reports[]
        = {"referrals", "declines", "timeliness", "team", "consent", "equity"};
    bool known = false;
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        known |= strcmp (request->report, reports[i]) == 0;
    if (!known)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "report",
                             "unknown report (referrals, declines, timeliness, team, consent, "
                             "equity)");
    int fy, fm, fd, ty, tm, td;
    if (kn_validate_date (request->from, &fy, &fm, &fd))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "from", "a date, YYYY-MM-DD");
    if (kn_validate_date (request->to, &ty, &tm, &td))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to", "a date, YYYY-MM-DD");
    struct tm from = {.tm_year = fy - 1900, .tm_mon = fm - 1, .tm_mday = fd};
    struct tm to = {.tm_year = ty - 1900, .tm_mon = tm - 1, .tm_mday = td};
    double days = difftime (timegm (&to), timegm (&from)) / 86400;
    if (days <= 0)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to", "must be after from");
    if (days > MAX_SPAN_DAYS)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "to",
                             "a report covers at most 3 years; run one per period");
    if (request->n_by > 2)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "by", "at most two dimensions");
    for (size_t i = 0; i < request->n_by; i++) {
        char field[32];
        snprintf (field, sizeof field, "by[%zu]", i);
        if (kn_validate_enum (&kinnet__v1__report_dimension__descriptor, request->by[i], field,
                              err))
            return -1;
        if (i == 1 && request->by[1] == request->by[0])
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, field,
                                 "the same dimension twice");
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  Sections

Kinnet__V1__ReportSection *
reporting_section (const char *name, const char *title, const char *note)
{
    Kinnet__V1__ReportSection *section = kn_malloc (sizeof *section);
    kinnet__v1__report_section__init (section);
    section->name = kn_strdup (name);
    section->title = kn_strdup (title);
    section->note = kn_strdup (note ? note : "");
    section->available = true;
    return section;
}

void
reporting_add_section (Kinnet__V1__Report *report, Kinnet__V1__ReportSection *section)
{
    report->sections
        = kn_realloc (report->sections, (report->n_sections + 1) * sizeof (Kinnet__V1__ReportSection *));
    report->sections[report->n_sections++] = section;
}

//  -------------------------------------------------------------------------
//  The run

int
reporting_report_run (kn_db_t *const *dbs, size_t n_dbs, const kn_sdc_config_t *config,
                      const Kinnet__V1__RunReport *request, int64_t now,
                      Kinnet__V1__Report **out, kn_error_t *err)
{
    *out = NULL;
    kn_db_t *sessions[REPORTING_MAX_SESSIONS];
    int n_sessions = reporting_open (dbs, n_dbs, now, sessions, err);
    if (n_sessions < 0)
        return -1;
    Kinnet__V1__Report *report = kn_malloc (sizeof *report);
    kinnet__v1__report__init (report);
    report->report = kn_strdup (request->report);
    report->from = kn_strdup (request->from);
    report->to = kn_strdup (request->to);
    report->by = kn_calloc (request->n_by + 1, sizeof (Kinnet__V1__ReportDimension));
    for (size_t i = 0; i < request->n_by; i++)
        report->by[report->n_by++] = request->by[i];
    report->generated_at = kn_malloc (sizeof *report->generated_at);
    kinnet__v1__timestamp__init (report->generated_at);
    report->generated_at->seconds = now;
    char method[KN_SDC_METHOD_SIZE];
    report->method = kn_strdup (kn_sdc_method (config, method, sizeof method));
    report->marker = kn_strdup (KN_SDC_MARKER);
    static const struct {
        const char *name;
        int (*run) (reader_t *, const Kinnet__V1__RunReport *, Kinnet__V1__Report *,
                    kn_error_t *);
    } reports[] = {{"referrals", reporting_referrals}, {"declines", reporting_declines},
                   {"timeliness", reporting_timeliness}, {"team", reporting_team}, {"consent", reporting_consent},
                   {"equity", reporting_equity}};
    //  off: every table from raw rows, as before the rollups; tests and ops/bench-reports
    //  compare both paths.
    reader_t rd = {NULL, 0, strcmp (kn_config_str ("KINNET_REPORT_ROLLUPS", "on"), "off") != 0};
    int rc = -1;
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (strcmp (request->report, reports[i].name) == 0)
            rc = reports[i].run (&rd, request, report, err);
    if (rc == 0)
        rc = reporting_run_jobs (&rd, sessions, (size_t) n_sessions, err);
    //  The tables are made in the report's order, each job's rows then let go.
    for (size_t j = 0; j < rd.n_jobs; j++) {
        job_t *job = &rd.jobs[j];
        if (rc == 0 && job->build (job, job->rows, config, err))
            rc = -1;
        PQclear (job->rows);
        free (job->specs);
        free (job->sql);
    }
    free (rd.jobs);
    kn_error_t ignored;
    for (int k = n_sessions - 1; k >= 0; k--)
        kn_db_exec (sessions[k], "ROLLBACK", &ignored);
    if (rc) {
        kinnet__v1__report__free_unpacked (report, NULL);
        return -1;
    }
    *out = report;
    return 0;
}
