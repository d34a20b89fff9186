/*  bench_report: the results table and document. */
#include "bench_report.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#define MAX_COLUMNS 8

typedef struct {
    json_t *machine;
    json_t *settings;
    json_t *sample;
    json_t *open_loop;
    json_t *echo_open;   // the same open loop through the broker to the echo worker
    json_t *routing;       //  the routing run: submit-to-offer latency
    json_t *routing_rss;
    json_t *sustained;       //  intake's closed loop with routing following
    json_t *pace;            //  what routing did in it (from the database)
    json_t *drain;           //  routing alone on a backlog
    json_t *database;
    json_t *open_wal;
    json_t *growth;          //  what was stored for the growth run
    json_t *growth_before;   //  the closed loop before and after it
    json_t *growth_after;
    json_t *growth_wal[2];   //  the server around each of them
    int clients[MAX_COLUMNS];
    int columns;
    json_t *pgbench[MAX_COLUMNS];
    json_t *floor[MAX_COLUMNS];   // the SQL floor: intake's writes alone (ops/bench-floor)
    json_t *floor_inflight[MAX_COLUMNS];   // the same with Kinnet's referrals in flight
    json_t *cpu[MAX_COLUMNS];     // where the cores went in the Kinnet run (ops/lib/cpu.sh)
    json_t *cpu_open, *cpu_sustained, *cpu_alone;
    json_t *echo[MAX_COLUMNS];
    json_t *kinnet[MAX_COLUMNS];
    json_t *rss[MAX_COLUMNS];   // read after the Kinnet run with that many clients
    json_t *wal_pgbench[MAX_COLUMNS];
    json_t *wal_kinnet[MAX_COLUMNS];
    json_t *last_rss;
} report_t;

static int
s_column (report_t *self, json_t *line)
{
    int clients = (int) json_integer_value (json_object_get (line, "clients"));
    for (int i = 0; i < self->columns; i++)
        if (self->clients[i] == clients)
            return i;
    if (self->columns == MAX_COLUMNS)
        return -1;
    //  Keep the columns in ascending order of clients.
    int at = self->columns++;
    while (at > 0 && self->clients[at - 1] > clients) {
        self->clients[at] = self->clients[at - 1];
        self->pgbench[at] = self->pgbench[at - 1];
        self->floor[at] = self->floor[at - 1];
        self->floor_inflight[at] = self->floor_inflight[at - 1];
        self->cpu[at] = self->cpu[at - 1];
        self->echo[at] = self->echo[at - 1];
        self->kinnet[at] = self->kinnet[at - 1];
        self->rss[at] = self->rss[at - 1];
        self->wal_pgbench[at] = self->wal_pgbench[at - 1];
        self->wal_kinnet[at] = self->wal_kinnet[at - 1];
        at--;
    }
    self->clients[at] = clients;
    self->pgbench[at] = self->floor[at] = self->echo[at] = self->kinnet[at] = NULL;
    self->rss[at] = self->floor_inflight[at] = self->cpu[at] = NULL;
    self->wal_pgbench[at] = self->wal_kinnet[at] = NULL;
    return at;
}

static double
s_number (json_t *object, const char *path)
{
    //  "a.b" looks one level down.
    char key[64];
    const char *dot = strchr (path, '.');
    if (dot) {
        snprintf (key, sizeof key, "%.*s", (int) (dot - path), path);
        return s_number (json_object_get (object, key), dot + 1);
    }
    return json_number_value (json_object_get (object, path));
}

static void
s_row (FILE *out, const char *title, report_t *self, json_t **runs, const char *path,
       int decimals, double scale)
{
    fprintf (out, "%-34s", title);
    for (int i = 0; i < self->columns; i++) {
        if (runs[i] && json_object_get (runs[i], strchr (path, '.') ? "latency_ms" : path)) {
            char cell[32];
            snprintf (cell, sizeof cell, "%.*f", decimals, s_number (runs[i], path) * scale);
            fprintf (out, " %11s", cell);
        }
        else
            fprintf (out, " %11s", "-");
    }
    fputc ('\n', out);
}

static bool
s_labelled (json_t *object, const char *label)
{
    const char *value = json_string_value (json_object_get (object, "label"));
    return value && strcmp (value, label) == 0;
}

static int
s_load (report_t *self, const char *path, json_t *all)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fprintf (stderr, "kinnet-bench: cannot read %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t size = 0;
    int number = 0;
    while (getline (&line, &size, file) > 0) {
        number++;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        json_error_t error;
        json_t *object = json_loads (line, 0, &error);
        if (!json_is_object (object)) {
            fprintf (stderr, "kinnet-bench: %s:%d: %s\n", path, number, error.text);
            json_decref (object);
            continue;
        }
        json_array_append_new (all, object);   // all owns it; the report borrows
        const char *kind = json_string_value (json_object_get (object, "kind"));
        const char *mode = json_string_value (json_object_get (object, "mode"));
        kind = kind ? kind : "";
        if (strcmp (kind, "machine") == 0)
            self->machine = object;
        else if (strcmp (kind, "settings") == 0)
            self->settings = object;
        else if (strcmp (kind, "sample") == 0)
            self->sample = object;
        else if (strcmp (kind, "database") == 0)
            self->database = object;
        else if (strcmp (kind, "growth") == 0)
            self->growth = object;
        else if (strcmp (kind, "kinnet") == 0 && s_labelled (object, "routing_sustained"))
            self->sustained = object;
        else if (strcmp (kind, "kinnet") == 0 && s_labelled (object, "routing_backlog"))
            ; // only makes the backlog routing_drain measures
        else if (strcmp (kind, "routing_pace") == 0)
            self->pace = object;
        else if (strcmp (kind, "routing_drain") == 0)
            self->drain = object;
        else if (strcmp (kind, "kinnet") == 0 && s_labelled (object, "growth_before"))
            self->growth_before = object;
        else if (strcmp (kind, "kinnet") == 0 && s_labelled (object, "growth_after"))
            self->growth_after = object;
        else if (strcmp (kind, "kinnet") == 0 && mode && strcmp (mode, "open") == 0) {
            const char *label = json_string_value (json_object_get (object, "label"));
            if (label && strcmp (label, "routing") == 0)
                self->routing = object;
            else
                self->open_loop = object;
        }
        else if (strcmp (kind, "echo") == 0 && mode && strcmp (mode, "open") == 0)
            self->echo_open = object;
        else if (strcmp (kind, "rss_routing") == 0)
            self->routing_rss = object;
        else if (strcmp (kind, "sql_floor_inflight") == 0) {
            int column = s_column (self, object);
            if (column >= 0)
                self->floor_inflight[column] = object;
        }
        else if (strcmp (kind, "cpu") == 0) {
            const char *of = json_string_value (json_object_get (object, "of"));
            int column = of && strcmp (of, "kinnet") == 0 ? s_column (self, object) : -1;
            if (column >= 0)
                self->cpu[column] = object;
            else if (of && strcmp (of, "open") == 0)
                self->cpu_open = object;
            else if (of && strcmp (of, "routing_sustained") == 0)
                self->cpu_sustained = object;
            else if (of && strcmp (of, "routing_alone") == 0)
                self->cpu_alone = object;
        }
        else if (strcmp (kind, "pgbench") == 0 || strcmp (kind, "echo") == 0
                 || strcmp (kind, "kinnet") == 0 || strcmp (kind, "sql_floor") == 0) {
            int column = s_column (self, object);
            if (column < 0)
                continue;
            json_t **slot = kind[0] == 'p'   ? &self->pgbench[column]
                            : kind[0] == 's' ? &self->floor[column]
                            : kind[0] == 'e' ? &self->echo[column]
                                             : &self->kinnet[column];
            *slot = object;
        }
        else if (strcmp (kind, "wal") == 0) {
            const char *of = json_string_value (json_object_get (object, "of"));
            if (of && strcmp (of, "open") == 0) {
                self->open_wal = object;
                continue;
            }
            if (of && strncmp (of, "growth_", 7) == 0) {
                self->growth_wal[strcmp (of, "growth_after") == 0] = object;
                continue;
            }
            int column = of ? s_column (self, object) : -1;
            if (column >= 0 && strcmp (of, "pgbench") == 0)
                self->wal_pgbench[column] = object;
            else if (column >= 0 && strcmp (of, "kinnet") == 0)
                self->wal_kinnet[column] = object;
        }
        else if (strcmp (kind, "rss") == 0) {
            self->last_rss = object;
            const char *after = json_string_value (json_object_get (object, "after"));
            if (after && strcmp (after, "kinnet") == 0) {
                int column = s_column (self, object);
                if (column >= 0)
                    self->rss[column] = object;
            }
        }
    }
    free (line);
    fclose (file);
    return 0;
}

//  CPU milliseconds per referral from a run's cores (ops/lib/cpu.sh), set on the
//  run as NAME_ms: per_second referrals a second went through.
static void
s_cpu_per_referral (json_t *run, double per_second)
{
    static const char *names[] = {"machine", "postgres", "broker", "intake", "routing", "rest"};
    if (!run || per_second <= 0)
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char cores[32], ms[32];
        snprintf (cores, sizeof cores, "%s_cores", names[i]);
        snprintf (ms, sizeof ms, "%s_ms", names[i]);
        if (json_object_get (run, cores))
            json_object_set_new (run, ms,
                                 json_real (s_number (run, cores) * 1000 / per_second));
    }
}

//  A cpu run's referrals a second: its rows over its marked span.
static double
s_cpu_rate (json_t *run)
{
    double seconds = s_number (run, "seconds");
    return seconds > 0 ? s_number (run, "rows") / seconds : 0;
}

//  One line for the cores a run used, and per referral.
static void
s_cpu_line (FILE *out, const char *title, json_t *run)
{
    if (!run)
        return;
    double rate = s_cpu_rate (run);
    s_cpu_per_referral (run, rate);
    fprintf (out,
             "CPU during %s (%.0f referrals/s over %.1f s): cores busy %.2f: PostgreSQL %.2f,"
             " intake %.2f, broker %.2f, routing %.2f, the rest %.2f; ms per referral %.2f:"
             " PostgreSQL %.2f, intake %.2f, broker %.2f, routing %.2f, the rest %.2f\n",
             title, rate, s_number (run, "seconds"), s_number (run, "machine_cores"),
             s_number (run, "postgres_cores"),
             s_number (run, "intake_cores"), s_number (run, "broker_cores"),
             s_number (run, "routing_cores"), s_number (run, "rest_cores"),
             s_number (run, "machine_ms"), s_number (run, "postgres_ms"), s_number (run, "intake_ms"),
             s_number (run, "broker_ms"), s_number (run, "routing_ms"), s_number (run, "rest_ms"));
}

int
bench_report_print (const char *results_path, const char *json_path, FILE *out)
{
    report_t self;
    memset (&self, 0, sizeof self);
    json_t *all = json_array ();
    if (s_load (&self, results_path, all)) {
        json_decref (all);
        return -1;
    }
    //  Kinnet's throughput as a share of what PostgreSQL alone does with one
    //  INSERT of the same size per transaction, at the same client count.
    //  And as a share of the SQL floor: PostgreSQL alone doing intake's writes.
    json_t *ratios = json_array (), *floor_ratios = json_array ();
    for (int i = 0; i < self.columns; i++) {
        double kinnet = self.kinnet[i] ? s_number (self.kinnet[i], "per_second") : 0;
        double baseline = self.pgbench[i] ? s_number (self.pgbench[i], "tps") : 0;
        double floor = self.floor[i] ? s_number (self.floor[i], "referrals_per_s") : 0;
        if (self.kinnet[i] && baseline > 0) {
            json_object_set_new (self.kinnet[i], "ratio_to_pgbench",
                                 json_real (kinnet / baseline));
            json_array_append_new (ratios, json_real (kinnet / baseline));
        }
        else
            json_array_append_new (ratios, json_null ());
        double inflight =
            self.floor_inflight[i] ? s_number (self.floor_inflight[i], "referrals_per_s") : 0;
        if (self.kinnet[i] && inflight > 0)
            json_object_set_new (self.kinnet[i], "ratio_to_sql_floor_inflight",
                                 json_real (kinnet / inflight));
        //  CPU per referral: the Kinnet run's (its rows over its marked span) and the
        //  floor's (its referrals a second).
        if (self.cpu[i])
            s_cpu_per_referral (self.cpu[i], s_cpu_rate (self.cpu[i]));
        if (self.floor[i] && json_object_get (self.floor[i], "machine_cores")) {
            json_object_set_new (self.floor[i], "rest_cores",
                                 json_real (s_number (self.floor[i], "machine_cores") -
                                            s_number (self.floor[i], "postgres_cores")));
            s_cpu_per_referral (self.floor[i], floor);
        }
        if (self.kinnet[i] && floor > 0) {
            json_object_set_new (self.kinnet[i], "ratio_to_sql_floor",
                                 json_real (kinnet / floor));
            json_array_append_new (floor_ratios, json_real (kinnet / floor));
        }
        else
            json_array_append_new (floor_ratios, json_null ());
    }

    //  What the server did during each run, next to the figures it went with.
    for (int i = 0; i <= self.columns + 1; i++) {
        json_t *pairs[2][2] = {{NULL, NULL}, {NULL, NULL}};
        if (i < self.columns) {
            pairs[0][0] = self.wal_pgbench[i], pairs[0][1] = self.pgbench[i];
            pairs[1][0] = self.wal_kinnet[i], pairs[1][1] = self.kinnet[i];
        }
        else if (i == self.columns)
            pairs[0][0] = self.open_wal, pairs[0][1] = self.open_loop;
        else {
            pairs[0][0] = self.growth_wal[0], pairs[0][1] = self.growth_before;
            pairs[1][0] = self.growth_wal[1], pairs[1][1] = self.growth_after;
        }
        for (int k = 0; k < 2; k++) {
            json_t *server = pairs[k][0], *run = pairs[k][1];
            if (!server || !run)
                continue;
            double rows = s_number (server, "rows");
            if (rows > 0)
                json_object_set_new (run, "wal_bytes_per_row",
                                     json_real (s_number (server, "wal_bytes") / rows));
            json_object_set (run, "checkpoints_during", json_object_get (server, "checkpoints"));
            json_object_set (run, "autovacuums_during", json_object_get (server, "autovacuums"));
        }
    }

    json_t *machine = self.machine;
    fprintf (out, "\nKinnet benchmark");
    if (machine)
        fprintf (out, " on %s: %" JSON_INTEGER_FORMAT " cores (%s), %.1f GiB, Linux %s,"
                      " PostgreSQL %s",
                 json_string_value (json_object_get (machine, "host")),
                 json_integer_value (json_object_get (machine, "nproc")),
                 json_string_value (json_object_get (machine, "cpu")),
                 s_number (machine, "memory_kb") / 1048576.0,
                 json_string_value (json_object_get (machine, "kernel")),
                 json_string_value (json_object_get (machine, "postgresql")));
    fputc ('\n', out);
    if (self.settings)
        fprintf (out,
                 "%g s measured after %g s warm-up per run; %d intake worker(s); "
                 "synchronous_commit=on, fsync=on\n",
                 s_number (self.settings, "seconds"), s_number (self.settings, "warmup"),
                 (int) s_number (self.settings, "intake_workers"));
    if (self.sample)
        fprintf (out,
                 "referrals: %.0f bytes on average (%.0f-%.0f), %.2f children, %.2f needs, "
                 "%.0f%% about a known family\n",
                 s_number (self.sample, "bytes_mean"), s_number (self.sample, "bytes_min"),
                 s_number (self.sample, "bytes_max"), s_number (self.sample, "children_mean"),
                 s_number (self.sample, "needs_mean"),
                 100 * s_number (self.sample, "repeat_share"));
    fprintf (out, "\n%-34s", "clients");
    for (int i = 0; i < self.columns; i++)
        fprintf (out, " %11d", self.clients[i]);
    fputc ('\n', out);
    s_row (out, "pgbench 1-row INSERT, tx/s", &self, self.pgbench, "tps", 0, 1);
    s_row (out, "  latency mean ms", &self, self.pgbench, "latency_ms_mean", 2, 1);
    s_row (out, "  WAL bytes per row", &self, self.pgbench, "wal_bytes_per_row", 0, 1);
    s_row (out, "SQL floor (intake's writes), ref/s", &self, self.floor, "referrals_per_s", 0,
           1);
    s_row (out, "  latency mean ms", &self, self.floor, "latency_ms_mean", 2, 1);
    s_row (out, "  WAL bytes per referral", &self, self.floor, "wal_bytes_per_referral", 0, 1);
    s_row (out, "  CPU ms/referral: PostgreSQL", &self, self.floor, "postgres_ms", 2, 1);
    s_row (out, "    the rest (pgbench)", &self, self.floor, "rest_ms", 2, 1);
    s_row (out, "SQL floor, Kinnet's in flight", &self, self.floor_inflight, "referrals_per_s",
           0, 1);
    s_row (out, "  sessions", &self, self.floor_inflight, "sessions", 0, 1);
    s_row (out, "echo via broker, msg/s", &self, self.echo, "per_second", 0, 1);
    s_row (out, "  latency p50 ms", &self, self.echo, "latency_ms.p50", 2, 1);
    s_row (out, "  latency p99 ms", &self, self.echo, "latency_ms.p99", 2, 1);
    s_row (out, "Kinnet referrals acked/s", &self, self.kinnet, "per_second", 0, 1);
    s_row (out, "  ratio to pgbench", &self, self.kinnet, "ratio_to_pgbench", 2, 1);
    s_row (out, "  ratio to the SQL floor", &self, self.kinnet, "ratio_to_sql_floor", 2, 1);
    s_row (out, "  ratio to it at Kinnet's in flight", &self, self.kinnet,
           "ratio_to_sql_floor_inflight", 2, 1);
    s_row (out, "  latency p50 ms", &self, self.kinnet, "latency_ms.p50", 2, 1);
    s_row (out, "  latency p90 ms", &self, self.kinnet, "latency_ms.p90", 2, 1);
    s_row (out, "  latency p99 ms", &self, self.kinnet, "latency_ms.p99", 2, 1);
    s_row (out, "  latency max ms", &self, self.kinnet, "latency_ms.max", 2, 1);
    s_row (out, "  family matched", &self, self.kinnet, "family_matched", 0, 1);
    s_row (out, "  WAL bytes per referral", &self, self.kinnet, "wal_bytes_per_row", 0, 1);
    s_row (out, "  autovacuum runs during", &self, self.kinnet, "autovacuums_during", 0, 1);
    s_row (out, "  checkpoints during", &self, self.kinnet, "checkpoints_during", 0, 1);
    s_row (out, "  errors", &self, self.kinnet, "errors", 0, 1);
    s_row (out, "  cores busy (machine)", &self, self.cpu, "machine_cores", 2, 1);
    s_row (out, "  CPU ms/referral: PostgreSQL", &self, self.cpu, "postgres_ms", 2, 1);
    s_row (out, "    intake workers", &self, self.cpu, "intake_ms", 2, 1);
    s_row (out, "    broker", &self, self.cpu, "broker_ms", 2, 1);
    s_row (out, "    the rest (load generator...)", &self, self.cpu, "rest_ms", 2, 1);
    s_row (out, "peak RSS MiB: broker", &self, self.rss, "broker_kb", 1, 1 / 1024.0);
    s_row (out, "    of it now: own (anonymous)", &self, self.rss, "broker_anon_kb", 1, 1 / 1024.0);
    s_row (out, "    shared library pages", &self, self.rss, "broker_file_kb", 1, 1 / 1024.0);
    s_row (out, "  intake (largest worker)", &self, self.rss, "intake_kb", 1, 1 / 1024.0);
    s_row (out, "  consent", &self, self.rss, "consent_kb", 1, 1 / 1024.0);
    s_row (out, "  echo", &self, self.rss, "echo_kb", 1, 1 / 1024.0);
    if (self.open_loop) {
        json_t *run = self.open_loop;
        fprintf (out,
                 "\nOpen loop at %.0f referrals/s for %g s, %" JSON_INTEGER_FORMAT
                 " connections: %.1f acked/s, latency from due time p50 %.2f ms, p90 %.2f"
                 " ms, p99 %.2f ms, max %.2f ms; %" JSON_INTEGER_FORMAT
                 " errors, %" JSON_INTEGER_FORMAT " never sent\n",
                 s_number (run, "rate"), s_number (run, "seconds"),
                 json_integer_value (json_object_get (run, "clients")),
                 s_number (run, "per_second"), s_number (run, "latency_ms.p50"),
                 s_number (run, "latency_ms.p90"), s_number (run, "latency_ms.p99"),
                 s_number (run, "latency_ms.max"),
                 json_integer_value (json_object_get (run, "errors")),
                 json_integer_value (json_object_get (run, "missed")));
        if (json_object_get (run, "autovacuums_during"))
            fprintf (out,
                     "  (during it: %.0f autovacuum runs, %.0f checkpoints, %.0f WAL bytes "
                     "per referral)\n",
                     s_number (run, "autovacuums_during"), s_number (run, "checkpoints_during"),
                     s_number (run, "wal_bytes_per_row"));
    }
    s_cpu_line (out, "the open loop", self.cpu_open);
    if (self.echo_open) {
        json_t *run = self.echo_open;
        fprintf (out,
                 "The same open loop to the echo worker (messaging alone): %.1f answered/s,"
                 " p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; %" JSON_INTEGER_FORMAT
                 " errors\n",
                 s_number (run, "per_second"), s_number (run, "latency_ms.p50"),
                 s_number (run, "latency_ms.p90"), s_number (run, "latency_ms.p99"),
                 s_number (run, "latency_ms.max"),
                 json_integer_value (json_object_get (run, "errors")));
    }
    json_t *to_offer = self.routing ? json_object_get (self.routing, "submit_to_offer_ms") : NULL;
    if (to_offer)
        fprintf (out,
                 "Routing at %.0f referrals/s (4 connections, one agency's feed followed): "
                 "%" JSON_INTEGER_FORMAT " first offers; submit to offer in the feed p50 %.1f ms,"
                 " p90 %.1f ms, p99 %.1f ms, max %.1f ms (%" JSON_INTEGER_FORMAT
                 " referrals brought no new offer: their family's need was in hand)%s\n",
                 s_number (self.routing, "rate"),
                 json_integer_value (json_object_get (to_offer, "offers")),
                 s_number (to_offer, "p50"), s_number (to_offer, "p90"), s_number (to_offer, "p99"),
                 s_number (to_offer, "max"),
                 json_integer_value (json_object_get (to_offer, "without_offer")), "");
    json_t *sustained_offer =
        self.sustained ? json_object_get (self.sustained, "submit_to_offer_ms") : NULL;
    if (self.pace && sustained_offer)
        fprintf (out,
                 "Routing, sustained (intake's closed loop at %" JSON_INTEGER_FORMAT
                 " clients, the feed followed): intake %.0f referrals/s, routing %.0f/s"
                 " over the span it worked (%.2f of intake's; %.2f counting the last"
                 " referral's lag); submit to offer p50 %.1f ms, p99 %.1f ms, max %.1f ms;"
                 " %.0f events still to route when intake stopped, routed %.2f s later\n",
                 json_integer_value (json_object_get (self.sustained, "clients")),
                 s_number (self.pace, "intake_per_s"), s_number (self.pace, "routing_own_per_s"),
                 s_number (self.pace, "throughput_ratio"), s_number (self.pace, "ratio"),
                 s_number (sustained_offer, "p50"),
                 s_number (sustained_offer, "p99"), s_number (sustained_offer, "max"),
                 s_number (self.pace, "backlog_at_end"), s_number (self.pace, "drain_s"));
    s_cpu_line (out, "the sustained run", self.cpu_sustained);
    if (self.drain)
        fprintf (out,
                 "Routing alone on a backlog of %.0f referrals: %.0f referrals/s, %.2f of"
                 " intake's closed loop that made it (%.0f/s)\n",
                 s_number (self.drain, "events"), s_number (self.drain, "routing_per_s"),
                 s_number (self.drain, "ratio"), s_number (self.drain, "intake_per_s"));
    s_cpu_line (out, "routing alone", self.cpu_alone);
    if (self.routing_rss)
        fprintf (out, "Peak RSS of kinnet-routing: %.1f MiB\n",
                 s_number (self.routing_rss, "routing_kb") / 1024);
    if (self.last_rss)
        fprintf (out,
                 "Peak RSS over the whole run (VmHWM): broker %.1f MiB, intake %.1f MiB per "
                 "worker, consent %.1f MiB, echo %.1f MiB\n",
                 s_number (self.last_rss, "broker_kb") / 1024,
                 s_number (self.last_rss, "intake_kb") / 1024,
                 s_number (self.last_rss, "consent_kb") / 1024,
                 s_number (self.last_rss, "echo_kb") / 1024);
    if (self.growth && self.growth_before && self.growth_after) {
        json_t *before = self.growth_before, *after = self.growth_after;
        double ratio = s_number (after, "per_second") / s_number (before, "per_second");
        json_object_set_new (self.growth, "ratio", json_real (ratio));
        fprintf (out,
                 "Growth, closed loop at %" JSON_INTEGER_FORMAT " clients: %.0f stored"
                 " %.0f acked/s (p50 %.2f, p99 %.2f ms); %.0f stored (%.0f MiB, loaded in"
                 " %.0f s) %.0f acked/s (p50 %.2f, p99 %.2f ms): %.2f of the first\n",
                 json_integer_value (json_object_get (before, "clients")),
                 s_number (self.growth, "stored_before"), s_number (before, "per_second"),
                 s_number (before, "latency_ms.p50"), s_number (before, "latency_ms.p99"),
                 s_number (self.growth, "stored_after"),
                 s_number (self.growth, "size_bytes") / 1048576.0,
                 s_number (self.growth, "load_seconds"), s_number (after, "per_second"),
                 s_number (after, "latency_ms.p50"), s_number (after, "latency_ms.p99"), ratio);
        if (json_object_get (before, "wal_bytes_per_row") && json_object_get (after, "wal_bytes_per_row"))
            fprintf (out, "  WAL bytes per referral %.0f, then %.0f\n",
                     s_number (before, "wal_bytes_per_row"), s_number (after, "wal_bytes_per_row"));
    }
    if (self.database)
        fprintf (out, "Database after the run: %.0f referrals, %.1f MiB\n",
                 s_number (self.database, "referrals"),
                 s_number (self.database, "size_bytes") / 1048576.0);

    int rc = 0;
    if (json_path) {
        json_t *clients = json_array ();
        for (int i = 0; i < self.columns; i++)
            json_array_append_new (clients, json_integer (self.clients[i]));
        json_t *document = json_pack ("{s:O*,s:O*,s:O*,s:o,s:o,s:O*,s:O*,s:O*,s:O}",
                                      "machine", machine, "settings", self.settings,
                                      "sample", self.sample, "clients", clients,
                                      "ratio_to_pgbench", ratios, "open_loop",
                                      self.open_loop, "peak_rss", self.last_rss,
                                      "database", self.database, "results", all);
        ratios = NULL;
        if (document)
            json_object_set (document, "ratio_to_sql_floor", floor_ratios);
        if (document && self.routing)
            json_object_set (document, "routing", self.routing);
        if (document && self.pace && self.sustained)
            json_object_set_new (document, "routing_sustained",
                                 json_pack ("{s:O,s:O}", "run", self.sustained, "pace",
                                            self.pace));
        if (document && self.drain)
            json_object_set (document, "routing_drain", self.drain);
        if (document && self.echo_open)
            json_object_set (document, "echo_open_loop", self.echo_open);
        if (document && self.growth && self.growth_before && self.growth_after)
            json_object_set_new (document, "growth",
                                 json_pack ("{s:O,s:O,s:O}", "stored", self.growth, "before",
                                            self.growth_before, "after", self.growth_after));
        if (!document || json_dump_file (document, json_path, JSON_INDENT (2) | JSON_REAL_PRECISION (6))) {
            fprintf (stderr, "kinnet-bench: cannot write %s\n", json_path);
            rc = -1;
        }
        json_decref (document);
    }
    json_decref (ratios);
    json_decref (floor_ratios);
    json_decref (all);
    return rc;
}
