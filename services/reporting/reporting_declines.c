/*  reporting_declines: the "declines" report. Offers made in the period, by what
    became of them, and offers declined in it, by the reason given. */
#include "reporting_report_int.h"

int
reporting_declines (reader_t *rd, const Kinnet__V1__RunReport *request,
                    Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    Kinnet__V1__ReportSection *offers = reporting_section (
        "offers", "Offers made in the period, by what became of them",
        "Rows follow the first dimension (month and week: of the offer); the agency is the "
        "agency offered.");
    reporting_add_section (report, offers);
    const table_spec_t offer_table[] = {
        {.title = "Offers",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.offered_at",
         .filter = "true",
         .category_sql =
             "(array_position (ARRAY['offered', 'accepted', 'declined', 'expired', 'withdrawn',"
             " 'transferred', 'closed'], i.status))::text",
         .category = &kinnet__v1__involvement_status__descriptor,
         .category_name = "status",
         .source = 3,
         .rollup = "sum (x.n) FILTER (WHERE x.tab = 1)",
         .rollup_category = "x.category"},
    };
    if (reporting_add_tables (rd, &rows_only, offers, offer_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *declines = reporting_section (
        "declines", "Offers declined in the period, by reason",
        "Rows follow the first dimension (month and week: of the decline); the agency is the "
        "agency that declined.");
    reporting_add_section (report, declines);
    const table_spec_t decline_table[] = {
        {.title = "Declines",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.decided_at",
         .filter = "i.status = 'declined'",
         .category_sql = "i.decline_reason::text",
         .category = &kinnet__v1__decline_reason__descriptor,
         .category_name = "reason",
         .source = 4,
         .rollup = "sum (x.n) FILTER (WHERE x.tab = 2)",
         .rollup_category = "x.category"},
    };
    return reporting_add_tables (rd, &rows_only, declines, decline_table, 1, err);
}
