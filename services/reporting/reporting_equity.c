/*  reporting_equity: the "equity" report, by district. Referral and uptake rates per
    1,000 children where the population is known, and families nobody can speak to in
    their languages. */
#include "reporting_report_int.h"
#include "kn_alloc.h"

//  Rates by district over the population of the latest year loaded up to the
//  period's end; the section says so when no figures are loaded.
static int
s_rates_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config, kn_error_t *err)
{
    Kinnet__V1__ReportSection *rates = job->section;
    int n = PQntuples (rows);
    if (n == 0) {
        rates->available = false;
        free (rates->note);
        rates->note =
            kn_strdup ("No population figures are loaded for this period: load them "
                       "with kinnet admin population import FILE.csv.");
        return 0;
    }
    kn_sdc_table_t *counts = kn_sdc_table_new ((size_t)n, 2);
    for (int r = 0; counts && r < n; r++) {
        kn_sdc_table_set (counts, (size_t)r, 0, atoll (PQgetvalue (rows, r, 2)));
        kn_sdc_table_set (counts, (size_t)r, 1, atoll (PQgetvalue (rows, r, 3)));
    }
    if (!counts || kn_sdc_table_protect (counts, config, err)) {
        if (!counts)
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "by", "too many districts");
        kn_sdc_table_destroy (&counts);
        return -1;
    }
    static const char *columns[] = {"children", "referrals",
                                    "referrals per 1,000 children", "needs placed",
                                    "needs placed per 1,000 children"};
    Kinnet__V1__ReportTable *out = kn_malloc (sizeof *out);
    kinnet__v1__report_table__init (out);
    char title[128];
    snprintf (title, sizeof title,
              "Referral and uptake rates by district (population of %s)",
              PQgetvalue (rows, 0, 4));
    out->title = kn_strdup (title);
    out->row_dimension = kn_strdup ("district");
    out->column_dimension = kn_strdup ("measure");
    out->statistics = true;
    out->row_labels = kn_calloc ((size_t)n, sizeof (char *));
    out->column_labels = kn_calloc (5, sizeof (char *));
    for (int c = 0; c < 5; c++)
        out->column_labels[out->n_column_labels++] = kn_strdup (columns[c]);
    out->cells = kn_calloc ((size_t)n * 5, sizeof (Kinnet__V1__ReportCell *));
    for (int r = 0; r < n; r++) {
        out->row_labels[out->n_row_labels++] = kn_strdup (PQgetvalue (rows, r, 0));
        double children = atof (PQgetvalue (rows, r, 1));
        //  The population is a published statistic; the counts are protected; a rate
        //  over a withheld count (or a small one) would give it back, so it goes too.
        Kinnet__V1__ReportCell *population = reporting_cell (true, (int64_t)children);
        population->number = children;
        out->cells[out->n_cells++] = population;
        for (int k = 0; k < 2; k++) {
            int64_t count = 0;
            bool shown = kn_sdc_cell (counts, (size_t)r, (size_t)k, &count);
            Kinnet__V1__ReportCell *cell = reporting_cell (shown, count);
            cell->number = shown ? (double)count : 0;
            bool rate_ok = children > 0 &&
                           kn_sdc_cell_statistic_allowed (counts, (size_t)r, (size_t)k);
            Kinnet__V1__ReportCell *rate = reporting_cell (rate_ok, 0);
            rate->number = rate_ok ? 1000.0 * (double)count / children : 0;
            out->withheld += cell->withheld + rate->withheld;
            out->cells[out->n_cells++] = cell;
            out->cells[out->n_cells++] = rate;
        }
    }
    kn_sdc_table_destroy (&counts);
    reporting_put (rates, 0, out);
    return 0;
}

//  The languages spoken in each district by some active, accepting agency covering
//  it (a few rows): each case is then one array overlap, not a look-up. Read when
//  the report runs, from rollups too: agencies and their languages change.
#define SPOKEN                                                                           \
    "(SELECT district, array_agg (language) AS languages FROM"                           \
    "  (SELECT a.district, l.language FROM core.agency a"                                \
    "   JOIN core.agency_language l ON l.agency_id = a.id"                               \
    "   WHERE a.active AND a.accepting"                                                  \
    "   UNION SELECT d.district, l.language FROM core.agency_district d"                 \
    "   JOIN core.agency a ON a.id = d.agency_id"                                        \
    "   JOIN core.agency_language l ON l.agency_id = a.id"                               \
    "   WHERE a.active AND a.accepting) pairs GROUP BY district) spoken"

static const char *s_language_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "c.district",
    NULL,
    NULL,
    "c.urgency::text",
    NULL,
};

int
reporting_equity (reader_t *rd, const Kinnet__V1__RunReport *request,
                  Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__ReportSection *rates = reporting_section (
        "rates", "Referral and uptake rates by district",
        "Per 1,000 children living in the district (the figures an administrator loaded with "
        "kinnet admin population import). Uptake: needs of the period's referrals that an "
        "agency took on. A rate over a withheld count is withheld.");
    reporting_add_section (report, rates);
    rates->tables = kn_calloc (1, sizeof (Kinnet__V1__ReportTable *));
#define RATES_SQL(with, r, n)                                                            \
    with " y AS (SELECT max (year) AS year FROM core.population"                         \
         "  WHERE year <= extract (year FROM $2::date - 1)),"                            \
         " p AS (SELECT district, children FROM core.population, y"                      \
         "  WHERE population.year = y.year),"                                            \
         " r AS (" r "), n AS (" n ")"                                                   \
         " SELECT p.district, p.children, coalesce (r.referrals, 0),"                    \
         "  coalesce (n.placed, 0), (SELECT year FROM y)"                                \
         " FROM p LEFT JOIN r USING (district) LEFT JOIN n USING (district)"             \
         " ORDER BY p.district"
    static const char raw_sql[] = RATES_SQL (
        "WITH",
        "SELECT r.district, count (*) AS referrals FROM intake.referral r"
        " WHERE r.received_at >= $1::date AND r.received_at < $2::date GROUP BY 1",
        "SELECT nd.district, count (*) AS placed FROM routing.need nd"
        " WHERE nd.created_at >= $1::date AND nd.created_at < $2::date"
        " AND nd.accepted_at IS NOT NULL GROUP BY 1");
    //  With rollups: the clean days' counts by district (placement 1 and 2: accepted),
    //  and the raw stretches' (reporting_rollup_sql.c).
    static const char rollup_sql[] = RATES_SQL (
        ",",
        "SELECT district, sum (k)::bigint AS referrals FROM ("
        " SELECT x.district, x.received AS k FROM rollup.referral x"
        "  JOIN clean1 c ON c.day = x.day WHERE x.g = 1"
        " UNION ALL SELECT r.district, count (*) FROM raw1 CROSS JOIN LATERAL"
        "  (SELECT r.district FROM intake.referral r WHERE r.received_at >= raw1.lo"
        "   AND r.received_at < raw1.hi OFFSET 0) r GROUP BY 1) u GROUP BY 1",
        "SELECT district, sum (k)::bigint AS placed FROM ("
        " SELECT x.district, x.n AS k FROM rollup.need x JOIN clean2 c ON c.day = x.day"
        "  WHERE x.g = 1 AND x.placement IN (1, 2)"
        " UNION ALL SELECT nd.district, count (*) FROM raw2 CROSS JOIN LATERAL"
        "  (SELECT nd.district FROM routing.need nd WHERE nd.created_at >= raw2.lo"
        "   AND nd.created_at < raw2.hi AND nd.accepted_at IS NOT NULL OFFSET 0) nd"
        "  GROUP BY 1) u GROUP BY 1");
    char with[8192];
    snprintf (with, sizeof with, "%s%s", reporting_rollup_days_referrals_needs (),
              rollup_sql);
    reporting_job_add (rd, rd->rollups ? with : raw_sql, s_rates_build, request, rates, 0);
    Kinnet__V1__ReportSection *languages = reporting_section (
        "languages", "Families nobody in their district speaks to in their languages",
        "Cases opened in the period for a family with languages on record, where no active, "
        "accepting agency covering the district speaks any of them (interpreters not "
        "counted). Rows follow the first dimension (month, week, district or urgency).");
    reporting_add_section (report, languages);
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    static const char *spoken[] = {"a local agency speaks a family language",
                                   "no local agency does"};
    const table_spec_t language_table[] = {
        {.title = "Cases opened",
         .base = BASE_CUSTOM,
         .from_sql = "FROM (SELECT c.*, c.opened_at AS at FROM routing.case c) c"
                     " LEFT JOIN " SPOKEN " ON spoken.district = c.district"
                     " WHERE at >= $1::date AND at < $2::date",
         .from_raw_sql =
             "FROM raw CROSS JOIN LATERAL (SELECT c.*, c.opened_at AS at FROM routing.case c"
             "  WHERE c.opened_at >= raw.lo AND c.opened_at < raw.hi OFFSET 0) c"
             " LEFT JOIN " SPOKEN " ON spoken.district = c.district WHERE true",
         .source = 6,
         .rollup = "sum (x.n) FILTER (WHERE cardinality (x.languages) > 0)",
         .rollup_category =
             "(CASE WHEN x.languages && spoken.languages THEN 1 ELSE 2 END)::text",
         .rollup_join = " LEFT JOIN " SPOKEN " ON spoken.district = x.district",
         .dims = s_language_dims,
         .filter = "cardinality (c.languages) > 0",
         .category_sql =
             "(CASE WHEN c.languages && spoken.languages THEN 1 ELSE 2 END)::text",
         .labels = spoken,
         .n_labels = 2,
         .category_name = "languages"},
    };
    return reporting_add_tables (rd, &rows_only, languages, language_table, 1, err);
}
