/*  reporting_report: referrals, outcomes, offers and declines as protected tables. */
#include "reporting_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kinnet/v1/routing.pb-c.h"
#include "kn_log.h"
#include "kn_validate.h"

#define MAX_LABELS KN_SDC_MAX_SIDE
#define MAX_SPAN_DAYS 1100

//  -------------------------------------------------------------------------
//  Dimensions: the SQL expression of each, for the two kinds of table.

typedef enum { BASE_REFERRAL, BASE_INVOLVEMENT, BASE_NEED } base_t;

static const char *s_dimension_names[] = {"",        "month",  "week",    "district",
                                          "need",    "referring_sector", "urgency", "agency"};

//  Referral-based tables: r = intake.referral, a = the referring agency,
//  n.need = one need of the referral (only when the need dimension is used).
static const char *s_referral_sql[] = {
    "''",
    "to_char (r.received_at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "to_char (r.received_at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')",
    "r.district",
    "n.need::text",
    "a.sector",
    "r.urgency::text",
    "a.name",
};

//  Involvement-based tables: i = routing.involvement, nd = its need, r = the
//  referral, ra = the referring agency, a = the agency offered; `at` is the time
//  of the event the table counts (offered, decided, closed).
static const char *s_involvement_sql[] = {
    "''",
    "to_char (at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "to_char (at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')",
    "r.district",
    "nd.category::text",
    "ra.sector",
    "r.urgency::text",
    "a.name",
};

//  Need-based tables: nd = routing.need, r = its referral, ra = the referring
//  agency, t = the need's offers summed up (t.accepted_at, t.first_deadline,
//  t.first_offered, t.contact_at); `at` is when the need was routed.
static const char *s_need_sql[] = {
    "''",
    "to_char (at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "to_char (at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')",
    "r.district",
    "nd.category::text",
    "ra.sector",
    "nd.urgency::text",
    "ra.name",
};

#define NEED_FROM                                                                             \
    " FROM (SELECT nd.*, nd.created_at AS at FROM routing.need nd) nd"                       \
    " JOIN intake.referral r ON r.id = nd.referral_id"                                       \
    " JOIN core.agency ra ON ra.id = r.referring_agency_id"                                  \
    " LEFT JOIN LATERAL (SELECT min (i.decided_at) FILTER (WHERE i.status IN"                \
    "   ('accepted', 'closed', 'transferred')) AS accepted_at,"                              \
    "  (array_agg (i.deadline_at ORDER BY i.offered_at))[1] AS first_deadline,"              \
    "  min (i.offered_at) AS first_offered, min (i.first_contact_at) AS contact_at"          \
    "  FROM routing.involvement i WHERE i.need_id = nd.id) t ON true"                        \
    " WHERE at >= $1::date AND at < $2::date"

//  What became of a need: a Placement value.
#define PLACEMENT_SQL                                                                         \
    "(CASE WHEN t.accepted_at IS NOT NULL THEN CASE WHEN t.accepted_at <= t.first_deadline"  \
    " THEN 1 ELSE 2 END WHEN nd.status = 'offered' THEN 3 WHEN nd.status = 'unplaced'"       \
    " THEN 4 ELSE 5 END)::text"

//  -------------------------------------------------------------------------
//  Validation

int
reporting_report_validate (const Kinnet__V1__RunReport *request, kn_error_t *err)
{
    if (strcmp (request->report, "referrals") && strcmp (request->report, "declines")
        && strcmp (request->report, "timeliness"))
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "report",
                             "unknown report (referrals, declines, timeliness)");
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
//  Labels

typedef struct {
    char *items[MAX_LABELS];
    size_t count;
    int dimension;       //  ReportDimension, or -1 for a fixed category list
} labels_t;

//  Index of label, added when new; -1 when the list is full.
static int
s_label_index (labels_t *labels, const char *label)
{
    for (size_t i = 0; i < labels->count; i++)
        if (strcmp (labels->items[i], label) == 0)
            return (int) i;
    if (labels->count == MAX_LABELS)
        return -1;
    labels->items[labels->count] = strdup (label);
    return (int) labels->count++;
}

//  Need and urgency labels are enum values in SQL: sort by value, print names.
static bool
s_numeric (int dimension)
{
    return dimension == KINNET__V1__REPORT_DIMENSION__BY_NEED
           || dimension == KINNET__V1__REPORT_DIMENSION__BY_URGENCY;
}

static int
s_compare_text (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_compare_number (const void *a, const void *b)
{
    long x = atol (*(char *const *) a), y = atol (*(char *const *) b);
    return (x > y) - (x < y);
}

static const ProtobufCEnumDescriptor *
s_enum_of (int dimension)
{
    return dimension == KINNET__V1__REPORT_DIMENSION__BY_NEED      ? &kinnet__v1__need_category__descriptor
           : dimension == KINNET__V1__REPORT_DIMENSION__BY_URGENCY ? &kinnet__v1__urgency__descriptor
                                                                   : NULL;
}

//  The labels of an enum dimension: all its values (1..n).
static void
s_all_values (labels_t *labels, int dimension)
{
    const ProtobufCEnumDescriptor *descriptor = s_enum_of (dimension);
    for (unsigned v = 0; descriptor && v < descriptor->n_values; v++)
        if (descriptor->values[v].value > 0) {
            char number[12];
            snprintf (number, sizeof number, "%d", descriptor->values[v].value);
            s_label_index (labels, number);
        }
}

static char *
s_display (int dimension, const char *label)
{
    const ProtobufCEnumDescriptor *descriptor = s_enum_of (dimension);
    if (descriptor) {
        const ProtobufCEnumValue *value
            = protobuf_c_enum_descriptor_get_value (descriptor, atoi (label));
        if (value)
            return strdup (value->name);
    }
    return strdup (label);
}

static void
s_labels_free (labels_t *labels)
{
    for (size_t i = 0; i < labels->count; i++)
        free (labels->items[i]);
    labels->count = 0;
}

//  -------------------------------------------------------------------------
//  Tables

static Kinnet__V1__ReportCell *
s_cell (bool shown, int64_t value)
{
    Kinnet__V1__ReportCell *cell = malloc (sizeof *cell);
    kinnet__v1__report_cell__init (cell);
    cell->withheld = !shown;
    cell->value = shown ? value : 0;
    return cell;
}

typedef struct {
    const char *title;
    base_t base;
    const char *event_time;    //  involvement tables: the time column counted
    const char *filter;        //  SQL condition, a constant
    const char *category_sql;  //  fixed columns: SQL of the category value, or NULL
    const ProtobufCEnumDescriptor *category;   //  its enum (values 1..n are the columns)
    const char *category_name;
} table_spec_t;

//  Run one table's query and protect it.
static Kinnet__V1__ReportTable *
s_table (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
         const table_spec_t *spec, kn_error_t *err)
{
    int d1 = request->n_by > 0 ? request->by[0] : 0;
    int d2 = request->n_by > 1 ? request->by[1] : 0;
    bool need_join = d1 == KINNET__V1__REPORT_DIMENSION__BY_NEED
                     || d2 == KINNET__V1__REPORT_DIMENSION__BY_NEED;
    const char **dims = spec->base == BASE_REFERRAL      ? s_referral_sql
                        : spec->base == BASE_INVOLVEMENT ? s_involvement_sql
                                                         : s_need_sql;
    const char *column_sql = spec->category_sql ? spec->category_sql : dims[d2];
    char sql[2048];
    if (spec->base == BASE_REFERRAL)
        snprintf (sql, sizeof sql,
                  "SELECT %s, %s, count (*) FROM intake.referral r"
                  " JOIN core.agency a ON a.id = r.referring_agency_id%s"
                  " WHERE r.received_at >= $1::date AND r.received_at < $2::date AND (%s)"
                  " GROUP BY 1, 2",
                  dims[d1], column_sql,
                  need_join ? " CROSS JOIN LATERAL unnest (r.needs) AS n (need)" : "",
                  spec->filter);
    else if (spec->base == BASE_NEED)
        snprintf (sql, sizeof sql, "SELECT %s, %s, count (*)" NEED_FROM " AND (%s) GROUP BY 1, 2",
                  dims[d1], column_sql, spec->filter);
    else
        snprintf (sql, sizeof sql,
                  "SELECT %s, %s, count (*) FROM (SELECT i.*, %s AS at FROM routing.involvement i)"
                  " i JOIN routing.need nd ON nd.id = i.need_id"
                  " JOIN intake.referral r ON r.id = nd.referral_id"
                  " JOIN core.agency ra ON ra.id = r.referring_agency_id"
                  " JOIN core.agency a ON a.id = i.agency_id"
                  " WHERE at >= $1::date AND at < $2::date AND (%s) GROUP BY 1, 2",
                  dims[d1], column_sql, spec->event_time, spec->filter);
    const char *values[] = {request->from, request->to};
    PGresult *rows = kn_db_query (db, sql, 2, values, err);
    if (!rows)
        return NULL;

    labels_t row_labels = {.dimension = d1}, col_labels = {.dimension = spec->category ? -1 : d2};
    if (spec->category)   //  fixed columns, in enum order, all of them
        for (unsigned v = 1; v < spec->category->n_values; v++) {
            char number[12];
            snprintf (number, sizeof number, "%d", spec->category->values[v].value);
            s_label_index (&col_labels, number);
        }
    //  Every need category and urgency is a row or column even when nobody had it:
    //  an absent row would be a zero nobody sees.
    s_all_values (&row_labels, d1);
    if (!spec->category)
        s_all_values (&col_labels, d2);
    int n = PQntuples (rows);
    for (int i = 0; i < n; i++) {
        s_label_index (&row_labels, PQgetvalue (rows, i, 0));
        if (!spec->category)
            s_label_index (&col_labels, PQgetvalue (rows, i, 1));
    }
    qsort (row_labels.items, row_labels.count, sizeof (char *),
           s_numeric (d1) ? s_compare_number : s_compare_text);
    if (!spec->category)
        qsort (col_labels.items, col_labels.count, sizeof (char *),
               s_numeric (d2) ? s_compare_number : s_compare_text);
    if (row_labels.count == 0)
        s_label_index (&row_labels, "");
    if (col_labels.count == 0)
        s_label_index (&col_labels, "");

    kn_sdc_table_t *table = kn_sdc_table_new (row_labels.count, col_labels.count);
    for (int i = 0; table && i < n; i++) {
        int r = s_label_index (&row_labels, PQgetvalue (rows, i, 0));
        int c = s_label_index (&col_labels, PQgetvalue (rows, i, 1));
        if (r >= 0 && c >= 0)
            kn_sdc_table_set (table, (size_t) r, (size_t) c, atoll (PQgetvalue (rows, i, 2)));
    }
    PQclear (rows);
    Kinnet__V1__ReportTable *out = NULL;
    if (!table)
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "by",
                      "more than %d rows or columns: choose a coarser breakdown", MAX_LABELS);
    else if (kn_sdc_table_protect (table, config, err) == 0) {
        out = malloc (sizeof *out);
        kinnet__v1__report_table__init (out);
        out->title = strdup (spec->title);
        out->row_dimension = strdup (s_dimension_names[d1]);
        out->column_dimension
            = strdup (spec->category ? spec->category_name : s_dimension_names[d2]);
        size_t rows_n = row_labels.count, cols_n = col_labels.count;
        out->row_labels = calloc (rows_n, sizeof (char *));
        for (size_t r = 0; r < rows_n; r++)
            out->row_labels[out->n_row_labels++] = s_display (d1, row_labels.items[r]);
        out->column_labels = calloc (cols_n, sizeof (char *));
        for (size_t c = 0; c < cols_n; c++) {
            if (spec->category) {
                const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (
                    spec->category, atoi (col_labels.items[c]));
                out->column_labels[out->n_column_labels++] = strdup (value ? value->name : "?");
            }
            else
                out->column_labels[out->n_column_labels++] = s_display (d2, col_labels.items[c]);
        }
        out->cells = calloc (rows_n * cols_n, sizeof (Kinnet__V1__ReportCell *));
        int64_t value = 0;
        for (size_t r = 0; r < rows_n; r++)
            for (size_t c = 0; c < cols_n; c++) {
                bool shown = kn_sdc_cell (table, r, c, &value);
                out->cells[out->n_cells++] = s_cell (shown, value);
            }
        out->row_totals = calloc (rows_n, sizeof (Kinnet__V1__ReportCell *));
        for (size_t r = 0; r < rows_n; r++) {
            bool shown = kn_sdc_row_total (table, r, &value);
            out->row_totals[out->n_row_totals++] = s_cell (shown, value);
        }
        out->column_totals = calloc (cols_n, sizeof (Kinnet__V1__ReportCell *));
        for (size_t c = 0; c < cols_n; c++) {
            bool shown = kn_sdc_col_total (table, c, &value);
            out->column_totals[out->n_column_totals++] = s_cell (shown, value);
        }
        bool shown = kn_sdc_grand_total (table, &value);
        out->grand_total = s_cell (shown, value);
        out->withheld = (int32_t) kn_sdc_table_hidden (table);
    }
    kn_sdc_table_destroy (&table);
    s_labels_free (&row_labels);
    s_labels_free (&col_labels);
    return out;
}

static Kinnet__V1__ReportSection *
s_section (const char *name, const char *title, const char *note)
{
    Kinnet__V1__ReportSection *section = malloc (sizeof *section);
    kinnet__v1__report_section__init (section);
    section->name = strdup (name);
    section->title = strdup (title);
    section->note = strdup (note ? note : "");
    section->available = true;
    return section;
}

static int
s_add_tables (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
              Kinnet__V1__ReportSection *section, const table_spec_t *specs, size_t n,
              kn_error_t *err)
{
    section->tables = calloc (n, sizeof (Kinnet__V1__ReportTable *));
    for (size_t i = 0; i < n; i++) {
        Kinnet__V1__ReportTable *table = s_table (db, config, request, &specs[i], err);
        if (!table)
            return -1;
        section->tables[section->n_tables++] = table;
    }
    return 0;
}

static void
s_add_section (Kinnet__V1__Report *report, Kinnet__V1__ReportSection *section)
{
    report->sections
        = realloc (report->sections, (report->n_sections + 1) * sizeof (Kinnet__V1__ReportSection *));
    report->sections[report->n_sections++] = section;
}

//  -------------------------------------------------------------------------
//  The reports

static int
s_referrals (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
             Kinnet__V1__Report *report, kn_error_t *err)
{
    bool by_need = false;
    for (size_t i = 0; i < request->n_by; i++)
        by_need |= request->by[i] == KINNET__V1__REPORT_DIMENSION__BY_NEED;
    Kinnet__V1__ReportSection *referrals = s_section (
        "referrals", "Referrals received in the period",
        by_need ? "Broken down by need, a referral with several needs counts once per need."
                : "");
    s_add_section (report, referrals);
    const table_spec_t tables[] = {
        {"Referrals received", BASE_REFERRAL, NULL, "true", NULL, NULL, NULL},
        {"Referrals since withdrawn", BASE_REFERRAL, NULL, "r.status = 'withdrawn'", NULL, NULL,
         NULL},
        {"Referrals about a family already known (matched)", BASE_REFERRAL, NULL,
         "r.family_matched", NULL, NULL, NULL},
    };
    if (s_add_tables (db, config, request, referrals, tables, 3, err))
        return -1;
    Kinnet__V1__ReportSection *outcomes = s_section (
        "outcomes", "Involvements closed in the period, by outcome",
        "Rows follow the first dimension (month and week: of the closing); columns are "
        "outcomes. The agency is the one that worked with the family.");
    s_add_section (report, outcomes);
    const table_spec_t outcome_table[] = {
        {"Involvements closed", BASE_INVOLVEMENT, "i.closed_at", "i.status = 'closed'",
         "i.outcome::text", &kinnet__v1__outcome__descriptor, "outcome"},
    };
    //  Outcomes have their own columns: only the first dimension applies.
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    return s_add_tables (db, config, &rows_only, outcomes, outcome_table, 1, err);
}

static int
s_declines (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
            Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    Kinnet__V1__ReportSection *offers = s_section (
        "offers", "Offers made in the period, by what became of them",
        "Rows follow the first dimension (month and week: of the offer); the agency is the "
        "agency offered.");
    s_add_section (report, offers);
    const table_spec_t offer_table[] = {
        {"Offers", BASE_INVOLVEMENT, "i.offered_at", "true",
         "(array_position (ARRAY['offered', 'accepted', 'declined', 'expired', 'withdrawn',"
         " 'transferred', 'closed'], i.status))::text",
         &kinnet__v1__involvement_status__descriptor, "status"},
    };
    if (s_add_tables (db, config, &rows_only, offers, offer_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *declines = s_section (
        "declines", "Offers declined in the period, by reason",
        "Rows follow the first dimension (month and week: of the decline); the agency is the "
        "agency that declined.");
    s_add_section (report, declines);
    const table_spec_t decline_table[] = {
        {"Declines", BASE_INVOLVEMENT, "i.decided_at", "i.status = 'declined'",
         "i.decline_reason::text", &kinnet__v1__decline_reason__descriptor, "reason"},
    };
    return s_add_tables (db, config, &rows_only, declines, decline_table, 1, err);
}

//  The timeliness statistics, by urgency: how long needs took to be accepted and to
//  get a first contact, against the deadline. A statistic is given only over a group
//  at least as large as the suppression threshold whose count is itself published.
static Kinnet__V1__ReportTable *
s_time_table (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
              kn_error_t *err)
{
    static const char *columns[]
        = {"needs placed", "median hours to acceptance", "90th percentile hours to acceptance",
           "deadline hours", "placed within deadline (%)", "median hours to first contact",
           "90th percentile hours to first contact"};
    enum { N_COLUMNS = 7, N_URGENCY = 4 };
    const char *sql
        = "SELECT nd.urgency,"
          " count (*) FILTER (WHERE t.accepted_at IS NOT NULL),"
          " percentile_cont (0.5) WITHIN GROUP (ORDER BY extract (epoch FROM t.accepted_at - at)"
          "  / 3600) FILTER (WHERE t.accepted_at IS NOT NULL),"
          " percentile_cont (0.9) WITHIN GROUP (ORDER BY extract (epoch FROM t.accepted_at - at)"
          "  / 3600) FILTER (WHERE t.accepted_at IS NOT NULL),"
          " percentile_cont (0.5) WITHIN GROUP (ORDER BY extract (epoch FROM t.first_deadline"
          "  - t.first_offered) / 3600) FILTER (WHERE t.first_offered IS NOT NULL),"
          " 100.0 * avg ((t.accepted_at <= t.first_deadline)::int)"
          "  FILTER (WHERE t.accepted_at IS NOT NULL),"
          " count (*) FILTER (WHERE t.contact_at IS NOT NULL),"
          " percentile_cont (0.5) WITHIN GROUP (ORDER BY extract (epoch FROM t.contact_at - at)"
          "  / 3600) FILTER (WHERE t.contact_at IS NOT NULL),"
          " percentile_cont (0.9) WITHIN GROUP (ORDER BY extract (epoch FROM t.contact_at - at)"
          "  / 3600) FILTER (WHERE t.contact_at IS NOT NULL)" NEED_FROM " GROUP BY 1";
    const char *values[] = {request->from, request->to};
    PGresult *rows = kn_db_query (db, sql, 2, values, err);
    if (!rows)
        return NULL;
    //  Row u-1 holds urgency u; the placed counts are protected like any table.
    double stats[N_URGENCY][N_COLUMNS] = {{0}};
    bool present[N_URGENCY][N_COLUMNS] = {{false}};
    int64_t contacts[N_URGENCY] = {0}, placed_raw[N_URGENCY] = {0};
    kn_sdc_table_t *counts = kn_sdc_table_new (N_URGENCY, 1);
    for (int i = 0; i < PQntuples (rows); i++) {
        int u = atoi (PQgetvalue (rows, i, 0)) - 1;
        if (u < 0 || u >= N_URGENCY)
            continue;
        placed_raw[u] = atoll (PQgetvalue (rows, i, 1));
        kn_sdc_table_set (counts, (size_t) u, 0, placed_raw[u]);
        static const int source[] = {0, 2, 3, 4, 5, 7, 8};   // result column of each
        for (int c = 1; c < N_COLUMNS; c++)
            if (!PQgetisnull (rows, i, source[c])) {
                stats[u][c] = atof (PQgetvalue (rows, i, source[c]));
                present[u][c] = true;
            }
        contacts[u] = atoll (PQgetvalue (rows, i, 6));
    }
    PQclear (rows);
    if (kn_sdc_table_protect (counts, config, err)) {
        kn_sdc_table_destroy (&counts);
        return NULL;
    }
    Kinnet__V1__ReportTable *out = malloc (sizeof *out);
    kinnet__v1__report_table__init (out);
    out->title = strdup ("Time to acceptance and to first contact, from routing, in hours");
    out->row_dimension = strdup ("urgency");
    out->column_dimension = strdup ("statistic");
    out->statistics = true;
    out->row_labels = calloc (N_URGENCY, sizeof (char *));
    for (int u = 0; u < N_URGENCY; u++) {
        char number[4];
        snprintf (number, sizeof number, "%d", u + 1);
        out->row_labels[out->n_row_labels++]
            = s_display (KINNET__V1__REPORT_DIMENSION__BY_URGENCY, number);
    }
    out->column_labels = calloc (N_COLUMNS, sizeof (char *));
    for (int c = 0; c < N_COLUMNS; c++)
        out->column_labels[out->n_column_labels++] = strdup (columns[c]);
    out->cells = calloc (N_URGENCY * N_COLUMNS, sizeof (Kinnet__V1__ReportCell *));
    for (int u = 0; u < N_URGENCY; u++) {
        int64_t placed = 0;
        bool shown = kn_sdc_cell (counts, (size_t) u, 0, &placed);
        //  A median or share over a group of at least the threshold reveals nobody, even
        //  where the group's count is withheld only to protect another count.
        bool accept_ok = kn_sdc_statistic_allowed (config, placed_raw[u]);
        bool contact_ok = kn_sdc_statistic_allowed (config, contacts[u]);
        for (int c = 0; c < N_COLUMNS; c++) {
            bool allowed = c == 0 ? shown : c == 3 ? true : c >= 5 ? contact_ok : accept_ok;
            bool has = c == 0 || present[u][c];
            Kinnet__V1__ReportCell *cell = s_cell (allowed && has, 0);
            //  The deadline is a setting, not a statistic about people: always shown
            //  when there were offers. A missing statistic (nobody) is withheld too.
            if (c == 0 && shown) {
                cell->number = (double) placed;
                cell->value = placed;
            }
            else if (allowed && has)
                cell->number = stats[u][c];
            out->withheld += cell->withheld;
            out->cells[out->n_cells++] = cell;
        }
    }
    kn_sdc_table_destroy (&counts);
    return out;
}

static int
s_timeliness (kn_db_t *db, const kn_sdc_config_t *config, const Kinnet__V1__RunReport *request,
              Kinnet__V1__Report *report, kn_error_t *err)
{
    Kinnet__V1__ReportSection *placement = s_section (
        "placement", "Needs routed in the period, by what became of them",
        "In time: accepted before the first offer's deadline. Late: accepted only after an "
        "offer expired or was declined. Rows follow the first dimension (agency: the "
        "referring agency).");
    s_add_section (report, placement);
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    const table_spec_t placement_table[] = {
        {"Needs routed", BASE_NEED, NULL, "true", PLACEMENT_SQL,
         &kinnet__v1__placement__descriptor, "placement"},
    };
    if (s_add_tables (db, config, &rows_only, placement, placement_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *escalations = s_section (
        "escalations", "Offers that expired in the period (each escalated to the referrer)",
        "Columns: the need's urgency. Rows follow the first dimension (month and week: of "
        "the expiry; agency: the agency that let it expire).");
    s_add_section (report, escalations);
    const table_spec_t escalation_table[] = {
        {"Offers expired", BASE_INVOLVEMENT, "i.decided_at", "i.status = 'expired'",
         "nd.urgency::text", &kinnet__v1__urgency__descriptor, "urgency"},
    };
    if (s_add_tables (db, config, &rows_only, escalations, escalation_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *time = s_section (
        "time", "How fast families got help",
        "Hours from the need being routed to its first acceptance and to the first contact "
        "with the family, against the deadline of the first offer. A median or percentile "
        "is given only over a group of at least the suppression threshold.");
    s_add_section (report, time);
    Kinnet__V1__ReportTable *table = s_time_table (db, config, request, err);
    if (!table)
        return -1;
    time->tables = calloc (1, sizeof (Kinnet__V1__ReportTable *));
    time->tables[time->n_tables++] = table;
    return 0;
}

int
reporting_report_run (kn_db_t *db, const kn_sdc_config_t *config,
                      const Kinnet__V1__RunReport *request, int64_t now,
                      Kinnet__V1__Report **out, kn_error_t *err)
{
    *out = NULL;
    if (kn_db_ensure (db, err)
        || kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    Kinnet__V1__Report *report = malloc (sizeof *report);
    kinnet__v1__report__init (report);
    report->report = strdup (request->report);
    report->from = strdup (request->from);
    report->to = strdup (request->to);
    report->by = calloc (request->n_by + 1, sizeof (Kinnet__V1__ReportDimension));
    for (size_t i = 0; i < request->n_by; i++)
        report->by[report->n_by++] = request->by[i];
    report->generated_at = malloc (sizeof *report->generated_at);
    kinnet__v1__timestamp__init (report->generated_at);
    report->generated_at->seconds = now;
    char method[KN_SDC_METHOD_SIZE];
    report->method = strdup (kn_sdc_method (config, method, sizeof method));
    report->marker = strdup (KN_SDC_MARKER);
    int rc = strcmp (request->report, "referrals") == 0 ? s_referrals (db, config, request, report, err)
             : strcmp (request->report, "declines") == 0
                 ? s_declines (db, config, request, report, err)
                 : s_timeliness (db, config, request, report, err);
    kn_error_t ignored;
    kn_db_exec (db, "ROLLBACK", &ignored);
    if (rc) {
        kinnet__v1__report__free_unpacked (report, NULL);
        return -1;
    }
    *out = report;
    return 0;
}
