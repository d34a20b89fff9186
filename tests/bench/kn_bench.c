/*  kinnet-bench: the load generator behind ops/bench.
    Each client is a thread with its own kn_client, so its own CURVE connection to
    the broker's frontend, exactly as an agency integration talks to Kinnet.
    Closed loop: every client sends its next referral as soon as the last one is
    acknowledged, which finds the maximum throughput. Open loop: referrals are due
    at a fixed rate whatever happens, and latency is measured from when a referral
    was due, not from when a busy client got round to sending it; a client that
    falls behind therefore shows the wait it caused instead of hiding it
    (coordinated omission). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <jansson.h>
#include <sodium.h>

#include "bench_histogram.h"
#include "bench_referral.h"
#include "bench_report.h"
#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/routing.pb-c.h"
#include "kn_client.h"
#include "kn_config.h"
#include "kn_mdp.h"

#define MAX_CERTS 8
#define MAX_CODES 16

static const char *s_usage =
    "usage: kinnet-bench run [options]      one measurement, one JSON object on stdout\n"
    "       kinnet-bench sample [--count N]  what the generated referrals look like\n"
    "       kinnet-bench report RESULTS.jsonl [--json OUT]\n"
    "                                        the table from ops/bench's results, and\n"
    "                                        all of them as one JSON document\n"
    "\n"
    "run options:\n"
    "  --service intake|echo  what to call (intake); echo sends the same bodies\n"
    "  --mode closed|open     closed: send on acknowledgement; open: at --rate (closed)\n"
    "  --clients N            concurrent clients, one connection each (1)\n"
    "  --seconds S            measured time (10)\n"
    "  --warmup S             unmeasured time before it (2)\n"
    "  --rate R               open loop: requests per second, all clients together (1000)\n"
    "  --timeout MS           wait per request; requests are not retried (10000)\n"
    "  --repeat-share F       share of referrals about a family seen before (0.2)\n"
    "  --io-threads N         ZeroMQ I/O threads in this process (1)\n"
    "  --label TEXT           copied into the JSON\n"
    "  --slow MS              print each measured request slower than that to stderr\n"
    "                         (when it was due, how long it waited to be sent, how\n"
    "                         long the call took), to line up with server logs\n"
    "  --endpoint URL         broker frontend (KINNET_ENDPOINT)\n"
    "  --server-key KEY       broker public key, Z85 or certificate (KINNET_SERVER_KEY)\n"
    "  --cert FILE            agency certificate (KINNET_CERT); repeat it to spread the\n"
    "                         clients over several agencies\n"
    "  --follow-feed FILE     also follow this agency's feed and measure each referral's\n"
    "                         submit-to-offer latency (the referral sent, its first offer\n"
    "                         read from the feed)\n";

typedef struct {
    const char *service;
    bool open;
    bool echo;
    int clients;
    double seconds;
    double warmup;
    double rate;
    int timeout_ms;
    double repeat_share;
    const char *label;
    double slow_ms;   // 0: none printed
    const char *endpoint;
    char server_key[41];
    zcert_t *certs[MAX_CERTS];
    int n_certs;
    char run_id[24];
    bench_families_t *families;
    pthread_barrier_t barrier;
    //  Monotonic microseconds, set once every client is connected.
    int64_t start_us;
    int64_t measure_from_us;
    int64_t measure_until_us;
    int64_t hard_stop_us;
    atomic_uint_fast64_t next_slot;   // open loop: the next due request
    //  --follow-feed: referral id -> when it was sent (monotonic us), for the feed
    //  follower to match offers against.
    zcert_t *feed_cert;
    zhashx_t *sent_at;
    pthread_mutex_t sent_lock;
    bench_histogram_t *to_offer;
    uint64_t offers_matched;
    _Atomic int64_t feed_stop_at;     // when the clients finished (0: not yet)
} run_t;

typedef struct {
    run_t *run;
    int index;
    pthread_t thread;
    bench_histogram_t *latency;
    uint64_t sent;      // requests due (open) or sent (closed) inside the window
    uint64_t acked;
    uint64_t matched;
    uint64_t replayed;
    uint64_t no_reply;
    uint64_t codes[MAX_CODES];
    uint64_t bytes;
    uint64_t repeats;
    uint64_t completed;   // acknowledgements that arrived inside the window
} client_t;

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  A monotonic time in microseconds as wall-clock time, for lining up with logs.
static int64_t
s_unix_us (int64_t mono_us)
{
    struct timespec real;
    clock_gettime (CLOCK_REALTIME, &real);
    return mono_us + ((int64_t) real.tv_sec * 1000000 + real.tv_nsec / 1000 - s_now_us ());
}

static void
s_sleep_until_us (int64_t when)
{
    struct timespec ts = {.tv_sec = when / 1000000, .tv_nsec = (when % 1000000) * 1000};
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0
           && !zsys_interrupted)
        ;
}

static kn_client_t *
s_client_new (run_t *run, int index)
{
    kn_error_t err;
    kn_client_t *client = kn_client_new (run->endpoint, run->certs[index % run->n_certs],
                                         run->server_key, &err);
    if (!client) {
        fprintf (stderr, "kinnet-bench: client %d: %s\n", index, err.message);
        return NULL;
    }
    kn_client_set_timeout (client, run->timeout_ms);
    kn_client_set_retries (client, 0);
    return client;
}

//  What came back: 1 acknowledged, 0 an error reply (counted by code), -1 none.
static int
s_classify (client_t *self, zframe_t *reply, const uint8_t *body, size_t len, int64_t sent)
{
    if (!reply) {
        self->no_reply++;
        return -1;
    }
    size_t size = zframe_size (reply);
    const uint8_t *data = zframe_data (reply);
    if (self->run->echo && size == len && memcmp (data, body, len) == 0)
        return 1;
    Kinnet__V1__IntakeReply *answer = kinnet__v1__intake_reply__unpack (NULL, size, data);
    int outcome = 0;
    if (!answer)
        self->codes[KN_E_MALFORMED]++;
    else if (answer->error && answer->error->code) {
        self->codes[answer->error->code < MAX_CODES ? answer->error->code : 0]++;
        //  The first few errors of a run, as the service said them (an error message
        //  never holds personal data), so a count can be explained.
        static atomic_int told;
        if (atomic_fetch_add (&told, 1) < 5)
            fprintf (stderr, "kn_bench: error %d on %s: %s\n", (int)answer->error->code,
                     answer->error->field && *answer->error->field ? answer->error->field
                                                                   : "(no field)",
                     answer->error->message);
    }
    else if (!self->run->echo
             && answer->result_case == KINNET__V1__INTAKE_REPLY__RESULT_SUBMITTED) {
        outcome = 1;
        self->matched += answer->submitted->family_matched;
        self->replayed += answer->submitted->replayed;
        if (self->run->sent_at) {
            int64_t *at = malloc (sizeof *at);
            *at = sent;
            pthread_mutex_lock (&self->run->sent_lock);
            zhashx_update (self->run->sent_at, answer->submitted->referral_id, at);
            pthread_mutex_unlock (&self->run->sent_lock);
        }
    }
    else
        self->codes[0]++;   // a reply of the wrong shape
    if (answer)
        kinnet__v1__intake_reply__free_unpacked (answer, NULL);
    return outcome;
}

static void *
s_client_run (void *arg)
{
    client_t *self = (client_t *) arg;
    run_t *run = self->run;
    char prefix[64];
    snprintf (prefix, sizeof prefix, "bench-%s-%d", run->run_id, self->index);
    uint64_t seed = strtoull (run->run_id, NULL, 16) ^ ((uint64_t) self->index << 40);
    bench_referral_t *referrals = bench_referral_new (run->families, seed, prefix);
    kn_client_t *client = s_client_new (run, self->index);
    pthread_barrier_wait (&run->barrier);
    pthread_barrier_wait (&run->barrier);   // main has set the clock
    while (client && referrals && !zsys_interrupted) {
        //  The body is made before the clock starts: its cost is the generator's.
        size_t len = 0;
        bool repeat = false;
        const uint8_t *body = bench_referral_next (referrals, &len, &repeat);
        if (!body)
            break;   // out of memory
        int64_t due;
        if (run->open) {
            //  Due times are fixed by the schedule, not by when a client is free.
            uint64_t slot = atomic_fetch_add (&run->next_slot, 1);
            due = run->start_us + (int64_t) ((double) slot * 1e6 / run->rate);
            if (due >= run->measure_until_us || s_now_us () >= run->hard_stop_us)
                break;
            s_sleep_until_us (due);
        }
        else {
            due = s_now_us ();
            if (due >= run->measure_until_us)
                break;
        }
        kn_error_t err;
        int64_t sent = s_now_us ();
        zframe_t *reply = kn_client_call (client, run->service, body, len, &err);
        int64_t done = s_now_us ();
        //  Closed loop counts what completes inside the window; open loop counts
        //  what was due inside it, however late it completed.
        int64_t when = run->open ? due : done;
        bool measured = when >= run->measure_from_us && when < run->measure_until_us;
        client_t scratch = {.run = run};
        client_t *into = measured ? self : &scratch;
        int outcome = s_classify (into, reply, body, len, sent);
        if (measured) {
            self->sent++;
            self->bytes += len;
            self->repeats += repeat;
            if (outcome == 1) {
                self->acked++;
                bench_histogram_record (self->latency, (uint64_t) (done - due));
            }
            if (run->slow_ms > 0 && (double) (done - due) >= run->slow_ms * 1000)
                fprintf (stderr,
                         "{\"kind\":\"slow\",\"due_unix_ms\":%.3f,\"latency_ms\":%.2f,"
                         "\"waited_ms\":%.2f,\"call_ms\":%.2f,\"connection\":%d}\n",
                         (double) s_unix_us (due) / 1000.0, (double) (done - due) / 1000.0,
                         (double) (sent - due) / 1000.0, (double) (done - sent) / 1000.0,
                         self->index);
        }
        if (outcome == 1 && done >= run->measure_from_us && done < run->measure_until_us)
            self->completed++;
        zframe_destroy (&reply);
        if (outcome < 0) {
            //  No reply within the timeout. A late reply would otherwise be taken
            //  for the next request's (replies carry no request id), so start over
            //  on a new connection.
            kn_client_destroy (&client);
            client = s_client_new (run, self->index);
        }
    }
    kn_client_destroy (&client);
    bench_referral_destroy (&referrals);
    return NULL;
}

//  --follow-feed: long-poll the agency's feed; for each first offer of a referral
//  this run sent, record the time from sending it to reading the offer.
static void *
s_feed_run (void *arg)
{
    run_t *run = arg;
    kn_error_t err;
    kn_client_t *client = kn_client_new (run->endpoint, run->feed_cert, run->server_key, &err);
    if (!client) {
        fprintf (stderr, "kinnet-bench: feed: %s\n", err.message);
        return NULL;
    }
    kn_client_set_timeout (client, 5000);
    kn_client_set_retries (client, 2);
    int64_t after = 0;
    //  Start from the feed's end: earlier offers are not this run's.
    for (int first = 1; !zsys_interrupted;) {
        Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
        read.after = after;
        read.max = 500;
        read.wait_ms = first ? 0 : 1000;
        Kinnet__V1__FeedRequest request = KINNET__V1__FEED_REQUEST__INIT;
        request.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
        request.read = &read;
        uint8_t body[64];
        size_t len = kinnet__v1__feed_request__pack (&request, body);
        zframe_t *frame = kn_client_call (client, "feed", body, len, &err);
        int64_t now = s_now_us ();
        Kinnet__V1__FeedReply *reply
            = frame ? kinnet__v1__feed_reply__unpack (NULL, zframe_size (frame), zframe_data (frame))
                    : NULL;
        zframe_destroy (&frame);
        if (reply && reply->batch) {
            if (first)
                after = reply->batch->last_seq;
            else
                for (size_t i = 0; i < reply->batch->n_events; i++) {
                    Kinnet__V1__FeedEvent *event = reply->batch->events[i];
                    after = event->seq;
                    if (strcmp (event->topic, "offer.made") || !event->offer)
                        continue;
                    pthread_mutex_lock (&run->sent_lock);
                    int64_t *at = zhashx_lookup (run->sent_at, event->offer->referral_id);
                    if (at) {
                        bench_histogram_record (run->to_offer, (uint64_t) (now - *at));
                        run->offers_matched++;
                        zhashx_delete (run->sent_at, event->offer->referral_id);
                    }
                    pthread_mutex_unlock (&run->sent_lock);
                }
            first = 0;
        }
        if (reply)
            kinnet__v1__feed_reply__free_unpacked (reply, NULL);
        else if (!frame) {
            //  The client's connection may be stale after a failed call: a new one.
            kn_client_destroy (&client);
            client = kn_client_new (run->endpoint, run->feed_cert, run->server_key, &err);
            if (!client)
                break;
            kn_client_set_timeout (client, 5000);
            kn_client_set_retries (client, 2);
        }
        int64_t stop_at = atomic_load (&run->feed_stop_at);
        if (stop_at) {
            pthread_mutex_lock (&run->sent_lock);
            size_t waiting = zhashx_size (run->sent_at);
            pthread_mutex_unlock (&run->sent_lock);
            //  Some referrals get no new offer (the family's need is in hand already):
            //  stop once every offer has come, or a few seconds after the last send.
            if (waiting == 0 || s_now_us () > stop_at + 5000000)
                break;
        }
    }
    kn_client_destroy (&client);
    return NULL;
}

static json_t *
s_latency_json (const bench_histogram_t *latency)
{
    return json_pack ("{s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "p50",
                      bench_histogram_quantile (latency, 0.50) / 1000.0, "p90",
                      bench_histogram_quantile (latency, 0.90) / 1000.0, "p99",
                      bench_histogram_quantile (latency, 0.99) / 1000.0, "p999",
                      bench_histogram_quantile (latency, 0.999) / 1000.0, "max",
                      bench_histogram_max (latency) / 1000.0, "mean",
                      bench_histogram_mean (latency) / 1000.0, "min",
                      bench_histogram_quantile (latency, 0.0) / 1000.0);
}

static int
s_run (run_t *run)
{
    run->families = bench_families_new (strtoull (run->run_id, NULL, 16), run->repeat_share);
    client_t *clients = calloc ((size_t) run->clients, sizeof *clients);
    pthread_barrier_init (&run->barrier, NULL, (unsigned) run->clients + 1);
    atomic_init (&run->next_slot, 0);
    for (int i = 0; i < run->clients; i++) {
        clients[i].run = run;
        clients[i].index = i;
        clients[i].latency = bench_histogram_new ();
        pthread_create (&clients[i].thread, NULL, s_client_run, &clients[i]);
    }
    pthread_t feed;
    bool following = run->feed_cert != NULL;
    if (following) {
        run->sent_at = zhashx_new ();
        zhashx_set_destructor (run->sent_at, (zhashx_destructor_fn *) zstr_free);
        pthread_mutex_init (&run->sent_lock, NULL);
        run->to_offer = bench_histogram_new ();
        atomic_init (&run->feed_stop_at, 0);
        following = pthread_create (&feed, NULL, s_feed_run, run) == 0;
    }
    pthread_barrier_wait (&run->barrier);   // every client made its connection
    run->start_us = s_now_us ();
    run->measure_from_us = run->start_us + (int64_t) (run->warmup * 1e6);
    run->measure_until_us = run->measure_from_us + (int64_t) (run->seconds * 1e6);
    //  Open loop: a backlog is worked off for at most this long after the window.
    run->hard_stop_us = run->measure_until_us + 5000000;
    pthread_barrier_wait (&run->barrier);

    bench_histogram_t *latency = bench_histogram_new ();
    client_t total = {.run = run};
    for (int i = 0; i < run->clients; i++) {
        pthread_join (clients[i].thread, NULL);
        bench_histogram_merge (latency, clients[i].latency);
        total.sent += clients[i].sent;
        total.acked += clients[i].acked;
        total.matched += clients[i].matched;
        total.replayed += clients[i].replayed;
        total.no_reply += clients[i].no_reply;
        total.bytes += clients[i].bytes;
        total.repeats += clients[i].repeats;
        total.completed += clients[i].completed;
        for (int c = 0; c < MAX_CODES; c++)
            total.codes[c] += clients[i].codes[c];
        bench_histogram_destroy (&clients[i].latency);
    }
    int64_t ended = s_now_us ();
    if (following) {
        //  Offers still on their way: the follower stops when every referral sent has
        //  its offer, or a few seconds after the run.
        atomic_store (&run->feed_stop_at, s_now_us ());
        pthread_join (feed, NULL);
    }
    //  Acknowledgements that arrived inside the window, whenever they fell due: in
    //  an overloaded open-loop run this is the rate managed, not the rate asked for.
    double per_second = (double) total.completed / run->seconds;

    json_t *codes = json_object ();
    uint64_t errors = total.no_reply;
    for (int c = 0; c < MAX_CODES; c++)
        if (total.codes[c]) {
            json_object_set_new (codes, c ? kn_code_name ((kn_code_t) c) : "unexpected",
                                 json_integer ((json_int_t) total.codes[c]));
            errors += total.codes[c];
        }
    if (total.no_reply)
        json_object_set_new (codes, "no_reply", json_integer ((json_int_t) total.no_reply));
    json_t *out = json_pack (
        "{s:s,s:s,s:s,s:s,s:i,s:f,s:f,s:f,s:I,s:I,s:I,s:o,s:f,s:o}", "kind",
        run->echo ? "echo" : "kinnet", "service", run->service, "mode",
        run->open ? "open" : "closed", "label", run->label ? run->label : "", "clients",
        run->clients, "seconds", run->seconds, "warmup", run->warmup, "per_second",
        per_second, "sent", (json_int_t) total.sent, "acked",
        (json_int_t) total.acked, "errors", (json_int_t) errors, "error_codes", codes,
        "request_bytes_mean", total.sent ? (double) total.bytes / (double) total.sent : 0.0,
        "latency_ms", s_latency_json (latency));
    json_object_set_new (out, "run_id", json_string (run->run_id));
    if (!run->echo) {
        json_object_set_new (out, "family_matched", json_integer ((json_int_t) total.matched));
        json_object_set_new (out, "repeat_family_sent",
                             json_integer ((json_int_t) total.repeats));
        json_object_set_new (out, "replayed", json_integer ((json_int_t) total.replayed));
    }
    if (run->open) {
        //  Every slot due inside the window that no client got to send.
        uint64_t due = (uint64_t) (run->seconds * run->rate);
        json_object_set_new (out, "rate", json_real (run->rate));
        json_object_set_new (out, "missed",
                             json_integer ((json_int_t) (due > total.sent ? due - total.sent
                                                                           : 0)));
        json_object_set_new (
            out, "overran_s",
            json_real ((double) (ended - run->measure_until_us) / 1e6 > 0
                           ? (double) (ended - run->measure_until_us) / 1e6
                           : 0));
    }
    if (run->to_offer) {
        json_t *offer = s_latency_json (run->to_offer);
        json_object_set_new (offer, "offers", json_integer ((json_int_t) run->offers_matched));
        json_object_set_new (offer, "without_offer",
                             json_integer ((json_int_t) zhashx_size (run->sent_at)));
        json_object_set_new (out, "submit_to_offer_ms", offer);
        fprintf (stderr,
                 "submit to offer: %" PRIu64 " offers, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms,"
                 " max %.2f ms (%zu referrals had no new offer)\n",
                 run->offers_matched, bench_histogram_quantile (run->to_offer, 0.5) / 1000.0,
                 bench_histogram_quantile (run->to_offer, 0.9) / 1000.0,
                 bench_histogram_quantile (run->to_offer, 0.99) / 1000.0,
                 bench_histogram_max (run->to_offer) / 1000.0, zhashx_size (run->sent_at));
        bench_histogram_destroy (&run->to_offer);
        zhashx_destroy (&run->sent_at);
        pthread_mutex_destroy (&run->sent_lock);
    }
    json_dumpf (out, stdout, JSON_COMPACT | JSON_REAL_PRECISION (6));
    fputc ('\n', stdout);
    fflush (stdout);
    fprintf (stderr,
             "%-6s %-6s clients %-3d  %9.1f/s  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms"
             "  max %8.2f ms  errors %" PRIu64 "\n",
             run->echo ? "echo" : "kinnet", run->open ? "open" : "closed", run->clients,
             per_second, bench_histogram_quantile (latency, 0.5) / 1000.0,
             bench_histogram_quantile (latency, 0.9) / 1000.0,
             bench_histogram_quantile (latency, 0.99) / 1000.0,
             bench_histogram_max (latency) / 1000.0, errors);
    json_decref (out);
    bench_histogram_destroy (&latency);
    pthread_barrier_destroy (&run->barrier);
    free (clients);
    bench_families_destroy (&run->families);
    if (zsys_interrupted)
        return 130;
    return total.acked > 0 ? 0 : 1;
}

//  kinnet-bench sample: sizes and shapes of what run would send.
static int
s_sample (int count)
{
    bench_families_t *families = bench_families_new ((uint64_t) time (NULL), 0.2);
    bench_referral_t *referrals = bench_referral_new (families, 42, "sample");
    bench_histogram_t *sizes = bench_histogram_new ();
    uint64_t total = 0, children = 0, needs = 0, narrative = 0, repeats = 0;
    size_t smallest = SIZE_MAX, largest = 0;
    for (int i = 0; i < count; i++) {
        size_t len = 0;
        bool repeat = false;
        bench_referral_next (referrals, &len, &repeat);
        int c, n;
        size_t bytes;
        bench_referral_shape (referrals, &c, &n, &bytes);
        bench_histogram_record (sizes, len);
        total += len;
        children += (uint64_t) c;
        needs += (uint64_t) n;
        narrative += bytes;
        repeats += repeat;
        smallest = len < smallest ? len : smallest;
        largest = len > largest ? len : largest;
    }
    json_t *out = json_pack (
        "{s:s,s:i,s:f,s:I,s:I,s:I,s:f,s:f,s:f,s:f}", "kind", "sample", "count", count,
        "bytes_mean",
        (double) total / count, "bytes_p50", (json_int_t) bench_histogram_quantile (sizes, 0.5),
        "bytes_min", (json_int_t) smallest, "bytes_max", (json_int_t) largest,
        "children_mean", (double) children / count, "needs_mean", (double) needs / count,
        "narrative_bytes_mean", (double) narrative / count, "repeat_share",
        (double) repeats / count);
    json_dumpf (out, stdout, JSON_COMPACT | JSON_REAL_PRECISION (6));
    fputc ('\n', stdout);
    json_decref (out);
    bench_histogram_destroy (&sizes);
    bench_referral_destroy (&referrals);
    bench_families_destroy (&families);
    return 0;
}

static int
s_bad_usage (const char *why)
{
    fprintf (stderr, "kinnet-bench: %s\n%s", why, s_usage);
    return 2;
}

int
main (int argc, char *argv[])
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        fputs (s_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *command = argv[1];
    if (strcmp (command, "report") == 0) {
        if (argc < 3)
            return s_bad_usage ("report needs the results file");
        const char *json_out = NULL;
        for (int i = 3; i + 1 < argc; i += 2)
            if (strcmp (argv[i], "--json") == 0)
                json_out = argv[i + 1];
        return bench_report_print (argv[2], json_out, stdout) ? 1 : 0;
    }
    if (strcmp (command, "sample") == 0) {
        int count = argc > 3 && strcmp (argv[2], "--count") == 0 ? atoi (argv[3]) : 10000;
        return s_sample (count > 0 ? count : 10000);
    }
    if (strcmp (command, "run") != 0)
        return s_bad_usage ("unknown command");

    run_t run = {
        .service = "intake",
        .clients = 1,
        .seconds = 10,
        .warmup = 2,
        .rate = 1000,
        .timeout_ms = 10000,
        .repeat_share = 0.2,
        .endpoint = kn_config_str ("KINNET_ENDPOINT", "tcp://127.0.0.1:5555"),
    };
    const char *server_key = kn_config_str ("KINNET_SERVER_KEY", NULL);
    const char *cert_paths[MAX_CERTS];
    int n_paths = 0;
    int io_threads = 1;
    for (int i = 2; i < argc; i++) {
        const char *option = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value)
            return s_bad_usage ("an option lacks its value");
        i++;
        if (strcmp (option, "--service") == 0)
            run.service = value;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "open") == 0)
            run.open = true;
        else if (strcmp (option, "--mode") == 0 && strcmp (value, "closed") == 0)
            run.open = false;
        else if (strcmp (option, "--clients") == 0)
            run.clients = atoi (value);
        else if (strcmp (option, "--seconds") == 0)
            run.seconds = atof (value);
        else if (strcmp (option, "--warmup") == 0)
            run.warmup = atof (value);
        else if (strcmp (option, "--rate") == 0)
            run.rate = atof (value);
        else if (strcmp (option, "--timeout") == 0)
            run.timeout_ms = atoi (value);
        else if (strcmp (option, "--repeat-share") == 0)
            run.repeat_share = atof (value);
        else if (strcmp (option, "--io-threads") == 0)
            io_threads = atoi (value);
        else if (strcmp (option, "--label") == 0)
            run.label = value;
        else if (strcmp (option, "--slow") == 0)
            run.slow_ms = atof (value);
        else if (strcmp (option, "--endpoint") == 0)
            run.endpoint = value;
        else if (strcmp (option, "--server-key") == 0)
            server_key = value;
        else if (strcmp (option, "--cert") == 0 && n_paths < MAX_CERTS)
            cert_paths[n_paths++] = value;
        else if (strcmp (option, "--follow-feed") == 0) {
            zcert_destroy (&run.feed_cert);
            if (!(run.feed_cert = zcert_load (value)))
                return s_bad_usage ("--follow-feed: cannot read that certificate");
        }
        else
            return s_bad_usage ("unknown option or value");
    }
    if (n_paths == 0 && kn_config_str ("KINNET_CERT", NULL))
        cert_paths[n_paths++] = kn_config_str ("KINNET_CERT", NULL);
    if (run.clients < 1 || run.clients > 1024 || run.seconds <= 0 || run.warmup < 0
        || run.rate <= 0 || run.timeout_ms < 1 || io_threads < 1)
        return s_bad_usage ("clients 1-1024, seconds > 0, rate > 0, timeout >= 1");
    run.echo = strcmp (run.service, "echo") == 0;
    if (kn_mdp_server_key (server_key, run.server_key))
        return s_bad_usage ("--server-key (or KINNET_SERVER_KEY) is required");
    if (n_paths == 0)
        return s_bad_usage ("--cert (or KINNET_CERT) is required");

    zsys_init ();
    zsys_set_logstream (NULL);
    zsys_set_io_threads ((size_t) io_threads);
    for (int i = 0; i < n_paths; i++) {
        run.certs[i] = zcert_load (cert_paths[i]);
        if (!run.certs[i]) {
            fprintf (stderr, "kinnet-bench: cannot read certificate %s\n", cert_paths[i]);
            return 2;
        }
        run.n_certs++;
    }
    //  Unique per run: idempotency keys and family salt both derive from it.
    snprintf (run.run_id, sizeof run.run_id, "%08" PRIx64 "%08x",
              (uint64_t) time (NULL) & 0xffffffffu, (unsigned) randombytes_random ());
    int rc = s_run (&run);
    for (int i = 0; i < run.n_certs; i++)
        zcert_destroy (&run.certs[i]);
    zcert_destroy (&run.feed_cert);
    return rc;
}
