/*  kn_metrics: the text format read back line by line as a scraper would, exact
    totals from threads recording at once, the cardinality cap, and the HTTP
    endpoint over a real TCP socket. Each test runs in its own process (Criterion),
    so each starts from an empty registry. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "kn_metrics.h"
#include "kn_test.h"

static void
s_teardown (void)
{
    kn_metrics_serve_stop ();
    kn_metrics_reset ();
    kn_test_no_leaks ();
}

TestSuite (metrics, .fini = s_teardown, .timeout = 60);

//  -------------------------------------------------------------------------
//  A small reader of text format 0.0.4: it fails the test on any line a
//  Prometheus scraper would reject or misread, and keeps the samples.

#define MAX_SAMPLES 16384

typedef struct {
    char name[128];   // metric name, suffix included (x_bucket)
    char labels[512]; // raw text between the braces, "" without
    char le[32];      // value of the le label, if any
    double value;
} sample_t;

typedef struct {
    sample_t samples[MAX_SAMPLES];
    size_t count;
    char families[64][128]; // names with TYPE, in order
    char types[64][16];
    size_t n_families;
} parsed_t;

static bool
s_name_char (char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

//  The family a sample belongs to: its name, or without a histogram's suffix.
static const char *
s_family_of (parsed_t *parsed, const char *name, char *out, size_t size)
{
    static const char *suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t f = 0; f < parsed->n_families; f++) {
        if (strcmp (parsed->families[f], name) == 0)
            return parsed->families[f];
        if (strcmp (parsed->types[f], "histogram") != 0)
            continue;
        size_t len = strlen (parsed->families[f]);
        for (size_t k = 0; k < 3; k++)
            if (strncmp (name, parsed->families[f], len) == 0 &&
                strcmp (name + len, suffixes[k]) == 0)
                return parsed->families[f];
    }
    snprintf (out, size, "%s", name);
    return NULL;
}

static parsed_t *
s_parse (const char *text)
{
    parsed_t *parsed = calloc (1, sizeof *parsed);
    cr_assert (text && *text);
    cr_assert_eq (text[strlen (text) - 1], '\n',
                  "the exposition must end with a newline");
    char help_for[128] = "";
    const char *current = NULL; // family whose samples are being read
    for (const char *line = text; *line;) {
        const char *end = strchr (line, '\n');
        cr_assert (end);
        char buf[2048];
        size_t len = (size_t)(end - line);
        cr_assert_lt (len, sizeof buf);
        memcpy (buf, line, len);
        buf[len] = 0;
        line = end + 1;
        cr_assert_gt (len, 0, "empty line");
        if (strncmp (buf, "# HELP ", 7) == 0) {
            cr_assert_eq (sscanf (buf + 7, "%127s", help_for), 1);
            cr_assert_gt (strlen (buf), 7 + strlen (help_for) + 1,
                          "HELP without text: %s", buf);
            continue;
        }
        if (strncmp (buf, "# TYPE ", 7) == 0) {
            char name[128], type[16];
            cr_assert_eq (sscanf (buf + 7, "%127s %15s", name, type), 2, "%s", buf);
            cr_assert_str_eq (name, help_for, "TYPE %s not right after its HELP", name);
            cr_assert (strcmp (type, "counter") == 0 || strcmp (type, "gauge") == 0 ||
                           strcmp (type, "histogram") == 0,
                       "type %s", type);
            for (size_t f = 0; f < parsed->n_families; f++)
                cr_assert_str_neq (parsed->families[f], name, "family %s twice", name);
            cr_assert_lt (parsed->n_families, 64);
            snprintf (parsed->families[parsed->n_families], 128, "%s", name);
            snprintf (parsed->types[parsed->n_families], 16, "%s", type);
            current = parsed->families[parsed->n_families++];
            continue;
        }
        cr_assert_neq (buf[0], '#', "unexpected comment: %s", buf);
        cr_assert_lt (parsed->count, MAX_SAMPLES);
        sample_t *sample = &parsed->samples[parsed->count++];
        const char *at = buf;
        size_t n = 0;
        while (s_name_char (*at, n == 0) && n + 1 < sizeof sample->name)
            sample->name[n++] = *at++;
        cr_assert_gt (n, 0, "sample without a name: %s", buf);
        if (*at == '{') {
            //  label="value" pairs; a value holds only \\, \" and \n escapes.
            const char *open = ++at;
            while (*at != '}') {
                char label[64];
                size_t k = 0;
                while (s_name_char (*at, k == 0) && k + 1 < sizeof label)
                    label[k++] = *at++;
                label[k] = 0;
                cr_assert_gt (k, 0, "label name expected: %s", buf);
                cr_assert_eq (at[0], '=', "%s", buf);
                cr_assert_eq (at[1], '"', "%s", buf);
                at += 2;
                char value[256];
                size_t v = 0;
                while (*at != '"') {
                    cr_assert (*at, "unterminated label value: %s", buf);
                    if (*at == '\\') {
                        at++;
                        cr_assert (*at == '\\' || *at == '"' || *at == 'n',
                                   "bad escape in %s", buf);
                    }
                    if (v + 1 < sizeof value)
                        value[v++] = *at;
                    at++;
                }
                value[v] = 0;
                at++;
                if (strcmp (label, "le") == 0)
                    snprintf (sample->le, sizeof sample->le, "%.31s", value);
                if (*at == ',')
                    at++;
                else
                    cr_assert_eq (*at, '}', "%s", buf);
            }
            size_t raw = (size_t)(at - open);
            cr_assert_lt (raw, sizeof sample->labels);
            memcpy (sample->labels, open, raw);
            at++;
        }
        cr_assert_eq (*at, ' ', "one space before the value: %s", buf);
        char *value_end;
        sample->value = strtod (at + 1, &value_end);
        cr_assert (value_end != at + 1 && *value_end == 0, "bad value: %s", buf);
        char unknown[128];
        const char *family = s_family_of (parsed, sample->name, unknown, sizeof unknown);
        cr_assert (family, "sample %s has no HELP/TYPE", sample->name);
        cr_assert_eq (family, current, "sample %s outside its family's block",
                      sample->name);
    }
    return parsed;
}

static const char *
s_type_of (parsed_t *parsed, const char *family)
{
    for (size_t f = 0; f < parsed->n_families; f++)
        if (strcmp (parsed->families[f], family) == 0)
            return parsed->types[f];
    return NULL;
}

//  Labels without le, for grouping a histogram's buckets.
static void
s_without_le (const char *labels, char *out, size_t size)
{
    const char *le = strstr (labels, "le=\"");
    size_t keep = le ? (size_t)(le - labels) : strlen (labels);
    if (keep && labels[keep - 1] == ',')
        keep--;
    snprintf (out, size, "%.*s", (int)keep, labels);
}

//  Every histogram: buckets in rising le order, cumulative, ending with +Inf equal
//  to _count. Returns how many histogram series were checked.
static int
s_check_histograms (parsed_t *parsed)
{
    int checked = 0;
    for (size_t i = 0; i < parsed->count; i++) {
        sample_t *first = &parsed->samples[i];
        size_t len = strlen (first->name);
        if (len < 7 || strcmp (first->name + len - 7, "_bucket") != 0)
            continue;
        if (i > 0 && strcmp (parsed->samples[i - 1].name, first->name) == 0) {
            char a[512], b[512];
            s_without_le (parsed->samples[i - 1].labels, a, sizeof a);
            s_without_le (first->labels, b, sizeof b);
            if (strcmp (a, b) == 0)
                continue; // not the first bucket of its series
        }
        char base[128], series[512];
        snprintf (base, sizeof base, "%.*s", (int)(len - 7), first->name);
        cr_assert_str_eq (s_type_of (parsed, base), "histogram");
        s_without_le (first->labels, series, sizeof series);
        double last_bound = -1, last_count = 0;
        size_t j = i;
        for (; j < parsed->count && strcmp (parsed->samples[j].name, first->name) == 0;
             j++) {
            char labels[512];
            s_without_le (parsed->samples[j].labels, labels, sizeof labels);
            if (strcmp (labels, series) != 0)
                break;
            sample_t *bucket = &parsed->samples[j];
            cr_assert (*bucket->le, "bucket without le");
            double bound =
                strcmp (bucket->le, "+Inf") == 0 ? INFINITY : strtod (bucket->le, NULL);
            cr_assert_gt (bound, last_bound, "le not rising in %s{%s}", base, series);
            cr_assert_geq (bucket->value, last_count, "buckets not cumulative in %s{%s}",
                           base, series);
            last_bound = bound;
            last_count = bucket->value;
        }
        cr_assert (isinf (last_bound), "%s{%s}: last bucket is not +Inf", base, series);
        //  Then _sum and _count of the same series.
        cr_assert_lt (j + 1, parsed->count);
        char name[160];
        snprintf (name, sizeof name, "%s_sum", base);
        cr_assert_str_eq (parsed->samples[j].name, name);
        cr_assert_str_eq (parsed->samples[j].labels, series);
        snprintf (name, sizeof name, "%s_count", base);
        cr_assert_str_eq (parsed->samples[j + 1].name, name);
        cr_assert_str_eq (parsed->samples[j + 1].labels, series);
        cr_assert_eq (parsed->samples[j + 1].value, last_count,
                      "+Inf != _count in %s{%s}", base, series);
        checked++;
    }
    return checked;
}

static double
s_value (const char *text, const char *series)
{
    double value = 0;
    cr_assert (kn_test_metric (text, series, &value), "no sample %s in:\n%s", series,
               text);
    return value;
}

//  -------------------------------------------------------------------------

Test (metrics, render_is_valid_text_format)
{
    double durations[] = {0.0001, 0.003, 0.3, 20};
    for (size_t i = 0; i < 4; i++)
        kn_metrics_request ("intake", "submit", "ok", durations[i]);
    kn_metrics_request ("intake", "submit", "conflict", 0.0005); // on a bound: in it
    kn_metrics_request ("intake", "get", "ok", 0.01);
    kn_metrics_gauge_set ("kinnet_outbox_lag_events", 7, "routing", NULL);
    kn_metrics_gauge_set ("kinnet_outbox_lag_events", 3, "routing", NULL);
    kn_metrics_counter_add ("kinnet_broker_requests_total", 2, "intake", "ok", NULL);
    kn_metrics_counter_add ("kinnet_broker_requests_total", 1, "intake", "ok", NULL);
    kn_metrics_gauge_set ("kinnet_broker_workers", 2, "intake", NULL);

    char *text = kn_metrics_render ();
    parsed_t *parsed = s_parse (text);
    cr_assert_eq (s_check_histograms (parsed), 2);
    cr_assert_str_eq (s_type_of (parsed, "kinnet_requests_total"), "counter");
    cr_assert_str_eq (s_type_of (parsed, "kinnet_request_duration_seconds"), "histogram");
    cr_assert_str_eq (s_type_of (parsed, "kinnet_outbox_lag_events"), "gauge");
    cr_assert_str_eq (s_type_of (parsed, "kinnet_broker_requests_total"), "counter");
    cr_assert_str_eq (s_type_of (parsed, "kinnet_up"), "gauge");
    //  Families nobody recorded into are left out.
    cr_assert_null (s_type_of (parsed, "kinnet_broker_connections"));

    cr_assert_eq (s_value (text, "kinnet_requests_total{service=\"intake\",operation="
                                 "\"submit\",result=\"ok\"}"),
                  4);
    cr_assert_eq (
        s_value (text, "kinnet_requests_total{service=\"intake\",operation=\"submit\","
                       "result=\"conflict\"}"),
        1);
    const char *submit = "kinnet_request_duration_seconds_bucket{service=\"intake\","
                         "operation=\"submit\",le=";
    char series[256];
    struct {
        const char *le;
        double count;
    } expected[] = {{"0.0001", -1}, {"0.0005", 2}, {"0.001", 2}, {"0.005", 3},
                    {"0.25", 3},    {"0.5", 4},    {"10", 4},    {"+Inf", 5}};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        snprintf (series, sizeof series, "%s\"%s\"}", submit, expected[i].le);
        double value;
        bool found = kn_test_metric (text, series, &value);
        cr_assert_eq (found, expected[i].count >= 0, "%s", series);
        if (found)
            cr_assert_eq (value, expected[i].count, "%s: %g", series, value);
    }
    cr_assert_eq (s_value (text,
                           "kinnet_request_duration_seconds_count{service=\"intake\","
                           "operation=\"submit\"}"),
                  5);
    cr_assert_float_eq (s_value (text,
                                 "kinnet_request_duration_seconds_sum{service=\"intake\","
                                 "operation=\"submit\"}"),
                        20.3036, 1e-9);
    cr_assert_eq (s_value (text, "kinnet_outbox_lag_events{consumer=\"routing\"}"), 3);
    cr_assert_eq (
        s_value (text, "kinnet_broker_requests_total{service=\"intake\",result=\"ok\"}"),
        3);
    cr_assert_eq (s_value (text, "kinnet_up"), 1);
    free (parsed);
    free (text);
}

Test (metrics, label_values_are_escaped)
{
    kn_metrics_request ("intake", "a\"b\\c\nd", "ok", 0.001);
    char *text = kn_metrics_render ();
    parsed_t *parsed = s_parse (text); // one sample per line: the newline is escaped
    s_check_histograms (parsed);
    cr_assert_eq (s_value (text, "kinnet_requests_total{service=\"intake\","
                                 "operation=\"a\\\"b\\\\c\\nd\",result=\"ok\"}"),
                  1);
    free (parsed);
    free (text);
}

Test (metrics, process_metrics)
{
    char *text = kn_metrics_render ();
    parsed_t *parsed = s_parse (text);
    cr_assert_eq (s_value (text, "kinnet_up"), 1);
    cr_assert_gt (s_value (text, "process_resident_memory_bytes"), 1024 * 1024);
    double started = s_value (text, "process_start_time_seconds");
    double now = (double)time (NULL);
    cr_assert (started > now - 600 && started <= now + 1, "start %f, now %f", started,
               now);
    cr_assert_geq (s_value (text, "process_cpu_seconds_total"), 0);
    free (parsed);
    free (text);
}

//  -------------------------------------------------------------------------

#define THREADS 8
#define RECORDS 5000

static void *
s_recorder (void *arg)
{
    static const char *operations[] = {"submit", "get", "withdraw", "review"};
    long id = (long)arg;
    for (int i = 0; i < RECORDS; i++) {
        kn_metrics_request ("intake", operations[(i + id) % 4],
                            (i / 4) % 2 ? "ok" : "conflict", 0.001 * (i % 7));
        kn_metrics_counter_add ("kinnet_broker_requests_total", 1, "intake", "ok", NULL);
        kn_metrics_gauge_set ("kinnet_broker_workers", (double)id, "intake", NULL);
    }
    return NULL;
}

static void *
s_renderer (void *arg)
{
    for (int i = 0; i < 50; i++)
        free (kn_metrics_render ());
    return NULL;
}

Test (metrics, threads_record_exact_totals)
{
    pthread_t threads[THREADS + 1];
    for (long i = 0; i < THREADS; i++)
        cr_assert_eq (pthread_create (&threads[i], NULL, s_recorder, (void *)i), 0);
    cr_assert_eq (pthread_create (&threads[THREADS], NULL, s_renderer, NULL), 0);
    for (int i = 0; i <= THREADS; i++)
        pthread_join (threads[i], NULL);

    char *text = kn_metrics_render ();
    parsed_t *parsed = s_parse (text);
    cr_assert_eq (s_check_histograms (parsed), 4);
    double total = 0, count = 0;
    for (size_t i = 0; i < parsed->count; i++) {
        if (strcmp (parsed->samples[i].name, "kinnet_requests_total") == 0)
            total += parsed->samples[i].value;
        if (strcmp (parsed->samples[i].name, "kinnet_request_duration_seconds_count") ==
            0)
            count += parsed->samples[i].value;
    }
    cr_assert_eq (total, THREADS * RECORDS);
    cr_assert_eq (count, THREADS * RECORDS);
    //  Each thread gives each operation a quarter of its records, half of them ok.
    cr_assert_eq (
        s_value (
            text,
            "kinnet_requests_total{service=\"intake\",operation=\"get\",result=\"ok\"}"),
        THREADS * RECORDS / 8);
    cr_assert_eq (
        s_value (text, "kinnet_broker_requests_total{service=\"intake\",result=\"ok\"}"),
        THREADS * RECORDS);
    double workers = s_value (text, "kinnet_broker_workers{service=\"intake\"}");
    cr_assert (workers >= 0 && workers < THREADS);
    free (parsed);
    free (text);
}

Test (metrics, label_sets_are_capped)
{
    char operation[32];
    for (int i = 0; i < KN_METRICS_MAX_SERIES + 100; i++) {
        snprintf (operation, sizeof operation, "op%d", i);
        kn_metrics_request ("intake", operation, "ok", 0.001);
    }
    //  Series that existed before the cap go on counting in their own name.
    kn_metrics_request ("intake", "op0", "ok", 0.001);
    char *text = kn_metrics_render ();
    parsed_t *parsed = s_parse (text);
    size_t series = 0;
    for (size_t i = 0; i < parsed->count; i++)
        if (strcmp (parsed->samples[i].name, "kinnet_requests_total") == 0)
            series++;
    cr_assert_eq (series, KN_METRICS_MAX_SERIES + 1);
    cr_assert_eq (s_check_histograms (parsed), KN_METRICS_MAX_SERIES + 1);
    cr_assert_eq (s_value (text, "kinnet_requests_total{service=\"other\",operation="
                                 "\"other\",result=\"other\"}"),
                  100);
    cr_assert_eq (s_value (text,
                           "kinnet_request_duration_seconds_count{service=\"other\","
                           "operation=\"other\"}"),
                  100);
    cr_assert_eq (
        s_value (
            text,
            "kinnet_requests_total{service=\"intake\",operation=\"op0\",result=\"ok\"}"),
        2);
    double unused;
    snprintf (operation, sizeof operation, "op%d", KN_METRICS_MAX_SERIES);
    char name[160];
    snprintf (name, sizeof name,
              "kinnet_requests_total{service=\"intake\",operation=\"%s\",result=\"ok\"}",
              operation);
    cr_assert_not (kn_test_metric (text, name, &unused));
    free (parsed);
    free (text);
}

//  -------------------------------------------------------------------------
//  The endpoint, over real TCP

Test (metrics, http_serves_metrics)
{
    kn_error_t err;
    cr_assert_eq (kn_metrics_serve_start ("127.0.0.1:0", &err), 0, "%s", err.message);
    int port = kn_metrics_serve_port ();
    cr_assert_gt (port, 0);
    kn_metrics_request ("consent", "record", "ok", 0.002);

    char *headers, *body;
    cr_assert_eq (kn_test_http (port, "GET", "/metrics", &headers, &body), 200);
    cr_assert (strstr (headers, "Content-Type: text/plain; version=0.0.4"), "%s",
               headers);
    parsed_t *parsed = s_parse (body);
    cr_assert_eq (s_check_histograms (parsed), 1);
    cr_assert_eq (
        s_value (body, "kinnet_requests_total{service=\"consent\",operation=\"record\","
                       "result=\"ok\"}"),
        1);
    free (parsed);
    free (headers);
    free (body);

    cr_assert_eq (kn_test_http (port, "GET", "/other", NULL, NULL), 404);
    cr_assert_eq (kn_test_http (port, "GET", "/", NULL, NULL), 404);
    cr_assert_eq (kn_test_http (port, "POST", "/metrics", &headers, NULL), 405);
    cr_assert (strstr (headers, "Allow: GET, HEAD"), "%s", headers);
    free (headers);
    cr_assert_eq (kn_test_http (port, "HEAD", "/metrics", NULL, &body), 200);
    cr_assert_str_eq (body, "");
    free (body);

    kn_metrics_serve_stop ();
    cr_assert_eq (kn_metrics_serve_port (), 0);
    //  The port is free again: a new server may take it.
    char listen[32];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", port);
    cr_assert_eq (kn_metrics_serve_start (listen, &err), 0, "%s", err.message);
    cr_assert_eq (kn_metrics_serve_port (), port);
    cr_assert_eq (kn_test_http (port, "GET", "/metrics", NULL, NULL), 200);
}

Test (metrics, http_configuration_errors)
{
    kn_error_t err;
    //  Unset or empty: no server, no error.
    cr_assert_eq (kn_metrics_serve_start (NULL, &err), 0);
    cr_assert_eq (kn_metrics_serve_start ("", &err), 0);
    cr_assert_eq (kn_metrics_serve_port (), 0);
    const char *bad[] = {"127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kn_error_clear (&err);
        cr_assert_eq (kn_metrics_serve_start (bad[i], &err), -1, "%s", bad[i]);
        cr_assert_str_eq (err.field, "KINNET_METRICS_LISTEN", "%s", bad[i]);
        cr_assert_eq (kn_metrics_serve_port (), 0);
    }
    //  A port someone else holds.
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    cr_assert_eq (bind (fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq (listen (fd, 1), 0);
    socklen_t len = sizeof addr;
    getsockname (fd, (struct sockaddr *)&addr, &len);
    char taken[32];
    snprintf (taken, sizeof taken, "127.0.0.1:%d", ntohs (addr.sin_port));
    cr_assert_eq (kn_metrics_serve_start (taken, &err), -1);
    close (fd);
    //  One server per process.
    cr_assert_eq (kn_metrics_serve_start ("127.0.0.1:0", &err), 0, "%s", err.message);
    cr_assert_eq (kn_metrics_serve_start ("127.0.0.1:0", &err), -1);
    cr_assert_gt (kn_metrics_serve_port (), 0);
}
