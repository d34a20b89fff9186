/*  A worker busy on one request, over real CURVE sockets: the broker must not take
    its silence for death. The worker here is the worker library (kn_worker, on the
    intake certificate, the intake daemon stopped) standing for a handler that runs
    one long statement: between taking the request and answering it, it does nothing
    at all, not even a heartbeat, as a thread blocked in libpq does nothing. Only its
    libzmq answers the broker's pings, as a live process's does. It is answered
    after far longer than the heartbeat expiry; only a worker silent past
    KINNET_WORKER_BUSY_MAX_MS is given up, and its client told. (A worker whose
    process is killed or frozen mid-request: test_report_standby.) */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinnet/v1/common.pb-c.h"
#include "kn_mdp.h"
#include "kn_test.h"
#include "kn_worker.h"

//  The stack's heartbeat (kn_test: 200 ms), and how long the broker gave a busy
//  worker before: ten intervals after its liveness (3 intervals) ran out.
#define HEARTBEAT_MS       200
#define OLD_BUSY_LEASH_MS  (HEARTBEAT_MS * (KN_HEARTBEAT_LIVENESS + 10))

static kn_test_stack_t *stack;

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    //  The test's worker beats as the stack's daemons do (kn_test).
    setenv ("KINNET_HEARTBEAT_MS", "200", 1);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (busy, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  A stack (env: as kn_test_stack_new_with_env) whose intake is the test's worker
//  alone: the worker, registered.
static kn_worker_t *
s_stack_with_worker_env (const char *const *env)
{
    stack = kn_test_stack_new_with_env (env);
    kn_test_stack_stop_intake (stack, SIGTERM);
    int64_t deadline = zclock_mono () + 5000;
    while (kn_test_stack_wait_service (stack, "intake", 100) && zclock_mono () < deadline)
        ;
    cr_assert_not (kn_test_stack_wait_service (stack, "intake", 100),
                   "the broker still counts the intake daemon");
    zcert_t *cert = zcert_load (kn_test_stack_service_cert_path (stack));
    cr_assert (cert);
    kn_error_t err;
    kn_worker_t *worker = kn_worker_new (kn_test_stack_backend (stack), "intake", cert,
                                         kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    cr_assert (worker, "%s", err.message);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 5000));
    return worker;
}

//  The same, with the broker setting name at value (NULL: none).
static kn_worker_t *
s_stack_with_worker (const char *name, const char *value)
{
    const char *env[] = {name ? "broker" : NULL, name, value, NULL};
    return s_stack_with_worker_env (env);
}

//  A raw client of agency 0 that has sent body to intake.
static zsock_t *
s_client_sends (const char *body)
{
    zsock_t *client = kn_test_stack_dealer (stack, 0, 0);
    cr_assert_eq (zstr_sendx (client, "", KN_MDPC, "intake", body, NULL), 0);
    return client;
}


//  What a reply body says: its text, or the error the broker put there.
static void
s_describe (zframe_t *body, char *text, size_t size)
{
    Kinnet__V1__ErrorReply *error =
        kinnet__v1__error_reply__unpack (NULL, zframe_size (body), zframe_data (body));
    if (error && error->error)
        snprintf (text, size, "error %d: %s", error->error->code, error->error->message);
    else
        snprintf (text, size, "%.*s", (int)zframe_size (body), (char *)zframe_data (body));
    if (error)
        kinnet__v1__error_reply__free_unpacked (error, NULL);
}

//  The request the worker is handed (its body must be expected), and its client.
static zmsg_t *
s_take (kn_worker_t *worker, zframe_t **reply_to, const char *expected)
{
    zmsg_t *request = kn_worker_recv (worker, reply_to, 5000);
    cr_assert (request, "the worker was handed nothing");
    cr_assert (zframe_streq (zmsg_last (request), expected));
    return request;
}

static void
s_answer (kn_worker_t *worker, zmsg_t **request_p, zframe_t **reply_to, const char *text)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, text);
    kn_worker_send (worker, &reply, *reply_to);
    zmsg_destroy (request_p);
    zframe_destroy (reply_to);
}

//  The worker is still the broker's: it takes the client's next request and its
//  answer reaches the client. Then both are closed.
static void
s_serves_next_then_ends (kn_worker_t *worker, zsock_t *client)
{
    zframe_t *reply_to = NULL;
    cr_assert_eq (zstr_sendx (client, "", KN_MDPC, "intake", "next", NULL), 0);
    zmsg_t *request = s_take (worker, &reply_to, "next");
    s_answer (worker, &request, &reply_to, "done");
    zframe_t *reply = kn_test_mdp_reply (client, 5000);
    cr_assert (reply && zframe_streq (reply, "done"), "the worker serves no more");
    zframe_destroy (&reply);
    zsock_destroy (&client);
    kn_worker_destroy (&worker);
}

//  The client hears nothing for ms while its worker works (no answer, no error):
//  when it began to listen.
static int64_t
s_hears_nothing_for (zsock_t *client, int ms)
{
    int64_t taken = zclock_mono ();
    zframe_t *early = kn_test_mdp_reply (client, ms);
    char text[256] = "";
    if (early)
        s_describe (early, text, sizeof text);
    zframe_destroy (&early);
    cr_assert_str_eq (text, "", "answered after %lld ms while the worker worked: %s",
                      (long long)(zclock_mono () - taken), text);
    return taken;
}

Test (busy, a_worker_busy_past_the_heartbeat_expiry_still_answers)
{
    kn_worker_t *worker = s_stack_with_worker (NULL, NULL);
    zsock_t *client = s_client_sends ("slow");
    zframe_t *reply_to = NULL;
    zmsg_t *request = s_take (worker, &reply_to, "slow");

    //  The slow request: the worker says nothing for twice as long as the broker
    //  once gave a busy worker. Meanwhile the client hears nothing either.
    int64_t taken = s_hears_nothing_for (client, 2 * OLD_BUSY_LEASH_MS);
    char text[256] = "";

    s_answer (worker, &request, &reply_to, "done");
    zframe_t *reply = kn_test_mdp_reply (client, 5000);
    cr_assert (reply, "the worker's answer never reached its client");
    s_describe (reply, text, sizeof text);
    zframe_destroy (&reply);
    cr_assert_str_eq (text, "done");
    printf ("busy: answered %lld ms after it was handed out\n",
            (long long)(zclock_mono () - taken));

    //  Still the broker's worker: it takes the next request.
    s_serves_next_then_ends (worker, client);
}

Test (busy, a_worker_silent_past_the_busy_bound_is_given_up)
{
    kn_worker_t *worker = s_stack_with_worker ("KINNET_WORKER_BUSY_MAX_MS", "1500");
    zsock_t *client = s_client_sends ("stuck");
    zframe_t *reply_to = NULL;
    zmsg_t *request = s_take (worker, &reply_to, "stuck");
    int64_t taken = zclock_mono ();

    //  Its connection lives (its libzmq answers every ping), its handler is stuck:
    //  after the bound the client is told, and nothing is left to hold its agency's
    //  share.
    zframe_t *reply = kn_test_mdp_reply (client, 10000);
    int64_t waited = zclock_mono () - taken;
    cr_assert (reply, "the client of a stuck worker was never told");
    Kinnet__V1__ErrorReply *error =
        kinnet__v1__error_reply__unpack (NULL, zframe_size (reply), zframe_data (reply));
    zframe_destroy (&reply);
    cr_assert (error && error->error, "a stuck worker's request was answered as served");
    cr_assert_eq (error->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE);
    cr_assert (strstr (error->error->message, "given up"), "%s", error->error->message);
    kinnet__v1__error_reply__free_unpacked (error, NULL);
    printf ("stuck: told after %lld ms\n", (long long)waited);
    //  (Measured from when the worker read it, a little after the broker handed it.)
    cr_assert_geq (waited, 1000, "given up before the bound");
    cr_assert_lt (waited, 1500 + 1000, "given up long after the bound");

    //  Its late answer goes nowhere; the worker joins again and serves.
    s_answer (worker, &request, &reply_to, "late");
    cr_assert_null (kn_test_mdp_reply (client, 300), "a given-up request was answered twice");
    s_serves_next_then_ends (worker, client);
}

//  The broker's pings are answered by the busy worker's libzmq with PONGs, which
//  arrive on its connection but are never read as messages: the broker's guard
//  (what libzmq holds for each connection) must not count them as a message
//  piling up. Here pings go every 50 ms and a connection may hold 1 KiB: a few
//  seconds of PONGs counted so would cut the busy worker's connection, and its
//  client would be told it stopped.
Test (busy, a_busy_worker_is_not_cut_for_answering_the_brokers_pings)
{
    setenv ("KINNET_HEARTBEAT_MS", "50", 1);
    const char *env[] = {"broker",    "KINNET_MAX_CONNECTION_BYTES", "1024",
                         "broker",    "KINNET_HEARTBEAT_MS",         "50",
                         "intake",    "KINNET_HEARTBEAT_MS",         "50",
                         "consent",   "KINNET_HEARTBEAT_MS",         "50",
                         "routing",   "KINNET_HEARTBEAT_MS",         "50",
                         "reporting", "KINNET_HEARTBEAT_MS",         "50",
                         "admin",     "KINNET_HEARTBEAT_MS",         "50",
                         NULL};
    kn_worker_t *worker = s_stack_with_worker_env (env);
    zsock_t *client = s_client_sends ("slow");
    zframe_t *reply_to = NULL;
    zmsg_t *request = s_take (worker, &reply_to, "slow");
    s_hears_nothing_for (client, 8000);   // 160 PONGs: over 6 KiB
    s_answer (worker, &request, &reply_to, "done");
    zframe_t *reply = kn_test_mdp_reply (client, 5000);
    cr_assert (reply && zframe_streq (reply, "done"), "the worker's answer was lost");
    zframe_destroy (&reply);
    zsock_destroy (&client);
    kn_worker_destroy (&worker);
}
