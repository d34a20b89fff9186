/*  reporting_report: referrals, outcomes, offers and declines as protected tables. */
#include "reporting_report.h"

#include <errno.h>
#include <poll.h>
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

typedef enum { BASE_REFERRAL, BASE_INVOLVEMENT, BASE_NEED, BASE_CUSTOM } base_t;

static const char *s_dimension_names[] = {"",        "month",  "week",    "district",
                                          "need",    "referring_sector", "urgency", "agency"};

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

//  A need with what became of it (first offer and its deadline, acceptance, first
//  contact: kept on the need by routing, 0008), its referral and referring agency;
//  t.* names them as the report SQL expects.
#define NEED_FROM                                                                             \
    " FROM (SELECT nd.*, nd.created_at AS at FROM routing.need nd"                          \
    "  WHERE nd.created_at >= $1::date AND nd.created_at < $2::date) nd"                     \
    " LEFT JOIN core.agency ra ON ra.id = nd.referring_agency_id"                            \
    " CROSS JOIN LATERAL (SELECT nd.accepted_at, nd.first_deadline_at AS first_deadline,"    \
    "  nd.first_offered_at AS first_offered, nd.first_contact_at AS contact_at) t"           \
    " WHERE at >= $1::date AND at < $2::date"

//  What became of a need: a Placement value, kept by PostgreSQL (0011).
#define PLACEMENT_SQL "nd.placement::text"

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
    //  BASE_CUSTOM: the FROM clause (with the period's WHERE on `at`, $1 and $2) and
    //  each dimension's SQL (NULL: the dimension does not apply to this table).
    const char *from_sql;
    const char *const *dims;
    //  Fixed columns named by a list instead of an enum (SQL values 1..n_labels).
    const char *const *labels;
    size_t n_labels;
    //  Fixed rows instead of the first dimension (SQL values of row_enum).
    const char *row_sql;
    const ProtobufCEnumDescriptor *row_enum;
    const char *row_name;
} table_spec_t;

//  Whether two tables differ only in their filter and title, so that one query
//  (one pass over the data) can count both.
static bool
s_same_query (const table_spec_t *a, const table_spec_t *b)
{
#define SAME(f) ((a->f == b->f) || (a->f && b->f && strcmp (a->f, b->f) == 0))
    return a->base == b->base && SAME (event_time) && SAME (category_sql) && SAME (from_sql)
           && SAME (row_sql) && a->category == b->category && a->labels == b->labels
           && a->dims == b->dims && a->row_enum == b->row_enum;
#undef SAME
}

static Kinnet__V1__ReportTable *s_table_build (PGresult *rows, int count_column,
                                               const kn_sdc_config_t *config,
                                               const Kinnet__V1__RunReport *request,
                                               const table_spec_t *spec, kn_error_t *err);

//  -------------------------------------------------------------------------
//  Queries. A report first says which queries it needs and where their tables go;
//  the queries then run several at a time, each on its own session, all in one
//  snapshot; only then are the tables made, in the report's order.

typedef struct _job_t job_t;

//  Make a job's tables from its rows. 0 or -1.
typedef int (build_fn_t) (job_t *job, PGresult *rows, const kn_sdc_config_t *config,
                          kn_error_t *err);

struct _job_t {
    char *sql;                           //  parameters: $1 from, $2 to
    build_fn_t *build;
    bool first;                          //  sent before the others (a slow query)
    Kinnet__V1__RunReport request;       //  as the tables see it (by: the caller's array)
    table_spec_t *specs;                 //  s_tables_build: the n tables the query counts
                                         //  (copies; what they point to is static)
    size_t n;
    Kinnet__V1__ReportSection *section;  //  the tables go to section->tables[slot], ...
    size_t slot;
    PGresult *rows;
};

typedef struct {
    job_t *jobs;
    size_t n_jobs;
} reader_t;

//  Add a query whose tables go to section from slot on. The job is valid until the
//  next one is added.
static job_t *
s_job_add (reader_t *rd, const char *sql, build_fn_t *build, const Kinnet__V1__RunReport *request,
           Kinnet__V1__ReportSection *section, size_t slot)
{
    rd->jobs = realloc (rd->jobs, (rd->n_jobs + 1) * sizeof *rd->jobs);
    job_t *job = &rd->jobs[rd->n_jobs++];
    *job = (job_t) {.sql = strdup (sql), .build = build, .request = *request,
                    .section = section, .slot = slot};
    return job;
}

static void
s_put (Kinnet__V1__ReportSection *section, size_t slot, Kinnet__V1__ReportTable *table)
{
    section->tables[slot] = table;
    if (section->n_tables <= slot)
        section->n_tables = slot + 1;
}

static int
s_tables_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config, kn_error_t *err)
{
    for (size_t i = 0; i < job->n; i++) {
        Kinnet__V1__ReportTable *table
            = s_table_build (rows, 2 + (int) i, config, &job->request, &job->specs[i], err);
        if (!table)
            return -1;
        s_put (job->section, job->slot + i, table);
    }
    return 0;
}

//  Add the query of n tables that differ only in their filters (one count column
//  each); each is protected once counted and goes to section->tables[slot + i]. 0, or
//  -1 when the request's dimensions do not apply.
static int
s_tables (reader_t *rd, const Kinnet__V1__RunReport *request, const table_spec_t *specs, size_t n,
          Kinnet__V1__ReportSection *section, size_t slot, kn_error_t *err)
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
        d1 = 0;   //  fixed rows: the first dimension does not apply
    int used[2] = {d1, fixed_columns ? 0 : d2};
    for (int k = 0; k < 2; k++)
        if (!dims[used[k]]) {
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "by",
                          "%s is not a dimension of \"%s\"", s_dimension_names[used[k]],
                          spec->title);
            return -1;
        }
    const char *row_sql = spec->row_sql ? spec->row_sql : dims[d1];
    const char *column_sql = spec->category_sql ? spec->category_sql : dims[d2];
    //  One count per table; rows no table counts are left out.
    char counts[2048] = "", sums[1024] = "", outer[1024] = "", any[2048] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used_c = strlen (counts), used_s = strlen (sums), used_o = strlen (outer),
               used_a = strlen (any);
        snprintf (counts + used_c, sizeof counts - used_c, ", count (*) FILTER (WHERE %s) AS n%zu",
                  specs[i].filter, i);
        snprintf (sums + used_s, sizeof sums - used_s, ", sum (n%zu)::bigint AS n%zu", i, i);
        snprintf (outer + used_o, sizeof outer - used_o, ", n%zu", i);
        snprintf (any + used_a, sizeof any - used_a, "%s(%s)", i ? " OR " : "", specs[i].filter);
    }
    //  Months and weeks are grouped by their start and only then written as labels:
    //  one label per group, not one per row.
    const char *format[2] = {"g1", "g2"};
    int shown[2] = {spec->row_sql ? 0 : d1, spec->category_sql ? 0 : d2};
    for (int k = 0; k < 2; k++)
        if (shown[k] == KINNET__V1__REPORT_DIMENSION__BY_MONTH)
            format[k] = k ? "to_char (g2, 'YYYY-MM')" : "to_char (g1, 'YYYY-MM')";
        else if (shown[k] == KINNET__V1__REPORT_DIMENSION__BY_WEEK)
            format[k] = k ? "to_char (g2, 'IYYY-\"W\"IW')" : "to_char (g1, 'IYYY-\"W\"IW')";
    char inner[8192];
    if (spec->base == BASE_CUSTOM)
        snprintf (inner, sizeof inner, "SELECT %s AS g1, %s AS g2%s %s AND (%s) GROUP BY 1, 2",
                  row_sql, column_sql, counts, spec->from_sql, any);
    else if (spec->base == BASE_REFERRAL
             && (row_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED]
                 || column_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED])) {
        //  By need: count the referrals of each (other dimension, set of needs) first,
        //  then add each group's counts to each of its needs. A year has a few thousand
        //  such groups; unnesting a million referrals first and grouping the result took
        //  three times as long (and the planner, expecting ten needs a referral, sorted).
        bool need_row = row_sql == s_referral_sql[KINNET__V1__REPORT_DIMENSION__BY_NEED];
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM (SELECT %s AS g1, %s AS g2, r.needs%s"
                  " FROM intake.referral r LEFT JOIN core.agency a ON a.id = r.referring_agency_id"
                  " WHERE r.received_at >= $1::date AND r.received_at < $2::date AND (%s)"
                  " GROUP BY 1, 2, 3) p CROSS JOIN LATERAL unnest (p.needs) AS n (need)"
                  " GROUP BY 1, 2",
                  need_row ? row_sql : "p.g1", need_row ? "p.g2" : column_sql, sums,
                  need_row ? "''" : row_sql, need_row ? column_sql : "''", counts, any);
    }
    else if (spec->base == BASE_REFERRAL)
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM intake.referral r"
                  " LEFT JOIN core.agency a ON a.id = r.referring_agency_id"
                  " WHERE r.received_at >= $1::date AND r.received_at < $2::date AND (%s)"
                  " GROUP BY 1, 2",
                  row_sql, column_sql, counts, any);
    else if (spec->base == BASE_NEED)
        snprintf (inner, sizeof inner, "SELECT %s AS g1, %s AS g2%s" NEED_FROM " AND (%s) GROUP BY 1, 2",
                  row_sql, column_sql, counts, any);
    else
        snprintf (inner, sizeof inner,
                  "SELECT %s AS g1, %s AS g2%s FROM (SELECT i.*, %s AS at FROM routing.involvement i)"
                  " i LEFT JOIN routing.need nd ON nd.id = i.need_id"
                  " LEFT JOIN core.agency ra ON ra.id = nd.referring_agency_id"
                  " LEFT JOIN core.agency a ON a.id = i.agency_id"
                  " WHERE at >= $1::date AND at < $2::date AND (%s) GROUP BY 1, 2",
                  row_sql, column_sql, counts, spec->event_time, any);
    char sql[10240];
    snprintf (sql, sizeof sql, "SELECT %s, %s%s FROM (%s) x", format[0], format[1], outer, inner);
    job_t *job = s_job_add (rd, sql, s_tables_build, request, section, slot);
    job->specs = malloc (n * sizeof *specs);
    memcpy (job->specs, specs, n * sizeof *specs);
    job->n = n;
    return 0;
}

//  One table from a query's rows (row label, column label, counts...): labels,
//  counts from count_column, protection.
static Kinnet__V1__ReportTable *
s_table_build (PGresult *rows, int count_column, const kn_sdc_config_t *config,
               const Kinnet__V1__RunReport *request, const table_spec_t *spec, kn_error_t *err)
{
    int d1 = request->n_by > 0 ? request->by[0] : 0;
    int d2 = request->n_by > 1 ? request->by[1] : 0;
    bool fixed_columns = spec->category || spec->labels;
    if (spec->row_sql)
        d1 = 0;

    labels_t row_labels = {.dimension = d1}, col_labels = {.dimension = fixed_columns ? -1 : d2};
    if (spec->category)   //  fixed columns, in enum order, all of them
        for (unsigned v = 1; v < spec->category->n_values; v++) {
            char number[12];
            snprintf (number, sizeof number, "%d", spec->category->values[v].value);
            s_label_index (&col_labels, number);
        }
    for (size_t v = 0; v < spec->n_labels; v++) {
        char number[24];
        snprintf (number, sizeof number, "%zu", v + 1);
        s_label_index (&col_labels, number);
    }
    if (spec->row_enum)   //  fixed rows, likewise
        for (unsigned v = 0; v < spec->row_enum->n_values; v++)
            if (spec->row_enum->values[v].value > 0) {
                char number[12];
                snprintf (number, sizeof number, "%d", spec->row_enum->values[v].value);
                s_label_index (&row_labels, number);
            }
    //  Every need category and urgency is a row or column even when nobody had it:
    //  an absent row would be a zero nobody sees.
    if (!spec->row_enum)
        s_all_values (&row_labels, d1);
    if (!fixed_columns)
        s_all_values (&col_labels, d2);
    int n = PQntuples (rows);
    for (int i = 0; i < n; i++) {
        s_label_index (&row_labels, PQgetvalue (rows, i, 0));
        if (!fixed_columns)
            s_label_index (&col_labels, PQgetvalue (rows, i, 1));
    }
    qsort (row_labels.items, row_labels.count, sizeof (char *),
           s_numeric (d1) || spec->row_enum ? s_compare_number : s_compare_text);
    if (!fixed_columns)
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
            kn_sdc_table_set (table, (size_t) r, (size_t) c,
                              atoll (PQgetvalue (rows, i, count_column)));
    }
    Kinnet__V1__ReportTable *out = NULL;
    if (!table)
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "by",
                      "more than %d rows or columns: choose a coarser breakdown", MAX_LABELS);
    else if (kn_sdc_table_protect (table, config, err) == 0) {
        out = malloc (sizeof *out);
        kinnet__v1__report_table__init (out);
        out->title = strdup (spec->title);
        out->row_dimension = strdup (spec->row_sql ? spec->row_name : s_dimension_names[d1]);
        out->column_dimension
            = strdup (fixed_columns ? spec->category_name : s_dimension_names[d2]);
        size_t rows_n = row_labels.count, cols_n = col_labels.count;
        out->row_labels = calloc (rows_n, sizeof (char *));
        for (size_t r = 0; r < rows_n; r++) {
            const ProtobufCEnumValue *value
                = spec->row_enum
                      ? protobuf_c_enum_descriptor_get_value (spec->row_enum,
                                                              atoi (row_labels.items[r]))
                      : NULL;
            out->row_labels[out->n_row_labels++]
                = value ? strdup (value->name) : s_display (d1, row_labels.items[r]);
        }
        out->column_labels = calloc (cols_n, sizeof (char *));
        for (size_t c = 0; c < cols_n; c++) {
            size_t index = (size_t) atoi (col_labels.items[c]);
            if (spec->labels && index >= 1 && index <= spec->n_labels)
                out->column_labels[out->n_column_labels++] = strdup (spec->labels[index - 1]);
            else if (spec->category) {
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
s_add_tables (reader_t *rd, const Kinnet__V1__RunReport *request,
              Kinnet__V1__ReportSection *section, const table_spec_t *specs, size_t n,
              kn_error_t *err)
{
    section->tables = calloc (n, sizeof (Kinnet__V1__ReportTable *));
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
s_referrals (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
             kn_error_t *err)
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
        {.title = "Referrals received",
         .base = BASE_REFERRAL,
         .filter = "true"},
        {.title = "Referrals since withdrawn",
         .base = BASE_REFERRAL,
         .filter = "r.status = 'withdrawn'"},
        {.title = "Referrals about a family already known (matched)",
         .base = BASE_REFERRAL,
         .filter = "r.family_matched"},
    };
    if (s_add_tables (rd, request, referrals, tables, 3, err))
        return -1;
    Kinnet__V1__ReportSection *outcomes = s_section (
        "outcomes", "Involvements closed in the period, by outcome",
        "Rows follow the first dimension (month and week: of the closing); columns are "
        "outcomes. The agency is the one that worked with the family.");
    s_add_section (report, outcomes);
    const table_spec_t outcome_table[] = {
        {.title = "Involvements closed",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.closed_at",
         .filter = "i.status = 'closed'",
         .category_sql = "i.outcome::text",
         .category = &kinnet__v1__outcome__descriptor,
         .category_name = "outcome"},
    };
    //  Outcomes have their own columns: only the first dimension applies.
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    return s_add_tables (rd, &rows_only, outcomes, outcome_table, 1, err);
}

static int
s_declines (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
            kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    Kinnet__V1__ReportSection *offers = s_section (
        "offers", "Offers made in the period, by what became of them",
        "Rows follow the first dimension (month and week: of the offer); the agency is the "
        "agency offered.");
    s_add_section (report, offers);
    const table_spec_t offer_table[] = {
        {.title = "Offers",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.offered_at",
         .filter = "true",
         .category_sql = "(array_position (ARRAY['offered', 'accepted', 'declined', 'expired', 'withdrawn',"
         " 'transferred', 'closed'], i.status))::text",
         .category = &kinnet__v1__involvement_status__descriptor,
         .category_name = "status"},
    };
    if (s_add_tables (rd, &rows_only, offers, offer_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *declines = s_section (
        "declines", "Offers declined in the period, by reason",
        "Rows follow the first dimension (month and week: of the decline); the agency is the "
        "agency that declined.");
    s_add_section (report, declines);
    const table_spec_t decline_table[] = {
        {.title = "Declines",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.decided_at",
         .filter = "i.status = 'declined'",
         .category_sql = "i.decline_reason::text",
         .category = &kinnet__v1__decline_reason__descriptor,
         .category_name = "reason"},
    };
    return s_add_tables (rd, &rows_only, declines, decline_table, 1, err);
}

//  The timeliness statistics, by urgency: how long needs took to be accepted and to
//  get a first contact, against the deadline. A statistic is given only over a group
//  at least as large as the suppression threshold whose count is itself published.
enum { TIME_COLUMNS = 7, TIME_URGENCIES = 4 };

static int
s_time_build (job_t *job, PGresult *rows, const kn_sdc_config_t *config, kn_error_t *err)
{
    static const char *columns[]
        = {"needs placed", "median hours to acceptance", "90th percentile hours to acceptance",
           "deadline hours", "placed within deadline (%)", "median hours to first contact",
           "90th percentile hours to first contact"};
    enum { N_COLUMNS = TIME_COLUMNS, N_URGENCY = TIME_URGENCIES };
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
    if (kn_sdc_table_protect (counts, config, err)) {
        kn_sdc_table_destroy (&counts);
        return -1;
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
    s_put (job->section, job->slot, out);
    return 0;
}

//  Add the query of the timeliness statistics; its table goes to section.
static void
s_time_table (reader_t *rd, const Kinnet__V1__RunReport *request,
              Kinnet__V1__ReportSection *section)
{
    //  date_part, not extract: since PostgreSQL 14 extract returns numeric, and sorting
    //  a million numerics for each percentile took twice as long as float8 does.
    const char *sql
        = "SELECT nd.urgency,"
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
    section->tables = calloc (1, sizeof (Kinnet__V1__ReportTable *));
    //  The slowest query of all the reports (its sorts): sent first, the others of the
    //  report run beside it.
    s_job_add (rd, sql, s_time_build, request, section, 0)->first = true;
}

static int
s_timeliness (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
              kn_error_t *err)
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
        {.title = "Needs routed",
         .base = BASE_NEED,
         .filter = "true",
         .category_sql = PLACEMENT_SQL,
         .category = &kinnet__v1__placement__descriptor,
         .category_name = "placement"},
    };
    if (s_add_tables (rd, &rows_only, placement, placement_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *escalations = s_section (
        "escalations", "Offers that expired in the period (each escalated to the referrer)",
        "Columns: the need's urgency. Rows follow the first dimension (month and week: of "
        "the expiry; agency: the agency that let it expire).");
    s_add_section (report, escalations);
    const table_spec_t escalation_table[] = {
        {.title = "Offers expired",
         .base = BASE_INVOLVEMENT,
         .event_time = "i.decided_at",
         .filter = "i.status = 'expired'",
         .category_sql = "nd.urgency::text",
         .category = &kinnet__v1__urgency__descriptor,
         .category_name = "urgency"},
    };
    if (s_add_tables (rd, &rows_only, escalations, escalation_table, 1, err))
        return -1;
    Kinnet__V1__ReportSection *time = s_section (
        "time", "How fast families got help",
        "Hours from the need being routed to its first acceptance and to the first contact "
        "with the family, against the deadline of the first offer. A median or percentile "
        "is given only over a group of at least the suppression threshold.");
    s_add_section (report, time);
    s_time_table (rd, request, time);
    return 0;
}

//  -------------------------------------------------------------------------
//  The team around the family: cases opened in the period.

static const char *s_case_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "c.district",
    NULL,   //  a case has many needs
    NULL,   //  and may come from several referrers
    "c.urgency::text",
    NULL,
};

//  The period's cases with their counts, kept on the case by triggers (0008).
#define CASE_FROM                                                                             \
    "FROM (SELECT c.*, c.opened_at AS at FROM routing.case c) c"                             \
    " CROSS JOIN LATERAL (SELECT c.needs_count AS needs, c.agencies_count AS agencies,"      \
    "  c.accepted_now > 0 AS working) k"                                                     \
    " WHERE at >= $1::date AND at < $2::date"

static int
s_team (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
        kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    Kinnet__V1__ReportSection *team = s_section (
        "team", "The team around the family: cases opened in the period",
        "One case per family. Rows follow the first dimension (month, week, district or "
        "urgency: needs and agencies vary within a case).");
    s_add_section (report, team);
    static const char *needs[] = {"1 need", "2 needs", "3 or more needs"};
    static const char *agencies[] = {"no agency yet", "1 agency", "2 agencies",
                                     "3 or more agencies"};
    static const char *lead[] = {"with a lead professional", "without one"};
    const table_spec_t tables[] = {
        {.title = "Cases by number of needs",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .dims = s_case_dims,
         .filter = "k.needs > 0",
         .category_sql = "least (k.needs, 3)::text",
         .labels = needs,
         .n_labels = 3,
         .category_name = "needs"},
        {.title = "Cases by number of agencies that took a need on",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .dims = s_case_dims,
         .filter = "true",
         .category_sql = "(least (k.agencies, 3) + 1)::text",
         .labels = agencies,
         .n_labels = 4,
         .category_name = "agencies"},
        {.title = "Cases with an agency working with the family, by lead professional",
         .base = BASE_CUSTOM,
         .from_sql = CASE_FROM,
         .dims = s_case_dims,
         .filter = "k.working",
         .category_sql = "(CASE WHEN c.lead_agency_id IS NOT NULL THEN 1 ELSE 2 END)::text",
         .labels = lead,
         .n_labels = 2,
         .category_name = "lead"},
    };
    return s_add_tables (rd, &rows_only, team, tables, 3, err);
}

//  -------------------------------------------------------------------------
//  Consent: consents recorded, disclosures made and overrides requested in the period.

static const char *s_consent_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    NULL, NULL,
    "a.sector",   //  of the agency that recorded it (or received the data)
    NULL,
    "a.name",
};

#define CONSENT_FROM                                                                          \
    "FROM (SELECT c.*, c.recorded_at AS at FROM consent.record c) c"                         \
    " JOIN core.agency a ON a.id = c.recorded_by WHERE at >= $1::date AND at < $2::date"

//  A consent's state now: 1 active, 2 expired, 3 partly withdrawn, 4 withdrawn (a
//  withdrawal of everything: all four scope lists empty).
#define CONSENT_STATUS                                                                        \
    "(CASE WHEN EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = c.id"        \
    "  AND cardinality (w.recipient_agencies) = 0 AND cardinality (w.recipient_sectors) = 0" \
    "  AND cardinality (w.categories) = 0 AND cardinality (w.purposes) = 0) THEN 4"          \
    " WHEN EXISTS (SELECT 1 FROM consent.withdrawal w WHERE w.consent_id = c.id) THEN 3"     \
    " WHEN c.valid_until < now () THEN 2 ELSE 1 END)::text"

//  The columns of every consent table: the consent's state now.
#define CONSENT_STATE_COLUMNS                                                                 \
    .dims = s_consent_dims, .filter = "true", .category_sql = CONSENT_STATUS,                \
    .labels = s_consent_states, .n_labels = 4, .category_name = "state"

static const char *s_consent_states[] = {"active", "expired", "partly withdrawn", "withdrawn"};

//  A disclosure's ground as a column value (1..6, see the labels below).
#define DISCLOSURE_GROUND                                                                     \
    "(CASE d.basis WHEN 'consent' THEN 1 WHEN 'legal_obligation' THEN 2"                    \
    " WHEN 'public_task' THEN 3 WHEN 'vital_interests' THEN 4"                              \
    " WHEN 'safeguarding_override' THEN 5 ELSE 6 END)::text"

static int
s_consent (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
           kn_error_t *err)
{
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    //  (Static, as every array a table_spec_t points to: the tables are made after
    //  this function has returned.)
    static const char *disclosure_dims[]
        = {"''",  "date_trunc ('month', d.at AT TIME ZONE 'UTC')",
           "date_trunc ('week', d.at AT TIME ZONE 'UTC')", NULL, NULL, "a.sector", NULL, "a.name"};
    static const char *bases[] = {"consent",         "legal_obligation",      "public_task",
                                  "vital_interests", "safeguarding_override", "other"};
    static const char *reviews[] = {"justified", "not justified", "awaiting review",
                                    "review overdue"};
    Kinnet__V1__ReportSection *consents = s_section (
        "consents", "Consents recorded in the period, by their state now",
        "Rows follow the first dimension (agency and sector: of the agency that recorded "
        "it). A consent covers several purposes and data categories: it counts once in "
        "each.");
    s_add_section (report, consents);
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
         .from_sql = "FROM (SELECT c.*, c.valid_until AS at FROM consent.record c) c"
                     " JOIN core.agency a ON a.id = c.recorded_by"
                     " WHERE $1::date IS NOT NULL AND at >= $2::date AND at < $2::date + 30",
         CONSENT_STATE_COLUMNS},
    };
    if (s_add_tables (rd, &rows_only, consents, consent_tables, 4, err))
        return -1;
    Kinnet__V1__ReportSection *disclosures = s_section (
        "disclosures", "Disclosures of personal data in the period, by ground",
        "Every time data about a person left Kinnet for an agency, with the ground it left "
        "on. Rows follow the first dimension (agency and sector: of the recipient); the "
        "second table counts each data category disclosed.");
    s_add_section (report, disclosures);
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
    if (s_add_tables (rd, &rows_only, disclosures, disclosure_tables, 2, err))
        return -1;
    Kinnet__V1__ReportSection *overrides = s_section (
        "overrides", "Safeguarding overrides requested in the period, by review",
        "Every override is reviewed by a data-protection officer; overdue: its review date "
        "has passed without a review. Rows follow the first dimension (agency and sector: "
        "of the agency that requested it).");
    s_add_section (report, overrides);
    const table_spec_t override_table[] = {
        {.title = "Overrides",
         .base = BASE_CUSTOM,
         .from_sql = "FROM (SELECT o.*, o.requested_at AS at FROM consent.override o) o"
                     " JOIN core.agency a ON a.id = o.requested_by"
                     " WHERE at >= $1::date AND at < $2::date",
         .dims = s_consent_dims,
         .filter = "true",
         .category_sql = "(CASE WHEN o.reviewed_at IS NOT NULL THEN CASE WHEN"
                         " o.review_decision = 1 THEN 1 ELSE 2 END WHEN o.review_due_at < now ()"
                         " THEN 4 ELSE 3 END)::text",
         .labels = reviews,
         .n_labels = 4,
         .category_name = "review"},
    };
    return s_add_tables (rd, &rows_only, overrides, override_table, 1, err);
}

//  -------------------------------------------------------------------------
//  Equity by district: referral and uptake rates per 1,000 children where the
//  population is known, and families nobody can speak to in their languages.

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
        rates->note = strdup ("No population figures are loaded for this period: load them "
                              "with kinnet admin population import FILE.csv.");
        return 0;
    }
    kn_sdc_table_t *counts = kn_sdc_table_new ((size_t) n, 2);
    for (int r = 0; counts && r < n; r++) {
        kn_sdc_table_set (counts, (size_t) r, 0, atoll (PQgetvalue (rows, r, 2)));
        kn_sdc_table_set (counts, (size_t) r, 1, atoll (PQgetvalue (rows, r, 3)));
    }
    if (!counts || kn_sdc_table_protect (counts, config, err)) {
        if (!counts)
            kn_error_set (err, KN_E_INVALID_ARGUMENT, "by", "too many districts");
        kn_sdc_table_destroy (&counts);
        return -1;
    }
    static const char *columns[] = {"children", "referrals", "referrals per 1,000 children",
                                    "needs placed", "needs placed per 1,000 children"};
    Kinnet__V1__ReportTable *out = malloc (sizeof *out);
    kinnet__v1__report_table__init (out);
    char title[128];
    snprintf (title, sizeof title, "Referral and uptake rates by district (population of %s)",
              PQgetvalue (rows, 0, 4));
    out->title = strdup (title);
    out->row_dimension = strdup ("district");
    out->column_dimension = strdup ("measure");
    out->statistics = true;
    out->row_labels = calloc ((size_t) n, sizeof (char *));
    out->column_labels = calloc (5, sizeof (char *));
    for (int c = 0; c < 5; c++)
        out->column_labels[out->n_column_labels++] = strdup (columns[c]);
    out->cells = calloc ((size_t) n * 5, sizeof (Kinnet__V1__ReportCell *));
    for (int r = 0; r < n; r++) {
        out->row_labels[out->n_row_labels++] = strdup (PQgetvalue (rows, r, 0));
        double children = atof (PQgetvalue (rows, r, 1));
        //  The population is a published statistic; the counts are protected; a rate
        //  over a withheld count (or a small one) would give it back, so it goes too.
        Kinnet__V1__ReportCell *population = s_cell (true, (int64_t) children);
        population->number = children;
        out->cells[out->n_cells++] = population;
        for (int k = 0; k < 2; k++) {
            int64_t count = 0;
            bool shown = kn_sdc_cell (counts, (size_t) r, (size_t) k, &count);
            Kinnet__V1__ReportCell *cell = s_cell (shown, count);
            cell->number = shown ? (double) count : 0;
            bool rate_ok = children > 0 && kn_sdc_cell_statistic_allowed (counts, (size_t) r,
                                                                          (size_t) k);
            Kinnet__V1__ReportCell *rate = s_cell (rate_ok, 0);
            rate->number = rate_ok ? 1000.0 * (double) count / children : 0;
            out->withheld += cell->withheld + rate->withheld;
            out->cells[out->n_cells++] = cell;
            out->cells[out->n_cells++] = rate;
        }
    }
    kn_sdc_table_destroy (&counts);
    s_put (rates, 0, out);
    return 0;
}

static const char *s_language_dims[] = {
    "''",
    "date_trunc ('month', at AT TIME ZONE 'UTC')",
    "date_trunc ('week', at AT TIME ZONE 'UTC')",
    "c.district",
    NULL, NULL,
    "c.urgency::text",
    NULL,
};

static int
s_equity (reader_t *rd, const Kinnet__V1__RunReport *request, Kinnet__V1__Report *report,
          kn_error_t *err)
{
    Kinnet__V1__ReportSection *rates = s_section (
        "rates", "Referral and uptake rates by district",
        "Per 1,000 children living in the district (the figures an administrator loaded with "
        "kinnet admin population import). Uptake: needs of the period's referrals that an "
        "agency took on. A rate over a withheld count is withheld.");
    s_add_section (report, rates);
    rates->tables = calloc (1, sizeof (Kinnet__V1__ReportTable *));
    s_job_add (
        rd,
        "WITH y AS (SELECT max (year) AS year FROM core.population"
        "  WHERE year <= extract (year FROM $2::date - 1)),"
        " p AS (SELECT district, children FROM core.population, y WHERE population.year = y.year),"
        " r AS (SELECT r.district, count (*) AS referrals FROM intake.referral r"
        "  WHERE r.received_at >= $1::date AND r.received_at < $2::date GROUP BY 1),"
        " n AS (SELECT nd.district, count (*) AS placed FROM routing.need nd"
        "  WHERE nd.created_at >= $1::date AND nd.created_at < $2::date"
        "  AND nd.accepted_at IS NOT NULL GROUP BY 1)"
        " SELECT p.district, p.children, coalesce (r.referrals, 0), coalesce (n.placed, 0),"
        "  (SELECT year FROM y) FROM p LEFT JOIN r USING (district) LEFT JOIN n USING (district)"
        " ORDER BY p.district",
        s_rates_build, request, rates, 0);
    Kinnet__V1__ReportSection *languages = s_section (
        "languages", "Families nobody in their district speaks to in their languages",
        "Cases opened in the period for a family with languages on record, where no active, "
        "accepting agency covering the district speaks any of them (interpreters not "
        "counted). Rows follow the first dimension (month, week, district or urgency).");
    s_add_section (report, languages);
    Kinnet__V1__RunReport rows_only = *request;
    rows_only.n_by = request->n_by > 0 ? 1 : 0;
    static const char *spoken[] = {"a local agency speaks a family language",
                                   "no local agency does"};
    const table_spec_t language_table[] = {
        {.title = "Cases opened",
         .base = BASE_CUSTOM,
         //  The (district, language) pairs some active, accepting agency covers, then
         //  the period's cases that have one of them: hash joins, not a look-up per case.
         //  The languages spoken in each district by some active, accepting agency
         //  covering it (a few rows), then one array overlap per case.
         .from_sql = "FROM (SELECT c.*, c.opened_at AS at FROM routing.case c) c"
                     " LEFT JOIN (SELECT district, array_agg (language) AS languages FROM"
                     "  (SELECT a.district, l.language FROM core.agency a"
                     "   JOIN core.agency_language l ON l.agency_id = a.id"
                     "   WHERE a.active AND a.accepting"
                     "   UNION SELECT d.district, l.language FROM core.agency_district d"
                     "   JOIN core.agency a ON a.id = d.agency_id"
                     "   JOIN core.agency_language l ON l.agency_id = a.id"
                     "   WHERE a.active AND a.accepting) pairs GROUP BY district) spoken"
                     " ON spoken.district = c.district WHERE at >= $1::date AND at < $2::date",
         .dims = s_language_dims,
         .filter = "cardinality (c.languages) > 0",
         .category_sql = "(CASE WHEN c.languages && spoken.languages THEN 1 ELSE 2 END)::text",
         .labels = spoken,
         .n_labels = 2,
         .category_name = "languages"},
    };
    return s_add_tables (rd, &rows_only, languages, language_table, 1, err);
}

//  -------------------------------------------------------------------------
//  Sessions

//  A read-only transaction in snapshot (NULL: its own), without JIT compilation: the
//  report queries cost enough to cross its thresholds and run too briefly to repay
//  it (one took 0.5 s to compile and 1.1 s to run). 0, or -1 with nothing left open.
static int
s_begin (kn_db_t *db, const char *snapshot, kn_error_t *err)
{
    if (kn_db_ensure (db, err)
        || kn_db_exec (db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
        return -1;
    int rc = 0;
    if (snapshot) {
        char *literal = PQescapeLiteral (kn_db_conn (db), snapshot, strlen (snapshot));
        char sql[128];
        snprintf (sql, sizeof sql, "SET TRANSACTION SNAPSHOT %s", literal ? literal : "''");
        PQfreemem (literal);
        rc = kn_db_exec (db, sql, err);
    }
    if (rc == 0)
        rc = kn_db_exec (db, "SET LOCAL jit = off", err);
    if (rc) {
        kn_error_t ignored;
        kn_db_exec (db, "ROLLBACK", &ignored);
    }
    return rc;
}

//  Open the report's transaction on dbs[0] and, in the same snapshot, on as many of
//  the others as will: open[] receives the sessions in use. Their count, or -1.
static int
s_open (kn_db_t *const *dbs, size_t n_dbs, kn_db_t **open, kn_error_t *err)
{
    if (s_begin (dbs[0], NULL, err))
        return -1;
    open[0] = dbs[0];
    if (n_dbs < 2)
        return 1;
    kn_error_t ignored;
    PGresult *snapshot = kn_db_query (dbs[0], "SELECT pg_export_snapshot ()", 0, NULL, &ignored);
    if (!snapshot) {
        //  The failed export ended the transaction; the report runs on one session.
        kn_log (KN_WARN, "report.one_session", "problem", ignored.message, NULL);
        kn_db_exec (dbs[0], "ROLLBACK", &ignored);
        return s_begin (dbs[0], NULL, err) ? -1 : 1;
    }
    int n_open = 1;
    for (size_t k = 1; k < n_dbs && k < REPORTING_MAX_SESSIONS; k++) {
        if (s_begin (dbs[k], PQgetvalue (snapshot, 0, 0), &ignored) == 0)
            open[n_open++] = dbs[k];
        else
            kn_log (KN_WARN, "report.session_unavailable", "problem", ignored.message, NULL);
    }
    PQclear (snapshot);
    return n_open;
}

//  Run every job's query, each session taking the next as it comes free (jobs marked
//  first go first). After a failure nothing more is sent; the queries under way are
//  waited for. 0, or -1 with the first failure.
static int
s_run_jobs (reader_t *rd, kn_db_t **sessions, size_t n_sessions, kn_error_t *err)
{
    job_t **order = malloc ((rd->n_jobs + 1) * sizeof *order);
    size_t n_order = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < rd->n_jobs; j++)
            if (rd->jobs[j].first == (pass == 0))
                order[n_order++] = &rd->jobs[j];
    job_t *running[REPORTING_MAX_SESSIONS] = {NULL};
    size_t next = 0, in_flight = 0;
    int rc = 0;
    while (true) {
        for (size_t k = 0; k < n_sessions && rc == 0 && next < n_order; k++) {
            if (running[k])
                continue;
            job_t *job = order[next++];
            const char *values[] = {job->request.from, job->request.to};
            if (kn_db_send (sessions[k], job->sql, 2, values, err))
                rc = -1;
            else {
                running[k] = job;
                in_flight++;
            }
        }
        if (in_flight == 0)
            break;
        struct pollfd fds[REPORTING_MAX_SESSIONS];
        int timeout = -1;   //  a session that lost its socket is looked at at once
        for (size_t k = 0; k < n_sessions; k++) {
            fds[k] = (struct pollfd) {.fd = running[k] ? kn_db_socket (sessions[k]) : -1,
                                      .events = POLLIN};
            if (running[k] && fds[k].fd < 0)
                timeout = 0;
        }
        if (poll (fds, n_sessions, timeout) < 0 && errno != EINTR) {
            rc = kn_error_set (err, KN_E_INTERNAL, NULL, "poll: %s", strerror (errno));
            break;   //  (the sessions' ROLLBACK waits for what is still running)
        }
        for (size_t k = 0; k < n_sessions; k++) {
            if (!running[k] || (fds[k].fd >= 0 && !fds[k].revents)
                || kn_db_ready (sessions[k]) == 0)
                continue;
            kn_error_t failed;
            running[k]->rows = kn_db_receive (sessions[k], &failed);
            if (!running[k]->rows && rc == 0) {
                *err = failed;
                rc = -1;
            }
            running[k] = NULL;
            in_flight--;
        }
    }
    free (order);
    return rc;
}

int
reporting_report_run (kn_db_t *const *dbs, size_t n_dbs, const kn_sdc_config_t *config,
                      const Kinnet__V1__RunReport *request, int64_t now,
                      Kinnet__V1__Report **out, kn_error_t *err)
{
    *out = NULL;
    kn_db_t *sessions[REPORTING_MAX_SESSIONS];
    int n_sessions = s_open (dbs, n_dbs, sessions, err);
    if (n_sessions < 0)
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
    static const struct {
        const char *name;
        int (*run) (reader_t *, const Kinnet__V1__RunReport *, Kinnet__V1__Report *,
                    kn_error_t *);
    } reports[] = {{"referrals", s_referrals}, {"declines", s_declines},
                   {"timeliness", s_timeliness}, {"team", s_team}, {"consent", s_consent},
                   {"equity", s_equity}};
    reader_t rd = {NULL, 0};
    int rc = -1;
    for (size_t i = 0; i < sizeof reports / sizeof reports[0]; i++)
        if (strcmp (request->report, reports[i].name) == 0)
            rc = reports[i].run (&rd, request, report, err);
    if (rc == 0)
        rc = s_run_jobs (&rd, sessions, (size_t) n_sessions, err);
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
