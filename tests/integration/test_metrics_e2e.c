/*  Metrics from running daemons: the real stack with KINNET_METRICS_LISTEN set for
    the broker, intake and routing, requests through the broker over CURVE, and
    /metrics scraped over TCP as Prometheus would; and referrals that reach intake
    together, stored as one batch. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kinnet/v1/routing.pb-c.h"
#include "kn_test.h"
#include "kn_uuid.h"

static kn_test_stack_t *stack;
static int broker_port, intake_port, routing_port;

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    broker_port = kn_test_free_port ();
    intake_port = kn_test_free_port ();
    routing_port = kn_test_free_port ();
    char broker[32], intake[32], routing[32];
    snprintf (broker, sizeof broker, "127.0.0.1:%d", broker_port);
    snprintf (intake, sizeof intake, "127.0.0.1:%d", intake_port);
    snprintf (routing, sizeof routing, "127.0.0.1:%d", routing_port);
    const char *env[] = {"broker",  "KINNET_METRICS_LISTEN", broker,
                         "intake",  "KINNET_METRICS_LISTEN", intake,
                         "routing", "KINNET_METRICS_LISTEN", routing,
                         NULL};
    stack = kn_test_stack_new_with_env (env);
}

static void
s_teardown (void)
{
    //  SIGTERM, and each daemon must exit 0: the metrics server stops cleanly and,
    //  under the sanitizers, without a leak.
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (metrics_e2e, .init = s_setup, .fini = s_teardown, .timeout = 120);

static char *
s_scrape (int port)
{
    char *headers, *body;
    cr_assert_eq (kn_test_http (port, "GET", "/metrics", &headers, &body), 200);
    cr_assert (strstr (headers, "text/plain; version=0.0.4"), "%s", headers);
    free (headers);
    return body;
}

//  The sample's value, or -1 when the scrape does not have it.
static double
s_metric (int port, const char *series)
{
    char *text = s_scrape (port);
    double value = -1;
    if (!kn_test_metric (text, series, &value))
        value = -1;
    free (text);
    return value;
}

//  Scrape until the series has the value or timeout_ms passes (for what a daemon
//  does after it has answered, like the routing consumer's work).
static bool
s_await_metric (int port, const char *series, double expected, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        if (s_metric (port, series) == expected)
            return true;
        zclock_sleep (20); // the answer was "not yet": scrape again shortly
    }
    return false;
}

static zframe_t *
s_call (kn_client_t *client, const char *service, const void *data, size_t size)
{
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, service, data, size, &err);
    cr_assert (reply, "no reply from %s: %s", service, err.message);
    return reply;
}

//  Submit referral seed with key; returns whether it was a replay.
static bool
s_submit (kn_client_t *client, int seed, const char *key)
{
    zframe_t *body = kn_test_referral_request (seed, key);
    zframe_t *frame = s_call (client, "intake", zframe_data (body), zframe_size (body));
    Kinnet__V1__IntakeReply *reply =
        kinnet__v1__intake_reply__unpack (NULL, zframe_size (frame), zframe_data (frame));
    cr_assert (reply);
    cr_assert_null (reply->error, "%s", reply->error ? reply->error->message : "");
    bool replayed = reply->submitted->replayed;
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&frame);
    zframe_destroy (&body);
    return replayed;
}

Test (metrics_e2e, intake_counts_requests_by_operation_and_result)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    cr_assert_not (s_submit (client, 1, "metrics-1"));

    //  Recorded before the reply was sent: no waiting needed.
    cr_assert_eq (s_metric (intake_port, "kinnet_requests_total{service=\"intake\","
                                         "operation=\"submit\",result=\"ok\"}"),
                  1);
    cr_assert_eq (s_metric (intake_port, "kinnet_request_duration_seconds_count{"
                                         "service=\"intake\",operation=\"submit\"}"),
                  1);
    cr_assert_eq (s_metric (intake_port, "kinnet_up"), 1);

    //  A replay writes no audit row; it is still a submit, and it is ok.
    cr_assert (s_submit (client, 1, "metrics-1"));
    cr_assert_eq (s_metric (intake_port, "kinnet_requests_total{service=\"intake\","
                                         "operation=\"submit\",result=\"ok\"}"),
                  2);

    //  A body that is not an IntakeRequest: refused, audited under "unknown".
    zframe_t *frame = s_call (client, "intake", "\x0a\xff", 2);
    zframe_destroy (&frame);
    cr_assert_eq (s_metric (intake_port, "kinnet_requests_total{service=\"intake\","
                                         "operation=\"unknown\",result=\"malformed\"}"),
                  1);
    cr_assert_eq (s_metric (intake_port, "kinnet_requests_total{service=\"intake\","
                                         "operation=\"submit\",result=\"ok\"}"),
                  2);

    //  The broker saw all three answered by a worker, and knows its workers.
    cr_assert_eq (
        s_metric (broker_port,
                  "kinnet_broker_requests_total{service=\"intake\",result=\"ok\"}"),
        3);
    //  Requests one at a time: batches of one.
    cr_assert_eq (
        s_metric (intake_port, "kinnet_batch_requests_total{service=\"intake\"}"), 3);
    cr_assert_eq (s_metric (intake_port, "kinnet_batches_total{service=\"intake\"}"), 3);
    //  One intake process, serving on KINNET_WORKER_SLOTS (16) connections.
    cr_assert_eq (s_metric (broker_port, "kinnet_broker_workers{service=\"intake\"}"),
                  16);
    cr_assert_eq (s_metric (broker_port, "kinnet_broker_workers{service=\"feed\"}"), 2);
    cr_assert_geq (
        s_metric (broker_port, "kinnet_broker_connections{socket=\"frontend\"}"), 1);
    //  intake, consent, reporting, routing and its two feed workers at least.
    cr_assert_geq (
        s_metric (broker_port, "kinnet_broker_connections{socket=\"backend\"}"), 6);
    kn_client_destroy (&client);
}

Test (metrics_e2e, broker_does_not_label_by_client_service_names)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    //  Nobody serves it: SERVICE_UNAVAILABLE after KINNET_REQUEST_TIMEOUT_MS.
    zframe_t *frame = s_call (client, "made-up.service", "x", 1);
    zframe_destroy (&frame);
    char *text = s_scrape (broker_port);
    double value = -1;
    cr_assert (kn_test_metric (text,
                               "kinnet_broker_requests_total{service=\"unregistered\","
                               "result=\"unavailable\"}",
                               &value),
               "%s", text);
    cr_assert_eq (value, 1);
    cr_assert_null (strstr (text, "made-up"));
    free (text);
    //  Nor its log: the expiry is logged under "unregistered", not under the name.
    char path[600];
    snprintf (path, sizeof path, "%s/broker.log", kn_test_stack_dir (stack));
    bool expired = false;
    int64_t deadline = zclock_mono () + 5000;
    while (!expired && zclock_mono () < deadline) {
        char *log = kn_test_read_file (path);
        cr_assert_not_null (log, "no broker log at %s", path);
        cr_assert_null (strstr (log, "made-up"), "a client's service name reached the log");
        for (char *line = strstr (log, "request.expired"); line && !expired;
             line = strstr (line + 1, "request.expired")) {
            char *end = strchr (line, '\n');
            expired = strstr (line, "unregistered") && (!end || strstr (line, "unregistered") < end);
        }
        free (log);
        if (!expired)
            zclock_sleep (10);
    }
    cr_assert (expired, "the expiry was not logged");
    kn_client_destroy (&client);
}

Test (metrics_e2e, routing_reports_outbox_lag_and_feed_reads)
{
    kn_client_t *client = kn_test_stack_client (stack, 0, 5000, 0);
    zframe_t *body = kn_test_referral_request (2, "metrics-2");
    zframe_t *frame = s_call (client, "intake", zframe_data (body), zframe_size (body));
    zframe_destroy (&frame);
    zframe_destroy (&body);
    //  The referral's event is in the outbox; once routing has consumed it the
    //  gauge, set on every wake-up of the consumer, comes back to 0.
    char *events =
        kn_test_sql (kn_test_stack_db_url (stack), "SELECT count (*) FROM core.outbox");
    cr_assert_geq (atol (events), 1);
    free (events);
    int64_t deadline = zclock_mono () + 20000;
    char *cursor = NULL;
    while (zclock_mono () < deadline) {
        free (cursor);
        cursor =
            kn_test_sql (kn_test_stack_db_url (stack),
                         "SELECT (SELECT last_id FROM routing.cursor WHERE consumer ="
                         " 'routing') >= (SELECT max (id) FROM core.outbox)");
        if (strcmp (cursor, "t") == 0)
            break;
        zclock_sleep (20); // not consumed yet: look again shortly
    }
    cr_assert_str_eq (cursor, "t", "routing did not consume the outbox");
    free (cursor);
    cr_assert (s_await_metric (
        routing_port, "kinnet_outbox_lag_events{consumer=\"routing\"}", 0, 10000));

    //  A feed read is counted under the feed service.
    Kinnet__V1__FeedRead read = KINNET__V1__FEED_READ__INIT;
    Kinnet__V1__FeedRequest request = KINNET__V1__FEED_REQUEST__INIT;
    request.op_case = KINNET__V1__FEED_REQUEST__OP_READ;
    request.read = &read;
    size_t len = kinnet__v1__feed_request__get_packed_size (&request);
    uint8_t buf[64];
    kinnet__v1__feed_request__pack (&request, buf);
    frame = s_call (client, "feed", buf, len);
    zframe_destroy (&frame);
    cr_assert_eq (s_metric (routing_port, "kinnet_requests_total{service=\"feed\","
                                          "operation=\"feed_read\",result=\"ok\"}"),
                  1);
    kn_client_destroy (&client);
}

//  One client thread: submits one referral, keeps what came back.
typedef struct {
    kn_client_t *client;
    int seed;
    char key[32];
    pthread_t thread;
    atomic_bool calling;   // its request is on its way
    bool ok;
    char referral_id[KN_UUID_STR];
} sender_t;

static void *
s_send (void *arg)
{
    sender_t *self = arg;
    zframe_t *body = kn_test_referral_request (self->seed, self->key);
    kn_error_t err;
    atomic_store (&self->calling, true);
    zframe_t *frame =
        kn_client_call (self->client, "intake", zframe_data (body), zframe_size (body), &err);
    Kinnet__V1__IntakeReply *reply =
        frame ? kinnet__v1__intake_reply__unpack (NULL, zframe_size (frame),
                                                  zframe_data (frame))
              : NULL;
    self->ok = reply && !reply->error && reply->submitted && !reply->submitted->replayed;
    if (self->ok)
        snprintf (self->referral_id, KN_UUID_STR, "%s", reply->submitted->referral_id);
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    zframe_destroy (&frame);
    zframe_destroy (&body);
    return NULL;
}

static int
s_count (const char *sql)
{
    return kn_test_count (kn_test_stack_db_url (stack), sql);
}

//  Referrals that reach intake while it is busy are stored together: one batch,
//  one transaction, each answered as if it had been alone. The test holds intake
//  inside its first referral's transaction with a lock on the idempotency table, so
//  the others wait on its other worker slots until the lock goes.
Test (metrics_e2e, referrals_that_arrive_together_share_a_batch)
{
    enum { SENDERS = 6 };
    //  Counters not yet in the scrape (no batch so far) are zero.
    double batches = s_metric (intake_port, "kinnet_batches_total{service=\"intake\"}");
    double requests =
        s_metric (intake_port, "kinnet_batch_requests_total{service=\"intake\"}");
    batches = batches < 0 ? 0 : batches;
    requests = requests < 0 ? 0 : requests;
    PGconn *lock = PQconnectdb (kn_test_stack_db_url (stack));
    cr_assert_eq (PQstatus (lock), CONNECTION_OK);
    PQclear (PQexec (lock, "BEGIN"));
    PGresult *locked = PQexec (lock, "LOCK TABLE intake.idempotency IN EXCLUSIVE MODE");
    cr_assert_eq (PQresultStatus (locked), PGRES_COMMAND_OK);
    PQclear (locked);

    sender_t senders[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        senders[i] = (sender_t){.client = kn_test_stack_client (stack, i % 2, 10000, 0),
                                .seed = 300 + i};
        atomic_init (&senders[i].calling, false);
        snprintf (senders[i].key, sizeof senders[i].key, "together-%d", i);
    }
    //  The first one in, until intake waits for the lock inside its transaction.
    cr_assert_eq (pthread_create (&senders[0].thread, NULL, s_send, &senders[0]), 0);
    int64_t deadline = zclock_mono () + 10000;
    while (s_count ("SELECT count (*) FROM pg_stat_activity WHERE datname = current_database ()"
                    " AND wait_event_type = 'Lock'") < 1) {
        cr_assert (zclock_mono () < deadline, "intake never waited for the lock");
        zclock_sleep (5);
    }
    //  The rest reach intake's free slots while it waits. Whatever has arrived when it
    //  is free again (after the first referral's transaction, milliseconds after the
    //  lock goes; loopback delivery takes microseconds) is its next batch.
    for (int i = 1; i < SENDERS; i++)
        cr_assert_eq (pthread_create (&senders[i].thread, NULL, s_send, &senders[i]), 0);
    for (int i = 1; i < SENDERS; i++)
        while (!atomic_load (&senders[i].calling))
            zclock_sleep (1);
    PQclear (PQexec (lock, "COMMIT"));
    PQfinish (lock);
    for (int i = 0; i < SENDERS; i++)
        pthread_join (senders[i].thread, NULL);

    for (int i = 0; i < SENDERS; i++) {
        cr_assert (senders[i].ok, "referral %d was not stored", i);
        for (int k = 0; k < i; k++)
            cr_assert_str_neq (senders[i].referral_id, senders[k].referral_id);
        char sql[160];
        snprintf (sql, sizeof sql, "SELECT count (*) FROM intake.referral WHERE id = '%s'",
                  senders[i].referral_id);
        cr_assert_eq (s_count (sql), 1);
        kn_client_destroy (&senders[i].client);
    }
    double new_requests =
        s_metric (intake_port, "kinnet_batch_requests_total{service=\"intake\"}") - requests;
    double new_batches =
        s_metric (intake_port, "kinnet_batches_total{service=\"intake\"}") - batches;
    cr_assert_eq (new_requests, SENDERS, "%g requests in batches", new_requests);
    cr_assert_lt (new_batches, SENDERS, "every referral was a batch of its own (%g batches)",
                  new_batches);
    //  One transaction for the batch: its referrals share a received_at.
    cr_assert_lt (s_count ("SELECT count (DISTINCT received_at) FROM intake.referral"
                           " WHERE id IN (SELECT object_id FROM intake.idempotency"
                           " WHERE key LIKE 'together-%')"),
                  SENDERS);
}
