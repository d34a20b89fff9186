/*  reporting_referrals: the "referrals" report. Referrals received in the period
    (all, since withdrawn, about a family already known), and the involvements closed
    in it, by outcome. */
#include "reporting_report_int.h"

int
reporting_referrals (reader_t *rd, const Kinnet__V1__RunReport *request,
                     Kinnet__V1__Report *report, kn_error_t *err)
{
    bool by_need = false;
    for (size_t i = 0; i < request->n_by; i++)
        by_need |= request->by[i] == KINNET__V1__REPORT_DIMENSION__BY_NEED;
    Kinnet__V1__ReportSection *referrals = reporting_section (
        "referrals", "Referrals received in the period",
        by_need
            ? "Broken down by need, a referral with several needs counts once per need."
            : "");
    reporting_add_section (report, referrals);
    const table_spec_t tables[] = {
        {.title = "Referrals received",
         .base = BASE_REFERRAL,
         .filter = "true",
         .source = 1,
         .rollup = "sum (x.received)"},
        {.title = "Referrals since withdrawn",
         .base = BASE_REFERRAL,
         .filter = "r.status = 'withdrawn'",
         .source = 1,
         .rollup = "sum (x.withdrawn)"},
        {.title = "Referrals about a family already known (matched)",
         .base = BASE_REFERRAL,
         .filter = "r.family_matched",
         .source = 1,
         .rollup = "sum (x.matched)"},
    };
    if (reporting_add_tables (rd, request, referrals, tables, 3, err))
        return -1;
    Kinnet__V1__ReportSection *outcomes = reporting_section (
        "outcomes", "Involvements closed in the period, by outcome",
        "Rows follow the first dimension (month and week: of the closing); columns are "
        "outcomes. The agency is the one that worked with the family.");
    reporting_add_section (report, outcomes);
    const table_spec_t outcome_table[] = {
        {.title = "Involvements closed",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.closed_at",
         .filter = "i.status = 'closed'",
         .category_sql = "i.outcome::text",
         .category = &kinnet__v1__outcome__descriptor,
         .category_name = "outcome",
         .source = 5,
         .rollup = "sum (x.n) FILTER (WHERE x.tab = 4)",
         .rollup_category = "x.category"},
    };
    //  Outcomes have their own columns: only the first dimension applies.
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    return reporting_add_tables (rd, &rows_only, outcomes, outcome_table, 1, err);
}
