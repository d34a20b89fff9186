/*  Crashes in the middle of a stream of submissions: intake killed with SIGKILL
    and restarted, the broker killed and restarted. Clients retry (Lazy Pirate, same
    idempotency key). Afterwards every acknowledged referral is stored exactly once
    and nothing is duplicated. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_test.h"

#define STREAM 300

static kn_test_stack_t *stack;
static atomic_int acked;
static atomic_bool killer_done;

static void *
s_killer (void *arg)
{
    (void) arg;
    while (atomic_load (&acked) < 60)
        zclock_sleep (1);   // polls the submitter's progress counter
    kn_test_stack_stop_intake (stack, SIGKILL);
    kn_test_stack_start_intake (stack);
    while (atomic_load (&acked) < 160)
        zclock_sleep (1);
    kn_test_stack_stop_broker (stack, SIGKILL);
    kn_test_stack_start_broker (stack);
    atomic_store (&killer_done, true);
    return NULL;
}

Test (resilience, kill_intake_and_restart_broker_mid_stream, .timeout = 240)
{
    zsys_init ();
    stack = kn_test_stack_new ();
    //  Generous retries: the stream must ride out both crashes.
    kn_client_t *client = kn_test_stack_client (stack, 0, 1000, 30);
    char ids[STREAM][40];
    pthread_t killer;
    pthread_create (&killer, NULL, s_killer, NULL);
    for (int i = 0; i < STREAM; i++) {
        char key[32];
        snprintf (key, sizeof key, "stream-%d", i);
        zframe_t *body = kn_test_referral_request (1000 + i, key);
        kn_error_t err;
        zframe_t *reply = NULL;
        //  SERVICE_UNAVAILABLE replies (no worker yet) are retried like silence.
        for (int attempt = 0; attempt < 30 && !reply; attempt++) {
            reply = kn_client_call (client, "intake", zframe_data (body), zframe_size (body),
                                    &err);
            if (!reply)
                continue;
            Kinnet__V1__IntakeReply *decoded = kinnet__v1__intake_reply__unpack (
                NULL, zframe_size (reply), zframe_data (reply));
            cr_assert (decoded);
            if (decoded->error) {
                cr_assert_eq (decoded->error->code, KINNET__V1__ERROR_CODE__SERVICE_UNAVAILABLE,
                              "unexpected error %s", decoded->error->message);
                zframe_destroy (&reply);
            }
            else
                snprintf (ids[i], sizeof ids[i], "%s", decoded->submitted->referral_id);
            kinnet__v1__intake_reply__free_unpacked (decoded, NULL);
        }
        cr_assert (reply, "referral %d never acknowledged: %s", i, err.message);
        zframe_destroy (&reply);
        zframe_destroy (&body);
        atomic_fetch_add (&acked, 1);
    }
    pthread_join (killer, NULL);
    cr_assert (atomic_load (&killer_done));

    const char *url = kn_test_stack_db_url (stack);
    char *count = kn_test_sql (url, "SELECT count(*) FROM intake.referral");
    cr_assert_str_eq (count, "300", "stored %s referrals for 300 acknowledged", count);
    free (count);
    for (int i = 0; i < STREAM; i++) {
        char sql[200];
        snprintf (sql, sizeof sql,
                  "SELECT count(*) FROM intake.referral r JOIN intake.idempotency k"
                  " ON k.object_id = r.id WHERE r.id = '%s' AND k.key = 'stream-%d'",
                  ids[i], i);
        char *found = kn_test_sql (url, sql);
        cr_assert_str_eq (found, "1", "acknowledged referral %d not stored as answered", i);
        free (found);
    }
    char *events = kn_test_sql (url, "SELECT count(*) FROM core.outbox");
    cr_assert_str_eq (events, "300");
    free (events);
    kn_client_destroy (&client);
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}
