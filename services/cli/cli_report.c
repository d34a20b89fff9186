/*  kinnet report NAME: an auditor's report from the "reporting" service, written as
    CSV (RFC 4180, one line per cell), JSON (the Report message) or one
    self-contained HTML file (tables and inline SVG bar charts, no external assets,
    printable). Withheld cells are printed as the report's marker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kinnet/v1/reporting.pb-c.h"
#include "kn_pbjson.h"

static const char *s_usage
    = "usage: kinnet report referrals|declines|timeliness|team|consent|equity\n"
      "                      --from YYYY-MM-DD --to YYYY-MM-DD\n"
      "                      [--by DIM[,DIM]] [--format csv|json|html] [--out FILE]\n"
      "Dimensions: month, week, district, need, referring_sector, urgency, agency (the\n"
      "first gives the rows, the second the columns). --to is excluded. Needs the\n"
      "auditor role. Small counts are withheld and printed as the report's marker; the\n"
      "method is named in every report's footer (docs/suppression.md).\n"
      "  referrals  referrals received, withdrawn, about a known family; involvements\n"
      "             closed by outcome\n"
      "  declines   offers by what became of them; declines by reason\n"
      "  timeliness needs by placement (in time, late, open, unplaced); expired offers;\n"
      "             hours to acceptance and to first contact against the deadline\n"
      "  team       cases opened: by number of needs, of agencies, with a lead or not\n"
      "  consent    consents recorded (by state, purpose, category; running out soon);\n"
      "             disclosures by ground and category; overrides by review\n"
      "  equity     referral and uptake rates per 1,000 children by district (needs\n"
      "             kinnet admin population import); families nobody local speaks to\n"
      "Not every dimension applies to every table: a report refuses one that does not.\n"
      "--out FILE creates a new file (mode 0600): an existing one is not overwritten.\n"
      "       kinnet report governance [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
      "  governance every role granted or taken away, release decision, override review\n"
      "             and data-protection officer's action, from the audit trail (JSON)\n";

const char *
cli_source_server (const Kinnet__V1__ReadSource *source)
{
    return !source ? "unknown"
           : source->server == KINNET__V1__READ_SERVER__READ_STANDBY ? "standby"
           : source->server == KINNET__V1__READ_SERVER__READ_PRIMARY ? "primary"
                                                                      : "unknown";
}

const char *
cli_source_text (const Kinnet__V1__ReadSource *source, char *buf, size_t size)
{
    if (!source)
        snprintf (buf, size, "the service did not say where it read");
    else if (source->server == KINNET__V1__READ_SERVER__READ_STANDBY)
        snprintf (buf, size, "read on the standby: %lld bytes behind, caught up in %lld ms",
                  (long long) source->lag_bytes, (long long) source->lag_ms);
    else if (source->lag_bytes >= 0)
        snprintf (buf, size, "read on the primary (%s: %lld bytes behind after %lld ms)",
                  source->reason, (long long) source->lag_bytes, (long long) source->lag_ms);
    else
        snprintf (buf, size, "read on the primary (%s)", source->reason);
    return buf;
}

static const char *
s_cell_text (const Kinnet__V1__Report *report, const Kinnet__V1__ReportCell *cell, char *buf,
             size_t size)
{
    if (!cell || cell->withheld)
        return report->marker;
    snprintf (buf, size, "%lld", (long long) cell->value);
    return buf;
}

//  A statistics table's cell: the number, one decimal.
static const char *
s_number_text (const Kinnet__V1__Report *report, const Kinnet__V1__ReportCell *cell, char *buf,
               size_t size)
{
    if (!cell || cell->withheld)
        return report->marker;
    snprintf (buf, size, "%.1f", cell->number);
    return buf;
}

static const char *
s_text (const Kinnet__V1__Report *report, const Kinnet__V1__ReportTable *table,
        const Kinnet__V1__ReportCell *cell, char *buf, size_t size)
{
    return table->statistics ? s_number_text (report, cell, buf, size)
                             : s_cell_text (report, cell, buf, size);
}

static const char *
s_label (const char *label)
{
    return label && *label ? label : "all";
}

//  ------------------------------------------------------------------------
//  CSV

static void
s_csv_row (FILE *out, const char *section, const Kinnet__V1__ReportTable *table, const char *row,
           const char *column, const char *value)
{
    cli_csv_field (out, section, false);
    cli_csv_field (out, table ? table->title : "", false);
    cli_csv_field (out, table ? table->row_dimension : "", false);
    cli_csv_field (out, row, false);
    cli_csv_field (out, table ? table->column_dimension : "", false);
    cli_csv_field (out, column, false);
    cli_csv_field (out, value, true);
}

static void
s_write_csv (FILE *out, const Kinnet__V1__Report *report, const Kinnet__V1__ReadSource *source)
{
    char buf[32];
    const char *header[] = {"section", "table", "row_dimension", "row", "column_dimension",
                            "column", "value"};
    for (int i = 0; i < 7; i++)
        cli_csv_field (out, header[i], i == 6);
    for (size_t s = 0; s < report->n_sections; s++) {
        const Kinnet__V1__ReportSection *section = report->sections[s];
        for (size_t t = 0; t < section->n_tables; t++) {
            const Kinnet__V1__ReportTable *table = section->tables[t];
            for (size_t r = 0; r < table->n_row_labels; r++) {
                for (size_t c = 0; c < table->n_column_labels; c++)
                    s_csv_row (out, section->name, table, s_label (table->row_labels[r]),
                               s_label (table->column_labels[c]),
                               s_text (report, table, table->cells[r * table->n_column_labels + c],
                                       buf, sizeof buf));
                if (!table->statistics)
                    s_csv_row (out, section->name, table, s_label (table->row_labels[r]),
                               "total", s_cell_text (report, table->row_totals[r], buf, sizeof buf));
            }
            if (table->statistics)
                continue;   //  statistics have no totals
            for (size_t c = 0; c < table->n_column_labels; c++)
                s_csv_row (out, section->name, table, "total", s_label (table->column_labels[c]),
                           s_cell_text (report, table->column_totals[c], buf, sizeof buf));
            s_csv_row (out, section->name, table, "total", "total",
                       s_cell_text (report, table->grand_total, buf, sizeof buf));
        }
    }
    //  The footer: the method, then where the service read (row: the server, column:
    //  why; value: for people).
    s_csv_row (out, "method", NULL, "", "", report->method);
    char text[160];
    s_csv_row (out, "source", NULL, cli_source_server (source), source ? source->reason : "",
               cli_source_text (source, text, sizeof text));
}

//  ------------------------------------------------------------------------
//  HTML

//  A horizontal bar chart of the row totals (withheld totals drawn as a hatched
//  stub, with the marker, never as a length that would give the value away).
static void
s_html_chart (FILE *out, const Kinnet__V1__Report *report, const Kinnet__V1__ReportTable *table)
{
    if (table->n_row_labels < 2)
        return;
    int64_t max = 1;
    for (size_t r = 0; r < table->n_row_totals; r++)
        if (!table->row_totals[r]->withheld && table->row_totals[r]->value > max)
            max = table->row_totals[r]->value;
    int bar = 18, width = 640, label_w = 200, chart_w = width - label_w - 70;
    int height = (int) table->n_row_labels * (bar + 6) + 10;
    fprintf (out,
             "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
             "height=\"%d\" role=\"img\" aria-label=\"",
             width, height);
    cli_html_text (out, table->title);
    fputs (" by ", out);
    cli_html_text (out, table->row_dimension);
    fputs ("\">\n<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" "
           "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><line x1=\"0\" "
           "y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#888\" stroke-width=\"2\"/></pattern></defs>\n",
           out);
    char buf[32];
    for (size_t r = 0; r < table->n_row_labels; r++) {
        int y = 5 + (int) r * (bar + 6);
        const Kinnet__V1__ReportCell *total = table->row_totals[r];
        fprintf (out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8, y + bar - 5);
        cli_html_text (out, s_label (table->row_labels[r]));
        fputs ("</text>\n", out);
        int length = total->withheld ? 12 : (int) (total->value * chart_w / max);
        fprintf (out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
                 label_w, y, length, bar, total->withheld ? "url(#hatch)" : "#3b6ea5");
        fprintf (out, "<text x=\"%d\" y=\"%d\">", label_w + length + 6, y + bar - 5);
        cli_html_text (out, s_cell_text (report, total, buf, sizeof buf));
        fputs ("</text>\n", out);
    }
    fputs ("</svg>\n", out);
}

//  A bar chart of one column of a statistics table (the timeliness distribution):
//  withheld statistics are hatched stubs with the marker.
static void
s_html_bars (FILE *out, const Kinnet__V1__Report *report, const Kinnet__V1__ReportTable *table,
             const char *what, size_t column)
{
    if (column >= table->n_column_labels || table->n_row_labels == 0)
        return;
    double max = 1;
    for (size_t r = 0; r < table->n_row_labels; r++) {
        const Kinnet__V1__ReportCell *cell = table->cells[r * table->n_column_labels + column];
        if (!cell->withheld && cell->number > max)
            max = cell->number;
    }
    int bar = 18, label_w = 200, chart_w = 370;
    int height = (int) table->n_row_labels * (bar + 6) + 10;
    fprintf (out,
             "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" "
             "height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
             height, what);
    char buf[32];
    for (size_t r = 0; r < table->n_row_labels; r++) {
        const Kinnet__V1__ReportCell *cell = table->cells[r * table->n_column_labels + column];
        int y = 5 + (int) r * (bar + 6);
        int length = cell->withheld ? 12 : (int) (cell->number * chart_w / max);
        fprintf (out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8, y + bar - 5);
        cli_html_text (out, s_label (table->row_labels[r]));
        fprintf (out,
                 "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                 "fill=\"%s\"/>\n<text x=\"%d\" y=\"%d\">",
                 label_w, y, length, bar, cell->withheld ? "#ccc" : "#5a8f4e",
                 label_w + length + 6, y + bar - 5);
        cli_html_text (out, s_number_text (report, cell, buf, sizeof buf));
        fputs ("</text>\n", out);
    }
    fputs ("</svg>\n", out);
}

static void
s_html_table (FILE *out, const Kinnet__V1__Report *report, const Kinnet__V1__ReportTable *table)
{
    char buf[32];
    fputs ("<h3>", out);
    cli_html_text (out, table->title);
    fputs ("</h3>\n<table>\n<thead><tr><th>", out);
    cli_html_text (out, *table->row_dimension ? table->row_dimension : "");
    fputs ("</th>", out);
    for (size_t c = 0; c < table->n_column_labels; c++) {
        fputs ("<th>", out);
        cli_html_text (out, s_label (table->column_labels[c]));
        fputs ("</th>", out);
    }
    fputs (table->statistics ? "</tr></thead>\n<tbody>\n" : "<th>total</th></tr></thead>\n<tbody>\n",
           out);
    for (size_t r = 0; r < table->n_row_labels; r++) {
        fputs ("<tr><th>", out);
        cli_html_text (out, s_label (table->row_labels[r]));
        fputs ("</th>", out);
        for (size_t c = 0; c < table->n_column_labels; c++) {
            const Kinnet__V1__ReportCell *cell = table->cells[r * table->n_column_labels + c];
            fprintf (out, "<td%s>", cell->withheld ? " class=\"withheld\"" : "");
            cli_html_text (out, s_text (report, table, cell, buf, sizeof buf));
            fputs ("</td>", out);
        }
        if (table->statistics) {
            fputs ("</tr>\n", out);
            continue;
        }
        fprintf (out, "<td class=\"total%s\">", table->row_totals[r]->withheld ? " withheld" : "");
        cli_html_text (out, s_cell_text (report, table->row_totals[r], buf, sizeof buf));
        fputs ("</td></tr>\n", out);
    }
    if (table->statistics) {
        fprintf (out, "</tbody>\n</table>\n<p class=\"note\">%d statistic(s) withheld.</p>\n",
                 table->withheld);
        s_html_bars (out, report, table, "median hours to acceptance", 1);
        return;
    }
    fputs ("<tr class=\"total\"><th>total</th>", out);
    for (size_t c = 0; c < table->n_column_labels; c++) {
        fputs ("<td>", out);
        cli_html_text (out, s_cell_text (report, table->column_totals[c], buf, sizeof buf));
        fputs ("</td>", out);
    }
    fputs ("<td>", out);
    cli_html_text (out, s_cell_text (report, table->grand_total, buf, sizeof buf));
    fprintf (out, "</td></tr>\n</tbody>\n</table>\n<p class=\"note\">%d cell(s) withheld.</p>\n",
             table->withheld);
    s_html_chart (out, report, table);
}

static void
s_write_html (FILE *out, const Kinnet__V1__Report *report, const Kinnet__V1__ReadSource *source)
{
    fputs ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
           "Kinnet report: ",
           out);
    cli_html_text (out, report->report);
    fputs ("</title>\n<style>\n"
           "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}\n"
           "table{border-collapse:collapse;margin:.5em 0}\n"
           "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}\n"
           "thead th,tbody th{background:#f2f2f2;text-align:left}\n"
           "tr.total td,td.total{font-weight:bold}\n"
           "td.withheld{color:#777;font-style:italic}\n"
           ".note{color:#555;font-size:.9em}\n"
           "svg.chart{display:block;margin:.5em 0 1.5em;font-size:12px}\n"
           "footer{margin-top:2em;border-top:1px solid #bbb;padding-top:.5em;font-size:.9em}\n"
           "@media print{body{margin:0}h2{page-break-before:auto}table,svg{page-break-inside:avoid}}\n"
           "</style>\n</head>\n<body>\n<h1>Kinnet report: ",
           out);
    cli_html_text (out, report->report);
    fputs ("</h1>\n<p>From ", out);
    cli_html_text (out, report->from);
    fputs (" (included) to ", out);
    cli_html_text (out, report->to);
    fputs (" (excluded).</p>\n", out);
    for (size_t s = 0; s < report->n_sections; s++) {
        const Kinnet__V1__ReportSection *section = report->sections[s];
        fputs ("<section>\n<h2>", out);
        cli_html_text (out, section->title);
        fputs ("</h2>\n", out);
        if (*section->note) {
            fputs ("<p class=\"note\">", out);
            cli_html_text (out, section->note);
            fputs ("</p>\n", out);
        }
        if (!section->available)
            fputs ("<p><em>Not available.</em></p>\n", out);
        for (size_t t = 0; t < section->n_tables; t++)
            s_html_table (out, report, section->tables[t]);
        fputs ("</section>\n", out);
    }
    fputs ("<footer>\n<p>", out);
    cli_html_text (out, report->method);
    fputs ("</p>\n<p>Withheld cells are shown as ", out);
    cli_html_text (out, report->marker);
    fputs (". This report holds no personal data.</p>\n<p>", out);
    char text[160];
    cli_html_text (out, cli_source_text (source, text, sizeof text));
    fputs (".</p>\n</footer>\n</body>\n</html>\n", out);
}

//  ------------------------------------------------------------------------

static int
s_dimensions (const char *list, Kinnet__V1__ReportDimension *by, size_t *n, kn_error_t *err)
{
    *n = 0;
    const char *at = list ? list : "";
    while (*at && *n < 3) {
        size_t len = strcspn (at, ",");
        char name[64] = "BY_";
        if (len > 40)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "by", "unknown dimension");
        strncat (name, at, len);
        int value = cli_enum (&kinnet__v1__report_dimension__descriptor, name);
        if (value < 0)
            return kn_error_set (err, KN_E_INVALID_ARGUMENT, "by", "unknown dimension '%.*s'",
                                 (int) len, at);
        by[(*n)++] = value;
        at += len + (at[len] == ',');
    }
    return 0;
}

//  Unix seconds of a YYYY-MM-DD date (UTC midnight), or -1.
static long long
s_day (const char *text)
{
    struct tm tm = {0};
    const char *end = text ? strptime (text, "%Y-%m-%d", &tm) : NULL;
    return end && !*end ? (long long) timegm (&tm) : -1;
}

//  kinnet report governance: the log itself, as JSON.
static int
s_governance (const cli_options_t *options, int argc, char **argv)
{
    kn_error_t err;
    kn_error_clear (&err);
    const char *flags[] = {"--from", "--to"};
    Kinnet__V1__Timestamp bounds[2] = {KINNET__V1__TIMESTAMP__INIT, KINNET__V1__TIMESTAMP__INIT};
    Kinnet__V1__ListGovernance op = KINNET__V1__LIST_GOVERNANCE__INIT;
    Kinnet__V1__Timestamp **slots[] = {&op.from, &op.to};
    for (int i = 0; i < 2; i++) {
        const char *text = cli_arg (argc, argv, flags[i]);
        if (!text)
            continue;
        bounds[i].seconds = s_day (text);
        if (bounds[i].seconds < 0) {
            kn_error_set (&err, KN_E_INVALID_ARGUMENT, flags[i] + 2, "%s must be YYYY-MM-DD",
                          flags[i]);
            return cli_fail (options, &err);
        }
        *slots[i] = &bounds[i];
    }
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_GOVERNANCE;
    request.governance = &op;
    Kinnet__V1__ReportingReply *reply = (Kinnet__V1__ReportingReply *) cli_request (
        options, "reporting", &request.base, &kinnet__v1__reporting_reply__descriptor, &err);
    if (!reply)
        return cli_fail (options, &err);
    //  The GovernanceLog message, with where it was read as "source".
    json_t *json = kn_pbjson_encode (&reply->governance->base);
    if (reply->source)
        json_object_set_new (json, "source", kn_pbjson_encode (&reply->source->base));
    json_dumpf (json, stdout, JSON_INDENT (2));
    printf ("\n");
    json_decref (json);
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}

int
cli_report (const cli_options_t *options, int argc, char **argv)
{
    static const char *const valued[] = {"--from", "--to", "--by", "--out", NULL};
    static const char *const governance_valued[] = {"--from", "--to", NULL};
    const char *name = cli_positional (argc, argv, valued, 1);
    bool governance = name && strcmp (name, "governance") == 0;
    if (!cli_flag (argc, argv, "--help") &&
        !cli_command_ok (argc, argv, governance ? governance_valued : valued, NULL, 1, 1,
                         1, s_usage))
        return CLI_USAGE;
    if (governance && !cli_flag (argc, argv, "--help"))
        return s_governance (options, argc, argv);
    const char *from = cli_arg (argc, argv, "--from");
    const char *to = cli_arg (argc, argv, "--to");
    const char *format = cli_arg (argc, argv, "--format");
    const char *path = cli_arg (argc, argv, "--out");
    if (cli_flag (argc, argv, "--help") || !name || !from || !to
        || (format && strcmp (format, "csv") && strcmp (format, "json") && strcmp (format, "html"))) {
        bool help = cli_flag (argc, argv, "--help");
        fputs (s_usage, help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (!format)
        format = options->json ? "json" : "csv";
    kn_error_t err;
    kn_error_clear (&err);
    Kinnet__V1__ReportDimension by[3];
    size_t n_by;
    if (s_dimensions (cli_arg (argc, argv, "--by"), by, &n_by, &err))
        return cli_fail (options, &err);
    Kinnet__V1__RunReport run = KINNET__V1__RUN_REPORT__INIT;
    run.report = (char *) name;
    run.from = (char *) from;
    run.to = (char *) to;
    run.by = by;
    run.n_by = n_by;
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_REPORT;
    request.report = &run;
    //  The file before the request, as for a subject export: a taken name is
    //  refused before the report runs.
    FILE *out = stdout;
    if (path && !(out = cli_out_create (path, &err)))
        return cli_fail (options, &err);
    bool tty = isatty (STDERR_FILENO);
    if (tty)
        fprintf (stderr, "running report %s ...\r", name);
    Kinnet__V1__ReportingReply *reply = (Kinnet__V1__ReportingReply *) cli_request (
        options, "reporting", &request.base, &kinnet__v1__reporting_reply__descriptor, &err);
    if (tty)
        fprintf (stderr, "%40s\r", "");
    if (!reply) {
        if (path)
            cli_out_abandon (&out, path);
        return cli_fail (options, &err);
    }
    if (strcmp (format, "json") == 0) {
        //  The Report message, with where it was read as "source".
        json_t *json = kn_pbjson_encode (&reply->report->base);
        if (reply->source)
            json_object_set_new (json, "source", kn_pbjson_encode (&reply->source->base));
        json_dumpf (json, out, JSON_INDENT (2));
        fputc ('\n', out);
        json_decref (json);
    }
    else if (strcmp (format, "html") == 0)
        s_write_html (out, reply->report, reply->source);
    else
        s_write_csv (out, reply->report, reply->source);
    if (path) {
        if (cli_out_close (&out, path, &err)) {
            kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
            return cli_fail (options, &err);
        }
        size_t tables = 0;
        for (size_t s = 0; s < reply->report->n_sections; s++)
            tables += reply->report->sections[s]->n_tables;
        char text[160];
        fprintf (stderr, "report %s: %zu table(s) written to %s; %s\n", name, tables, path,
                 cli_source_text (reply->source, text, sizeof text));
    }
    kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
    return CLI_OK;
}
