/*  reporting_query: a table's query, its SQL put together only from constant
    fragments chosen by enum values (the dimensions below, the constants of a
    table_spec_t), never from request text; the period is $1 and $2. Tables that
    differ only in their filter share one query, one pass over the data, with a count
    column each. A query is a job of the report's reader: it runs later, beside the
    others (reporting_sessions.c), and its rows become tables (reporting_table.c). */
#include "reporting_report_int.h"
#include "kn_alloc.h"

//  -------------------------------------------------------------------------
//  Dimensions: the SQL expression of each, for the two kinds of table.

const char *reporting_dimension_names[] = {
    "", "month", "week", "district", "need", "referring_sector", "urgency", "agency"};

//  Referral-based tables: r = intake.referral, a = the referring agency,
//  n.need = one need of the referral (only when the need dimension is used).
static const char *s_referral_sql[] = {
    "''",
    "date_trunc ('month', r.received_at AT TIME ZONE 'UTC')",
    "date_trunc ('week', r.received_at AT TIME ZONE 'UTC')",
    "r.district",
    "n.need::text",
    "a.sector",
    "r.urgency::text",
    "a.name",
};

//  Involvement-based tables: i = routing.involvement, nd = its need (which carries
//  its referral's district and referring agency, 0009), ra = the referring agency,
//  a = the agency offered; `at` is the time
//  of the event the table counts (offered, decided, closed). Those are LEFT JOINs on
//  primary keys: PostgreSQL leaves out the ones a table's dimensions do not use.
static const char *s_involvement_sql[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "nd.district",
    "nd.category::text",
    "ra.sector",
    "nd.urgency::text",
    "a.name",
};

//  Need-based tables: nd = routing.need, ra = the referring agency, t = what became
//  of the need (t.accepted_at, t.first_deadline,
//  t.first_offered, t.contact_at); `at` is when the need was routed.
static const char *s_need_sql[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "nd.district",
    "nd.category::text",
    "ra.sector",
    "nd.urgency::text",
    "ra.name",
};

//  Whether two tables differ only in their filter and title, so that one query
//  (one pass over the data) can count both.
static bool
s_same_query (const table_spec_t *a, const table_spec_t *b)
{
#define SAME(f) ((a->f == b->f) || (a->f && b->f && strcmp (a->f, b->f) == 0))
    return a->base == b->base && SAME (event_time) && SAME (category_sql) &&
           SAME (from_sql) && SAME (row_sql) && a->category == b->category &&
           a->labels == b->labels && a->dims == b->dims && a->row_enum == b->row_enum;
#undef SAME
}

//  Add a query whose tables go to section from slot on. The job is valid until the
//  next one is added.
job_t *
reporting_job_add (reader_t *rd, const char *sql, build_fn_t *build,
                   const Kinnet__V1__RunReport *request,
                   Kinnet__V1__ReportSection *section, size_t slot)
{
    rd->jobs = kn_realloc (rd->jobs, (rd->n_jobs + 1) * sizeof *rd->jobs);
    job_t *job = &rd->jobs[rd->n_jobs++];
    *job = (job_t){.sql = strdup (sql),
                   .build = build,
                   .request = *request,
                   .section = section,
                   .slot = slot};
    return job;
}

void
reporting_put (Kinnet__V1__ReportSection *section, size_t slot,
               Kinnet__V1__ReportTable *table)
{
    section->tables[slot] = table;
    if (section->n_tables <= slot)
        section->n_tables = slot + 1;
}

static int
s_tables_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config,
                kn_error_t *err)
{
    for (size_t i = 0; i < job->n; i++) {
        Kinnet__V1__ReportTable *table = reporting_table_build (
            rows, 2 + (int)i, config, &job->request, &job->specs[i], err);
        if (!table)
            return -1;
        reporting_put (job->section, job->slot + i, table);
    }
    return 0;
}

//  Add the query of n tables that differ only in their filters (one count column
//  each); each is protected once counted and goes to section->tables[slot + i]. 0, or
//  -1 when the request's dimensions do not apply.
static int
s_tables (reader_t *rd, const Kinnet__V1__RunReport *request, const table_spec_t *specs,
          size_t n, Kinnet__V1__ReportSection *section, size_t slot, kn_error_t *err)
{
    const table_spec_t *spec = &specs[0];
    int d1 = request->n_by > 0 ? request->by[0] : 0;
    int d2 = request->n_by > 1 ? request->by[1] : 0;
    const char *const *dims = spec->base == BASE_REFERRAL      ? s_referral_sql
                              : spec->base == BASE_INVOLVEMENT ? s_involvement_sql
                              : spec->base == BASE_NEED        ? s_need_sql
                                                               : spec->dims;
    bool fixed_columns = spec->category || spec->labels;
    if (spec->row_sql)
        d1 = 0; //  fixed rows: the first dimension does not apply
    int used[2] = {d1, fixed_columns ? 0 : d2};
    for (int k = 0; k < 2; k++)
        if (!dims[used[k]]) {
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "by",
                          "%s is not a dimension of \"%s\"",
                          reporting_dimension_names[used[k]], spec->title);
            return -1;
        }
    const char *row_sql = spec->row_sql ? spec->row_sql : dims[d1];
    const char *column_sql = spec->category_sql ? spec->category_sql : dims[d2];
    //  One count per table; rows no table counts are left out.
    char counts[2048] = "", sums[1024] = "", outer[1024] = "", any[2048] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used_c = strlen (counts), used_s = strlen (sums), used_o = strlen (outer),
               used_a = strlen (any);
        snprintf (counts + used_c, sizeof counts - used_c,
                  ", count (*) FILTER (WHERE %s) AS n%zu", specs[i].filter, i);
        snprintf (sums + used_s, sizeof sums - used_s, ", sum (n%zu)::bigint AS n%zu", i,
                  i);
        snprintf (outer + used_o, sizeof outer - used_o, ", n%zu", i);
        snprintf (any + used_a, sizeof any - used_a, "%s(%s)", i ? " OR " : "",
                  specs[i].filter);
    }
    //  Months and weeks are grouped by their start and only then written as labels:
    //  one label per group, not one per row.
    const char *format[2] = {"g1", "g2"};
    int shown[2] = {spec->row_sql ? 0 : d1, spec->category_sql ? 0 : d2};
    for (int k = 0; k < 2; k++)
        if (shown[k] == KINNET__V1__REPORT_DIMENSION__BY_MONTH)
            format[k] = k ? "to_char (g2, 'YYYY-MM')" : "to_char (g1, 'YYYY-MM')";
        else if (shown[k] == KINNET__V1__REPORT_DIMENSION__BY_WEEK)
            format[k] =
                k ? "to_char (g2, 'IYYY-\"W\"IW')" : "to_char (g1, 'IYYY-\"W\"IW')";
    //  With rollups, raw rows are read only for the stretches of the period that are
    //  not clean rolled-up days (reporting_rollup_sql); one index range scan each.
    bool rollup = rd->rollups && reporting_rollup_applies (specs, n);
    const char *referrals =
        rollup ? "raw CROSS JOIN LATERAL (SELECT r.* FROM intake.referral r"
                 " WHERE r.received_at >= raw.lo AND r.received_at < raw.hi OFFSET 0) r"
               : "intake.referral r";
    const char *period =
        rollup ? "true" : "r.received_at >= $1::date AND r.received_at < $2::date";
    char inner[8192];
    if (spec->base == BASE_CUSTOM)
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s %s AND (%s) GROUP BY 1, 2", row_sql,
                  column_sql, counts, rollup ? spec->from_raw_sql : spec->from_sql, any);
    else if (spec->base == BASE_REFERRAL &&
             (row_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED] ||
              column_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED])) {
        //  By need: count the referrals of each (other dimension, set of needs) first,
        //  then add each group's counts to each of its needs. A year has a few thousand
        //  such groups; unnesting a million referrals first and grouping the result took
        //  three times as long (and the planner, expecting ten needs a referral, sorted).
        bool need_row = row_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED];
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM (SELECT %s AS g1, %s AS g2, r.needs%s"
                  " FROM %s LEFT JOIN core.agency a ON a.id = r.referring_agency_id"
                  " WHERE %s AND (%s)"
                  " GROUP BY 1, 2, 3) p CROSS JOIN LATERAL unnest (p.needs) AS n (need)"
                  " GROUP BY 1, 2",
                  need_row ? row_sql : "p.g1", need_row ? "p.g2" : column_sql, sums,
                  need_row ? "''" : row_sql, need_row ? column_sql : "''", counts,
                  referrals, period, any);
    } else if (spec->base == BASE_REFERRAL)
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM %s"
                  " LEFT JOIN core.agency a ON a.id = r.referring_agency_id"
                  " WHERE %s AND (%s) GROUP BY 1, 2",
                  row_sql, column_sql, counts, referrals, period, any);
    else if (spec->base == BASE_NEED)
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s%s AND (%s) GROUP BY 1, 2", row_sql,
                  column_sql, counts, rollup ? NEED_FROM_RAW : NEED_FROM, any);
    else {
        char involvements[512];
        if (rollup)
            snprintf (
                involvements, sizeof involvements,
                "raw CROSS JOIN LATERAL (SELECT i.*, %s AS at FROM routing.involvement i"
                " WHERE %s >= raw.lo AND %s < raw.hi OFFSET 0) i",
                spec->event_time, spec->event_time, spec->event_time);
        else
            snprintf (involvements, sizeof involvements,
                      "(SELECT i.*, %s AS at FROM routing.involvement i) i",
                      spec->event_time);
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM %s"
                  " LEFT JOIN routing.need nd ON nd.id = i.need_id"
                  " LEFT JOIN core.agency ra ON ra.id = nd.referring_agency_id"
                  " LEFT JOIN core.agency a ON a.id = i.agency_id"
                  " WHERE %s AND (%s) GROUP BY 1, 2",
                  row_sql, column_sql, counts, involvements,
                  rollup ? "true" : "at >= $1::date AND at < $2::date", any);
    }
    char sql[16384];
    if (rollup) {
        char both[12288];
        if (reporting_rollup_sql (both, sizeof both, inner, specs, n, used[0], used[1]))
            return kn_error_set (err, KN_E_INTERNAL, NULL, "\"%s\": query too long",
                                 spec->title);
        snprintf (sql, sizeof sql, "%s SELECT %s, %s%s FROM (%s) x",
                  reporting_rollup_days (spec->source), format[0], format[1], outer,
                  both);
    } else
        snprintf (sql, sizeof sql, "SELECT %s, %s%s FROM (%s) x", format[0], format[1],
                  outer, inner);
    job_t *job = reporting_job_add (rd, sql, s_tables_build, request, section, slot);
    job->specs = kn_malloc (n * sizeof *specs);
    memcpy (job->specs, specs, n * sizeof *specs);
    job->n = n;
    return 0;
}

int
reporting_add_tables (reader_t *rd, const Kinnet__V1__RunReport *request,
                      Kinnet__V1__ReportSection *section, const table_spec_t *specs,
                      size_t n, kn_error_t *err)
{
    section->tables = kn_calloc (n, sizeof (Kinnet__V1__ReportTable *));
    //  Tables that differ only in their filter share one pass over the data.
    for (size_t i = 0; i < n;) {
        size_t k = i + 1;
        while (k < n && s_same_query (&specs[i], &specs[k]))
            k++;
        if (s_tables (rd, request, &specs[i], k - i, section, i, err))
            return -1;
        i = k;
    }
    return 0;
}
