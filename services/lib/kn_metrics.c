/*  kn_metrics: the registry, its text rendering and the HTTP endpoint.
    Series are kept per family in creation order (the rendering order) with a hash
    on their joined label values for lookup; one mutex covers the lot. Histograms
    keep a count per bucket and are made cumulative only when rendered. */
#include "kn_metrics.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kn_log.h"

#define MAX_LABELS     3
#define MAX_VALUE      128 // longer label values are cut to this many bytes
#define CONTENT_TYPE   "text/plain; version=0.0.4; charset=utf-8"
#define MAX_CLIENTS    16 // scrapers are few; a flood of connections is not served
#define CLIENT_TIMEOUT 10 // seconds an idle scrape connection is kept

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_type_t;

typedef struct {
    const char *name;
    s_type_t type;
    const char *help;
    const char *labels[MAX_LABELS + 1]; // NULL-terminated
} s_family_t;

//  Every metric family Kinnet records. docs/metrics.md describes each one.
static const s_family_t s_families[] = {
    {"kinnet_requests_total",
     S_COUNTER,
     "Requests a service handled, by operation and result (ok or the error code).",
     {"service", "operation", "result", NULL}},
    {"kinnet_request_duration_seconds",
     S_HISTOGRAM,
     "Time a service took to handle a request, from receipt to reply.",
     {"service", "operation", NULL}},
    {"kinnet_batches_total",
     S_COUNTER,
     "Batches of requests a batching service (intake) handled together; requests per"
     " batch is kinnet_batch_requests_total divided by this.",
     {"service", NULL}},
    {"kinnet_batch_requests_total",
     S_COUNTER,
     "Requests handled in those batches.",
     {"service", NULL}},
    {"kinnet_outbox_lag_events",
     S_GAUGE,
     "Outbox events a consumer has not reached: newest outbox id minus its cursor.",
     {"consumer", NULL}},
    {"kinnet_broker_connections",
     S_GAUGE,
     "Open connections on a broker socket (frontend: agencies, backend: workers).",
     {"socket", NULL}},
    {"kinnet_broker_workers",
     S_GAUGE,
     "Workers registered with the broker for a service.",
     {"service", NULL}},
    {"kinnet_broker_keys",
     S_GAUGE,
     "Keys the broker admits since its last reload: agency (active agency keys) or"
     " service (KINNET_SERVICE_CERTS).",
     {"kind", NULL}},
    {"kinnet_broker_peers",
     S_GAUGE,
     "Brokers of the partnership up now, this one included (core.broker_presence):"
     " the per-agency limits this broker applies are the configured ones divided by it.",
     {NULL}},
    {"kinnet_broker_requests_total",
     S_COUNTER,
     "Client requests the broker answered, by service and how: ok (a worker replied),"
     " unavailable (no worker in time, queue full, worker lost), limited (over the"
     " agency's limits), refused (malformed).",
     {"service", "result", NULL}},
    {"kinnet_broker_auth_denied_total",
     S_COUNTER,
     "Messages the broker dropped because their key is not, or no longer, admitted.",
     {"socket", NULL}},
    {"kinnet_broker_handshakes_refused_total",
     S_COUNTER,
     "CURVE handshakes the broker refused: a key not admitted on that socket, or any"
     " agency key while the key table is stale.",
     {"socket", NULL}},
    {"kinnet_broker_agency_keys_refused_total",
     S_COUNTER,
     "Agency keys the broker left out of its key table on the last reload because a"
     " service or a health check holds the same key.",
     {NULL}},
    {"kinnet_broker_connections_cut_total",
     S_COUNTER,
     "Connections the broker shut down because libzmq buffered too much for them.",
     {"reason", NULL}},
    {"kinnet_reporting_reads_total",
     S_COUNTER,
     "Reads the reporting service answered, by the server that answered (standby or"
     " primary) and why: caught_up (the standby had replayed the primary's position),"
     " or the primary's reason: no_standby, standby_down, standby_behind,"
     " standby_promoted, standby_failed.",
     {"server", "reason", NULL}},
    {"kinnet_reporting_replica_lag_bytes",
     S_GAUGE,
     "WAL bytes the standby had still to replay when the last request came (the"
     " primary's position minus the standby's replay position).",
     {NULL}},
    {"kinnet_reporting_replica_wait_seconds",
     S_GAUGE,
     "How long the last request waited for the standby to replay the primary's"
     " position (up to KINNET_REPORTING_MAX_LAG_MS, then the primary answered).",
     {NULL}},
    {"kinnet_reporting_standby_up",
     S_GAUGE,
     "1 when the last request reached a standby in recovery, else 0.",
     {NULL}},
};
#define FAMILIES (sizeof s_families / sizeof s_families[0])

//  Upper bounds of the duration buckets, as numbers and as their le labels.
static const double s_bounds[KN_METRICS_BUCKETS] = {
    .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
static const char *s_bound_labels[KN_METRICS_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

typedef struct {
    char *values[MAX_LABELS];
    double value;                         // counter or gauge
    uint64_t buckets[KN_METRICS_BUCKETS]; // histogram: observations per bucket
    uint64_t count;
    double sum;
} s_series_t;

typedef struct {
    zhashx_t *index;     // joined label values -> s_series_t *
    s_series_t **series; // in order of creation
    size_t size;
    size_t cap;
    size_t capped; // series counted against KN_METRICS_MAX_SERIES
} s_store_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_store_t s_stores[FAMILIES];

static struct MHD_Daemon *s_httpd; // main thread only

//  -------------------------------------------------------------------------
//  Registry

static size_t
s_label_count (size_t family)
{
    size_t n = 0;
    while (s_families[family].labels[n])
        n++;
    return n;
}

//  The family's index, or FAMILIES (after an assert) when it is not in the table.
static size_t
s_family_find (const char *name)
{
    for (size_t i = 0; i < FAMILIES; i++)
        if (strcmp (s_families[i].name, name) == 0)
            return i;
    assert (!"kn_metrics: metric family not in the table");
    return FAMILIES;
}

static s_series_t *
s_series_new (size_t n, const char *const *values)
{
    s_series_t *series = calloc (1, sizeof *series);
    for (size_t i = 0; series && i < n; i++) {
        series->values[i] = strndup (values[i], MAX_VALUE);
        if (!series->values[i]) {
            for (size_t j = 0; j < i; j++)
                free (series->values[j]);
            free (series);
            series = NULL;
        }
    }
    return series;
}

static void
s_series_free (s_series_t *series)
{
    for (size_t i = 0; i < MAX_LABELS; i++)
        free (series->values[i]);
    free (series);
}

//  The series for these label values, created when new; past the cap, the series
//  whose values are all "other". NULL only when out of memory. Lock held.
static s_series_t *
s_series (size_t family, const char *const *given)
{
    s_store_t *store = &s_stores[family];
    size_t n = s_label_count (family);
    static const char *const others[MAX_LABELS] = {"other", "other", "other"};
    const char *values[MAX_LABELS];
    for (size_t i = 0; i < n; i++)
        values[i] = given[i] ? given[i] : "";
    for (int pass = 0; pass < 2; pass++) {
        //  Values joined by a unit separator; each cut as the stored value is.
        char key[MAX_LABELS * (MAX_VALUE + 1) + 1];
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len = strnlen (values[i], MAX_VALUE);
            memcpy (key + pos, values[i], len);
            pos += len;
            key[pos++] = '\x1f';
        }
        key[pos] = 0;
        if (!store->index && !(store->index = zhashx_new ()))
            return NULL;
        s_series_t *series = zhashx_lookup (store->index, key);
        if (series)
            return series;
        bool overflow = pass == 0 && store->capped >= KN_METRICS_MAX_SERIES;
        if (overflow) {
            memcpy (values, others, sizeof values);
            continue;
        }
        if (store->size == store->cap) {
            size_t cap = store->cap ? store->cap * 2 : 16;
            s_series_t **grown = realloc (store->series, cap * sizeof *grown);
            if (!grown)
                return NULL;
            store->series = grown;
            store->cap = cap;
        }
        series = s_series_new (n, values);
        if (!series || zhashx_insert (store->index, key, series)) {
            if (series)
                s_series_free (series);
            return NULL;
        }
        store->series[store->size++] = series;
        if (pass == 0)
            store->capped++; // the overflow series is not counted against the cap
        return series;
    }
    return NULL;
}

static void
s_observe (s_series_t *series, double seconds)
{
    if (!(seconds >= 0))
        seconds = 0; // a NaN or a clock that went backwards
    size_t i = 0;
    while (i < KN_METRICS_BUCKETS && seconds > s_bounds[i])
        i++;
    if (i < KN_METRICS_BUCKETS)
        series->buckets[i]++;
    series->count++;
    series->sum += seconds;
}

void
kn_metrics_request (const char *service, const char *operation, const char *result,
                    double seconds)
{
    static size_t requests = FAMILIES, durations = FAMILIES;
    const char *counted[] = {service, operation, result};
    pthread_mutex_lock (&s_lock);
    if (requests == FAMILIES) {
        requests = s_family_find ("kinnet_requests_total");
        durations = s_family_find ("kinnet_request_duration_seconds");
    }
    s_series_t *series = s_series (requests, counted);
    if (series)
        series->value += 1;
    series = s_series (durations, counted); // service and operation
    if (series)
        s_observe (series, seconds);
    pthread_mutex_unlock (&s_lock);
}

static void
s_record (const char *name, s_type_t type, double value, bool add, va_list ap)
{
    size_t family = s_family_find (name);
    if (family == FAMILIES)
        return;
    assert (s_families[family].type == type);
    const char *values[MAX_LABELS];
    size_t n = 0;
    bool too_many = false;
    for (const char *v = va_arg (ap, const char *); v; v = va_arg (ap, const char *)) {
        if (n < MAX_LABELS)
            values[n++] = v;
        else
            too_many = true;
    }
    bool fits =
        !too_many && n == s_label_count (family) && s_families[family].type == type;
    assert (fits);
    if (!fits)
        return;
    pthread_mutex_lock (&s_lock);
    s_series_t *series = s_series (family, values);
    if (series)
        series->value = add ? series->value + value : value;
    pthread_mutex_unlock (&s_lock);
}

void
kn_metrics_gauge_set (const char *family, double value, ...)
{
    va_list ap;
    va_start (ap, value);
    s_record (family, S_GAUGE, value, false, ap);
    va_end (ap);
}

void
kn_metrics_counter_add (const char *family, double amount, ...)
{
    va_list ap;
    va_start (ap, amount);
    s_record (family, S_COUNTER, amount, true, ap);
    va_end (ap);
}

void
kn_metrics_reset (void)
{
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < FAMILIES; i++) {
        s_store_t *store = &s_stores[i];
        for (size_t j = 0; j < store->size; j++)
            s_series_free (store->series[j]);
        free (store->series);
        zhashx_destroy (&store->index);
        memset (store, 0, sizeof *store);
    }
    pthread_mutex_unlock (&s_lock);
}

//  -------------------------------------------------------------------------
//  Rendering

static void
s_put_number (FILE *out, double value)
{
    if (isnan (value))
        fputs ("NaN", out);
    else if (isinf (value))
        fputs (value > 0 ? "+Inf" : "-Inf", out);
    else if (value == floor (value) && fabs (value) < 1e15)
        fprintf (out, "%.0f", value);
    else {
        //  The shortest of the usual precisions that reads back as the same number.
        char text[32];
        snprintf (text, sizeof text, "%.15g", value);
        if (strtod (text, NULL) != value)
            snprintf (text, sizeof text, "%.17g", value);
        fputs (text, out);
    }
}

//  HELP text escapes backslash and newline; label values also the double quote.
static void
s_put_escaped (FILE *out, const char *text, bool label)
{
    for (const char *c = text; *c; c++)
        if (*c == '\\')
            fputs ("\\\\", out);
        else if (*c == '\n')
            fputs ("\\n", out);
        else if (*c == '"' && label)
            fputs ("\\\"", out);
        else
            fputc (*c, out);
}

//  name{label="value",...,le="bound"} with the braces left out when empty.
static void
s_put_name (FILE *out, size_t family, const char *suffix, const s_series_t *series,
            const char *le)
{
    fputs (s_families[family].name, out);
    fputs (suffix, out);
    size_t n = s_label_count (family);
    if (n == 0 && !le)
        return;
    fputc ('{', out);
    for (size_t i = 0; i < n; i++) {
        fprintf (out, "%s%s=\"", i ? "," : "", s_families[family].labels[i]);
        s_put_escaped (out, series->values[i], true);
        fputc ('"', out);
    }
    if (le)
        fprintf (out, "%sle=\"%s\"", n ? "," : "", le);
    fputc ('}', out);
}

static void
s_put_header (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s ", name);
    s_put_escaped (out, help, false);
    fprintf (out, "\n# TYPE %s %s\n", name, type);
}

static void
s_put_family (FILE *out, size_t family)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    const s_store_t *store = &s_stores[family];
    if (store->size == 0)
        return;
    s_put_header (out, s_families[family].name, types[s_families[family].type],
                  s_families[family].help);
    for (size_t i = 0; i < store->size; i++) {
        const s_series_t *series = store->series[i];
        if (s_families[family].type != S_HISTOGRAM) {
            s_put_name (out, family, "", series, NULL);
            fputc (' ', out);
            s_put_number (out, series->value);
            fputc ('\n', out);
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t b = 0; b < KN_METRICS_BUCKETS; b++) {
            cumulative += series->buckets[b];
            s_put_name (out, family, "_bucket", series, s_bound_labels[b]);
            fprintf (out, " %llu\n", (unsigned long long)cumulative);
        }
        s_put_name (out, family, "_bucket", series, "+Inf");
        fprintf (out, " %llu\n", (unsigned long long)series->count);
        s_put_name (out, family, "_sum", series, NULL);
        fputc (' ', out);
        s_put_number (out, series->sum);
        fputc ('\n', out);
        s_put_name (out, family, "_count", series, NULL);
        fprintf (out, " %llu\n", (unsigned long long)series->count);
    }
}

//  Start time (seconds since the epoch) and CPU seconds from /proc/self/stat.
static bool
s_proc_stat (double *start, double *cpu)
{
    char buf[1024];
    FILE *file = fopen ("/proc/self/stat", "r");
    size_t got = file ? fread (buf, 1, sizeof buf - 1, file) : 0;
    if (file)
        fclose (file);
    buf[got] = 0;
    //  The command name (field 2) may hold spaces and parentheses: skip past its end.
    char *at = strrchr (buf, ')');
    unsigned long utime, stime;
    unsigned long long started;
    if (!at || sscanf (at + 1,
                       " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu"
                       " %*d %*d %*d %*d %*d %*d %llu",
                       &utime, &stime, &started) != 3)
        return false;
    long ticks = sysconf (_SC_CLK_TCK);
    file = fopen ("/proc/stat", "r");
    long long boot = -1;
    char line[256];
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "btime %lld", &boot) == 1)
            break;
    if (file)
        fclose (file);
    if (ticks <= 0 || boot < 0)
        return false;
    *start = (double)boot + (double)started / (double)ticks;
    *cpu = (double)(utime + stime) / (double)ticks;
    return true;
}

static void
s_put_process (FILE *out)
{
    s_put_header (out, "kinnet_up", "gauge", "1 while the process runs.");
    fputs ("kinnet_up 1\n", out);
    unsigned long long size, resident;
    FILE *statm = fopen ("/proc/self/statm", "r");
    if (statm && fscanf (statm, "%llu %llu", &size, &resident) == 2) {
        s_put_header (out, "process_resident_memory_bytes", "gauge",
                      "Resident memory size in bytes.");
        fprintf (out, "process_resident_memory_bytes %llu\n",
                 resident * (unsigned long long)sysconf (_SC_PAGESIZE));
    }
    if (statm)
        fclose (statm);
    double start, cpu;
    if (s_proc_stat (&start, &cpu)) {
        s_put_header (out, "process_start_time_seconds", "gauge",
                      "Start time of the process since the Unix epoch in seconds.");
        fputs ("process_start_time_seconds ", out);
        s_put_number (out, start);
        fputc ('\n', out);
        s_put_header (out, "process_cpu_seconds_total", "counter",
                      "User and system CPU time the process spent, in seconds.");
        fputs ("process_cpu_seconds_total ", out);
        s_put_number (out, cpu);
        fputc ('\n', out);
    }
}

char *
kn_metrics_render (void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    s_put_process (out);
    pthread_mutex_lock (&s_lock);
    for (size_t i = 0; i < FAMILIES; i++)
        s_put_family (out, i);
    pthread_mutex_unlock (&s_lock);
    if (fclose (out)) {
        free (text);
        return NULL;
    }
    return text;
}

//  -------------------------------------------------------------------------
//  HTTP

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **request_state)
{
    bool get = strcmp (method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp (method, MHD_HTTP_METHOD_HEAD) == 0;
    unsigned status = MHD_HTTP_OK;
    const char *type = CONTENT_TYPE;
    char *body;
    if (strcmp (url, "/metrics") != 0) {
        status = MHD_HTTP_NOT_FOUND;
        type = "text/plain; charset=utf-8";
        body = strdup ("not found: metrics are at /metrics\n");
    } else if (!get) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        type = "text/plain; charset=utf-8";
        body = strdup ("method not allowed: use GET\n");
    } else
        body = kn_metrics_render ();
    if (!body)
        return MHD_NO; // out of memory: MHD closes the connection
    struct MHD_Response *response =
        MHD_create_response_from_buffer_with_free_callback (strlen (body), body, free);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}

//  libmicrohttpd's own complaints, as our log lines.
static void
s_http_log (void *cls, const char *format, va_list ap)
{
    char problem[256];
    vsnprintf (problem, sizeof problem, format, ap);
    size_t len = strlen (problem);
    while (len && (problem[len - 1] == '\n' || problem[len - 1] == '\r'))
        problem[--len] = 0;
    kn_log (KN_WARN, "metrics.http_error", "problem", problem, NULL);
}

//  Split "host:port" / "[v6]:port" / ":port" into host (NULL: any) and port.
static int
s_split (const char *listen, char *host, size_t host_size, char *port, size_t port_size,
         kn_error_t *err)
{
    const char *colon = strrchr (listen, ':');
    if (!colon || !colon[1] || strspn (colon + 1, "0123456789") != strlen (colon + 1) ||
        strlen (colon + 1) >= port_size || atol (colon + 1) > 65535)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_METRICS_LISTEN",
                             "metrics address must be host:port, e.g. 127.0.0.1:9464");
    snprintf (port, port_size, "%s", colon + 1);
    const char *start = listen;
    size_t len = (size_t)(colon - listen);
    if (len >= 2 && start[0] == '[' && start[len - 1] == ']') {
        start++;
        len -= 2;
    }
    if (len >= host_size)
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_METRICS_LISTEN",
                             "metrics host name too long");
    memcpy (host, start, len);
    host[len] = 0;
    if (strcmp (host, "*") == 0)
        host[0] = 0;
    return 0;
}

int
kn_metrics_serve_start (const char *listen, kn_error_t *err)
{
    if (!listen || !*listen)
        return 0;
    if (s_httpd)
        return kn_error_set (err, KN_E_INTERNAL, NULL, "metrics server already running");
    char host[256], port[8];
    if (s_split (listen, host, sizeof host, port, sizeof port, err))
        return -1;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo (*host ? host : NULL, port, &hints, &found);
    if (rc != 0 || !found) {
        if (found)
            freeaddrinfo (found);
        return kn_error_set (err, KN_E_INVALID_ARGUMENT, "KINNET_METRICS_LISTEN",
                             "metrics address %s: %s", listen, gai_strerror (rc));
    }
    //  Prefer IPv4 for a wildcard: the address operators expect for ":9464".
    struct addrinfo *use = found;
    for (struct addrinfo *at = found; !*host && at; at = at->ai_next)
        if (at->ai_family == AF_INET) {
            use = at;
            break;
        }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (use->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    //  The server's thread inherits this mask: SIGINT and SIGTERM go to the threads
    //  that watch zsys_interrupted, never to it.
    sigset_t block, saved;
    sigemptyset (&block);
    sigaddset (&block, SIGINT);
    sigaddset (&block, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &block, &saved);
    s_httpd = MHD_start_daemon (
        flags, (uint16_t)atoi (port), NULL, NULL, s_answer, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, s_http_log, NULL, // first, or MHD logs its own way
        MHD_OPTION_SOCK_ADDR, use->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)MAX_CLIENTS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CLIENT_TIMEOUT,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    freeaddrinfo (found);
    if (!s_httpd)
        return kn_error_set (err, KN_E_INTERNAL, "KINNET_METRICS_LISTEN",
                             "cannot serve metrics on %s (address in use?)", listen);
    char address[300];
    size_t host_len = (size_t)(strrchr (listen, ':') - listen);
    snprintf (address, sizeof address, "%.*s:%d", (int)host_len, listen,
              kn_metrics_serve_port ());
    kn_log (KN_INFO, "metrics.listening", "address", address, "path", "/metrics", NULL);
    return 0;
}

int
kn_metrics_serve_port (void)
{
    if (!s_httpd)
        return 0;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (s_httpd, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void
kn_metrics_serve_stop (void)
{
    if (s_httpd) {
        MHD_stop_daemon (s_httpd);
        s_httpd = NULL;
    }
}
