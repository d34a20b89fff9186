/*  reporting_table: a query's rows as a protected table. Rows and columns get their
    labels, in order (every value of an enum dimension, even one nobody had: an
    absent row would be a zero nobody sees); the counts go into a kn_sdc table, which
    withholds small counts, and whatever could give one back, before any cell is
    written out. The statistics tables (timeliness, equity) make their own cells
    with reporting_cell. */
#include "reporting_report_int.h"
#include "kn_alloc.h"

#define MAX_LABELS KN_SDC_MAX_SIDE

//  -------------------------------------------------------------------------
//  Labels

typedef struct {
    char *items[MAX_LABELS];
    size_t count;
    int dimension; //  ReportDimension, or -1 for a fixed category list
} labels_t;

//  Index of label, added when new; -1 when the list is full.
static int
s_label_index (labels_t *labels, const char *label)
{
    for (size_t i = 0; i < labels->count; i++)
        if (strcmp (labels->items[i], label) == 0)
            return (int)i;
    if (labels->count == MAX_LABELS)
        return -1;
    labels->items[labels->count] = kn_strdup (label);
    return (int)labels->count++;
}

//  Need and urgency labels are enum values in SQL: sort by value, print names.
static bool
s_numeric (int dimension)
{
    return dimension == KINNET__V1__REPORT_DIMENSION__BY_NEED ||
           dimension == KINNET__V1__REPORT_DIMENSION__BY_URGENCY;
}

static int
s_compare_text (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static int
s_compare_number (const void *a, const void *b)
{
    long x = atol (*(char *const *)a), y = atol (*(char *const *)b);
    return (x > y) - (x < y);
}

static const ProtobufCEnumDescriptor *
s_enum_of (int dimension)
{
    return dimension == KINNET__V1__REPORT_DIMENSION__BY_NEED
               ? &kinnet__v1__need_category__descriptor
           : dimension == KINNET__V1__REPORT_DIMENSION__BY_URGENCY
               ? &kinnet__v1__urgency__descriptor
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

char *
reporting_display (int dimension, const char *label)
{
    const ProtobufCEnumDescriptor *descriptor = s_enum_of (dimension);
    if (descriptor) {
        const ProtobufCEnumValue *value =
            protobuf_c_enum_descriptor_get_value (descriptor, atoi (label));
        if (value)
            return kn_strdup (value->name);
    }
    return kn_strdup (label);
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

Kinnet__V1__ReportCell *
reporting_cell (bool shown, int64_t value)
{
    Kinnet__V1__ReportCell *cell = kn_malloc (sizeof *cell);
    kinnet__v1__report_cell__init (cell);
    cell->withheld = !shown;
    cell->value = shown ? value : 0;
    return cell;
}

//  One table from a query's rows (row label, column label, counts...): labels,
//  counts from count_column, protection.
Kinnet__V1__ReportTable *
reporting_table_build (PGresult *rows, int count_column, const kn_sdc_config_t *config,
                       const Kinnet__V1__RunReport *request, const table_spec_t *spec,
                       kn_error_t *err)
{
    int d1 = request->n_by > 0 ? request->by[0] : 0;
    int d2 = request->n_by > 1 ? request->by[1] : 0;
    bool fixed_columns = spec->category || spec->labels;
    if (spec->row_sql)
        d1 = 0;

    labels_t row_labels = {.dimension = d1},
             col_labels = {.dimension = fixed_columns ? -1 : d2};
    if (spec->category) //  fixed columns, in enum order, all of them
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
    if (spec->row_enum) //  fixed rows, likewise
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
    //  A label past the limit refuses the table rather than leaving its rows out: a
    //  table cut short gives totals that are wrong, and says nothing about it.
    bool overflow = false;
    int n = PQntuples (rows);
    for (int i = 0; i < n; i++) {
        overflow |= s_label_index (&row_labels, PQgetvalue (rows, i, 0)) < 0;
        if (!fixed_columns)
            overflow |= s_label_index (&col_labels, PQgetvalue (rows, i, 1)) < 0;
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

    kn_sdc_table_t *table =
        overflow ? NULL : kn_sdc_table_new (row_labels.count, col_labels.count);
    for (int i = 0; table && i < n; i++) {
        int r = s_label_index (&row_labels, PQgetvalue (rows, i, 0));
        int c = s_label_index (&col_labels, PQgetvalue (rows, i, 1));
        if (r >= 0 && c >= 0)
            kn_sdc_table_set (table, (size_t)r, (size_t)c,
                              atoll (PQgetvalue (rows, i, count_column)));
    }
    Kinnet__V1__ReportTable *out = NULL;
    if (overflow)
        kn_error_set (err, KN_E_INVALID_ARGUMENT, "by",
                      "table \"%s\" would have more than %d rows or columns: choose a"
                      " coarser breakdown or a shorter period",
                      spec->title, MAX_LABELS);
    else if (!table)
        kn_error_set (err, KN_E_INTERNAL, NULL, "out of memory");
    else if (kn_sdc_table_protect (table, config, err) == 0) {
        out = kn_malloc (sizeof *out);
        kinnet__v1__report_table__init (out);
        out->title = kn_strdup (spec->title);
        out->row_dimension =
            kn_strdup (spec->row_sql ? spec->row_name : reporting_dimension_names[d1]);
        out->column_dimension =
            kn_strdup (fixed_columns ? spec->category_name : reporting_dimension_names[d2]);
        size_t rows_n = row_labels.count, cols_n = col_labels.count;
        out->row_labels = kn_calloc (rows_n, sizeof (char *));
        for (size_t r = 0; r < rows_n; r++) {
            const ProtobufCEnumValue *value =
                spec->row_enum ? protobuf_c_enum_descriptor_get_value (
                                     spec->row_enum, atoi (row_labels.items[r]))
                               : NULL;
            out->row_labels[out->n_row_labels++] =
                value ? kn_strdup (value->name)
                      : reporting_display (d1, row_labels.items[r]);
        }
        out->column_labels = kn_calloc (cols_n, sizeof (char *));
        for (size_t c = 0; c < cols_n; c++) {
            size_t index = (size_t)atoi (col_labels.items[c]);
            if (spec->labels && index >= 1 && index <= spec->n_labels)
                out->column_labels[out->n_column_labels++] =
                    kn_strdup (spec->labels[index - 1]);
            else if (spec->category) {
                const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value (
                    spec->category, atoi (col_labels.items[c]));
                out->column_labels[out->n_column_labels++] =
                    kn_strdup (value ? value->name : "?");
            } else
                out->column_labels[out->n_column_labels++] =
                    reporting_display (d2, col_labels.items[c]);
        }
        out->cells = kn_calloc (rows_n * cols_n, sizeof (Kinnet__V1__ReportCell *));
        int64_t value = 0;
        for (size_t r = 0; r < rows_n; r++)
            for (size_t c = 0; c < cols_n; c++) {
                bool shown = kn_sdc_cell (table, r, c, &value);
                out->cells[out->n_cells++] = reporting_cell (shown, value);
            }
        out->row_totals = kn_calloc (rows_n, sizeof (Kinnet__V1__ReportCell *));
        for (size_t r = 0; r < rows_n; r++) {
            bool shown = kn_sdc_row_total (table, r, &value);
            out->row_totals[out->n_row_totals++] = reporting_cell (shown, value);
        }
        out->column_totals = kn_calloc (cols_n, sizeof (Kinnet__V1__ReportCell *));
        for (size_t c = 0; c < cols_n; c++) {
            bool shown = kn_sdc_col_total (table, c, &value);
            out->column_totals[out->n_column_totals++] = reporting_cell (shown, value);
        }
        bool shown = kn_sdc_grand_total (table, &value);
        out->grand_total = reporting_cell (shown, value);
        out->withheld = (int32_t)kn_sdc_table_hidden (table);
    }
    kn_sdc_table_destroy (&table);
    s_labels_free (&row_labels);
    s_labels_free (&col_labels);
    return out;
}
