/*  reporting_team: the "team" report, the team around the family. Cases opened in
    the period, by their number of needs, by the number of agencies that took one on,
    and by whether a lead professional is named. */
#include "reporting_report_int.h"

static const char *s_case_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "c.district",
    NULL, //  a case has many needs
    NULL, //  and may come from several referrers
    "c.urgency::text",
    NULL,
};

//  The period's cases with their counts, kept on the case by triggers (0008).
#define CASE_FROM                                                                        \
    "FROM (SELECT c.*, c.opened_at AS at FROM routing.case c) c"                         \
    " CROSS JOIN LATERAL (SELECT c.needs_count AS needs, c.agencies_count AS agencies,"  \
    "  c.accepted_now > 0 AS working) k"                                                 \
    " WHERE at >= $1::date AND at < $2::date"
//  The same over the stretches of the period that are not clean rolled-up days.
#define CASE_FROM_RAW                                                                    \
    "FROM raw CROSS JOIN LATERAL (SELECT c.*, c.opened_at AS at FROM routing.case c"     \
    "  WHERE c.opened_at >= raw.lo AND c.opened_at < raw.hi OFFSET 0) c"                 \
    " CROSS JOIN LATERAL (SELECT c.needs_count AS needs, c.agencies_count AS agencies,"  \
    "  c.accepted_now > 0 AS working) k WHERE true"

int
reporting_team (reader_t *rd, const Kinnet__V1__RunReport *request,
                Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    Kinnet__V1__ReportSection *team = reporting_section (
        "team", "The team around the family: cases opened in the period",
        "One case per family. Rows follow the first dimension (month, week, district or "
        "urgency: needs and agencies vary within a case).");
    reporting_add_section (report, team);
    static const char *needs[] = {"1 need", "2 needs", "3 or more needs"};
    static const char *agencies[] = {"no agency yet", "1 agency", "2 agencies",
                                     "3 or more agencies"};
    static const char *lead[] = {"with a lead professional", "without one"};
    const table_spec_t tables[] = {
        {.title = "Cases by number of needs",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .from_raw_sql = CASE_FROM_RAW,
         .source = 6,
         .dims = s_case_dims,
         .filter = "k.needs > 0",
         .category_sql = "least (k.needs, 3)::text",
         .labels = needs,
         .n_labels = 3,
         .category_name = "needs",
         .rollup = "sum (x.n) FILTER (WHERE x.needs3 > 0)",
         .rollup_category = "x.needs3::text"},
        {.title = "Cases by number of agencies that took a need on",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .from_raw_sql = CASE_FROM_RAW,
         .source = 6,
         .dims = s_case_dims,
         .filter = "true",
         .category_sql = "(least (k.agencies, 3) + 1)::text",
         .labels = agencies,
         .n_labels = 4,
         .category_name = "agencies",
         .rollup = "sum (x.n)",
         .rollup_category = "x.agencies4::text"},
        {.title = "Cases with an agency working with the family, by lead professional",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .from_raw_sql = CASE_FROM_RAW,
         .source = 6,
         .dims = s_case_dims,
         .filter = "k.working",
         .category_sql =
             "(CASE WHEN c.lead_agency_id IS NOT NULL THEN 1 ELSE 2 END)::text",
         .labels = lead,
         .n_labels = 2,
         .category_name = "lead",
         .rollup = "sum (x.n) FILTER (WHERE x.working)",
         .rollup_category = "x.lead::text"},
    };
    return reporting_add_tables (rd, &rows_only, team, tables, 3, err);
}
