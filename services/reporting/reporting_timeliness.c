/*  reporting_timeliness: the "timeliness" report. Needs routed in the period by what
    became of them (a Placement: in time, late, still offered, not placed), offers
    that expired (each escalated to the referrer), and how many hours families waited
    for an acceptance and a first contact: medians and percentiles, given only over
    groups large enough to reveal nobody. */
#include "reporting_report_int.h"
#include "kn_alloc.h"

//  What became of a need: a Placement value, kept by PostgreSQL (0011).
#define PLACEMENT_SQL "nd.placement::text"

//  The timeliness statistics, by urgency: how long needs took to be accepted and to
//  get a first contact, against the deadline. A statistic is given only over a group
//  at least as large as the suppression threshold whose count is itself published.
enum { TIME_COLUMNS = 7, TIME_URGENCIES = 4 };

//  The statistics of each urgency (row u-1: urgency u), as the raw query or the
//  histograms give them.
typedef struct {
    double stats[TIME_URGENCIES][TIME_COLUMNS];
    bool present[TIME_URGENCIES][TIME_COLUMNS];
    int64_t contacts[TIME_URGENCIES], placed[TIME_URGENCIES];
} time_stats_t;

static int s_time_cells (job_t *job, const time_stats_t *t, const kn_sdc_config_t *config,
                         kn_error_t *err);

static int
s_time_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config, kn_error_t *err)
{
    time_stats_t t;
    memset (&t, 0, sizeof t);
    for (int i = 0; i < PQntuples (rows); i++) {
        int u = atoi (PQgetvalue (rows, i, 0)) - 1;
        if (u < 0 || u >= TIME_URGENCIES)
            continue;
        t.placed[u] = atoll (PQgetvalue (rows, i, 1));
        static const int source[] = {0, 2, 3, 4, 5, 7, 8}; // result column of each
        for (int c = 1; c < TIME_COLUMNS; c++)
            if (!PQgetisnull (rows, i, source[c])) {
                t.stats[u][c] = atof (PQgetvalue (rows, i, source[c]));
                t.present[u][c] = true;
            }
        t.contacts[u] = atoll (PQgetvalue (rows, i, 6));
    }
    return s_time_cells (job, &t, config, err);
}

//  percentile_cont (p) over a histogram: count[k] values of bucket[k] / 10 hours,
//  buckets ascending, n values in all (n > 0): the value at rank p (n - 1), between
//  the two values around it as PostgreSQL interpolates.
static double
s_percentile (const int *bucket, const int64_t *count, size_t buckets, int64_t n, double p)
{
    double rank = p * (double)(n - 1);
    int64_t below = (int64_t)rank, above = below + (rank > (double)below);
    double lo = 0, hi = 0;
    int64_t seen = 0;
    for (size_t k = 0; k < buckets; k++) {
        if (seen <= below && below < seen + count[k])
            lo = bucket[k] / 10.0;
        if (seen <= above && above < seen + count[k]) {
            hi = bucket[k] / 10.0;
            break;
        }
        seen += count[k];
    }
    return lo + (rank - (double)below) * (hi - lo);
}

//  The histograms' rows (urgency, measure, bucket, count), ordered: the statistics
//  from them. Counts exact; percentiles within 0.05 h (the buckets' half width).
static int
s_time_hist_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config,
                   kn_error_t *err)
{
    time_stats_t t;
    memset (&t, 0, sizeof t);
    int n_rows = PQntuples (rows);
    int *bucket = calloc ((size_t)n_rows + 1, sizeof *bucket);
    int64_t *count = calloc ((size_t)n_rows + 1, sizeof *count);
    if (!bucket || !count) {
        free (bucket);
        free (count);
        return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    }
    for (int i = 0; i < n_rows;) {
        //  One (urgency, measure) group: rows i..k-1.
        int u = atoi (PQgetvalue (rows, i, 0)) - 1, m = atoi (PQgetvalue (rows, i, 1));
        int k = i;
        int64_t n = 0;
        while (k < n_rows && atoi (PQgetvalue (rows, k, 0)) - 1 == u &&
               atoi (PQgetvalue (rows, k, 1)) == m) {
            bucket[k - i] = atoi (PQgetvalue (rows, k, 2));
            count[k - i] = atoll (PQgetvalue (rows, k, 3));
            n += count[k - i];
            k++;
        }
        size_t buckets = (size_t)(k - i);
        i = k;
        if (u < 0 || u >= TIME_URGENCIES || n == 0)
            continue;
        //  Columns: 1, 2 acceptance; 3 deadline; 4 share in time; 5, 6 contact.
        if (m == 1 || m == 3) {
            int c = m == 1 ? 1 : 5;
            t.stats[u][c] = s_percentile (bucket, count, buckets, n, 0.5);
            t.stats[u][c + 1] = s_percentile (bucket, count, buckets, n, 0.9);
            t.present[u][c] = t.present[u][c + 1] = true;
            if (m == 1)
                t.placed[u] = n;
            else
                t.contacts[u] = n;
        } else if (m == 2) {
            t.stats[u][3] = s_percentile (bucket, count, buckets, n, 0.5);
            t.present[u][3] = true;
        } else if (m == 4) {
            int64_t in_time = 0;
            for (size_t b = 0; b < buckets; b++)
                in_time += bucket[b] == 1 ? count[b] : 0;
            t.stats[u][4] = 100 * ((double)in_time / (double)n);
            t.present[u][4] = true;
        }
    }
    free (bucket);
    free (count);
    return s_time_cells (job, &t, config, err);
}

static int
s_time_cells (job_t *job, const time_stats_t *t, const kn_sdc_config_t *config,
              kn_error_t *err)
{
    static const char *columns[] = {"needs placed",
                                    "median hours to acceptance",
                                    "90th percentile hours to acceptance",
                                    "deadline hours",
                                    "placed within deadline (%)",
                                    "median hours to first contact",
                                    "90th percentile hours to first contact"};
    enum { N_COLUMNS = TIME_COLUMNS, N_URGENCY = TIME_URGENCIES };
    //  Row u-1 holds urgency u; the placed counts are protected like any table.
    const int64_t *placed_raw = t->placed, *contacts = t->contacts;
    kn_sdc_table_t *counts = kn_sdc_table_new (N_URGENCY, 1);
    if (!counts)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    for (int u = 0; u < N_URGENCY; u++)
        if (placed_raw[u])
            kn_sdc_table_set (counts, (size_t)u, 0, placed_raw[u]);
    if (kn_sdc_table_protect (counts, config, err)) {
        kn_sdc_table_destroy (&counts);
        return -1;
    }
    Kinnet__V1__ReportTable *out = kn_malloc (sizeof *out);
    kinnet__v1__report_table__init (out);
    out->title =
        kn_strdup ("Time to acceptance and to first contact, from routing, in hours");
    out->row_dimension = kn_strdup ("urgency");
    out->column_dimension = kn_strdup ("statistic");
    out->statistics = true;
    out->row_labels = kn_calloc (N_URGENCY, sizeof (char *));
    for (int u = 0; u < N_URGENCY; u++) {
        char number[4];
        snprintf (number, sizeof number, "%d", u + 1);
        out->row_labels[out->n_row_labels++] =
            reporting_display (KINNET__V1__REPORT_DIMENSION__BY_URGENCY, number);
    }
    out->column_labels = kn_calloc (N_COLUMNS, sizeof (char *));
    for (int c = 0; c < N_COLUMNS; c++)
        out->column_labels[out->n_column_labels++] = kn_strdup (columns[c]);
    out->cells = kn_calloc (N_URGENCY * N_COLUMNS, sizeof (Kinnet__V1__ReportCell *));
    for (int u = 0; u < N_URGENCY; u++) {
        int64_t placed = 0;
        bool shown = kn_sdc_cell (counts, (size_t)u, 0, &placed);
        //  A median or share over a group of at least the threshold reveals nobody, even
        //  where the group's count is withheld only to protect another count.
        bool accept_ok = kn_sdc_statistic_allowed (config, placed_raw[u]);
        bool contact_ok = kn_sdc_statistic_allowed (config, contacts[u]);
        for (int c = 0; c < N_COLUMNS; c++) {
            bool allowed = c == 0   ? shown
                           : c == 3 ? true
                           : c >= 5 ? contact_ok
                                    : accept_ok;
            bool has = c == 0 || t->present[u][c];
            Kinnet__V1__ReportCell *cell = reporting_cell (allowed && has, 0);
            //  The deadline is a setting, not a statistic about people: always shown
            //  when there were offers. A missing statistic (nobody) is withheld too.
            if (c == 0 && shown) {
                cell->number = (double)placed;
                cell->value = placed;
            } else if (allowed && has)
                cell->number = t->stats[u][c];
            out->withheld += cell->withheld;
            out->cells[out->n_cells++] = cell;
        }
    }
    kn_sdc_table_destroy (&counts);
    reporting_put (job->section, job->slot, out);
    return 0;
}

//  Add the query of the timeliness statistics; its table goes to section.
static void
s_time_table (reader_t *rd, const Kinnet__V1__RunReport *request,
              Kinnet__V1__ReportSection *section)
{
    //  date_part, not extract: since PostgreSQL 14 extract returns numeric, and sorting
    //  a million numerics for each percentile took twice as long as float8 does.
    const char *sql =
        "SELECT nd.urgency,"
        " count (*) FILTER (WHERE t.accepted_at IS NOT NULL),"
        " percentile_cont (0.5) WITHIN GROUP (ORDER BY date_part ('epoch', t.accepted_at - at)"
        "  / 3600) FILTER (WHERE t.accepted_at IS NOT NULL),"
        " percentile_cont (0.9) WITHIN GROUP (ORDER BY date_part ('epoch', t.accepted_at - at)"
        "  / 3600) FILTER (WHERE t.accepted_at IS NOT NULL),"
        " percentile_cont (0.5) WITHIN GROUP (ORDER BY date_part ('epoch', t.first_deadline"
        "  - t.first_offered) / 3600) FILTER (WHERE t.first_offered IS NOT NULL),"
        " 100 * avg ((t.accepted_at <= t.first_deadline)::int::float8)"
        "  FILTER (WHERE t.accepted_at IS NOT NULL),"
        " count (*) FILTER (WHERE t.contact_at IS NOT NULL),"
        " percentile_cont (0.5) WITHIN GROUP (ORDER BY date_part ('epoch', t.contact_at - at)"
        "  / 3600) FILTER (WHERE t.contact_at IS NOT NULL),"
        " percentile_cont (0.9) WITHIN GROUP (ORDER BY date_part ('epoch', t.contact_at - at)"
        "  / 3600) FILTER (WHERE t.contact_at IS NOT NULL)" NEED_FROM " GROUP BY 1";
    section->tables = kn_calloc (1, sizeof (Kinnet__V1__ReportTable *));
    //  The slowest query of all the reports (its sorts): sent first, the others of the
    //  report run beside it. With rollups: the histograms of the clean days, and those
    //  of the raw stretches made on the fly, as the job makes them (migration 0043).
    if (rd->rollups)
        sql = "SELECT urgency, measure, bucket, sum (n)::bigint FROM ("
              " SELECT h.urgency, h.measure, h.bucket, h.n FROM rollup.need_hours h"
              "  JOIN clean c ON c.day = h.day"
              " UNION ALL SELECT nd.urgency, m.measure, m.bucket, count (*) FROM raw"
              "  CROSS JOIN LATERAL (SELECT nd.* FROM routing.need nd"
              "   WHERE nd.created_at >= raw.lo AND nd.created_at < raw.hi OFFSET 0) nd"
              "  CROSS JOIN LATERAL (VALUES"
              "   (1, round (date_part ('epoch', nd.accepted_at - nd.created_at) / 360)),"
              "   (2, CASE WHEN nd.first_offered_at IS NOT NULL THEN round (date_part"
              "    ('epoch', nd.first_deadline_at - nd.first_offered_at) / 360) END),"
              "   (3, round (date_part ('epoch', nd.first_contact_at - nd.created_at) / 360)),"
              "   (4, CASE WHEN nd.accepted_at IS NOT NULL THEN"
              "    (nd.accepted_at <= nd.first_deadline_at)::int END)) m (measure, bucket)"
              "  WHERE m.bucket IS NOT NULL GROUP BY 1, 2, 3) u"
              " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    char with[4096];
    if (rd->rollups)
        snprintf (with, sizeof with, "%s %s", reporting_rollup_days (2), sql);
    reporting_job_add (rd, rd->rollups ? with : sql,
                       rd->rollups ? s_time_hist_build : s_time_build, request, section, 0)
        ->first = true;
}

int
reporting_timeliness (reader_t *rd, const Kinnet__V1__RunReport *request,
                      Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__ReportSection *placement = reporting_section (
        "placement", "Needs routed in the period, by what became of them",
        "In time: accepted before the first offer's deadline. Late: accepted only after an "
        "offer expired or was declined. Rows follow the first dimension (agency: the "
        "referring agency).");
    reporting_add_section (report, placement);
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    const table_spec_t placement_table[] = {
        {.title = "Needs routed",
         .base = BASE_NEED,
         .filter = "true",
         .category_sql = PLACEMENT_SQL,
         .category = &kinnet__v1__placement__descriptor,
         .category_name = "placement",
         .source = 2,
         .rollup = "sum (x.n)",
         .rollup_category = "x.placement::text"},
    };
    if (reporting_add_tables (rd, &rows_only, placement, placement_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *escalations = reporting_section (
        "escalations",
        "Offers that expired in the period (each escalated to the referrer)",
        "Columns: the need's urgency. Rows follow the first dimension (month and week: of "
        "the expiry; agency: the agency that let it expire).");
    reporting_add_section (report, escalations);
    const table_spec_t escalation_table[] = {
        {.title = "Offers expired",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.decided_at",
         .filter = "i.status = 'expired'",
         .category_sql = "nd.urgency::text",
         .category = &kinnet__v1__urgency__descriptor,
         .category_name = "urgency",
         .source = 4,
         .rollup = "sum (x.n) FILTER (WHERE x.tab = 3)",
         .rollup_category = "x.category"},
    };
    if (reporting_add_tables (rd, &rows_only, escalations, escalation_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *time = reporting_section (
        "time", "How fast families got help",
        "Hours from the need being routed to its first acceptance and to the first contact "
        "with the family, against the deadline of the first offer. A median or percentile "
        "is given only over a group of at least the suppression threshold.");
    reporting_add_section (report, time);
    s_time_table (rd, request, time);
    return 0;
}
