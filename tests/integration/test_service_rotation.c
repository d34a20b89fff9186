/*  Rotating a service's certificate under load loses no request, when done in the
    order docs/operations.md gives ("Key rotation"): the new public certificate goes
    into the broker's KINNET_SERVICE_CERTS beside the old one (both admitted), workers
    with the new certificate start, the old workers stop cleanly (SIGTERM: a request
    in hand is answered, one the broker handed meanwhile goes to another worker), and
    only then is the old public certificate removed, after which the old key is
    refused. Referrals stream throughout from a client that does not retry on its
    own: every one is acknowledged and stored once. One the broker answers
    SERVICE_UNAVAILABLE ("retry with the same idempotency key": an old process's
    slots closing together can pass a request between two of them, which uses up
    the broker's one re-handing) is sent again, as the protocol says, and counted. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_test.h"

static kn_test_stack_t *stack;
static atomic_int sent, acked, failed, retried;
static atomic_bool stop;
static char failure[300], unavailable[300];
static pthread_t stream;
static bool streaming;

//  Stop the stream before a failed check ends the test: a client socket still in
//  use by its thread would keep the process from exiting.
#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond) && streaming) {                                                      \
            atomic_store (&stop, true);                                                  \
            pthread_join (stream, NULL);                                                 \
            streaming = false;                                                           \
        }                                                                                \
        cr_assert (cond, __VA_ARGS__);                                                   \
    } while (0)

//  One referral sent once: 1 acknowledged, 0 answered SERVICE_UNAVAILABLE (the
//  broker's "retry with the same idempotency key"), -1 anything else (why: in
//  failure, for the first).
static int
s_send (kn_client_t *client, zframe_t *body, const char *key)
{
    kn_error_t err;
    zframe_t *reply =
        kn_client_call (client, "intake", zframe_data (body), zframe_size (body), &err);
    Kinnet__V1__IntakeReply *decoded =
        reply ? kinnet__v1__intake_reply__unpack (NULL, zframe_size (reply),
                                                  zframe_data (reply))
              : NULL;
    int rc =
        decoded && !decoded->error ? 1
        : decoded && decoded->error->code == KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE
            ? 0
            : -1;
    if ((rc < 0 || (rc == 0 && !*unavailable)) && atomic_load (&failed) == 0)
        snprintf (rc < 0 ? failure : unavailable, sizeof failure, "%s: %s", key,
                  decoded ? decoded->error->message : err.message);
    if (decoded)
        kinnet__v1__intake_reply__free_unpacked (decoded, NULL);
    zframe_destroy (&reply);
    return rc;
}

//  Referrals one after another. The client never retries on its own; a referral
//  answered SERVICE_UNAVAILABLE is sent again with the same idempotency key, as the
//  protocol says (counted in retried; for 5 s at most); any other outcome is a lost
//  request.
static void *
s_stream (void *arg)
{
    (void)arg;
    kn_client_t *client = kn_test_stack_client (stack, 0, 10000, 0);
    for (int i = 0; !atomic_load (&stop); i++) {
        char key[32];
        snprintf (key, sizeof key, "rotate-%d", i);
        zframe_t *body = kn_test_referral_request (5000 + i, key);
        atomic_fetch_add (&sent, 1);
        int rc = s_send (client, body, key);
        if (rc == 0)
            atomic_fetch_add (&retried, 1);
        //  A client's retry policy (back off, send again), for at most 5 s.
        int64_t give_up = zclock_mono () + 5000;
        while (rc == 0 && zclock_mono () < give_up) {
            zclock_sleep (50);
            rc = s_send (client, body, key);
        }
        if (rc == 0 && atomic_load (&failed) == 0)
            snprintf (failure, sizeof failure,
                      "%.40s: SERVICE_UNAVAILABLE for 5 s (%.200s)", key, unavailable);
        if (rc == 1)
            atomic_fetch_add (&acked, 1);
        else
            atomic_fetch_add (&failed, 1);
        zframe_destroy (&body);
    }
    kn_client_destroy (&client);
    return NULL;
}

//  A metric of the broker's, -1 when it cannot be read.
static double
s_metric (int port, const char *series)
{
    char *text = NULL;
    double value = -1;
    if (kn_test_http (port, "GET", "/metrics", NULL, &text) != 200 ||
        !kn_test_metric (text, series, &value))
        value = -1;
    free (text);
    return value;
}

//  Await the broker's metric series reaching at least want (exactly want: exact).
static void
s_await_metric (int port, const char *series, double want, bool exact)
{
    int64_t deadline = zclock_mono () + 20000;
    double value;
    while ((value = s_metric (port, series)),
           (exact ? value != want : value < want) && zclock_mono () < deadline)
        zclock_sleep (20); // polls the broker's metrics; the wait is bounded
    CHECK (exact ? value == want : value >= want, "%s is %.0f, not %.0f", series, value,
           want);
}

//  Await n more acknowledged referrals.
static void
s_await_acked (int n)
{
    int want = atomic_load (&acked) + n;
    int64_t deadline = zclock_mono () + 20000;
    while (atomic_load (&acked) < want && zclock_mono () < deadline &&
           atomic_load (&failed) == 0)
        zclock_sleep (5); // polls the stream's counter; the wait is bounded
    CHECK (atomic_load (&failed) == 0, "a request was lost: %s", failure);
    CHECK (atomic_load (&acked) >= want, "only %d acknowledged", atomic_load (&acked));
}

Test (service_rotation, a_service_certificate_rotated_under_load_loses_nothing,
      .timeout = 240)
{
    zsys_init ();
    //  The new certificate, made before the stack as an operator makes it
    //  (kinnet admin cert create intake-2.cert --service intake).
    char keys[] = "/tmp/kn-rotation-XXXXXX";
    cr_assert (mkdtemp (keys));
    char new_cert[200], new_secret[220];
    snprintf (new_cert, sizeof new_cert, "%s/intake-2.cert", keys);
    snprintf (new_secret, sizeof new_secret, "%s_secret", new_cert);
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "service", "intake");
    cr_assert_eq (zcert_save (cert, new_cert), 0);

    int port = kn_test_free_port ();
    char listen[32];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", port);
    const char *env[] = {"broker",  "KINNET_METRICS_LISTEN", listen,
                         "broker",  "KINNET_KEY_RELOAD_MS",  "200",
                         "intake1", "KINNET_SERVICE_CERT",   new_secret,
                         NULL};
    stack = kn_test_stack_new_with_env (env);
    const char *workers = "kinnet_broker_workers{service=\"intake\"}";
    const char *refused = "kinnet_broker_handshakes_refused_total{socket=\"backend\"}";
    s_await_metric (port, workers, 16, true);
    cr_assert_eq (pthread_create (&stream, NULL, s_stream, NULL), 0);
    streaming = true;
    s_await_acked (20);

    //  1. The new public certificate beside the old one; 2. workers with the new
    //  certificate: both keys are admitted, 32 slots serve.
    char path[400];
    snprintf (path, sizeof path, "%s/services/intake-2.cert", kn_test_stack_dir (stack));
    cr_assert_eq (zcert_save_public (cert, path), 0);
    kn_test_stack_start_intake1 (stack);
    s_await_metric (port, workers, 32, true);
    s_await_acked (20);

    //  3. The old workers stop cleanly while requests flow.
    kn_test_stack_stop_intake (stack, SIGTERM);
    s_await_metric (port, workers, 16, true);
    s_await_acked (20);

    //  4. The old public certificate goes: the old key is refused from the next
    //  reload on (a worker started with it is turned away), the new one serves on.
    double refused_before = s_metric (port, refused);
    const char *service_keys = "kinnet_broker_keys{kind=\"service\"}";
    double keys_before = s_metric (port, service_keys);
    snprintf (path, sizeof path, "%s/services/intake.cert", kn_test_stack_dir (stack));
    cr_assert_eq (unlink (path), 0);
    //  The reload has taken the old key out (else a worker started now could still
    //  get in before it, take requests, and be told to go holding them).
    s_await_metric (port, service_keys, keys_before - 1, true);
    kn_test_stack_start_intake (stack); // the old certificate
    s_await_metric (port, refused, (refused_before > 0 ? refused_before : 0) + 1, false);
    s_await_acked (20);
    CHECK (s_metric (port, workers) == 16, "a worker with the old key was admitted");
    kn_test_stack_stop_intake (stack, SIGKILL); // it never got in: nothing to finish

    atomic_store (&stop, true);
    pthread_join (stream, NULL);
    streaming = false;
    cr_assert_eq (atomic_load (&failed), 0, "%d of %d requests lost, the first %s",
                  atomic_load (&failed), atomic_load (&sent), failure);
    //  Done in this order, a rotation needs no retry either: the old process's slots
    //  say DISCONNECT, and what the broker had handed them goes to the new ones.
    cr_assert_eq (atomic_load (&retried), 0, "%d referrals answered SERVICE_UNAVAILABLE,"
                  " the first: %s", atomic_load (&retried), unavailable);
    printf ("service rotation: %d referrals sent, %d acknowledged, none lost; %d "
            "answered SERVICE_UNAVAILABLE first and acknowledged when sent again%s%s\n",
            atomic_load (&sent), atomic_load (&acked), atomic_load (&retried),
            *unavailable ? "; the first: " : "", unavailable);
    char *count = kn_test_sql (kn_test_stack_db_url (stack),
                               "SELECT count (*) FROM intake.referral");
    cr_assert_eq (atoi (count), atomic_load (&acked));
    free (count);
    zcert_destroy (&cert);
    kn_test_stack_destroy (&stack);
    unlink (new_cert);
    unlink (new_secret);
    rmdir (keys);
    kn_test_no_leaks ();
}
