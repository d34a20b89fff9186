/*  kinnet subject export SUBJECT: a subject access export for a data-protection
    officer, written as JSON or as one self-contained HTML page. It holds personal
    data: it goes to a file (--out, created mode 0600), never to a terminal unless
    asked with --out -. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kinnet/v1/reporting.pb-c.h"

static const char *s_usage
    = "usage: kinnet subject export SUBJECT_ID --out FILE [--format json|html]\n"
      "                             [--caseworker ID]\n"
      "Everything Kinnet holds about one person: their entries in referrals (opened),\n"
      "consents, statutory bases and overrides, the family's cases, every disclosure of\n"
      "their data and every audit record about them. Needs the data_protection_officer\n"
      "role; the export is itself audited. The file is created new with mode 0600 (an\n"
      "existing file or a symbolic link is refused, not overwritten); --out -\n"
      "writes to standard output. The format follows the file name (.html) unless\n"
      "--format says otherwise.\n";

//  Any JSON value as nested HTML: objects as two-column tables, arrays as numbered
//  lists, scalars as text.
static void
s_html_value (FILE *out, json_t *value)
{
    if (json_is_object (value)) {
        fputs ("<table>", out);
        const char *key;
        json_t *item;
        json_object_foreach (value, key, item)
        {
            fputs ("<tr><th>", out);
            cli_html_text (out, key);
            fputs ("</th><td>", out);
            s_html_value (out, item);
            fputs ("</td></tr>", out);
        }
        fputs ("</table>", out);
    }
    else if (json_is_array (value)) {
        if (json_array_size (value) == 0) {
            fputs ("<em>none</em>", out);
            return;
        }
        fputs ("<ol>", out);
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item)
        {
            fputs ("<li>", out);
            s_html_value (out, item);
            fputs ("</li>", out);
        }
        fputs ("</ol>", out);
    }
    else if (json_is_string (value))
        cli_html_text (out, json_string_value (value));
    else if (json_is_null (value))
        fputs ("<em>-</em>", out);
    else {
        char *text = json_dumps (value, JSON_ENCODE_ANY);
        cli_html_text (out, text);
        free (text);
    }
}

static void
s_write_html (FILE *out, json_t *document)
{
    fputs ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<title>Subject access export</title>\n<style>\n"
           "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
           "table{border-collapse:collapse;margin:.2em 0}\n"
           "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}\n"
           "th{background:#f4f4f4;font-weight:600}\nol{margin:.2em 0;padding-left:1.5em}\n"
           "@media print{body{margin:0}}\n</style>\n</head>\n<body>\n"
           "<h1>Subject access export</h1>\n<p><strong>Personal data.</strong> Everything "
           "Kinnet holds about subject ",
           out);
    cli_html_text (out, json_string_value (json_object_get (document, "subject_id")));
    fputs (", as exported for the data-protection officer.</p>\n", out);
    const char *key;
    json_t *value;
    json_object_foreach (document, key, value)
    {
        fputs ("<h2>", out);
        cli_html_text (out, key);
        fputs ("</h2>\n", out);
        s_html_value (out, value);
        fputc ('\n', out);
    }
    fputs ("</body>\n</html>\n", out);
}

int
cli_subject (const cli_options_t *options, int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : "";
    if (strcmp (action, "erase") == 0 || strcmp (action, "hold") == 0 ||
        strcmp (action, "holds") == 0 || strcmp (action, "rectify") == 0 ||
        strcmp (action, "merge") == 0 || strcmp (action, "unmerge") == 0 ||
        strcmp (action, "split") == 0)
        return cli_records (options, argc, argv);
    static const char *const valued[] = {"--out", "--caseworker", NULL};
    if (!cli_flag (argc, argv, "--help") &&
        !cli_command_ok (argc, argv, valued, NULL, 2, 1, 1, s_usage))
        return CLI_USAGE;
    const char *id = cli_positional (argc, argv, valued, 2);
    const char *path = cli_arg (argc, argv, "--out");
    const char *format = cli_arg (argc, argv, "--format");
    if (cli_flag (argc, argv, "--help") || strcmp (action, "export") || !id || !path
        || (format && strcmp (format, "json") && strcmp (format, "html"))) {
        bool help = cli_flag (argc, argv, "--help");
        fputs (s_usage, help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    bool html = format ? strcmp (format, "html") == 0
                       : strlen (path) > 5 && strcmp (path + strlen (path) - 5, ".html") == 0;
    const char *caseworker = cli_arg (argc, argv, "--caseworker");
    Kinnet__V1__ExportSubject op = KINNET__V1__EXPORT_SUBJECT__INIT;
    op.subject_id = (char *) id;
    op.caseworker_id = (char *) (caseworker ? caseworker : "");
    kn_error_t err;
    kn_error_clear (&err);
    //  The file before the request: a name that is taken is refused before anything
    //  is disclosed (and audited); a refused request removes the empty file.
    FILE *out = stdout;
    if (strcmp (path, "-") && !(out = cli_out_create (path, &err)))
        return cli_fail (options, &err);
    Kinnet__V1__ReportingRequest request = KINNET__V1__REPORTING_REQUEST__INIT;
    request.op_case = KINNET__V1__REPORTING_REQUEST__OP_EXPORT_SUBJECT;
    request.export_subject = &op;
    Kinnet__V1__ReportingReply *reply = (Kinnet__V1__ReportingReply *) cli_request (
        options, "reporting", &request.base, &kinnet__v1__reporting_reply__descriptor, &err);
    json_t *document = NULL;
    char source[160] = "";
    if (reply) {
        json_error_t parse_error;
        document = json_loads (reply->subject_access->json, 0, &parse_error);
        cli_source_text (reply->source, source, sizeof source);
        kinnet__v1__reporting_reply__free_unpacked (reply, NULL);
        if (!document)
            kn_error_set (&err, KN_E_INTERNAL, NULL, "the export is not JSON");
    }
    if (!document) {
        if (out != stdout)
            cli_out_abandon (&out, path);
        return cli_fail (options, &err);
    }
    if (html)
        s_write_html (out, document);
    else {
        json_dumpf (document, out, JSON_INDENT (2));
        fputc ('\n', out);
    }
    size_t disclosures = json_array_size (json_object_get (document, "disclosures"));
    size_t audit = json_array_size (json_object_get (document, "audit"));
    json_decref (document);
    if (out != stdout) {
        if (cli_out_close (&out, path, &err))
            return cli_fail (options, &err);
        fprintf (stderr, "subject %s: %zu disclosure(s), %zu audit record(s); written to %s; %s\n",
                 id, disclosures, audit, path, source);
    }

    return CLI_OK;
}
