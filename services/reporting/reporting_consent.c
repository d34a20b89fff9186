/*  reporting_consent: the "consent" report. Consents recorded in the period, by
    their state now; disclosures of personal data, by the ground they left on; and
    safeguarding overrides requested, by their review. */
#include "reporting_report_int.h"

static const char *s_consent_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    NULL,
    NULL,
    "a.sector", //  of the agency that recorded it (or received the data)
    NULL,
    "a.name",
};

#define CONSENT_FROM                                                                     \
    "FROM (SELECT c.*, c.recorded_at AS at FROM consent.record c) c"                     \
    " JOIN core.agency a ON a.id = c.recorded_by WHERE at >= $1::date AND at < $2::date"

//  A consent's state now: 1 active, 2 expired, 3 partly withdrawn, 4 withdrawn (a
//  withdrawal of everything: all four scope lists empty).
#define CONSENT_STATUS                                                                       \
    "(CASE WHEN EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = c.id"        \
    "  AND cardinality (w.recipient_agencies) = 0 AND cardinality (w.recipient_sectors) = 0" \
    "  AND cardinality (w.categories) = 0 AND cardinality (w.purposes) = 0) THEN 4"          \
    " WHEN EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = c.id) THEN 3"     \
    " WHEN c.valid_until < " REPORT_NOW " THEN 2 ELSE 1 END)::text"

//  The columns of every consent table: the consent's state now.
#define CONSENT_STATE_COLUMNS                                                            \
    .dims = s_consent_dims, .filter = "true", .category_sql = CONSENT_STATUS,            \
    .labels = s_consent_states, .n_labels = 4, .category_name = "state"

static const char *s_consent_states[] = {"active", "expired", "partly withdrawn",
                                         "withdrawn"};

//  A disclosure's ground as a column value (1..6, see the labels below).
#define DISCLOSURE_GROUND                                                                \
    "(CASE d.basis WHEN 'consent' THEN 1 WHEN 'legal_obligation' THEN 2"                 \
    " WHEN 'public_task' THEN 3 WHEN 'vital_interests' THEN 4"                           \
    " WHEN 'safeguarding_override' THEN 5 ELSE 6 END)::text"

int
reporting_consent (reader_t *rd, const Kinnet__V1__RunReport *request,
                   Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    //  (Static, as every array a table_spec_t points to: the tables are made after
    //  this function has returned.)
    static const char *disclosure_dims[] = {
        "''",
        "date_trunc ('month', d.at AT TIME ZONE 'UTC')",
        "date_trunc ('week', d.at AT TIME ZONE 'UTC')",
        NULL,
        NULL,
        "a.sector",
        NULL,
        "a.name"};
    static const char *bases[] = {
        "consent",         "legal_obligation",      "public_task",
        "vital_interests", "safeguarding_override", "other"};
    static const char *reviews[] = {"justified", "not justified", "awaiting review",
                                    "review overdue"};
    Kinnet__V1__ReportSection *consents = reporting_section (
        "consents", "Consents recorded in the period, by their state now",
        "Rows follow the first dimension (agency and sector: of the agency that recorded "
        "it). A consent covers several purposes and data categories: it counts once in "
        "each.");
    reporting_add_section (report, consents);
    const table_spec_t consent_tables[] = {
        {.title = "Consents",
         .base = BASE_CUSTOM,
         .from_sql = CONSENT_FROM,
         CONSENT_STATE_COLUMNS},
        {.title = "Consents by purpose",
         .base = BASE_CUSTOM,
         .from_sql = "FROM (SELECT c.*, c.recorded_at AS at FROM consent.record c) c"
                     " CROSS JOIN LATERAL unnest (c.purposes) AS p (purpose)"
                     " WHERE at >= $1::date AND at < $2::date",
         CONSENT_STATE_COLUMNS,
         .row_sql = "p.purpose::text",
         .row_enum = &kinnet__v1__purpose__descriptor,
         .row_name = "purpose"},
        {.title = "Consents by data category",
         .base = BASE_CUSTOM,
         .from_sql = "FROM (SELECT c.*, c.recorded_at AS at FROM consent.record c) c"
                     " CROSS JOIN LATERAL unnest (c.categories) AS k (category)"
                     " WHERE at >= $1::date AND at < $2::date",
         CONSENT_STATE_COLUMNS,
         .row_sql = "k.category::text",
         .row_enum = &kinnet__v1__data_category__descriptor,
         .row_name = "category"},
        {.title = "Consents running out in the 30 days after the period",
         .base = BASE_CUSTOM,
         .from_sql =
             "FROM (SELECT c.*, c.valid_until AS at FROM consent.record c) c"
             " JOIN core.agency a ON a.id = c.recorded_by"
             " WHERE $1::date IS NOT NULL AND at >= $2::date AND at < $2::date + 30",
         CONSENT_STATE_COLUMNS},
    };
    if (reporting_add_tables (rd, &rows_only, consents, consent_tables, 4, err))
        return -1;
    Kinnet__V1__ReportSection *disclosures = reporting_section (
        "disclosures", "Disclosures of personal data in the period, by ground",
        "Every time data about a person left Kinnet for an agency, with the ground it left "
        "on. Rows follow the first dimension (agency and sector: of the recipient); the "
        "second table counts each data category disclosed.");
    reporting_add_section (report, disclosures);
    const table_spec_t disclosure_tables[] = {
        {.title = "Disclosures",
         .base = BASE_CUSTOM,
         .from_sql = "FROM core.disclosure d JOIN core.agency a ON a.id = d.recipient_id"
                     " WHERE d.at >= $1::date AND d.at < $2::date",
         .dims = disclosure_dims,
         .filter = "true",
         .category_sql = DISCLOSURE_GROUND,
         .labels = bases,
         .n_labels = 6,
         .category_name = "ground"},
        {.title = "Data categories disclosed",
         .base = BASE_CUSTOM,
         .from_sql = "FROM core.disclosure d CROSS JOIN LATERAL unnest (d.categories)"
                     " AS k (category) WHERE d.at >= $1::date AND d.at < $2::date",
         .dims = s_consent_dims,
         .filter = "true",
         .category_sql = DISCLOSURE_GROUND,
         .labels = bases,
         .n_labels = 6,
         .category_name = "ground",
         .row_sql = "k.category::text",
         .row_enum = &kinnet__v1__data_category__descriptor,
         .row_name = "category"},
    };
    if (reporting_add_tables (rd, &rows_only, disclosures, disclosure_tables, 2, err))
        return -1;
    Kinnet__V1__ReportSection *overrides = reporting_section (
        "overrides", "Safeguarding overrides requested in the period, by review",
        "Every override is reviewed by a data-protection officer; overdue: its review date "
        "has passed without a review. Rows follow the first dimension (agency and sector: "
        "of the agency that requested it).");
    reporting_add_section (report, overrides);
    const table_spec_t override_table[] = {
        {.title = "Overrides",
         .base = BASE_CUSTOM,
         .from_sql = "FROM (SELECT o.*, o.requested_at AS at FROM consent.override o) o"
                     " JOIN core.agency a ON a.id = o.requested_by"
                     " WHERE at >= $1::date AND at < $2::date",
         .dims = s_consent_dims,
         .filter = "true",
         .category_sql =
             "(CASE WHEN o.reviewed_at IS NOT NULL THEN CASE WHEN"
             " o.review_decision = 1 THEN 1 ELSE 2 END WHEN o.review_due_at < " REPORT_NOW
             " THEN 4 ELSE 3 END)::text",
         .labels = reviews,
         .n_labels = 4,
         .category_name = "review"},
    };
    return reporting_add_tables (rd, &rows_only, overrides, override_table, 1, err);
}
