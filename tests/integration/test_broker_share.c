/*  Brokers side by side share one agency's allowance (issue 18): each stamps
    core.broker_presence and applies its share of the per-agency limits among the
    brokers up, so an agency that spreads its requests over two brokers gets what one
    broker would give it, not twice that; and when a broker goes, the others take
    its share back. Two real brokers on one database, real CURVE, real intake. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>

#include "kinnet/v1/intake.pb-c.h"
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
