/*  The broker's database work runs off its loop (broker_dbthread): while its session
    to PostgreSQL is being re-made and a server of its URL takes connect_timeout to
    answer (a failover, a dead host), the broker keeps answering. Here the first host
    of the broker's URL is a socket that accepts connections and never says a word,
    and the broker's session is ended: it reconnects through that host for seconds,
    while MMI requests keep getting answers at once. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kn_test.h"

static kn_test_stack_t *stack;
static int silent = -1;

static void
s_setup (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    stack = kn_test_stack_new ();
}

static void
s_teardown (void)
{
    kn_test_stack_destroy (&stack);
    if (silent >= 0)
        close (silent);
    kn_test_no_leaks ();
}

TestSuite (dbstall, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  A loopback port that completes TCP handshakes (the kernel's backlog) and never
//  answers: a PostgreSQL that hangs.
static int
s_silent_port (void)
{
    silent = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (silent >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (bind (silent, (struct sockaddr *) &address, sizeof address), 0);
    cr_assert_eq (listen (silent, 64), 0);
    socklen_t len = sizeof address;
    cr_assert_eq (getsockname (silent, (struct sockaddr *) &address, &len), 0);
    return ntohs (address.sin_port);
}

Test (dbstall, the_broker_answers_while_its_database_session_is_remade)
{
    //  The broker's URL: the silent port first, then the real server.
    PQconninfoOption *options = PQconninfoParse (kn_test_stack_db_url (stack), NULL);
    cr_assert (options);
    const char *host = "", *port = "5432", *dbname = "", *user = "";
    for (PQconninfoOption *o = options; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp (o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp (o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp (o->keyword, "dbname") == 0)
            dbname = o->val;
        else if (strcmp (o->keyword, "user") == 0)
            user = o->val;
    }
    char url[1024];
    snprintf (url, sizeof url,
              "host=127.0.0.1,%s port=%d,%s dbname=%s user=%s connect_timeout=4", host,
              s_silent_port (), port, dbname, user);
    PQconninfoFree (options);
    kn_test_stack_set_env (stack, "broker", "KINNET_DATABASE_URL", url);
    kn_test_stack_stop_broker (stack, SIGTERM);
    kn_test_stack_start_broker (stack);
    cr_assert (kn_test_stack_wait_service (stack, "intake", 30000));

    //  End the broker's session: it reconnects, through the silent host first.
    cr_assert_eq (kn_test_countf (kn_test_stack_db_url (stack),
                                  "SELECT count (pg_terminate_backend (pid))"
                                  " FROM pg_stat_activity WHERE application_name ="
                                  " 'kinnet_broker' AND datname = current_database ()"),
                  1);
    kn_client_t *client = kn_test_stack_client (stack, 0, 3000, 0);
    int64_t worst = 0, until = zclock_mono () + 6000;
    int answered = 0;
    while (zclock_mono () < until) {
        int64_t sent = zclock_mono ();
        kn_error_t err;
        zframe_t *reply = kn_client_call (client, "mmi.service", "intake", 6, &err);
        cr_assert (reply, "the broker did not answer MMI while reconnecting: %s", err.message);
        zframe_destroy (&reply);
        int64_t took = zclock_mono () - sent;
        worst = took > worst ? took : worst;
        answered++;
        zclock_sleep (100);   // pacing the probes, not waiting for a condition
    }
    kn_client_destroy (&client);
    printf ("broker during a 4 s reconnect: %d MMI answers, the slowest in %lld ms\n",
            answered, (long long) worst);
    cr_assert_lt (worst, 1500, "the broker stalled %lld ms", (long long) worst);
    //  And it did reconnect: the session is back.
    int64_t deadline = zclock_mono () + 20000;
    while (kn_test_countf (kn_test_stack_db_url (stack),
                           "SELECT count (*) FROM pg_stat_activity WHERE application_name ="
                           " 'kinnet_broker' AND datname = current_database ()")
               != 1
           && zclock_mono () < deadline)
        zclock_sleep (100);
    cr_assert_lt (zclock_mono (), deadline, "the broker never reconnected");
}
