/*  Redundant brokers: two kinnet-broker processes sharing one certificate and one
    database, every service a worker of both, clients holding the list of both
    frontends (issue 18). Killing one broker costs a client one retry, once; the
    workers serve through the other; a request sent again through the other broker
    is the same request (same idempotency key) and is stored once. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_mdp.h"
#include "kn_test.h"
#include "kn_worker.h"

static kn_test_stack_t *stack;
static char both[140];     // "A,B": first broker first
static char reversed[140]; // "B,A"

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    stack = kn_test_stack_new_redundant ();
    snprintf (both, sizeof both, "%s,%s", kn_test_stack_frontend_at (stack, 0),
              kn_test_stack_frontend_at (stack, 1));
    snprintf (reversed, sizeof reversed, "%s,%s", kn_test_stack_frontend_at (stack, 1),
              kn_test_stack_frontend_at (stack, 0));
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (brokers, .init = s_setup, .fini = s_teardown, .timeout = 180);

//  Submit a referral and decode the reply; asserts an answer came.
static Kinnet__V1__IntakeReply *
s_submit (kn_client_t *client, int seed, const char *key)
{
    Kinnet__V1__IntakeReply *decoded = kn_test_refer_via (client, seed, key);
    cr_assert (!decoded->error && decoded->submitted,
               "%s: not a submission: %s", key,
               decoded->error ? decoded->error->message : "");
    return decoded;
}

static int
s_referrals (const char *key_prefix)
{
    return kn_test_countf (kn_test_stack_db_url (stack),
                           "SELECT count (*) FROM intake.referral r"
                           " JOIN intake.idempotency i ON i.object_id = r.id"
                           " WHERE i.operation = 'submit' AND i.key LIKE '%s%%'",
                           key_prefix);
}

Test (brokers, both_brokers_serve_every_service)
{
    //  A client of one broker only, each: the services answer through both.
    for (int which = 0; which < 2; which++) {
        kn_client_t *client = kn_test_stack_client_to (
            stack, kn_test_stack_frontend_at (stack, which), 0, 4000, 0);
        char key[32];
        snprintf (key, sizeof key, "flow-%d", which);
        Kinnet__V1__IntakeReply *reply = s_submit (client, 10 + which, key);
        cr_assert_not (reply->submitted->replayed);
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
        kn_client_destroy (&client);
    }
    cr_assert_eq (s_referrals ("flow-"), 2);
    //  A list is tried from its first element: with both up, that is the one used.
    kn_client_t *client = kn_test_stack_client_to (stack, reversed, 0, 4000, 2);
    Kinnet__V1__IntakeReply *reply = s_submit (client, 12, "flow-2");
    kinnet__v1__intake_reply__free_unpacked (reply, NULL);
    cr_assert_eq (kn_client_attempts (client), 1);
    cr_assert_str_eq (kn_client_endpoint (client), kn_test_stack_frontend_at (stack, 1));
    kn_client_destroy (&client);
}

Test (brokers, the_same_request_through_the_other_broker_is_a_replay)
{
    kn_client_t *first =
        kn_test_stack_client_to (stack, kn_test_stack_frontend_at (stack, 0), 0, 4000, 0);
    kn_client_t *second =
        kn_test_stack_client_to (stack, kn_test_stack_frontend_at (stack, 1), 0, 4000, 0);
    Kinnet__V1__IntakeReply *one = s_submit (first, 20, "replay-across");
    Kinnet__V1__IntakeReply *two = s_submit (second, 20, "replay-across");
    cr_assert_not (one->submitted->replayed);
    cr_assert (two->submitted->replayed, "the second broker's copy was stored again");
    cr_assert_str_eq (one->submitted->referral_id, two->submitted->referral_id);
    kinnet__v1__intake_reply__free_unpacked (one, NULL);
    kinnet__v1__intake_reply__free_unpacked (two, NULL);
    cr_assert_eq (s_referrals ("replay-across"), 1);
    kn_client_destroy (&first);
    kn_client_destroy (&second);
}

Test (brokers, killing_a_broker_costs_one_retry_once)
{
    const char *all = "SELECT count (*) FROM intake.referral";
    int stored = kn_test_count (kn_test_stack_db_url (stack), all);
    kn_client_t *client = kn_test_stack_client_to (stack, both, 0, 4000, 2);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf (key, sizeof key, "kill-before-%d", i);
        kinnet__v1__intake_reply__free_unpacked (s_submit (client, 30 + i, key), NULL);
        cr_assert_eq (kn_client_attempts (client), 1);
        cr_assert_str_eq (kn_client_endpoint (client),
                          kn_test_stack_frontend_at (stack, 0));
    }

    kn_test_stack_stop_broker_at (stack, 0, SIGKILL);
    //  Every request is answered; the first costs one retry (one timeout), the rest
    //  go straight to the broker that answered last.
    int retries = 0;
    for (int i = 0; i < 10; i++) {
        char key[32];
        snprintf (key, sizeof key, "kill-after-%d", i);
        int64_t begun = zclock_mono ();
        Kinnet__V1__IntakeReply *reply = s_submit (client, 40 + i, key);
        int64_t took = zclock_mono () - begun;
        cr_assert_not (reply->submitted->replayed);
        kinnet__v1__intake_reply__free_unpacked (reply, NULL);
        cr_assert_str_eq (kn_client_endpoint (client),
                          kn_test_stack_frontend_at (stack, 1));
        retries += kn_client_attempts (client) - 1;
        cr_assert_eq (kn_client_attempts (client), i == 0 ? 2 : 1,
                      "request %d took %d attempts", i, kn_client_attempts (client));
        if (i > 0)
            cr_assert_lt (took, 4000, "request %d waited out a timeout", i);
    }
    cr_assert_eq (retries, 1);
    cr_assert_eq (s_referrals ("kill-"), 13, "a referral was lost");
    cr_assert_eq (kn_test_count (kn_test_stack_db_url (stack), all) - stored, 13,
                  "a referral was stored twice");

    //  A single-endpoint client is as before: it retries the same broker, then fails.
    kn_client_t *alone =
        kn_test_stack_client_to (stack, kn_test_stack_frontend_at (stack, 0), 0, 300, 1);
    kn_error_t err;
    zframe_t *nothing = kn_client_call (alone, "mmi.service", "intake", 6, &err);
    cr_assert_null (nothing);
    cr_assert_eq (err.code, KN_E_SERVICE_UNAVAILABLE);
    cr_assert_eq (kn_client_attempts (alone), 2);
    cr_assert_str_eq (kn_client_endpoint (alone), kn_test_stack_frontend_at (stack, 0));
    kn_client_destroy (&alone);

    //  The CLI takes the list from KINNET_ENDPOINT and moves on the same way.
    char *base = kn_test_stack_cli_env (stack, 0);
    char env[2400];
    snprintf (env, sizeof env, "%s KINNET_ENDPOINT='%s'", base, both);
    free (base);
    char *referral = kn_test_sql (kn_test_stack_db_url (stack),
                                  "SELECT object_id FROM intake.idempotency"
                                  " WHERE key = 'kill-after-0'");
    cr_assert (referral);
    char *output = NULL;
    int rc = kn_test_run_cli (env, &output, "--timeout 1000 referral show %s", referral);
    cr_assert_eq (rc, 0, "kinnet referral show through the list: %s", output);
    free (output);
    free (referral);

    //  The broker back: every service's workers register with it again by themselves.
    kn_test_stack_start_broker_at (stack, 0);
    const char *services[] = {"intake", "consent",   "routing",
                              "feed",   "reporting", "admin"};
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        cr_assert (kn_test_stack_wait_service_at (stack, 0, services[i], 20000),
                   "%s did not come back to the restarted broker", services[i]);
    kn_client_destroy (&client);
}

//  A raw MDP client of broker which that sends one request to intake, so the test
//  can hold several requests open at once.
static zsock_t *
s_raw_request (int which, const char *text)
{
    zsock_t *dealer = kn_test_stack_dealer (stack, 0, which);
    zsock_send (dealer, "ssss", "", KN_MDPC, "intake", text);
    return dealer;
}

//  Answer a request with its own body.
static void
s_echo (kn_worker_t *worker, zmsg_t **request_p, zframe_t **reply_to)
{
    zframe_t *caller = zmsg_pop (*request_p);
    zframe_destroy (&caller);
    kn_worker_send (worker, request_p, *reply_to);
    zframe_destroy (reply_to);
}

Test (brokers, a_busy_worker_gives_a_second_brokers_request_back)
{
    //  Test workers alone serve intake: busy, one with both brokers, one with the
    //  second broker only, registered after it (so the second broker tries it last).
    kn_test_stack_stop_intake (stack, SIGTERM);
    for (int which = 0; which < 2; which++) {
        int64_t deadline = zclock_mono () + 5000;
        while (kn_test_stack_wait_service_at (stack, which, "intake", 100) &&
               zclock_mono () < deadline)
            ;
    }
    zcert_t *cert = zcert_load (kn_test_stack_service_cert_path (stack));
    kn_error_t err;
    kn_worker_t *busy = kn_worker_new (kn_test_stack_backends (stack), "intake", cert,
                                       kn_test_stack_server_key (stack), &err);
    cr_assert (busy, "%s", err.message);
    cr_assert (kn_test_stack_wait_service_at (stack, 0, "intake", 5000));
    cr_assert (kn_test_stack_wait_service_at (stack, 1, "intake", 5000));
    kn_worker_t *other =
        kn_worker_new (strchr (kn_test_stack_backends (stack), ',') + 1, "intake", cert,
                       kn_test_stack_server_key (stack), &err);
    cr_assert (other, "%s", err.message);
    zcert_destroy (&cert);

    //  The first broker's request: taken, and held as a feed long poll holds one.
    zsock_t *first = s_raw_request (0, "first");
    zframe_t *first_to = NULL;
    zmsg_t *held = kn_worker_recv (busy, &first_to, 5000);
    cr_assert (held, "the request never came");

    //  The second broker hands its request to the busy worker first; given back, it
    //  is answered by the other worker while the first is still held.
    zsock_t *second = s_raw_request (1, "second");
    zpoller_t *poller = zpoller_new (second, NULL);
    bool answered = false;
    int64_t deadline = zclock_mono () + 3000;
    while (!answered && zclock_mono () < deadline) {
        kn_worker_heartbeat (busy);
        zframe_t *reply_to = NULL;
        zmsg_t *request = kn_worker_recv (other, &reply_to, 20);
        if (request)
            s_echo (other, &request, &reply_to);
        answered = zpoller_wait (poller, 0) == second;
    }
    cr_assert (answered, "the second broker's request waited for the busy worker");
    zpoller_destroy (&poller);

    //  The held request is answered where it came from.
    s_echo (busy, &held, &first_to);
    poller = zpoller_new (first, NULL);
    cr_assert_eq (zpoller_wait (poller, 5000), first, "the held request lost its way");
    zpoller_destroy (&poller);
    zsock_destroy (&first);
    zsock_destroy (&second);
    kn_worker_destroy (&other);
    kn_worker_destroy (&busy);
    kn_test_stack_start_intake (stack);
    cr_assert (kn_test_stack_wait_service_at (stack, 0, "intake", 20000));
    cr_assert (kn_test_stack_wait_service_at (stack, 1, "intake", 20000));
}

Test (brokers, an_unregistered_key_is_refused_by_every_broker_at_once)
{
    kn_client_t *client = kn_test_stack_client_to (stack, both, 2, 3000, 2);
    int64_t begun = zclock_mono ();
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
    cr_assert_null (reply);
    cr_assert_eq (err.code, KN_E_UNAUTHENTICATED, "%s", err.message);
    cr_assert_eq (kn_client_attempts (client), 2, "each broker is asked once");
    cr_assert_lt (zclock_mono () - begun, 3000, "a refusal waited out a timeout");
    kn_client_destroy (&client);
}

//  A "broker" that refuses every client key: the broker's certificate, and a ZAP
//  handler (zauth) that knows no client. Bound on port; ends with *auth_p, *socket_p.
static void
s_refuser (int port, zactor_t **auth_p, zsock_t **socket_p)
{
    char path[400];
    snprintf (path, sizeof path, "%s/nobody", kn_test_stack_dir (stack));
    zsys_dir_create ("%s", path);
    *auth_p = zactor_new (zauth, NULL);
    zstr_sendx (*auth_p, "CURVE", path, NULL);
    zsock_wait (*auth_p);
    snprintf (path, sizeof path, "%s/broker.cert_secret", kn_test_stack_dir (stack));
    zcert_t *cert = zcert_load (path);
    cr_assert (cert);
    *socket_p = zsock_new (ZMQ_ROUTER);
    zcert_apply (cert, *socket_p);
    zcert_destroy (&cert);
    zsock_set_curve_server (*socket_p, 1);
    zsock_set_zap_domain (*socket_p, "global");
    cr_assert_eq (zsock_bind (*socket_p, "tcp://127.0.0.1:%d", port), port);
}

Test (brokers, a_refusal_does_not_hide_a_live_broker)
{
    int port = kn_test_free_port ();
    zactor_t *auth;
    zsock_t *refuser;
    s_refuser (port, &auth, &refuser);
    char list[160];
    snprintf (list, sizeof list, "tcp://127.0.0.1:%d,%s", port,
              kn_test_stack_frontend_at (stack, 0));

    //  The refusal moves the call on at once, and the live broker answers.
    kn_client_t *client = kn_test_stack_client_to (stack, list, 0, 3000, 2);
    int64_t begun = zclock_mono ();
    kn_error_t err;
    zframe_t *reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
    cr_assert (reply, "the live broker was not asked: %s", err.message);
    cr_assert (zframe_streq (reply, "200"));
    zframe_destroy (&reply);
    cr_assert_eq (kn_client_attempts (client), 2);
    cr_assert_lt (zclock_mono () - begun, 3000, "the refusal waited out a timeout");
    kn_client_destroy (&client);

    //  Alone, the refuser fails the call fast, as a single broker always did.
    char alone[64];
    snprintf (alone, sizeof alone, "tcp://127.0.0.1:%d", port);
    client = kn_test_stack_client_to (stack, alone, 0, 3000, 2);
    begun = zclock_mono ();
    reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
    cr_assert_null (reply);
    cr_assert_eq (err.code, KN_E_UNAUTHENTICATED, "%s", err.message);
    cr_assert_eq (kn_client_attempts (client), 1);
    cr_assert_lt (zclock_mono () - begun, 3000);
    kn_client_destroy (&client);
    zsock_destroy (&refuser);
    zactor_destroy (&auth);
}

//  kinnet ping with endpoints: its exit code and what it printed (caller frees).
static int
s_ping (const char *endpoints, const char *format, char **output)
{
    char *base = kn_test_stack_cli_env (stack, 0);
    char env[2400];
    snprintf (env, sizeof env, "%s KINNET_ENDPOINT='%s'", base, endpoints);
    free (base);
    return kn_test_run_cli (env, output, "--format %s --timeout 500 --retries 0 ping intake",
                            format);
}

//  The line ping printed for endpoint, or NULL (points into output).
static const char *
s_line (const char *output, const char *endpoint)
{
    char start[80];
    snprintf (start, sizeof start, "%s intake: ", endpoint);
    const char *line = strstr (output, start);
    return line ? line + strlen (start) : NULL;
}

Test (brokers, ping_asks_every_broker_and_fails_when_one_is_down)
{
    const char *first = kn_test_stack_frontend_at (stack, 0);
    const char *second = kn_test_stack_frontend_at (stack, 1);
    char *output = NULL;
    int rc = s_ping (both, "text", &output);
    cr_assert_eq (rc, 0, "%s", output);
    cr_assert (s_line (output, first) && strncmp (s_line (output, first), "up (", 4) == 0,
               "%s", output);
    cr_assert (s_line (output, second) && strncmp (s_line (output, second), "up (", 4) == 0,
               "%s", output);
    cr_assert (strstr (output, " ms)\n"), "each line gives the round trip: %s", output);
    free (output);

    //  One broker gone: a client would move on to the other and hide it; ping names it
    //  and exits 4, whichever place in the list it has.
    kn_test_stack_stop_broker_at (stack, 1, SIGTERM);
    const char *lists[] = {both, reversed};
    for (int i = 0; i < 2; i++) {
        rc = s_ping (lists[i], "text", &output);
        cr_assert_eq (rc, 4, "exit %d: %s", rc, output);
        cr_assert (s_line (output, first) && strncmp (s_line (output, first), "up (", 4) == 0,
                   "%s", output);
        cr_assert (s_line (output, second)
                       && strncmp (s_line (output, second), "down, no answer (", 17) == 0,
                   "%s", output);
        free (output);
    }
    rc = s_ping (both, "json", &output);
    cr_assert_eq (rc, 4, "exit %d: %s", rc, output);
    json_t *json = json_loads (output, 0, NULL);
    cr_assert (json, "not JSON: %s", output);
    cr_assert_str_eq (json_string_value (json_object_get (json, "status")), "down");
    json_t *brokers = json_object_get (json, "brokers");
    cr_assert_eq (json_array_size (brokers), 2, "%s", output);
    json_t *up = json_array_get (brokers, 0), *down = json_array_get (brokers, 1);
    cr_assert_str_eq (json_string_value (json_object_get (up, "endpoint")), first);
    cr_assert_str_eq (json_string_value (json_object_get (up, "status")), "up");
    cr_assert_str_eq (json_string_value (json_object_get (down, "status")), "down");
    cr_assert_str_eq (json_string_value (json_object_get (down, "reason")), "unreachable");
    cr_assert (json_is_number (json_object_get (down, "round_trip_ms")));
    json_decref (json);
    free (output);

    //  One endpoint alone answers as it always did (health checks read it).
    rc = s_ping (first, "text", &output);
    cr_assert_eq (rc, 0, "%s", output);
    cr_assert_str_eq (output, "intake: up\n");
    free (output);
}

Test (brokers, a_bad_endpoint_list_is_refused_by_the_cli)
{
    char *base = kn_test_stack_cli_env (stack, 0);
    char env[2400];
    snprintf (env, sizeof env, "%s KINNET_ENDPOINT='%s,'", base, both);
    free (base);
    char *output = NULL;
    int rc = kn_test_run_cli (env, &output, "ping intake");
    cr_assert_eq (rc, 3, "exit %d: %s", rc, output); // invalid, not "not up" (4)
    cr_assert (strstr (output, "empty element at position 3"), "%s", output);
    free (output);
    rc = kn_test_run_cli (env, &output, "--endpoint 'udp://127.0.0.1:1' referral show x");
    cr_assert_eq (rc, 3, "exit %d: %s", rc, output); // invalid request
    cr_assert (strstr (output, "must be tcp://"), "%s", output);
    free (output);
}
