/*  Brokers side by side share one agency's allowance (issue 18): each stamps
    core.broker_presence and applies its share of the per-agency limits among the
    brokers up, so an agency that spreads its requests over two brokers gets what one
    broker would give it, not twice that; and when a broker goes, the others take
    its share back. Two real brokers on one database, real CURVE, real intake. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>

#include "kinnet/v1/intake.pb-c.h"
#include "kn_agency.h"
#include "kn_test.h"

static kn_test_stack_t *stack;

//  One request a second, a burst of six: three at each of two brokers.
static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    static const char *const env[] = {
        "broker",  "KINNET_AGENCY_RATE",        "1",   "broker",  "KINNET_AGENCY_BURST", "6",
        "broker",  "KINNET_BROKER_PRESENCE_MS", "200", "broker1", "KINNET_AGENCY_RATE",  "1",
        "broker1", "KINNET_AGENCY_BURST",       "6",   "broker1", "KINNET_BROKER_PRESENCE_MS",
        "200",     NULL};
    stack = kn_test_stack_new_redundant_with_env (env);
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    kn_test_no_leaks ();
}

TestSuite (share, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Await n brokers stamped in the last second that applied peers when they stamped.
static void
s_await_brokers (int n, int peers)
{
    int64_t deadline = zclock_mono () + 10000;
    int got = -1;
    while (zclock_mono () < deadline) {
        got = kn_test_countf (kn_test_stack_db_url (stack),
                              "SELECT count (*) FROM core.broker_presence WHERE peers = %d"
                              " AND seen_at > now () - interval '1 second'",
                              peers);
        if (got == n)
            return;
        zclock_sleep (50);
    }
    cr_assert_fail ("%d brokers applying %d peers, not %d", got, peers, n);
}

//  Referrals sent one after another by agency through the first broker alone: how
//  many it admitted (the rest: RESOURCE_EXHAUSTED from the broker).
static int
s_admitted (int agency, int count, const char *prefix)
{
    zcert_t *cert = kn_test_stack_agency_cert (stack, agency);
    kn_error_t err;
    kn_client_t *client = kn_client_new (kn_test_stack_frontend_at (stack, 0), cert,
                                         kn_test_stack_server_key (stack), &err);
    zcert_destroy (&cert);
    cr_assert (client, "%s", err.message);
    kn_client_set_retries (client, 0);
    int admitted = 0;
    for (int i = 0; i < count; i++) {
        char key[64];
        snprintf (key, sizeof key, "%s-%d", prefix, i);
        Kinnet__V1__IntakeReply *decoded = kn_test_refer_via (client, 100 * agency + i, key);
        if (decoded->error)
            cr_assert_eq (decoded->error->code, KINNET__V1__ERROR_CODE__RESOURCE_EXHAUSTED,
                          "%s", decoded->error->message);
        else
            admitted++;
        kinnet__v1__intake_reply__free_unpacked (decoded, NULL);
    }
    kn_client_destroy (&client);
    return admitted;
}

Test (share, two_brokers_split_an_agencys_burst)
{
    s_await_brokers (2, 2);
    //  Half the burst at this broker (three), and half a token a second besides.
    int admitted = s_admitted (0, 6, "split");
    cr_assert_eq (admitted, 3, "the first broker admitted %d of 6", admitted);
}

Test (share, a_broker_gone_gives_its_share_back)
{
    s_await_brokers (2, 2);
    kn_test_stack_stop_broker_at (stack, 1, SIGKILL);
    //  The one left sees the other's stamp grow old (three intervals) and counts
    //  itself alone: the whole burst, for an agency it has not seen yet.
    s_await_brokers (1, 1);
    int admitted = s_admitted (1, 6, "alone");
    cr_assert_eq (admitted, 6, "the broker left admitted %d of 6", admitted);
}

//  The presence stamp shares the broker's database session with LISTEN: a NOTIFY
//  that arrives while a stamp runs is moved into libpq's queue, where polling the
//  socket never sees it. Stamping every 10 ms, twenty keys registered one after
//  another must each be admitted at once, not at the next periodic reload (an hour).
static void
s_setup_busy (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    static const char *const env[] = {"broker", "KINNET_BROKER_PRESENCE_MS", "10",
                                      "broker", "KINNET_KEY_RELOAD_MS", "3600000", NULL};
    stack = kn_test_stack_new_with_env (env);
}

TestSuite (share_notify, .init = s_setup_busy, .fini = s_teardown, .timeout = 120);

Test (share_notify, a_key_registered_while_presence_is_stamped_is_admitted_at_once)
{
    kn_error_t err;
    kn_db_t *admin = kn_db_new (kn_test_stack_db_url (stack), NULL, &err);
    cr_assert (admin, "%s", err.message);
    for (int i = 0; i < 20; i++) {
        zcert_t *cert = zcert_new ();
        char name[64], id[KN_UUID_STR];
        snprintf (name, sizeof name, "Busy stamp agency %d", i);
        cr_assert_eq (kn_agency_add (admin, name, "ngo_community", "north",
                                     zcert_public_txt (cert), id, &err),
                      0, "%s", err.message);
        kn_client_t *client = kn_client_new (kn_test_stack_frontend (stack), cert,
                                             kn_test_stack_server_key (stack), &err);
        cr_assert (client, "%s", err.message);
        kn_client_set_timeout (client, 500);
        kn_client_set_retries (client, 0);
        int64_t deadline = zclock_mono () + 5000;
        bool admitted = false;
        while (!admitted && zclock_mono () < deadline) {
            zframe_t *reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
            admitted = reply != NULL;
            zframe_destroy (&reply);
            if (!admitted) {
                //  A refused handshake spoils the connection: a new one for each try.
                kn_client_destroy (&client);
                client = kn_client_new (kn_test_stack_frontend (stack), cert,
                                        kn_test_stack_server_key (stack), &err);
                kn_client_set_timeout (client, 500);
                kn_client_set_retries (client, 0);
            }
        }
        kn_client_destroy (&client);
        zcert_destroy (&cert);
        cr_assert (admitted, "key %d was not admitted within 5 s of its NOTIFY", i);
    }
    kn_db_destroy (&admin);
}
